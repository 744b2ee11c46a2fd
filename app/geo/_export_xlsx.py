"""The coverage workbook: one formatted sheet per level, the underserved grids, the parameters and the notes."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.geo._coverage_params import PRESETS, STANDARDS
from app.geo._export_columns import NUMBER_FORMATS, Column, column
from app.geo.audit import format_time
from app.geo.schema import CATEGORIES, PERSONAL_FIELDS

#: Sheet names by part and language (Excel allows 31 characters and no ``/\\?*[]:``).
SHEETS: dict[str, tuple[str, str]] = {
    "grid": ("网格覆盖", "Grids"), "committee": ("社区（村）覆盖", "Committees"),
    "division": ("街道（镇）覆盖", "Divisions"), "city": ("全市覆盖", "City"),
    "underserved": ("未达标网格", "Underserved grids"), "parameters": ("参数", "Parameters"), "notes": ("说明", "Notes"),
}
#: Row of the (hidden) field keys and of the visible headers on every table sheet.
KEY_ROW, HEADER_ROW = 1, 2

_TEXT: dict[str, tuple[str, str]] = {
    "yes": ("是", "Yes"), "no": ("否", "No"),
    "parameter": ("参数", "Parameter"), "value": ("值", "Value"),
    "analysis": ("分析", "Analysis"), "city_name": ("城市", "City"), "categories": ("设施类别", "Facility categories"),
    "radius": ("服务距离", "Distance"), "requirements": ("各类设施距离要求", "Distance per facility kind"),
    "mode": ("距离计算方式", "Distance measured"), "straight": ("直线距离", "straight line"),
    "walk": ("步行路网距离", "walking on the road network"), "target": ("目标", "Target"),
    "no_target": ("未设目标", "none"), "target_text": ("居民覆盖率 {rule} {pct}", "residents covered {rule} {pct}"),
    "rule": ("判定规则", "Rule"), "rule.all": ("每类设施均须在各自距离内", "every kind within its own distance"),
    "rule.any": ("任一类设施在距离内即可", "any kind within the distance"),
    "standard": ("依据标准", "Standard"), "no_standard": ("无（自定义分析）", "none (custom analysis)"),
    "metric_crs": ("度量坐标系", "Metric CRS"), "data_version": ("数据版本", "Data version"),
    "computed_at": ("计算时间", "Computed at"), "exported_at": ("导出时间", "Exported at"),
    "timezone": ("时区", "Time zone"),
    "sheet": ("工作表", "Sheet"), "key": ("字段键", "Field key"), "header": ("列名", "Header"),
    "format": ("格式", "Format"), "meaning": ("含义", "Meaning"),
    "fmt.text": ("文本", "text"), "fmt.int": ("整数，千位分隔", "whole number, thousands separated"),
    "fmt.pct": ("百分比（0.646 显示为 64.6%）", "percent (0.646 shows as 64.6%)"),
    "fmt.m": ("米，千位分隔", "metres, thousands separated"), "fmt.m2": ("平方米", "square metres"),
    "fmt.km2": ("平方公里（由平方米换算）", "square kilometres (converted from m²)"),
    "fmt.ratio": ("一位小数", "one decimal"), "fmt.number": ("数值", "number"),
    "fmt.flag": ("是/否", "Yes/No"), "fmt.list": ("设施类别名称", "facility category names"),
    "none_below": ("没有低于目标的网格。", "No grid is below the target."),
    "no_target_rows": ("未设目标，因此没有标记未达标网格。", "No target was set, so no grid is marked underserved."),
    "note.keys": ("各结果表第 1 行（隐藏）为字段键，与 CSV、GeoJSON 的列名一致，便于程序读取；第 2 行为列名。",
                  "Row 1 of each result sheet (hidden) holds the field keys, the column names of the CSV and "
                  "GeoJSON exports; row 2 holds the headers."),
    "note.units": ("比例以百分比显示；网格表面积单位为平方米，汇总表为平方公里；距离单位为米。",
                   "Shares show as percentages; areas are in m² on grid sheets and km² on the totals; distances "
                   "in metres."),
    "note.personal": ("本文件不含任何个人信息（网格员姓名、电话等）。",
                      "The file holds no personal data (grid staff names, phone numbers)."),
    "note.sheets": ("各工作表：", "Sheets:"),
}

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE5EE")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="7F8C99"))
_NOTE_FONT = Font(italic=True, color="666666")
_KM2_OF = {"area_m2": "area_km2", "area_covered_m2": "area_covered_km2"}


def text(key: str, lang: str = "zh") -> str:
    """Return one of the workbook's fixed texts in ``lang``."""
    return _TEXT[key][lang == "en"]


