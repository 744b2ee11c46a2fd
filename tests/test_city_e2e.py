"""`gridmap init-city` on three cities as their offices hand them over, then every page and API on the store it built."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner, Result
from flask import Flask

from app import create_app
from app.cli import main
from app.geo.crs import gcj02_to_wgs84
from tests import cities, helpers

pytestmark = pytest.mark.usefixtures("cheap_hashes")

#: Environment of every init-city run: no GRIDMAP_* setting of the caller leaks in.
_CLEAN_ENV = {"GRIDMAP_STORE_URL": None, "GRIDMAP_DATA_DIR": None, "GRIDMAP_INSTANCE_DIR": None}


@dataclass
class Built:
    """A generated city, the store init-city built from it and the app serving that store."""

    source: Path
    store: Path
    instance: Path
    output: str
    app: Flask
    #: The generated grids (WGS84), ``code`` and ``name`` columns named so whatever the file calls them.
    grids: gpd.GeoDataFrame
    #: (address text, WGS84 lon, lat) of the city's standard addresses; empty when it has none.
    addresses: list[tuple[str, float, float]]


def init_city(source: Path, store: Path, *args: str) -> Result:
    """Run ``gridmap init-city SOURCE --store STORE ARGS`` through click, as a user types it.

    The audit entry goes to the instance folder beside the store (``STORE/../inst``).
    """
    env = {**_CLEAN_ENV, "GRIDMAP_INSTANCE_DIR": str(store.parent / "inst")}
    return CliRunner().invoke(main, ["init-city", str(source), "--store", str(store), *args], env=env,
                              catch_exceptions=False)


def _app(store: Path, instance: Path) -> Flask:
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "COOKIE_SECURE": False, "RATELIMIT_ENABLED": False,
                      "STORE_URL": str(store), "INSTANCE_DIR": str(instance)})
    helpers.add_accounts(instance)
    return app


def _build(root: Path, source: Path, addresses: list[tuple[str, float, float]], *args: str) -> Built:
    store, instance = root / "store", root / "inst"
    result = init_city(source, store, *args)
    assert result.exit_code == 0, result.output
    return Built(source, store, instance, result.output, _app(store, instance), cities.grids_of(source), addresses)


def _cn_addresses(folder: Path) -> list[tuple[str, float, float]]:
    df = pd.read_excel(folder / "标准地址.xlsx", engine="openpyxl")
    lon, lat = gcj02_to_wgs84(df["经度"].to_numpy(float), df["纬度"].to_numpy(float))
    return list(zip(df["标准地址"].astype(str), lon.tolist(), lat.tolist(), strict=True))


def _csv_addresses(path: Path, text: str, lon: str, lat: str, encoding: str) -> list[tuple[str, float, float]]:
    df = pd.read_csv(path, encoding=encoding)
    return list(zip(df[text].astype(str), df[lon].astype(float), df[lat].astype(float), strict=True))


@pytest.fixture(scope="module")
def cn(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Built:
    """河湾市: one GBK zipped Shapefile (EPSG:4546, no .cpg), facilities and addresses in GCJ-02 XLSX."""
    root = tmp_path_factory.mktemp("cn")
    source = cities.make_cn_city(root / cities.CN_NAME)
    return _build(root, source, _cn_addresses(source), "--table-crs", "gcj02")


@pytest.fixture(scope="module")
def utm(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Built:
    """Fjordvik: a UTM 32N GeoPackage with English fields, CSV facilities and addresses in WGS84."""
    root = tmp_path_factory.mktemp("utm")
    source = cities.make_utm_city(root / "fjordvik")
    return _build(root, source, _csv_addresses(source / "addresses.csv", "address", "lon", "lat", "utf-8"))


@pytest.fixture(scope="module")
def lanzhou(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Built:
    """Lanzhou: grids cut from the public district outlines (EPSG:4544), districts, CSV facilities and addresses."""
    root = tmp_path_factory.mktemp("lanzhou")
    source = cities.make_lanzhou(root / "兰州市")
    if source is None:
        pytest.skip(f"the reference data is absent ({helpers.LANZHOU})")
    return _build(root, source, _csv_addresses(source / "地址.csv", "标准地址", "经度", "纬度", "gb18030"))


#: The three cities; Lanzhou's 596 grids take the longest to build.
CITIES = ("cn", "utm", pytest.param("lanzhou", marks=pytest.mark.slow))


@pytest.fixture(params=CITIES)
def city(request: pytest.FixtureRequest) -> Built:
    return request.getfixturevalue(request.param)


# --- helpers -----------------------------------------------------------------------------------------------


def _payload_codes(payload: dict) -> list[str]:
    """The grid codes of a home-map payload (put back together when they were sent without the committee's)."""
    grids = payload["grids"]
    codes = grids["columns"][grids["fields"].index("code")]
    if "code" not in grids.get("prefixed", []):
        return [str(c) for c in codes]
    coms = payload["committees"]["columns"][payload["committees"]["fields"].index("code")]
    rows = grids["columns"][grids["fields"].index("committee")]
    return [str(coms[r]) + str(c) for c, r in zip(codes, rows, strict=True)]


def _grid_of(grids: gpd.GeoDataFrame, lon: float, lat: float) -> str | None:
    hits = grids[grids.contains(shapely.Point(lon, lat))]
    return str(hits["code"].iloc[0]) if len(hits) == 1 else None


def _sample(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, k)})


