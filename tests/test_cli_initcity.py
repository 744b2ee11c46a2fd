"""`gridmap init-city`: a small office folder becomes a served store; every refusal names its problem and writes nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from app.cli import main
from app.geo import audit, initcity, users
from app.geo.city import City
from app.geo.store import open_store

pytestmark = pytest.mark.usefixtures("cheap_hashes")

#: CGCS2000 / 3-degree Gauss-Kruger CM 111E; the little city lies near 111°E, 30°N.
GK = "EPSG:4546"
X0, Y0 = 500_000.0, 3_330_000.0


def _grids(n: int = 3, size: float = 400.0) -> gpd.GeoDataFrame:
    """An n×n lattice of grids in two committees of one sub-district and one village of a town."""
    rows = []
    for i in range(n):
        for j in range(n):
            west = j < 2
            rows.append({"网格编码": f"HW{i}{j}", "网格名称": f"第{i * n + j + 1}网格",
                         "所属社区": "滨江社区" if west else "白鹭村", "所属街道": "滨江街道" if west else "白鹭镇",
                         "网格员": "张三", "联系电话": "13800000000", "人口": 100 + i, "户数": 40, "备注": "x",
                         "geometry": shapely.box(X0 + j * size, Y0 - (i + 1) * size, X0 + (j + 1) * size,
                                                 Y0 - i * size)})
    return gpd.GeoDataFrame(rows, crs=GK)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    pt = gpd.GeoSeries([shapely.Point(x, y)], crs=GK).to_crs(4326).iloc[0]
    return round(pt.x, 7), round(pt.y, 7)


def make_office(folder: Path, *, grids: gpd.GeoDataFrame | None = None, facilities: bool = True,
                addresses: bool = True) -> Path:
    """Write a tiny office folder: 网格.gpkg, 设施.csv (WGS84), 标准地址.csv and a README.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    g = _grids() if grids is None else grids
    g.to_file(folder / "网格.gpkg", engine="pyogrio")
    if facilities:
        pts = [_lonlat(X0 + 200, Y0 - 200), _lonlat(X0 + 1000, Y0 - 600), _lonlat(X0 + 600, Y0 - 1000)]
        pd.DataFrame({"名称": ["滨江站", "白鹭公园", "一号停车场"], "类型": ["公交站点", "公园", "停车场"],
                      "经度": [p[0] for p in pts], "纬度": [p[1] for p in pts]}).to_csv(
            folder / "设施.csv", index=False, encoding="utf-8-sig")
    if addresses:
        pts = [_lonlat(X0 + 100, Y0 - 100), _lonlat(X0 + 900, Y0 - 900), _lonlat(X0 + 500, Y0 - 300)]
        pd.DataFrame({"标准地址": ["河湾市滨江路12号", "河湾市阳光小区3栋", "滨江路"],
                      "经度": [p[0] for p in pts], "纬度": [p[1] for p in pts]}).to_csv(
            folder / "标准地址.csv", index=False, encoding="gb18030")
    (folder / "README.txt").write_text("给 gridmap 的资料", encoding="utf-8")
    return folder


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An instance folder for the audit log; the demo's DATA_DIR stays the default."""
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    monkeypatch.delenv("GRIDMAP_STORE_URL", raising=False)
    monkeypatch.delenv("GRIDMAP_DATA_DIR", raising=False)
    return tmp_path


