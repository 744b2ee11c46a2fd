"""What a coordinate batch needs of a data version, in plain arrays: built once, saved per version, loaded fast."""

from __future__ import annotations

import hashlib
import math
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from app.geo._grid_raster import know_pipeline, pipeline_of, ragged, transformer_to
from app.geo.gridindex import GridIndex

#: Bump when the saved layout or the answers change: older files are then ignored (and removed).
FORMAT = 2
#: Saved indexes kept in a cache folder (the newest; one per data version).
KEEP_FILES = 4
#: The per-grid text columns a located row gets.
GRID_COLUMNS = ("code", "name", "committee_code", "committee_name", "division_code", "division_name")
#: Query points handled at a time by :meth:`CellNearest.query` (bounds the (point, candidate) pairs held).
BLOCK = 4096
_BIG = np.iinfo(np.int64).max


def _point_segment(qx: NDArray, qy: NDArray, ax: NDArray, ay: NDArray, bx: NDArray, by: NDArray) -> NDArray:
    """Distance of each point to its segment, with GEOS's own formula (``Distance::pointToSegment``).

    The same operations in the same order give the same numbers as shapely's distances (and
    scipy's KD-tree for a segment of length 0), so ties come out as they do there.
    """
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    dxa, dya = qx - ax, qy - ay
    dxb, dyb = qx - bx, qy - by
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (dxa * ex + dya * ey) / len2
        s = ((ay - qy) * ex - (ax - qx) * ey) / len2
        on = np.abs(s) * np.sqrt(len2)
    to_a = np.sqrt(dxa * dxa + dya * dya)
    to_b = np.sqrt(dxb * dxb + dyb * dyb)
    point = (ax == bx) & (ay == by)
    return np.where(point | (r <= 0.0), to_a, np.where(r >= 1.0, to_b, on))