def sheet_name(part: str, lang: str = "zh") -> str:
    """Return the sheet name of a part (``grid`` … ``notes``) in ``lang``."""
    return SHEETS[part][lang == "en"]


def write_workbook(result: Any, path: Path, lang: str = "zh", tz: str = "Asia/Shanghai",
                   city: str | None = None, exported_at: str | None = None) -> None:
    """Write a coverage result as a formatted workbook.

    Sheets: one per level, the underserved grids, the parameters and the notes. Every table
    sheet has the field keys in a hidden row 1, headers in row 2, the header rows frozen, an
    autofilter, fitted column widths and number formats (percent, thousands, metres, km²).

    Parameters
    ----------
    result : CoverageResult
        What to write.
    path : Path
        The ``.xlsx`` file.
    lang : str
        ``zh`` or ``en``: the language of every header, name and value.
    tz : str
        IANA time zone the times are shown in (the TIMEZONE setting).
    city : str, optional
        City name; default: the result's stored city.
    exported_at : str, optional
        Export time, ISO 8601 (default: now).
    """
    lang = "en" if lang == "en" else "zh"
    wb = Workbook()
    wb.remove(wb.active)
    used: dict[str, list[Column]] = {}
    for level in ("grid", "committee", "division", "city"):
        table = _public(result.table(level))
        if level == "city":
            table = _city_row(table, result, lang)
        used[level] = _table_sheet(wb, sheet_name(level, lang), table, lang, metres=level == "grid")
    target = result.params.target_pct
    empty_note = text("none_below" if target is not None else "no_target_rows", lang)
    used["underserved"] = _table_sheet(wb, sheet_name("underserved", lang), _public(result.underserved()), lang,
                                       metres=True, empty_note=empty_note)
    _parameters_sheet(wb, parameter_rows(result, lang, tz, city, exported_at), lang)
    _notes_sheet(wb, used, lang)
    wb.properties.title = text("analysis", lang) + ": " + result.params.label(lang)
    wb.properties.creator = "gridmap"
    wb.save(path)


def parameter_rows(result: Any, lang: str = "zh", tz: str = "Asia/Shanghai", city: str | None = None,
                   exported_at: str | None = None) -> list[tuple[str, str]]:
    """Return the parameters sheet's (name, value) rows in one language, times local.

    Parameters
    ----------
    result : CoverageResult
        The analysis.
    lang : str
        ``zh`` or ``en``.
    tz : str
        IANA time zone for the times.
    city : str, optional
        City name; default: the result's stored city.
    exported_at : str, optional
        Export time, ISO 8601 (default: now).

    Returns
    -------
    list of tuple
        Rows such as ``("服务距离", "500 米")``.
    """
    p = result.parameters()
    en = lang == "en"
    metre = " m" if en else " 米"
    rule = {">": ">", ">=": "≥"}.get(p.get("target_rule") or ">=", "≥")
    target = (text("no_target", lang) if p.get("target_pct") is None else
              text("target_text", lang).format(rule=rule, pct=f"{p['target_pct']:g}%"))
    exported = exported_at or pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    rows = [
        (text("analysis", lang), p["label_en"] if en else p["label_zh"]),
        (text("city_name", lang), _city_name(result, lang) if city is None else city),
        (text("categories", lang), _names(p["categories"], lang)),
        (text("radius", lang), f"{p['radius_m']:,.0f}{metre}"),
    ]
    requirements = _requirements(p.get("requirements"), lang)
    if requirements:
        rows.append((text("requirements", lang), requirements))
    if f"rule.{p.get('rule')}" in _TEXT:
        rows.append((text("rule", lang), text(f"rule.{p['rule']}", lang)))
    rows += [
        (text("mode", lang), text(p["mode"], lang) if p["mode"] in _TEXT else str(p["mode"])),
        (text("target", lang), target),
        (text("standard", lang), _standard(result, p, lang) or text("no_standard", lang)),
        (text("metric_crs", lang), str(p["metric_crs"])),
        (text("data_version", lang), str(p["data_version"])),
        (text("computed_at", lang), format_time(p["computed_at"], tz)),
        (text("exported_at", lang), format_time(exported, tz)),
        (text("timezone", lang), tz),
    ]
    return rows


def _public(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if c in PERSONAL_FIELDS])


def _city_name(result: Any, lang: str) -> str:
    city = getattr(result, "city", None)
    if city is None:
        ds = getattr(getattr(result, "_city", None), "ds", None)
        city = getattr(ds, "city", None)
    try:
        return city.title(lang) if city is not None else ""
    except AttributeError:
        return ""


