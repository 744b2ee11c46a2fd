"""Print the home map's current view (layers, choropleth, selection) as a PNG or a PDF, drawn on the server."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
from pyproj import Transformer

from app.errors import GridmapError
from app.geo._map_classes import ATTRIBUTES, classes, grid_attributes
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES

if TYPE_CHECKING:  # matplotlib loads with the drawing module, on the first print only
    from app.geo._viewprint_draw import Legend, Scene

__all__ = ["LAYERS", "MAX_SIDE", "MIN_SIDE", "SELECT_KINDS", "View", "ViewError", "parse_view", "render_pdf",
           "render_png"]

#: Layers a view can show (facilities may name categories: ``facilities:bus_stop``).
LAYERS = ("divisions", "committees", "grids", "roads", "facilities")
#: Layers shown when ``layers`` is not given (as the home map opens).
DEFAULT_LAYERS = ("divisions", "committees", "grids", "facilities")
#: What a selection can name, and the layer it is in.
SELECT_KINDS = {"grid": "grids", "committee": "committees", "division": "divisions", "facility": "facilities"}
#: Largest and smallest side of the printed map in pixels (bigger sizes are capped, not refused).
MAX_SIDE = 2400
MIN_SIDE = 200
#: Zoom levels a ``view`` may name.
MAX_ZOOM = 22
_EARTH = 40075016.685578488
#: The CRS the view is drawn in (:data:`app.geo._viewprint_draw.DRAW_CRS`: the web map's Web Mercator).
DRAW_CRS = "EPSG:3857"
_TO_MERC = Transformer.from_crs("EPSG:4326", DRAW_CRS, always_xy=True)
_TEXT = {
    "zh": {"map": "网格地图", "printed": "打印于", "version": "数据版本", "synthetic": "合成数据（虚构，仅供演示）",
           "facilities": "设施", "divisions": "街道（镇）界", "committees": "社区（村）界", "roads": "道路",
           "legend": "图例", "scale": "比例尺", "selected": "选中", "grid": "网格", "committee": "社区（村）",
           "division": "街道（镇）", "facility": "设施", "north": "北"},
    "en": {"map": "grid map", "printed": "printed", "version": "data version", "synthetic": "Synthetic data (invented, demo only)",
           "facilities": "Facilities", "divisions": "Division boundary", "committees": "Committee boundary",
           "roads": "Roads", "legend": "Legend", "scale": "Scale", "selected": "Selected", "grid": "Grid",
           "committee": "Committee", "division": "Division", "facility": "Facility", "north": "N"},
}


class ViewError(GridmapError):
    """A print request names a bad parameter (bbox, view, size, layers, attr, sel or lang)."""

    default_status = 400
    default_key = "viewprint"


@dataclass(frozen=True)
class View:
    """The view to print.

    Attributes
    ----------
    bbox : tuple of float
        ``(min_lon, min_lat, max_lon, max_lat)`` in WGS84.
    size : tuple of int
        The map's width and height in pixels (capped to :data:`MAX_SIDE`).
    layers : tuple of str
        Shown layers of :data:`LAYERS`.
    categories : tuple of str or None
        Facility categories shown (None: all of them, when ``facilities`` is a layer).
    attr : str
        The choropleth's attribute (a key of ``mapdata.ATTRIBUTES``).
    selection : tuple of str or None
        ``(kind, code)`` of the selected feature (kind of :data:`SELECT_KINDS`).
    lang : str
        ``zh`` or ``en``.
    """

    bbox: tuple[float, float, float, float]
    size: tuple[int, int] = (1200, 800)
    layers: tuple[str, ...] = DEFAULT_LAYERS
    categories: tuple[str, ...] | None = None
    attr: str = "population"
    selection: tuple[str, str] | None = None
    lang: str = "zh"


def _floats(name: str, raw: str, n: int, sep: str) -> list[float]:
    parts = raw.split(sep)
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise ViewError(f"parameter {name} must be {n} numbers separated by {sep!r}, got {raw!r}", parameter=name)
    return vals


def _bbox_of_view(raw: str, size: tuple[int, int]) -> tuple[float, float, float, float]:
    z, lat, lon = _floats("view", raw, 3, "/")
    if not (0 <= z <= MAX_ZOOM and -85 <= lat <= 85 and -180 <= lon <= 180):
        raise ViewError(f"parameter view must be zoom/lat/lon with zoom 0-{MAX_ZOOM}, got {raw!r}", parameter="view")
    res = _EARTH / (256 * 2 ** z)
    cx, cy = _TO_MERC.transform(lon, lat)
    hw, hh = size[0] / 2 * res, size[1] / 2 * res
    x0, y0 = _TO_MERC.transform(cx - hw, cy - hh, direction="INVERSE")
    x1, y1 = _TO_MERC.transform(cx + hw, cy + hh, direction="INVERSE")
    return float(x0), float(y0), float(x1), float(y1)


def parse_view(args: Mapping[str, str]) -> View:
    """Read a view from the share link's query parameters.

    Parameters
    ----------
    args : mapping
        ``bbox`` (min_lon,min_lat,max_lon,max_lat) or ``view`` (zoom/lat/lon), ``size`` (WxH),
        ``layers`` (comma list; ``facilities:cat1:cat2`` limits categories), ``attr``,
        ``sel`` (kind:code), ``lang`` and ``datum`` (``gcj02`` when the view was on AMap tiles).

    Returns
    -------
    View
        The view; sizes above :data:`MAX_SIDE` are capped.

    Raises
    ------
    ViewError
        Naming the bad parameter (``parameter`` in the JSON body).
    """
    size = (1200, 800)
    if args.get("size"):
        w, h = _floats("size", args["size"].lower(), 2, "x")
        if w < 1 or h < 1:
            raise ViewError(f"parameter size must be positive WxH, got {args['size']!r}", parameter="size")
        size = (int(min(max(w, MIN_SIDE), MAX_SIDE)), int(min(max(h, MIN_SIDE), MAX_SIDE)))
    if args.get("bbox"):
        x0, y0, x1, y1 = _floats("bbox", args["bbox"], 4, ",")
        if not (-180 <= x0 < x1 <= 180 and -85 <= y0 < y1 <= 85):
            raise ViewError(f"parameter bbox must be min_lon,min_lat,max_lon,max_lat, got {args['bbox']!r}",
                            parameter="bbox")
        bbox = (x0, y0, x1, y1)
    elif args.get("view"):
        bbox = _bbox_of_view(args["view"], size)
    else:
        raise ViewError("parameter bbox or view is required", parameter="bbox")
    layers, cats = list(DEFAULT_LAYERS), None
    if args.get("layers") is not None:
        layers, cats = [], None
        for item in (p.strip() for p in args["layers"].split(",") if p.strip()):
            name, _, rest = item.partition(":")
            if name not in LAYERS:
                raise ViewError(f"parameter layers names an unknown layer {name!r}; expected {', '.join(LAYERS)}",
                                parameter="layers")
            if name == "facilities" and rest:
                bad = [c for c in rest.split(":") if c not in CATEGORIES]
                if bad:
                    raise ViewError(f"parameter layers names an unknown category {bad[0]!r}", parameter="layers")
                cats = (*(cats or ()), *rest.split(":"))
            if name not in layers:
                layers.append(name)
    attr = args.get("attr") or "population"
    if attr not in ATTRIBUTES:
        raise ViewError(f"parameter attr names an unknown attribute {attr!r}", parameter="attr")
    sel = None
    if args.get("sel"):
        kind, _, code = args["sel"].partition(":")
        if kind not in SELECT_KINDS or not code:
            raise ViewError(f"parameter sel must be kind:code with kind {', '.join(SELECT_KINDS)}, got {args['sel']!r}",
                            parameter="sel")
        sel = (kind, code)
    lang = args.get("lang") or "zh"
    if lang not in _TEXT:
        raise ViewError(f"parameter lang must be zh or en, got {lang!r}", parameter="lang")
    datum = args.get("datum") or "wgs84"
    if datum not in ("wgs84", "gcj02"):
        raise ViewError(f"parameter datum must be wgs84 or gcj02, got {datum!r}", parameter="datum")
    if datum == "gcj02":  # a view on AMap tiles: back to WGS84 (one step of the inverse: metres off at most)
        from app.geo.crs import _gcj_delta

        xs, ys = np.array([bbox[0], bbox[2]], float), np.array([bbox[1], bbox[3]], float)
        dx, dy = _gcj_delta(xs, ys)
        bbox = (float(xs[0] - dx[0]), float(ys[0] - dy[0]), float(xs[1] - dx[1]), float(ys[1] - dy[1]))
    return View(bbox, size, tuple(layers), cats, attr, sel, lang)


def _layer(ds: Dataset, name: str) -> gpd.GeoDataFrame | None:
    if name == "roads" and "roads" not in ds.store.layer_names():
        return None

    def build() -> gpd.GeoDataFrame:
        gdf = ds.layer(name)
        return gdf.to_crs(DRAW_CRS) if gdf.crs is not None else gdf.set_crs("EPSG:4326").to_crs(DRAW_CRS)

    return ds.cached(f"viewprint.{name}", build)


def _clip(gdf: gpd.GeoDataFrame, ext: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = ext
    return gdf.cx[x0:x1, y0:y1]


def _extent(view: View) -> tuple[float, float, float, float]:
    """The view in Web Mercator, widened so that its shape is the map's pixel shape (as Leaflet shows it)."""
    x0, y0 = _TO_MERC.transform(view.bbox[0], view.bbox[1])
    x1, y1 = _TO_MERC.transform(view.bbox[2], view.bbox[3])
    w, h = view.size
    res = max((x1 - x0) / w, (y1 - y0) / h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - res * w / 2, cy - res * h / 2, cx + res * w / 2, cy + res * h / 2


def _class_label(a: float, b: float, discrete: bool) -> str:
    return f"{a:,.0f}" if discrete or a == b else f"{a:,.0f} – {b:,.0f}"


def _scene(ds: Dataset, view: View, legend: Legend) -> Scene:
    from app.geo._viewprint_draw import Scene, mercator_factor

    t = _TEXT[view.lang]
    ext = _extent(view)
    lat = (view.bbox[1] + view.bbox[3]) / 2
    scene = Scene(ext, mercator_factor(lat))
    if "grids" in view.layers:
        grids = _clip(_layer(ds, "grids"), ext).copy()
        spec = classes(ds)[view.attr]
        breaks, colours = spec["breaks"], spec["colors"]
        values = grid_attributes(ds)[view.attr].reindex(grids["code"].astype(str)).fillna(0).to_numpy(float)
        idx = np.clip(np.searchsorted(np.asarray(breaks[1:-1], float), values, side="right"), 0, len(colours) - 1)
        grids["colour"] = [colours[i] for i in idx]
        scene.grids = grids
        a = ATTRIBUTES[view.attr]
        legend.title = f"{a.en} ({a.unit_en})" if view.lang == "en" else f"{a.zh}（{a.unit_zh}）"
        discrete = bool(spec.get("discrete"))
        if discrete:
            legend.classes = [(_class_label(b, b, True), c) for b, c in zip(breaks, colours, strict=False)]
        else:
            legend.classes = [(_class_label(breaks[i], breaks[i + 1], False), c) for i, c in enumerate(colours)]
    if "roads" in view.layers:
        roads = _layer(ds, "roads")
        if roads is not None:
            scene.roads = _clip(roads, ext)
            legend.lines.append((t["roads"], "#9a9a9a", 1.2))
    for name in ("committees", "divisions"):
        if name in view.layers:
            scene.outlines.append((name, _clip(_layer(ds, name), ext)))
            legend.lines.append((t[name], "#303030" if name == "divisions" else "#555555",
                                 2.0 if name == "divisions" else 1.2))
    if "facilities" in view.layers:
        fac = _clip(_layer(ds, "facilities"), ext)
        cats = view.categories or tuple(CATEGORIES)
        for key in cats:
            c = CATEGORIES[key]
            mine = fac[fac["category"].astype(str) == key]
            scene.facilities.append((c.color, mine))
            if len(mine):
                legend.symbols.append((c.en if view.lang == "en" else c.zh, c.color))
    if view.selection is not None:
        kind, code = view.selection
        layer = _layer(ds, SELECT_KINDS[kind])
        col = "id" if kind == "facility" and "id" in layer.columns else "code"
        hit = layer[layer[col].astype(str) == code]
        if hit.empty:
            raise ViewError(f"parameter sel names no {kind} with the code {code!r}", parameter="sel")
        scene.selection = hit.iloc[:1]
        name = str(hit.iloc[0].get("name") or code)
        scene.selection_label = name
        legend.lines.append((f"{t['selected']}：{t[kind]} {name}" if view.lang == "zh"
                             else f"{t['selected']}: {t[kind]} {name}", "#00b4d8", 3.0))
    return scene


def _title(ds: Dataset, view: View, tz: str) -> tuple[str, str]:
    t = _TEXT[view.lang]
    city = ds.city.title(view.lang) or str(ds.metadata.get("name", ""))
    a = ATTRIBUTES[view.attr]
    what = f"{t['map']} · {a.en if view.lang == 'en' else a.zh}" if "grids" in view.layers else t["map"]
    try:
        now = datetime.now(ZoneInfo(tz))
    except Exception:  # an unknown zone name: print in UTC, and say so
        now = datetime.now(UTC)
    stamp = (f"{now.year}年{now.month}月{now.day}日 {now:%H:%M}" if view.lang == "zh" else f"{now:%d %B %Y %H:%M}")
    sub = f"{t['printed']} {stamp} · {t['version']} {ds.version}"
    if ds.city.synthetic or ds.metadata.get("synthetic") is True:
        sub += f" · {t['synthetic']}"
    return f"{city} {what}", sub


def _font() -> Path:
    from app.geo.report import find_cjk_font

    return find_cjk_font()


def render_png(ds: Dataset, view: View, tz: str = "Asia/Shanghai", font: Path | None = None) -> bytes:
    """Draw the view with title, legend, scale bar and north arrow as a PNG.

    Parameters
    ----------
    ds : Dataset
        The data version.
    view : View
        What to draw.
    tz : str
        IANA time zone of the printed time.
    font : Path, optional
        CJK font (found with ``report.find_cjk_font`` when omitted).

    Returns
    -------
    bytes
        The PNG.

    Raises
    ------
    ViewError
        When the selection names no feature.
    """
    from app.geo._viewprint_draw import Legend, full_png

    legend = Legend()
    scene = _scene(ds, view, legend)
    title, sub = _title(ds, view, tz)
    return full_png(scene, view.size, font or _font(), view.lang, title, sub, legend)


def render_pdf(ds: Dataset, view: View, tz: str = "Asia/Shanghai", font: Path | None = None) -> bytes:
    """Draw the view on an A4 landscape page (the map image, title, legend and scale as PDF text).

    Parameters
    ----------
    ds, view, tz, font
        As for :func:`render_png`.

    Returns
    -------
    bytes
        The PDF, with the CJK font embedded (subset).
    """
    from app.geo._viewprint_draw import Legend, map_image, scale_length
    from app.geo._viewprint_pdf import page

    legend = Legend()
    scene = _scene(ds, view, legend)
    title, sub = _title(ds, view, tz)
    f = font or _font()
    w, h = view.size  # drawn 800 points wide whatever the screen, so that labels keep their size on the page
    image = map_image(scene, (800, max(1, round(800 * h / w))), f, view.lang, dpi=300)
    t = _TEXT[view.lang]
    metres_label = scale_length(scene)[1]
    return page(f, title, sub, image, view.size, legend, f"{t['scale']}: {metres_label}", t["legend"])