def _within(tree: Any, ax: NDArray, ay: NDArray, bx: NDArray, by: NDArray, cx: NDArray, cy: NDArray,
            radius: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(centre, item) pairs with the item within ``radius`` of the centre: envelopes from the tree, then measured."""
    cells, items = [], []
    for lo in range(0, len(cx), 4096):
        hi = min(len(cx), lo + 4096)
        r = radius[lo:hi]
        boxes = shapely.box(cx[lo:hi] - r, cy[lo:hi] - r, cx[lo:hi] + r, cy[lo:hi] + r)
        c, i = tree.query(boxes)
        d = _point_segment(cx[lo:hi][c], cy[lo:hi][c], ax[i], ay[i], bx[i], by[i])
        ok = d <= r[c]
        cells.append(c[ok] + lo)
        items.append(i[ok])
    return np.concatenate(cells or [np.zeros(0, np.int64)]), np.concatenate(items or [np.zeros(0, np.int64)])


@dataclass
class CellNearest:
    """The exact nearest of fixed segments (or points: segments of length 0) for many query points.

    A raster of square cells over ``extent`` keeps, per cell, every item that can be the nearest
    of some point of the cell: those within ``d + 2h`` of its centre, ``d`` being the distance of
    the centre's nearest item and ``h`` half the cell's diagonal: no point of the cell is farther
    than ``d + h`` from its nearest (nor than the cell's farthest corner is from the centre's
    nearest item), so only items that near the cell's square can be it; of points, only those
    nearer than the centre's nearest item at some corner. A query measures its point against its cell's candidates only, all points at once.
    With ``limit``, items ``limit`` or farther away do not count (cells beyond it keep none).

    Attributes
    ----------
    ax, ay, bx, by : ndarray of float
        The items' end points.
    rank : ndarray of int64
        Ties (the same distance) go to the lowest rank.
    extent : tuple of float
        Where the cells answer (``minx, miny, maxx, maxy``); :meth:`query` says which points lie outside.
    """

    ax: NDArray[np.float64]
    ay: NDArray[np.float64]
    bx: NDArray[np.float64]
    by: NDArray[np.float64]
    rank: NDArray[np.int64]
    limit: float
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    ptr: NDArray[np.int64]
    cand: NDArray[np.int32]

    @property
    def points(self) -> bool:
        """Whether every item is a point (a segment of length 0)."""
        hit = self.__dict__.get("_points")
        if hit is None:
            hit = self.__dict__["_points"] = bool(((self.ax == self.bx) & (self.ay == self.by)).all())
        return hit

    @classmethod
    def build(cls, ax: NDArray, ay: NDArray, bx: NDArray, by: NDArray, rank: NDArray[np.int64],
              extent: tuple[float, float, float, float], limit: float = math.inf,
              cells: int | None = None, skip: Any = None) -> CellNearest:
        """Classify the cells of ``extent`` (about ``cells`` of them; default 16 per item, 4,096 to 1,048,576).

        Cells wholly inside the geometry ``skip`` keep no candidates (no query is expected there).
        """
        minx, miny, maxx, maxy = extent
        width, height = max(maxx - minx, 1e-6), max(maxy - miny, 1e-6)
        target = cells or int(np.clip(16 * len(ax), 4096, 1 << 20))
        size = math.sqrt(width * height / target)
        nx, ny = max(1, math.ceil(width / size)), max(1, math.ceil(height / size))
        ncell = nx * ny
        ptr = np.zeros(ncell + 1, dtype=np.int64)
        cand = np.zeros(0, dtype=np.int32)
        if len(ax):
            geoms = np.where((ax == bx) & (ay == by), shapely.points(ax, ay),
                             shapely.linestrings(np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1)))
            tree = shapely.STRtree(geoms)
            j, i = np.divmod(np.arange(ncell), nx)
            cx, cy = minx + (i + 0.5) * size, miny + (j + 0.5) * size
            (_, nearest), d = tree.query_nearest(shapely.points(cx, cy), return_distance=True, all_matches=False)
            half = size / 2
            wanted = d - size * math.sqrt(0.5) < limit
            if skip is not None:
                shapely.prepare(skip)
                wanted &= ~shapely.contains_properly(skip, shapely.box(cx - half, cy - half, cx + half, cy + half))
            keep = np.flatnonzero(wanted)
            cx, cy, nearest = cx[keep], cy[keep], nearest[keep]
            # no point of the cell is farther from its nearest item than the farthest corner is from the
            # centre's nearest item (the distance to a segment is convex): only items that near the cell count
            corners = [(cx + sx * half, cy + sy * half) for sx in (-1, 1) for sy in (-1, 1)]
            reach = np.max([_point_segment(qx, qy, ax[nearest], ay[nearest], bx[nearest], by[nearest])
                            for qx, qy in corners], axis=0)
            # then items within that reach of the cell, i.e. within reach + h of its centre (a superset)
            radius = np.minimum(reach, limit) * (1 + 1e-9) + 1e-9 + size * math.sqrt(0.5)
            got_cell, got_item = _within(tree, ax, ay, bx, by, cx, cy, radius)
            if ((ax == bx) & (ay == by)).all():  # points: only those nearer than the centre's nearest at a corner
                other = nearest[got_cell]
                near = np.zeros(len(got_cell), dtype=bool)
                for qx, qy in corners:
                    qx, qy = qx[got_cell], qy[got_cell]
                    da = (qx - ax[got_item]) ** 2 + (qy - ay[got_item]) ** 2
                    db = (qx - ax[other]) ** 2 + (qy - ay[other]) ** 2
                    near |= da <= db * (1 + 1e-9) + 1e-9
                got_cell, got_item = got_cell[near], got_item[near]
            cell_of = keep[got_cell]
            order = np.lexsort((got_item, cell_of))
            cand = got_item[order].astype(np.int32)
            ptr[1:] = np.cumsum(np.bincount(cell_of, minlength=ncell))
        return cls(np.asarray(ax, float), np.asarray(ay, float), np.asarray(bx, float), np.asarray(by, float),
                   np.asarray(rank, np.int64), float(limit), float(minx), float(miny), float(size), nx, ny, ptr, cand)

    def covers(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether the cells answer each point: inside the extent, and in a cell with candidates unless
        there is a ``limit`` (then a cell without is beyond it); False for NaN."""
        fi = (x - self.x0) / self.cell
        fj = (y - self.y0) / self.cell
        inside = (fi >= 0) & (fi < self.nx) & (fj >= 0) & (fj < self.ny)
        if math.isfinite(self.limit):
            return inside
        at = np.flatnonzero(inside)
        c = fj[at].astype(np.int64) * self.nx + fi[at].astype(np.int64)
        inside[at] = self.ptr[c + 1] > self.ptr[c]
        return inside

    def query(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The nearest item of each point (lowest rank among ties; -1 if none within the limit) and its distance.

        Points outside :meth:`covers` get -1 / NaN: the caller searches them otherwise.
        """
        n = len(x)
        best = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        for lo in range(0, n, BLOCK):
            hi = min(n, lo + BLOCK)
            qx, qy = x[lo:hi], y[lo:hi]
            ok = np.flatnonzero(self.covers(qx, qy))
            if not len(ok):
                continue
            c = ((qy[ok] - self.y0) / self.cell).astype(np.int64) * self.nx + ((qx[ok] - self.x0) / self.cell).astype(np.int64)
            start = self.ptr[c]
            count = self.ptr[c + 1] - start
            has = count > 0
            ok, start, count = ok[has], start[has], count[has]
            if not len(ok):
                continue
            owner, pos = ragged(count)
            item = self.cand[start[owner] + pos]
            px, py = qx[ok][owner], qy[ok][owner]
            if self.points:  # the distance of GEOS's point-point and scipy's KD-tree
                dx, dy = px - self.ax[item], py - self.ay[item]
                d = np.sqrt(dx * dx + dy * dy)
            else:
                d = _point_segment(px, py, self.ax[item], self.ay[item], self.bx[item], self.by[item])
            first = np.cumsum(count) - count
            low = np.minimum.reduceat(d, first)
            rank = np.where(d == low[owner], self.rank[item], _BIG)
            pick = np.minimum.reduceat(rank, first)
            within = low < self.limit
            best[lo + ok[within]] = pick[within]
            dist[lo + ok[within]] = low[within]
        return best, dist

    def arrays(self, prefix: str) -> dict[str, NDArray]:
        """The arrays to save, named ``prefix`` + field."""
        numbers = np.array([self.limit, self.x0, self.y0, self.cell, self.nx, self.ny])
        return {f"{prefix}ax": self.ax, f"{prefix}ay": self.ay, f"{prefix}bx": self.bx, f"{prefix}by": self.by,
                f"{prefix}rank": self.rank, f"{prefix}numbers": numbers, f"{prefix}ptr": self.ptr,
                f"{prefix}cand": self.cand}

    @classmethod
    def from_arrays(cls, data: Any, prefix: str) -> CellNearest:
        """The structure saved by :meth:`arrays`."""
        limit, x0, y0, cell, nx, ny = (float(v) for v in data[f"{prefix}numbers"])
        return cls(data[f"{prefix}ax"], data[f"{prefix}ay"], data[f"{prefix}bx"], data[f"{prefix}by"],
                   data[f"{prefix}rank"], limit, x0, y0, cell, int(nx), int(ny), data[f"{prefix}ptr"],
                   data[f"{prefix}cand"])


def _pack_strings(values: NDArray[np.object_], name: str) -> dict[str, NDArray]:
    """Strings (None allowed) as UTF-8 bytes, end offsets and a null mask (loadable without pickle)."""
    array = pa.array([None if v is None else str(v) for v in values], type=pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[:len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    return {f"{name}_data": data[:offsets[-1]].copy(), f"{name}_offsets": offsets.copy(),
            f"{name}_null": np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)}


def _unpack_strings(data: Any, name: str) -> pa.Array:
    """The Arrow string array of :func:`_pack_strings`."""
    offsets, null = data[f"{name}_offsets"], data[f"{name}_null"]
    valid = pa.py_buffer(np.packbits(~null, bitorder="little")) if null.any() else None
    large = pa.Array.from_buffers(pa.large_string(), len(null), [valid, pa.py_buffer(offsets),
                                                                    pa.py_buffer(data[f"{name}_data"])])
    return large.cast(pa.string())


@dataclass
class BatchIndex:
    """One data version as a coordinate batch sees it.

    Attributes
    ----------
    grids : GridIndex
        Which grid holds a point (and ``on_border``).
    columns : dict of str to pyarrow.Array
        Per grid (by row of the grid layer): :data:`GRID_COLUMNS` as text, null where missing.
    outline : CellNearest
        The nearest grid of points outside every grid: the segments of the grids' outline in the
        grid index's metric projection, ranked by the grid's code order.
    outline_grid : ndarray of int64
        The grid of each outline segment.
    addresses : CellNearest
        The standard addresses (points) in ``metric_crs``, within ``MAX_DISTANCE_M``.
    address_text : pyarrow.Array
        Each address's text.
    metric_crs : str
        The CRS of the address points (the data version's metric CRS).
    """

    grids: GridIndex
    columns: dict[str, pa.Array]
    outline: CellNearest
    outline_grid: NDArray[np.int64]
    addresses: CellNearest
    address_text: pa.Array
    metric_crs: str
    _threads: threading.local = field(default_factory=threading.local, repr=False)

    def to_metric(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """WGS84 to ``metric_crs`` (a transformer per thread: pyproj's are not shared between threads)."""
        tr = getattr(self._threads, "tr", None)
        if tr is None:
            tr = self._threads.tr = transformer_to(self.metric_crs)
        x, y = tr.transform(lon, lat)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def nearest_grid(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray]:
        """:meth:`GridIndex.nearest_outside` for points outside every grid: nearest grid and metres (same answers)."""
        index = self.grids
        near, dist = np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        if not len(ok) or not index.n:
            return near, dist
        mx, my = (np.asarray(v, dtype=float) for v in index._to_metric.transform(lon[ok], lat[ok]))
        covered = self.outline.covers(mx, my)
        rank, d = self.outline.query(mx[covered], my[covered])
        found = rank >= 0
        at = ok[covered][found]
        near[at], dist[at] = index._by_rank[rank[found]], d[found]
        rest = ok[~covered]
        if len(rest):  # far from the grids: the segment tree
            near[rest], dist[rest] = index.nearest_outside(lon[rest], lat[rest])
        return near, dist

    def nearest_address(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray]:
        """The nearest standard address within ``MAX_DISTANCE_M`` (-1 / NaN if none), as ``AddressPoints.nearest``."""
        found, dist = np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        good = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        if not len(good) or not len(self.addresses.ax):
            return found, dist
        x, y = self.to_metric(lon[good], lat[good])
        fine = np.isfinite(x) & np.isfinite(y)  # beyond what the metric CRS can project: no address
        hit, d = self.addresses.query(x[fine], y[fine])
        found[good[fine]], dist[good[fine]] = hit, d
        return found, dist

    def to_bytes(self) -> bytes:
        """The saved file's bytes (to send the index to another process)."""
        import io

        buf = io.BytesIO()
        np.savez(buf, **self._arrays())
        return buf.getvalue()

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (a temporary file renamed into place: readers never see half)."""
        data = self._arrays()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, **data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _arrays(self) -> dict[str, NDArray]:
        data: dict[str, NDArray] = {f"grid_{k}": v for k, v in self.grids.state().items()}
        for name, values in self.columns.items():
            data.update(_pack_strings(np.asarray(values.to_pylist(), dtype=object), f"col_{name}"))
        data.update(self.outline.arrays("outline_"))
        data["outline_grid"] = self.outline_grid
        data.update(self.addresses.arrays("addr_"))
        data.update(_pack_strings(np.asarray(self.address_text.to_pylist(), dtype=object), "addr_text"))
        data["meta"] = np.array([str(FORMAT), self.metric_crs, pipeline_of(self.metric_crs)])
        return data

    @classmethod
    def load(cls, path: Path | bytes) -> BatchIndex | None:
        """The index saved at ``path`` (or its bytes); None when missing, unreadable or of another :data:`FORMAT`."""
        import io

        try:
            with np.load(io.BytesIO(path) if isinstance(path, bytes) else path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        meta = data.get("meta")
        if meta is None or len(meta) != 3 or str(meta[0]) != str(FORMAT):
            return None
        know_pipeline(str(meta[1]), str(meta[2]))
        grids = GridIndex.from_state({k[5:]: v for k, v in data.items() if k.startswith("grid_")})
        return cls(grids, {name: _unpack_strings(data, f"col_{name}") for name in GRID_COLUMNS},
                   CellNearest.from_arrays(data, "outline_"), data["outline_grid"],
                   CellNearest.from_arrays(data, "addr_"), _unpack_strings(data, "addr_text"), str(meta[1]))


def build(ds: Any) -> BatchIndex:
    """The :class:`BatchIndex` of a data version, from its layers (what loading a saved one skips)."""
    from app.geo import _locate_rows as rows
    from app.geo._grid_outline import OutlineIndex
    from app.geo._locate_reverse import MAX_DISTANCE_M, address_points

    index = ds.grid_index
    per_grid = rows.grid_columns(ds)
    columns = {name: pa.array(list(getattr(per_grid, name)), type=pa.string())
               for name in GRID_COLUMNS}
    if index.n:
        outline = OutlineIndex(index._metric_boundary, index._metric_polygons())
        coords = shapely.get_coordinates(outline.tree.geometries).reshape(-1, 2, 2)
        seg_grid = np.asarray(outline.seg_grid, dtype=np.int64)
        ax, ay, bx, by = coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1]
        lo, hi = np.minimum(ax, bx), np.maximum(ax, bx)
        blo, bhi = np.minimum(ay, by), np.maximum(ay, by)
        minx, miny, maxx, maxy = lo.min(), blo.min(), hi.max(), bhi.max()
        pad = max(maxx - minx, maxy - miny) / 4  # points farther out are searched with the segment tree
        polygons = index._metric_polygons()
        near = CellNearest.build(ax, ay, bx, by, index._rank[seg_grid],
                                 (minx - pad, miny - pad, maxx + pad, maxy + pad), cells=int(np.clip(64 * len(ax), 4096, 1 << 16)),
                                 skip=shapely.union_all(polygons[~shapely.is_missing(polygons)]))
    else:
        seg_grid = np.zeros(0, dtype=np.int64)
        near = CellNearest.build(*(np.zeros(0),) * 4, np.zeros(0, np.int64), (0.0, 0.0, 1.0, 1.0))
    points = address_points(ds)
    if len(points.addresses):
        px, py = (np.asarray(v, dtype=float) for v in points._transformer().transform(points.lon, points.lat))
        usable = np.isfinite(px) & np.isfinite(py)
    else:
        px = py = np.zeros(0)
        usable = np.zeros(0, dtype=bool)
    keep = np.flatnonzero(usable)
    px, py = px[keep], py[keep]
    if len(keep):
        extent = (px.min() - MAX_DISTANCE_M, py.min() - MAX_DISTANCE_M, px.max() + MAX_DISTANCE_M,
                  py.max() + MAX_DISTANCE_M)
    else:
        extent = (0.0, 0.0, 1.0, 1.0)
    # ties go to the lowest row of the layer (keep is sorted, so a position's rank is its row order)
    addresses = CellNearest.build(px, py, px, py, np.arange(len(keep), dtype=np.int64), extent, MAX_DISTANCE_M)
    text = pa.array([str(a) for a in points.addresses[keep]], type=pa.string())
    return BatchIndex(index, columns, near, seg_grid, addresses, text, points.metric_crs)


def cache_path(folder: Path, ds: Any) -> Path:
    """The file of ``ds``'s saved index in ``folder``: named by the store's location and the version."""
    key = f"{FORMAT}\n{getattr(ds.store, 'location', '')}\n{ds.version}".encode()
    return folder / f"batch-index-{hashlib.sha256(key).hexdigest()[:20]}.npz"


def batch_index(ds: Any, cache_dir: Path | None = None) -> BatchIndex:
    """The :class:`BatchIndex` of ``ds``, built once per version (``Dataset.cached``).

    Parameters
    ----------
    ds : Dataset
        The data version.
    cache_dir : Path, optional
        A folder of saved indexes (the CLI's: ``INSTANCE_DIR/cache``): loaded from there when this
        version was saved before, else built and saved there (the oldest beyond :data:`KEEP_FILES`
        removed). Without it, built in memory only.

    Returns
    -------
    BatchIndex
        The index.
    """
    def make() -> BatchIndex:
        if cache_dir is None:
            return build(ds)
        path = cache_path(cache_dir, ds)
        loaded = BatchIndex.load(path) if path.exists() else None
        if loaded is not None:
            return loaded
        made = build(ds)
        try:
            made.save(path)
            _prune(cache_dir)
        except OSError:  # a read-only instance folder: answer anyway, unsaved
            pass
        return made

    return ds.cached("batch.index", make)


def _prune(folder: Path) -> None:
    """Remove all but the newest :data:`KEEP_FILES` saved indexes."""
    files = sorted(folder.glob("batch-index-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        old.unlink(missing_ok=True)
