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


def _sheets(path):
    import openpyxl

    return openpyxl.load_workbook(path)


def test_xlsx_sheets_zh(result, tmp_path):
    out = export.write(result, tmp_path / "c.xlsx")
    wb = _sheets(out)
    assert wb.sheetnames == ["网格覆盖", "社区（村）覆盖", "街道（镇）覆盖", "全市覆盖", "未达标网格", "参数", "说明"]
    ws = wb["网格覆盖"]
    keys = [c.value for c in ws[1]]
    headers = [c.value for c in ws[2]]
    assert keys[:2] == ["code", "name"] and "residents_pct" in keys and "below_target" in keys
    assert ws.row_dimensions[1].hidden  # the field keys: a hidden row
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == f"A2:{ws.cell(2, len(keys)).column_letter}{2 + len(result.grids)}"
    assert ws.max_row == 2 + len(result.grids)
    # one language: no English word in a Chinese header
    assert headers[0] == "编码" and "居民覆盖率（%）" in headers and not any("code" in h for h in headers)
    col = {k: i + 1 for i, k in enumerate(keys)}
    cell = ws.cell(3, col["residents_pct"])
    assert cell.number_format == "0.0%" and 0 <= cell.value <= 1
    assert cell.value == pytest.approx(result.grids["residents_pct"].iloc[0] / 100)
    assert ws.cell(3, col["residents"]).number_format == "#,##0"
    assert ws.cell(3, col["dist_mean_m"]).number_format == "#,##0"
    assert ws.cell(3, col["area_m2"]).number_format == "#,##0"  # grids: m²
    assert ws.cell(3, col["code"]).value == result.grids["code"].iloc[0]
    flags = {ws.cell(r, col["below_target"]).value for r in range(3, ws.max_row + 1)}
    assert flags <= {"是", "否"} and flags
    widths = [ws.column_dimensions[ws.cell(2, j).column_letter].width for j in range(1, len(keys) + 1)]
    assert all(8 <= w <= 48 for w in widths)
    assert widths[col["name"] - 1] > widths[col["facilities"] - 1]


def test_xlsx_totals_in_km2(result, tmp_path):
    ws = _sheets(export.write(result, tmp_path / "c.xlsx"))["全市覆盖"]
    keys = [c.value for c in ws[1]]
    assert "area_km2" in keys and "area_m2" not in keys
    cell = ws.cell(3, keys.index("area_km2") + 1)
    assert cell.number_format == "#,##0.00"
    assert cell.value == pytest.approx(result.summary()["area_m2"] / 1e6)
    assert ws.cell(3, keys.index("name") + 1).value == "嘉峪关市"  # the stored city, not its metadata
    assert "面积（km²）" in [c.value for c in ws[2]]


def test_xlsx_parameters_and_notes(result, tmp_path):
    from app.geo.audit import format_time

    wb = _sheets(export.write(result, tmp_path / "c.xlsx", tz="Asia/Shanghai"))
    params = {r[0]: r[1] for r in wb["参数"].iter_rows(min_row=2, values_only=True)}
    assert params["数据版本"] == result.data_version
    assert params["城市"] == "嘉峪关"
    assert params["服务距离"] == "500 米"
    assert params["距离计算方式"] == "直线距离"
    assert params["目标"] == "居民覆盖率 ≥ 95%"
    assert params["设施类别"] == "公交站、停车场"
    assert params["计算时间"] == format_time(result.computed_at, "Asia/Shanghai")
    assert {"分析", "依据标准", "导出时间", "时区"} <= params.keys()
    assert wb["参数"].freeze_panes == "A2"
    notes = wb["说明"]
    rows = {r[0]: r for r in notes.iter_rows(min_row=2, values_only=True) if r[0]}
    assert rows["residents_pct"][1] == "居民覆盖率（%）" and rows["residents_pct"][3]
    assert rows["area_km2"][2].startswith("平方公里")
    assert notes.freeze_panes == "A2" and notes.auto_filter.ref


def test_xlsx_english(result, tmp_path):
    wb = _sheets(export.write(result, tmp_path / "c.xlsx", lang="en"))
    assert wb.sheetnames == ["Grids", "Committees", "Divisions", "City", "Underserved grids", "Parameters", "Notes"]
    ws = wb["Grids"]
    headers = [c.value for c in ws[2]]
    assert headers[0] == "Code" and "Mean distance (m)" in headers
    assert not any(ch >= "\u4e00" for h in headers for ch in h)  # no Chinese in English headers
    keys = [c.value for c in ws[1]]
    flags = {ws.cell(r, keys.index("below_target") + 1).value for r in range(3, ws.max_row + 1)}
    assert flags <= {"Yes", "No"}
    params = {r[0]: r[1] for r in wb["Parameters"].iter_rows(min_row=2, values_only=True)}
    assert params["City"] == "Jiayuguan" and params["Distance"] == "500 m"