def test_the_cn_city_is_deterministic_and_shaped_as_offices_send_it(tmp_path: Path) -> None:
    a, b = (cities.make_cn_city(tmp_path / n) for n in ("a", "b"))
    with zipfile.ZipFile(a / "网格.zip") as za, zipfile.ZipFile(b / "网格.zip") as zb:
        assert sorted(za.namelist()) == ["网格.dbf", "网格.prj", "网格.shp", "网格.shx"]  # no .cpg
        assert all(za.read(n) == zb.read(n) for n in za.namelist())
        dbf = za.read("网格.dbf")
    with pytest.raises(UnicodeDecodeError):
        dbf.decode("utf-8")
    assert "网格编码".encode("gbk") in dbf and "所属社区".encode("gbk") in dbf
    for name in ("设施.xlsx", "标准地址.xlsx"):
        pd.testing.assert_frame_equal(pd.read_excel(a / name, engine="openpyxl"),
                                      pd.read_excel(b / name, engine="openpyxl"))
    grids = cities.grids_of(a).to_crs(cities.CN_CRS)
    assert 60 <= len(grids) <= 120 and grids["code"].is_unique
    tree = shapely.STRtree(grids.geometry.values)
    left, right = tree.query(grids.geometry.values, predicate="intersects")
    assert max(grids.geometry.iloc[i].intersection(grids.geometry.iloc[j]).area
               for i, j in zip(left, right, strict=True) if i < j) < 1e-3  # tiles in its own CRS


# --- init-city ---------------------------------------------------------------------------------------------


def test_init_city_builds_a_versioned_store(city: Built) -> None:
    assert (city.store / "CURRENT").exists(), sorted(p.name for p in city.store.iterdir())
    assert str(len(city.grids)) in city.output, city.output
    # a clean tiling in the file's own CRS stays clean: no overlap or gap from reprojecting and rounding
    assert not re.search(r"\b(overlap|gap)\b", city.output), city.output
    with city.app.app_context():
        from app.web import dataset

        ds = dataset()
        assert len(ds.grids) == len(city.grids)
        assert set(ds.grids["code"].astype(str)) == set(city.grids["code"].astype(str))
        assert len(ds.layer("committees")) >= 2 and len(ds.layer("divisions")) >= 2
        assert len(ds.layer("facilities")) > 0
        # populations are summed up the hierarchy
        assert int(ds.layer("divisions")["population"].sum()) == int(city.grids["人口" if "人口" in city.grids
                                                                                  else "population"].sum())


def test_dry_run_writes_nothing_and_names_what_it_found(tmp_path: Path) -> None:
    source = cities.make_cn_city(tmp_path / "src")
    before = helpers.tree_digest(source)
    store = tmp_path / "store"
    r = init_city(source, store, "--table-crs", "gcj02", "--dry-run")
    assert r.exit_code == 0, r.output
    assert not store.exists() or not any(store.iterdir())
    assert helpers.tree_digest(source) == before
    for word in ("网格.zip", "设施.xlsx", "标准地址.xlsx", "EPSG:4546"):
        assert word in r.output, (word, r.output)
    assert re.search(r"gb(k|18030)", r.output, re.IGNORECASE), r.output


def test_grid_file_without_committee_codes(tmp_path: Path) -> None:
    source = cities.make_cn_city(tmp_path / "src", committee_codes=False)
    r = init_city(source, tmp_path / "store", "--table-crs", "gcj02")
    assert r.exit_code == 0, r.output
    app = _app(tmp_path / "store", tmp_path / "inst")
    with app.app_context():
        from app.web import dataset

        ds = dataset()
        assert len(ds.layer("committees")) == 8 and len(ds.layer("divisions")) == 2
        assert set(ds.layer("committees")["kind"]) == {"community", "village"}
        assert set(ds.layer("divisions")["kind"]) == {"subdistrict", "town"}


