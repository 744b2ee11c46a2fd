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
from app.geo.geojson import dump_geojson
from app.geo.geojson_store import FolderStore, VersionedStore
from app.geo.store import StoreError
from tests import helpers

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
        assert list(plan.gdf.columns[:-1]) == [f.name for f in importer.FIELDS[layer]]


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
    assert case.problem in out.report.problems(), out.report.format_text()
    finding = next(f for f in out.report.errors if f.problem == case.problem)
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
    assert recomputed and all("EPSG:32648" in m for m in recomputed)
    geod = pyproj.Geod(ellps="WGS84")
    true = np.array([abs(geod.geometry_area_perimeter(x)[0]) for x in plan.gdf.geometry])
    assert np.allclose(plan.gdf["area_m2"].to_numpy(), true, rtol=1e-3)
