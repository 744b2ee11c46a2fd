"""Column names and category words as offices write them: synonyms in Chinese and English for every schema field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.errors import GridmapError
from app.geo.schema import CATEGORIES, FIELDS, SUBTYPES

__all__ = [
    "ADDRESS_PARTS",
    "ALIAS_FILE_COLUMNS",
    "COMPOUND_WORDS",
    "ROAD_WORDS",
    "address_parts",
    "CATEGORY_WORDS",
    "COORDINATE_PAIRS",
    "CRS_HINTS",
    "GROUPING_FIELDS",
    "LAT_WORDS",
    "LON_WORDS",
    "SUBTYPE_WORDS",
    "SYNONYMS",
    "ColumnMatch",
    "FieldError",
    "category_of",
    "coordinate_columns",
    "crs_hint",
    "match_columns",
    "norm",
    "subtype_of",
    "targets",
]


class FieldError(GridmapError):
    """A field mapping (``--field TARGET=SOURCE`` or a mapping file) that names no such field or column.

    ``detail["field"]`` is the target field of the mapping.
    """

    default_status = 400
    default_key = "import.field"


# --------------------------------------------------------------------------- synonyms

_CODE = ("编码", "代码", "编号", "区划代码", "区划编码", "行政区划代码", "统一编码")
_NAME = ("名称", "名字", "名", "中文名称", "name_zh", "namezh")
_KIND = ("类型", "类别", "性质", "type", "kind")
_DIVISION_CODE = ("街道编码", "街道代码", "街道编号", "乡镇编码", "乡镇代码", "街道(乡镇)编码", "街道乡镇编码",
                  "街乡编码", "所属街道编码", "所属乡镇编码", "所属街道代码", "division_code", "divisioncode",
                  "division_id", "subdistrict_code", "town_code", "street_code", "jdbm", "jddm", "xzbm", "xzdm")
_DIVISION_NAME = ("所属街道", "街道", "乡镇", "街道(乡镇)", "所属乡镇", "所属街道(乡镇)", "街道名称", "乡镇名称",
                  "街道乡镇", "街乡", "街道名", "division", "division_name", "subdistrict", "subdistrict_name",
                  "town", "town_name", "jdmc", "xzmc")
_COMMITTEE_CODE = ("社区编码", "社区代码", "社区编号", "村居编码", "村居代码", "村(社区)编码", "社区(村)编码",
                   "村社区编码", "居委会编码", "村委会编码", "所属社区编码", "所属社区代码", "committee_code",
                   "committeecode", "committee_id", "community_code", "community_id", "village_code",
                   "sqbm", "sqdm")
_COMMITTEE_NAME = ("所属社区", "社区名称", "社区", "村(社区)", "社区(村)", "村社区", "村居", "所属村(社区)",
                   "所属村居", "所属村", "居委会", "村委会", "所属居委会", "社区名", "村居名称", "committee",
                   "committee_name", "community", "community_name", "village", "sqmc")
_GRID_CODE = ("网格编码", "网格代码", "网格编号", "所属网格编码", "所属网格代码", "grid_code", "gridcode", "grid_id",
              "gridid", "grid", "wgbm", "wgdm")
_HOUSEHOLDS = ("户数", "总户数", "住户数", "户", "家庭户数", "实有户数", "households", "household", "hh")
_PEOPLE = ("人口", "人口数", "人数", "总人口", "常住人口", "实有人口", "居住人口", "户籍人口", "population", "pop")

#: Layer -> field -> column names accepted for it besides its own name, Chinese and English (compared by :func:`norm`).
#: Grids (and committees) also list grouping pseudo-fields, ``committee_name`` and ``division_name``: they are not
#: stored as schema fields but let ``init-city`` derive the committees and divisions from one grid layer.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "divisions": {
        "code": (*_DIVISION_CODE, *_CODE, "adcode"),
        "name": (*_DIVISION_NAME, *_NAME),
        "kind": (*_KIND, "区划类型", "街道类型"),
    },
    "committees": {
        "code": (*_COMMITTEE_CODE, *_CODE),
        "name": (*_COMMITTEE_NAME, *_NAME),
        "kind": (*_KIND, "社区类型", "村居类型"),
        "division_code": _DIVISION_CODE,
        "division_name": _DIVISION_NAME,
    },
    "grids": {
        "code": (*_GRID_CODE[:3], "网格号", "网格id", "网格编码(15位)", *_CODE, "grid_code", "gridcode",
                 "grid_code_15", "grid_id", "gridid", "grid_no", "gridno", "wgbm", "wgdm", "wgbh"),
        "name": ("网格名称", "网格名", "网格", *_NAME, "grid_name", "gridname", "wgmc"),
        "committee_code": _COMMITTEE_CODE,
        "division_code": _DIVISION_CODE,
        "households": _HOUSEHOLDS,
        "population": _PEOPLE,
        "area_m2": ("面积", "面积(平方米)", "面积(m2)", "面积(㎡)", "面积m2", "面积平方米", "占地面积", "area",
                    "area_m2", "aream2", "shape_area"),
        "leader_name": ("网格长", "网格长姓名", "网格长名字", "网格负责人", "leader", "leader_name", "grid_leader"),
        "leader_phone": ("网格长电话", "网格长联系电话", "网格长手机", "网格长手机号", "网格长联系方式",
                         "leader_phone", "leader_tel", "leader_mobile"),
        "worker_name": ("网格员", "专职网格员", "网格员姓名", "专职网格员姓名", "网格管理员", "网格员名字",
                        "worker", "worker_name", "grid_worker", "gridworker"),
        "worker_phone": ("联系电话", "网格员电话", "网格员联系电话", "网格员手机", "网格员手机号", "专职网格员电话",
                         "专职网格员联系电话", "网格员联系方式", "电话", "手机", "手机号", "手机号码", "联系方式",
                         "worker_phone", "worker_tel", "worker_mobile", "phone", "tel", "telephone", "mobile",
                         "contact"),
        "instructor_name": ("网格指导员", "指导员", "网格指导员姓名", "指导员姓名", "instructor", "instructor_name"),
        "instructor_phone": ("网格指导员电话", "网格指导员联系电话", "网格指导员手机", "指导员电话", "指导员联系电话",
                             "instructor_phone", "instructor_tel"),
        "parttime_count": ("兼职网格员数", "兼职网格员人数", "兼职网格员数量", "兼职人数", "兼职网格员(人)",
                           "parttime", "parttime_count", "part_time", "part_time_count", "parttime_workers"),
        "committee_name": _COMMITTEE_NAME,
        "division_name": _DIVISION_NAME,
    },
    "facilities": {
        "id": ("编号", "编码", "代码", "设施编号", "设施编码", "设施id", "设施代码", "序号", "poi_id", "poiid",
               "facility_id", "uid"),
        "name": ("名称", "设施名称", "站点名称", "站名", "名字", "站点", "poi名称", "name_zh", "poi_name",
                 "facility_name", "title"),
        "category": ("类别", "类型", "设施类别", "设施类型", "分类", "种类", "大类", "设施分类", "category",
                     "type", "kind", "class", "amenity"),
        "subtype": ("子类", "小类", "子类型", "细类", "子类别", "subtype", "sub_type", "subcategory", "sub_category"),
        "cjt214_code": ("部件编码", "部件代码", "部件分类代码", "部件类型代码", "cjt214", "cj/t214", "cjt214code"),
        "capacity": ("车位数", "泊位数", "车位", "泊位", "停车位数", "容量", "capacity", "spaces", "parking_spaces"),
        "grid_code": _GRID_CODE,
    },
    "addresses": {
        "id": ("编号", "编码", "地址编码", "地址编号", "地址id", "门牌编码", "序号", "address_id", "uid"),
        "address": ("地址", "标准地址", "详细地址", "门牌地址", "地址名称", "住址", "完整地址", "标准地址名称",
                    "address", "addr", "full_address", "fulladdress"),
        "kind": (*_KIND, "地址类型", "门牌类型"),
        "street": ("街路巷", "街路巷名", "街路巷名称", "道路", "道路名称", "路名", "街巷", "小区", "小区名称",
                   "街路巷(小区)", "street", "road", "road_name", "street_name", "compound"),
        "number": ("门牌号", "门牌", "门牌号码", "号", "楼号", "楼栋号", "号码", "number", "house_number",
                   "housenumber", "no", "num"),
        "residents": ("居民", "居民数", "居住人数", *_PEOPLE, "residents"),
        "households": _HOUSEHOLDS,
        "grid_code": _GRID_CODE,
        "aliases": ("别名", "曾用名", "简称", "俗称", "别称", "旧名", "地址别名", "其他名称", "alias", "aliases",
                    "old_name", "oldname", "old_names", "other_names"),
    },
    "roads": {
        "id": ("编号", "编码", "道路编号", "道路编码", "road_id", "uid"),
        "name": ("名称", "道路名称", "路名", "名字", "road_name", "name_zh"),
        "kind": (*_KIND, "道路等级", "等级", "道路类型", "class", "highway", "fclass", "road_class"),
    },
}

#: Pseudo-fields per layer: matched like fields, kept as extra attributes, used to group areas.
GROUPING_FIELDS: dict[str, tuple[str, ...]] = {"committees": ("division_name",),
                                               "grids": ("committee_name", "division_name")}

#: The parts of a standard-address list (标准地址库) an address is composed from when the sheet has no full-address
#: column: part -> column names (compared by :func:`norm`; a name is tried whole before its bracketed part is dropped,
#: so 街路巷(小区) is ``road_or_compound`` and 街路巷 ``road``).
ADDRESS_PARTS: dict[str, tuple[str, ...]] = {
    "road_or_compound": ("道路/小区", "道路或小区", "街路巷(小区)", "街路巷/小区", "街巷/小区", "路/小区", "小区/道路",
                         "道路(小区)", "道路小区名称", "街路巷小区名称", "road_or_compound", "road/compound"),
    "road": ("街路巷", "街路巷名", "街路巷名称", "道路", "道路名称", "路名", "街巷", "街巷名", "街巷名称", "road",
             "road_name", "street", "street_name"),
    "compound": ("小区", "小区名称", "小区名", "住宅小区", "小区(院落)", "院落", "院落名称", "楼盘", "楼盘名称",
                 "compound", "compound_name", "estate"),
    "door": ("门牌号", "门牌", "门牌号码", "门号", "号", "号码", "house_number", "housenumber", "door_number",
             "number", "no", "num"),
    "building": ("楼栋", "楼栋号", "楼号", "栋", "栋号", "幢", "幢号", "楼幢", "楼幢号", "楼栋(幢)", "building",
                 "building_no", "building_number", "bldg"),
    "unit": ("单元", "单元号", "unit", "unit_no"),
    "division": _DIVISION_NAME,
    "committee": _COMMITTEE_NAME,
}
#: Column names of an alias file's two columns: the standard name (of a road or compound) and one alias per row.
ALIAS_FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("标准名称", "标准名", "名称", "标准地名", "道路/小区", "道路", "小区", "街路巷", "name", "standard_name",
             "standard", "street", "road", "compound"),
    "alias": ("别名", "曾用名", "简称", "俗称", "别称", "旧名", "alias", "aliases", "old_name", "other_name"),
}
#: Last words of a residential compound's name (a name ending so, without a building column, is a compound).
COMPOUND_WORDS: tuple[str, ...] = ("小区", "花园", "家园", "新村", "家属院", "家属区", "公寓", "大厦", "山庄", "别墅",
                                   "宿舍", "名邸", "公馆", "新城", "苑", "园", "院", "庭", "府", "湾", "居")
#: Last words of a road's name (a name ending so is a road unless a building is given).
ROAD_WORDS: tuple[str, ...] = ("路", "街", "巷", "道", "大道", "胡同", "弄", "里", "线", "公路")

# --------------------------------------------------------------------------- category words

_MORE_WORDS: dict[str, tuple[str, ...]] = {
    "bus_stop": ("公交站点", "公交车站", "公交站台", "公交停靠站", "公交车站点", "公交", "bus stop", "bus_stop",
                 "busstop", "bus"),
    "park": ("公园", "绿地", "游园", "街头游园", "街心公园", "小游园", "park", "pocket park", "garden",
             "green space", "greenspace"),
    "parking": ("停车场", "停车位", "停车点", "公共停车场", "停车泊位", "车位", "parking", "car park", "carpark",
                "parking lot"),
    "library": ("图书馆", "分馆", "书屋", "社区书屋", "农家书屋", "阅览室", "library"),
    "study_room": ("自习室", "共享自习室", "社区自习室", "study room", "study_room"),
    "senior_university": ("老年大学", "老年学校", "老年大学教学点", "老年教学点", "senior university",
                          "university for the elderly"),
    "tcm_clinic": ("中医馆", "中医诊所", "国医馆", "中医药馆", "中医", "tcm", "tcm clinic", "tcm_clinic"),
    "fitness": ("健身点", "健身场地", "全民健身点", "健身路径", "健身器材", "健身", "fitness", "fitness site", "gym"),
}

#: Category key -> words naming it: the key, its labels in :data:`app.geo.schema.CATEGORIES`, its subtypes' labels
#: and the words offices use (公交站点, 停车场, 口袋公园 ...). Compared by :func:`norm`.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    key: tuple(dict.fromkeys((key, cat.zh, cat.en, *_MORE_WORDS.get(key, ()),
                              *(w for sub, (zh, en) in SUBTYPES.get(key, {}).items() for w in (zh, en)))))
    for key, cat in CATEGORIES.items()
}

#: Subtype key -> (category, words naming it), e.g. ``pocket_park`` -> (``park``, (口袋公园, Pocket park, ...)).
SUBTYPE_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    sub: (key, (sub, zh, en, *({"standard_platform": ("标准化公交站台", "标准站台"), "tidal": ("潮汐停车位",),
                                "marked": ("标线停车位",), "pocket_park": ("口袋花园",)}.get(sub, ()))))
    for key, subs in SUBTYPES.items() for sub, (zh, en) in subs.items() if sub != "stop"
}

# --------------------------------------------------------------------------- coordinates

#: (longitude, latitude) column names that go together, in order of preference (hints such as ``(GCJ-02)`` apart).
COORDINATE_PAIRS: tuple[tuple[str, str], ...] = (
    ("lon", "lat"), ("lng", "lat"), ("long", "lat"), ("longitude", "latitude"), ("经度", "纬度"), ("东经", "北纬"),
    ("经度坐标", "纬度坐标"), ("x", "y"), ("point_x", "point_y"), ("coord_x", "coord_y"), ("x坐标", "y坐标"),
    ("lon_x", "lat_y"),
)
#: Longitude column names (the first of :data:`COORDINATE_PAIRS`).
LON_WORDS: tuple[str, ...] = tuple(dict.fromkeys(p[0] for p in COORDINATE_PAIRS))
#: Latitude column names (the second of :data:`COORDINATE_PAIRS`).
LAT_WORDS: tuple[str, ...] = tuple(dict.fromkeys(p[1] for p in COORDINATE_PAIRS))

#: Words in a column name that say its coordinate system, -> a name :func:`app.geo.crs.parse_crs` accepts.
CRS_HINTS: dict[str, str] = {
    "gcj02": "gcj02", "gcj": "gcj02", "gcj-02": "gcj02", "gcj_02": "gcj02", "amap": "gcj02", "gaode": "gcj02",
    "高德": "gcj02", "火星": "gcj02", "火星坐标": "gcj02", "腾讯": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd_09": "bd09", "bd09ll": "bd09", "bd": "bd09", "baidu": "bd09",
    "百度": "bd09",
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs_84": "wgs84", "wgs": "wgs84", "gps": "wgs84", "4326": "wgs84",
    "epsg4326": "wgs84",
    "cgcs2000": "cgcs2000", "cgcs-2000": "cgcs2000", "cgcs": "cgcs2000", "2000": "cgcs2000",
    "4490": "cgcs2000", "epsg4490": "cgcs2000", "国家2000": "cgcs2000", "2000国家坐标系": "cgcs2000",
    "国家2000坐标系": "cgcs2000",
}

_DROP = re.compile(r"[\s_\-()（）\[\]【】{}<>《》.·:：/\\,，'\"]+")
_BRACKETED = re.compile(r"[(（\[【{<《][^)）\]】}>》]*[)）\]】}>》]")
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u061c]")
_SEP = r"[\s_\-()（）\[\]【】/,，:：]"
_ASCII_HINTS = sorted((h for h in CRS_HINTS if h.isascii()), key=len, reverse=True)
_HINT_RE = re.compile(rf"(?:^|{_SEP})({'|'.join(re.escape(h) for h in _ASCII_HINTS)})(?=$|{_SEP})")
_CJK_HINTS = sorted((h for h in CRS_HINTS if not h.isascii()), key=len, reverse=True)


def norm(name: object) -> str:
    """A name compared loosely: NFKC, case-folded, without spaces, underscores, dashes, brackets or dots.

    Parameters
    ----------
    name : object
        A column name or a word.

    Returns
    -------
    str
        The comparison key, e.g. ``"村(社区)"`` -> ``"村社区"``, ``"Bus Stop"`` -> ``"busstop"``.
    """
    text = unicodedata.normalize("NFKC", _HIDDEN.sub("", str(name))).casefold()
    return _DROP.sub("", text)


def crs_hint(name: object) -> str | None:
    """The coordinate system a column name states, e.g. ``经度(GCJ-02)`` -> ``gcj02``, ``x_bd09`` -> ``bd09``.

    Parameters
    ----------
    name : object
        A column name.

    Returns
    -------
    str or None
        ``gcj02``, ``bd09``, ``wgs84`` or ``cgcs2000``; None when the name states none.
    """
    text = unicodedata.normalize("NFKC", _HIDDEN.sub("", str(name))).casefold().strip()
    for word in _CJK_HINTS:
        if word in text:
            return CRS_HINTS[word]
    m = _HINT_RE.search(text)
    return CRS_HINTS[m.group(1)] if m else None


def _without_hint(name: object) -> str:
    """A column name's :func:`norm` once a CRS hint (``(GCJ-02)``, ``_bd09``, 高德 ...) is taken out."""
    text = unicodedata.normalize("NFKC", _HIDDEN.sub("", str(name))).casefold().strip()
    for word in _CJK_HINTS:
        text = text.replace(word, " ")
    text = _HINT_RE.sub(" ", text)
    return norm(text)


