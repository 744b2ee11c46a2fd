"""Walking network from the roads layer: noding, snapping points onto it and walking distances."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import shapely

#: Coordinates closer than this (metres) are one network node.
NODE_TOLERANCE_M = 0.01


@dataclass(frozen=True)
class Snap:
    """Points snapped onto the network.

    Attributes
    ----------
    seg : ndarray of int
        Index of the road segment each point snapped to.
    t : ndarray of float
        Distance in metres along that segment from its first node to the snapped point.
    access : ndarray of float
        Length of the straight access leg from the point to the snapped point, in metres.
    xy : ndarray of float, shape (n, 2)
        The snapped points.
    """

    seg: np.ndarray
    t: np.ndarray
    access: np.ndarray
    xy: np.ndarray

    def __len__(self) -> int:
        return len(self.seg)


class WalkNetwork:
    """An undirected walking network of straight road segments, in a metric CRS.

    Build it with :func:`build_network`. Nodes are the road vertices and every crossing of
    two roads; each segment joins two consecutive nodes of one road.

    **Snapping rule.** A point (address, facility, sample point) is snapped to the closest
    point of the closest road segment (perpendicular projection, clamped to the segment;
    on a tie the segment with the lowest index wins). The straight *access leg* from the
    point to its snapped position is walked too, so the walking distance between two
    points is ``access_a + along-network distance between the snapped positions +
    access_b``. Two points snapped onto the same segment may also walk straight along it.

    Parameters
    ----------
    node_xy : ndarray, shape (n, 2)
        Node coordinates.
    seg_u, seg_v : ndarray of int
        First and second node of each segment.
    """

    def __init__(self, node_xy: np.ndarray, seg_u: np.ndarray, seg_v: np.ndarray) -> None:
        self.node_xy = np.asarray(node_xy, dtype=float)
        self.seg_u = np.asarray(seg_u, dtype=np.int64)
        self.seg_v = np.asarray(seg_v, dtype=np.int64)
        a = self.node_xy[self.seg_u]
        b = self.node_xy[self.seg_v]
        self.seg_len = np.hypot(*(b - a).T)
        self.segments = shapely.linestrings(np.stack([a, b], axis=1)) if len(a) else np.array([], dtype=object)
        self._tree = shapely.STRtree(self.segments)
        # CSR adjacency for Dijkstra, as Python lists (fast to index from pure Python)
        n = len(self.node_xy)
        src = np.concatenate([self.seg_u, self.seg_v])
        dst = np.concatenate([self.seg_v, self.seg_u])
        wgt = np.concatenate([self.seg_len, self.seg_len])
        order = np.argsort(src, kind="stable")
        self._indptr = np.searchsorted(src[order], np.arange(n + 1)).tolist()
        self._nbr = dst[order].tolist()
        self._wgt = wgt[order].tolist()

    @property
    def node_count(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def segment_count(self) -> int:
        """Number of segments."""
        return len(self.seg_u)

    def snap(self, xy: np.ndarray) -> Snap:
        """Snap points onto the network (see the class docstring for the rule).

        Parameters
        ----------
        xy : ndarray, shape (n, 2)
            Point coordinates in the network's CRS.

        Returns
        -------
        Snap
            Segment, position along it and access-leg length of every point.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if self.segment_count == 0:
            raise ValueError("the road network is empty: no segment to snap to")
        if len(xy) == 0:
            empty = np.array([], dtype=float)
            return Snap(np.array([], dtype=np.int64), empty, empty, np.empty((0, 2)))
        idx = self._tree.query_nearest(shapely.points(xy), all_matches=False)
        seg = np.empty(len(xy), dtype=np.int64)
        seg[idx[0]] = idx[1]
        a = self.node_xy[self.seg_u[seg]]
        b = self.node_xy[self.seg_v[seg]]
        ab = b - a
        length = self.seg_len[seg]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.einsum("ij,ij->i", xy - a, ab) / (length**2)
        frac = np.clip(np.nan_to_num(frac), 0.0, 1.0)
        snapped = a + ab * frac[:, None]
        access = np.hypot(*(xy - snapped).T)
        return Snap(seg, frac * length, access, snapped)

    def node_distances(self, sources: Snap, cutoff: float | None = None) -> np.ndarray:
        """Walking distance from the nearest source to every node (multi-source Dijkstra).

        Parameters
        ----------
        sources : Snap
            Snapped source points (e.g. facilities); their access legs count.
        cutoff : float, optional
            Stop exploring beyond this distance; nodes further away get ``inf``.

        Returns
        -------
        ndarray of float
            One distance per node; ``inf`` where unreachable (or beyond ``cutoff``).
        """
        n = self.node_count
        dist = [float("inf")] * n
        if len(sources):
            start_u = sources.access + sources.t
            start_v = sources.access + self.seg_len[sources.seg] - sources.t
            for nodes, d0 in ((self.seg_u[sources.seg], start_u), (self.seg_v[sources.seg], start_v)):
                for node, d in zip(nodes.tolist(), d0.tolist(), strict=True):
                    if d < dist[node]:
                        dist[node] = d
        limit = float("inf") if cutoff is None else float(cutoff)
        heap = [(d, i) for i, d in enumerate(dist) if d <= limit]
        heapq.heapify(heap)
        indptr, nbr, wgt = self._indptr, self._nbr, self._wgt
        done = [False] * n
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            d, u = pop(heap)
            if done[u]:
                continue
            done[u] = True
            for k in range(indptr[u], indptr[u + 1]):
                v = nbr[k]
                nd = d + wgt[k]
                if nd < dist[v] and nd <= limit:
                    dist[v] = nd
                    push(heap, (nd, v))
        out = np.array(dist, dtype=float)
        if cutoff is not None:
            out[out > limit] = np.inf
        return out

    def distances(self, node_dist: np.ndarray, sources: Snap, targets: Snap) -> np.ndarray:
        """Walking distance from each target to its nearest source.

        Parameters
        ----------
        node_dist : ndarray
            :meth:`node_distances` for ``sources``.
        sources : Snap
            The snapped sources (needed for sources on the same segment as a target).
        targets : Snap
            The snapped targets (e.g. addresses or area sample points).

        Returns
        -------
        ndarray of float
            Access leg + along-network distance; ``inf`` where no source can be reached.
        """
        if len(targets) == 0:
            return np.array([], dtype=float)
        seg = targets.seg
        via_u = node_dist[self.seg_u[seg]] + targets.t
        via_v = node_dist[self.seg_v[seg]] + (self.seg_len[seg] - targets.t)
        best = np.minimum(via_u, via_v)
        if len(sources):
            # sources on the same segment as a target: walk straight along it
            s_order = np.argsort(sources.seg, kind="stable")
            s_seg = sources.seg[s_order]
            lo = np.searchsorted(s_seg, seg, side="left")
            hi = np.searchsorted(s_seg, seg, side="right")
            for i in np.flatnonzero(hi > lo):
                k = s_order[lo[i]:hi[i]]
                direct = np.min(sources.access[k] + np.abs(sources.t[k] - targets.t[i]))
                if direct < best[i]:
                    best[i] = direct
        return best + targets.access

    def reached_lines(self, node_dist: np.ndarray, radius: float) -> shapely.Geometry:
        """The parts of the network within ``radius`` walking distance of a source, for drawing.

        Each segment end with distance ``d < radius`` contributes the first ``radius - d``
        metres of the segment from that end (segments reached from both ends may be whole).
        Sources' own segments are approximated from their end nodes.

        Parameters
        ----------
        node_dist : ndarray
            :meth:`node_distances` of the sources.
        radius : float
            Walking distance in metres.

        Returns
        -------
        shapely.MultiLineString
            Reached pieces of road (may be empty).
        """
        du = node_dist[self.seg_u]
        dv = node_dist[self.seg_v]
        length = self.seg_len
        reach_u = np.clip(radius - du, 0, None)
        reach_v = np.clip(radius - dv, 0, None)
        whole = reach_u + reach_v >= length
        a = self.node_xy[self.seg_u]
        b = self.node_xy[self.seg_v]
        pieces: list[np.ndarray] = []
        if whole.any():
            pieces.append(np.stack([a[whole], b[whole]], axis=1))
        part_u = ~whole & (reach_u > 0)
        if part_u.any():
            f = (reach_u[part_u] / length[part_u])[:, None]
            pieces.append(np.stack([a[part_u], a[part_u] + (b[part_u] - a[part_u]) * f], axis=1))
        part_v = ~whole & (reach_v > 0)
        if part_v.any():
            f = (reach_v[part_v] / length[part_v])[:, None]
            pieces.append(np.stack([b[part_v], b[part_v] + (a[part_v] - b[part_v]) * f], axis=1))
        if not pieces:
            return shapely.MultiLineString()
        lines = shapely.linestrings(np.concatenate(pieces))
        return shapely.line_merge(shapely.multilinestrings(lines))


