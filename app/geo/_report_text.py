"""The PDF report's words in Chinese and English, its colour classes and the standard behind each target."""

from __future__ import annotations

import math
from typing import Any

from app.geo import _coverage_params, audit
from app.geo.schema import CATEGORIES

#: Residents-share classes, as the coverage page's ``color()`` draws them: (lower bound %, colour).
CLASSES: tuple[tuple[float, str], ...] = (
    (90.0, "#1a9850"), (80.0, "#91cf60"), (60.0, "#d9ef8b"),
    (40.0, "#fee08b"), (20.0, "#fc8d59"), (0.0, "#d73027"),
)
#: Colour of a unit without residents (the page's ``#cccccc``).
NO_DATA_COLOUR = "#cccccc"
#: Outline of a unit below the target and of the service area (the page's colours).
BELOW_COLOUR = "#b00020"
SERVICE_COLOUR = "#08519c"

#: Every text the report prints, by key: (Chinese, English).
TEXT: dict[str, tuple[str, str]] = {
    "title": ("{city}覆盖分析报告", "{city} coverage report"),
    "title_unit": ("{unit}覆盖分析报告", "Coverage report: {unit}"),
    "report": ("覆盖分析报告", "Coverage report"),
    "city_unknown": ("本市", "The city"),
    "analysis": ("分析", "Analysis"),
    "unit": ("范围", "Area"),
    "date": ("报告日期", "Report date"),
    "computed": ("计算时间", "Computed"),
    "version": ("数据版本", "Data version"),
    "made_by": ("由 gridmap 生成", "Made with gridmap"),
    "key_figures": ("主要结果", "Key figures"),
    "parameters": ("分析参数", "Parameters"),
    "categories": ("设施类别", "Facility kinds"),
    "radius": ("服务半径", "Distance"),
    "mode": ("距离模式", "Distance measured"),
    "straight": ("直线距离", "straight line"),
    "walk": ("沿道路步行距离", "walking along roads"),
    "crs": ("计算坐标系", "Metric CRS"),
    "target": ("目标", "Target"),
    "no_target": ("未设目标", "none set"),
    "target_rule": ("居民覆盖率 {rule} {pct}%", "residents within reach {rule} {pct}%"),
    "standard": ("依据标准", "Standard"),
    "standard_none": ("无（自定义参数）", "none (parameters chosen by the planner)"),
    "gridmap_choice": ("gridmap 取值", "gridmap's choice"),
    "planner_choice": ("规划人员自定", "chosen by the planner"),
    "standards": ("依据的标准", "Standards behind the numbers"),
    "target_each": ("每类设施居民覆盖率 {rule} {pct}%", "residents within reach of each kind {rule} {pct}%"),
    "requirements": ("各类设施的距离要求", "Distance required per facility kind"),
    "kind": ("设施类别", "Facility kind"),
    "distance": ("距离", "Distance"),
    "source": ("依据", "Source"),
    "residents_pct": ("居民覆盖率", "Residents within reach"),
    "residents_uncovered": ("未覆盖居民", "Residents not within reach"),
    "area_pct": ("面积覆盖率", "Area within reach"),
    "distances": ("居民到最近设施距离 均值/中位/90%分位/最大", "Distance to the nearest facility, mean/median/P90/max"),
    "facilities": ("设施数", "Facilities"),
    "grids_below": ("未达标网格", "Grids below target"),
    "parking": ("车位 / 每百户车位", "Parking spaces / per 100 households"),
    "of": ("{a} / {b}", "{a} of {b}"),
    "map": ("覆盖地图", "Coverage map"),
    "map_unit": ("{unit}覆盖地图", "Coverage map: {unit}"),
    "core": ("城区放大", "Urban core"),
    "legend_classes": ("居民覆盖率", "Residents within reach"),
    "service_area": ("服务范围", "Area within reach"),
    "reached_roads": ("步行可达道路", "Roads within walking reach"),
    "below_target": ("低于目标", "Below target"),
    "no_residents": ("无居民", "No residents"),
    "north": ("北", "N"),
    "other_units": ("范围外网格", "Grids outside the area"),
    "by_committee": ("按社区/村汇总", "Summary by committee"),
    "by_grid": ("按网格汇总", "Summary by grid"),
    "underserved": ("未达标网格（未覆盖居民多者在前）", "Grids below target, most residents not within reach first"),
    "no_target_set": ("未设目标，不判断达标。", "No target is set, so no grid is judged."),
    "all_meet": ("所有网格均达标。", "Every grid meets the target."),
    "more_rows": ("另有 {n} 个网格未列出，完整名单见 Excel 导出。", "{n} more grids are listed in the Excel export."),
    "chart": ("各社区/村居民覆盖率", "Residents within reach by committee"),
    "chart_grid": ("各网格居民覆盖率", "Residents within reach by grid"),
    "col_committee": ("社区/村", "Committee"),
    "col_division": ("街道/镇", "Division"),
    "col_grid": ("网格", "Grid"),
    "col_code": ("网格编码", "Grid code"),
    "col_residents": ("居民", "Residents"),
    "col_uncovered": ("未覆盖", "Not reached"),
    "col_kind": ("{kind}", "{kind}"),
    "col_res_pct": ("居民覆盖", "Reached"),
    "col_area_pct": ("面积覆盖", "Area"),
    "col_mean": ("平均距离 m", "Mean m"),
    "col_p90": ("P90 距离 m", "P90 m"),
    "col_fac": ("设施", "Facilities"),
    "col_parking": ("每百户车位", "Spaces/100 hh"),
    "col_below": ("低于目标", "Below"),
    "col_missing": ("缺少的设施", "Lacking"),
    "yes": ("是", "yes"),
    "method": ("计算口径", "Method"),
    "method_text": (
        "居民覆盖率按门牌地址登记居民数加权；距离为居民加权的平均值、中位数、90%分位数与最大值。",
        "Residents shares and distances are weighted by the residents registered at each address.",
    ),
    "method_straight": ("面积覆盖：网格内距设施直线距离不超过半径的面积（精确计算）。",
                        "Area: the exact area within the distance of a facility."),
    "method_walk": ("面积覆盖：网格内规则采样点中步行距离不超过半径的比例。步行距离 = 点到最近道路的垂直距离 + 路网最短路径。",
                    "Area: the share of lattice sample points within walking reach; walking distance = the leg to "
                    "the nearest road + the shortest path along the network."),
    "method_each": ("生活圈：每一类设施须在其各自距离内；任何一类不可达即为缺少。",
                    "Living circle: every kind must be within its own distance; a kind out of reach is lacking."),
    "page": ("第 {n} / {total} 页", "Page {n} of {total}"),
}