def test_init_city_builds_a_served_store(env, runner, monkeypatch):
    office = make_office(env / "河湾市")
    store = env / "stores" / "hewan"
    dry = runner.invoke(main, ["init-city", str(office), "--store", str(store), "--table-crs", "4326", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "网格.gpkg → 网格 grids" in dry.output and "README.txt" in dry.output
    assert "code ← 网格编码" in dry.output and "committee_name ← 所属社区" in dry.output
    assert not store.exists()
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store), "--table-crs", "4326"])
    assert r.exit_code == 0, r.output
    assert f"已建立 / built store {store}: 2 divisions, 2 committees, 9 grids, 3 facilities, 2 addresses" in r.output
    assert f"GRIDMAP_STORE_URL={store} gridmap serve" in r.output
    s = open_store(store)
    assert s.exists() and sorted(s.layer_names()) == ["addresses", "committees", "divisions", "facilities", "grids"]
    city = City.from_metadata(s.metadata())
    assert city.name == "河湾市" and city.code_scheme == "free" and city.metric_crs
    grids = s.read("grids")
    assert grids["code"].is_unique and set(grids["committee_code"]) == {"D01-C01", "D02-C01"}
    assert grids["worker_name"].eq("张三").all() and "备注" in grids.columns
    com = s.read("committees")
    assert dict(zip(com["name"], com["kind"], strict=True)) == {"白鹭村": "village", "滨江社区": "community"}
    assert sorted(s.read("divisions")["kind"]) == ["subdistrict", "town"]
    assert int(s.read("divisions")["population"].sum()) == int(grids["population"].sum())
    fac = s.read("facilities")
    assert sorted(fac["category"]) == ["bus_stop", "park", "parking"]
    for _, f in fac.iterrows():
        assert grids.loc[grids["code"] == f["grid_code"]].geometry.iloc[0].covers(f.geometry)
    adr = s.read("addresses")
    assert sorted(adr["address"]) == ["滨江路12号", "阳光小区3号楼"]  # 滨江路 has no number: skipped
    assert "unparsable" not in r.output
    entries = audit.entries(users.db_path(env / "inst"))
    assert entries[0].action == "import" and entries[0].detail["init_city"] is True
    # serving it: the demo does not re-seed a store that init-city made
    monkeypatch.setenv("GRIDMAP_STORE_URL", str(store))
    out = runner.invoke(main, ["versions"])
    assert out.exit_code == 0, out.output
    assert [line[:6] for line in out.output.splitlines() if line[:1] in "* "] [0] == "* 0001"
    assert "0002-" not in out.output and "init-city from 河湾市" in out.output


def test_init_city_zip_source_and_mapping(env, runner):
    office = make_office(env / "资料", addresses=False)
    (office / "设施.csv").rename(office / "poi_list.csv")  # poi: still facilities by name
    g = gpd.read_file(office / "网格.gpkg")
    (office / "网格.gpkg").unlink()
    g = g.rename(columns={"网格编码": "GNO"})
    g.to_file(office / "layer1.gpkg", engine="pyogrio")
    src = env / "资料.zip"
    with zipfile.ZipFile(src, "w") as zf:
        for p in office.iterdir():
            zf.write(p, f"资料/{p.name}")
    mapping = env / "map.toml"
    mapping.write_text('[city]\nname = "河湾市"\nprovince = "某某省"\n[files."layer1.gpkg"]\nlayer = "grids"\n',
                       encoding="utf-8")
    store = env / "s"
    r = runner.invoke(main, ["init-city", str(src), "--store", str(store), "--mapping", str(mapping),
                             "--field", "grids.code=GNO", "--table-crs", "4326"])
    assert r.exit_code == 0, r.output
    assert "按映射文件 by mapping file" in r.output and "code ← GNO" in r.output
    meta = open_store(store).metadata()
    assert meta["city"]["province"] == "某某省" and meta["counts"]["grids"] == 9


def _refused(runner, office: Path, store: Path, *args: str) -> str:
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store), "--table-crs", "4326", *args])
    assert r.exit_code == 1, r.output
    assert not store.exists()
    return r.output


def test_refuses_an_unrecognised_file(env, runner):
    office = make_office(env / "o")
    pd.DataFrame({"foo": ["a"], "经度": [111.0], "纬度": [30.0]}).to_csv(office / "data.csv", index=False)
    out = _refused(runner, office, env / "s")
    assert "unknown_layer_file" in out and "data.csv" in out


def test_refuses_two_files_for_one_layer(env, runner):
    office = make_office(env / "o")
    _grids().to_file(office / "网格2.gpkg", engine="pyogrio")
    out = _refused(runner, office, env / "s")
    assert "ambiguous_layer" in out and "网格2.gpkg" in out


def test_refuses_a_missing_code_field(env, runner):
    office = make_office(env / "o", grids=_grids().drop(columns=["网格编码"]))
    out = _refused(runner, office, env / "s")
    assert "missing_field" in out and "网格.gpkg" in out and "字段 field code" in out


def test_generate_codes_from_the_mapping(env, runner):
    office = make_office(env / "o", grids=_grids().drop(columns=["网格编码"]), facilities=False, addresses=False)
    mapping = env / "m.json"
    mapping.write_text(json.dumps({"generate_codes": True}), encoding="utf-8")
    r = runner.invoke(main, ["init-city", str(office), "--store", str(env / "s"), "--mapping", str(mapping)])
    assert r.exit_code == 0, r.output
    codes = sorted(open_store(env / "s").read("grids")["code"])
    assert codes[0] == "D01-C01-G001" and len(set(codes)) == 9


