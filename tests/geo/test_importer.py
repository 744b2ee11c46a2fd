"""Importing layers: formats, coordinate systems, encodings, checks, repair, and the hostile corpus."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from app.geo import crs as crsmod
from app.geo import importer
from app.geo.city import City
from app.geo.geojson import dump_geojson
from app.geo.geojson_store import FolderStore, VersionedStore
from app.geo.store import StoreError
from tests import batch_files, helpers

MINI = helpers.MINI
LANZHOU = helpers.LANZHOU
corpus = helpers.hostile_corpus()

MINI_STORE = FolderStore(MINI)


def _grids() -> gpd.GeoDataFrame:
    return gpd.read_file(MINI / "grids.geojson")


def _zip_shapefile(gdf: gpd.GeoDataFrame, folder: Path, encoding: str, cpg: str | None) -> Path:
    shp = folder / "shp"
    shp.mkdir()
    gdf.to_file(shp / "grids.shp", encoding=encoding, engine="pyogrio")
    for p in shp.glob("*.cpg"):
        p.unlink()
    if cpg:
        (shp / "grids.cpg").write_text(cpg)
    out = folder / "grids.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for p in shp.iterdir():
            zf.write(p, f"data/{p.name}")
    return out


# --------------------------------------------------------------------------- formats


def test_geojson_of_every_mini_layer_passes_clean():
    for layer in ("divisions", "committees", "grids", "facilities", "addresses", "roads"):
        plan = importer.prepare(MINI / f"{layer}.geojson", layer, context=MINI_STORE)
        assert plan.report.ok, plan.report.format_text()
        assert not plan.report.warnings, plan.report.format_text()
        # ``aliases`` is left out when no row has one (the mini city has none)
        assert list(plan.gdf.columns[:-1]) == [f.name for f in importer.FIELDS[layer] if f.name != "aliases"]


def test_geopackage_in_another_crs(tmp_path):
    g = _grids().to_crs("EPSG:4542")
    g.to_file(tmp_path / "grids.gpkg", layer="grids", engine="pyogrio")
    plan = importer.prepare(tmp_path / "grids.gpkg", "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.crs.startswith("EPSG:4542")
    assert np.allclose(plan.gdf.total_bounds, _grids().total_bounds, atol=2e-6)


@pytest.mark.parametrize(("encoding", "cpg"), [("gbk", None), ("gb18030", "GB18030"), ("utf-8", "UTF-8"),
                                               ("gbk", "936")])
def test_zipped_shapefile_reads_prj_and_chinese_dbf(tmp_path, encoding, cpg):
    g = _grids().to_crs("EPSG:4542")[["code", "name", "committee_code", "households", "geometry"]]
    path = _zip_shapefile(g, tmp_path, encoding, cpg)
    plan = importer.prepare(path, "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.format == "shapefile" and "4542" in plan.report.crs
    assert plan.gdf["name"].iloc[0] == "建设社区第1网格"
    assert plan.gdf["committee_code"].iloc[0] == "620201001001"  # from the 10-character .dbf name


def test_csv_in_gb18030_with_gcj02_coordinates(tmp_path):
    fac = gpd.read_file(MINI / "facilities.geojson")
    lon, lat = crsmod.wgs84_to_gcj02(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    df = pd.DataFrame({"名称": fac["name"], "category": fac["category"], "经度": lon, "纬度": lat})
    path = tmp_path / "facilities.csv"
    path.write_bytes(df.to_csv(index=False).encode("gb18030"))
    plan = importer.prepare(path, "facilities", crs="gcj02", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    err = np.hypot(plan.gdf.geometry.x - fac.geometry.x, plan.gdf.geometry.y - fac.geometry.y).max()
    assert err < 2e-6  # back on WGS84 within rounding, after a ~100 m GCJ-02 shift
    assert plan.gdf["grid_code"].tolist() == fac["grid_code"].tolist()  # filled in from the stored grids
    assert plan.gdf["id"].iloc[0] == "F00001"


def test_xlsx_with_bd09_and_explicit_columns(tmp_path):
    fac = gpd.read_file(MINI / "facilities.geojson")
    lon, lat = crsmod.wgs84_to_bd09(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    df = pd.DataFrame({"id": fac["id"], "name": fac["name"], "category": fac["category"], "lng": lon, "lat": lat})
    path = tmp_path / "f.xlsx"
    df.to_excel(path, index=False)
    plan = importer.prepare(path, "facilities", crs="bd09", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert np.abs(plan.gdf.geometry.x - fac.geometry.x).max() < 2e-6


def test_table_without_crs_assumes_wgs84_with_a_warning(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,category,lon,lat\n站,bus_stop,98.2901,39.7701\n", encoding="utf-8")
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok
    assert "assumed_crs" in {f.problem for f in plan.report.warnings}


def test_geojson_crs_member_is_honoured(tmp_path):
    g = _grids().to_crs("EPSG:4542")
    doc = json.loads(g.to_json())
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4542"}}
    path = tmp_path / "g.geojson"
    path.write_text(json.dumps(doc))
    plan = importer.prepare(path, "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()


def test_code_scheme_is_only_a_warning_and_area_is_computed():
    g = _grids()
    g.loc[0, "code"] = "G-1"
    g["area_m2"] = 1.0
    path = Path(importer.tempfile.mkdtemp()) / "g.geojson"
    path.write_bytes(dump_geojson(g))
    plan = importer.prepare(path, "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    problems = {f.problem for f in plan.report.warnings}
    assert {"code_scheme", "area_recomputed"} <= problems
    assert plan.gdf["area_m2"].iloc[1] > 10_000


# --------------------------------------------------------------------------- repair


def test_repair_only_when_asked(tmp_path):
    src = (corpus._MAKERS["self_intersection.geojson"])()
    path = tmp_path / "bowtie.geojson"
    path.write_bytes(src)
    refused = importer.prepare(path, "grids", context=None)
    assert "invalid_geometry" in refused.report.problems()
    err = next(f for f in refused.report.errors if f.problem == "invalid_geometry")
    assert "Self-intersection" in err.message and err.place and err.feature.startswith("#1")
    fixed = importer.prepare(path, "grids", repair=True, context=None)
    assert "invalid_geometry" not in fixed.report.problems()
    assert any(f.severity == "repaired" for f in fixed.report.findings)


def test_unclosed_ring_is_closed_when_asked(tmp_path):
    path = tmp_path / "u.geojson"
    path.write_bytes(corpus._MAKERS["unclosed_ring.geojson"]())
    assert "unclosed_ring" in importer.prepare(path, "grids").report.problems()
    plan = importer.prepare(path, "grids", repair=True, context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert all(shapely.is_valid(plan.gdf.geometry.values))


# --------------------------------------------------------------------------- storing


def test_run_import_stores_a_version_and_dry_run_does_not(tmp_path):
    store = VersionedStore(tmp_path / "store")
    store.seed_from(MINI)
    before = helpers.tree_digest(store.root)
    g = _grids()
    g["name"] = g["name"] + "（新）"
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    dry = importer.run_import(store, "grids", path, author="t", dry_run=True)
    assert dry.report.ok and dry.version is None and helpers.tree_digest(store.root) == before
    done = importer.run_import(store, "grids", path, author="t")
    assert done.version.seq == 2 and store.read("grids")["name"].iloc[0].endswith("（新）")
    assert done.version.summary["grids"] == {"added": [], "removed": [], "reshaped": []}


def test_read_only_store_refuses_to_import(tmp_path):
    with pytest.raises(StoreError, match="read-only"):
        importer.run_import(MINI_STORE, "grids", MINI / "grids.geojson", author="t")
    assert importer.run_import(MINI_STORE, "grids", MINI / "grids.geojson", author="t", dry_run=True).report.ok


def test_report_text_and_dict_name_feature_problem_and_place(tmp_path):
    path = tmp_path / "o.geojson"
    path.write_bytes(corpus._MAKERS["overlap.geojson"]())
    report = importer.prepare(path, "grids", context=MINI_STORE).report
    overlap = next(f for f in report.errors if f.problem == "overlap")
    assert "m²" in overlap.message and overlap.feature and overlap.place
    lon, lat = map(float, overlap.place.split(","))
    assert 98 < lon < 99 and 39 < lat < 40
    text = report.format_text()
    assert "REFUSED" in text and "overlap" in text
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(not LANZHOU.exists(), reason="reference data folder absent")
def test_real_lanzhou_districts_in_epsg4542_as_committees_and_grids(tmp_path):
    store = VersionedStore(tmp_path / "store")
    store.seed_from(MINI)
    src = gpd.read_file(LANZHOU)
    com = src.assign(code=[f"620102001{i:03d}" for i in range(1, len(src) + 1)], division_code="620102001")
    com_path = tmp_path / "committees.geojson"
    com.to_file(com_path, engine="pyogrio")
    assert importer.run_import(store, "committees", com_path, author="t").version is not None
    grids = com[["code", "name", "geometry"]].assign(committee_code=com["code"], code=com["code"] + "001")
    gpkg = tmp_path / "grids.gpkg"
    grids.to_crs("EPSG:4542").to_file(gpkg, engine="pyogrio")
    out = importer.run_import(store, "grids", gpkg, author="t")
    assert out.report.ok, out.report.format_text()
    assert out.version.summary["grids"]["removed"] and len(out.version.summary["grids"]["added"]) == 8
    stored = store.read("grids")
    assert len(stored) == 8 and stored["area_m2"].min() > 5e7
    # the districts share borders exactly: no overlaps and no gaps were reported
    assert not {"overlap", "gap"} & {f.problem for f in out.report.findings}


# --------------------------------------------------------------------------- hostile corpus


def test_corpus_is_large_enough_and_covers_every_category():
    assert len(corpus.CASES) >= 25
    covered = {c.problem for c in corpus.CASES}
    required = {"unreadable", "wrong_geometry_type", "empty_geometry", "nan_coordinates", "out_of_range",
                "latlon_swap", "invalid_geometry", "unclosed_ring", "overlap", "gap", "outside_parent",
                "duplicate_code", "missing_code", "zip_slip", "zip_bomb", "too_large"}
    assert required <= covered


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return corpus.build(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory):
    store = VersionedStore(tmp_path_factory.mktemp("cstore") / "store")
    store.seed_from(MINI)
    return store


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_hostile_file_is_refused_with_its_message_and_nothing_changes(case, hostile, corpus_store):
    path = dict((c.name, p) for c, p in hostile)[case.name]
    before = helpers.tree_digest(corpus_store.root)
    out = importer.run_import(corpus_store, case.layer, path, author="t", crs=case.crs,
                              limits=importer.Limits(**corpus.LIMITS))
    assert not out.report.ok and out.version is None
    problem = case.problem
    assert problem in out.report.problems(), out.report.format_text()
    finding = next(f for f in out.report.errors if f.problem == problem)
    assert finding.message
    assert helpers.tree_digest(corpus_store.root) == before


def test_area_is_computed_in_the_metric_crs_of_the_upload(tmp_path):
    import pyproj

    g = _grids()
    g.geometry = shapely.transform(g.geometry.values, lambda xy: xy + [5.0, 0.0])  # about Lanzhou's longitude
    g["area_m2"] = 1.0
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    plan = importer.prepare(path, "grids")
    recomputed = [f.message for f in plan.report.warnings if f.problem == "area_recomputed"]
    assert recomputed and all("EPSG:4543" in m for m in recomputed)  # CGCS2000 GK CM 102E
    geod = pyproj.Geod(ellps="WGS84")
    true = np.array([abs(geod.geometry_area_perimeter(x)[0]) for x in plan.gdf.geometry])
    assert np.allclose(plan.gdf["area_m2"].to_numpy(), true, rtol=1e-3)


# --------------------------------------------------------------------------- text hygiene


def _write(g: gpd.GeoDataFrame, fmt: str, folder: Path) -> Path:
    """Write grids in one of the import formats (tables with a WKT column)."""
    if fmt == "geojson":
        path = folder / "grids.geojson"
        path.write_bytes(dump_geojson(g))
    elif fmt == "gpkg":
        path = folder / "grids.gpkg"
        g.to_file(path, layer="grids", engine="pyogrio")
    elif fmt == "shapefile":
        path = _zip_shapefile(g[["code", "name", "committee_code", "geometry"]], folder, "utf-8", "UTF-8")
    else:
        table = pd.DataFrame(g.drop(columns="geometry")).assign(wkt=g.geometry.to_wkt())
        path = folder / f"grids.{fmt}"
        if fmt == "csv":
            table.to_csv(path, index=False)
        else:
            table.to_excel(path, index=False)
    return path


FORMAT_NAMES = ["geojson", "gpkg", "shapefile", "csv", "xlsx"]


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_a_hidden_character_in_a_code_is_refused_in_every_format(tmp_path, fmt):
    g = _grids()
    g.loc[0, "code"] = "6202\u200b01001001001"
    report = importer.prepare(_write(g, fmt, tmp_path), "grids", context=MINI_STORE).report
    assert not report.ok
    (err,) = [f for f in report.errors if f.problem == "hidden_characters"]
    assert err.message == "code '6202\\u200b01001001001' has a zero-width space (U+200B) at position 5"
    assert err.feature.startswith("#1 (6202\\u200b01001001001" if fmt not in ("csv", "xlsx") else "row 2 (")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_a_hidden_character_in_a_name_is_stripped_with_a_warning_in_every_format(tmp_path, fmt):
    g = _grids()
    g.loc[1, "name"] = "建设社区\u202e第2网格"
    plan = importer.prepare(_write(g, fmt, tmp_path), "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    (warn,) = [f for f in plan.report.warnings if f.problem == "hidden_characters"]
    assert warn.message == "name '建设社区\\u202e第2网格' has a right-to-left override (U+202E) at position 5; removed"
    assert "620201001001002" in warn.feature
    assert plan.gdf["name"].iloc[1] == "建设社区第2网格"


@pytest.mark.parametrize(("char", "name"), [
    ("\x00", "a NUL character (U+0000)"), ("\t", "a control character (U+0009)"),
    ("\x1b", "a control character (U+001B)"), ("\x7f", "a control character (U+007F)"),
    ("\x85", "a control character (U+0085)"), ("\u200b", "a zero-width space (U+200B)"),
    ("\u200c", "a zero-width non-joiner (U+200C)"), ("\u200d", "a zero-width joiner (U+200D)"),
    ("\u2060", "a word joiner (U+2060)"), ("\ufeff", "a zero-width no-break space (byte order mark) (U+FEFF)"),
    ("\u202a", "a left-to-right embedding (U+202A)"), ("\u202e", "a right-to-left override (U+202E)"),
    ("\u2066", "a left-to-right isolate (U+2066)"), ("\u2069", "a pop directional isolate (U+2069)"),
    ("\u200e", "a left-to-right mark (U+200E)"), ("\u200f", "a right-to-left mark (U+200F)"),
    ("\u061c", "an Arabic letter mark (U+061C)"),
])
def test_every_hidden_character_is_named_with_its_position(tmp_path, char, name):
    g = _grids()
    g.loc[2, "committee_code"] = "620201" + char + "001001"
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    report = importer.prepare(path, "grids", context=MINI_STORE).report
    (err,) = [f for f in report.errors if f.problem == "hidden_characters"]
    assert err.message.startswith("committee_code '620201")
    assert err.message.endswith(f"' has {name} at position 7")
    assert err.feature.startswith("#3 (620201001001003")


def test_nul_in_a_name_is_removed_not_cut_and_other_text_fields_too(tmp_path):
    g = _grids()
    g.loc[0, "name"] = "a\x00b"
    g.loc[1, "leader_phone"] = "139\u200b0000\u200b1978"
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    plan = importer.prepare(path, "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["name"].iloc[0] == "ab" and plan.gdf["leader_phone"].iloc[1] == "13900001978"
    warnings = {f.feature: f.message for f in plan.report.warnings if f.problem == "hidden_characters"}
    assert warnings == {
        "#1 (620201001001001, a\\x00b)": "name 'a\\x00b' has a NUL character (U+0000) at position 2; removed",
        "#2 (620201001001002, 建设社区第2网格)": "leader_phone '139\\u200b0000\\u200b1978' has a zero-width space "
                                            "(U+200B) at position 4 (and 1 more hidden characters); removed",
    }


def test_codes_and_names_are_stored_in_nfc(tmp_path):
    fac = gpd.read_file(MINI / "facilities.geojson")
    fac.loc[0, "name"] = "Cafe\u0301"  # e + combining acute accent
    fac.loc[1, "id"], fac.loc[2, "id"] = "F\u00e9", "Fe\u0301"  # the same id, composed and decomposed
    path = tmp_path / "f.geojson"
    path.write_bytes(dump_geojson(fac))
    report = importer.prepare(path, "facilities", context=MINI_STORE).report
    assert [f.problem for f in report.errors] == ["duplicate_code"]
    fac = fac.drop(index=2)
    path.write_bytes(dump_geojson(fac))
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok and not [f for f in plan.report.warnings if f.problem == "hidden_characters"]
    assert plan.gdf["name"].iloc[0] == "Café" and len(plan.gdf["name"].iloc[0]) == 4
    assert plan.gdf["id"].iloc[1] == "F\u00e9"


def test_plane_geometries_are_built_as_shapely_builds_them():
    """Polygons, multipolygons and points are built in bulk; 3-D and odd ones one by one; the same either way."""
    from app.geo._import_geojson import _read_geojson

    square = [[98.28, 39.76], [98.29, 39.76], [98.29, 39.77], [98.28, 39.77], [98.28, 39.76]]
    hole = [[98.282, 39.762], [98.284, 39.762], [98.284, 39.764], [98.282, 39.762]]
    geometries = [
        {"type": "Polygon", "coordinates": [square, hole]},
        {"type": "MultiPolygon", "coordinates": [[square], [[[x + 0.02, y] for x, y in square], hole]]},
        {"type": "Point", "coordinates": [98, 39]},
        {"type": "Polygon", "coordinates": [[[*p, 1500.0] for p in square]]},
        {"type": "Point", "coordinates": [98.29, 39.77, 1500]},
        {"type": "Polygon", "coordinates": [[[*p, 1.0] if k % 2 else p for k, p in enumerate(square)]]},
        {"type": "LineString", "coordinates": square},
    ]
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries]}
    raw = _read_geojson(json.dumps(doc).encode(), importer.Report("f"), False, importer.Limits())
    for geom, obj in zip(raw.geoms, geometries, strict=True):
        try:
            want = shapely.geometry.shape(obj)
        except ValueError:  # mixed 2-D and 3-D positions: refused, as before
            assert geom is None
            continue
        assert shapely.to_wkb(geom) == shapely.to_wkb(want), obj["type"]


@pytest.mark.parametrize("make", [lambda: batch_files.far_cell(), lambda: batch_files.shared_string_bomb(300)],
                         ids=["far_cell", "shared_string_bomb"])
def test_a_hostile_workbook_is_refused_before_it_is_parsed(tmp_path, make):
    path = tmp_path / "facilities.xlsx"
    path.write_bytes(make())
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert not plan.report.ok and plan.gdf is None  # refused, and the process is still alive
    assert {f.problem for f in plan.report.errors} & {"unreadable", "zip_bomb", "too_large"}


# --------------------------------------------------------------------------- any place on Earth (issue 10)

CN = City(code_scheme="cn-9-12-15")
FREE = City()


def _square_grid(x0: float, y0: float, size: float, n: int = 2) -> gpd.GeoDataFrame:
    """An n × n tiling of squares, coded G-1 … in a free scheme, all in committee C-1."""
    cells = [shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
             for j in range(n) for i in range(n)]
    return gpd.GeoDataFrame({"code": [f"G-{k + 1}" for k in range(len(cells))],
                             "name": [f"Grid {k + 1}" for k in range(len(cells))],
                             "committee_code": "C-1", "households": 10, "population": 25}, geometry=cells)


@pytest.mark.parametrize(("epsg", "x0", "y0"), [(3067, 385000.0, 6672000.0), (32633, 390000.0, 5820000.0)],
                         ids=["finland_3067", "utm_32633"])
def test_a_grid_in_a_european_projected_crs_imports_cleanly(tmp_path, epsg, x0, y0):
    g = _square_grid(x0, y0, 500.0).set_crs(epsg)
    g.to_file(tmp_path / "grids.gpkg", layer="grids", engine="pyogrio")
    plan = importer.prepare(tmp_path / "grids.gpkg", "grids", city=FREE)
    assert plan.report.ok, plan.report.format_text()
    assert not {"latlon_swap", "outside_china", "code_scheme"} & {f.problem for f in plan.report.findings}
    assert plan.gdf["code"].tolist() == ["G-1", "G-2", "G-3", "G-4"]
    assert np.allclose(plan.gdf["area_m2"], 250000.0, rtol=2e-4)  # measured in the metric CRS of the extent
    back = plan.gdf.to_crs(epsg)
    assert np.allclose(back.total_bounds, [x0, y0, x0 + 1000, y0 + 1000], atol=0.2)


def test_facilities_in_europe_in_wgs84_import_cleanly(tmp_path):
    fac = gpd.GeoDataFrame({"name": ["Gare", "Parc"], "category": ["bus stop", "park"]},
                           geometry=[shapely.Point(2.3522, 48.8566), shapely.Point(2.36, 48.86)], crs=4326)
    path = tmp_path / "facilities.geojson"
    path.write_bytes(dump_geojson(fac))
    plan = importer.prepare(path, "facilities")
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["category"].tolist() == ["bus_stop", "park"]
    assert "outside_china" not in {f.problem for f in plan.report.findings}


def test_a_true_swap_in_wgs84_over_the_city_is_still_caught(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,category,lon,lat\n站,bus_stop,39.7701,98.2901\n", encoding="utf-8")
    report = importer.prepare(path, "facilities", context=MINI_STORE).report
    (err,) = [f for f in report.errors if f.problem == "latlon_swap"]
    assert "city" in err.message and err.feature.startswith("row 2")


def test_a_swap_is_judged_against_the_crs_area_of_use(tmp_path):
    g = _grids().to_crs("EPSG:4542")
    g.geometry = shapely.transform(g.geometry.values, lambda xy: xy[:, ::-1])
    g.to_file(tmp_path / "grids.gpkg", layer="grids", engine="pyogrio")
    report = importer.prepare(tmp_path / "grids.gpkg", "grids", context=MINI_STORE).report
    err = next(f for f in report.errors if f.problem == "latlon_swap")
    assert "area of use of EPSG:4542" in err.message


def test_gcj02_outside_china_is_the_identity_with_a_warning(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,category,经度(GCJ-02),纬度(GCJ-02)\nGare,bus_stop,2.3522,48.8566\n", encoding="utf-8")
    plan = importer.prepare(path, "facilities")
    assert plan.report.ok, plan.report.format_text()
    assert {"crs_hint", "crs_identity"} <= {f.problem for f in plan.report.warnings}
    assert (plan.gdf.geometry.x.iloc[0], plan.gdf.geometry.y.iloc[0]) == (2.3522, 48.8566)


# --------------------------------------------------------------------------- tables: header hints

@pytest.mark.parametrize(("lon", "lat", "crs", "convert"), [
    ("经度(GCJ-02)", "纬度(GCJ-02)", "GCJ-02", crsmod.wgs84_to_gcj02),
    ("lng_gcj", "lat_gcj", "GCJ-02", crsmod.wgs84_to_gcj02),
    ("lon (BD-09)", "lat (BD-09)", "BD-09", crsmod.wgs84_to_bd09),
    ("x_bd09", "y_bd09", "BD-09", crsmod.wgs84_to_bd09),
    ("经度_WGS84", "纬度_WGS84", "WGS 84", lambda x, y: (x, y)),
    ("经度(CGCS2000)", "纬度(CGCS2000)", "CGCS2000", lambda x, y: (x, y)),
])
def test_a_header_hint_sets_the_table_crs(tmp_path, lon, lat, crs, convert):
    fac = gpd.read_file(MINI / "facilities.geojson")
    x, y = convert(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    path = tmp_path / "facilities.csv"
    pd.DataFrame({"名称": fac["name"], "类别": fac["category"], lon: x, lat: y}).to_csv(path, index=False)
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert crs in plan.report.crs and "assumed_crs" not in {f.problem for f in plan.report.warnings}
    err = np.hypot(plan.gdf.geometry.x - fac.geometry.x, plan.gdf.geometry.y - fac.geometry.y).max()
    assert err < 2e-6


def test_the_crs_argument_wins_over_a_header_hint(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,category,经度(GCJ-02),纬度(GCJ-02)\n站,bus_stop,98.2901,39.7701\n", encoding="utf-8")
    plan = importer.prepare(path, "facilities", crs="wgs84", context=MINI_STORE)
    assert plan.report.ok and plan.report.crs.startswith("EPSG:4326")
    override = next(f for f in plan.report.warnings if f.problem == "crs_override")
    assert "经度(GCJ-02)" in override.message and "GCJ-02" in override.message
    assert plan.gdf.geometry.x.iloc[0] == 98.2901


# --------------------------------------------------------------------------- fields by name, extras kept

def _chinese_grids(folder: Path) -> Path:
    g = _grids()
    table = pd.DataFrame({"网格编码": g["code"], "网格名称": g["name"], "社区编码": g["committee_code"],
                          "所属社区": "建设社区", "网格员": g["worker_name"], "联系电话": g["worker_phone"],
                          "户数": g["households"], "人口": g["population"], "备注": "测\u200b试",
                          "wkt": g.geometry.to_wkt()})
    path = folder / "网格.csv"
    table.to_csv(path, index=False)
    return path


def test_chinese_field_names_are_matched_and_other_columns_kept(tmp_path):
    plan = importer.prepare(_chinese_grids(tmp_path), "grids", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    g, mini = plan.gdf, _grids()
    schema = [f.name for f in importer.FIELDS["grids"]]
    assert list(g.columns[:len(schema)]) == schema and g.columns[-1] == "geometry"
    assert g["worker_phone"].tolist() == mini["worker_phone"].tolist()
    assert g["division_code"].iloc[0] == "620201001"  # derived from the committee code (cn-9-12-15)
    assert list(g.columns[len(schema):-1]) == ["所属社区", "备注"]
    assert g["code"].tolist() == mini["code"].tolist() and g["name"].tolist() == mini["name"].tolist()
    assert g["备注"].iloc[0] == "测试" and g["所属社区"].iloc[0] == "建设社区"
    kept = next(f for f in plan.report.warnings if f.problem == "extra_columns")
    assert "kept as extra attributes" in kept.message and "dropped" not in kept.message
    mapped = next(f for f in plan.report.warnings if f.problem == "mapped_fields")
    assert "网格名称 → name" in mapped.message and "联系电话 → worker_phone" in mapped.message
    hidden = next(f for f in plan.report.warnings if f.problem == "hidden_characters")
    assert hidden.field == "备注"


def test_extra_names_are_cleaned_and_never_clash(tmp_path):
    fac = gpd.read_file(MINI / "facilities.geojson").head(2)
    doc = json.loads(dump_geojson(fac))
    for f in doc["features"]:
        f["properties"].update({"NAME ": "a", "geometry": "b", "no\u200bte": "c", "Cafe\u0301": "d"})
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps(doc))
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert list(plan.gdf.columns[7:]) == ["NAME_2", "geometry_2", "note", "Caf\u00e9", "geometry"]
    assert plan.gdf["name"].iloc[0] == fac["name"].iloc[0] and plan.gdf["NAME_2"].iloc[0] == "a"


def test_extra_values_are_text_numbers_or_none(tmp_path):
    fac = gpd.read_file(MINI / "facilities.geojson").head(3)
    doc = json.loads(dump_geojson(fac))
    for k, f in enumerate(doc["features"]):
        f["properties"].update({"open": k == 0, "tags": {"a": [1, 2]}, "rank": k, "score": 0.5 if k else None})
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps(doc))
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    g = plan.gdf
    assert g["open"].tolist() == ["true", "false", "false"] and g["tags"].iloc[0] == '{"a": [1, 2]}'
    assert g["rank"].tolist() == [0, 1, 2] and g["score"].iloc[0] is None


def test_field_overrides_win_and_a_missing_column_is_named(tmp_path):
    g = _grids().rename(columns={"code": "网格号", "name": "标签"})
    g["name"] = "not the name"
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    plan = importer.prepare(path, "grids", context=MINI_STORE, fields={"code": "网格号", "name": "标签"})
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["name"].iloc[0] == "建设社区第1网格" and plan.gdf["name_2"].iloc[0] == "not the name"
    refused = importer.prepare(path, "grids", context=MINI_STORE, fields={"code": "编号"})
    (err,) = refused.report.errors
    assert err.problem == "unknown_field" and err.field == "code"
    assert "'编号'" in err.message and "网格号" in err.message  # the column asked for, and those present
    wrong = importer.prepare(path, "grids", context=MINI_STORE, fields={"colour": "标签"}).report.errors
    assert wrong[0].problem == "unknown_field" and "committee_code" in wrong[0].message


# --------------------------------------------------------------------------- code schemes

def test_the_free_scheme_checks_no_digits_and_derives_nothing(tmp_path):
    g = _grids()
    g.loc[0, "code"] = "G-1"
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    free = importer.prepare(path, "grids", context=MINI_STORE, city=FREE)
    assert free.report.ok and "code_scheme" not in {f.problem for f in free.report.findings}
    cn = importer.prepare(path, "grids", context=MINI_STORE, city=CN)
    assert cn.report.ok and "code_scheme" in {f.problem for f in cn.report.warnings}
    no_com = _grids().drop(columns=["committee_code", "division_code"])
    path.write_bytes(dump_geojson(no_com))
    assert importer.prepare(path, "grids", context=MINI_STORE, city=CN).report.ok  # from the 15-digit codes
    refused = importer.prepare(path, "grids", context=MINI_STORE, city=FREE).report
    errs = [f for f in refused.errors if f.problem == "missing_code"]
    assert len(errs) == 10 and all(f.field == "committee_code" for f in errs)
    assert "init-city" in errs[0].message and "free" in errs[0].message


def test_the_scheme_comes_from_the_context_store(tmp_path):
    store = VersionedStore(tmp_path / "store")
    store.seed_from(MINI)
    assert importer._city_of(store).code_scheme == "cn-9-12-15"
    assert importer._city_of(None) == City()


def test_a_free_scheme_grid_takes_its_division_from_the_stored_committee(tmp_path):
    g = _grids().drop(columns=["division_code"])
    path = tmp_path / "g.geojson"
    path.write_bytes(dump_geojson(g))
    plan = importer.prepare(path, "grids", context=MINI_STORE, city=FREE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["division_code"].tolist() == _grids()["division_code"].tolist()


def test_findings_name_their_field(tmp_path):
    path = tmp_path / "d.geojson"
    path.write_bytes(corpus._MAKERS["duplicate_codes.geojson"]())
    report = importer.prepare(path, "grids", context=MINI_STORE).report
    assert next(f for f in report.errors if f.problem == "duplicate_code").field == "code"


# --------------------------------------------------------------------------- category words

def test_category_words_become_keys_and_name_subtypes(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("名称,类别,经度,纬度\n甲站,公交站点,98.2901,39.7701\n乙园,口袋公园,98.2902,39.7702\n"
                    "丙场,停车场,98.2903,39.7703\n丁馆,图书馆,98.2904,39.7704\n", encoding="utf-8")
    plan = importer.prepare(path, "facilities", context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["category"].tolist() == ["bus_stop", "park", "parking", "library"]
    assert pd.isna(plan.gdf["subtype"].iloc[0]) and plan.gdf["subtype"].iloc[1] == "pocket_park"
    words = next(f for f in plan.report.warnings if f.problem == "mapped_fields" and f.field == "category")
    assert "公交站点 → bus_stop (1)" in words.message
    # the CJ/T 214 component code follows from the category where the standard has one
    assert plan.gdf["cjt214_code"].tolist()[:3] == ["0203", "0405", "0201"] and pd.isna(plan.gdf["cjt214_code"].iloc[3])


def test_an_unknown_category_lists_the_accepted_words(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,category,lon,lat\n网吧,internet_cafe,98.29,39.77\n", encoding="utf-8")
    (err,) = importer.prepare(path, "facilities", context=MINI_STORE).report.errors
    assert err.problem == "bad_value" and err.field == "category"
    assert "bus_stop" in err.message and "公交站点" in err.message and "停车场" in err.message


# --------------------------------------------------------------------------- read, then check

def test_read_source_then_check_layer(tmp_path):
    g = _grids().to_crs("EPSG:4542")[["code", "name", "geometry"]]
    path = _zip_shapefile(g, tmp_path, "gbk", None)
    raw, report = importer.read_source(path, layer="grids")
    assert isinstance(raw, importer.RawLayer) and report.ok
    assert raw.columns == ["code", "name"] and raw.format == "shapefile" and raw.encoding == "gb18030"
    assert raw.geometry_types == ("Polygon",) and raw.crs.epsg == 4542
    for p, com in zip(raw.props, _grids()["committee_code"], strict=True):  # what init-city does
        p["committee_code"] = com
    plan = importer.check_layer(raw, "grids", report, context=MINI_STORE)
    assert plan.report.ok, plan.report.format_text()
    assert plan.gdf["committee_code"].tolist() == _grids()["committee_code"].tolist()
    assert importer.read_source(tmp_path / "missing.geojson")[0] is None


def test_unclosed_rings_are_read_then_refused_or_repaired_by_check_layer(tmp_path):
    path = tmp_path / "u.geojson"
    path.write_bytes(corpus._MAKERS["unclosed_ring.geojson"]())
    raw, report = importer.read_source(path)
    assert raw is not None and raw.unclosed
    assert "unclosed_ring" in importer.check_layer(raw, "grids", report).report.problems()
    raw, report = importer.read_source(path)
    plan = importer.check_layer(raw, "grids", report, repair=True, context=MINI_STORE)
    assert plan.report.ok and any(f.severity == "repaired" for f in plan.report.findings)


def test_a_geopackage_layer_is_picked_by_name(tmp_path):
    path = tmp_path / "city.gpkg"
    _grids().to_file(path, layer="网格", engine="pyogrio")
    gpd.read_file(MINI / "committees.geojson").to_file(path, layer="社区", engine="pyogrio")
    assert "ambiguous_layer" in importer.prepare(path, "grids", context=MINI_STORE).report.problems()
    plan = importer.prepare(path, "grids", context=MINI_STORE, source_layer="网格")
    assert plan.report.ok, plan.report.format_text()
    raw, _ = importer.read_source(path, source_layer="社区")
    assert raw.source_layer == "社区" and len(raw.props) == 3
    missing = importer.prepare(path, "grids", source_layer="grids").report.errors[0]
    assert "网格" in missing.message and "社区" in missing.message
