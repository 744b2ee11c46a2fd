"""Raster kernels of the grid index: run-length expansion, scanline fill and segment supercover in cell units."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

#: Arrays and numbers of a GridIndex's state: everything built, not derived again when restored.
_STATE_ARRAYS = ("_by_rank", "_rank", "_cells", "_cand", "_cand_ptr")
_STATE_NUMBERS = ("n", "border_tol_m", "_x0", "_y0", "_nx", "_ny", "_inv_dx", "_inv_dy", "_cell_m",
                  "n_boundary_cells", "n_cells")
_STATE_INTS = ("n", "_nx", "_ny", "n_boundary_cells", "n_cells")


def ragged(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For run lengths ``counts``, return (owner of each element, position inside its run)."""
    counts = np.maximum(counts, 0)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def fill_centres(ua: NDArray[np.float64], va: NDArray[np.float64], ub: NDArray[np.float64], vb: NDArray[np.float64],
                 seg_poly: NDArray[np.int64], nx: int, ny: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return, per cell, the grid whose interior holds the cell centre and how many grids do."""
    vmin, vmax = np.minimum(va, vb) - 0.5, np.maximum(va, vb) - 0.5
    first = np.ceil(vmin).astype(np.int64)
    counts = np.ceil(vmax).astype(np.int64) - first  # rows j with vmin <= j < vmax (half-open)
    seg, pos = ragged(counts)
    row = first[seg] + pos
    vr = row + 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (vr - va[seg]) / (vb[seg] - va[seg])
    uc = ua[seg] + t * (ub[seg] - ua[seg])
    col = np.clip(np.ceil(uc - 0.5).astype(np.int64), 0, nx)  # first centre right of the crossing
    poly = seg_poly[seg]
    order = np.lexsort((uc, row, poly))
    row, col, poly = row[order], col[order], poly[order]
    group_start = np.ones(len(row), dtype=bool)
    group_start[1:] = (row[1:] != row[:-1]) | (poly[1:] != poly[:-1])
    gid = np.cumsum(group_start) - 1
    starts = np.flatnonzero(group_start)
    parity = (np.arange(len(row)) - starts[gid]) % 2
    sign = np.where(parity == 0, 1.0, -1.0)
    flat = row * (nx + 1) + col
    size = ny * (nx + 1)
    cnt = np.bincount(flat, weights=sign, minlength=size).reshape(ny, nx + 1).cumsum(axis=1)[:, :nx]
    lab = np.bincount(flat, weights=sign * poly, minlength=size).reshape(ny, nx + 1).cumsum(axis=1)[:, :nx]
    return np.rint(lab).astype(np.int64).ravel(), np.rint(cnt).astype(np.int64).ravel()


def touched_pairs(ua: NDArray[np.float64], va: NDArray[np.float64], ub: NDArray[np.float64], vb: NDArray[np.float64],
                  seg_poly: NDArray[np.int64], d: float, nx: int, ny: int, n: int) -> NDArray[np.int64]:
    """Return sorted unique keys ``cell * n + polygon`` for cells within ``d`` cells of a segment.

    Exact supercover: each segment is cut where u or v crosses k +- d; between two cuts the set
    of cells within ``d`` (in each axis) is constant, so testing every cut and every midpoint
    finds all of them.
    """
    nseg = len(ua)
    ts = [np.zeros(nseg), np.ones(nseg)]
    owners = [np.arange(nseg), np.arange(nseg)]
    for a, b in ((ua, ub), (va, vb)):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        moving = a != b
        for s in (-d, d):
            k0 = np.ceil(lo - s).astype(np.int64)
            counts = np.where(moving, np.floor(hi - s).astype(np.int64) - k0 + 1, 0)
            seg, pos = ragged(counts)
            ts.append(((k0[seg] + pos) + s - a[seg]) / (b[seg] - a[seg]))
            owners.append(seg)
    t = np.concatenate(ts)
    seg = np.concatenate(owners)
    order = np.lexsort((t, seg))
    t, seg = t[order], seg[order]
    same = seg[1:] == seg[:-1]
    t = np.concatenate([t, (t[:-1][same] + t[1:][same]) / 2.0])
    seg = np.concatenate([seg, seg[:-1][same]])
    pu = ua[seg] + t * (ub[seg] - ua[seg])
    pv = va[seg] + t * (vb[seg] - va[seg])
    poly = seg_poly[seg]
    i_lo, i_hi = np.floor(pu - d).astype(np.int64), np.floor(pu + d).astype(np.int64)
    j_lo, j_hi = np.floor(pv - d).astype(np.int64), np.floor(pv + d).astype(np.int64)
    di, dj = i_hi != i_lo, j_hi != j_lo
    both = di & dj
    ii = np.concatenate([i_lo, i_hi[di], i_lo[dj], i_hi[both]])
    jj = np.concatenate([j_lo, j_lo[di], j_hi[dj], j_hi[both]])
    pp = np.concatenate([poly, poly[di], poly[dj], poly[both]])
    ok = (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
    keys = (jj[ok] * nx + ii[ok]) * n + pp[ok]
    if len(keys) > 1:  # cheap pre-dedup of runs before the sort
        keep = np.ones(len(keys), dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]
        keys = keys[keep]
    return np.unique(keys)


#: PROJ pipelines of the transformers made so far, by target CRS (see :func:`transformer_to`).
_PIPELINES: dict[str, str] = {}
_PIPELINES_LOCK = threading.Lock()


def transformer_to(target: str) -> pyproj.Transformer:
    """A new transformer from WGS84 lon/lat to ``target`` (a PROJ string or a CRS name), x first.

    The first of a process asks PROJ's database (tens of milliseconds); later ones are made from its
    pipeline (a thousand times faster, the same numbers). pyproj transformers must not be shared between
    threads, so each thread makes its own.
    """
    pipeline = _PIPELINES.get(target)
    if pipeline is not None:
        try:
            return pyproj.Transformer.from_pipeline(pipeline)
        except pyproj.exceptions.ProjError:
            pass
    crs = pyproj.CRS.from_proj4(target) if target.lstrip().startswith("+") else pyproj.CRS.from_user_input(target)
    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    try:
        with _PIPELINES_LOCK:
            _PIPELINES[target] = tr.to_proj4()
    except pyproj.exceptions.ProjError:
        pass
    return tr


def pipeline_of(target: str) -> str:
    """The PROJ pipeline of :func:`transformer_to` ``target`` (empty when PROJ has none as a string)."""
    if target not in _PIPELINES:
        transformer_to(target)
    return _PIPELINES.get(target, "")


def know_pipeline(target: str, pipeline: str) -> None:
    """Take ``pipeline`` (saved by :func:`pipeline_of`) as that of ``target``: no database look-up in this process."""
    if pipeline:
        with _PIPELINES_LOCK:
            _PIPELINES.setdefault(target, pipeline)


def index_state(index: Any) -> dict[str, NDArray]:
    """The arrays of :meth:`app.geo.gridindex.GridIndex.state` (no Python objects: ``allow_pickle=False`` loads them)."""
    out: dict[str, NDArray] = {name: getattr(index, name) for name in _STATE_ARRAYS}
    out["numbers"] = np.array([float(getattr(index, name)) for name in _STATE_NUMBERS])
    has_codes = index.codes is not None
    codes = index.codes if has_codes else np.full(index.n, None, dtype=object)
    out["code_mask"] = np.array([c is None for c in codes] + [not has_codes], dtype=bool)
    out["codes"] = np.array(["" if c is None else c for c in codes], dtype=str)
    wkb = [b"" if g is None else shapely.to_wkb(g) for g in index._geoms]
    out["wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    out["wkb_ends"] = np.cumsum([len(b) for b in wkb], dtype=np.int64)
    out["pipeline"] = np.array([index._metric_def, pipeline_of(index._metric_def)])
    return out


def restore_state(index: Any, state: dict[str, NDArray]) -> NDArray[np.object_]:
    """Set the saved attributes of a bare GridIndex from :func:`index_state`; return its grids (not prepared, as built)."""
    for name, value in zip(_STATE_NUMBERS, np.asarray(state["numbers"]).tolist(), strict=True):
        setattr(index, name, int(value) if name in _STATE_INTS else value)
    for name in _STATE_ARRAYS:  # after the numbers: the raster's shape is one of them
        setattr(index, name, np.asarray(state[name]))
    mask = np.asarray(state["code_mask"], dtype=bool)
    index.grids = None
    index.codes = None
    if not mask[-1]:
        index.codes = np.array([None if m else str(c) for c, m in zip(state["codes"].tolist(), mask[:-1], strict=True)],
                               dtype=object)
    index._codes_ext = None if index.codes is None else np.append(index.codes, None)
    data, ends = np.asarray(state["wkb"]).tobytes(), np.asarray(state["wkb_ends"]).tolist()
    geoms = np.full(len(ends), None, dtype=object)
    for i, (a, b) in enumerate(zip([0, *ends[:-1]], ends, strict=True)):
        if b > a:
            geoms[i] = shapely.from_wkb(data[a:b])
    index._geoms = geoms
    if "pipeline" in state:
        know_pipeline(*(str(v) for v in state["pipeline"]))
    return geoms


class _NearestIndex:
    """Nearest grid boundary segment for points in metres.

    An STRtree over every single segment of every grid's rings: GEOS then measures each candidate
    against two vertices instead of a whole ring, which is several times faster than a tree of
    polygons (about 10 us per point for the demo city).

    Parameters
    ----------
    metric_boundaries : numpy.ndarray of shapely geometries
        Grid boundaries in metres (None for a missing grid).
    """

    def __init__(self, metric_boundaries: NDArray[np.object_]) -> None:
        lines, line_geom = shapely.get_parts(metric_boundaries, return_index=True)
        coords, coord_line = shapely.get_coordinates(lines, return_index=True)
        same = coord_line[:-1] == coord_line[1:]
        self.tree = shapely.STRtree(shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1)))
        self.seg_grid = line_geom[coord_line[:-1][same]].astype(np.int64)

    def query(self, mx: NDArray[np.float64], my: NDArray[np.float64]
              ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Return (point, grid, distance) for every grid at the minimum distance of each point."""
        (q, seg), d = self.tree.query_nearest(shapely.points(mx, my), all_matches=True, return_distance=True)
        return q, self.seg_grid[seg], d

