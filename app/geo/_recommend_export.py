"""Site recommendation files: GeoJSON of the chosen sites, an XLSX workbook and a PDF report, in Chinese or English."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from openpyxl import Workbook  # noqa: E402
from openpyxl.styles import Font, PatternFill  # noqa: E402
from openpyxl.utils import get_column_letter  # noqa: E402

from app.geo._pdf_base import set_up  # noqa: E402
from app.geo._recommend_candidates import RecommendError  # noqa: E402
from app.geo._report_map import _north_arrow, _scale_bar  # noqa: E402
from app.geo._report_pdf import ReportPdf, heading, key_values, num, para, pct, table  # noqa: E402
from app.geo.recommend import RecommendResult  # noqa: E402
from app.geo.schema import CATEGORIES  # noqa: E402

#: Output formats and their media types.
MEDIA_TYPES = {"geojson": "application/geo+json", "xlsx":
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}

#: Column headers: key → (zh, en).
HEADERS: dict[str, tuple[str, str]] = {
    "category": ("设施类别", "Facility kind"), "rank": ("序号", "No."), "candidate": ("候选点编号", "Candidate"),
    "name": ("名称", "Name"), "lon": ("经度", "Longitude"), "lat": ("纬度", "Latitude"),
    "grid_code": ("网格编码", "Grid code"), "grid_name": ("所在网格", "Grid"), "code": ("编码", "Code"),
    "committee_name": ("社区", "Committee"), "division_name": ("街道", "Division"),
    "residents_new": ("新增覆盖居民（人）", "Residents newly covered"), "new_sites": ("新增站点", "New sites"),
    "residents": ("居民（人）", "Residents"), "covered_before": ("原覆盖居民", "Covered before"),
    "covered_after": ("新覆盖居民", "Covered after"), "newly_covered": ("新增覆盖", "Newly covered"),
    "pct_before": ("原覆盖率（%）", "Before (%)"), "pct_after": ("新覆盖率（%）", "After (%)"),
    "dist_mean_before_m": ("原平均距离（米）", "Mean distance before (m)"),
    "dist_mean_after_m": ("新平均距离（米）", "Mean distance after (m)"),
    "radius_m": ("服务半径（米）", "Radius (m)"), "uncovered_before": ("原未覆盖居民", "Not covered before"),
    "unreachable_points": ("无法覆盖的居民点", "Demand points out of reach"),
    "unreachable_residents": ("无法覆盖的居民", "Residents out of reach"), "sites": ("新增站点数", "Sites added"),
    "target_pct": ("目标覆盖率（%）", "Target (%)"), "grids_below_before": ("原未达标网格", "Grids below target before"),
    "grids_below_after": ("新未达标网格", "Grids below target after"), "status": ("求解状态", "Solver status"),
    "gap_pct": ("差距上限（%）", "Gap at most (%)"), "solve_s": ("求解时间（秒）", "Solve time (s)"),
    "nothing_uncovered": ("原已全部覆盖", "All covered before"),
}

#: Solver status in words.
STATUS: dict[str, tuple[str, str]] = {
    "optimal": ("最优解", "optimal"), "time_limit": ("达到时限，已找到的最优解", "time limit: best found"),
    "greedy": ("求解器超时，贪心结果", "solver timed out: greedy answer"), "empty": ("无需新增", "nothing to add"),
}

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("{city}新增设施选址建议", "{city}: where to add facilities"),
    "params": ("参数", "Parameters"), "sites": ("推荐站点", "Recommended sites"), "kinds": ("分类汇总", "By kind"),
    "committee": ("按社区", "By committee"), "grid": ("按网格", "By grid"), "map": ("推荐站点分布", "Recommended sites"),
    "method": ("方法说明", "Method"), "figures": ("主要结果", "Key figures"),
    "existing": ("现有设施", "Existing facilities"), "new": ("推荐新增站点", "Recommended new sites"),
    "newly": ("新增覆盖的居民点", "Residents newly covered"),
    "analysis": ("分析", "Analysis"), "objective": ("目标", "Objective"), "mode": ("距离模式", "Distance mode"),
    "candidates": ("候选点", "Candidates"), "data_version": ("数据版本", "Data version"),
    "metric_crs": ("计算坐标系", "Metric CRS"), "computed_at": ("计算时间（UTC）", "Computed at (UTC)"),
    "time_limit": ("求解时限", "Solver time limit"), "solver": ("求解器", "Solver"),
}


def tx(key: str, lang: str, **kw: Any) -> str:
    """One text of the files in ``lang``."""
    return _TEXT[key][lang == "en"].format(**kw)


def format_of(path: str | Path) -> str:
    """The output format from a file name's suffix.

    Raises
    ------
    RecommendError
        For any suffix but ``.geojson``, ``.xlsx`` or ``.pdf``.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MEDIA_TYPES:
        raise RecommendError(f"unknown output format {Path(path).suffix or '(none)'!r}; use .geojson, .xlsx or .pdf")
    return suffix


