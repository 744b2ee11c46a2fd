"""Fast point-in-grid lookup: a raster of cells over the grids, exact tests only near boundaries.

How it works
------------
A regular raster of square cells (in metres) covers the grids' bounding box. At build time every
cell is classified:

* **direct** cells lie, together with a small margin, wholly inside one grid or wholly outside
  every grid: a point there is answered by one array lookup;
* **boundary** cells are within the margin of some grid boundary (or lie where grids overlap):
  they keep a short list of candidate grids, and a point there is tested exactly with
  :func:`shapely.contains_xy`, vectorised over (point, candidate) pairs.

Cells touched by a boundary are found exactly (a supercover of every ring segment, widened by the
margin), and the grid of each other cell comes from an even-odd scanline fill of the cell centres,
so building needs no per-cell shapely calls and takes a fraction of a second for a city.

Rules
-----
* ``index`` is the positional row number in the grids frame (0..n-1); -1 means outside every grid.
* **Borders.** A point within ``border_tol_m`` (default 0.05 m) of any grid's boundary, measured in
  metres, is *on the border*: it belongs to every grid it is inside of or within that distance of,
  and gets ONE answer, the grid with the lowest code among them (lowest row number when the index
  has no codes); ``on_border`` is True. So a point on a shared edge or a shared vertex always gets
  the same grid, and a point on the outer edge of the grids is inside its grid. Points strictly
  inside a grid and farther than the tolerance from every boundary get exactly the answer of
  ``geopandas.sjoin(points, grids, predicate="within")``.
* **Nearest.** For points outside every grid, ``nearest_index`` is the closest grid (ties: lowest
  code) and ``distance_m`` the distance to it; for points in a grid they are the grid itself and 0.
  This uses an STRtree over single boundary segments (about 10 us per outside point), built on
  first use, so ``locate(..., nearest=False)`` is the fast path for bulk work.
* **Metres.** Distances are measured in a transverse Mercator projection on the WGS84 ellipsoid
  centred on the grids' bounding box (scale error below 0.01 % within 100 km of the centre; the
  same kind of projection as EPSG:4542, whose central meridian 99E is 0.7 degree from Jiayuguan).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from app.geo._grid_raster import (
    _NearestIndex,
    fill_centres,
    index_state,
    ragged,
    restore_state,
    touched_pairs,
    transformer_to,
)
from app.geo._shared_text import shared

if TYPE_CHECKING:  # geopandas is imported by whoever builds from a GeoDataFrame; a saved index loads without it
    import geopandas as gpd

__all__ = ["DEFAULT_BORDER_TOL_M", "GridIndex", "Location", "LocateResult", "_NearestIndex"]

#: Default distance to a boundary, metres, within which a point counts as on the border.
DEFAULT_BORDER_TOL_M = 0.05
_WGS84_A = 6378137.0
_WGS84_E2 = 0.00669437999014
_EMPTY = -1  # cell value: outside every grid; >= 0: that grid; <= -2: boundary slot -2 - value
_BIG = np.iinfo(np.int64).max


@dataclass(frozen=True)
class LocateResult:
    """Answers of :meth:`GridIndex.locate` for n points (all arrays have length n).

    Attributes
    ----------
    index : numpy.ndarray of int64
        Row number of the grid holding each point, -1 outside every grid.
    code : numpy.ndarray of object or None
        The grid code of each point (None where outside); None when the index has no code field.
    on_border : numpy.ndarray of bool
        True where the point lies within the border tolerance of a grid boundary.
    nearest_index : numpy.ndarray of int64
        ``index`` for points in a grid; for points outside, the nearest grid (-1 when ``nearest``
        was False or the point is not finite).
    distance_m : numpy.ndarray of float64
        0 for points in a grid; metres to the nearest grid for points outside (NaN when ``nearest``
        was False or the point is not finite).
    """

    index: NDArray[np.int64]
    code: NDArray[np.object_] | None
    on_border: NDArray[np.bool_]
    nearest_index: NDArray[np.int64]
    distance_m: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def inside(self) -> NDArray[np.bool_]:
        """True where the point lies in (or on the border of) a grid."""
        return self.index >= 0


@dataclass(frozen=True)
class Location:
    """Answer of :meth:`GridIndex.locate_one` for a single point.

    Attributes
    ----------
    index : int
        Row number of the grid holding the point, -1 outside every grid.
    code : str or None
        Its code (None outside, or when the index has no codes).
    on_border : bool
        Whether the point lies within the border tolerance of a grid boundary.
    nearest_index : int
        ``index`` when inside; otherwise the nearest grid (-1 for a non-finite point).
    nearest_code : str or None
        The code of ``nearest_index``.
    distance_m : float
        0 when inside; otherwise metres to the nearest grid (NaN for a non-finite point).
    """

    index: int
    code: str | None
    on_border: bool
    nearest_index: int
    nearest_code: str | None
    distance_m: float

    @property
    def inside(self) -> bool:
        """True when the point lies in (or on the border of) a grid."""
        return self.index >= 0


def _metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude on the WGS84 ellipsoid at ``lat``."""
    phi = math.radians(lat)
    w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
    n = _WGS84_A / math.sqrt(w)
    m = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    return math.radians(1.0) * n * math.cos(phi), math.radians(1.0) * m


