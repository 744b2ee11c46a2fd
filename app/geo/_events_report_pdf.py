"""The event statistics PDF: a cover with the key figures and parameters, a per-grid share map, the table, notes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.geo._events_report_text import header, parameter_rows, tr
from app.geo._pdf_base import set_up, title_band
from app.geo._report_pdf import ReportPdf, heading, key_values, num, para, pct, table

if TYPE_CHECKING:
    from pathlib import Path

    from app.geo.dataset import Dataset

#: How many table rows the PDF lists (the XLSX has them all).
MAX_ROWS = 400
#: Share classes of the map (upper bound %, colour), as the home map's palette.
SHARE_COLOURS: tuple[str, ...] = ("#fff5d6", "#fdd08a", "#f99d59", "#e0603a", "#a8261f")
NO_EVENTS = "#e6e6e6"


def _rate(v: object) -> str:
    return pct(None if v is None else float(v) * 100) if v is not None else ""


def render(events: pd.DataFrame, rows: pd.DataFrame, spec: Any, ds: Dataset | None, city: str) -> bytes:
    """Return the PDF of the report rows (:func:`app.geo.events_report.report_table`), CJK font embedded."""
    from app.geo.report import find_cjk_font

    lang = spec.lang
    font = find_cjk_font()
    title = tr("title", lang, city=city) if city else tr("title_plain", lang)
    pdf = ReportPdf(title, lang)
    set_up(pdf, title, lang, font)
    pdf.add_page()
    title_band(pdf)
    pdf.set_y(20)
    pdf.set_font("cjk", size=20)
    pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    params = parameter_rows(spec, city)
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(90)
    pdf.cell(0, 6, " · ".join(v for _, v in params[1:4]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)
    _key_figures(pdf, events, lang)
    pdf.ln(3)
    heading(pdf, tr("parameters", lang))
    key_values(pdf, params, label_w=40)
    if ds is not None and len(events):
        png = _share_map(events, ds, font, lang)
        if png:
            from PIL import Image

            with Image.open(io.BytesIO(png)) as img:
                height = pdf.epw * img.height / img.width
            heading(pdf, tr("map", lang), keep=height)  # the heading goes with the map to the next page
            pdf.image(io.BytesIO(png), x=pdf.l_margin, w=pdf.epw)
    heading(pdf, tr("table", lang))
    shown = rows.head(MAX_ROWS) if len(rows) <= MAX_ROWS else pd.concat([rows.head(MAX_ROWS - 1), rows.tail(1)])
    if rows.empty:
        para(pdf, tr("no_events", lang))
    else:
        cols = [("name", header("name", lang), 34 if spec.period else 58, str)]
        if spec.period:
            cols.append(("period", header("period", lang), 24, str))
        # counts 14 mm wide: English "Overdue" broke mid-word at 12
        cols += [(k, header(k, lang), 14, lambda v: num(v)) for k in ("total", "open", "overdue", "closed")]
        cols += [("on_time_rate", header("on_time_rate", lang), 16, _rate),
                 ("mean_hours_to_close", header("mean_hours_to_close", lang), 26, lambda v: num(v, 1)),
                 ("p90_hours_to_close", header("p90_hours_to_close", lang), 26, lambda v: num(v, 1))]
        table(pdf, shown, cols, size=7)
        if len(rows) > MAX_ROWS:
            para(pdf, tr("rows_cut", lang, n=MAX_ROWS), size=8, colour=90)
    pdf.ln(3)
    for key in ("note.open", "note.rate", "note.hours", "note.utc", "note.personal"):
        para(pdf, tr(key, lang), size=8, colour=90)
    return bytes(pdf.output())


def _key_figures(pdf: ReportPdf, events: pd.DataFrame, lang: str) -> None:
    """One row of boxes: events, open, overdue, closed, on-time rate, mean and P90 time to close."""
    from app.geo._events_stats import statistics

    stats = statistics(events, by="all")
    rec = stats.iloc[0].to_dict() if len(stats) else {}
    figures = [(header("total", lang), num(rec.get("total", 0))), (header("open", lang), num(rec.get("open", 0))),
               (header("overdue", lang), num(rec.get("overdue", 0))),
               (header("closed", lang), num(rec.get("closed", 0))),
               (header("on_time_rate", lang), _rate(rec.get("on_time_rate")) or "–"),
               (header("mean_hours_to_close", lang), num(rec.get("mean_hours_to_close"), 1) or "–"),
               (header("p90_hours_to_close", lang), num(rec.get("p90_hours_to_close"), 1) or "–")]
    w = pdf.epw / len(figures)
    y = pdf.get_y()
    for i, (label, value) in enumerate(figures):
        x = pdf.l_margin + i * w
        pdf.set_fill_color(240, 243, 248)
        pdf.rect(x + 0.5, y, w - 1, 18, style="F")
        pdf.set_xy(x + 0.5, y + 2)
        pdf.set_font("cjk", size=13)
        pdf.cell(w - 1, 7, value, align="C")
        pdf.set_xy(x + 0.5, y + 10)
        pdf.set_font("cjk", size=6.5)
        pdf.set_text_color(90)
        pdf.multi_cell(w - 1, 3, label, align="C")
        pdf.set_text_color(0)
    pdf.set_xy(pdf.l_margin, y + 20)


def _share_map(events: pd.DataFrame, ds: Dataset, font: Path, lang: str) -> bytes | None:
    """Two small maps side by side: the open share and the overdue share per grid (grey: no events)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Patch

    from app.geo._events_stats import grid_shares

    try:
        grids = ds.grids.to_crs(ds.metric_crs)
    except Exception:  # noqa: BLE001 - a city whose grids cannot be projected gets no map
        return None
    shares = grid_shares(events, ds, "grid").set_index("code")
    codes = grids["code"].astype(str)
    fp = FontProperties(fname=str(font))
    core = _core(grids)
    fig, axes = plt.subplots(2 if core else 1, 2, figsize=(7.2, 8.0 if core else 4.2), dpi=150, squeeze=False)
    bins = np.array([0.2, 0.4, 0.6, 0.8])
    for row, box in enumerate((None, core) if core else (None,)):
        for ax, attr in zip(axes[row], ("open_share", "overdue_share"), strict=True):
            values = shares[attr].reindex(codes).to_numpy(dtype=float)
            colours = [NO_EVENTS if not np.isfinite(v) else
                       SHARE_COLOURS[int(np.searchsorted(bins, v, side="right"))] for v in values]
            grids.plot(ax=ax, color=colours, edgecolor="#8a96a3", linewidth=0.2 if box is None else 0.4)
            ax.set_axis_off()
            ax.set_aspect("equal")
            title = tr("map_open" if attr == "open_share" else "map_overdue", lang)
            if box is not None:
                ax.set_xlim(box[0], box[2])
                ax.set_ylim(box[1], box[3])
                title += " · " + tr("map_core", lang)
            ax.set_title(title, fontproperties=fp, fontsize=9)
    labels = ["0–20%", "20–40%", "40–60%", "60–80%", "80–100%"]
    handles = [Patch(facecolor=c, edgecolor="#666666", label=lb) for c, lb in zip(SHARE_COLOURS, labels, strict=True)]
    handles.append(Patch(facecolor=NO_EVENTS, edgecolor="#666666", label=tr("no_events", lang).strip("（）()")))
    small = fp.copy()
    small.set_size(7)
    fig.legend(handles=handles, loc="lower center", ncol=6, prop=small, frameon=False)
    fig.tight_layout(rect=(0, 0.05 if core else 0.07, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    return buf.getvalue()


def _core(grids: Any) -> tuple[float, float, float, float] | None:
    """The extent of the smaller half of the grids (the dense core), when it is a small part of the city; else None."""
    if len(grids) < 20:
        return None
    area = grids.geometry.area.to_numpy(float)
    x0, y0, x1, y1 = grids[area <= np.quantile(area, 0.5)].total_bounds
    X0, Y0, X1, Y1 = grids.total_bounds
    if (x1 - x0) > 0.6 * (X1 - X0) or (y1 - y0) > 0.6 * (Y1 - Y0):
        return None
    pad = 0.03 * max(x1 - x0, y1 - y0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad
