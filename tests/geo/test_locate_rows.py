"""Batch rows and reverse lookup on the mini city: swapped lat/lon, other datums, explained addresses, nearest address."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shapely

from app import messages
from app.geo import crs as crsmod
from app.geo.dataset import Dataset
from app.geo.locate import locate_address, locate_frame, locate_point, reverse_lookup, summarize
from app.geo.memory_store import MemoryStore
from tests import helpers
from tests.helpers import inside_point


def _near_edge_gcj_point(ds: Dataset) -> tuple[float, float, str]:
    """A WGS84 point inside a grid whose GCJ-02 numbers, read as WGS84, fall outside every grid."""
    hull = shapely.union_all(ds.grids.geometry.values)
    for frac in np.linspace(0, 1, 200, endpoint=False):
        edge = hull.exterior.interpolate(frac, normalized=True)
        for step in (0.0002, 0.0005, 0.001):
            centre = hull.centroid
            lon = edge.x + (centre.x - edge.x) * step / max(abs(centre.x - edge.x), 1e-9) * 0.5
            lat = edge.y + (centre.y - edge.y) * step / max(abs(centre.y - edge.y), 1e-9) * 0.5
            inside = ds.grid_index.locate_one(lon, lat)
            glon, glat = crsmod.wgs84_to_gcj02(lon, lat)
            if inside.index >= 0 and ds.grid_index.locate_one(glon, glat).index < 0:
                return float(glon), float(glat), str(ds.grids["code"].iloc[inside.index])
    raise AssertionError("no edge point whose GCJ-02 shift leaves the city")


def test_swapped_lat_lon_rows_are_located_and_flagged(ds):
    lon, lat = inside_point(ds.grids, 4)
    df = pd.DataFrame({"lon": [str(lon), str(lat)], "lat": [str(lat), str(lon)]})
    out = locate_frame(ds, df)
    assert list(out["status"]) == ["ok", "ok"]
    assert out["grid_code"].iloc[1] == out["grid_code"].iloc[0] == ds.grids["code"].iloc[4]
    assert out["message"].iloc[0] == ""
    assert out["message"].iloc[1] == "lat/lon swapped, read as lat,lon"
    assert out["lon_wgs84"].iloc[1] == pytest.approx(lon, abs=1e-6)
    assert messages.row_message(out["message"].iloc[1], "zh") == "经纬度顺序颠倒，已按 纬度,经度 解读"


def test_swap_is_found_where_both_readings_are_in_range():
    """West of 90°E a swapped pair is still a valid lon/lat; it is taken only because it falls in a grid."""
    shifted = Dataset(MemoryStore(helpers.shifted_mini(-20.0)))
    lon, lat = inside_point(shifted.grids, 2)
    assert abs(lat) <= 90 and abs(lon) <= 90
    out = locate_frame(shifted, pd.DataFrame({"lon": [lat], "lat": [lon]}))
    assert out["status"].iloc[0] == "ok" and out["grid_code"].iloc[0] == shifted.grids["code"].iloc[2]
    assert "swapped" in out["message"].iloc[0]


def test_outside_rows_name_the_nearest_grid_in_both_languages(ds):
    minx, miny, maxx, maxy = ds.grids.total_bounds
    out = locate_frame(ds, pd.DataFrame({"lon": [maxx + 0.01], "lat": [(miny + maxy) / 2]}))
    assert out["status"].iloc[0] == "outside"
    code, metres = out["nearest_grid_code"].iloc[0], out["distance_m"].iloc[0]
    assert out["message"].iloc[0] == f"outside every grid, nearest grid {code} at {metres:.0f} m"
    assert messages.row_message(out["message"].iloc[0], "zh") == f"不在任何网格内，最近网格 {code}，相距 {metres:.0f} 米"


def test_rows_beyond_the_metric_crs_are_outside_without_a_crash(ds):
    out = locate_frame(ds, pd.DataFrame({"lon": [-179, 170], "lat": [0, -80]}))
    assert list(out["status"]) == ["outside", "outside"]
    assert out["message"].iloc[0].startswith("outside every grid") and pd.isna(out["nearest_address"].iloc[0])


def test_outside_row_whose_gcj02_reading_is_inside_gets_a_warning_not_a_move(ds):
    glon, glat, code = _near_edge_gcj_point(ds)
    out = locate_frame(ds, pd.DataFrame({"lon": [glon], "lat": [glat]}))
    assert out["status"].iloc[0] == "outside" and pd.isna(out["grid_code"].iloc[0])
    parts = out["message"].iloc[0].split("; ")
    assert parts[0].startswith("outside every grid")
    assert parts[1] == f"read as GCJ-02 (AMap, Tencent) it falls in grid {code}, check the coordinate system"
    zh = messages.row_message(out["message"].iloc[0], "zh")
    assert f"按 GCJ-02（高德、腾讯）坐标解读则落在网格 {code} 内" in zh and "不在任何网格内" in zh
    chosen = locate_frame(ds, pd.DataFrame({"lon": [glon], "lat": [glat]}), crs="gcj02")
    assert chosen["status"].iloc[0] == "ok" and chosen["grid_code"].iloc[0] == code  # the user chose GCJ-02


def test_coordinate_rows_get_the_nearest_standard_address(ds):
    addr = ds.layer("addresses").iloc[7]
    p = addr.geometry
    far = ds.grids.total_bounds[2] + 0.2  # about 17 km east: no address within 2 km
    out = locate_frame(ds, pd.DataFrame({"lon": [p.x + 0.00005, far], "lat": [p.y, p.y]}))
    assert out["nearest_address"].iloc[0] == addr["address"]
    assert 3 < out["nearest_address_m"].iloc[0] < 6  # 0.00005° of longitude at 39.8°N is 4.3 m
    assert pd.isna(out["nearest_address"].iloc[1]) and np.isnan(out["nearest_address_m"].iloc[1])


def test_reverse_lookup_and_point_answer_carry_the_nearest_address(ds):
    addr = ds.layer("addresses").iloc[3]
    p = addr.geometry
    rev = reverse_lookup(ds, p.x, p.y + 0.0001)
    assert rev["status"] == "ok" and rev["address"]["address"] == addr["address"]
    assert rev["address"]["grid_code"] == addr["grid_code"]
    assert rev["address"]["distance_m"] == pytest.approx(11.1, abs=0.5)  # 0.0001° of latitude
    gx, gy = crsmod.wgs84_to_gcj02(p.x, p.y)
    assert reverse_lookup(ds, gx, gy, "gcj02")["address"]["distance_m"] < 0.5
    assert locate_point(ds, p.x, p.y)["nearest_address"]["address"] == addr["address"]
    assert reverse_lookup(ds, p.x + 0.5, p.y)["status"] == "not_found"


def test_address_answer_says_what_was_matched_and_how(ds):
    addr = ds.layer("addresses").iloc[3]  # 光华路1号
    exact = locate_address(ds, addr["address"])
    assert exact["matched_address"] == addr["address"] and exact["match_kind"] == "exact" and exact["score"] == 100
    assert exact["candidates"][0]["grid_name"]
    variant = locate_address(ds, "嘉峪关市" + addr["address"].replace("1号", "一号"))
    assert variant["status"] == "ok" and variant["matched_address"] == addr["address"]
    assert variant["match_kind"] == "normalised"
    assert variant["normalized"] != variant["matched_address"] or variant["query"]["address"] != addr["address"]


@pytest.mark.parametrize("text", ["无", "不详", "！！", "——"])
def test_no_address_content_is_not_found_without_suggestions(ds, text):
    answer = locate_address(ds, text)
    assert answer["status"] == "not_found" and answer["candidates"] == [] and answer["matched_address"] is None
    assert answer["match_kind"] == "not_found" and answer["grid"]["code"] is None


def _stub_matcher(ds: Dataset, status: str, kind: str) -> None:
    """Make ``ds`` answer every address with ``status``: two candidates in different grids."""
    rows = ds.layer("addresses")
    a, b = rows.iloc[0], rows.iloc[10]
    assert a["grid_code"] != b["grid_code"]
    cands = tuple(SimpleNamespace(address=r["address"], score=88.0, id=r["id"], grid_code=r["grid_code"],
                                  lon=r.geometry.x, lat=r.geometry.y) for r in (a, b))

    def result(text: str) -> SimpleNamespace:
        ok = status == "ok"
        return SimpleNamespace(query=text, normalized=text, status=status, candidates=cands, match_kind=kind,
                               matched_address=a["address"] if ok else None, score=88.0)

    ds.__dict__["address_matcher"] = SimpleNamespace(
        match=lambda text, limit=5: result(text), match_many=lambda texts, limit=5: [result(t) for t in texts])


def test_ambiguous_address_lists_candidates_with_grids_and_picks_none(ds):
    _stub_matcher(ds, "ambiguous", "ambiguous")
    answer = locate_address(ds, "某某路1号")
    assert answer["status"] == "ambiguous" and answer["match_kind"] == "ambiguous"
    assert answer["grid"]["code"] is None and answer["matched_address"] is None
    assert len({c["grid_code"] for c in answer["candidates"]}) == 2
    assert all(c["grid_name"] for c in answer["candidates"])
    out = locate_frame(ds, pd.DataFrame({"地址": ["某某路1号"]}))
    assert out["status"].iloc[0] == "ambiguous" and pd.isna(out["grid_code"].iloc[0])
    assert out["match_kind"].iloc[0] == "ambiguous" and out["message"].iloc[0].startswith("ambiguous: ")
    assert messages.row_message(out["message"].iloc[0], "zh").startswith("地址有歧义")
    assert summarize(out)["ambiguous"] == 1


def test_fuzzy_batch_rows_carry_the_matched_address_and_say_so(ds):
    _stub_matcher(ds, "ok", "fuzzy")
    out = locate_frame(ds, pd.DataFrame({"地址": ["嘉合小区1号楼"]}))
    row = out.iloc[0]
    assert row["status"] == "ok" and row["match_kind"] == "fuzzy" and row["score"] == 88.0
    assert row["matched_address"] == ds.layer("addresses").iloc[0]["address"]
    assert row["message"] == f"fuzzy match: {row['matched_address']} (score 88)"
    assert messages.row_message(row["message"], "zh") == f"模糊匹配：{row['matched_address']}（得分 88）"


def test_address_rows_follow_the_single_lookup(ds):
    rows = ds.layer("addresses")
    texts = [rows.iloc[3]["address"], "嘉峪关市" + rows.iloc[0]["address"], "无", "火星路9999号", ""]
    out = locate_frame(ds, pd.DataFrame({"地址": texts}))
    for text, (_, row) in zip(texts[:4], out.iterrows(), strict=False):
        single = locate_address(ds, text)
        assert row["status"] == single["status"]
        assert row["match_kind"] == single["match_kind"]
        assert (None if pd.isna(row["matched_address"]) else row["matched_address"]) == single["matched_address"]
        assert (None if pd.isna(row["grid_code"]) else row["grid_code"]) == single["grid"]["code"]
    assert out["status"].iloc[4] == "invalid" and out["message"].iloc[4] == "empty address"
    assert {"matched_address", "match_kind", "score", "nearest_address", "nearest_address_m"} <= set(out.columns)