class GridIndex:
    """A fast point-in-polygon index over grid polygons.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons (Polygon or MultiPolygon). Reprojected to EPSG:4326 when it has another CRS
        (EPSG:4490 and a missing CRS are taken as WGS84 lon/lat). Rows with empty geometry never match.
    code_field : str or None, default "code"
        Column holding grid codes, used for answers and for the lowest-code border rule; None to
        work by row number only.
    border_tol_m : float, default 0.05
        Points within this many metres of a grid boundary are ``on_border``; see the module docstring.
    resolution : int, optional
        Cells along the longer side of the raster. Default: ``64 * sqrt(number of grids)``,
        clamped to 256..2048.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        The grids in EPSG:4326, in the order answers refer to.
    codes : numpy.ndarray of object or None
        Grid codes as strings, or None.
    build_seconds : float
        Time taken to build the index.

    Notes
    -----
    An index is read-only once built and may be shared between threads (its grids are not prepared,
    built or loaded by :meth:`from_state`, so no point test builds anything; the nearest-grid
    structure and the metric boundaries are built once, under a lock, on first use).
    Build it once per data version and keep it (e.g. on the Dataset).
    """

    def __init__(
        self,
        grids: gpd.GeoDataFrame,
        code_field: str | None = "code",
        *,
        border_tol_m: float = DEFAULT_BORDER_TOL_M,
        resolution: int | None = None,
    ) -> None:
        import geopandas as gpd

        t0 = time.perf_counter()
        if not isinstance(grids, gpd.GeoDataFrame):
            raise TypeError(f"grids must be a GeoDataFrame, not {type(grids).__name__}")
        if not border_tol_m >= 0:
            raise ValueError(f"border_tol_m must be >= 0, got {border_tol_m!r}")
        epsg = grids.crs.to_epsg() if grids.crs is not None else None
        if grids.crs is not None and epsg not in (4326, 4490):
            grids = grids.to_crs("EPSG:4326")
        if code_field is not None and code_field not in grids.columns:
            raise ValueError(f"grids have no {code_field!r} column; columns are {', '.join(map(str, grids.columns))}")
        geoms = np.asarray(grids.geometry.values, dtype=object)
        kinds = shapely.get_type_id(geoms)
        bad = ~np.isin(kinds, (-1, 3, 6))  # missing, Polygon, MultiPolygon
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"grid row {i} is a {geoms[i].geom_type}, expected a Polygon or MultiPolygon")
        self.grids = grids
        self.n = len(grids)
        self.border_tol_m = float(border_tol_m)
        self.codes: NDArray[np.object_] | None = None
        if code_field is not None:
            self.codes = np.array([None if c is None else shared(str(c)) for c in grids[code_field]], dtype=object)
            # Stable order: codes first (missing codes last), row number breaks ties.
            keys = [(c is None, c or "", i) for i, c in enumerate(self.codes)]
            self._by_rank = np.array(sorted(range(self.n), key=keys.__getitem__), dtype=np.int64)
        else:
            self._by_rank = np.arange(self.n, dtype=np.int64)
        self._rank = np.empty(self.n, dtype=np.int64)
        self._rank[self._by_rank] = np.arange(self.n)
        self._codes_ext = None if self.codes is None else np.append(self.codes, None)

        geoms = np.where(shapely.is_empty(geoms) | (kinds == -1), None, geoms)
        # Not prepared: for grid polygons (tens of vertices) GEOS's prepared point-in-area structures held
        # ~31 MB at 30,650 grids and were no faster (0.28 s unprepared, 0.32 s prepared for 300,000 boundary
        # pairs); contains_xy gives the same answer either way, and an unprepared geometry has no lazily built
        # structure that threads could race on (prepared ones, built lazily by concurrent threads, corrupted
        # the heap: 'tcache_thread_shutdown(): unaligned tcache chunk detected' in locate-batch's threads)
        self._geoms = geoms
        self._setup_metric(geoms)
        self._build_raster(geoms, resolution)
        self.build_seconds = time.perf_counter() - t0

    # --- construction -----------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, code_field: str | None = "code", *, layer: str | None = None,
                  **kwargs) -> GridIndex:
        """Build an index from any polygon file pyogrio reads (GeoJSON, GeoPackage, ...).

        Parameters
        ----------
        path : str or Path
            The file.
        code_field : str or None, default "code"
            Column holding grid codes.
        layer : str, optional
            Layer to read from a multi-layer file (default: the first).
        **kwargs
            Passed on to :class:`GridIndex` (``border_tol_m``, ``resolution``).

        Returns
        -------
        GridIndex
            The index, over the file's polygons reprojected to EPSG:4326 when needed.
        """
        import geopandas as gpd

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"grid file not found: {path}")
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
        return cls(gdf, code_field, **kwargs)

    def state(self) -> dict[str, NDArray]:
        """The built index as plain arrays (no objects), for :meth:`from_state` in another process.

        Returns
        -------
        dict of str to numpy.ndarray
            Saved with ``numpy.savez`` and loaded with ``allow_pickle=False``: the raster, the candidate
            lists, the code order, the codes and the grids as WKB.
        """
        return index_state(self)

    @classmethod
    def from_state(cls, state: dict[str, NDArray]) -> GridIndex:
        """An index from the arrays of :meth:`state` (or ``numpy.load`` of them): the same answers, no rebuild.

        Its ``grids`` attribute is None (the frame is not saved); geopandas is not imported.
        """
        t0 = time.perf_counter()
        self = cls.__new__(cls)
        geoms = restore_state(self, state)  # its _cells (the setter) make the framed raster
        self._setup_metric(geoms)
        self.build_seconds = time.perf_counter() - t0
        return self

    def _setup_metric(self, geoms: NDArray[np.object_]) -> None:
        """Set up the local metric projection, metric boundaries and the nearest-grid tree."""
        present = geoms[~shapely.is_missing(geoms)]
        if len(present):
            minx, miny, maxx, maxy = shapely.total_bounds(present)
        else:
            minx = miny = maxx = maxy = 0.0
        self.bounds = (float(minx), float(miny), float(maxx), float(maxy))
        lon0 = float(minx + maxx) / 2.0
        lat0 = float(miny + maxy) / 2.0
        self._kx, self._ky = _metres_per_degree(lat0)
        self._metric_def = f"+proj=tmerc +lat_0={lat0!r} +lon_0={lon0!r} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
        # pyproj Transformers must not be shared between threads (a concurrent transform can abort the
        # process): each thread that locates gets its own, see _to_metric
        self._threads = threading.local()
        # The border: a point within border_tol_m of a candidate grid's metric boundary (see _near_border);
        # no buffered band polygons are kept (they held six times the grids' own coordinates), and the
        # boundaries of all grids (18 MB at 30,650 grids) only once a whole table or an outside point needs them
        self._all_boundaries: NDArray[np.object_] | None = None
        self._near: _NearestIndex | None = None
        self._outline: _NearestIndex | None = None
        self._near_lock = threading.Lock()
        self._boundary_lock = threading.Lock()

    @property
    def _metric_boundary(self) -> NDArray[np.object_]:
        """Every grid's boundary in the metric projection (None for a missing grid), made on first use."""
        if self._all_boundaries is None:
            with self._boundary_lock:
                if self._all_boundaries is None:
                    self._all_boundaries = self._boundaries(self._geoms)
        return self._all_boundaries

    def _boundaries(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        """The metric boundaries of ``geoms`` (each coordinate projected alone: the same as in the whole array)."""
        return shapely.boundary(shapely.transform(geoms, lambda c: np.column_stack(self._to_metric.transform(c[:, 0],
                                                                                                             c[:, 1]))))

    @property
    def _to_metric(self) -> pyproj.Transformer:
        """This thread's transformer from lon/lat to the index's local metric projection."""
        tr = getattr(self._threads, "to_metric", None)
        if tr is None:
            tr = self._threads.to_metric = transformer_to(self._metric_def)
        return tr

    def _nearest_index(self) -> _NearestIndex:
        """Return the nearest-grid structure, built on first use (most callers never need it)."""
        if self._near is None:
            with self._near_lock:
                if self._near is None:
                    self._near = _NearestIndex(self._metric_boundary)
        return self._near

    def _build_raster(self, geoms: NDArray[np.object_], resolution: int | None) -> None:
        """Classify raster cells into direct answers and boundary cells with candidate lists."""
        minx, miny, maxx, maxy = self.bounds
        kx, ky = self._kx, self._ky
        if resolution is None:
            resolution = int(np.clip(64.0 * math.sqrt(max(self.n, 1)), 256, 2048))
        if resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {resolution!r}")
        # Square cells in metres; at least 8 x the border margin so a margin spans < 1/2 cell.
        cell_m = max(max((maxx - minx) * kx, (maxy - miny) * ky, 1.0) / resolution, 16.0 * self.border_tol_m, 1e-3)
        dx, dy = cell_m / kx, cell_m / ky
        pad = 2
        self._x0, self._y0 = minx - pad * dx, miny - pad * dy
        self._nx = int(math.ceil((maxx - minx) / dx)) + 2 * pad
        self._ny = int(math.ceil((maxy - miny) / dy)) + 2 * pad
        self._inv_dx, self._inv_dy = 1.0 / dx, 1.0 / dy
        self._cell_m = cell_m
        nx, ny = self._nx, self._ny
        ncell = nx * ny

        # Ring segments in cell units (u, v): cell (i, j) covers u in [i, i+1), v in [j, j+1).
        parts, part_geom = shapely.get_parts(geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[:-1] == coord_ring[1:]
        seg_poly = part_geom[ring_part[coord_ring[:-1][same]]].astype(np.int64)
        u = (coords[:, 0] - self._x0) * self._inv_dx
        v = (coords[:, 1] - self._y0) * self._inv_dy
        ua, ub = u[:-1][same], u[1:][same]
        va, vb = v[:-1][same], v[1:][same]
        if not len(ua):  # no polygons at all: every cell is outside
            self._cells = np.full(ncell, _EMPTY, dtype=np.int32)
            self._cand = np.zeros(0, dtype=np.int32)
            self._cand_ptr = np.zeros(1, dtype=np.int32)
            self.n_boundary_cells = 0
            self.n_cells = ncell
            return

        # 1. Which grid holds each cell centre: even-odd scanline fill per polygon.
        lab, cnt = fill_centres(ua, va, ub, vb, seg_poly, nx, ny)

        # 2. Cells within the border margin of a segment: (cell, polygon) pairs.
        margin_m = 2.0 * self.border_tol_m + 1e-6 * cell_m
        touched = touched_pairs(ua, va, ub, vb, seg_poly, margin_m / cell_m, nx, ny, self.n)

        # 3. Candidates: touching polygons, plus the centre's grid (which may cover a touched cell
        #    wholly), plus every bbox-intersecting grid where grids overlap (count >= 2).
        is_touched = np.zeros(ncell, dtype=bool)
        is_touched[touched // max(self.n, 1)] = True
        ambiguous = (cnt < 0) | (cnt > 1)
        pair_keys = [touched]
        tc = np.flatnonzero(is_touched & (cnt == 1))
        pair_keys.append(tc * self.n + lab[tc])
        amb = np.flatnonzero(ambiguous)
        if len(amb):
            ai, aj = amb % nx, amb // nx
            boxes = shapely.box(self._x0 + ai * dx, self._y0 + aj * dy, self._x0 + (ai + 1) * dx, self._y0 + (aj + 1) * dy)
            q_box, q_geom = shapely.STRtree(geoms).query(boxes)
            pair_keys.append(amb[q_box] * self.n + q_geom)
        keys = np.concatenate(pair_keys)
        cells = keys // max(self.n, 1)
        polys = keys - cells * self.n
        order_key = np.unique(cells * self.n + self._rank[polys])  # sorted by cell, then code rank
        cand_cell = order_key // max(self.n, 1)
        self._cand = self._by_rank[order_key - cand_cell * self.n].astype(np.int32)  # half the bytes of int64
        slot_cells, slot_start = np.unique(cand_cell, return_index=True)
        self._cand_ptr = np.append(slot_start, len(self._cand)).astype(np.int32)

        values = np.where(cnt == 1, lab, _EMPTY).astype(np.int32)
        values[slot_cells] = -2 - np.arange(len(slot_cells), dtype=np.int32)
        self._cells = values
        self.n_boundary_cells = len(slot_cells)
        self.n_cells = ncell

    @property
    def _cells(self) -> NDArray[np.int32]:
        """The raster without its frame, row by row (a copy: only the framed raster is kept)."""
        return self._framed.reshape(self._ny + 2, self._nx + 2)[1:-1, 1:-1].ravel()

    @_cells.setter
    def _cells(self, values: NDArray[np.int32]) -> None:
        self._framed = np.pad(np.asarray(values, dtype=np.int32).reshape(self._ny, self._nx), 1,
                              constant_values=_EMPTY).ravel()

    # --- queries ------------------------------------------------------------------------------------------

    def _cell_values(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        """Raster value at each point; _EMPTY outside the raster and for non-finite points.

        Looks up a copy of the raster framed by one ring of _EMPTY cells: coordinates are shifted by
        one cell and clamped into the frame (fmax/fmin also send NaN there), so no masks are needed.
        """
        fi = (x - self._x0) * self._inv_dx
        fi += 1.0
        np.fmax(fi, 0.0, out=fi)
        np.fmin(fi, self._nx + 1.0, out=fi)
        fj = (y - self._y0) * self._inv_dy
        fj += 1.0
        np.fmax(fj, 0.0, out=fj)
        np.fmin(fj, self._ny + 1.0, out=fj)
        flat = fj.astype(np.intp)
        flat *= self._nx + 2
        flat += fi.astype(np.intp)
        return self._framed[flat]

    def locate(self, lon: ArrayLike, lat: ArrayLike, nearest: bool = True) -> LocateResult:
        """Find the grid holding each point.

        Parameters
        ----------
        lon, lat : array_like
            WGS84 longitude and latitude, 1-D, same length.
        nearest : bool, default True
            Also find the nearest grid and its distance for points outside every grid.

        Returns
        -------
        LocateResult
            Arrays ``index``, ``code``, ``on_border``, ``nearest_index``, ``distance_m``.
        """
        x = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat have different lengths ({len(x)} and {len(y)})")
        npts = len(x)
        vals = self._cell_values(x, y)
        index = vals.astype(np.int64)
        on_border = np.zeros(npts, dtype=bool)

        bpts = np.flatnonzero(vals <= -2)
        if len(bpts):
            slot = -2 - vals[bpts].astype(np.int64)
            start = self._cand_ptr[slot]
            pair_local, pos = ragged(self._cand_ptr[slot + 1] - start)
            pair_poly = self._cand[start[pair_local] + pos]
            pair_pt = bpts[pair_local]
            inside = shapely.contains_xy(self._geoms[pair_poly], x[pair_pt], y[pair_pt])
            near = self._near_border(pair_poly, x[bpts], y[bpts], pair_local)
            rank = np.where(inside | near, self._rank[pair_poly], _BIG)
            best = np.full(len(bpts), _BIG, dtype=np.int64)
            np.minimum.at(best, pair_local, rank)
            found = best != _BIG
            res = np.full(len(bpts), -1, dtype=np.int64)
            res[found] = self._by_rank[best[found]]
            index[bpts] = res
            on_border[bpts] = np.bincount(pair_local[near], minlength=len(bpts)) > 0

        code = None if self._codes_ext is None else self._codes_ext[index]
        nearest_index = index.copy()
        distance_m = np.zeros(npts, dtype=np.float64)
        out = np.flatnonzero(index < 0)
        if len(out):
            distance_m[out] = np.nan
            if nearest and self.n:
                ni, dist = self._nearest(x[out], y[out])
                nearest_index[out] = ni
                distance_m[out] = dist
        return LocateResult(index, code, on_border, nearest_index, distance_m)

    def _near_border(self, polys: NDArray[np.int64], x: NDArray[np.float64], y: NDArray[np.float64],
                     pair_pt: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Whether point ``pair_pt[k]`` of ``x, y`` lies within ``border_tol_m`` of grid ``polys[k]``'s boundary.

        Measured in the index's metric projection against the grids' metric boundaries (each point
        projected once, however many candidates it has); all False when the tolerance is 0.
        """
        if not self.border_tol_m > 0 or not len(polys):
            return np.zeros(len(polys), dtype=bool)
        mx, my = self._to_metric.transform(x, y)
        pts = shapely.points(np.column_stack((mx, my)))
        return shapely.dwithin(self._metric_boundary[polys], pts[pair_pt], self.border_tol_m)

    def _nearest(self, x: NDArray[np.float64], y: NDArray[np.float64],
                 tree: _NearestIndex | None = None) -> tuple[NDArray, NDArray]:
        """Nearest grid (ties: lowest code) and metres to it; -1 / NaN for non-finite points."""
        ni = np.full(len(x), -1, dtype=np.int64)
        dist = np.full(len(x), np.nan)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not len(ok):
            return ni, dist
        mx, my = self._to_metric.transform(x[ok], y[ok])
        q, grid, d = (tree or self._nearest_index()).query(np.asarray(mx, dtype=np.float64), np.asarray(my, dtype=np.float64))
        best = np.full(len(ok), _BIG, dtype=np.int64)
        np.minimum.at(best, q, self._rank[grid])
        got = best != _BIG
        ni[ok[got]] = self._by_rank[best[got]]
        dist[ok[q]] = d  # tied matches share one distance
        return ni, dist

    def nearest_outside(self, lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest grid (ties: lowest code) and metres to it, for points already known to be outside every grid.

        The same answers as :meth:`locate`'s ``nearest_index``/``distance_m`` for such points, but
        searched among the segments of the grids' outline only (see :class:`app.geo._grid_outline.OutlineIndex`), which
        is several times faster for a whole table.

        Parameters
        ----------
        lon, lat : array_like
            WGS84 longitude and latitude of points outside every grid.

        Returns
        -------
        tuple of ndarray
            ``(nearest_index, distance_m)``; -1 / NaN for non-finite points or an empty index.
        """
        x = np.ascontiguousarray(lon, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lat, dtype=np.float64).ravel()
        if not self.n:
            return np.full(len(x), -1, dtype=np.int64), np.full(len(x), np.nan)
        if self._outline is None:
            from app.geo._grid_outline import OutlineIndex

            with self._near_lock:
                if self._outline is None:
                    self._outline = OutlineIndex(self._metric_boundary, self._metric_polygons())
        return self._nearest(x, y, self._outline)

    def _metric_polygons(self) -> NDArray[np.object_]:
        """The grids in the index's metric projection (None for a missing grid)."""
        return shapely.transform(self._geoms, lambda c: np.column_stack(self._to_metric.transform(c[:, 0], c[:, 1])))

    def locate_one(self, lon: float, lat: float) -> Location:
        """Find the grid holding one point (a fast path for single lookups).

        Parameters
        ----------
        lon, lat : float
            WGS84 longitude and latitude.

        Returns
        -------
        Location
            The grid (or nearest grid and distance) with the same rules as :meth:`locate`.
        """
        x, y = float(lon), float(lat)
        fi = (x - self._x0) * self._inv_dx
        fj = (y - self._y0) * self._inv_dy
        value = _EMPTY
        if 0 <= fi < self._nx and 0 <= fj < self._ny:
            value = int(self._framed[(int(fj) + 1) * (self._nx + 2) + int(fi) + 1])
        on_border = False
        if value <= -2:
            slot = -2 - value
            cands = self._cand[self._cand_ptr[slot]:self._cand_ptr[slot + 1]]  # in code order
            cover = shapely.contains_xy(self._geoms[cands], x, y)
            if self.border_tol_m > 0:
                mx, my = self._to_metric.transform(x, y)
                every = self._all_boundaries  # a single lookup projects only its candidates until then
                near = shapely.dwithin(self._boundaries(self._geoms[cands]) if every is None else every[cands],
                                       shapely.points(np.array([[mx, my]])), self.border_tol_m)
                on_border = bool(near.any())
                cover |= near
            hit = np.flatnonzero(cover)
            value = int(cands[hit[0]]) if len(hit) else -1
        if value >= 0:
            code = None if self.codes is None else self.codes[value]
            return Location(value, code, on_border, value, code, 0.0)
        if not (math.isfinite(x) and math.isfinite(y)) or not self.n:
            return Location(-1, None, False, -1, None, math.nan)
        ni, dist = self._nearest(np.array([x]), np.array([y]))
        nearest = int(ni[0])
        ncode = None if self.codes is None or nearest < 0 else self.codes[nearest]
        return Location(-1, None, False, nearest, ncode, float(dist[0]))

    def __repr__(self) -> str:
        return (f"GridIndex({self.n} grids, {self._nx}x{self._ny} cells of {self._cell_m:.1f} m, "
                f"{self.n_boundary_cells} boundary cells, built in {self.build_seconds:.3f} s)")
