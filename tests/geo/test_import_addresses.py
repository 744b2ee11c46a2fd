"""Importing a standard-address list (标准地址库): addresses from their parts, kinds, grids, places and aliases."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from app.geo import importer, validate
from app.geo._import_addresses import house_number, looks_like_compound
from app.geo.fieldnames import address_parts
from app.geo.geojson import dump_geojson
from app.geo.geojson_store import FolderStore
from tests.address_lists import address_list, mini_addresses, write_aliases, write_list, write_workbook
from tests.helpers import MINI

MINI_STORE = FolderStore(MINI)


def _problems(report, problem):
    return [f for f in report.findings if f.problem == problem]


def _prepare(path, **kwargs):
    return importer.prepare(path, "addresses", context=MINI_STORE, **kwargs)


def _same_as_mini(gdf, *, residents=True):
    want = mini_addresses()
    assert list(gdf["address"]) == list(want["address"])
    assert list(gdf["kind"]) == list(want["kind"])
    assert list(gdf["street"]) == list(want["street"])
    assert list(gdf["number"]) == list(want["number"])
    assert list(gdf["grid_code"]) == list(want["grid_code"])  # found from the points: the sheet has no grid code
    if residents:
        assert list(gdf["residents"]) == list(want["residents"])
    d = np.hypot(gdf.geometry.x.to_numpy() - want.geometry.x.to_numpy(),
                 gdf.geometry.y.to_numpy() - want.geometry.y.to_numpy())
    assert d.max() < 2e-6


def test_a_wgs84_csv_list_imports_as_the_mini_addresses(tmp_path):
    plan = _prepare(write_list(address_list(), tmp_path / "标准地址库.csv"))
    assert plan.report.ok, plan.report.format_text()
    _same_as_mini(plan.gdf)
    assert _problems(plan.report, "composed_address")
    assert not _problems(plan.report, "place_mismatch") and not _problems(plan.report, "no_residents")
    assert {"街道", "社区"} <= set(plan.gdf.columns)  # the parts stay as extra attributes
    assert "aliases" not in plan.gdf.columns


def test_gcj02_columns_are_shifted_back(tmp_path):
    plan = _prepare(write_list(address_list(gcj02=True), tmp_path / "地址.xlsx"))
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.crs.startswith("GCJ-02")
    _same_as_mini(plan.gdf)


def test_gcj02_given_as_option_for_plain_columns(tmp_path):
    df = address_list(gcj02=True).rename(columns={"经度(GCJ-02)": "经度", "纬度(GCJ-02)": "纬度"})
    plan = _prepare(write_list(df, tmp_path / "a.csv"), crs="gcj02")
    assert plan.report.ok, plan.report.format_text()
    _same_as_mini(plan.gdf)


def test_gb18030_csv_with_split_names_and_no_residents(tmp_path):
    path = write_list(address_list(split_names=True, residents=False), tmp_path / "地址.csv", encoding="gb18030")
    plan = _prepare(path)
    assert plan.report.ok, plan.report.format_text()
    _same_as_mini(plan.gdf, residents=False)
    assert set(plan.gdf["residents"]) == {0} and set(plan.gdf["households"]) == {0}
    assert {f.field for f in _problems(plan.report, "no_residents")} == {"residents", "households"}


def test_alias_column_and_alias_file(tmp_path):
    sheet = write_list(address_list(alias_column=True), tmp_path / "地址.xlsx")
    plan = _prepare(sheet, aliases=write_aliases(tmp_path / "别名.csv"))
    assert plan.report.ok, plan.report.format_text()
    gdf = plan.gdf
    by_street = dict(zip(gdf["street"], gdf["aliases"], strict=True))
    assert by_street["嘉和小区"] == "嘉和老区|嘉和苑"  # given on one row, stored on every row of the compound
    assert set(gdf.loc[gdf["street"] == "嘉和小区", "aliases"]) == {"嘉和老区|嘉和苑"}
    assert by_street["振兴街"] == "振兴大街|老振兴街"
    assert by_street["光华路"] == "光华大道"
    assert pd.isna(by_street["雄关路"])
    unknown = _problems(plan.report, "alias_unknown_name")
    assert [f.feature for f in unknown] == ["别名.csv row 5"] and "没有这条路" in unknown[0].message


def test_a_workbook_sheet_named_aliases_is_read_with_the_list(tmp_path):
    plan = _prepare(write_workbook(address_list(), tmp_path / "标准地址库.xlsx"))
    assert plan.report.ok, plan.report.format_text()
    by_street = dict(zip(plan.gdf["street"], plan.gdf["aliases"], strict=True))
    assert by_street["光华路"] == "光华大道" and by_street["嘉和小区"] == "嘉和苑"
    assert [f.feature for f in _problems(plan.report, "alias_unknown_name")] == ["标准地址库.xlsx:别名 row 5"]


def test_alias_that_is_another_standard_name_is_dropped(tmp_path):
    sheet = write_list(address_list(), tmp_path / "a.csv")
    aliases = write_aliases(tmp_path / "aliases.xlsx", (("光华路", "峪泉路"), ("光华路", "光华大道"),
                                                       ("雪峰街", "光华大道")))
    plan = _prepare(sheet, aliases=aliases)
    assert plan.report.ok, plan.report.format_text()
    by_street = dict(zip(plan.gdf["street"], plan.gdf["aliases"], strict=True))
    assert by_street["光华路"] == "光华大道" and by_street["雪峰街"] == "光华大道"
    conflicts = [f.message for f in _problems(plan.report, "alias_conflict")]
    assert any("峪泉路" in m for m in conflicts) and any("ambiguous" in m for m in conflicts)


def test_alias_file_without_its_columns_is_refused(tmp_path):
    bad = tmp_path / "别名.csv"
    bad.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    plan = _prepare(write_list(address_list(), tmp_path / "a.csv"), aliases=bad)
    assert not plan.report.ok and _problems(plan.report, "alias_file")


def test_place_mismatch_and_outside_grid_name_the_row(tmp_path):
    df = address_list()
    df.loc[4, "社区"] = "朝晖社区"  # row 6 of the sheet
    df.loc[5, "街道"] = "雄关街道办事处"  # the same place, written out
    df.loc[6, "经度"] = df.loc[6, "经度"] + 0.05  # row 8: east of every grid
    plan = _prepare(write_list(df, tmp_path / "a.csv"))
    assert plan.report.ok, plan.report.format_text()
    mismatch = _problems(plan.report, "place_mismatch")
    assert len(mismatch) == 1 and mismatch[0].feature.startswith("row 6") and mismatch[0].field == "社区"
    assert "建设社区" in mismatch[0].message
    outside = _problems(plan.report, "outside_grids")
    assert [f.feature.split(" ")[:2] for f in outside] == [["row", "8"]]


def test_bad_numbers_missing_names_and_duplicates_are_refused_by_row(tmp_path):
    df = address_list()
    df.loc[3, "门牌号"] = "附3号"  # row 5
    df.loc[7, "道路/小区"] = ""  # row 9
    df.loc[9] = df.loc[8]  # row 11 repeats row 10
    plan = _prepare(write_list(df, tmp_path / "a.csv"))
    assert not plan.report.ok and plan.gdf is None
    bad = _problems(plan.report, "bad_value")
    assert len(bad) == 1 and bad[0].feature.startswith("row 5") and bad[0].field == "门牌号" and "附3号" in bad[0].message
    assert [f.feature.split(" ")[:2] for f in _problems(plan.report, "missing_value")] == [["row", "9"]]
    dup = _problems(plan.report, "duplicate_address")
    assert dup[0].feature.startswith("row 11") and "row 10" in dup[0].message


def test_kind_column_in_chinese_and_full_address_only(tmp_path):
    a = mini_addresses()
    df = a[["address"]].assign(类型=np.where(a["kind"] == "road", "道路", "小区"), lon=a.geometry.x, lat=a.geometry.y)
    plan = _prepare(write_list(df.drop(columns="类型"), tmp_path / "full.csv"))
    assert plan.report.ok, plan.report.format_text()
    assert list(plan.gdf["kind"]) == list(a["kind"]) and list(plan.gdf["number"]) == list(a["number"])
    df = address_list().assign(类型=np.where(a["kind"] == "road", "道路", "小区"))
    plan = _prepare(write_list(df, tmp_path / "kind.csv"))
    assert plan.report.ok, plan.report.format_text()
    assert list(plan.gdf["kind"]) == list(a["kind"])


def test_the_result_validates_as_a_city(tmp_path):
    folder = shutil.copytree(MINI, tmp_path / "city")
    plan = _prepare(write_list(address_list(gcj02=True, alias_column=True), tmp_path / "a.xlsx"),
                    aliases=write_aliases(tmp_path / "alias.csv"))
    assert plan.report.ok, plan.report.format_text()
    (folder / "addresses.geojson").write_bytes(dump_geojson(plan.gdf))
    report = validate.validate_folder(folder)
    assert report.ok, report.format_text()


@pytest.mark.parametrize(("cell", "want"), [("12", 12), ("12号", 12), ("12.0", 12), ("３号楼", 3), ("十二栋", 12),
                                             ("#5", 5), ("二十", 20), ("附3号", None), ("12-1", None), ("", None),
                                             ("甲5号", None)])
def test_house_number(cell, want):
    assert house_number(cell) == want


def test_compound_words_and_part_columns():
    assert looks_like_compound("福民花园") and looks_like_compound("嘉和苑") and not looks_like_compound("新华路")
    assert not looks_like_compound("花园路")
    assert address_parts(["所属街道", "社区名称", "街路巷(小区)", "门牌号码", "楼栋号", "单元"]) == {
        "division": "所属街道", "committee": "社区名称", "road_or_compound": "街路巷(小区)", "door": "门牌号码",
        "building": "楼栋号", "unit": "单元"}


def test_init_city_takes_a_list_and_its_alias_file(tmp_path):
    from app.geo.initcity import plan_city

    src = tmp_path / "src"
    src.mkdir()
    for layer in ("divisions", "committees", "grids"):
        shutil.copy(MINI / f"{layer}.geojson", src / f"{layer}.geojson")
    write_list(address_list(gcj02=True), src / "标准地址库.xlsx")
    write_aliases(src / "地址别名.csv")
    plan = plan_city(src)
    assert plan.ok, plan.format_text()
    how = {f.name: (f.layer, f.detected_by) for f in plan.files}
    assert how["地址别名.csv"] == ("addresses", "aliases") and how["标准地址库.xlsx"] == ("addresses", "name")
    gdf = plan.layers["addresses"]
    assert list(gdf["address"]) == list(mini_addresses()["address"])
    assert set(gdf.loc[gdf["street"] == "嘉和小区", "aliases"]) == {"嘉和苑"}
    assert "别名" in plan.format_text() and "没有这条路" in plan.format_text()


def test_unit_rows_are_merged_into_their_building(tmp_path):
    df = address_list()
    compound = df["楼栋"] != ""
    first, second = df[compound].copy(), df[compound].copy()
    first["人口"], second["人口"] = first["人口"] // 2, first["人口"] - first["人口"] // 2
    first["户数"], second["户数"] = first["户数"] // 2, first["户数"] - first["户数"] // 2
    first["单元"], second["单元"] = "1", "2单元"
    units = pd.concat([df[~compound].assign(单元=""), first, second]).sort_index(kind="stable")
    plan = _prepare(write_list(units.reset_index(drop=True), tmp_path / "units.csv"))
    assert plan.report.ok, plan.report.format_text()
    _same_as_mini(plan.gdf)  # residents summed back, one address per building
    [merged] = _problems(plan.report, "units_merged")
    assert merged.field == "单元" and "40 rows" in merged.message and "20 buildings" in merged.message
    assert set(plan.gdf.loc[plan.gdf["kind"] == "compound", "单元"]) == {"1、2单元"}


def test_parts_that_are_not_text_are_refused_or_read_never_raise(tmp_path):
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [98.2848, 39.7712]},
              "properties": {"道路/小区": value, "门牌号": number, "别名": alias}}
             for value, number, alias in ((["光华路"], 1, None), ({"a": 1}, [2], 3), (5, "3号", ["x"]),
                                          ("光华路", 7.0, {"b": 2}))]
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), encoding="utf-8")
    plan = _prepare(path)
    assert [(f.feature, f.field) for f in plan.report.errors] == [
        ("#1", "道路/小区"), ("#2", "道路/小区"), ("#3", "别名"), ("#4", "别名")]