def test_xlsx_underserved_and_preset_standard(tmp_path):
    res = coverage.analyse(helpers.MINI, ["bus_stop"], 500)  # the bus-stop preset's target and standard
    wb = _sheets(export.write(res, tmp_path / "c.xlsx"))
    under = wb["未达标网格"]
    assert under.freeze_panes == "A3" and under.row_dimensions[1].hidden
    assert under.max_row == 2 + max(1, len(res.underserved()))
    params = {r[0]: r[1] for r in wb["参数"].iter_rows(min_row=2, values_only=True)}
    assert "GB 50220-95" in params["依据标准"]
    none = coverage.analyse(helpers.MINI, ["bus_stop"], 300, target_pct=None)
    empty = _sheets(export.write(none, tmp_path / "n.xlsx"))["未达标网格"]
    assert empty.cell(3, 1).value == "未设目标，因此没有标记未达标网格。"


def test_xlsx_guesses_per_kind_columns():
    from app.geo._export_columns import column

    share = column("residents_pct_library", "f")
    assert share.kind == "pct" and share.zh.startswith("图书馆分馆")
    assert column("missing").kind == "list"
    assert column("below_target").kind == "flag"
    assert column("something_m", "f").kind == "m" and column("x", "b").kind == "flag"


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
    assert "已写入" in res.stdout and "aggregating" in res.stderr
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 3
    res = runner.invoke(main, ["coverage", "--preset", "bus_stop", "--lang", "en", "--out", str(tmp_path / "b.csv"),
                               "--data-dir", str(data_dir)])
    assert res.exit_code == 0 and "wrote" in res.stdout and "grids below target" in res.stdout
    res = runner.invoke(main, ["coverage", "--preset", "bus_stop", "--unit", "nowhere", "--out", str(tmp_path / "b.pdf"),
                               "--data-dir", str(data_dir)])
    assert res.exit_code == 2 and "committee:CODE" in res.output


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


def test_missing_kinds_in_every_format(result, tmp_path):
    import dataclasses

    grid = result.grids.copy()
    grid["missing"] = [["library", "tcm_clinic"] if i % 2 else [] for i in range(len(grid))]
    grid["below_target"] = [bool(i % 2) for i in range(len(grid))]
    res = dataclasses.replace(result, tables={**result.tables, "grid": grid})
    ws = _sheets(export.write(res, tmp_path / "m.xlsx"))["未达标网格"]
    keys = [c.value for c in ws[1]]
    assert ws.cell(3, keys.index("missing") + 1).value == "图书馆分馆、中医馆"  # every underserved row lacks both
    en = _sheets(export.write(res, tmp_path / "m_en.xlsx", lang="en"))["Grids"]
    assert en.cell(4, keys.index("missing") + 1).value.startswith("Library branch, ")
    csv = pd.read_csv(export.write(res, tmp_path / "m.csv", "grid"), encoding="utf-8-sig")
    assert csv["missing"].iloc[1] == "library,tcm_clinic"
    export.write(res, tmp_path / "m.gpkg")
    export.write(res, tmp_path / "m.zip", "grid")
    assert gpd.read_file(tmp_path / "m.gpkg", layer="coverage_grid")["missing"].iloc[1] == "library,tcm_clinic"


def test_xlsx_living_circle(tmp_path):
    res = coverage.analyse(helpers.MINI, preset="circle_15min")
    wb = _sheets(export.write(res, tmp_path / "c.xlsx"))
    params = {r[0]: r[1] for r in wb["参数"].iter_rows(min_row=2, values_only=True)}
    assert params["各类设施距离要求"] == "图书馆分馆 1,000 米；老年大学分校 1,000 米；中医馆 1,000 米"
    assert params["判定规则"] == "每类设施均须在各自距离内"
    assert "GB 50180-2018" in params["依据标准"]
    ws = wb["网格覆盖"]
    keys = [c.value for c in ws[1]]
    for kind in ("library", "tcm_clinic"):
        if f"pct_{kind}" in keys:  # per-kind shares, when the coverage model gives them
            assert ws.cell(3, keys.index(f"pct_{kind}") + 1).number_format == "0.0%"
    assert "missing" in keys
