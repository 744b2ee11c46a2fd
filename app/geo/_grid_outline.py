"""The outline of the grids: the nearest grid of points outside every grid, searched among its segments only."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from app.geo.gridindex import _NearestIndex


class OutlineIndex(_NearestIndex):
    """Nearest grid boundary segment for points outside every grid: the segments of the grids' outline.

    A segment shared by two grids lying on its two sides (an inner edge of the tiling) can never be
    the nearest for a point outside every grid: the points around it are all inside a grid, so the
    way from the outside point crosses the outline first. Such segments are left out, except those
    touching a vertex of the outline (there, ties between the grids meeting at the vertex are kept).
    Anything else (gaps, overlaps, unshared or one-sided edges) stays, so the answers are those of
    :class:`_NearestIndex`, from far fewer segments.

    Parameters
    ----------
    metric_boundaries : numpy.ndarray of shapely geometries
        Grid boundaries in metres (None for a missing grid).
    metric_polygons : numpy.ndarray of shapely geometries
        The grids in metres, in the same order.
    """

    def __init__(self, metric_boundaries: NDArray[np.object_], metric_polygons: NDArray[np.object_]) -> None:
        lines, line_geom = shapely.get_parts(metric_boundaries, return_index=True)
        coords, coord_line = shapely.get_coordinates(lines, return_index=True)
        same = coord_line[:-1] == coord_line[1:]
        a, b = coords[:-1][same], coords[1:][same]
        grid = line_geom[coord_line[:-1][same]].astype(np.int64)
        # one key per undirected segment: its two end points in a fixed order
        swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
        lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
        _, seg_key, counts = np.unique(np.hstack([lo, hi]), axis=0, return_inverse=True, return_counts=True)
        seg_key = seg_key.ravel()
        inner = np.zeros(len(a), dtype=bool)
        pair = np.flatnonzero(counts[seg_key] == 2)
        if len(pair):
            order = pair[np.argsort(seg_key[pair], kind="stable")]
            first, second = order[0::2], order[1::2]
            # both sides covered, one grid on each: test just left and right of each shared segment's middle
            mid = (a[first] + b[first]) / 2.0
            d = b[first] - a[first]
            length = np.hypot(d[:, 0], d[:, 1])
            step = np.where(length > 0, np.minimum(0.01, length * 1e-4) / np.where(length > 0, length, 1.0), 0.0)
            nx, ny = -d[:, 1] * step, d[:, 0] * step
            polys = metric_polygons
            g1, g2 = grid[first], grid[second]
            l1 = shapely.contains_xy(polys[g1], mid[:, 0] + nx, mid[:, 1] + ny)
            r1 = shapely.contains_xy(polys[g1], mid[:, 0] - nx, mid[:, 1] - ny)
            l2 = shapely.contains_xy(polys[g2], mid[:, 0] + nx, mid[:, 1] + ny)
            r2 = shapely.contains_xy(polys[g2], mid[:, 0] - nx, mid[:, 1] - ny)
            covered = (g1 != g2) & (length > 0) & ((l1 & ~r1 & r2 & ~l2) | (r1 & ~l1 & l2 & ~r2))
            inner[first[covered]] = inner[second[covered]] = True
        # keep every segment touching a vertex of the outline
        _, pt_key = np.unique(np.vstack([a, b]), axis=0, return_inverse=True)
        pt_key = pt_key.ravel()
        on_outline = np.zeros(pt_key.max() + 1 if len(pt_key) else 0, dtype=bool)
        n = len(a)
        on_outline[pt_key[:n][~inner]] = True
        on_outline[pt_key[n:][~inner]] = True
        keep = ~inner | on_outline[pt_key[:n]] | on_outline[pt_key[n:]]
        self.tree = shapely.STRtree(shapely.linestrings(np.stack([a[keep], b[keep]], axis=1)))
        self.seg_grid = grid[keep]
        self.n_segments, self.n_kept = n, int(keep.sum())