def notes(result: RecommendResult, lang: str = "zh") -> list[str]:
    """Honest remarks per kind: nothing uncovered, unreachable residents, the time limit and its gap."""
    out = []
    for k in result.kinds():
        name = k["en"] if lang == "en" else k["zh"]
        if k["nothing_uncovered"] and result.params.objective != "pmedian":
            out.append(f"{name}: every resident is already within {k['radius_m']:g} m; no site is needed."
                       if lang == "en" else f"{name}：所有居民已在 {k['radius_m']:g} 米内，无需新增站点。")
        if k["unreachable_points"]:
            out.append(f"{name}: {k['unreachable_points']} demand points ({k['unreachable_residents']} residents) "
                       "are beyond the radius of every candidate." if lang == "en" else
                       f"{name}：{k['unreachable_points']} 个居民点（{k['unreachable_residents']} 人）距所有候选点都超出半径，无法覆盖。")
        if k["status"] == "time_limit":
            gap = ("unknown" if lang == "en" else "未知") if k["gap_pct"] is None else f"≤ {k['gap_pct']:g}%"
            out.append(f"{name}: the solver reached its time limit; the answer is the best found (gap {gap})."
                       if lang == "en" else f"{name}：求解达到时限，结果为已找到的最优解（差距 {gap}）。")
        if k["status"] == "greedy":
            out.append(f"{name}: the solver found no solution in time; the greedy answer is shown."
                       if lang == "en" else f"{name}：求解器未在时限内找到解，显示贪心算法的结果。")
    return out


def parameter_rows(result: RecommendResult, lang: str = "zh") -> list[tuple[str, str]]:
    """The parameters as (label, value) rows."""
    p = result.params
    en = lang == "en"
    obj = {"mclp": ("最大覆盖模型（MCLP）", "Maximal covering (MCLP)"),
           "lscp": ("最少站点全覆盖（LSCP）", "Location set covering (LSCP)"),
           "pmedian": ("最短平均距离（p-中位）", "p-median")}[p.objective][en]
    cand = {"roads": (f"沿道路每 {p.spacing_m:g} 米", f"every {p.spacing_m:g} m along the roads"),
            "addresses": ("地址点", "address points"),
            "file": (f"文件 {p.candidate_file}（{p.crs}）", f"file {p.candidate_file} ({p.crs})")}[p.candidates][en]
    mode = {"straight": ("直线距离", "straight line"), "walk": ("步行路网距离", "walking along roads")}[p.mode][en]
    return [(tx("analysis", lang), p.label(lang)), (tx("objective", lang), obj), (tx("mode", lang), mode),
            (tx("candidates", lang), f"{cand}: {result.candidates_count}"),
            (tx("solver", lang), "spopt + HiGHS"), (tx("time_limit", lang), f"{p.time_limit_s:g} s"),
            (tx("data_version", lang), result.data_version), (tx("metric_crs", lang), result.metric_crs),
            (tx("computed_at", lang), result.computed_at)]


def method_text(result: RecommendResult, lang: str = "zh") -> str:
    """How the sites were chosen, in one paragraph."""
    if lang == "en":
        return ("Demand is the residents at address points (addresses at one place merged). Existing facilities "
                "stay; residents already within reach are not counted again. MCLP picks the sites that newly "
                "cover the most residents; LSCP the fewest sites that cover every resident a candidate can reach; "
                "p-median the sites that cut residents' mean distance to the nearest facility most (a new site "
                "serves residents within the radius). Candidates that reach nobody uncovered are dropped, and "
                "candidates whose reach is inside another's. The model is PySAL spopt's, solved by HiGHS. "
                "Each newly covered resident is counted once, at the nearest new site.")
    return ("需求为地址点上的居民（同一位置的地址合并）。现有设施保持不变，已在服务半径内的居民不重复计算。"
            "最大覆盖模型选择新增覆盖居民最多的站点；最少站点全覆盖选择覆盖所有可达居民所需的最少站点；"
            "p-中位模型选择使居民到最近设施平均距离下降最多的站点（新站点服务半径内的居民）。"
            "不覆盖任何未覆盖居民的候选点、以及覆盖范围被其他候选点包含的候选点在求解前剔除。"
            "模型来自 PySAL spopt，由 HiGHS 求解。每位新增覆盖的居民只计入距其最近的新站点。")


def write(result: RecommendResult, path: str | Path, lang: str = "zh") -> Path:
    """Write the recommendation to ``path``; the suffix (.geojson, .xlsx, .pdf) picks the format."""
    path = Path(path)
    path.write_bytes(to_bytes(result, format_of(path), lang))
    return path


