"""init-city: detection by name and content, mapping files, --field, derivation of committees and divisions, refusals."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
import shapely

from app.geo import address, importer
from app.geo._initcity_build import (
    committee_kind,
    derive_hierarchy,
    dissolve,
    division_kind,
    generate_grid_codes,
    parse_address,
    sum_up,
)
from app.geo._initcity_detect import (
    InitCityError,
    collect,
    geometry_family,
    layer_from_content,
    layer_from_name,
    load_mapping,
    mapping_from_dict,
    parse_field_options,
)
from app.geo.findings import Report

# --------------------------------------------------------------------------- detection by name and content


@pytest.mark.parametrize(("name", "layer"), [
    ("网格.zip", "grids"), ("社区网格划分.shp", "grids"), ("city_grids.gpkg", "grids"),
    ("社区.geojson", "committees"), ("村居委会.zip", "committees"), ("committees.csv", "committees"),
    ("街道.zip", "divisions"), ("乡镇界线.shp", "divisions"), ("subdistricts.geojson", "divisions"),
    ("公共服务设施.xlsx", "facilities"), ("公交站点.csv", "facilities"), ("停车场.xlsx", "facilities"),
    ("poi.csv", "facilities"), ("社区公园.xlsx", "facilities"),
    ("标准地址.xlsx", "addresses"), ("门牌.csv", "addresses"), ("addresses.csv", "addresses"),
    ("道路中心线.shp", "roads"), ("路网.geojson", "roads"), ("roads.gpkg", "roads"),
    ("data.xlsx", None), ("图层1.shp", None),
])
def test_layer_from_name(name, layer):
    assert layer_from_name(name) == layer


def test_layer_from_content():
    assert layer_from_content("line", {}) == "roads"
    assert layer_from_content("point", {"facilities": {"category": "类别"}, "addresses": {}}) == "facilities"
    assert layer_from_content("point", {"facilities": {}, "addresses": {"address": "地址"}}) == "addresses"
    assert layer_from_content("point", {"facilities": {"category": "类别"},
                                        "addresses": {"address": "地址", "residents": "人口"}}) == "addresses"
    assert layer_from_content("point", {"facilities": {}, "addresses": {}}) is None
    assert layer_from_content("polygon", {"grids": {"committee_name": "所属社区"}}) == "grids"
    assert layer_from_content("polygon", {"grids": {"code": "网格编码"}}) == "grids"
    assert layer_from_content("polygon", {"grids": {"code": "编码"}}) is None  # decided by size later
    assert geometry_family([shapely.Point(0, 0), None, shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)]) == "polygon"
    assert geometry_family([None]) is None


def _limits() -> importer.Limits:
    return importer.Limits()


def test_collect_groups_shapefile_parts_and_ignores_documents(tmp_path):
    src = tmp_path / "office"
    (src / "sub").mkdir(parents=True)
    for ext in (".shp", ".shx", ".dbf", ".prj"):
        (src / "sub" / f"网格{ext}").write_bytes(b"x")
    (src / "README.txt").write_text("notes")
    (src / "说明.docx").write_bytes(b"PK")
    (src / "设施.csv").write_text("名称,经度,纬度\n")
    (src / "notes.json").write_text('{"a": 1}')
    (src / "metadata.json").write_text(json.dumps({"name": "河湾市"}), encoding="utf-8")
    (src / ".hidden.csv").write_text("x")
    found = collect(src, tmp_path / "work", _limits(), Report(source="office"))
    names = [f.name for f in found.files]
    assert names == ["sub/网格.shp", "设施.csv"]
    shp = found.files[0]
    assert shp.filename.endswith(".zip")
    with zipfile.ZipFile(shp.path) as zf:
        assert sorted(zf.namelist()) == ["网格.dbf", "网格.prj", "网格.shp", "网格.shx"]
    assert sorted(found.ignored) == ["README.txt", "notes.json", "说明.docx"]
    assert found.metadata == {"name": "河湾市"} and found.stem == "office"


def test_collect_unpacks_a_zip_with_a_zipped_shapefile_inside(tmp_path):
    inner = tmp_path / "网格.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("网格.shp", b"x")
        zf.writestr("网格.dbf", b"x")
    outer = tmp_path / "河湾市.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "资料/网格.zip")
        zf.writestr("资料/设施.csv", "名称,经度,纬度\n")
        zf.writestr("__MACOSX/._设施.csv", b"junk")
    found = collect(outer, tmp_path / "work", _limits(), Report(source="x"))
    assert sorted(f.name for f in found.files) == ["网格.zip", "设施.csv"]
    assert found.stem == "河湾市"


def test_collect_refuses_an_unsafe_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.csv", "x")
        zf.writestr("设施.csv", "x")
    report = Report(source="bad.zip")
    with pytest.raises(Exception):  # noqa: B017,PT011 - the private stop signal
        collect(bad, tmp_path / "work", _limits(), report)
    assert "zip_slip" in report.problems()
    assert not (tmp_path / "evil.csv").exists()


# --------------------------------------------------------------------------- mapping file and --field


def test_mapping_toml_and_json(tmp_path):
    toml = tmp_path / "map.toml"
    toml.write_text('generate_codes = true\n[city]\nname = "河湾市"\nprovince = "某某省"\n'
                    '[files."网格.zip"]\nlayer = "grids"\n[fields.grids]\ncode = "网格号"\ncommittee_name = "社区"\n',
                    encoding="utf-8")
    m = load_mapping(toml)
    assert m.city == {"name": "河湾市", "province": "某某省"} and m.generate_codes
    assert m.file_options("资料/网格.zip") == {"layer": "grids"} and m.file_options("网格") == {"layer": "grids"}
    assert m.fields == {"grids": {"code": "网格号", "committee_name": "社区"}}
    js = tmp_path / "map.json"
    js.write_text(json.dumps({"files": {"poi.csv": {"layer": "facilities", "crs": "gcj02"}},
                              "fields": {"facilities": {"category": "类型"}}}, ensure_ascii=False), encoding="utf-8")
    m = load_mapping(js)
    assert m.file_options("poi.csv")["crs"] == "gcj02" and not m.generate_codes


@pytest.mark.parametrize(("raw", "words"), [
    ({"files": {"a.zip": {"layer": "blocks"}}}, "blocks"),
    ({"fields": {"grids": {"colour": "颜色"}}}, "colour"),
    ({"fields": {"parcels": {}}}, "parcels"),
    ({"colour": 1}, "colour"),
    ({"city": {"mayor": "x"}}, "mayor"),
])
def test_mapping_refuses_unknown_names(raw, words):
    with pytest.raises(InitCityError, match=words):
        mapping_from_dict(raw)


def test_mapping_refuses_bad_toml(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("[city\nname=", encoding="utf-8")
    with pytest.raises(InitCityError, match="not valid TOML"):
        load_mapping(p)


def test_field_options():
    assert parse_field_options(["code=网格号", "grids.committee_name=社区", "facilities.category = 类型"]) == {
        "*": {"code": "网格号"}, "grids": {"committee_name": "社区"}, "facilities": {"category": "类型"}}
    for bad in ("code", "=x", "grids.colour=x", "parcels.code=x", "colour=x"):
        with pytest.raises(InitCityError):
            parse_field_options([bad])


# --------------------------------------------------------------------------- derivation


def _rows(*specs):
    return [dict(zip(("code", "committee_name", "division_name"), s, strict=True)) for s in specs]


def test_derive_hierarchy_free_codes_from_names():
    rows = _rows(("G1", "建设社区", "雄关街道"), ("G2", "建设社区", "雄关街道"), ("G3", "安远沟村", "新城镇"),
                 ("G4", "光明社区", "雄关街道"))
    report = Report(source="网格.zip")
    h = derive_hierarchy(rows, [f"#{i}" for i in range(4)], report)
    assert report.ok and h is not None and h.scheme == "free"
    assert h.divisions == [{"code": "D01", "name": "新城镇", "kind": "town"},
                           {"code": "D02", "name": "雄关街道", "kind": "subdistrict"}]
    assert [(c["code"], c["name"], c["kind"], c["division_code"]) for c in h.committees] == [
        ("D01-C01", "安远沟村", "village", "D01"), ("D02-C01", "光明社区", "community", "D02"),
        ("D02-C02", "建设社区", "community", "D02")]
    assert h.grid_committee == ["D02-C02", "D02-C02", "D01-C01", "D02-C01"]
    assert sorted(h.generated) == ["committees", "divisions"]


def test_derive_hierarchy_same_committee_name_in_two_divisions():
    rows = _rows(("G1", "新华社区", "东街道"), ("G2", "新华社区", "西街道"))
    h = derive_hierarchy(rows, ["#1", "#2"], Report(source="x"))
    assert h is not None and len(h.committees) == 2 and h.grid_committee[0] != h.grid_committee[1]


def test_derive_hierarchy_declares_cn_scheme_when_codes_fit():
    rows = _rows(("620201001001001", "建设社区", "雄关街道"), ("620201001001002", "建设社区", "雄关街道"),
                 ("620201002201001", "安远沟村", "新城镇"))
    h = derive_hierarchy(rows, ["#1", "#2", "#3"], Report(source="x"))
    assert h is not None and h.scheme == "cn-9-12-15"
    assert [c["code"] for c in h.committees] == ["620201001001", "620201002201"]
    assert [d["code"] for d in h.divisions] == ["620201001", "620201002"]
    # one committee's grids with two prefixes: the codes do not say the committees
    rows[1]["code"] = "620201001002002"
    h = derive_hierarchy(rows, ["#1", "#2", "#3"], Report(source="x"))
    assert h is not None and h.scheme == "free"


def test_derive_hierarchy_without_committee_is_refused():
    report = Report(source="网格.zip")
    assert derive_hierarchy(_rows(("G1", None, "雄关街道")), ["#1 (G1)"], report) is None
    [err] = report.errors
    assert err.problem == "missing_value" and err.field == "committee_name" and err.feature == "#1 (G1)"


def test_derive_hierarchy_without_division_puts_all_in_one():
    report = Report(source="x")
    h = derive_hierarchy(_rows(("G1", "建设社区", None), ("G2", "光明社区", None)), ["#1", "#2"], report, "河湾市")
    assert h is not None and [d["name"] for d in h.divisions] == ["河湾市"]
    assert "derived_layer" in {f.problem for f in report.warnings}


def test_kinds():
    assert division_kind("新城镇") == "town" and division_kind("峪泉乡") == "town"
    assert division_kind("雄关街道") == "subdistrict"
    assert committee_kind("安远沟村") == "village" and committee_kind("建设社区") == "community"


def test_generate_grid_codes_west_east_north_south():
    boxes = [shapely.box(1, 0, 2, 1), shapely.box(0, 1, 1, 2), shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)]
    codes = generate_grid_codes(["C1"] * 4, boxes)
    # north row first (west, east), then the south row
    assert codes == ["C1-G004", "C1-G001", "C1-G003", "C1-G002"]
    assert generate_grid_codes(["A", "B"], boxes[:2]) == ["A-G001", "B-G001"]


def test_dissolve_and_sums():
    grids = gpd.GeoDataFrame({"code": ["G1", "G2", "G3"], "committee_code": ["C1", "C1", "C2"],
                              "division_code": ["D1", "D1", "D1"], "population": [10, 20, 5],
                              "households": [4, 6, 2]},
                             geometry=[shapely.box(0, 0, 0.01, 0.01), shapely.box(0.01, 0, 0.02, 0.01),
                                       shapely.box(0, 0.01, 0.02, 0.02)], crs="EPSG:4326")
    com = dissolve(grids, "committee_code", [{"code": "C1", "name": "甲社区", "division_code": "D1"},
                                             {"code": "C2", "name": "乙村", "division_code": "D1"},
                                             {"code": "C9", "name": "空", "division_code": "D1"}])
    assert list(com["code"]) == ["C1", "C2"]
    assert com.geometry.iloc[0].equals(shapely.box(0, 0, 0.02, 0.01).normalize()) or \
        abs(com.geometry.iloc[0].area - 0.0002) < 1e-12
    com = sum_up(grids, "committee_code", com)
    assert list(com["population"]) == [30, 5] and list(com["households"]) == [10, 2]
    div = sum_up(com, "division_code", dissolve(grids, "division_code", [{"code": "D1", "name": "东街道"}]))
    assert list(div["population"]) == [35] and div.geometry.iloc[0].geom_type == "Polygon"


@pytest.mark.parametrize(("text", "want"), [
    ("新华路12号", ("新华路12号", "road", "新华路", 12)),
    ("阳光小区3栋", ("阳光小区3号楼", "compound", "阳光小区", 3)),
    ("阳光小区三号楼2单元301室", ("阳光小区3号楼", "compound", "阳光小区", 3)),
])
def test_parse_address(text, want):
    got = parse_address(text, address.normalize, address.parse)
    assert got is not None and (got["address"], got["kind"], got["street"], got["number"]) == want


def test_parse_address_without_number():
    assert parse_address("新华路", address.normalize, address.parse) is None


# --------------------------------------------------------------------------- plans of small folders


def _lattice(n: int = 2) -> gpd.GeoDataFrame:
    rows = [{"gid": f"G{i}{j}", "社区": "甲社区" if j == 0 else "乙村", "geometry": shapely.box(
        110.9 + j * 0.01, 30.1 + i * 0.01, 110.91 + j * 0.01, 30.11 + i * 0.01)} for i in range(n) for j in range(n)]
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _points(**cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=[shapely.Point(110.905, 30.105), shapely.Point(110.915, 30.115)],
                            crs="EPSG:4326")


def test_plan_detects_layers_by_content(tmp_path):
    from app.geo.initcity import plan_city

    src = tmp_path / "src"
    src.mkdir()
    _lattice().to_file(src / "layer_a.geojson", driver="GeoJSON")
    _points(名称=["一站", "二园"], 类别=["公交站", "公园"]).to_file(src / "pts.geojson", driver="GeoJSON")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    plan = plan_city(src, fields=["code=gid"])
    assert {f.name: (f.layer, f.detected_by) for f in plan.files if f.detected_by != "derived"} == {
        "layer_a.geojson": ("grids", "content"), "pts.geojson": ("facilities", "content")}
    assert plan.ok, plan.format_text()
    assert plan.counts == {"divisions": 1, "committees": 2, "grids": 4, "facilities": 2}
    assert sorted(plan.layers["facilities"]["category"]) == ["bus_stop", "park"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # a plan writes nothing
    # polygons that say nothing of themselves: the file with the most features is the grids
    _lattice().drop(columns=["社区"]).to_file(src / "layer_a.geojson", driver="GeoJSON")
    plan = plan_city(src, fields=["code=gid"])
    assert next(f for f in plan.files if f.name == "layer_a.geojson").detected_by == "size"


def test_plan_geopackage_layers_and_missing_grids(tmp_path):
    from app.geo.initcity import plan_city

    gpkg = tmp_path / "city.gpkg"
    _lattice().to_file(gpkg, layer="网格", engine="pyogrio")
    _points(名称=["一站", "二园"], 类别=["公交站", "公园"]).to_file(gpkg, layer="设施", engine="pyogrio")
    plan = plan_city(gpkg, fields=["grids.code=gid"])
    assert plan.ok, plan.format_text()
    assert {f.name: f.layer for f in plan.files}.items() >= {"city.gpkg:网格": "grids",
                                                             "city.gpkg:设施": "facilities"}.items()
    folder = tmp_path / "none"
    folder.mkdir()
    _points(名称=["一站", "二园"], 类别=["公交站", "公园"]).to_file(folder / "设施.geojson", driver="GeoJSON")
    plan = plan_city(folder)
    assert not plan.ok and "missing_layer" in plan.report.problems()
    assert "REFUSED" in plan.format_text()


def test_plan_refuses_a_missing_override_column(tmp_path):
    from app.geo.initcity import plan_city

    src = tmp_path / "src"
    src.mkdir()
    _lattice().to_file(src / "网格.geojson", driver="GeoJSON")
    plan = plan_city(src, fields=["grids.code=编号"])
    [err] = [f for r in plan.reports for f in r.errors]
    assert err.problem == "missing_field" and err.field == "code" and "编号" in err.message


@pytest.mark.parametrize(("folder", "city"), [
    ("河湾市网格办", "河湾市"), ("甘肃省兰州市网格数据", "兰州市"), ("临夏州网格", "临夏州"), ("榆中县网格", "榆中县"),
    ("河湾市", "河湾市"), ("Fjordvik", "Fjordvik"),
])
def test_the_city_name_is_taken_from_the_start_of_a_folder_name(folder, city):
    from app.geo.initcity import _name_of_folder

    assert _name_of_folder(folder) == city
