"""The coverage report as a PDF: parameters, a static map, tables by committee, underserved grids and a chart."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import matplotlib

from app.errors import GridmapError

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from fpdf import FPDF  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from app.geo.coverage import CoverageResult  # noqa: E402
from app.geo.schema import CATEGORIES  # noqa: E402

#: Debian package that provides the CJK font the report embeds.
FONT_PACKAGE = "fonts-noto-cjk"
#: Where Debian's fonts-noto-cjk puts the font (looked up with fc-match first).
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
#: Face of the Noto CJK collection with Simplified Chinese glyph shapes.
_SC_FACE = 2
#: How many underserved grids the report lists.
MAX_UNDERSERVED_ROWS = 40


class ReportError(GridmapError, RuntimeError):
    """The report cannot be made (for example, the CJK font is not installed)."""

    default_status = 503
    default_key = "report"


def find_cjk_font() -> Path:
    """Locate the Noto Sans CJK font, asking fontconfig first and then known paths.

    Returns
    -------
    Path
        The font collection file (``.ttc``).

    Raises
    ------
    ReportError
        When no CJK font is installed; the message says which package to install.
    """
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:style=Regular"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and "CJK" in Path(out).name and Path(out).exists():
            return Path(out)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    raise ReportError(
        f"no CJK font found for the PDF report; install Debian's {FONT_PACKAGE} "
        f"(apt-get install -y {FONT_PACKAGE})"
    )


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _pct(v: object) -> str:
    return "" if _missing(v) else f"{float(v):.1f}%"


def _num(v: object, digits: int = 0) -> str:
    return "" if _missing(v) else f"{float(v):,.{digits}f}"


def _nice_length(span: float) -> float:
    """A round scale-bar length about a fifth of ``span`` metres."""
    target = span / 5
    exp = 10 ** np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * exp <= target:
            return float(m * exp)
    return float(exp)


def render_map(result: CoverageResult, font: Path, dpi: int = 150) -> bytes:
    """Draw the coverage map as a PNG: grids by residents share, the service area, legend and scale bar.

    Parameters
    ----------
    result : CoverageResult
        The result to draw.
    font : Path
        CJK font file for the labels.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
        PNG image.
    """
    fp = FontProperties(fname=str(font))
    crs = result.metric_crs
    gdf = result.geodataframe("grid").to_crs(crs)
    fig, ax = plt.subplots(figsize=(7.2, 6.0), dpi=dpi)
    cmap = plt.get_cmap("RdYlGn")
    gdf.plot(column="residents_pct", ax=ax, cmap=cmap, vmin=0, vmax=100, edgecolor="#555555", linewidth=0.25,
             missing_kwds={"color": "#dddddd", "edgecolor": "#999999", "linewidth": 0.25})
    area = result.service_area(crs)
    if not area.is_empty:
        import geopandas as gpd

        s = gpd.GeoSeries([area], crs=crs)
        if area.geom_type in ("Polygon", "MultiPolygon"):
            s.plot(ax=ax, facecolor="none", edgecolor="#1f3b99", linewidth=0.6, hatch="////", alpha=0.5)
        else:
            s.plot(ax=ax, color="#1f3b99", linewidth=0.5, alpha=0.7)
    under = gdf[gdf["below_target"]]
    if len(under):
        under.boundary.plot(ax=ax, color="#b00020", linewidth=1.0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    x0, y0, x1, y1 = gdf.total_bounds
    pad = 0.03 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    bar = _nice_length(x1 - x0)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.03
    ax.plot([bx, bx + bar], [by, by], color="black", linewidth=3, solid_capstyle="butt")
    ax.plot([bx, bx + bar / 2], [by, by], color="white", linewidth=1.5, solid_capstyle="butt")
    label = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
    ax.text(bx + bar / 2, by + (y1 - y0) * 0.015, label, ha="center", va="bottom", fontsize=8, fontproperties=fp)
    ax.annotate("N", xy=(0.96, 0.97), xytext=(0.96, 0.88), xycoords="axes fraction", ha="center",
                arrowprops={"arrowstyle": "-|>", "color": "black"}, fontsize=10)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 100))
    cb = fig.colorbar(sm, ax=ax, shrink=0.6, pad=0.01)
    cb.set_label("居民覆盖率 residents within reach (%)", fontproperties=fp, fontsize=8)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="none", edgecolor="#1f3b99", hatch="////",
                     label="服务范围 service area" if result.params.mode == "straight" else "步行可达道路 reached roads"),
               Line2D([], [], color="#b00020", linewidth=1.2, label="低于目标 below target"),
               Patch(facecolor="#dddddd", edgecolor="#999999", label="无居民 no residents")]
    ax.legend(handles=handles, loc="upper left", prop=fp, fontsize=7, framealpha=0.85)
    return _png(fig, dpi)


def render_chart(result: CoverageResult, font: Path, dpi: int = 150) -> bytes:
    """Bar chart of the residents share by committee, with the target line, as a PNG."""
    fp = FontProperties(fname=str(font))
    com = result.table("committee")
    com = com[com["residents"] > 0].sort_values("residents_pct")
    fig, ax = plt.subplots(figsize=(7.2, max(2.5, 0.16 * len(com) + 1.0)), dpi=dpi)
    colors = np.where(com["below_target"], "#d9534f", "#5cb85c")
    ax.barh(range(len(com)), com["residents_pct"], color=colors)
    ax.set_yticks(range(len(com)), com["name"], fontproperties=fp, fontsize=6)
    ax.set_xlim(0, 100)
    ax.set_xlabel("居民覆盖率 residents within reach (%)", fontproperties=fp, fontsize=8)
    if result.params.target_pct is not None:
        ax.axvline(result.params.target_pct, color="#333333", linestyle="--", linewidth=0.8)
        ax.text(result.params.target_pct, len(com) - 0.5, f" 目标 {result.params.target_pct:g}%",
                fontproperties=fp, fontsize=7, va="bottom")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig, dpi)


def _png(fig: plt.Figure, dpi: int) -> bytes:
    """Lay out a figure, close it and return it as PNG bytes."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