def _keys(name: object) -> list[str]:
    """Every key a column name is matched by: whole, without bracketed parts, without a CRS hint."""
    keys = [norm(name), norm(_BRACKETED.sub("", unicodedata.normalize("NFKC", str(name)))), _without_hint(name)]
    return [k for k in dict.fromkeys(keys) if k]


# --------------------------------------------------------------------------- matching


@dataclass
class ColumnMatch:
    """Which source column feeds which field of a layer.

    Attributes
    ----------
    mapping : dict of str to str
        Source column -> target field (schema fields and the grouping pseudo-fields of
        :data:`GROUPING_FIELDS`), in the file's column order.
    extras : list of str
        Columns that feed no field, kept as extra attributes.
    crs_hints : dict of str to str
        Column -> the coordinate system its name states (see :func:`crs_hint`).
    """

    mapping: dict[str, str] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    crs_hints: dict[str, str] = field(default_factory=dict)

    def column_of(self, target: str) -> str | None:
        """The source column of a target field, or None."""
        return next((c for c, t in self.mapping.items() if t == target), None)


def targets(layer: str) -> tuple[str, ...]:
    """The fields a column can be mapped to in ``layer``: its schema fields, then its grouping pseudo-fields.

    Parameters
    ----------
    layer : str
        A layer name.

    Returns
    -------
    tuple of str
    """
    return (*(f.name for f in FIELDS[layer]), *GROUPING_FIELDS.get(layer, ()))