def to_bytes(result: RecommendResult, fmt: str, lang: str = "zh") -> bytes:
    """The recommendation as the bytes of a ``geojson``, ``xlsx`` or ``pdf`` file."""
    if fmt == "geojson":
        return json.dumps(result.geojson(), ensure_ascii=False).encode("utf-8")
    if fmt == "xlsx":
        return _xlsx(result, lang)
    if fmt == "pdf":
        return _pdf(result, lang)
    raise RecommendError(f"unknown output format {fmt!r}; use geojson, xlsx or pdf")


def _cat_names(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    if "category" in df:
        df = df.assign(category=df["category"].map(lambda c: CATEGORIES[c].en if lang == "en" else CATEGORIES[c].zh))
    return df


def _xlsx(result: RecommendResult, lang: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = tx("params", lang)
    for r in parameter_rows(result, lang) + [("", n) for n in notes(result, lang)] + [(tx("method", lang),
                                                                                        method_text(result, lang))]:
        ws.append(list(r))
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 90
    kinds = pd.DataFrame([{k: (STATUS[v][lang == "en"] if k == "status" else v) for k, v in d.items()
                           if k not in ("model", "zh", "en")} for d in result.kinds()])
    sheets = [(tx("sites", lang), result.sites.drop(columns=["x", "y"], errors="ignore")),
              (tx("kinds", lang), kinds), (tx("committee", lang), result.table("committee")),
              (tx("grid", lang), result.table("grid"))]
    for title, df in sheets:
        ws = wb.create_sheet(title)
        df = _cat_names(df, lang)
        ws.append([HEADERS.get(c, (c, c))[lang == "en"] for c in df.columns])
        for row in df.itertuples(index=False):
            ws.append([None if (isinstance(v, float) and np.isnan(v)) else (v.item() if hasattr(v, "item") else v)
                       for v in row])
        for i, c in enumerate(df.columns, start=1):
            ws.cell(1, i).font = Font(bold=True)
            ws.cell(1, i).fill = PatternFill("solid", fgColor="DDE5EE")
            width = max([len(str(HEADERS.get(c, (c, c))[lang == "en"])) * 2] + [len(str(v)) for v in df[c].head(200)])
            ws.column_dimensions[get_column_letter(i)].width = min(40, max(8, width + 2))
        ws.freeze_panes = "A2"
        ws.print_title_rows = "1:1"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _map_png(result: RecommendResult, font: Path, lang: str) -> bytes:
    """The grids, existing facilities, the new sites (numbered) and the newly covered residents."""
    city = result._city
    fp = FontProperties(fname=str(font))
    fig, ax = plt.subplots(figsize=(7.2, 7.6), dpi=150)
    grids = gpd.GeoSeries(city.grid_geom, crs=city.crs)
    grids.plot(ax=ax, facecolor="#f4f4f0", edgecolor="#b8b8b8", linewidth=0.3)
    cats = [r.category for r in result.runs]
    colors = ["#6a1b9a", "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e"]
    handles = []
    for k, run in enumerate(result.runs):
        col = colors[k % len(colors)]
        fxy = city.facility_xy((run.category,))
        name = CATEGORIES[run.category].en if lang == "en" else CATEGORIES[run.category].zh
        if len(fxy):
            ax.scatter(fxy[:, 0], fxy[:, 1], s=6, c="#555555", marker="s", zorder=3)
        if len(run.newly):
            nxy = city_xy(result, run.newly)
            ax.scatter(nxy[:, 0], nxy[:, 1], s=5, c="#ff8f00", alpha=0.6, zorder=2, linewidths=0)
        if len(run.sites):
            ax.scatter(run.sites["x"], run.sites["y"], s=160, c=col, marker="*", edgecolors="white", linewidths=0.8,
                       zorder=5)
            for _, s in run.sites.iterrows():
                ax.annotate(str(s["rank"]), (s["x"], s["y"]), xytext=(6, 5), textcoords="offset points", zorder=6,
                            fontproperties=FontProperties(fname=str(font), size=9, weight="bold"), color=col)
        handles.append(Line2D([], [], marker="*", color=col, markeredgecolor="black", linestyle="",
                              markersize=10, label=f"{tx('new', lang)}：{name}" if lang != "en" else f"New {name}"))
    handles += [Line2D([], [], marker="s", color="#555555", linestyle="", markersize=4, label=tx("existing", lang)),
                Line2D([], [], marker="o", color="#ff8f00", alpha=0.7, linestyle="", markersize=4,
                       label=tx("newly", lang))]
    ax.set_axis_off()
    ax.set_aspect("equal")
    focus = [np.column_stack([r.sites["x"], r.sites["y"]]) for r in result.runs if len(r.sites)]
    focus += [city_xy(result, r.newly) for r in result.runs if len(r.newly)]
    if focus:  # zoom to where the new sites are, with room around them
        pts = np.concatenate(focus)
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        half = max(x1 - x0, y1 - y0, 3000.0) / 2 + 800.0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy - half, cy + half)
    _scale_bar(ax, fp)
    _north_arrow(ax, fp, lang)
    ax.legend(handles=handles, loc="upper left", prop=FontProperties(fname=str(font), size=7), framealpha=0.9)
    del cats
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=150)
    plt.close(fig)
    return buf.getvalue()