def build_network(lines: np.ndarray | list) -> WalkNetwork:
    """Build the walking network from road geometries in a metric CRS.

    Roads are noded with ``shapely.union_all`` so every crossing becomes a junction (an
    overpass is treated as a crossing); coordinates within :data:`NODE_TOLERANCE_M` merge
    into one node; zero-length segments are dropped.

    Parameters
    ----------
    lines : array-like of shapely LineString or MultiLineString
        Road geometries, metric CRS.

    Returns
    -------
    WalkNetwork
        The network.
    """
    geoms = np.asarray(lines, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)] if len(geoms) else geoms
    if len(geoms) == 0:
        return WalkNetwork(np.empty((0, 2)), np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    noded = shapely.union_all(geoms)
    parts = shapely.get_parts(noded)
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings only
    coords, line_idx = shapely.get_coordinates(parts, return_index=True)
    keys = np.round(coords / NODE_TOLERANCE_M).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    node_xy = np.zeros((len(uniq), 2))
    node_xy[inverse] = coords
    same_line = line_idx[1:] == line_idx[:-1]
    u = inverse[:-1][same_line]
    v = inverse[1:][same_line]
    keep = u != v
    u, v = u[keep], v[keep]
    # one segment per node pair
    pair = np.unique(np.stack([np.minimum(u, v), np.maximum(u, v)], axis=1), axis=0)
    return WalkNetwork(node_xy, pair[:, 0], pair[:, 1])
