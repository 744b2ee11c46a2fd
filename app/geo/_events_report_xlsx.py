"""The event statistics workbook: a titled, formatted table sheet, the parameters and the notes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from app.geo._events_report_text import header, parameter_rows, tr
from app.geo._export_xlsx import _HEADER_BORDER, _HEADER_FILL, _HEADER_FONT, _fit_widths, _print_setup

#: Rows of the table sheet: the title, the subtitle, the headers (data starts under them, frozen above).
TITLE_ROW, SUBTITLE_ROW, HEADER_ROW = 1, 2, 3
#: Cell kinds of the report's columns (``_export_columns.NUMBER_FORMATS`` kinds).
KINDS: dict[str, str] = {
    "code": "text", "name": "text", "period": "text", "total": "int", "open": "int", "overdue": "int",
    "closed": "int", "rejected": "int", "on_time_rate": "pct", "mean_hours_to_close": "ratio",
    "p90_hours_to_close": "ratio",
}
_FORMATS = {"int": "#,##0", "pct": "0.0%", "ratio": "#,##0.0", "text": "@"}


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def write_workbook(table: pd.DataFrame, path: Path, spec: Any, city: str) -> None:
    """Write :func:`app.geo.events_report.report_table`'s rows as a workbook at ``path``.

    The table sheet has a title (city and report name), a subtitle (grouping, period, generation
    time), Chinese (or English) headers frozen with the title, an autofilter, fitted widths, and
    number formats (thousands, percent, one decimal); the totals rows (合计) are bold.
    """
    lang = spec.lang
    columns = [c for c in table.columns if c != "period" or spec.period]
    wb = Workbook()
    ws = wb.active
    ws.title = tr("sheet", lang)
    title = tr("title", lang, city=city) if city else tr("title_plain", lang)
    rows = dict(parameter_rows(spec, city))
    ws.cell(row=TITLE_ROW, column=1, value=title).font = Font(bold=True, size=14)
    ws.cell(row=SUBTITLE_ROW, column=1, value=" · ".join(
        [rows[tr("by", lang)], rows[tr("period", lang)], rows[tr("span", lang)],
         f"{tr('generated', lang)} {rows[tr('generated', lang)]}"])).font = Font(italic=True, color="666666")
    for j, key in enumerate(columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=j, value=header(key, lang))
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for i, rec in enumerate(table[columns].itertuples(index=False, name=None), start=HEADER_ROW + 1):
        for j, (key, value) in enumerate(zip(columns, rec, strict=True), start=1):
            cell = ws.cell(row=i, column=j, value=_value(value) if KINDS[key] != "text" else str(value))
            cell.number_format = _FORMATS[KINDS[key]]
    last = HEADER_ROW + len(table)
    for i, code in enumerate(table["code"].astype(str), start=HEADER_ROW + 1):
        if code == "*":  # the totals (one per period)
            for j in range(1, len(columns) + 1):
                ws.cell(row=i, column=j).font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=3 if "name" in columns else 1).coordinate
    from openpyxl.utils import get_column_letter

    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(columns))}{max(last, HEADER_ROW + 1)}"
    _fit_widths(ws, [header(k, lang) for k in columns], [KINDS[k] for k in columns], HEADER_ROW + 1, last)
    _print_setup(ws, f"{HEADER_ROW}:{HEADER_ROW}")

    params = wb.create_sheet(tr("parameters", lang))
    params.append([tr("parameter", lang), tr("value", lang)])
    for name, value in rows.items():
        params.append([name, value])
    for j in (1, 2):
        cell = params.cell(row=1, column=j)
        cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER
    params.column_dimensions["A"].width = 16
    params.column_dimensions["B"].width = 48
    params.freeze_panes = "A2"

    notes = wb.create_sheet(tr("notes", lang))
    for key in ("note.open", "note.rate", "note.hours", "note.utc", "note.personal"):
        notes.append([tr(key, lang)])
    notes.column_dimensions["A"].width = 100
    wb.properties.title = title
    wb.properties.creator = "gridmap"
    wb.save(path)