def tr(key: str, lang: str = "zh", **kw: Any) -> str:
    """Return the report text ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``kw``."""
    zh, en = TEXT[key]
    return (en if lang == "en" else zh).format(**kw)


def category_name(key: str, lang: str = "zh") -> str:
    """The name of a facility category in ``lang`` (the key itself when unknown)."""
    cat = CATEGORIES.get(key)
    if cat is None:
        return key
    return cat.en if lang == "en" else cat.zh


def class_colour(pct: object) -> str:
    """The coverage page's colour for a residents share in percent (grey when missing)."""
    if pct is None or (isinstance(pct, float) and math.isnan(pct)):
        return NO_DATA_COLOUR
    p = float(pct)
    for lower, colour in CLASSES:
        if p >= lower:
            return colour
    return CLASSES[-1][1]


def class_labels() -> list[tuple[str, str]]:
    """(label, colour) of each class, highest first, as the page's legend writes them."""
    out = []
    for i, (lower, colour) in enumerate(CLASSES):
        if i == 0:
            out.append((f"≥ {lower:g}%", colour))
        elif lower == 0:
            out.append((f"< {CLASSES[i - 1][0]:g}%", colour))
        else:
            out.append((f"{lower:g}–{CLASSES[i - 1][0]:g}%", colour))
    return out


def local_date(ts: str, tz: str, lang: str = "zh", with_time: bool = False) -> str:
    """A stored UTC time as the local date (and time) in ``tz``: ``2026年12月2日`` or ``2 December 2026``."""
    local = audit.local_time(ts, tz)
    if local is None:
        return str(ts)
    when, known = local
    text = f"{when.day} {when:%B %Y}" if lang == "en" else f"{when.year}年{when.month}月{when.day}日"
    return text + (f" {when:%H:%M}" if with_time else "") + ("" if known else " UTC")


def find_preset(params: Any) -> Any | None:
    """The preset whose standard the parameters follow, or None for parameters of the planner's own.

    The parameters' ``preset`` wins; otherwise the preset with exactly these categories and
    this radius among its distances (a pooled question such as bus stops within 500 m).
    """
    presets = _coverage_params.PRESETS
    key = getattr(params, "preset", None)
    if isinstance(key, str) and key in presets:
        return presets[key]
    if getattr(params, "requirements", ()):
        return None
    cats = tuple(sorted(params.categories))
    for p in presets.values():
        radii = tuple(float(r) for r in getattr(p, "radii", ()))
        if tuple(sorted(p.categories)) == cats and float(params.radius_m) in radii:
            return p
    return None


def document_name(doc: str, lang: str = "zh") -> str:
    """A standard's document as the report names it: ``GB 50180-2018《城市居住区规划设计标准》`` in Chinese,
    ``GB 50180-2018`` in English (the Chinese title left out)."""
    if lang == "en":
        return doc.split("《", 1)[0].strip() or doc
    return doc


def standards_of(preset: Any | None) -> list[Any]:
    """The entries of ``STANDARDS`` a preset names (empty for the planner's own parameters)."""
    table = getattr(_coverage_params, "STANDARDS", {})
    keys = list(getattr(preset, "standards", ()) or ()) if preset is not None else []
    return [table[k] for k in keys if k in table]


def standard_text(preset: Any | None, lang: str = "zh") -> str:
    """The documents a preset's numbers come from, in one line; gridmap's own choices are said to be so."""
    if preset is None:
        return tr("standard_none", lang)
    entries = standards_of(preset)
    if not entries:
        return str(getattr(preset, "standard", "") or "") or tr("standard_none", lang)
    docs = []
    for e in entries:
        name = tr("gridmap_choice", lang) if getattr(e, "gridmap_choice", False) else document_name(e.document, lang)
        if name not in docs:
            docs.append(name)
    return ("；" if lang != "en" else "; ").join(docs)


def requirements_of(params: Any, preset: Any | None, lang: str = "zh") -> list[tuple[str, float, str]]:
    """(category, distance in metres, source) of each kind the question requires within its own distance.

    Empty for a pooled question (one distance for all its categories). The source is the
    document of the preset's requirement when the distance is the preset's, else the planner's choice.
    """
    table = getattr(_coverage_params, "STANDARDS", {})
    own = {r.category: r for r in getattr(preset, "requirements", ())} if preset is not None else {}
    out = []
    for cat, dist in getattr(params, "requirements", ()) or ():
        req = own.get(cat)
        if req is not None and float(req.distance_m) == float(dist) and req.standard in table:
            entry = table[req.standard]
            source = document_name(entry.document, lang)
            if getattr(entry, "clause", ""):
                source += f" {entry.clause}" if lang != "en" or entry.clause.isascii() else ""
        else:
            source = tr("planner_choice", lang)
        out.append((str(cat), float(dist), source))
    return out
