"""The PDF report's pages: the cover, the map, the tables with repeating headers, the chart and the method."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fpdf import FPDF
from fpdf.enums import TextEmphasis
from fpdf.fonts import FontFace

from app.geo._coverage_params import CoverageError
from app.geo._coverage_results import records_of
from app.geo._report_map import render_chart, render_map
from app.geo._report_text import (
    category_name,
    document_name,
    find_preset,
    local_date,
    requirements_of,
    standard_text,
    standards_of,
    tr,
)
from app.geo.coverage import CoverageResult

#: How many underserved grids the report lists.
MAX_UNDERSERVED_ROWS = 40
#: Levels a report can be made for, besides the whole city.
UNIT_LEVELS = ("committee", "division")
_HEAD_FILL = (226, 233, 243)
_LEFT_KEYS = {"name", "code", "committee_name", "division_name", "missing"}


@dataclass
class Scope:
    """What one report covers: the whole city, or one committee or division.

    Attributes
    ----------
    level : str or None
        None for the whole city, else ``committee`` or ``division``.
    code, name : str
        The unit's code and name ("" for the city).
    summary : dict
        The unit's row (the city row for the whole city).
    grid_codes : set of str or None
        The grids inside the unit (None: every grid).
    breakdown : DataFrame
        The rows the summary table lists: committees (city, division) or grids (committee).
    underserved : DataFrame
        The unit's grids below the target, the most residents not within reach first.
    """

    level: str | None
    code: str
    name: str
    summary: dict[str, Any]
    grid_codes: set[str] | None
    breakdown: pd.DataFrame
    underserved: pd.DataFrame


def scope_of(result: CoverageResult, unit: tuple[str, str] | None) -> Scope:
    """The :class:`Scope` of a report: ``unit=None`` for the city, or ``(level, code)``.

    Raises
    ------
    CoverageError
        When the level is not ``committee``/``division`` or no unit has the code.
    """
    under = result.underserved()
    if unit is None:
        com = result.table("committee").sort_values("residents_pct", na_position="last")
        return Scope(None, "", "", result.summary(), None, com, under)
    level, code = unit[0], str(unit[1])
    if level not in UNIT_LEVELS:
        raise CoverageError(f"a report is made for a committee or a division, not {level!r}")
    table = result.table(level)
    row = table[table["code"].astype(str) == code]
    if row.empty:
        raise CoverageError(f"no {level} has the code {code!r}")
    grids = result.table("grid")
    mine = grids[grids[f"{level}_code"].astype(str) == code]
    codes = set(mine["code"].astype(str))
    if level == "division":
        com = result.table("committee")
        breakdown = com[com["division_code"].astype(str) == code]
    else:
        breakdown = mine
    breakdown = breakdown.sort_values("residents_pct", na_position="last")
    summary = records_of(row)[0]
    return Scope(level, code, str(summary.get("name") or code), summary, codes, breakdown,
                 under[under["code"].astype(str).isin(codes)].reset_index(drop=True))


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pct(v: object) -> str:
    """A share in percent with one decimal (blank when missing)."""
    return "" if _missing(v) else f"{float(v):.1f}%"


def num(v: object, digits: int = 0) -> str:
    """A number with thousands separators (blank when missing)."""
    return "" if _missing(v) else f"{float(v):,.{digits}f}"


class ReportPdf(FPDF):
    """An A4 page with the report's footer (city, report name, page n of N) in one language."""

    def __init__(self, footer_text: str, lang: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.lang = lang

    def footer(self) -> None:
        """Print the footer line."""
        self.set_y(-12)
        self.set_font("cjk", size=7)
        self.set_text_color(120)
        self.cell(0, 6, f"{self.footer_text} · {tr('page', self.lang, n=self.page_no(), total='{nb}')}", align="C")
        self.set_text_color(0)


def heading(pdf: FPDF, text: str, keep: float = 30) -> None:
    """A section heading that starts a new page unless ``keep`` mm fit under it."""
    if pdf.will_page_break(8 + keep):
        pdf.add_page()
    pdf.set_font("cjk", size=12)
    pdf.set_text_color(20, 40, 90)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


def para(pdf: FPDF, text: str, size: float = 9, colour: int = 0) -> None:
    """A paragraph across the page."""
    pdf.set_font("cjk", size=size)
    pdf.set_text_color(colour)
    pdf.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


Column = tuple[str, str, float, Callable[[object], str]]


def table(pdf: FPDF, df: pd.DataFrame, columns: list[Column], size: float = 7.5) -> None:
    """A table with fpdf2's table API; its header row is repeated at the top of every page it runs onto."""
    pdf.set_font("cjk", size=size)
    head = FontFace(emphasis=TextEmphasis.NONE, fill_color=_HEAD_FILL, size_pt=size)
    align = tuple("LEFT" if key in _LEFT_KEYS else "RIGHT" for key, *_ in columns)
    # the widths are fractions of the page; their sum may overshoot the effective width by a rounding
    # error, which fpdf2 refuses, so the table is never wider than the page
    width = min(sum(w for _, _, w, _ in columns), pdf.epw)
    with pdf.table(col_widths=tuple(w for _, _, w, _ in columns), width=width,
                   text_align=align, headings_style=head, repeat_headings=1, line_height=size * 0.6,
                   cell_fill_color=(247, 247, 247), cell_fill_mode="ROWS", padding=(0.8, 1.2),
                   borders_layout="SINGLE_TOP_LINE", align="LEFT") as t:
        row = t.row()
        for _, label, _, _ in columns:
            row.cell(label, align="CENTER")
        for rec in records_of(df[[k for k, *_ in columns if k in df]]):
            row = t.row()
            for key, _, _, fmt in columns:
                row.cell(fmt(rec.get(key)))


def key_values(pdf: FPDF, rows: list[tuple[str, str]], label_w: float = 62) -> None:
    """Two-column rows: a label and its value (each may wrap), each row ruled underneath."""
    pdf.set_font("cjk", size=9)
    value_w = pdf.w - pdf.l_margin - pdf.r_margin - label_w
    for k, v in rows:
        h = max(pdf.multi_cell(label_w, 5.5, k, dry_run=True, output="HEIGHT"),
                pdf.multi_cell(value_w, 5.5, v, dry_run=True, output="HEIGHT"))
        if pdf.will_page_break(h):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_text_color(80)
        pdf.multi_cell(label_w, 5.5, k, align="L", new_x="RIGHT", new_y="TOP")
        pdf.set_text_color(0)
        pdf.multi_cell(value_w, 5.5, v, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(200)
        pdf.line(pdf.l_margin, y + h, pdf.w - pdf.r_margin, y + h)
        pdf.set_draw_color(0)
        pdf.set_xy(pdf.l_margin, y + h + 0.6)


def analysis_name(result: CoverageResult, lang: str) -> str:
    """The analysis as a title: the preset's name when the parameters follow one, the distance and the mode."""
    p = result.params
    preset = find_preset(p)
    mode = tr(p.mode, lang)
    if getattr(p, "requirements", ()):
        return p.label(lang) if preset is None else f"{preset.en if lang == 'en' else preset.zh} · {mode}"
    if preset is not None:
        return f"{preset.en if lang == 'en' else preset.zh} · {p.radius_m:g} m · {mode}"
    sep = " + " if lang == "en" else "、"
    return f"{sep.join(category_name(c, lang) for c in p.categories)} · {p.radius_m:g} m · {mode}"


def cover(pdf: ReportPdf, result: CoverageResult, scope: Scope, city: str, lang: str, tz: str) -> None:
    """Page 1: the city, the analysis, the local date and the key figures, then the parameters."""
    pdf.add_page()
    pdf.set_fill_color(20, 40, 90)
    pdf.rect(0, 0, pdf.w, 6, style="F")
    pdf.set_y(28)
    pdf.set_font("cjk", size=11)
    pdf.set_text_color(90)
    pdf.cell(0, 7, tr("report", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font("cjk", size=24)
    title = tr("title", lang, city=city) if scope.level is None else tr("title_unit", lang, unit=scope.name)
    pdf.multi_cell(0, 12, title, new_x="LMARGIN", new_y="NEXT")
    if scope.level is not None:
        pdf.set_font("cjk", size=13)
        pdf.cell(0, 8, city, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=15)
    pdf.set_text_color(20, 40, 90)
    pdf.multi_cell(0, 9, analysis_name(result, lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, f"{tr('date', lang)}: {local_date(result.computed_at, tz, lang)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.set_text_color(90)
    pdf.cell(0, 6, f"{tr('version', lang)}: {result.data_version}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(8)
    _key_figures(pdf, result, scope, lang)
    pdf.ln(6)
    heading(pdf, tr("parameters", lang))
    key_values(pdf, parameter_rows(result, scope, lang, tz))
    preset = find_preset(result.params)
    reqs = requirements_of(result.params, preset, lang)
    if reqs:
        pdf.ln(3)
        heading(pdf, tr("requirements", lang))
        df = pd.DataFrame({"name": [category_name(c, lang) for c, _, _ in reqs],
                           "distance": [f"{d:g} m" for _, d, _ in reqs],
                           "residents_pct": [scope.summary.get(f"pct_{c}") for c, _, _ in reqs],
                           "code": [src for _, _, src in reqs]})
        table(pdf, df, [("name", tr("kind", lang), 40, str), ("distance", tr("distance", lang), 22, str),
                        ("residents_pct", tr("residents_pct", lang), 28, pct),
                        ("code", tr("source", lang), 90, str)], size=8)
    entries = standards_of(preset)
    if entries:
        pdf.ln(3)
        heading(pdf, tr("standards", lang), keep=15)
        for e in entries:
            name = tr("gridmap_choice", lang) if e.gridmap_choice else document_name(e.document, lang)
            clause = e.clause if lang != "en" or e.clause.isascii() else ""
            para(pdf, f"{name}{' ' + clause if clause else ''}", size=8.5)
            para(pdf, e.en if lang == "en" else e.zh, size=8, colour=80)
            pdf.ln(1)


def _key_figures(pdf: FPDF, result: CoverageResult, scope: Scope, lang: str) -> None:
    """Four boxes with the headline numbers."""
    s = scope.summary
    under = len(scope.underserved) if result.params.target_pct is not None else None
    figures = [(tr("residents_pct", lang), pct(s.get("residents_pct"))),
               (tr("residents_uncovered", lang), num(s.get("residents_uncovered"))),
               (tr("area_pct", lang), pct(s.get("area_pct"))),
               (tr("grids_below", lang), "–" if under is None else str(under))]
    w = (pdf.w - pdf.l_margin - pdf.r_margin - 3 * 4) / 4
    y = pdf.get_y()
    for i, (label, value) in enumerate(figures):
        x = pdf.l_margin + i * (w + 4)
        pdf.set_fill_color(240, 244, 250)
        pdf.rect(x, y, w, 24, style="F")
        pdf.set_xy(x, y + 3)
        pdf.set_font("cjk", size=17)
        pdf.cell(w, 10, value or "–", align="C")
        pdf.set_xy(x, y + 14)
        pdf.set_font("cjk", size=8)
        pdf.set_text_color(80)
        pdf.cell(w, 6, label, align="C")
        pdf.set_text_color(0)
    pdf.set_xy(pdf.l_margin, y + 24)


def parameter_rows(result: CoverageResult, scope: Scope, lang: str, tz: str) -> list[tuple[str, str]]:
    """The parameters and the whole summary as (label, value) rows, in one language."""
    p = result.params
    s = scope.summary
    preset = find_preset(p)
    if p.target_pct is None:
        target = tr("no_target", lang)
    else:
        rule_key = "target_each" if getattr(p, "requirements", ()) else "target_rule"
        target = tr(rule_key, lang, rule=">" if p.strict else "≥", pct=f"{p.target_pct:g}")
    rows = [
        (tr("categories", lang), "、".join(category_name(c, lang) for c in p.categories) if lang != "en"
         else ", ".join(category_name(c, lang) for c in p.categories)),
        *([] if getattr(p, "requirements", ()) else [(tr("radius", lang), f"{p.radius_m:g} m")]),
        (tr("mode", lang), tr(p.mode, lang)),
        (tr("crs", lang), result.metric_crs),
        (tr("target", lang), target),
        (tr("standard", lang), standard_text(preset, lang)),
        (tr("computed", lang), local_date(result.computed_at, tz, lang, with_time=True)),
        (tr("residents_pct", lang), f"{pct(s.get('residents_pct'))}  "
         f"({tr('of', lang, a=num(s.get('residents_covered')), b=num(s.get('residents')))})"),
        (tr("distances", lang), " / ".join(num(s.get(k)) + " m" for k in
                                           ("dist_mean_m", "dist_median_m", "dist_p90_m", "dist_max_m"))),
        (tr("facilities", lang), num(s.get("facilities"))),
    ]
    if scope.level is not None:
        rows.insert(0, (tr("unit", lang), f"{scope.name} ({scope.code})"))
    if "capacity" in s:
        rows.append((tr("parking", lang), f"{num(s.get('capacity'))} / {num(s.get('spaces_per_100_households'), 1)}"))
    return rows


def map_page(pdf: FPDF, result: CoverageResult, scope: Scope, font: Path, lang: str) -> None:
    """The coverage map on a page of its own."""
    pdf.add_page()
    heading(pdf, tr("map", lang) if scope.level is None else tr("map_unit", lang, unit=scope.name), keep=0)
    png = render_map(result, font, lang, grid_codes=scope.grid_codes)
    pdf.image(io.BytesIO(png), w=pdf.w - pdf.l_margin - pdf.r_margin)


def tables(pdf: FPDF, result: CoverageResult, scope: Scope, lang: str) -> None:
    """The summary by committee (or by grid) and the underserved grids."""
    pdf.add_page()
    by_grid = scope.level == "committee"
    heading(pdf, tr("by_grid" if by_grid else "by_committee", lang))
    kinds = [c for c, _ in getattr(result.params, "requirements", ()) if f"pct_{c}" in scope.breakdown]
    narrow = 0.75 if kinds else 1.0
    first = ([("code", tr("col_code", lang), 28, str), ("name", tr("col_grid", lang), 30 * narrow, str)] if by_grid
             else [("name", tr("col_committee", lang), 32 * narrow, str),
                   ("division_name", tr("col_division", lang), 24 * narrow, str)])
    cols: list[Column] = [*first, ("residents", tr("col_residents", lang), 16, num),
                          ("residents_pct", tr("col_res_pct", lang), 15, pct),
                          ("area_pct", tr("col_area_pct", lang), 15, pct)]
    if not kinds:
        cols.append(("dist_mean_m", tr("col_mean", lang), 18, num))
    cols += [("dist_p90_m", tr("col_p90", lang), 17, num), ("facilities", tr("col_fac", lang), 15, num)]
    if "spaces_per_100_households" in scope.breakdown:
        cols.append(("spaces_per_100_households", tr("col_parking", lang), 18, lambda v: num(v, 1)))
    cols += [(f"pct_{c}", category_name(c, lang), 19, pct) for c in kinds]
    if result.params.target_pct is not None:
        cols.append(("below_target", tr("col_below", lang), 14, lambda v: tr("yes", lang) if v else ""))
    _fit(cols, pdf.w - pdf.l_margin - pdf.r_margin)
    table(pdf, scope.breakdown, cols)

    pdf.ln(5)
    heading(pdf, tr("underserved", lang))
    under = scope.underserved
    each = bool(getattr(result.params, "requirements", ()))
    if result.params.target_pct is None and not each:
        para(pdf, tr("no_target_set", lang))
        return
    if under.empty:
        para(pdf, tr("all_meet", lang))
        return
    shown = under.head(MAX_UNDERSERVED_ROWS)
    ucols: list[Column] = [("code", tr("col_code", lang), 27, str), ("name", tr("col_grid", lang), 28, str),
                           ("committee_name", tr("col_committee", lang), 22, str),
                           ("residents", tr("col_residents", lang), 16, num),
                           ("residents_uncovered", tr("col_uncovered", lang), 16, num),
                           ("residents_pct", tr("col_res_pct", lang), 17, pct),
                           ("dist_p90_m", tr("col_p90", lang), 17, num)]
    if each and "missing" in shown:
        sep = "、" if lang != "en" else ", "
        ucols.append(("missing", tr("col_missing", lang), 48,
                      lambda v: sep.join(category_name(str(k), lang) for k in (v or []))))
    else:
        ucols.append(("area_pct", tr("col_area_pct", lang), 17, pct))
    _fit(ucols, pdf.w - pdf.l_margin - pdf.r_margin)
    table(pdf, shown, ucols)
    if len(under) > len(shown):
        pdf.ln(1)
        para(pdf, tr("more_rows", lang, n=len(under) - len(shown)), size=8, colour=90)


def _fit(cols: list[Column], width: float) -> None:
    """Shrink the columns in place when together they are wider than the page."""
    total = sum(c[2] for c in cols)
    if total > width:
        cols[:] = [(k, label, w * width / total, f) for k, label, w, f in cols]


def chart_page(pdf: FPDF, result: CoverageResult, scope: Scope, font: Path, lang: str) -> None:
    """The bar chart of the residents share per unit, then the method note."""
    pdf.add_page()
    heading(pdf, tr("chart_grid" if scope.level == "committee" else "chart", lang), keep=0)
    png = render_chart(scope.breakdown, font, lang, result.params.target_pct)
    pdf.image(io.BytesIO(png), w=pdf.w - pdf.l_margin - pdf.r_margin)
    pdf.ln(4)
    heading(pdf, tr("method", lang), keep=15)
    text = tr("method_text", lang) + " " + tr(f"method_{result.params.mode}", lang)
    if requirements_of(result.params, find_preset(result.params)):
        text += " " + tr("method_each", lang)
    para(pdf, text, size=8, colour=60)
