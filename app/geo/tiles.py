"""Mapbox Vector Tiles of the map layers, cut per data version and zoom (and cut ahead, and before the fork)."""

from __future__ import annotations

import gzip
import logging
import math
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from shapely import STRtree

from app.errors import GridmapError
from app.geo._map_classes import ATTRIBUTES, grid_attributes
from app.geo._map_details import esc
from app.geo._map_topology import check_datum, datum_margin, lonlat_box, shift_geometries
from app.geo._shared_text import shared_list
from app.geo._tiles_cache import DiskTiles, MemoryTiles
from app.geo.dataset import Dataset, release_memory

#: Layers served as tiles.
TILE_LAYERS: tuple[str, ...] = ("divisions", "committees", "grids", "roads")
#: The tile name that carries every layer shown at its zoom, as one MVT layer each, in :data:`DRAW_ORDER`.
ALL = "all"
#: The order of the layers in an :data:`ALL` tile, bottom first (a client draws them in this order).
DRAW_ORDER: tuple[str, ...] = ("grids", "roads", "divisions", "committees")
#: Tile extent (coordinate units across a tile) and the buffer kept around it, in those units.
EXTENT = 4096
BUFFER = 64
#: Pixels a tile is drawn across: 512, so a tile of zoom z shows at map zoom z + 1 (a quarter of the requests).
TILE_PX = 512
#: Map zoom minus tile zoom.
ZOOM_OFFSET = int(math.log2(TILE_PX / 256))
#: Simplification tolerance, in screen pixels.
SIMPLIFY_PX = 0.5
#: Deepest zoom tiles are cut at; the client over-zooms beyond it.
MAX_ZOOM = 16
#: A layer is served from the zoom where its median feature is this many pixels across.
LEGIBLE_PX = 12.0
#: Tiles cut ahead per version and datum after its first tile request (see :func:`warm`).
WARM_TILES = 2048
#: Tiles cut before the server forks (the coarsest of :func:`warm_tiles`): what the home map opens on.
OPENING_TILES = 32
#: Tiles cut ahead between two hand-backs of freed heap (:func:`~app.geo.dataset.release_memory`).
TRIM_EVERY = 64
#: Road kinds drawn below zoom 13 (the others appear from 13).
MAJOR_ROADS = ("arterial", "secondary")

_R = 6378137.0
_WORLD = 2 * math.pi * _R
_log = logging.getLogger(__name__)


class TileError(GridmapError):
    """A tile request names no layer, a zoom out of range or a tile outside the world."""

    default_status = 404
    default_key = "tiles"


