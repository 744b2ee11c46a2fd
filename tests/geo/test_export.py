"""Tests for app.geo.export: every format opens with its usual reader and holds no personal data."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from app.geo import coverage, export
from app.geo.schema import PERSONAL_FIELDS
from tests import helpers


@pytest.fixture(scope="module")
def result() -> coverage.CoverageResult:
    return coverage.analyse(helpers.MINI, ["parking", "bus_stop"], 500, target_pct=95)


def test_format_of():
    assert export.format_of("a/b/Out.XLSX") == "xlsx"
    with pytest.raises(coverage.CoverageError, match="extension"):
        export.format_of("out.txt")


def test_csv_has_bom_and_level(result, tmp_path):
    out = export.write(result, tmp_path / "c.csv", "committee")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out, encoding="utf-8-sig", dtype={"code": str})
    assert len(df) == len(result.table("committee"))
    assert "spaces_per_100_households" in df
    assert not PERSONAL_FIELDS & set(df.columns)


def test_xlsx_sheets(result, tmp_path):
    out = export.write(result, tmp_path / "c.xlsx")
    sheets = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    assert list(sheets) == ["grid 网格", "committee 社区村", "division 街道镇", "city 全市", "underserved 未达标网格",
                            "parameters 参数"]
    params = dict(sheets["parameters 参数"].values)
    assert params["数据版本 data version"] == result.data_version
    assert "计算时间 computed at (UTC)" in params
    assert len(sheets["grid 网格"]) == len(result.grids)
    assert "居民覆盖率% residents_pct" in sheets["grid 网格"]


def test_geojson(result, tmp_path):
    out = export.write(result, tmp_path / "c.geojson", "grid")
    gj = json.loads(out.read_text(encoding="utf-8"))
    assert len(gj["features"]) == len(result.grids)
    props = gj["features"][0]["properties"]
    assert "residents_pct" in props and not PERSONAL_FIELDS & set(props)
    assert gpd.read_file(out).crs.to_epsg() == 4326


def test_gpkg_layers(result, tmp_path):
    out = export.write(result, tmp_path / "c.gpkg")
    names = [n for n, _ in pyogrio.list_layers(out)]
    assert names[:4] == ["coverage_grid", "coverage_committee", "coverage_division", "coverage_city"]
    assert "service_area" in names and "parameters" in names
    assert len(gpd.read_file(out, layer="coverage_grid")) == len(result.grids)


def test_shapefile_zip(result, tmp_path):
    out = export.write(result, tmp_path / "c.zip", "grid")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"coverage_grid.shp", "coverage_grid.shx", "coverage_grid.dbf", "coverage_grid.prj",
                "coverage_grid.cpg"} <= names
        assert zf.read("coverage_grid.cpg").decode().strip() == "UTF-8"
        zf.extractall(tmp_path / "shp")
    gdf = gpd.read_file(tmp_path / "shp" / "coverage_grid.shp")
    assert all(len(c) <= 10 for c in gdf.columns)
    assert gdf["comm_name"].str.contains("社区|村").any()  # Chinese survives the round trip
    assert len(gdf) == len(result.grids)
    assert all(len(v) <= 10 for v in export.SHAPEFILE_FIELDS.values())


def test_bad_level_and_folder(result, tmp_path):
    with pytest.raises(coverage.CoverageError, match="level"):
        export.write(result, tmp_path / "c.csv", "street")
    with pytest.raises(coverage.CoverageError, match="does not exist"):
        export.write(result, tmp_path / "nope" / "c.csv")


def test_to_bytes_and_name(result):
    data = export.to_bytes(result, "csv", "city")
    assert data.startswith(b"\xef\xbb\xbf")
    assert export.file_name(result, "zip", "grid") == "coverage_bus_stop+parking_500m_straight_grid.zip"
    with pytest.raises(coverage.CoverageError, match="format"):
        export.to_bytes(result, "doc")


def test_cli_writes_the_file(runner, data_dir, tmp_path):
    from app.cli import main

    out = tmp_path / "park.csv"
    res = runner.invoke(main, ["coverage", "--category", "park", "--category", "fitness", "--radius", "300",
                               "--by", "committee", "--out", str(out), "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.stdout and "aggregating" in res.stderr
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 3


def test_cli_errors(runner, data_dir, tmp_path):
    from app.cli import main

    bad = runner.invoke(main, ["coverage", "--category", "zoo", "--radius", "300", "--out",
                               str(tmp_path / "x.csv"), "--data-dir", str(data_dir)])
    assert bad.exit_code != 0 and "unknown category" in bad.output
    ext = runner.invoke(main, ["coverage", "--preset", "bus_stop", "--out", str(tmp_path / "x.doc"),
                               "--data-dir", str(data_dir)])
    assert ext.exit_code != 0 and "extension" in ext.output
    none = runner.invoke(main, ["coverage", "--out", str(tmp_path / "x.csv"), "--data-dir", str(data_dir)])
    assert none.exit_code != 0 and "--category" in none.output