def _city_row(table: pd.DataFrame, result: Any, lang: str) -> pd.DataFrame:
    """The whole-city row named after the stored city (``全市`` / ``Whole city`` when it has no name)."""
    city = getattr(result, "city", None) or getattr(getattr(getattr(result, "_city", None), "ds", None), "city", None)
    full = ((city.name_en if lang == "en" else city.name) if city is not None else "") or _city_name(result, lang)
    table = table.copy()
    if "name" in table:
        table["name"] = full or ("Whole city" if lang == "en" else "全市")
    return table


def _names(keys: Iterable[str], lang: str, sep: str | None = None) -> str:
    sep = sep or (", " if lang == "en" else "、")
    out = []
    for k in keys:
        cat = CATEGORIES.get(k)
        out.append((cat.en if lang == "en" else cat.zh) if cat else str(k))
    return sep.join(out)


def _requirements(req: Any, lang: str) -> str:
    """Per-kind distances (a mapping kind → metres, or a list of dicts), as text."""
    if not req:
        return ""
    pairs: list[tuple[str, Any]] = []
    if isinstance(req, dict):
        pairs = list(req.items())
    elif isinstance(req, (list, tuple)):
        for item in req:
            if isinstance(item, dict):
                kind = item.get("category") or item.get("key") or item.get("kind")
                dist = item.get("radius_m", item.get("distance_m", item.get("radius")))
                pairs.append((str(kind), dist))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((str(item[0]), item[1]))
    metre = " m" if lang == "en" else " 米"
    sep = "; " if lang == "en" else "；"
    parts = []
    for kind, dist in pairs:
        number = f"{float(dist):,.0f}{metre}" if isinstance(dist, (int, float)) else str(dist)
        parts.append(f"{_names([kind], lang)} {number}")
    return sep.join(parts)


def _standard(result: Any, p: dict, lang: str = "zh") -> str:
    """The standards behind the analysis in ``lang``: each document with what gridmap takes from it."""
    if p.get("standard"):
        return str(p["standard"])
    preset = PRESETS.get(p.get("preset") or "")
    if preset is None:
        cats = sorted(p["categories"])
        preset = next((c for c in PRESETS.values()
                       if sorted(c.categories) == cats and float(p["radius_m"]) in c.radii), None)
    if preset is None:
        return ""
    if not preset.standards:
        return preset.standard
    parts = []
    for key in preset.standards:
        std = STANDARDS[key]
        said = (std.en if lang == "en" else std.zh).rstrip("。. ")
        parts.append(f"{std.document}{(' ' + std.clause) if std.clause else ''}：{said}" if lang != "en"
                     else f"{std.document}{(' ' + std.clause) if std.clause else ''}: {said}")
    return "；".join(parts) if lang != "en" else "; ".join(parts)


def _cell_value(col: Column, value: Any, lang: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if col.kind == "flag":
        return text("yes" if bool(value) else "no", lang)
    if col.kind == "list":
        keys = value if isinstance(value, (list, tuple, set)) else [v for v in str(value).split(",") if v]
        return _names(keys, lang)
    if col.kind == "pct":
        return float(value) / 100.0
    if col.kind == "km2":
        return float(value) / 1e6
    if col.kind == "text":
        return str(value)
    if hasattr(value, "item"):
        value = value.item()
    return value


def _table_sheet(wb: Workbook, title: str, df: pd.DataFrame, lang: str, metres: bool,
                 empty_note: str = "") -> list[Column]:
    """Write one table sheet; ``metres`` keeps areas in m² (grid sheets), else km²."""
    ws = wb.create_sheet(title)
    keys = [c if metres else _KM2_OF.get(c, c) for c in df.columns]
    cols = [column(k, df[c].dtype.kind) for k, c in zip(keys, df.columns, strict=True)]
    ws.append([c.key for c in cols])
    ws.append([c.header(lang) for c in cols])
    for row in df.itertuples(index=False, name=None):
        ws.append([_cell_value(col, v, lang) for col, v in zip(cols, row, strict=True)])
    n = len(df)
    for j, col in enumerate(cols, start=1):
        fmt = NUMBER_FORMATS.get(col.kind)
        center = col.kind == "flag"
        for (cell,) in ws.iter_rows(min_row=HEADER_ROW + 1, max_row=HEADER_ROW + n, min_col=j, max_col=j):
            if fmt:
                cell.number_format = fmt
            elif col.kind == "text":
                cell.number_format = "@"
            if center:
                cell.alignment = Alignment(horizontal="center")
    _style_header(ws, len(cols))
    ws.row_dimensions[KEY_ROW].hidden = True
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1).coordinate
    last = get_column_letter(max(1, len(cols)))
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{HEADER_ROW + max(n, 1)}"
    if n == 0 and empty_note:
        ws.cell(row=HEADER_ROW + 1, column=1, value=empty_note).font = _NOTE_FONT
    _fit_widths(ws, [c.header(lang) for c in cols], [c.kind for c in cols], HEADER_ROW + 1, HEADER_ROW + n)
    _print_setup(ws, f"{HEADER_ROW}:{HEADER_ROW}")
    return cols