def match_columns(layer: str, columns: Iterable[str], overrides: Mapping[str, str] | None = None) -> ColumnMatch:
    """Match a file's columns to a layer's fields by name.

    Overrides come first; then a column named exactly as a field (compared by :func:`norm`);
    then Shapefile names cut to 10 characters (``committee_`` -> ``committee_code``); then the
    :data:`SYNONYMS`, in their order. A field takes one column; a column feeds one field.

    Parameters
    ----------
    layer : str
        A layer of :data:`app.geo.schema.FIELDS`.
    columns : iterable of str
        The file's columns, in file order.
    overrides : mapping of str to str, optional
        Target field -> source column (a mapping file's ``[fields.<layer>]`` or ``--field TARGET=SOURCE``).
        The source is found exactly, else by :func:`norm`.

    Returns
    -------
    ColumnMatch
        The mapping, the unmatched columns and the CRS hints of the column names.

    Raises
    ------
    FieldError
        An override names a field the layer does not have, or a column the file does not have
        (the message lists what there is).
    """
    cols = [str(c) for c in dict.fromkeys(columns)]
    names = targets(layer)
    mapping: dict[str, str] = {}
    taken: set[str] = set()

    def take(col: str, target: str) -> None:
        mapping[col] = target
        taken.add(target)

    by_key: dict[str, str] = {}
    for col in cols:
        for key in _keys(col):
            by_key.setdefault(key, col)
    for target, source in (overrides or {}).items():
        if target not in names:
            raise FieldError(f"{layer} has no field {target!r}; its fields are {', '.join(names)}", field=target)
        col = source if source in cols else by_key.get(norm(source))
        if col is None:
            raise FieldError(f"the mapping {target} = {source!r} names no column of the file; "
                             f"its columns are {', '.join(cols) or '(none)'}", field=target)
        if col in mapping:
            raise FieldError(f"column {col!r} is mapped to both {mapping[col]} and {target}", field=target)
        take(col, target)
    exact = {norm(c): c for c in reversed(cols)}  # first column wins
    for target in names:
        col = exact.get(norm(target))
        if target not in taken and col is not None and col not in mapping:
            take(col, target)
    schema_names = [f.name for f in FIELDS[layer]]
    for col in cols:  # Shapefile .dbf names are cut to 10 characters: committee_code -> committee_
        if col not in mapping and len(col) == 10:
            hits = [n for n in schema_names if n.startswith(col)]
            if len(hits) == 1 and hits[0] not in taken:
                take(col, hits[0])
    synonyms = SYNONYMS.get(layer, {})
    for key_pass in range(3):  # whole names first, then without brackets, then without CRS hints
        col_keys = {c: _keys(c) for c in cols}
        for target in names:
            if target in taken:
                continue
            for word in synonyms.get(target, ()):
                w = norm(word)
                col = next((c for c in cols if c not in mapping and len(col_keys[c]) > key_pass
                            and col_keys[c][key_pass] == w), None)
                if col is not None:
                    take(col, target)
                    break
    ordered = {c: mapping[c] for c in cols if c in mapping}
    hints = {c: h for c in cols if (h := crs_hint(c)) is not None}
    return ColumnMatch(ordered, [c for c in cols if c not in mapping], hints)


