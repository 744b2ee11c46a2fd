"""The printed view's figure: the visible layers in Web Mercator, the selection, legend, scale bar and north arrow."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from app.geo._report_map import _length_label, _north_arrow, nice_length  # noqa: E402

#: The CRS the printed view is drawn in: the web map's own (Web Mercator), so that the print matches the screen.
DRAW_CRS = "EPSG:3857"
#: Colour of the selected feature's outline.
SELECT_COLOUR = "#00b4d8"
_STYLE = {"divisions": ("#303030", 1.6), "committees": ("#555555", 1.0), "grids": ("#777777", 0.35)}


@dataclass
class Legend:
    """What the legend lists: choropleth classes (label, colour), facility symbols (label, colour), lines."""

    title: str = ""
    classes: list[tuple[str, str]] = field(default_factory=list)
    symbols: list[tuple[str, str]] = field(default_factory=list)
    lines: list[tuple[str, str, float]] = field(default_factory=list)


@dataclass
class Scene:
    """Everything drawn, already clipped to the view and in :data:`DRAW_CRS`.

    Attributes
    ----------
    extent : tuple of float
        ``(minx, miny, maxx, maxy)`` of the view in Web Mercator metres.
    ground_factor : float
        True metres per Web Mercator metre at the view's centre (cos of the latitude).
    grids : GeoDataFrame or None
        Grids with a ``colour`` column (None when the grid layer is hidden).
    outlines : list of (layer, GeoDataFrame)
        Boundary layers drawn as lines.
    roads : GeoDataFrame or None
        Roads, when shown.
    facilities : list of (colour, GeoDataFrame)
        Facility points per category.
    selection : GeoDataFrame or None
        The selected feature.
    selection_label : str
        Its name, written next to it.
    """

    extent: tuple[float, float, float, float]
    ground_factor: float
    grids: gpd.GeoDataFrame | None = None
    outlines: list[tuple[str, gpd.GeoDataFrame]] = field(default_factory=list)
    roads: gpd.GeoDataFrame | None = None
    facilities: list[tuple[str, gpd.GeoDataFrame]] = field(default_factory=list)
    selection: gpd.GeoDataFrame | None = None
    selection_label: str = ""


def scale_length(scene: Scene) -> tuple[float, str]:
    """The scale bar's ground length in metres and its label (``1 km``, ``500 m``)."""
    span = (scene.extent[2] - scene.extent[0]) * scene.ground_factor
    metres = nice_length(span)
    return metres, _length_label(metres)


def _scale_bar(ax: Axes, scene: Scene, fp: FontProperties) -> None:
    metres, label = scale_length(scene)
    fp_s = fp.copy()
    fp_s.set_size(9)
    width = scene.extent[2] - scene.extent[0]
    sb = AnchoredSizeBar(ax.transData, metres / scene.ground_factor, label, "lower left", pad=0.4, borderpad=0.6,
                         sep=3, color="black", frameon=True, size_vertical=width * 0.005, fontproperties=fp_s,
                         label_top=False)
    sb.patch.set_facecolor("white")
    sb.patch.set_alpha(0.85)
    sb.patch.set_edgecolor("#999999")
    ax.add_artist(sb)