def _style_header(ws: Worksheet, ncols: int, row: int = HEADER_ROW) -> None:
    for j in range(1, ncols + 1):
        cell = ws.cell(row=row, column=j)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def display_width(value: Any, kind: str = "text") -> float:
    """Approximate width of a cell's shown text in Excel's character units (CJK counts two)."""
    if value is None:
        return 0.0
    if kind == "pct" and isinstance(value, (int, float)):
        s = f"{value * 100:.1f}%"
    elif kind in ("int", "m", "m2") and isinstance(value, (int, float)):
        s = f"{value:,.0f}"
    elif kind in ("km2", "ratio", "number") and isinstance(value, (int, float)):
        s = f"{value:,.2f}"
    else:
        s = str(value)
    return float(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s))


def _fit_widths(ws: Worksheet, headers: Sequence[str], kinds: Sequence[str], first: int, last: int,
                limit: float = 48.0) -> None:
    """Fit each column to its header (which may wrap onto two lines) and its first 500 values."""
    lines = 1
    for j, (header, kind) in enumerate(zip(headers, kinds, strict=True), start=1):
        values = [ws.cell(row=i, column=j).value for i in range(first, min(last, first + 499) + 1)]
        body = max((display_width(v, kind) for v in values), default=0.0)
        head = display_width(header)
        head = head * 1.15  # headers are bold
        head_need = head if head <= 20 else max(20.0, head / 2 + 1)  # long headers wrap to two lines
        width = min(limit, max(8.0, body + 2, head_need + 2))
        ws.column_dimensions[get_column_letter(j)].width = width
        lines = max(lines, math.ceil(head / (width - 1)))
    ws.row_dimensions[HEADER_ROW].height = 16.0 * lines  # LibreOffice does not grow rows for wrapped text


def _print_setup(ws: Worksheet, title_rows: str | None) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    if title_rows:
        ws.print_title_rows = title_rows


def _parameters_sheet(wb: Workbook, rows: list[tuple[str, str]], lang: str) -> None:
    ws = wb.create_sheet(sheet_name("parameters", lang))
    ws.append([text("parameter", lang), text("value", lang)])
    for name, value in rows:
        ws.append([name, value])
    _style_header(ws, 2, row=1)
    for (cell,) in ws.iter_rows(min_row=2, max_col=1):
        cell.font, cell.alignment = _HEADER_FONT, Alignment(vertical="top")
    for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.number_format = "@"
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = max(12.0, max(display_width(n) for n, _ in rows) + 3)
    width = min(80.0, max(20.0, max(display_width(v) for _, v in rows) + 3))
    ws.column_dimensions["B"].width = width
    for i, (_, value) in enumerate(rows, start=2):
        lines = math.ceil(display_width(value) / (width - 2)) if value else 1
        if lines > 1:
            ws.row_dimensions[i].height = 15.0 * lines
    _print_setup(ws, None)


def _notes_sheet(wb: Workbook, used: dict[str, list[Column]], lang: str) -> None:
    """The notes sheet: each column once (sheets, key, header, format, meaning), then general notes."""
    ws = wb.create_sheet(sheet_name("notes", lang))
    heads = [text(k, lang) for k in ("key", "header", "format", "meaning", "sheet")]
    ws.append(heads)
    seen: dict[str, tuple[Column, list[str]]] = {}
    for part, cols in used.items():
        for col in cols:
            seen.setdefault(col.key, (col, []))[1].append(sheet_name(part, lang))
    sep = ", " if lang == "en" else "、"
    for col, sheets in seen.values():
        ws.append([col.key, col.header(lang), text(f"fmt.{col.kind}", lang), col.note(lang), sep.join(sheets)])
    n = len(seen)
    _style_header(ws, len(heads), row=1)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(heads))}{1 + n}"
    ws.append([])
    for key in ("note.keys", "note.units", "note.personal"):
        ws.append([text(key, lang)])
        ws.cell(row=ws.max_row, column=1).font = _NOTE_FONT
    for j in range(1, len(heads) + 1):
        values = [ws.cell(row=i, column=j).value for i in range(1, n + 2)]
        width = max(display_width(v) for v in values) + 2
        ws.column_dimensions[get_column_letter(j)].width = min(100.0, max(10.0, width))
    _print_setup(ws, "1:1")
