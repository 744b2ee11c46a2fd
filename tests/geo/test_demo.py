"""The synthetic demo city: counts, codes, exact tiling, sums, facilities and byte-identical output."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.geo import demo
from app.geo.city import City
from app.geo.schema import LAYERS, METRIC_CRS
from tests import helpers

FILES = [f"{n}.geojson" for n in LAYERS] + ["metadata.json"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    """One full generation per module (about 3 s)."""
    out = tmp_path_factory.mktemp("demo")
    demo.generate(out)
    return out


@pytest.fixture(scope="module")
def layers(demo_dir: Path) -> dict[str, gpd.GeoDataFrame]:
    return {n: gpd.read_file(demo_dir / f"{n}.geojson") for n in LAYERS}


def test_counts_and_divisions(layers):
    assert len(layers["grids"]) == 613
    com = layers["committees"]
    assert len(com) == 48
    assert (com["kind"] == "community").sum() == 31 and (com["kind"] == "village").sum() == 17
    div = layers["divisions"]
    assert dict(zip(div["code"], div["name"], strict=True)) == {
        "620201001": "雄关街道", "620201002": "钢城街道", "620201100": "新城镇", "620201101": "峪泉镇",
        "620201102": "文殊镇"}
    assert len(layers["addresses"]) >= 10000


def test_named_committees_and_codes(layers):
    com = layers["committees"].set_index("name")
    for name in ("建设社区", "朝晖社区", "雄关社区", "人民社区"):
        assert com.loc[name, "kind"] == "community"
        assert com.loc[name, "division_code"] in ("620201001", "620201002")
    for name in ("河口村", "石桥村", "嘉峪关村"):
        assert com.loc[name, "kind"] == "village"
        assert com.loc[name, "division_code"] in ("620201100", "620201101", "620201102")
    for code, kind, div in zip(com["code"], com["kind"], com["division_code"], strict=True):
        seq = int(code[9:])
        assert len(code) == 12 and code.startswith(div)
        assert (1 <= seq <= 199) if kind == "community" else (200 <= seq <= 399)
    g = layers["grids"]
    assert g["code"].is_unique
    assert all(len(c) == 15 and c.startswith(cc) for c, cc in zip(g["code"], g["committee_code"], strict=True))
    for com_code, seqs in g.groupby("committee_code")["code"]:
        assert sorted(int(c[12:]) for c in seqs) == list(range(1, len(seqs) + 1)), com_code


def test_tiling_is_exact(layers):
    grids = layers["grids"].to_crs(METRIC_CRS)
    com = layers["committees"].to_crs(METRIC_CRS)
    div = layers["divisions"].to_crs(METRIC_CRS)
    assert shapely.is_valid(grids.geometry.values).all()
    assert set(grids.geom_type) == {"Polygon"}
    for code, geom in zip(com["code"], com.geometry, strict=True):
        mine = grids[grids["committee_code"] == code].geometry.values
        assert abs(shapely.area(mine).sum() - geom.area) < 0.01  # no overlaps ...
        assert shapely.union_all(mine).symmetric_difference(geom).area < 0.01  # ... and no gaps
    for code, geom in zip(div["code"], div.geometry, strict=True):
        mine = com[com["division_code"] == code].geometry.values
        assert abs(shapely.area(mine).sum() - geom.area) < 0.01
    city = shapely.union_all(div.geometry.values)
    assert abs(shapely.area(grids.geometry.values).sum() - city.area) < 0.1
    assert isinstance(city, shapely.Polygon) and not city.interiors


def test_urban_grids_sit_on_the_real_urban_area(layers):
    g = layers["grids"]
    urban = g[g["code"].str[9:12].astype(int) < 200]
    minx, miny, maxx, maxy = urban.total_bounds
    assert minx >= 98.20 and maxx <= 98.35 and miny >= 39.74 and maxy <= 39.84
    village = g[g["code"].str[9:12].astype(int) >= 200]
    assert village["area_m2"].min() > urban["area_m2"].max()
    assert urban["households"].between(150, 270).all()
    assert 290_000 < g["population"].sum() < 330_000  # about the 2020 census (312,663)


def test_population_and_households_are_address_sums(layers):
    a, g = layers["addresses"], layers["grids"].set_index("code")
    sums = a.groupby("grid_code")[["residents", "households"]].sum()
    assert set(sums.index) == set(g.index)  # every grid has at least one address
    assert (sums["residents"] == g.loc[sums.index, "population"]).all()
    assert (sums["households"] == g.loc[sums.index, "households"]).all()
    assert a["address"].is_unique and a["id"].is_unique


def test_address_text(layers):
    a = layers["addresses"]
    for text, kind, street, number in zip(a["address"], a["kind"], a["street"], a["number"], strict=True):
        assert text == f"{street}{number}号" + ("楼" if kind == "compound" else "")
    assert {"阳光小区", "西域花园小区"} <= set(a.loc[a["kind"] == "compound", "street"])


def test_facility_counts_follow_public_facts(layers):
    f = layers["facilities"]

    def n(cat: str, sub: str | None = None) -> int:
        sel = f["category"] == cat
        if sub:
            sel &= f["subtype"] == sub
        return int(sel.sum())

    assert n("park", "pocket_park") == 5 and n("park", "community_garden") == 10
    assert n("library") == 16 and n("study_room") == 10
    assert n("senior_university") == 3 and n("tcm_clinic") == 4
    assert n("bus_stop", "standard_platform") == 25 and 140 <= n("bus_stop") <= 160
    assert 35 <= n("fitness") <= 45
    assert "钢城体育公园" in set(f["name"])
    assert f["name"].str.endswith("小区北门").sum() == 1
    parking = f[f["category"] == "parking"]
    assert parking.loc[parking["subtype"] == "marked", "capacity"].sum() == 235
    assert parking.loc[parking["subtype"] == "tidal", "capacity"].sum() == 180
    codes = {"bus_stop": "0203", "park": "0405", "parking": "0201"}
    for cat, code in zip(f["category"], f["cjt214_code"], strict=True):
        assert (code if isinstance(code, str) else None) == codes.get(cat)
    assert f["grid_code"].nunique() < 613  # uneven on purpose: some grids have none


def test_roads_are_noded(layers):
    roads = layers["roads"]
    assert set(roads["kind"]) == {"arterial", "secondary", "local", "rural"}
    geoms = roads.geometry.values
    vertices = [set(map(tuple, shapely.get_coordinates(g))) for g in geoms]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for a, b in zip(left, right, strict=True):
        if a < b:
            for p in shapely.get_coordinates(shapely.intersection(geoms[a], geoms[b])):
                assert tuple(p) in vertices[a] and tuple(p) in vertices[b]
    # the network is connected: every road touches another
    touching = np.bincount(left[left != right], minlength=len(geoms))
    assert (touching > 0).all()


def test_metadata(demo_dir):
    meta = json.loads((demo_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["synthetic"] is True and meta["seed"] == 2024 and meta["counts"]["grids"] == 613
    assert meta["crs"] == "EPSG:4326"
    assert not any("time" in k or "date" in k for k in meta)
    city = City.from_metadata(meta)
    assert city == demo.DEMO_CITY
    assert (city.name, city.short_name, city.name_en, city.province) == ("嘉峪关市", "嘉峪关", "Jiayuguan", "甘肃省")
    assert city.districts == ("雄关区", "长城区", "镜铁区") and city.code_scheme == "cn-9-12-15"
    assert city.metric_crs == meta["metric_crs"] == "EPSG:4542" and city.synthetic


def test_mini_city_is_the_demo_city():
    meta = json.loads((helpers.MINI / "metadata.json").read_text(encoding="utf-8"))
    assert City.from_metadata(meta) == demo.DEMO_CITY


def test_same_seed_same_bytes_as_committed(demo_dir, tmp_path):
    if not (helpers.DEMO / "grids.geojson").exists():  # pragma: no cover - fresh checkout without data
        demo.generate(tmp_path)
        other = tmp_path
    else:
        other = helpers.DEMO
    for name in FILES:
        assert (demo_dir / name).read_bytes() == (other / name).read_bytes(), name


def test_mini_is_deterministic_and_committed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    counts = demo.generate_mini(a)
    demo.generate_mini(b)
    demo.generate_mini(c, seed=8)
    assert counts["grids"] == 10 and counts["committees"] == 3 and counts["divisions"] == 2
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() == (helpers.MINI / name).read_bytes(), f"tests/data/mini/{name} is stale"
    assert (a / "grids.geojson").read_bytes() != (c / "grids.geojson").read_bytes()


def test_mini_has_every_category(tmp_path):
    from app.geo.schema import CATEGORIES

    f = gpd.read_file(helpers.MINI / "facilities.geojson")
    assert set(f["category"]) == set(CATEGORIES)