def _draw(ax: Axes, scene: Scene, fp: FontProperties, lang: str) -> None:
    ax.set_facecolor("#f7f7f4")
    if scene.grids is not None and len(scene.grids):
        scene.grids.plot(ax=ax, color=scene.grids["colour"].tolist(), edgecolor=_STYLE["grids"][0],
                         linewidth=_STYLE["grids"][1], alpha=0.8)
    if scene.roads is not None and len(scene.roads):
        scene.roads.plot(ax=ax, color="#9a9a9a", linewidth=0.9, zorder=2)
    for layer, gdf in scene.outlines:
        if len(gdf):
            colour, width = _STYLE[layer]
            gdf.boundary.plot(ax=ax, color=colour, linewidth=width, zorder=3)
    for colour, gdf in scene.facilities:
        if len(gdf):
            ax.scatter(gdf.geometry.x, gdf.geometry.y, s=22, c=colour, edgecolors="white", linewidths=0.7, zorder=5)
    if scene.selection is not None and len(scene.selection):
        sel = scene.selection
        if sel.geom_type.iloc[0] == "Point":
            ax.scatter(sel.geometry.x, sel.geometry.y, s=160, facecolors="none", edgecolors=SELECT_COLOUR,
                       linewidths=2.5, zorder=7)
        else:
            sel.boundary.plot(ax=ax, color="white", linewidth=5.0, zorder=6)
            sel.boundary.plot(ax=ax, color=SELECT_COLOUR, linewidth=3.0, zorder=7)
        if scene.selection_label:
            p = sel.geometry.iloc[0].representative_point()
            fp_l = fp.copy()
            fp_l.set_size(10)
            ax.text(p.x, p.y, scene.selection_label, fontproperties=fp_l, ha="center", va="center", zorder=8,
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": SELECT_COLOUR, "alpha": 0.9})
    x0, y0, x1, y1 = scene.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, scene, fp)
    _north_arrow(ax, fp, lang)


def _legend_handles(legend: Legend) -> list[Any]:
    handles: list[Any] = [Patch(facecolor=c, edgecolor="#777777", label=label) for label, c in legend.classes]
    handles += [Line2D([], [], color=c, linewidth=w, label=label) for label, c, w in legend.lines]
    handles += [Line2D([], [], linestyle="none", marker="o", markersize=6, markerfacecolor=c, markeredgecolor="white",
                       label=label) for label, c in legend.symbols]
    return handles


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def map_image(scene: Scene, size: tuple[int, int], font: Path, lang: str, dpi: int = 100) -> bytes:
    """The map alone (layers, selection, scale bar, north arrow) as a PNG of ``size`` pixels at ``dpi``/100 scale."""
    w, h = size
    scale = dpi / 100
    fig = Figure(figsize=(w / 100, h / 100), dpi=dpi)  # no pyplot: safe in the server's threads
    ax = fig.add_axes((0, 0, 1, 1))
    _draw(ax, scene, FontProperties(fname=str(font)), lang)
    return _png(fig, int(100 * scale))


def full_png(scene: Scene, size: tuple[int, int], font: Path, lang: str, title: str, subtitle: str,
             legend: Legend) -> bytes:
    """The map with a title band above and the legend below, as a PNG (the map part is ``size`` pixels)."""
    w, h = size
    handles = _legend_handles(legend)
    ncol = max(1, min(len(handles), max(2, w // 170)))
    rows = math.ceil(len(handles) / ncol) if handles else 0
    top, bottom = 62, (34 + 22 * rows if handles else 10)
    H = h + top + bottom
    fig = Figure(figsize=(w / 100, H / 100), dpi=100)
    fp = FontProperties(fname=str(font))
    fig.text(0.012, 1 - 10 / H, title, fontproperties=fp, fontsize=15, va="top", ha="left")
    fig.text(0.012, 1 - 40 / H, subtitle, fontproperties=fp, fontsize=9, va="top", ha="left", color="#444444")
    ax = fig.add_axes((0, bottom / H, 1, h / H))
    _draw(ax, scene, fp, lang)
    for side in ax.spines.values():
        side.set_edgecolor("#888888")
    if handles:
        fp_l = fp.copy()
        fp_l.set_size(9)
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, (bottom - 4) / H), ncol=ncol, prop=fp_l,
                   frameon=False, title=legend.title, title_fontproperties=fp_l, handlelength=1.6, columnspacing=1.2,
                   alignment="left")
    return _png(fig, 100)


def mercator_factor(lat: float) -> float:
    """True metres per Web Mercator metre at latitude ``lat`` (degrees)."""
    return float(np.cos(np.radians(lat)))