def city_xy(result: RecommendResult, df: pd.DataFrame) -> np.ndarray:
    """WGS84 lon/lat columns of ``df`` in the result's metric CRS."""
    s = gpd.GeoSeries(gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326").to_crs(result.metric_crs)
    return np.column_stack([s.x.to_numpy(), s.y.to_numpy()])


def _pdf(result: RecommendResult, lang: str) -> bytes:
    from app.geo.report import find_cjk_font

    font = find_cjk_font()
    ds = result._city.ds
    city = ds.city.title(lang) or ("City" if lang == "en" else "本市")
    title = tx("title", lang, city=city)
    pdf = ReportPdf(title, lang)
    set_up(pdf, title, lang, font)
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    para(pdf, result.params.label(lang), size=11, colour=60)
    pdf.ln(3)
    heading(pdf, tx("figures", lang))
    en = lang == "en"
    rows = []
    for k in result.kinds():
        name = k["en"] if en else k["zh"]
        rows.append((name, (f"{k['sites']} new sites; residents within {k['radius_m']:g} m: {pct(k['pct_before'])} → "
                            f"{pct(k['pct_after'])} (+{num(k['newly_covered'])}); mean distance "
                            f"{num(k['dist_mean_before_m'])} → {num(k['dist_mean_after_m'])} m; grids below target "
                            f"{k['grids_below_before']} → {k['grids_below_after']}") if en else
                     (f"新增 {k['sites']} 处；{k['radius_m']:g} 米内居民 {pct(k['pct_before'])} → {pct(k['pct_after'])}"
                      f"（新增 {num(k['newly_covered'])} 人）；平均距离 {num(k['dist_mean_before_m'])} → "
                      f"{num(k['dist_mean_after_m'])} 米；未达标网格 {k['grids_below_before']} → {k['grids_below_after']}")))
    key_values(pdf, rows, label_w=40)
    for n in notes(result, lang):
        para(pdf, "• " + n, size=9, colour=120)
    pdf.ln(2)
    heading(pdf, tx("params", lang))
    key_values(pdf, parameter_rows(result, lang), label_w=40)
    pdf.add_page()
    heading(pdf, tx("map", lang))
    pdf.image(io.BytesIO(_map_png(result, font, lang)), w=pdf.epw)
    heading(pdf, tx("sites", lang))
    cols = [("rank", HEADERS["rank"][en], 10, lambda v: num(v)), ("category", HEADERS["category"][en], 22, str),
            ("name", HEADERS["candidate"][en] if result.params.candidates != "file" else HEADERS["name"][en], 18, str),
            ("grid_name", HEADERS["grid_name"][en], 34, str),
            ("committee_name", HEADERS["committee_name"][en], 24, str),
            ("lon", HEADERS["lon"][en], 22, lambda v: f"{v:.6f}"), ("lat", HEADERS["lat"][en], 22, lambda v: f"{v:.6f}"),
            ("residents_new", HEADERS["residents_new"][en], 28, lambda v: num(v))]
    table(pdf, _cat_names(result.sites, lang), cols)
    pdf.ln(3)
    heading(pdf, tx("committee", lang))
    com = result.table("committee")
    com = com[com["newly_covered"] > 0].sort_values("newly_covered", ascending=False) if len(com) else com
    short = {"pct_before": ("原覆盖率", "Before"), "pct_after": ("新覆盖率", "After"),
             "dist_mean_after_m": ("新平均距离（米）", "Mean dist. after (m)")}
    cols = [("category", HEADERS["category"][en], 24, str), ("name", HEADERS["name"][en], 22, str),
            ("division_name", HEADERS["division_name"][en], 20, str),
            ("new_sites", HEADERS["new_sites"][en], 16, lambda v: num(v)),
            ("residents", HEADERS["residents"][en], 18, lambda v: num(v)),
            ("pct_before", short["pct_before"][en], 17, pct), ("pct_after", short["pct_after"][en], 17, pct),
            ("newly_covered", HEADERS["newly_covered"][en], 18, lambda v: num(v)),
            ("dist_mean_after_m", short["dist_mean_after_m"][en], 28, lambda v: num(v))]
    table(pdf, _cat_names(com, lang), cols)
    pdf.ln(3)
    heading(pdf, tx("method", lang))
    para(pdf, method_text(result, lang))
    return bytes(pdf.output())