def test_store_in_the_way_is_refused(cn: Built) -> None:
    before = helpers.tree_digest(cn.store)
    r = init_city(cn.source, cn.store, "--table-crs", "gcj02")
    assert r.exit_code == 1, r.output
    assert helpers.tree_digest(cn.store) == before


def test_cli_commands_work_on_the_store(cn: Built) -> None:
    env = {**_CLEAN_ENV, "GRIDMAP_STORE_URL": str(cn.store), "GRIDMAP_INSTANCE_DIR": str(cn.instance)}
    r = CliRunner().invoke(main, ["versions"], env=env)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].startswith("* 0001-"), r.output
    lon, lat = helpers.inside_point(cn.grids, 5)
    r = CliRunner().invoke(main, ["locate", "--lon", str(lon), "--lat", str(lat)], env=env)
    assert r.exit_code == 0 and str(cn.grids["code"].iloc[5]) in r.output, r.output
    text, _, _ = cn.addresses[7]
    r = CliRunner().invoke(main, ["locate", "--address", text], env=env)
    assert r.exit_code == 0, r.output


# --- pages and APIs on the built store -----------------------------------------------------------------------


def test_home_map_draws_the_citys_grids(city: Built) -> None:
    client = city.app.test_client()
    r = client.get("/")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    html = r.get_data(as_text=True)
    url = re.search(r'rel="preload" href="([^"]+)"', html).group(1)
    payload = client.get(url).get_json()
    assert sorted(_payload_codes(payload)) == sorted(city.grids["code"].astype(str))
    west, south, east, north = city.grids.total_bounds
    b = payload["bounds"]
    assert b[0] <= west + 0.01 and b[2] >= east - 0.01 and b[1] <= south + 0.01 and b[3] >= north - 0.01


