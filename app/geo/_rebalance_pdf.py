"""The rebalancing report as PDF: the figures before and after, the two maps side by side, the table per grid."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import matplotlib
import pandas as pd

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from app.geo._pdf_base import set_up, title_band  # noqa: E402
from app.geo._report_map import _frame, _north_arrow, _scale_bar, png  # noqa: E402
from app.geo._report_pdf import ReportPdf, heading, key_values, num, para, table  # noqa: E402
from app.geo.rebalance import RebalanceResult, band_text  # noqa: E402
from app.geo.rebalance_export import reason_text, summary_rows, t  # noqa: E402

__all__ = ["build_pdf", "render_maps"]

_IN, _LOW, _HIGH = "#66bd63", "#fdae61", "#d73027"


def _colour(hh: float, band: tuple[int, int]) -> str:
    return _LOW if hh < band[0] else _HIGH if hh > band[1] else _IN


def render_maps(result: RebalanceResult, font: Path, lang: str = "zh", dpi: int = 150) -> bytes:
    """The current grids and the proposal side by side as a PNG, coloured by band, each grid labelled with its households."""
    fp = FontProperties(fname=str(font))
    crs = "EPSG:4326"
    plans_crs = result.grids.crs or crs
    metric = None
    try:
        from app.geo.schema import metric_crs_for

        metric = metric_crs_for(tuple(result.before.total_bounds))
    except Exception:  # noqa: BLE001 - an empty scope draws in degrees
        metric = plans_crs
    sides = [(t("before", lang), result.before), (t("after", lang), result.after)]
    frames = [gpd.GeoDataFrame(df, geometry="geometry", crs=plans_crs).to_crs(metric) for _, df in sides]
    x0, y0, x1, y1 = frames[0].total_bounds
    aspect = min(max((y1 - y0) / max(x1 - x0, 1.0), 0.5), 1.6)
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.7 * aspect + 0.9), dpi=dpi)
    fp_t = fp.copy()
    fp_t.set_size(10)
    fp_l = fp.copy()
    fp_l.set_size(5.5 if max(len(f) for f in frames) > 30 else 7)
    for ax, (title, _), gdf in zip(axes, sides, frames, strict=True):
        colours = [_colour(float(h), result.band) for h in gdf["households"]]
        gdf.plot(ax=ax, color=colours, edgecolor="#1d3557", linewidth=0.6)
        for geom, hh in zip(gdf.geometry.values, gdf["households"], strict=True):
            p = geom.representative_point()
            ax.text(p.x, p.y, str(int(hh)), ha="center", va="center", fontproperties=fp_l,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        _frame(ax, (x0, y0, x1, y1))
        ax.set_title(f"{title}（{len(gdf)}）" if lang != "en" else f"{title} ({len(gdf)})", fontproperties=fp_t)
        _scale_bar(ax, fp, size=6.5)
    _north_arrow(axes[1], fp, lang)
    fp_g = fp.copy()
    fp_g.set_size(8)
    lo, hi = result.band
    handles = [Patch(facecolor=_IN, edgecolor="#1d3557", label=f"{lo}–{hi}"),
               Patch(facecolor=_LOW, edgecolor="#1d3557", label=f"< {lo}"),
               Patch(facecolor=_HIGH, edgecolor="#1d3557", label=f"> {hi}")]
    fig.legend(handles=handles, loc="lower center", ncol=3, prop=fp_g, frameon=False,
               title=t("band", lang), title_fontproperties=fp_g)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return png(fig, dpi, tight=False)


def build_pdf(result: RebalanceResult, lang: str = "zh", tz: str = "Asia/Shanghai") -> bytes:
    """The report: title and verdict, the figures before and after, the reasons, both maps, the table per grid.

    Raises
    ------
    app.geo.report.ReportError
        When no CJK font is installed.
    """
    from app.geo.report import find_cjk_font

    lang = "en" if lang == "en" else "zh"
    font = find_cjk_font()
    title = t("title", lang)
    scope = f"{result.scope_name}（{result.scope[1]}）" if lang != "en" else f"{result.scope_name} ({result.scope[1]})"
    city = result.city_name
    pdf = ReportPdf(f"{city} · {title} · {scope}", lang)
    set_up(pdf, f"{title} · {scope}", lang, font)
    pdf.add_page()
    title_band(pdf)
    pdf.set_y(16)
    pdf.set_font("cjk", size=20)
    pdf.multi_cell(0, 10, f"{title}：{scope}" if lang != "en" else f"{title}: {scope}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=11)
    pdf.set_text_color(90)
    band = band_text(result.band)
    pdf.cell(0, 7, f"{city} · {t('band', lang)} {band}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(2)
    verdict = ("全部新网格户数在范围内。" if result.met else "未能使全部网格落在范围内；下面是找到的最好方案及原因。") \
        if lang != "en" else ("Every new grid lies in the band." if result.met else
                              "The band cannot be met for every grid; shown is the best found, and why.")
    para(pdf, verdict, size=10)
    for reason in result.reasons():
        para(pdf, "· " + reason_text(reason, lang), size=8.5, colour=80)
    pdf.ln(2)
    heading(pdf, t("sheet.summary", lang), keep=40)
    rows = summary_rows(result, lang, tz=tz)
    key_values(pdf, [(a, f"{b} → {c}" if b and c else (b or c)) for a, b, c in rows[:7]] + [
        (a, b or c) for a, b, c in rows[7:]], label_w=60)
    pdf.add_page()
    heading(pdf, f"{t('before', lang)} / {t('after', lang)}", keep=0)
    image = render_maps(result, font, lang)
    pdf.image(io.BytesIO(image), w=pdf.epw)
    pdf.ln(3)
    heading(pdf, t("sheet.grids", lang), keep=30)
    df = result.table()
    yes, no = t("yes", lang), t("no", lang)

    def flag(v: object) -> str:
        return "" if v is None or v is pd.NA else (yes if bool(v) else no)

    cols = [("code", t("code", lang), 34, str), ("name", t("name", lang), 34, str),
            ("households_before", t("households_before", lang), 18, num),
            ("residents_before", t("residents_before", lang), 18, num),
            ("in_band_before", t("in_band_before", lang), 16, flag),
            ("households_after", t("households_after", lang), 18, num),
            ("residents_after", t("residents_after", lang), 18, num),
            ("in_band_after", t("in_band_after", lang), 16, flag),
            ("miss_after", t("miss_after", lang), 18, num)]
    scale = pdf.epw / sum(c[2] for c in cols)
    table(pdf, df, [(k, h, w * scale, f) for k, h, w, f in cols], size=7)
    return bytes(pdf.output())