def coordinate_columns(columns: Iterable[str]) -> tuple[str, str, str | None] | None:
    """Find the longitude and latitude columns of a table, and the coordinate system their names state.

    ``经度``/``纬度``, ``lon``/``lat``, ``lng``/``lat``, ``x``/``y`` ... with or without a hint such as
    ``经度(GCJ-02)``, ``lng_gcj``, ``lon (BD-09)``, ``x_bd09``, ``经度_WGS84``, ``纬度(CGCS2000)``.
    A pair whose hints agree is preferred; columns are taken in file order.

    Parameters
    ----------
    columns : iterable of str
        The table's columns.

    Returns
    -------
    (str, str, str or None) or None
        ``(lon column, lat column, hint)`` with the hint ``gcj02``, ``bd09``, ``wgs84``,
        ``cgcs2000`` or None; None when no pair is found.
    """
    cols = [str(c) for c in dict.fromkeys(columns)]
    keys = {c: _keys(c) for c in cols}
    pairs = []
    mixed = [(a, b) for a in LON_WORDS for b in LAT_WORDS if (a, b) not in COORDINATE_PAIRS]
    for rank, (lon_word, lat_word) in enumerate((*COORDINATE_PAIRS, *mixed)):
        rank = min(rank, len(COORDINATE_PAIRS))  # a pair that does not go together (lng/latitude) comes last
        lons = [c for c in cols if norm(lon_word) in keys[c]]
        lats = [c for c in cols if norm(lat_word) in keys[c]]
        for lon in lons:
            for lat in lats:
                if lon == lat:
                    continue
                lh, ah = crs_hint(lon), crs_hint(lat)
                agree = lh == ah or lh is None or ah is None
                pairs.append((not agree, lh != ah, rank, cols.index(lon), cols.index(lat), lon, lat,
                              (lh or ah) if agree else None))
    if not pairs:
        return None
    *_, lon, lat, hint = min(pairs)
    return lon, lat, hint


