"""Column names and category words as offices write them: app.geo.fieldnames."""

from __future__ import annotations

import pytest

from app.geo import fieldnames as fn
from app.geo.schema import CATEGORIES, FIELDS, SUBTYPES


def test_every_schema_field_of_every_layer_has_chinese_and_english_synonyms():
    for layer, fields in FIELDS.items():
        for f in fields:
            words = fn.SYNONYMS[layer][f.name]
            assert any(not w.isascii() for w in words), (layer, f.name)
            assert any(w.isascii() for w in words), (layer, f.name)
    assert set(fn.SYNONYMS["grids"]) >= {"committee_name", "division_name"}


def test_no_word_names_two_fields_of_one_layer():
    for layer, fields in fn.SYNONYMS.items():
        seen: dict[str, str] = {}
        for target, words in fields.items():
            for w in words:
                key = fn.norm(w)
                assert seen.setdefault(key, target) == target, (layer, w, seen[key], target)


def test_a_city_grid_file_in_chinese():
    cols = ["网格编码", "网格名称", "所属社区", "社区编码", "所属街道", "网格员", "联系电话", "户数", "人口",
            "网格长", "网格长电话", "网格指导员", "兼职网格员数", "面积", "备注"]
    m = fn.match_columns("grids", cols)
    assert m.mapping == {
        "网格编码": "code", "网格名称": "name", "所属社区": "committee_name", "社区编码": "committee_code",
        "所属街道": "division_name", "网格员": "worker_name", "联系电话": "worker_phone", "户数": "households",
        "人口": "population", "网格长": "leader_name", "网格长电话": "leader_phone",
        "网格指导员": "instructor_name", "兼职网格员数": "parttime_count", "面积": "area_m2"}
    assert m.extras == ["备注"] and m.column_of("code") == "网格编码"


def test_english_names_brackets_case_and_spacing():
    m = fn.match_columns("grids", ["Grid Code", "Grid_Name", "Community", "Sub-district", "HOUSEHOLDS", "Pop",
                                   "村(社区)编码"])
    assert m.mapping == {"Grid Code": "code", "Grid_Name": "name", "Community": "committee_name",
                         "Sub-district": "division_name", "HOUSEHOLDS": "households", "Pop": "population",
                         "村(社区)编码": "committee_code"}
    assert fn.match_columns("committees", ["村（社区）", "街道（乡镇）"]).mapping == {
        "村（社区）": "name", "街道（乡镇）": "division_name"}


def test_own_names_come_first_and_each_field_takes_one_column():
    m = fn.match_columns("facilities", ["名称", "name", "类别", "类型"])
    assert m.mapping == {"name": "name", "类别": "category"} and m.extras == ["名称", "类型"]


def test_shapefile_names_cut_to_ten_characters():
    m = fn.match_columns("grids", ["code", "committee_", "division_c", "instructor"])
    assert m.mapping == {"code": "code", "committee_": "committee_code", "division_c": "division_code",
                         "instructor": "instructor_name"}


def test_overrides_win_and_are_checked():
    m = fn.match_columns("grids", ["网格号", "编码", "社区"], {"code": "网格号"})
    assert m.mapping == {"网格号": "code", "社区": "committee_name"} and m.extras == ["编码"]
    assert fn.match_columns("grids", ["Grid No"], {"code": "grid no"}).mapping == {"Grid No": "code"}
    with pytest.raises(fn.FieldError, match=r"'编号' names no column.*网格号, 编码") as exc:
        fn.match_columns("grids", ["网格号", "编码"], {"code": "编号"})
    assert exc.value.detail["field"] == "code" and exc.value.status == 400
    with pytest.raises(fn.FieldError, match="grids has no field 'colour'"):
        fn.match_columns("grids", ["a"], {"colour": "a"})


@pytest.mark.parametrize(("cols", "expected"), [
    (["名称", "经度(GCJ-02)", "纬度(GCJ-02)"], ("经度(GCJ-02)", "纬度(GCJ-02)", "gcj02")),
    (["lng_gcj", "lat_gcj"], ("lng_gcj", "lat_gcj", "gcj02")),
    (["lon (BD-09)", "lat (BD-09)"], ("lon (BD-09)", "lat (BD-09)", "bd09")),
    (["x_bd09", "y_bd09"], ("x_bd09", "y_bd09", "bd09")),
    (["经度_WGS84", "纬度_WGS84"], ("经度_WGS84", "纬度_WGS84", "wgs84")),
    (["经度（CGCS2000）", "纬度（CGCS2000）"], ("经度（CGCS2000）", "纬度（CGCS2000）", "cgcs2000")),
    (["百度经度", "百度纬度"], ("百度经度", "百度纬度", "bd09")),
    (["经度", "纬度"], ("经度", "纬度", None)),
    (["x", "y", "lon", "lat"], ("lon", "lat", None)),
    (["Longitude", "Latitude"], ("Longitude", "Latitude", None)),
    (["lng", "latitude"], ("lng", "latitude", None)),
    (["经度(WGS84)", "纬度(WGS84)", "经度(GCJ-02)", "纬度(GCJ-02)"], ("经度(WGS84)", "纬度(WGS84)", "wgs84")),
    (["name", "address"], None),
])
def test_coordinate_columns_and_their_crs_hints(cols, expected):
    assert fn.coordinate_columns(cols) == expected


def test_crs_hints_of_column_names():
    m = fn.match_columns("facilities", ["名称", "经度(GCJ-02)"])
    assert m.crs_hints == {"经度(GCJ-02)": "gcj02"}
    assert fn.crs_hint("lat") is None and fn.crs_hint("高德经度") == "gcj02" and fn.crs_hint("lon_4490") == "cgcs2000"


@pytest.mark.parametrize(("word", "key"), [
    ("公交站", "bus_stop"), ("公交站点", "bus_stop"), ("公交车站", "bus_stop"), ("bus stop", "bus_stop"),
    ("Bus_Stop", "bus_stop"), ("公园", "park"), ("绿地", "park"), ("口袋公园", "park"), ("公园绿地", "park"),
    ("停车场", "parking"), ("停车位", "parking"), ("parking", "parking"), ("图书馆", "library"),
    ("社区自习室", "study_room"), ("老年大学", "senior_university"), ("中医馆", "tcm_clinic"),
    ("健身点", "fitness"), (" 公交站点（标准化） ", "bus_stop"), ("网吧", None), (None, None),
])
def test_category_words(word, key):
    assert fn.category_of(word) == key


def test_every_category_key_and_label_is_a_word_and_subtypes_are_found():
    for key, cat in CATEGORIES.items():
        assert fn.category_of(key) == key and fn.category_of(cat.zh) == key and fn.category_of(cat.en) == key
    for cat, subs in SUBTYPES.items():
        for sub, (zh, _en) in subs.items():
            assert fn.category_of(zh) == cat
            if sub != "stop":
                assert fn.subtype_of(zh) == sub and fn.subtype_of(zh, cat) == sub
    assert fn.subtype_of("口袋公园", "bus_stop") is None and fn.subtype_of("公园") is None
    assert fn.subtype_of("stop", "bus_stop") == "stop"