def to_mercator(geoms: np.ndarray) -> np.ndarray:
    """Project lon/lat geometries to Web Mercator (EPSG:3857) metres.

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Longitude/latitude geometries.

    Returns
    -------
    ndarray of shapely geometries
        The same geometries in EPSG:3857.
    """

    def fwd(xy: np.ndarray) -> np.ndarray:
        lat = np.clip(xy[:, 1], -85.05112878, 85.05112878)
        return np.column_stack([np.radians(xy[:, 0]) * _R, _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))])

    return shapely.transform(geoms, fwd)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return the EPSG:3857 bounds ``(minx, miny, maxx, maxy)`` of tile ``z/x/y`` (XYZ scheme, y down).

    Parameters
    ----------
    z, x, y : int
        The tile address.

    Returns
    -------
    tuple of float
        The tile's bounds in metres.
    """
    size = _WORLD / (1 << z)
    minx = -_WORLD / 2 + x * size
    maxy = _WORLD / 2 - y * size
    return minx, maxy - size, minx + size, maxy


def check_tile(layer: str, z: int, x: int, y: int) -> None:
    """Refuse an unknown layer or a tile address outside the world or the served zooms.

    Raises
    ------
    TileError
        With status 404 for an unknown layer, 400 for a bad ``z/x/y``.
    """
    if layer not in TILE_LAYERS and layer != ALL:
        raise TileError(f"unknown tile layer {layer!r}; expected one of {', '.join((*TILE_LAYERS, ALL))}")
    if not 0 <= z <= MAX_ZOOM:
        raise TileError(f"zoom {z} out of range 0-{MAX_ZOOM}", status=400)
    if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
        raise TileError(f"tile {z}/{x}/{y} lies outside the world", status=400)


class _Props:
    """A layer's feature properties kept as columns; a feature's dict is made when a tile takes the feature.

    One dict per feature for the whole layer held ~20 MB at 30,650 grids, for the few hundred
    features a tile shows.
    """

    def __init__(self, text: dict[str, list[Any]], numbers: dict[str, np.ndarray] | None = None) -> None:
        self.text = text  # key -> one escaped string per feature (None: the key is left out)
        self.numbers = numbers or {}  # key -> one number per feature (whole numbers as int, others to 3 places)

    def __getitem__(self, i: int) -> dict[str, Any]:
        p: dict[str, Any] = {k: v[i] for k, v in self.text.items() if v[i] is not None}
        for k, v in self.numbers.items():
            p[k] = int(v[i]) if float(v[i]).is_integer() else round(float(v[i]), 3)
        return p

    def __len__(self) -> int:
        return len(next(iter(self.text.values()), ()))


@dataclass
class _Layer:
    """One layer ready to cut: its lon/lat geometries, their index, properties and the zoom it starts at.

    The geometries are the dataset's own WGS84 ones, not a Web Mercator copy: a tile projects only the
    features it takes (the copy held ~30 MB at 30,650 grids, for a few hundred features per tile).
    ``margin`` (degrees) widens a tile's lon/lat box by the most ``datum`` moves a vertex, so the index
    finds every feature whose moved geometry reaches the tile.
    """

    geoms: np.ndarray
    tree: STRtree
    props: _Props
    min_zoom: int
    datum: str
    margin: float
    major: np.ndarray | None = None


def legible_zoom(geoms: np.ndarray, px: float = LEGIBLE_PX) -> int:
    """Return the lowest zoom at which the median feature is ``px`` pixels across (0 for no feature).

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Polygons in EPSG:3857.
    px : float
        Pixels the median feature should span.

    Returns
    -------
    int
        A zoom in ``0..MAX_ZOOM``.
    """
    if len(geoms) == 0:
        return 0
    b = shapely.bounds(geoms)
    size = float(np.nanmedian(np.sqrt(np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0))))
    if not size > 0:
        return 0
    # metres per pixel at zoom z: _WORLD / 256 / 2**z; solve size / mpp >= px
    z = math.ceil(math.log2(px * _WORLD / 256 / size))
    return max(0, min(MAX_ZOOM, z))


def _grid_props(ds: Dataset) -> _Props:
    grids = ds.layer("grids")
    attrs = grid_attributes(ds)
    return _Props({"code": shared_list(esc(c) for c in grids["code"].tolist()),
                   "name": shared_list(esc(n) for n in grids["name"].tolist())},
                  {k: attrs[k].to_numpy() for k in ATTRIBUTES})


def _layer(ds: Dataset, name: str, datum: str) -> _Layer:
    """Build (once per version and datum) the Mercator geometries, index and properties of a layer."""

    def build() -> _Layer:
        gdf = ds.layer(name)
        geoms = np.asarray(gdf.geometry.values, dtype=object)  # the layer's own geometries, not a copy
        major = None
        if name == "grids":
            props = _grid_props(ds)
        elif name == "roads":
            kinds = gdf["kind"].astype(str).tolist() if "kind" in gdf else [""] * len(gdf)
            names = gdf["name"].tolist() if "name" in gdf else [""] * len(gdf)
            props = _Props({"name": [esc(n) for n in names], "kind": [esc(k) for k in kinds]})
            major = np.array([k in MAJOR_ROADS for k in kinds], dtype=bool)
        else:
            kinds = gdf["kind"].tolist() if "kind" in gdf else [None] * len(gdf)
            props = _Props({"code": [esc(c) for c in gdf["code"].tolist()], "name": [esc(n) for n in gdf["name"].tolist()],
                            "kind": [None if k is None else esc(k) for k in kinds]})
        return _Layer(geoms, STRtree(geoms), props, zooms(ds)[name], check_datum(datum),
                      datum_margin(geoms, datum), major)

    return ds.cached(f"tiles.layer.{name}.{datum}", build)


def zooms(ds: Dataset) -> dict[str, int]:
    """Return the zoom each tile layer starts at on this version (cached).

    Divisions and roads start at 0; committees and grids where their median feature is
    :data:`LEGIBLE_PX` pixels across, grids never before committees.

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    dict
        ``{layer: zoom}`` for every layer of :data:`TILE_LAYERS`.
    """

    def build() -> dict[str, int]:
        def of(layer: str) -> int:
            gdf = ds.layer(layer)
            return legible_zoom(to_mercator(np.asarray(gdf.geometry.values, dtype=object)))

        com = of("committees")
        return {"divisions": 0, "committees": com, "grids": max(com, of("grids")), "roads": 0}

    return ds.cached("tiles.zooms", build)


def _to_tile(geom: Any, bounds: tuple[float, float, float, float]) -> Any:
    minx, miny, maxx, maxy = bounds
    sx = EXTENT / (maxx - minx)

    def fwd(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - minx) * sx, (maxy - xy[:, 1]) * sx])

    return shapely.transform(geom, fwd)


def cut_name() -> str:
    """Return a short name of how tiles are cut (format and parameters): the disk cache keeps tiles under it."""
    spec = (3, EXTENT, BUFFER, TILE_PX, SIMPLIFY_PX, MAX_ZOOM, LEGIBLE_PX, MAJOR_ROADS, DRAW_ORDER,
            getattr(mapbox_vector_tile, "__version__", ""))
    return f"cut-{zlib.crc32(repr(spec).encode()):08x}"


def _caches(ds: Dataset, cache_dir: Path | None) -> tuple[MemoryTiles, DiskTiles | None]:
    mem: MemoryTiles = ds.cached("tiles.memory", MemoryTiles)
    if cache_dir is None:
        return mem, None
    return mem, ds.cached(f"tiles.disk.{Path(cache_dir).resolve()}",
                          lambda: DiskTiles(Path(cache_dir), ds.version, cut_name()))


def tile_gz(ds: Dataset, layer: str, z: int, x: int, y: int, datum: str = "wgs84",
            cache_dir: Path | None = None, pause: Callable[[], None] | None = None) -> bytes:
    """Return one Mapbox Vector Tile, gzip-compressed, from the memory cache, the disk cache or cut now.

    A tile is cut once per data version: it is kept in a small memory cache of this process
    (:data:`~app.geo._tiles_cache.MEMORY_TILES`, bounded in bytes too) and, with ``cache_dir``, in a
    file under ``cache_dir/<version>/`` that every worker process and the next start read back
    (see :class:`~app.geo._tiles_cache.DiskTiles`). The first tile cut on a version and datum also
    starts cutting the tiles a user zooms through in the background (:func:`warm`).

    Parameters
    ----------
    ds : Dataset
        The data version.
    layer : str
        One of :data:`TILE_LAYERS`, or :data:`ALL` for every layer shown at that zoom in one tile.
    z, x, y : int
        Tile address (XYZ, as Leaflet asks).
    datum : str
        ``wgs84`` or ``gcj02`` (shifted to line up with AMap tiles).
    cache_dir : Path, optional
        The disk cache folder (``INSTANCE_DIR/cache/tiles``); None keeps tiles in memory only.
    pause : callable, optional
        Handed to :func:`warm` when this tile starts the cutting ahead.

    Returns
    -------
    bytes
        The gzip-compressed tile (see :func:`tile` for what it holds).

    Raises
    ------
    TileError
        For an unknown layer or a bad tile address.
    """
    check_tile(layer, z, x, y)
    check_datum(datum)
    mem, disk = _caches(ds, cache_dir)
    # the first tile cut on a version starts the cutting ahead (False, not None, when another process
    # cuts ahead: Dataset.cached builds again on None)
    return _stored(ds, (layer, datum, z, x, y), mem, disk, lambda: ds.cached(
        f"tiles.warm.{datum}", lambda: warm(ds, datum, cache_dir=cache_dir, pause=pause) or False))


def _stored(ds: Dataset, key: tuple[str, str, int, int, int], mem: MemoryTiles, disk: DiskTiles | None,
            before_cut: Callable[[], object] | None = None) -> bytes:
    """The gzipped tile ``key`` from memory, else from disk, else cut now (``before_cut`` called first) and kept in both."""
    body = mem.get(key)
    if body is not None:
        return body
    body = disk.get(key) if disk is not None else None
    if body is None:
        if before_cut is not None:
            before_cut()
        body = _cut_gz(ds, key)
        if disk is not None:
            disk.put(key, body)
    mem.put(key, body)
    return body


def _cut_gz(ds: Dataset, key: tuple[str, str, int, int, int]) -> bytes:
    """Cut the tile ``key`` = (layer, datum, z, x, y) and gzip it as the caches keep it."""
    layer, datum, z, x, y = key
    return gzip.compress(_cut_any(ds, layer, z, x, y, datum), compresslevel=6, mtime=0)


def tile(ds: Dataset, layer: str, z: int, x: int, y: int, datum: str = "wgs84",
         cache_dir: Path | None = None) -> bytes:
    """Return one Mapbox Vector Tile (protobuf bytes, not compressed) of a layer (cached per version).

    Features whose box meets the tile (plus :data:`BUFFER`) are picked with an STRtree, clipped
    to the buffered tile, moved to tile units (:data:`EXTENT` across, y down) and simplified by
    :data:`SIMPLIFY_PX` screen pixels (a tile shows :data:`TILE_PX` across, at map zoom
    ``z + ZOOM_OFFSET``), so low zooms carry few vertices. Below the layer's map zoom (see
    :func:`zooms`) the tile is empty; below map zoom 13 only :data:`MAJOR_ROADS` are in the roads layer.
    An :data:`ALL` tile holds one MVT layer per layer shown at its zoom, in :data:`DRAW_ORDER`.

    Parameters
    ----------
    ds : Dataset
        The data version.
    layer : str
        One of :data:`TILE_LAYERS` (the tile's one MVT layer has this name), or :data:`ALL`.
    z, x, y : int
        Tile address (XYZ, as Leaflet asks).
    datum : str
        ``wgs84`` or ``gcj02`` (shifted to line up with AMap tiles).
    cache_dir : Path, optional
        The disk cache folder, as for :func:`tile_gz`.

    Returns
    -------
    bytes
        The encoded tile (possibly with no feature).

    Raises
    ------
    TileError
        For an unknown layer or a bad tile address.
    """
    return gzip.decompress(tile_gz(ds, layer, z, x, y, datum, cache_dir))


def warm_tiles(ds: Dataset, limit: int = WARM_TILES) -> list[tuple[str, int, int, int]]:
    """Return the :data:`ALL` tiles a user zooms through, ``(ALL, z, x, y)``, coarsest zoom first, at most ``limit``.

    Every tile over the extent of the layers shown at its zoom, from tile zoom 0 to the one drawn at
    the grids' map zoom plus one; a zoom that would pass ``limit`` and all deeper ones are left out.

    Parameters
    ----------
    ds : Dataset
        The data version.
    limit : int
        Most tiles listed.

    Returns
    -------
    list of tuple
        Tile addresses (XYZ).
    """
    zs = zooms(ds)
    names = set(ds.store.layer_names())
    bounds = {}
    for name in TILE_LAYERS:
        if name in names and len(ds.layer(name)):
            b = shapely.bounds(to_mercator(np.asarray([shapely.box(*ds.layer(name).total_bounds)], dtype=object)))[0]
            bounds[name] = b
    out: list[tuple[str, int, int, int]] = []
    for z in range(0, min(MAX_ZOOM, zs["grids"] + 1 - ZOOM_OFFSET) + 1):
        n, size, level = 1 << z, _WORLD / (1 << z), set()
        for name, (x0, y0, x1, y1) in bounds.items():
            if z + ZOOM_OFFSET < zs[name]:
                continue
            xs = range(max(0, int((x0 + _WORLD / 2) // size)), min(n - 1, int((x1 + _WORLD / 2) // size)) + 1)
            ys = range(max(0, int((_WORLD / 2 - y1) // size)), min(n - 1, int((_WORLD / 2 - y0) // size)) + 1)
            level |= {(ALL, z, x, y) for x in xs for y in ys}
        if len(out) + len(level) > limit:
            break
        out += sorted(level)
    return out


def cut_opening(ds: Dataset, datum: str, cache_dir: Path | None = None, limit: int = OPENING_TILES) -> int:
    """Cut the coarsest ``limit`` tiles of :func:`warm_tiles` now, into the caches, without cutting any ahead.

    ``gridmap serve`` calls it before the fork, so the first visitor's opening view is already cut.

    Returns
    -------
    int
        Tiles cut (those already on disk are read back into memory instead).
    """
    mem, disk = _caches(ds, cache_dir)
    cut = []
    for layer, z, x, y in warm_tiles(ds, limit):
        _stored(ds, (layer, datum, z, x, y), mem, disk, lambda: cut.append(1))
    return len(cut)


def warm(ds: Dataset, datum: str, delay: float = 0.5, cache_dir: Path | None = None,
         pause: Callable[[], None] | None = None) -> threading.Thread | None:
    """Start cutting :func:`warm_tiles` in a background thread (once per version and datum, and per disk cache).

    A zoom into a level nobody opened yet then finds its tiles cut. The thread waits ``delay`` seconds
    (the first view's own tiles go first), calls ``pause`` before each tile (the server's: until no
    request has come for a moment) and rests after each tile as long as it took, so requests keep
    their turn.
    With a disk cache the tiles go to its files, and only the process that first claims the version
    cuts them (another takes over a claim left unfinished for ten minutes); without one they go to the
    (bounded) memory cache.

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02``.
    delay : float
        Seconds to wait before the first tile.
    cache_dir : Path, optional
        The disk cache folder.
    pause : callable, optional
        Called before each tile; it may block (while visitors are being served).

    Returns
    -------
    threading.Thread or None
        The started daemon thread; None when another process cuts them.
    """
    mem, disk = _caches(ds, cache_dir)
    if disk is not None and not disk.claim(f".warm-{datum}"):
        return None

    def run() -> None:
        time.sleep(delay)
        try:
            for done, (layer, z, x, y) in enumerate(warm_tiles(ds, WARM_TILES if disk is not None else mem.size // 2)):
                if done % TRIM_EVERY == 0:
                    release_memory()  # what the cuts freed goes back to the system, not only at the end
                if pause is not None:
                    pause()
                key = (layer, datum, z, x, y)
                started = time.perf_counter()
                if disk is not None:
                    if not disk.has(key):
                        disk.put(key, _cut_gz(ds, key))
                elif mem.get(key) is None:
                    mem.put(key, _cut_gz(ds, key))
                # rest as long as the tile took: at most half a core goes to cutting ahead, so the pages
                # and tiles that visitors ask for meanwhile are not starved (on a 2-core machine the
                # first view of a 30,650-grid city took twice as long while this ran flat out)
                time.sleep(min(0.2, max(0.001, time.perf_counter() - started)))
            release_memory()
            if disk is not None:
                disk.finished(f".warm-{datum}")
        except Exception:  # a tile that fails here fails again on request, with its error
            _log.exception("cutting tiles ahead stopped")

    thread = threading.Thread(target=run, name=f"tiles-warm-{datum}", daemon=True)
    thread.start()
    return thread


def _cut_any(ds: Dataset, layer: str, z: int, x: int, y: int, datum: str) -> bytes:
    """Cut one layer's tile, or an :data:`ALL` tile: the layers shown at ``z`` one after another."""
    if layer != ALL:
        return _cut(ds, layer, z, x, y, datum)
    zs, names = zooms(ds), set(ds.store.layer_names())
    # an MVT tile is a list of layers: encoded one-layer tiles put end to end are one tile with all of them
    return b"".join(_cut(ds, name, z, x, y, datum) for name in DRAW_ORDER
                    if (name in names or name != "roads") and z + ZOOM_OFFSET >= zs[name])


def _cut(ds: Dataset, layer: str, z: int, x: int, y: int, datum: str) -> bytes:
    feats: list[dict[str, Any]] = []
    lay = _layer(ds, layer, datum) if layer in ds.store.layer_names() or layer != "roads" else None
    if lay is not None and z + ZOOM_OFFSET >= lay.min_zoom and len(lay.geoms):
        bounds = tile_bounds(z, x, y)
        pad = (bounds[2] - bounds[0]) * BUFFER / EXTENT
        box = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        x0, y0, x1, y1 = lonlat_box(box)
        m = lay.margin
        idx = np.sort(lay.tree.query(shapely.box(x0 - m, y0 - m, x1 + m, y1 + m)))
        if lay.major is not None and z + ZOOM_OFFSET < 13:
            idx = idx[lay.major[idx]]
        if len(idx):  # project, clip, move to tile units and simplify all at once (shapely's array functions)
            clipped = shapely.clip_by_rect(to_mercator(shift_geometries(lay.geoms[idx], lay.datum)), *box)
            keep = ~(shapely.is_missing(clipped) | shapely.is_empty(clipped))
            idx, clipped = idx[keep], clipped[keep]
            tol = SIMPLIFY_PX * EXTENT / TILE_PX
            simple = shapely.simplify(_to_tile(clipped, bounds), tol, preserve_topology=layer != "roads")
            keep = ~shapely.is_empty(simple)
            feats = [{"geometry": g, "properties": lay.props[i], "id": i + 1}
                     for i, g in zip(idx[keep].tolist(), simple[keep], strict=True)]
    return mapbox_vector_tile.encode([{"name": layer, "features": feats}],
                                     default_options={"extents": EXTENT, "y_coord_down": True})


def tile_info(ds: Dataset) -> dict[str, Any]:
    """Return what the client needs to draw the tiled layers: their zooms and the deepest cut zoom."""
    return {"zooms": zooms(ds), "maxNativeZoom": MAX_ZOOM + ZOOM_OFFSET, "tileSize": TILE_PX,
            "zoomOffset": -ZOOM_OFFSET, "layers": list(TILE_LAYERS), "all": ALL}