class _Pdf(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=7)
        self.set_text_color(120)
        self.cell(0, 6, f"gridmap 覆盖分析报告 · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)


def _heading(pdf: FPDF, text: str) -> None:
    _line(pdf, text, size=11, height=7)


def _line(pdf: FPDF, text: str, size: float, height: float = 6) -> None:
    """One line of text across the page, then move to the next line."""
    pdf.set_font("cjk", size=size)
    pdf.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, df: pd.DataFrame, columns: list[tuple[str, str, float, Callable[[object], str]]]) -> None:
    pdf.set_font("cjk", size=7)
    pdf.set_fill_color(230, 236, 245)
    for _, label, width, _ in columns:
        pdf.cell(width, 6, label, border=1, align="C", fill=True)
    pdf.ln()
    for i, (_, row) in enumerate(df.iterrows()):
        if pdf.will_page_break(5):
            pdf.add_page()
        fill = i % 2 == 1
        pdf.set_fill_color(248, 248, 248)
        for key, _, width, fmt in columns:
            text = fmt(row[key])
            pdf.cell(width, 5, text, border=1, align="L" if key in ("name", "code", "committee_name", "division_name") else "R",
                     fill=fill)
        pdf.ln()


def build_pdf(result: CoverageResult, progress: Callable[[str], None] | None = None) -> bytes:
    """Build the PDF report.

    Parameters
    ----------
    result : CoverageResult
        The coverage result.
    progress : callable, optional
        Called with short progress messages.

    Returns
    -------
    bytes
        The PDF, with the Noto Sans CJK SC font embedded (subset).
    """
    say = progress or (lambda msg: None)
    font = find_cjk_font()
    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.set_title("覆盖分析报告 Coverage report")
    pdf.set_creator("gridmap")
    kwargs = {"collection_font_number": _SC_FACE} if font.suffix.lower() == ".ttc" else {}
    pdf.add_font("cjk", fname=str(font), **kwargs)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    p = result.params
    city = result.summary()
    names = "、".join(CATEGORIES[c].zh for c in p.categories)
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 10, f"{names}覆盖分析报告", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(90)
    pdf.cell(0, 6, f"Coverage report: {' + '.join(CATEGORIES[c].en for c in p.categories)}, {p.radius_m:g} m, "
                   f"{'straight line' if p.mode == 'straight' else 'walking'}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(2)
    pdf.set_font("cjk", size=9)
    rows = [
        ("设施类别 categories", names + f" ({', '.join(p.categories)})"),
        ("服务半径 radius", f"{p.radius_m:g} m"),
        ("距离模式 mode", (f"直线距离 straight line ({result.metric_crs})" if p.mode == "straight"
                          else f"步行路网距离 walking along roads ({result.metric_crs})")),
        ("目标 target", "无 none" if p.target_pct is None else f"居民覆盖率 {'>' if p.strict else '≥'} {p.target_pct:g}%"),
        ("数据版本 data version", result.data_version),
        ("计算时间 computed (UTC)", result.computed_at),
        ("全市居民覆盖率 residents within reach", f"{_pct(city['residents_pct'])}  ({_num(city['residents_covered'])} / {_num(city['residents'])})"),
        ("全市面积覆盖率 area within reach", _pct(city["area_pct"])),
        ("距离 均值/中位/P90/最大 distance",
         " / ".join(_num(city[k]) + " m" for k in ("dist_mean_m", "dist_median_m", "dist_p90_m", "dist_max_m"))),
        ("设施数 facilities", _num(city["facilities"])),
        ("未达标网格 grids below target", str(len(result.underserved()))),
    ]
    if "capacity" in city:
        rows.append(("车位 / 每百户车位 spaces / per 100 households",
                     f"{_num(city['capacity'])} / {_num(city['spaces_per_100_households'], 2)}"))
    for k, v in rows:
        pdf.cell(78, 5.5, k, border="B")
        pdf.cell(0, 5.5, v, border="B", new_x="LMARGIN", new_y="NEXT")
    say("drawing the map")
    pdf.ln(3)
    _heading(pdf, "覆盖地图 Coverage map")
    pdf.image(io.BytesIO(render_map(result, font)), w=170)

    say("writing the tables")
    pdf.add_page()
    _heading(pdf, "按社区/村汇总 Summary by committee")
    com = result.table("committee").sort_values("residents_pct", na_position="last")
    cols = [("name", "社区/村", 32, str), ("division_name", "街道/镇", 22, str),
            ("residents", "居民", 16, _num), ("residents_pct", "居民覆盖", 17, _pct),
            ("area_pct", "面积覆盖", 17, _pct), ("dist_mean_m", "平均距离m", 17, _num),
            ("dist_p90_m", "P90距离m", 17, _num), ("facilities", "设施", 12, _num),
            ("below_target", "低于目标", 16, lambda v: "是" if v else "")]
    if "capacity" in com:
        cols.insert(-1, ("spaces_per_100_households", "每百户车位", 16, lambda v: _num(v, 1)))
        cols[0] = ("name", "社区/村", 26, str)
        cols[1] = ("division_name", "街道/镇", 18, str)
    _table(pdf, com, cols)

    pdf.ln(4)
    under = result.underserved()
    _heading(pdf, "未达标网格（按未覆盖居民排序）Grids below target, most residents not covered first")
    if p.target_pct is None:
        _line(pdf, "未设目标 No target set.", size=9)
    elif under.empty:
        _line(pdf, "所有网格均达标 Every grid meets the target.", size=9)
    else:
        shown = under.head(MAX_UNDERSERVED_ROWS)
        _table(pdf, shown, [("code", "网格编码", 34, str), ("name", "网格", 36, str),
                            ("committee_name", "社区/村", 28, str), ("residents", "居民", 16, _num),
                            ("residents_uncovered", "未覆盖", 16, _num), ("residents_pct", "居民覆盖", 17, _pct),
                            ("area_pct", "面积覆盖", 17, _pct), ("dist_p90_m", "P90距离m", 16, _num)])
        if len(under) > len(shown):
            more = len(under) - len(shown)
            _line(pdf, f"另有 {more} 个网格未列出（完整名单见 Excel 导出）。 {more} more in the Excel export.", size=8)
    say("drawing the chart")
    pdf.add_page()
    _heading(pdf, "各社区/村居民覆盖率 Residents within reach by committee")
    pdf.image(io.BytesIO(render_chart(result, font)), w=170)
    pdf.set_font("cjk", size=7)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4, _method_note(result))
    return bytes(pdf.output())


def _method_note(result: CoverageResult) -> str:
    if result.params.mode == "straight":
        area = "面积覆盖：网格内距设施直线距离不超过半径的面积（精确计算）。Area: exact area within the radius."
    else:
        area = ("面积覆盖：网格内规则采样点中步行距离不超过半径的比例。步行距离 = 点到最近道路的垂直距离 + 路网最短路径。"
                " Area: share of lattice sample points within walking reach; walking distance = perpendicular access "
                "leg to the nearest road + shortest path along the network.")
    return ("口径 Method: 居民覆盖率按门牌地址登记居民数加权；距离为居民加权的平均值、中位数、90%分位数与最大值。"
            " Residents share and distances are weighted by registered residents per address. " + area)


def write_pdf(result: CoverageResult, path: str | Path, progress: Callable[[str], None] | None = None) -> Path:
    """Write the PDF report to ``path`` (see :func:`build_pdf`)."""
    path = Path(path)
    path.write_bytes(build_pdf(result, progress))
    return path
