"""The PDF report's figures: the coverage map with its urban-core inset, and the bar chart by unit."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from app.geo._report_text import (  # noqa: E402
    BELOW_COLOUR,
    NO_DATA_COLOUR,
    SERVICE_COLOUR,
    category_name,
    class_colour,
    class_labels,
    tr,
)
from app.geo.coverage import CoverageResult  # noqa: E402

#: Marker shape per facility kind on the map, in the order the kinds are listed.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_MARKER_COLOURS = ("#2b0a8c", "#000000", "#0047b3", "#6a0080", "#004d40", "#5d4037", "#37474f", "#880e4f")
#: Share of residents whose densest grids make the urban core.
CORE_SHARE = 0.8
#: The inset is drawn only when the core is at most this fraction of the map's width and height.
CORE_MAX_FRACTION = 0.45


def nice_length(span: float) -> float:
    """A round scale-bar length about a fifth of ``span`` metres (1, 2 or 5 times a power of ten)."""
    target = max(span, 1.0) / 5
    exp = 10 ** np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * exp <= target:
            return float(m * exp)
    return float(exp)


def _length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def core_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """The extent of the densest grids that hold :data:`CORE_SHARE` of the residents, or None.

    Grids are ranked by residents per km²; the first that together hold the share are the
    core. None when the grids have no residents, or when the core fills most of the map
    anyway (an inset would show nothing new).
    """
    res = pd.to_numeric(gdf["residents"], errors="coerce").fillna(0).to_numpy(float)
    if res.sum() <= 0:
        return None
    area = np.maximum(gdf.geometry.area.to_numpy(float), 1.0)
    order = np.argsort(-res / area, kind="stable")
    cum = np.cumsum(res[order]) / res.sum()
    take = order[: int(np.searchsorted(cum, CORE_SHARE) + 1)]
    x0, y0, x1, y1 = gdf.iloc[take].total_bounds
    X0, Y0, X1, Y1 = gdf.total_bounds
    if (x1 - x0) > CORE_MAX_FRACTION * (X1 - X0) and (y1 - y0) > CORE_MAX_FRACTION * (Y1 - Y0):
        return None
    pad = 0.04 * max(x1 - x0, y1 - y0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def _facilities(result: CoverageResult, crs: str) -> list[tuple[str, np.ndarray]]:
    """(category, xy in the metric CRS) of the facilities the analysis asked about."""
    city = result._city  # the prepared arrays the result was computed from
    if city is None or city.crs != crs:
        return []
    return [(c, city.fac_xy[city.fac_mask((c,))]) for c in result.params.categories]


def _draw_layers(ax: plt.Axes, gdf: gpd.GeoDataFrame, context: gpd.GeoDataFrame | None, result: CoverageResult,
                 facilities: list[tuple[str, np.ndarray]], fine: bool) -> None:
    """Grids by class, the service area, the below-target outlines and the facility points."""
    if context is not None and len(context):
        context.plot(ax=ax, facecolor="#f2f2f2", edgecolor="#c8c8c8", linewidth=0.2)
    colours = [class_colour(v) for v in gdf["residents_pct"]]
    gdf.plot(ax=ax, color=colours, edgecolor="#666666", linewidth=0.25 if fine else 0.15)
    area = result.service_area(result.metric_crs)
    if not area.is_empty:
        s = gpd.GeoSeries([area], crs=result.metric_crs)
        if area.geom_type in ("Polygon", "MultiPolygon"):
            s.plot(ax=ax, facecolor=SERVICE_COLOUR, alpha=0.08, edgecolor="none")
            s.boundary.plot(ax=ax, color=SERVICE_COLOUR, linewidth=0.8 if fine else 0.5)
        else:
            s.plot(ax=ax, color=SERVICE_COLOUR, linewidth=1.6 if fine else 1.0, alpha=0.9, zorder=4)
    under = gdf[gdf["below_target"].astype(bool)]
    if len(under):
        under.boundary.plot(ax=ax, color=BELOW_COLOUR, linewidth=1.0 if fine else 0.6)
    for i, (_, xy) in enumerate(facilities):
        if len(xy):
            ax.scatter(xy[:, 0], xy[:, 1], s=26 if fine else 12, marker=_MARKERS[i % len(_MARKERS)],
                       c=_MARKER_COLOURS[i % len(_MARKER_COLOURS)], edgecolors="white", linewidths=0.6, zorder=5)


def _frame(ax: plt.Axes, bounds: tuple[float, float, float, float], pad: float = 0.03) -> None:
    x0, y0, x1, y1 = bounds
    p = pad * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - p, x1 + p)
    ax.set_ylim(y0 - p, y1 + p)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")


def _scale_bar(ax: plt.Axes, fp: FontProperties, loc: str = "lower left", size: float = 8) -> None:
    """A scale bar with its length written under it, on a white box (the label never covers the bar)."""
    x0, x1 = ax.get_xlim()
    bar = nice_length(x1 - x0)
    fp_small = fp.copy()
    fp_small.set_size(size)
    sb = AnchoredSizeBar(ax.transData, bar, _length_label(bar), loc, pad=0.4, borderpad=0.6, sep=3,
                         color="black", frameon=True, size_vertical=(x1 - x0) * 0.006, fontproperties=fp_small,
                         label_top=False)
    sb.patch.set_facecolor("white")
    sb.patch.set_alpha(0.85)
    sb.patch.set_edgecolor("#999999")
    ax.add_artist(sb)


def _north_arrow(ax: plt.Axes, fp: FontProperties, lang: str, x: float = 0.95, y: float = 0.96) -> None:
    fp_n = fp.copy()
    fp_n.set_size(10)
    ax.annotate(tr("north", lang), xy=(x, y), xytext=(x, y - 0.09), xycoords="axes fraction",
                textcoords="axes fraction", ha="center", va="top", fontproperties=fp_n,
                arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "color": "black", "lw": 1.4},
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _emptiest_corner(gdf: gpd.GeoDataFrame, bounds: tuple[float, float, float, float]) -> str:
    """The map corner (of lower right, upper left, lower left... ) that the fewest grid centroids fall in."""
    x0, y0, x1, y1 = bounds
    c = gdf.geometry.centroid
    xs, ys = c.x.to_numpy(), c.y.to_numpy()
    mx, my = x0 + (x1 - x0) * 0.5, y0 + (y1 - y0) * 0.5
    counts = {
        "lower right": int(((xs > mx) & (ys < my)).sum()), "upper left": int(((xs < mx) & (ys > my)).sum()),
        "upper right": int(((xs > mx) & (ys > my)).sum()), "lower left": int(((xs < mx) & (ys < my)).sum()),
    }
    return min(counts, key=lambda k: counts[k])


_INSET_AT = {"lower right": (0.52, 0.03), "upper left": (0.03, 0.52), "upper right": (0.52, 0.52),
             "lower left": (0.03, 0.03)}


def render_map(result: CoverageResult, font: Path, lang: str = "zh", grid_codes: set[str] | None = None,
               dpi: int = 150) -> bytes:
    """Draw the coverage map as a PNG: grids in the page's classes, the area within reach, facilities,
    below-target outlines, a scale bar, a north arrow, a legend and an inset of the urban core.

    Parameters
    ----------
    result : CoverageResult
        The result to draw.
    font : Path
        CJK font file for the labels.
    lang : str
        ``zh`` or ``en``.
    grid_codes : set of str, optional
        Draw only these grids in colour (a committee's or division's report); the others are
        grey context.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
        PNG image.
    """
    fp = FontProperties(fname=str(font))
    crs = result.metric_crs
    every = result.geodataframe("grid").to_crs(crs)
    if grid_codes is not None:
        inside = every["code"].astype(str).isin(grid_codes)
        gdf, context = every[inside], every[~inside]
    else:
        gdf, context = every, None
    facilities = _facilities(result, crs)
    bounds = tuple(gdf.total_bounds)
    aspect = min(max((bounds[3] - bounds[1]) / max(bounds[2] - bounds[0], 1.0), 0.55), 1.25)
    map_h, legend_h = 7.1 * aspect, 1.25
    fig = plt.figure(figsize=(7.2, map_h + legend_h), dpi=dpi)
    ax = fig.add_axes((0.01, legend_h / (map_h + legend_h), 0.98, map_h / (map_h + legend_h) * 0.99))
    _draw_layers(ax, gdf, context, result, facilities, fine=False)
    _frame(ax, bounds)
    core = core_bounds(gdf)
    corner = _emptiest_corner(gdf, bounds) if core is not None else None
    if core is not None:
        ax.add_patch(Rectangle((core[0], core[1]), core[2] - core[0], core[3] - core[1], fill=False,
                               edgecolor="black", linewidth=1.0, linestyle="--", zorder=6))
        ix, iy = _INSET_AT[corner]
        ins = ax.inset_axes((ix, iy, 0.45, 0.45))
        _draw_layers(ins, gdf, context, result, facilities, fine=True)
        _frame(ins, core, pad=0.0)
        for side in ins.spines.values():
            side.set_edgecolor("black")
            side.set_linewidth(1.0)
        fp_t = fp.copy()
        fp_t.set_size(8)
        ins.text(0.02, 0.98, tr("core", lang), transform=ins.transAxes, ha="left", va="top", fontproperties=fp_t,
                 bbox={"boxstyle": "square,pad=0.25", "fc": "white", "ec": "#999999", "alpha": 0.9}, zorder=7)
        _scale_bar(ins, fp, loc="lower left", size=7)
    _scale_bar(ax, fp, loc="lower right" if corner == "lower left" else "lower left")
    _north_arrow(ax, fp, lang)
    _legend(fig, result, facilities, lang, fp, with_context=context is not None)
    return png(fig, dpi, tight=False)


def _legend(fig: plt.Figure, result: CoverageResult, facilities: list[tuple[str, np.ndarray]], lang: str,
            fp: FontProperties, with_context: bool) -> None:
    """The legend under the map: the classes in one row, then the other symbols."""
    fp_l = fp.copy()
    fp_l.set_size(7.5)
    classes = [Patch(facecolor=c, edgecolor="#666666", label=label) for label, c in class_labels()]
    classes.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="#666666", label=tr("no_residents", lang)))
    leg1 = fig.legend(handles=classes, loc="lower center", bbox_to_anchor=(0.5, 0.45 / fig.get_figheight()), ncol=len(classes),
                      prop=fp_l, frameon=False, title=tr("legend_classes", lang), title_fontproperties=fp_l,
                      handlelength=1.6, columnspacing=1.0)
    fig.add_artist(leg1)
    service = tr("service_area", lang) if result.params.mode == "straight" else tr("reached_roads", lang)
    area = (Patch(facecolor=SERVICE_COLOUR, alpha=0.3, edgecolor=SERVICE_COLOUR, label=service)
            if result.params.mode == "straight" else Line2D([], [], color=SERVICE_COLOUR, linewidth=1.6, label=service))
    other = [area,
             Line2D([], [], color=BELOW_COLOUR, linewidth=1.4, label=tr("below_target", lang))]
    for i, (cat, _) in enumerate(facilities):
        other.append(Line2D([], [], linestyle="none", marker=_MARKERS[i % len(_MARKERS)], markersize=5,
                            markerfacecolor=_MARKER_COLOURS[i % len(_MARKER_COLOURS)], markeredgecolor="white",
                            label=category_name(cat, lang)))
    if with_context:
        other.append(Patch(facecolor="#f2f2f2", edgecolor="#c8c8c8", label=tr("other_units", lang)))
    fig.legend(handles=other, loc="lower center", bbox_to_anchor=(0.5, 0.02 / fig.get_figheight()), ncol=min(len(other), 5),
               prop=fp_l, frameon=False, handlelength=1.6, columnspacing=1.2)


def render_chart(table: pd.DataFrame, font: Path, lang: str = "zh", target_pct: float | None = None,
                 dpi: int = 150) -> bytes:
    """Bar chart of the residents share per unit (``name``, ``residents_pct``), in the map's classes, as a PNG."""
    fp = FontProperties(fname=str(font))
    df = table[table["residents"] > 0].sort_values("residents_pct")
    fig, ax = plt.subplots(figsize=(7.2, max(2.5, 0.16 * len(df) + 1.0)), dpi=dpi)
    ax.barh(range(len(df)), df["residents_pct"], color=[class_colour(v) for v in df["residents_pct"]],
            edgecolor="#666666", linewidth=0.3)
    fp_y = fp.copy()
    fp_y.set_size(6 if len(df) > 30 else 7)
    ax.set_yticks(range(len(df)), [str(n) for n in df["name"]], fontproperties=fp_y)
    ax.set_ylim(-0.6, len(df) - 0.4)
    ax.set_xlim(0, 100)
    fp_x = fp.copy()
    fp_x.set_size(8)
    ax.set_xlabel(f"{tr('residents_pct', lang)} (%)", fontproperties=fp_x)
    if target_pct is not None:
        ax.axvline(target_pct, color="#333333", linestyle="--", linewidth=0.8)
        ax.text(target_pct, 1.005, f" {tr('target', lang)} {target_pct:g}%", transform=ax.get_xaxis_transform(),
                fontproperties=fp_x, va="bottom", ha="center")
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return png(fig, dpi)


def png(fig: plt.Figure, dpi: int, tight: bool = True) -> bytes:
    """Lay out a figure, close it and return it as PNG bytes."""
    if tight:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