def test_refuses_duplicate_codes(env, runner):
    g = _grids()
    g.loc[1, "网格编码"] = g.loc[0, "网格编码"]
    out = _refused(runner, make_office(env / "o", grids=g), env / "s")
    assert "duplicate_code" in out and "HW00" in out


def test_refuses_overlapping_grids(env, runner):
    g = _grids()
    g.loc[0, "geometry"] = shapely.box(X0, Y0 - 400, X0 + 500, Y0)
    out = _refused(runner, make_office(env / "o", grids=g), env / "s")
    assert "overlap" in out


def test_refuses_a_table_without_coordinates(env, runner):
    office = make_office(env / "o", facilities=False)
    pd.DataFrame({"名称": ["滨江站"], "类型": ["公交站点"]}).to_csv(office / "设施.csv", index=False)
    out = _refused(runner, office, env / "s")
    assert "no_coordinates" in out and "设施.csv" in out


def test_refuses_a_store_folder_in_the_way(env, runner):
    office = make_office(env / "o", facilities=False, addresses=False)
    store = env / "s"
    store.mkdir()
    (store / "keep.txt").write_text("x")
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store)])
    assert r.exit_code == 1 and "already exists" in r.output and sorted(p.name for p in store.iterdir()) == ["keep.txt"]


def test_help_has_an_example(runner):
    r = runner.invoke(main, ["init-city", "--help"])
    assert r.exit_code == 0 and "gridmap init-city office/ --store" in r.output and "--table-crs" in r.output


def test_plan_to_dict_is_json(env):
    plan = initcity.plan_city(make_office(env / "o"), table_crs="4326")
    data = json.loads(json.dumps(plan.to_dict(), ensure_ascii=False))
    assert data["ok"] and data["counts"]["grids"] == 9 and data["city"]["name"] == "o"


# --------------------------------------------------------------------------- the test cities of tests/cities.py


def _check_store(store: Path, grids_file: gpd.GeoDataFrame) -> None:
    s = open_store(store)
    grids, fac = s.read("grids"), s.read("facilities")
    assert len(grids) == len(grids_file) and grids["code"].is_unique
    assert set(grids["code"]) == {str(c) for c in grids_file["code"]}
    for layer in ("divisions", "committees", "facilities", "addresses"):
        assert s.read(layer)["code" if layer in ("divisions", "committees") else "id"].is_unique
    by_code = dict(zip(grids["code"], grids.geometry, strict=True))
    inside = [by_code[c].buffer(1e-6).covers(p) for c, p in zip(fac["grid_code"], fac.geometry, strict=True) if c]
    assert inside and all(inside)
    meta = s.metadata()
    assert meta["counts"]["grids"] == len(grids) and City.from_metadata(meta).metric_crs


def test_cn_city_needs_only_the_table_crs(env, runner):
    from tests import cities

    office = cities.make_cn_city(env / "河湾市")
    store = env / "hewan"
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store), "--table-crs", "gcj02"])
    assert r.exit_code == 0, r.output
    _check_store(store, cities.grids_of(office))
    s = open_store(store)
    city = City.from_metadata(s.metadata())
    assert city.name == cities.CN_NAME and city.code_scheme == "free" and city.metric_crs == cities.CN_CRS
    grids, adr = s.read("grids"), s.read("addresses")
    assert int(grids["population"].sum()) == int(adr["residents"].sum())
    assert int(s.read("divisions")["population"].sum()) == int(grids["population"].sum())
    assert {"village", "community"} == set(s.read("committees")["kind"])


def test_utm_city_outside_china(env, runner):
    from tests import cities

    office = cities.make_utm_city(env / "fjordvik")
    store = env / "fjordvik-store"
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store)])
    assert r.exit_code == 0, r.output
    _check_store(store, cities.grids_of(office))
    city = City.from_metadata(open_store(store).metadata())
    assert city.name == "fjordvik" and city.metric_crs == cities.UTM_CRS


def test_lanzhou_from_the_district_outlines(env, runner):
    from tests import cities

    office = cities.make_lanzhou(env / "兰州市")
    if office is None:
        pytest.skip("../shared/reference/data/lanzhou_districts.geojson is absent")
    store = env / "lanzhou"
    r = runner.invoke(main, ["init-city", str(office), "--store", str(store), "--name", "兰州市"])
    assert r.exit_code == 0, r.output
    assert "区县.geojson → 街道(镇) divisions" in r.output
    _check_store(store, cities.grids_of(office))
    assert len(open_store(store).read("divisions")) == 8
