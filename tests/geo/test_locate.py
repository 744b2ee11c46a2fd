"""Single and batch lookups on the mini city: CRSs, borders, outside points, addresses, bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from app.geo import crs as crsmod
from app.geo.dataset import Dataset
from app.geo.locate import LocateError, locate_address, locate_frame, locate_point, summarize, to_lonlat
from tests.helpers import inside_point


def _shared_border_point(ds: Dataset) -> tuple[float, float, set[str]]:
    g = ds.grids
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            edge = shapely.intersection(g.geometry.iloc[i].boundary, g.geometry.iloc[j].boundary)
            if edge.length > 0:
                m = edge.interpolate(0.5, normalized=True)
                return m.x, m.y, {g["code"].iloc[i], g["code"].iloc[j]}
    raise AssertionError("mini city has no shared border")


def test_point_inside_wgs84(ds):
    lon, lat = inside_point(ds.grids, 2)
    answer = locate_point(ds, lon, lat)
    assert answer["status"] == "ok"
    assert answer["grid"]["code"] == ds.grids["code"].iloc[2]
    assert answer["grid"]["committee"]["name"]
    assert answer["grid"]["division"]["name"]
    assert answer["on_border"] is False
    assert "staff" not in answer["grid"]  # personal data only when asked for


def test_point_personal_staff_only_when_asked(ds):
    lon, lat = inside_point(ds.grids, 0)
    staff = locate_point(ds, lon, lat, personal=True)["grid"]["staff"]
    assert set(staff) == {"leader", "worker", "instructor"}
    assert staff["worker"]["phone"]


@pytest.mark.parametrize("crs", ["EPSG:4490", "4542", 4542, "EPSG:32647", "gcj02", "GCJ-02", "bd09", "baidu"])
def test_point_in_other_crs_lands_in_same_grid(ds, crs):
    lon, lat = inside_point(ds.grids, 3)
    spec = crsmod.parse_crs(crs)
    x, y = crsmod.from_wgs84(np.array([lon]), np.array([lat]), spec)
    answer = locate_point(ds, float(x[0]), float(y[0]), crs)
    assert answer["grid"]["code"] == ds.grids["code"].iloc[3]
    assert answer["wgs84"]["lon"] == pytest.approx(lon, abs=1e-6)


def test_gcj02_input_not_converted_would_miss(ds):
    """The ~100 m GCJ-02 shift matters: near a border, reading GCJ-02 as WGS84 can pick the wrong grid."""
    lon, lat = inside_point(ds.grids, 0)
    glon, glat = crsmod.wgs84_to_gcj02(lon, lat)
    assert abs(glon - lon) > 3e-4 or abs(glat - lat) > 3e-4


def test_shared_border_is_deterministic_and_flagged(ds):
    lon, lat, codes = _shared_border_point(ds)
    first = locate_point(ds, lon, lat)
    again = locate_point(ds, lon, lat)
    assert first["on_border"] is True
    assert first["grid"]["code"] in codes
    assert first["grid"]["code"] == again["grid"]["code"]


def test_outside_point_gets_nearest_and_distance(ds):
    minx, miny, maxx, maxy = ds.grids.total_bounds
    answer = locate_point(ds, maxx + 0.01, (miny + maxy) / 2)  # about 850 m east of the city
    assert answer["status"] == "outside"
    assert answer["grid"]["code"] is None
    assert answer["nearest"]["code"] in set(ds.grids["code"])
    assert 500 < answer["nearest"]["distance_m"] < 1200


@pytest.mark.parametrize(
    ("x", "y", "crs", "needle"),
    [
        ("abc", 39.7, None, "must be a number"),
        (98.3, "", None, "missing"),
        (200, 39.7, None, "out of range"),
        (98.3, 95, None, "out of range"),
        (float("nan"), 39.7, None, "finite"),
        (98.3, 39.7, "EPSG:999999", "999999"),
        (98.3, 39.7, "mars2000", "mars2000"),
    ],
)
def test_bad_points_name_the_problem(ds, x, y, crs, needle):
    with pytest.raises(LocateError, match=needle):
        locate_point(ds, x, y, crs)


def test_to_lonlat_projected_roundtrip():
    lon, lat = to_lonlat(439167, 4404233, "EPSG:4542")
    assert lon == pytest.approx(98.29, abs=0.01) and lat == pytest.approx(39.77, abs=0.01)


def test_address_exact_and_variant(ds):
    addr = ds.layer("addresses").iloc[5]
    exact = locate_address(ds, addr["address"])
    assert exact["status"] == "ok" and exact["grid"]["code"] == addr["grid_code"]
    assert exact["candidates"][0]["score"] == 100
    variant = locate_address(ds, "甘肃省嘉峪关市 " + addr["address"].replace("号楼", "栋") + " 2单元301室")
    assert variant["status"] == "ok" and variant["grid"]["code"] == addr["grid_code"]


def test_address_not_found_suggests(ds):
    answer = locate_address(ds, "火星路9999号")
    assert answer["status"] == "not_found"
    assert answer["grid"]["code"] is None


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_address_is_an_error(ds, text):
    with pytest.raises(LocateError, match="empty"):
        locate_address(ds, text)


def test_frame_keeps_every_row_with_status(ds):
    inside = inside_point(ds.grids, 1)
    addr = ds.layer("addresses").iloc[0]
    df = pd.DataFrame(
        {
            "名称": ["a", "b", "c", "d", "e"],
            "经度": [str(inside[0]), "x", "", "500", "99.9"],
            "纬度": [str(inside[1]), "39.7", "", "39.7", "39.77"],
            "地址": ["", "", addr["address"], "", ""],
        }
    )
    out = locate_frame(ds, df)
    assert list(out["名称"]) == ["a", "b", "c", "d", "e"]
    assert list(out["status"]) == ["ok", "invalid", "ok", "invalid", "outside"]
    assert out["grid_code"].iloc[0] == ds.grids["code"].iloc[1]
    assert out["grid_code"].iloc[2] == addr["grid_code"]
    assert "non-numeric" in out["message"].iloc[1] and "out of range" in out["message"].iloc[3]
    assert out["message"].iloc[2] == ""  # found by its address: no complaint about its empty coordinates
    assert out["nearest_grid_code"].iloc[4] is not None and out["distance_m"].iloc[4] > 0
    assert summarize(out) == {"ok": 2, "ambiguous": 0, "outside": 1, "not_found": 0, "invalid": 2, "total": 5}
    assert not {"leader_phone", "worker_phone", "leader_name"} & set(out.columns)


def test_frame_without_usable_columns_is_an_error(ds):
    with pytest.raises(LocateError, match="no lon/lat columns"):
        locate_frame(ds, pd.DataFrame({"foo": ["1"]}))


def test_staff_contacts_are_read_only_for_a_personal_answer(ds: Dataset) -> None:
    """Public answers never hold the staff columns in memory (names and phones of every grid)."""
    from app.geo.locate import grid_info

    fresh = Dataset(ds.store)
    public = grid_info(fresh, 0)
    assert "staff" not in public and "locate.grid_staff" not in fresh.cache
    personal = grid_info(fresh, 0, personal=True)
    assert "locate.grid_staff" in fresh.cache
    row = fresh.grids.iloc[0]
    assert personal["staff"]["leader"] == {"name": row["leader_name"], "phone": row["leader_phone"]}
    assert {k: v for k, v in personal.items() if k != "staff"} == public