# --------------------------------------------------------------------------- address parts


def address_parts(columns: Iterable[str], parts: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """Find the columns of a standard-address list's parts (:data:`ADDRESS_PARTS`) by name.

    A column's whole name is tried before the name without its bracketed part, over all parts,
    so ``街路巷(小区)`` is the road-or-compound column and ``街路巷`` the road column. A part takes
    the first column of the file that names it; a column feeds one part.

    Parameters
    ----------
    columns : iterable of str
        The file's columns, in file order.
    parts : mapping of str to tuple of str, optional
        Part -> column names; :data:`ADDRESS_PARTS` by default (:data:`ALIAS_FILE_COLUMNS` for alias files).

    Returns
    -------
    dict of str to str
        Part -> column, for the parts found.
    """
    words = parts if parts is not None else ADDRESS_PARTS
    by_word: dict[str, str] = {}
    for part, names in words.items():
        for w in names:
            by_word.setdefault(norm(w), part)
    found: dict[str, str] = {}
    used: set[str] = set()
    for rank in range(3):
        for col in dict.fromkeys(str(c) for c in columns):
            keys = _keys(col)
            part = by_word.get(keys[rank]) if rank < len(keys) else None
            if part is not None and part not in found and col not in used:
                found[part] = col
                used.add(col)
    return found


# --------------------------------------------------------------------------- categories

_CATEGORY_BY_WORD: dict[str, str] = {}
for _key, _words in CATEGORY_WORDS.items():
    for _w in _words:
        _CATEGORY_BY_WORD.setdefault(norm(_w), _key)
_SUBTYPE_BY_WORD: dict[str, str] = {}
for _sub, (_cat, _words) in SUBTYPE_WORDS.items():
    for _w in _words:
        _SUBTYPE_BY_WORD.setdefault(norm(_w), _sub)


def category_of(text: object) -> str | None:
    """The facility category a word names: 公交站点, bus stop -> ``bus_stop``; 口袋公园, 绿地 -> ``park``.

    Parameters
    ----------
    text : object
        A category cell.

    Returns
    -------
    str or None
        A key of :data:`app.geo.schema.CATEGORIES`, or None when the word is not known.
    """
    if text is None:
        return None
    for key in _keys(text):
        if key in _CATEGORY_BY_WORD:
            return _CATEGORY_BY_WORD[key]
    return None


def subtype_of(text: object, category: str | None = None) -> str | None:
    """The facility subtype a word names, e.g. 口袋公园 -> ``pocket_park``, 潮汐车位 -> ``tidal``.

    Parameters
    ----------
    text : object
        A category or subtype cell.
    category : str, optional
        When given, a subtype of another category is not returned.

    Returns
    -------
    str or None
        A key of :data:`app.geo.schema.SUBTYPES` (of ``category`` when given), or None.
    """
    if text is None:
        return None
    for key in _keys(text):
        sub = _SUBTYPE_BY_WORD.get(key)
        if sub is not None and (category is None or SUBTYPE_WORDS[sub][0] == category):
            return sub
    if category is not None and str(text) in SUBTYPES.get(category, {}):
        return str(text)
    return None
