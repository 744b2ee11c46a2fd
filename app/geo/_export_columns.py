"""What each coverage column is: its header in Chinese and English, its unit, its cell format and its meaning."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.geo.schema import CATEGORIES

#: Cell kinds and their Excel number formats (None: text, written as is).
NUMBER_FORMATS: dict[str, str | None] = {
    "text": None, "int": "#,##0", "pct": "0.0%", "m": "#,##0", "m2": "#,##0", "km2": "#,##0.00",
    "ratio": "#,##0.0", "number": "#,##0.##", "flag": None, "list": None,
}


@dataclass(frozen=True)
class Column:
    """One table column as a spreadsheet shows it.

    Attributes
    ----------
    key : str
        The field key (the CSV/GeoJSON column name).
    zh, en : str
        Headers, without the unit.
    kind : str
        A key of :data:`NUMBER_FORMATS`: ``pct`` cells hold fractions (64.6 % is 0.646),
        ``km2`` cells hold square kilometres (converted from the table's m²), ``flag`` cells
        hold 是/否 (Yes/No), ``list`` cells the category names a grid lacks.
    zh_note, en_note : str
        What the column means, for the notes sheet.
    """

    key: str
    zh: str
    en: str
    kind: str
    zh_note: str
    en_note: str

    def header(self, lang: str = "zh") -> str:
        """Return the header in ``lang`` with its unit, e.g. ``平均距离（米）`` or ``Mean distance (m)``."""
        unit = unit_of(self.kind, lang)
        name = self.en if lang == "en" else self.zh
        if not unit:
            return name
        return f"{name} ({unit})" if lang == "en" else f"{name}（{unit}）"

    def note(self, lang: str = "zh") -> str:
        """Return what the column means, in ``lang``."""
        return self.en_note if lang == "en" else self.zh_note


def unit_of(kind: str, lang: str = "zh") -> str:
    """Return the unit a header names for a cell kind (``""`` for none)."""
    units = {"pct": ("%", "%"), "m": ("米", "m"), "m2": ("m²", "m²"), "km2": ("km²", "km²")}
    return units.get(kind, ("", ""))[lang == "en"]


def _c(key: str, zh: str, en: str, kind: str, zh_note: str, en_note: str) -> Column:
    return Column(key, zh, en, kind, zh_note, en_note)


#: Every known coverage column, in table order. ``area_km2``/``area_covered_km2`` are the
#: aggregate levels' areas, converted from ``area_m2``/``area_covered_m2``.
COLUMNS: dict[str, Column] = {c.key: c for c in (
    _c("code", "编码", "Code", "text", "网格、社区（村）或街道（镇）的编码。", "Code of the grid, committee or division."),
    _c("name", "名称", "Name", "text", "网格、社区（村）或街道（镇）的名称。", "Name of the grid, committee or division."),
    _c("committee_code", "社区（村）编码", "Committee code", "text", "网格所属社区（村）的编码。",
       "Code of the committee the grid belongs to."),
    _c("committee_name", "社区（村）", "Committee", "text", "网格所属社区（村）。", "Committee the grid belongs to."),
    _c("division_code", "街道（镇）编码", "Division code", "text", "所属街道（镇）的编码。",
       "Code of the division (street office or town)."),
    _c("division_name", "街道（镇）", "Division", "text", "所属街道（镇）。", "Division (street office or town)."),
    _c("grids", "网格数", "Grids", "int", "该单元内的网格数。", "Number of grids in the unit."),
    _c("residents", "居民数", "Residents", "int", "地址库登记的居民数。", "Residents registered in the address gazetteer."),
    _c("households", "户数", "Households", "int", "地址库登记的户数。", "Households registered in the address gazetteer."),
    _c("residents_covered", "覆盖居民", "Residents covered", "int", "距最近设施在服务距离内的居民数。",
       "Residents whose nearest facility is within the distance."),
    _c("residents_uncovered", "未覆盖居民", "Residents not covered", "int", "距最近设施超出服务距离的居民数。",
       "Residents whose nearest facility is beyond the distance."),
    _c("residents_pct", "居民覆盖率", "Residents covered", "pct", "覆盖居民占居民数的比例。",
       "Share of residents covered."),
    _c("area_m2", "面积", "Area", "m2", "单元面积。", "Area of the unit."),
    _c("area_km2", "面积", "Area", "km2", "单元面积（由平方米换算为平方公里）。", "Area of the unit, converted from m² to km²."),
    _c("area_covered_m2", "覆盖面积", "Area covered", "m2", "服务距离内的面积。", "Area within the distance."),
    _c("area_covered_km2", "覆盖面积", "Area covered", "km2", "服务距离内的面积（平方公里）。",
       "Area within the distance, in km²."),
    _c("area_pct", "面积覆盖率", "Area covered", "pct", "覆盖面积占单元面积的比例。", "Share of the area covered."),
    _c("dist_mean_m", "平均距离", "Mean distance", "m", "居民到最近设施的平均距离（按居民数加权）。",
       "Mean distance from residents to the nearest facility, weighted by residents."),
    _c("dist_median_m", "距离中位数", "Median distance", "m", "居民到最近设施距离的中位数。",
       "Median distance from residents to the nearest facility."),
    _c("dist_p90_m", "90%居民距离", "90th percentile distance", "m", "90% 的居民到最近设施的距离不超过此值。",
       "90% of residents live at most this far from the nearest facility."),
    _c("dist_max_m", "最大距离", "Largest distance", "m", "居民到最近设施的最大距离。",
       "Largest distance from a resident to the nearest facility."),
    _c("residents_unreachable", "不可达居民", "Residents unreachable", "int", "步行模式下无法经路网到达任何设施的居民数。",
       "Walking mode: residents from whom no facility can be reached on the road network."),
    _c("facilities", "设施数", "Facilities", "int", "单元内所选类别的设施数。", "Facilities of the chosen categories in the unit."),
    _c("capacity", "车位数", "Parking spaces", "int", "单元内停车场的车位数。", "Parking spaces of the unit's car parks."),
    _c("spaces_per_100_households", "每百户车位", "Spaces per 100 households", "ratio", "车位数 ÷ 户数 × 100。",
       "Parking spaces per 100 households."),
    _c("below_target", "低于目标", "Below target", "flag", "居民覆盖率未达到目标时为“是”。",
       "Yes when the residents share misses the target."),
    _c("missing", "缺少的设施", "Facilities lacking", "list", "服务距离内缺少的设施类别（生活圈要求的每类设施各有其距离）。",
       "Facility kinds not within their distance (a living circle requires each kind within its own distance)."),
)}

#: Chinese headers of the table columns (without units), for the report and the shapefile notes.
COLUMN_LABELS: dict[str, str] = {key: col.zh for key, col in COLUMNS.items()}

_CATEGORY_RE = re.compile("|".join(sorted((re.escape(k) for k in CATEGORIES), key=len, reverse=True)))


def column(key: str, dtype_kind: str = "O") -> Column:
    """Return the description of a column, guessing one for a column this module does not list.

    A per-kind column such as ``residents_pct_library`` or ``library_pct`` is described as its base
    column (``residents_pct``) for that category; other unknown columns get a kind from their name
    (``…_pct``, ``…_m``) or their numpy dtype kind.

    Parameters
    ----------
    key : str
        The column name.
    dtype_kind : str
        The column's ``dtype.kind`` (``b`` bool, ``i``/``u`` integers, ``f`` floats, ``O`` objects).

    Returns
    -------
    Column
        The known or guessed description.
    """
    if key in COLUMNS:
        return COLUMNS[key]
    match = _CATEGORY_RE.search(key)
    if match:
        cat = CATEGORIES[match.group(0)]
        rest = (key[:match.start()] + key[match.end():]).strip("_").replace("__", "_")
        base = COLUMNS.get(rest) or COLUMNS.get(f"residents_{rest}") if rest else None
        if base is None and rest in ("pct", "share"):
            base = COLUMNS["residents_pct"]
        if base is not None:
            return Column(key, f"{cat.zh}{base.zh}", f"{base.en}: {cat.en}", base.kind,
                          f"{cat.zh}：{base.zh_note}", f"{cat.en}: {base.en_note}")
    if key.endswith("_pct") or key.startswith("pct_"):
        kind = "pct"
    elif key.endswith("_m"):
        kind = "m"
    else:
        kind = {"b": "flag", "i": "int", "u": "int", "f": "number"}.get(dtype_kind, "text")
    return Column(key, key, key, kind, "", "")