def test_grid_and_committee_pages_open(city: Built) -> None:
    client = city.app.test_client()
    code = str(city.grids["code"].iloc[len(city.grids) // 2])
    r = client.get(f"/grids/{code}")
    assert r.status_code == 200, (code, r.get_data(as_text=True)[:300])
    with city.app.app_context():
        from app.web import dataset

        committee = str(dataset().layer("committees")["code"].iloc[0])
    r = client.get(f"/committees/{committee}")
    assert r.status_code == 200, (committee, r.get_data(as_text=True)[:300])


def test_cn_title_is_the_citys_name(cn: Built) -> None:
    html = cn.app.test_client().get("/").get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "河湾" in title and "嘉峪关" not in html


def test_locate_point_gives_the_grid(city: Built) -> None:
    client = city.app.test_client()
    for i in _sample(len(city.grids), 8):
        lon, lat = helpers.inside_point(city.grids, i)
        r = client.get(f"/api/v1/locate/point?lon={lon}&lat={lat}")
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        assert body["status"] == "ok" and body["grid"]["code"] == str(city.grids["code"].iloc[i]), body


def test_locate_point_in_the_files_own_crs(cn: Built) -> None:
    lon, lat = helpers.inside_point(cn.grids, 3)
    x, y = gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326").to_crs(cities.CN_CRS).iloc[0].coords[0]
    body = cn.app.test_client().get(f"/api/v1/locate/point?x={x}&y={y}&crs={cities.CN_CRS}").get_json()
    assert body["grid"]["code"] == str(cn.grids["code"].iloc[3]), body


def test_locate_address_gives_its_grid(city: Built) -> None:
    client = city.app.test_client()
    checked = 0
    for i in _sample(len(city.addresses), 10):
        text, lon, lat = city.addresses[i]
        expected = _grid_of(city.grids, lon, lat)
        r = client.get("/api/v1/locate/address", query_string={"q": text})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        assert body["status"] == "ok", (text, body)
        assert body["grid"]["code"] == expected, (text, body)
        checked += 1
    assert checked >= 5


def test_locate_address_the_way_residents_say_it(cn: Built) -> None:
    text, lon, lat = next(a for a in cn.addresses if a[0].endswith("号楼"))
    division = str(cn.grids.loc[cn.grids["code"] == _grid_of(cn.grids, lon, lat), "所属街道"].iloc[0])
    spoken = text.replace(cities.CN_NAME, cities.CN_NAME + division + " ").replace("号楼", "栋") + "2单元301室"
    body = cn.app.test_client().get("/api/v1/locate/address", query_string={"q": spoken}).get_json()
    assert body["grid"]["code"] == _grid_of(cn.grids, lon, lat), body
    short = text.removeprefix(cities.CN_NAME)  # without the city
    body = cn.app.test_client().get("/api/v1/locate/address", query_string={"q": short}).get_json()
    assert body["status"] == "ok" and body["grid"]["code"] == _grid_of(cn.grids, lon, lat), body


def test_coverage_gives_numbers(city: Built) -> None:
    client = city.app.test_client()
    r = client.get("/api/v1/coverage", query_string={"category": "bus_stop", "radius": 500})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    body = r.get_json()
    assert len(body["rows"]) == len(city.grids)
    summary = json.dumps(body["summary"])
    assert re.search(r"\d", summary)
    pcts = [row["residents_pct"] for row in body["rows"] if row.get("residents_pct") is not None]
    assert pcts and all(0 <= p <= 100 for p in pcts) and max(pcts) > 0
    r = client.get("/api/v1/coverage", query_string={"category": "park,parking", "radius": 800,
                                                     "level": "committee"})
    assert r.status_code == 200 and r.get_json()["rows"], r.get_data(as_text=True)[:500]


@pytest.mark.parametrize("fmt", ["xlsx", "geojson", "gpkg", "csv"])
def test_coverage_exports_download(cn: Built, fmt: str) -> None:
    r = cn.app.test_client().get(f"/api/v1/coverage/export.{fmt}", query_string={"category": "bus_stop",
                                                                                 "radius": 500})
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    data = r.data
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        assert sheet.max_row >= len(cn.grids)
    elif fmt == "geojson":
        doc = json.loads(data)
        assert len(doc["features"]) == len(cn.grids)
        assert any("河湾" in json.dumps(f["properties"], ensure_ascii=False) or "社区" in
                   json.dumps(f["properties"], ensure_ascii=False) for f in doc["features"])
    elif fmt == "gpkg":
        assert data[:16] == b"SQLite format 3\x00"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "out.gpkg"
            path.write_bytes(data)
            with sqlite3.connect(path) as db:
                assert db.execute("select count(*) from gpkg_contents").fetchone()[0] >= 1
    else:
        assert len(data.decode("utf-8-sig").splitlines()) >= len(cn.grids)


def test_export_map_is_standalone(cn: Built) -> None:
    r = cn.app.test_client().get("/export/map.html")
    assert r.status_code == 200
    assert "河湾" in r.get_data(as_text=True)


def test_admin_lists_the_version(city: Built) -> None:
    client = city.app.test_client()
    assert helpers.login(client, "admin").status_code == 302
    versions = client.get("/api/v1/versions")
    assert versions.status_code == 200, versions.get_data(as_text=True)[:300]
    body = versions.get_json()
    listed = body["versions"] if isinstance(body, dict) else body
    assert len(listed) == 1, body
    vid = str(listed[0].get("id", listed[0].get("version")))
    page = client.get("/admin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert vid in html or vid.split("-")[0] in html
    assert "layer.facilities" not in html
    assert client.get("/admin/audit").status_code == 200


def test_staff_stay_private(cn: Built) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(cn.source / "网格.zip") as zf:
            zf.extractall(tmp)
        staff = gpd.read_file(Path(tmp) / "网格.shp", engine="pyogrio", encoding="gbk")
    client = cn.app.test_client()
    html = client.get("/").get_data(as_text=True)
    url = re.search(r'rel="preload" href="([^"]+)"', html).group(1)
    public = client.get(url).get_data(as_text=True) + html
    lon, lat = helpers.inside_point(cn.grids, 0)
    public += client.get(f"/api/v1/locate/point?lon={lon}&lat={lat}").get_data(as_text=True)
    public += client.get(f"/grids/{cn.grids['code'].iloc[0]}").get_data(as_text=True)
    for value in [*staff["联系电话"].tolist()[:20], *staff["网格员"].tolist()[:20]]:
        assert value not in public
    with cn.app.app_context():
        from app.web import dataset

        grids = dataset().grids.set_index("code")
        for code, name, phone in zip(staff["网格编码"], staff["网格员"], staff["联系电话"], strict=True):
            assert (grids.loc[code, "worker_name"], grids.loc[code, "worker_phone"]) == (name, phone)
