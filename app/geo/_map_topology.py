"""Geometry of the map payload: datum shift, coverage simplification, quantisation and shared-border topology."""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: Size of one quantisation step, degrees: 1e-5 deg is about 0.85 m east-west and 1.1 m north-south here.
QUANTUM = 1e-5
#: Coverage-preserving simplification tolerance, metres (local frame, see simplify_coverage); shared borders stay shared.
SIMPLIFY_M = 2.0
#: Datums the map can be drawn in: WGS84 (OSM, Tianditu, no basemap) or GCJ-02 (AMap tiles).
DATUMS = ("wgs84", "gcj02")


# --- geometry encoding ---------------------------------------------------------------------------


def check_datum(datum: str) -> str:
    """Return ``datum`` if it is one of :data:`DATUMS`, else raise ValueError."""
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")
    return datum


def shift_xy(lon: np.ndarray, lat: np.ndarray, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS84 longitudes and latitudes in ``datum`` (see :func:`shift_geometries`)."""
    if check_datum(datum) == "wgs84":
        return lon, lat
    from app.geo.crs import wgs84_to_gcj02

    return wgs84_to_gcj02(lon, lat)


def shift_geometries(geoms: np.ndarray, datum: str) -> np.ndarray:
    """Return WGS84 geometries in ``datum`` (GCJ-02 for AMap tiles; WGS84 unchanged).

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Lon/lat geometries in WGS84.
    datum : str
        ``wgs84`` or ``gcj02``.

    Returns
    -------
    ndarray of shapely geometries
        The geometries with every vertex shifted.
    """
    if check_datum(datum) == "wgs84":
        return geoms
    return shapely.transform(geoms, lambda c: np.column_stack(shift_xy(c[:, 0], c[:, 1], datum)))


#: Radius of the Web Mercator sphere (EPSG:3857), metres.
_MERCATOR_R = 6378137.0


def lonlat_box(merc: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The lon/lat box of a Web Mercator box (exact: the projection is separable in x and y)."""
    x0, y0, x1, y1 = merc
    lon = np.degrees(np.array([x0, x1]) / _MERCATOR_R)
    lat = np.degrees(2 * np.arctan(np.exp(np.array([y0, y1]) / _MERCATOR_R)) - np.pi / 2)
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def datum_margin(geoms: np.ndarray, datum: str) -> float:
    """Degrees a feature's box is widened by for ``datum``: 1e-9 (rounding) plus, for GCJ-02, its largest shift.

    The shift is smooth, so its largest value over the layer is read on a 21 x 21 lattice of the layer's
    box and doubled, with 1e-4 degrees (~10 m) more.
    """
    if datum == "wgs84" or not len(geoms):
        return 1e-9
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    lon, lat = (a.ravel() for a in np.meshgrid(np.linspace(x0, x1, 21), np.linspace(y0, y1, 21)))
    sx, sy = shift_xy(lon, lat, datum)
    return float(2 * max(np.abs(sx - lon).max(), np.abs(sy - lat).max()) + 1e-4)


def _local_scale(geoms: np.ndarray) -> tuple[float, float]:
    """Metres per degree of longitude and latitude at the middle of ``geoms`` (local equirectangular)."""
    lat0 = float(np.mean(shapely.total_bounds(geoms)[[1, 3]]))
    return 111_320.0 * math.cos(math.radians(lat0)), 110_574.0


def simplify_coverage(geoms: np.ndarray | gpd.GeoSeries, tolerance_m: float = SIMPLIFY_M) -> np.ndarray:
    """Simplify a polygon coverage so neighbours keep identical shared borders.

    The simplification runs in a local equirectangular frame (metres at the coverage's middle
    latitude): at city scale that is within a fraction of a percent of metric-CRS distances,
    and it needs no reprojection.

    Parameters
    ----------
    geoms : array of shapely geometries or GeoSeries
        Polygons in WGS84 that tile an area (grids, committees or divisions).
    tolerance_m : float
        Simplification tolerance in metres.

    Returns
    -------
    ndarray of shapely geometries
        The simplified polygons, in WGS84.
    """
    geoms = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    if len(geoms) == 0:
        return geoms
    kx, ky = _local_scale(geoms)
    metric = shapely.transform(geoms, lambda c: c * np.array([kx, ky]))
    try:
        simple = shapely.coverage_simplify(metric, tolerance_m)
    except Exception:  # noqa: BLE001 - an invalid coverage falls back to per-polygon simplification
        simple = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    bad = shapely.is_empty(simple) | ~shapely.is_valid(simple)
    simple = np.where(bad, metric, simple)
    return shapely.transform(simple, lambda c: c / np.array([kx, ky]))


def quantise(values: np.ndarray, origin: float) -> np.ndarray:
    """Return coordinates as whole quanta (:data:`QUANTUM`) from ``origin``."""
    return np.rint((values - origin) / QUANTUM).astype(np.int64)


# --- shared-border topology ----------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """Polygons as shared arcs, each stored once (TopoJSON-like, in quantised integer coordinates).

    Each arc runs between two junctions and has the feature on its left (``left``, always set) and
    the one on its right (``right``, -1 for none). Rings are oriented with their inside on the left
    (exteriors counter-clockwise), so a feature's rings are its left arcs forward plus its right
    arcs reversed, chained end to start (see :func:`assemble_rings`).
    """

    arcs: tuple[np.ndarray, ...]
    left: np.ndarray
    right: np.ndarray


def _quantised_rings(geoms: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Oriented, quantised ring vertices without closing vertex or repeats, and their ring/feature ids."""
    polys, poly_geom = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, cr = shapely.get_coordinates(rings, return_index=True)
    qx, qy = quantise(coords[:, 0], origin[0]), quantise(coords[:, 1], origin[1])
    if len(cr) == 0:
        return qx, qy, cr, cr
    first = np.r_[True, cr[1:] != cr[:-1]]
    keep = ~(np.r_[False, (np.diff(qx) == 0) & (np.diff(qy) == 0)] & ~first)
    qx, qy, cr = qx[keep], qy[keep], cr[keep]
    keep = np.r_[cr[1:] == cr[:-1], False]  # each ring's last vertex now equals its first
    qx, qy, cr = qx[keep], qy[keep], cr[keep]
    # rings of fewer than 3 vertices vanish, and so does a polygon whose exterior vanishes
    size = np.bincount(cr, minlength=len(rings))
    exterior = np.r_[True, ring_poly[1:] != ring_poly[:-1]] if len(rings) else np.zeros(0, dtype=bool)
    dead = np.zeros(len(polys), dtype=bool)
    dead[ring_poly[exterior & (size < 3)]] = True
    keep = ((size >= 3) & ~dead[ring_poly])[cr]
    return qx[keep], qy[keep], cr[keep], poly_geom[ring_poly[cr[keep]]]


def build_topology(geoms: np.ndarray, origin: tuple[float, float]) -> Topology:
    """Split polygon rings into arcs at junctions and store every shared border once.

    Coordinates are quantised to :data:`QUANTUM` first, so neighbours whose vertices coincide
    after quantisation share their arcs. Rings are cut where three or more edges meet or where
    the set of features using an edge changes. Any input is encoded exactly (after quantisation):
    gaps, overlaps and unshared vertices only cost bytes, since such borders are not shared.

    Parameters
    ----------
    geoms : array of Polygon or MultiPolygon
        Lon/lat geometries (feature i is ``geoms[i]``).
    origin : (float, float)
        Lon/lat of the quantisation origin.

    Returns
    -------
    Topology
        The arcs (absolute quantised coordinates) and the feature on each side.
    """
    geoms = np.asarray(geoms, dtype=object)
    qx, qy, cr, feature = _quantised_rings(geoms, origin)
    n, ng = len(qx), len(geoms)
    if n == 0:
        return Topology((), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    starts = np.flatnonzero(np.r_[True, cr[1:] != cr[:-1]])
    lens = np.diff(np.r_[starts, n])
    first, last = np.repeat(starts, lens), np.repeat(starts + lens - 1, lens)
    at = np.arange(n)
    nxt, prv = np.where(at == last, first, at + 1), np.where(at == first, last, at - 1)
    x0, y0 = int(qx.min()), int(qy.min())
    span = int(qy.max()) - y0 + 1
    uv, vid = np.unique((qx - x0) * span + (qy - y0), return_inverse=True)
    nv = len(uv)
    # edges: undirected vertex pairs; an edge's signature is who uses it (lowest, highest feature, count)
    ue, eid = np.unique(np.minimum(vid, vid[nxt]) * nv + np.maximum(vid, vid[nxt]), return_inverse=True)
    lo = np.full(len(ue), ng, dtype=np.int64)
    hi = np.full(len(ue), -1, dtype=np.int64)
    np.minimum.at(lo, eid, feature)
    np.maximum.at(hi, eid, feature)
    sig = ((lo * (ng + 1) + hi) * 4 + np.minimum(np.bincount(eid, minlength=len(ue)), 3))[eid]
    degree = np.bincount(np.r_[ue // nv, ue % nv], minlength=nv)
    cut = np.flatnonzero((degree[vid] >= 3) | (sig != sig[prv]))
    cut_ring = cr[cut]
    ring_ids = cr[starts]
    c0 = np.searchsorted(cut_ring, ring_ids).tolist()
    c1 = np.searchsorted(cut_ring, ring_ids, side="right").tolist()
    cut_l, vl = cut.tolist(), vid.tolist()

    arcs: list[list[int]] = []
    left: list[int] = []
    right: list[int] = []
    index: dict[tuple[int, ...], int] = {}
    for s, m, k0, k1, g in zip(starts.tolist(), lens.tolist(), c0, c1, feature[starts].tolist(), strict=True):
        ring = vl[s:s + m]
        if k0 == k1:  # no junction: one closed arc, starting at its lowest vertex so neighbours agree
            j = ring.index(min(ring))
            pieces = [ring[j:] + ring[:j + 1]]
        else:
            cuts = [c - s for c in cut_l[k0:k1]]
            twice = ring + ring
            pieces = [twice[a:b + 1] for a, b in zip(cuts, [*cuts[1:], cuts[0] + m], strict=True)]
        for seq in pieces:
            key = tuple(seq)
            back = index.get(key[::-1])
            if back is not None and right[back] < 0 and left[back] != g:
                right[back] = g  # the neighbour's side of a border already stored
                continue
            index[key] = len(arcs)
            arcs.append(seq)
            left.append(g)
            right.append(-1)
    xy = np.column_stack([uv // span + x0, uv % span + y0])
    flat = xy[np.fromiter((v for a in arcs for v in a), dtype=np.int64)]
    bounds = np.cumsum([len(a) for a in arcs])[:-1]
    return Topology(tuple(np.split(flat, bounds)), np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64))


def encode_topology(topo: Topology) -> dict[str, list[int]]:
    """Encode a topology for the payload (see :func:`decode_topology` and map.js).

    ``x``/``y``: the arcs' vertices as one delta-coded stream (the first vertex absolute, in
    quanta from the origin); ``n``: vertices per arc, negative when the arc starts where the
    previous one ended (its first vertex is then not repeated in the stream); ``left``: the left
    feature, delta-coded; ``right``: right feature minus left feature, 0 for none.

    Parameters
    ----------
    topo : Topology
        Output of :func:`build_topology`.

    Returns
    -------
    dict
        ``{"x", "y", "n", "left", "right"}`` lists of ints.
    """
    if not topo.arcs:
        return {"x": [], "y": [], "n": [], "left": [], "right": []}
    ends = np.array([a[-1] for a in topo.arcs])
    heads = np.array([a[0] for a in topo.arcs])
    follows = np.r_[False, (heads[1:] == ends[:-1]).all(axis=1)]
    lens = np.array([len(a) for a in topo.arcs])
    stream = np.concatenate([a[1:] if f else a for a, f in zip(topo.arcs, follows.tolist(), strict=True)])
    delta = np.diff(stream, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return {
        "x": delta[:, 0].tolist(), "y": delta[:, 1].tolist(),
        "n": np.where(follows, -(lens - 1), lens).tolist(),
        "left": np.diff(topo.left, prepend=0).tolist(),
        "right": np.where(topo.right >= 0, topo.right - topo.left, 0).tolist(),
    }


def decode_topology(obj: dict[str, list[int]]) -> Topology:
    """Invert :func:`encode_topology` (for tests and checks).

    Parameters
    ----------
    obj : dict
        The encoded topology.

    Returns
    -------
    Topology
        The same arcs and sides.
    """
    stream = np.cumsum(np.column_stack([obj["x"], obj["y"]]).astype(np.int64).reshape(-1, 2), axis=0)
    arcs, at, prev = [], 0, None
    for n in obj["n"]:
        if n < 0:
            arc = np.vstack([prev[-1:], stream[at:at - n]])
            at -= n
        else:
            arc = stream[at:at + n]
            at += n
        arcs.append(arc)
        prev = arc
    left = np.cumsum(np.asarray(obj["left"], dtype=np.int64))
    r = np.asarray(obj["right"], dtype=np.int64)
    return Topology(tuple(arcs), left, np.where(r != 0, left + r, -1))


def assemble_rings(topo: Topology, groups: np.ndarray | None = None, n_groups: int | None = None
                   ) -> list[list[np.ndarray]]:
    """Return the rings of each feature, or of each group of features (their union's boundary).

    An arc bounds a group when the features on its two sides are in different groups. The
    group's arcs, oriented with the group on the left, are chained end to start into closed rings
    (the same walk as map.js). The rings of one group fill its area under the even-odd rule.

    Parameters
    ----------
    topo : Topology
        The topology.
    groups : array of int, optional
        Group of each feature (-1 for none); default: every feature is its own group.
    n_groups : int, optional
        Number of groups; default ``max(groups) + 1``.

    Returns
    -------
    list
        Per group, a list of rings as (k, 2) arrays of quantised coordinates, not closed.
    """
    if groups is None:
        n_feat = int(max(topo.left.max(initial=-1), topo.right.max(initial=-1))) + 1
        groups = np.arange(n_feat)
    groups = np.asarray(groups, dtype=np.int64)
    if n_groups is None:
        n_groups = int(groups.max(initial=-1)) + 1
    gl = groups[topo.left] if len(topo.left) else topo.left
    gr = np.where(topo.right >= 0, groups[np.maximum(topo.right, 0)], -1) if len(topo.right) else topo.right
    pieces: list[list[int]] = [[] for _ in range(n_groups)]
    for a, (lg, rg) in enumerate(zip(gl.tolist(), gr.tolist(), strict=True)):
        if lg == rg:
            continue
        if lg >= 0:
            pieces[lg].append(a)
        if rg >= 0:
            pieces[rg].append(~a)
    flat = np.concatenate(topo.arcs) if topo.arcs else np.zeros((0, 2), dtype=np.int64)
    last = np.cumsum([len(a) for a in topo.arcs], dtype=np.int64) - 1
    first = np.r_[0, last[:-1] + 1] if len(last) else last
    heads = list(map(tuple, flat[first].tolist()))
    tails = list(map(tuple, flat[last].tolist()))
    return [_chain(topo.arcs, heads, tails, refs) for refs in pieces]


def _chain(arcs: tuple[np.ndarray, ...], heads: list[tuple[int, int]], tails: list[tuple[int, int]],
           refs: list[int]) -> list[np.ndarray]:
    def start(ref: int) -> tuple[int, int]:
        return heads[ref] if ref >= 0 else tails[~ref]

    by_start: dict[tuple[int, int], list[int]] = {}
    for k, ref in enumerate(refs):
        by_start.setdefault(start(ref), []).append(k)
    used = [False] * len(refs)
    rings = []
    for k0 in range(len(refs)):
        if used[k0]:
            continue
        head, parts, k = start(refs[k0]), [], k0
        while True:
            used[k] = True
            ref = refs[k]
            arc = arcs[ref] if ref >= 0 else arcs[~ref][::-1]
            parts.append(arc if not parts else arc[1:])
            end = tails[ref] if ref >= 0 else heads[~ref]
            if end == head:
                break
            k = next((c for c in by_start.get(end, ()) if not used[c]), -1)
            if k < 0:
                break
        ring = np.vstack(parts)
        if len(ring) > 1 and (ring[0] == ring[-1]).all():
            ring = ring[:-1]
        rings.append(ring)
    return rings


def rings_geometry(rings: list[np.ndarray], origin: tuple[float, float]) -> BaseGeometry:
    """Return the area that ``rings`` fill under the even-odd rule, in lon/lat (for checks and tests).

    Parameters
    ----------
    rings : list of (k, 2) int arrays
        Quantised rings, as returned by :func:`assemble_rings`.
    origin : (float, float)
        The quantisation origin.

    Returns
    -------
    Polygon or MultiPolygon
        The filled area (empty when there are no rings).
    """
    area = shapely.Polygon()
    for ring in rings:
        if len(ring) >= 3:
            poly = shapely.make_valid(shapely.Polygon(ring * QUANTUM + np.asarray(origin)))
            area = shapely.symmetric_difference(area, poly)
    return area


def outlines_match(topo: Topology, groups: np.ndarray, own: np.ndarray, origin: tuple[float, float]) -> bool:
    """True when the outline of each group derived from ``topo`` is the group's own border.

    Every vertex of a derived outline must be a vertex of the group's own border (to within one
    quantum), and the two areas must agree to within the border's length times one metre.
    A layer made by dissolving the grids passes; borders digitised apart from the grids fail, and
    the layer then keeps its own geometry.
    """
    if len(own) == 0:
        return True
    rings = assemble_rings(topo, groups, len(own))
    if any(not rs for rs in rings):
        return False
    derived = np.vstack([r for rs in rings for r in rs])
    derived_group = np.repeat(np.arange(len(rings)), [sum(len(r) for r in rs) for rs in rings])
    coords, which = shapely.get_coordinates(shapely.boundary(own), return_index=True)
    mine = np.column_stack([quantise(coords[:, 0], origin[0]), quantise(coords[:, 1], origin[1])])
    lo = np.minimum(derived.min(axis=0), mine.min(axis=0)) - 1  # a margin of one for the offsets below
    span = np.maximum(derived.max(axis=0), mine.max(axis=0)) - lo + 2

    def keys(xy: np.ndarray, group: np.ndarray) -> np.ndarray:
        return (group * span[0] + (xy[:, 0] - lo[0])) * span[1] + (xy[:, 1] - lo[1])

    # within one quantum, since a vertex halfway between two quanta may round either way
    want, have = keys(derived, derived_group), keys(mine, which)
    offsets = (np.arange(-1, 2)[:, None] * span[1] + np.arange(-1, 2)[None, :]).ravel()
    if not np.isin(want[None, :] + offsets[:, None], have).any(axis=0).all():
        return False
    kx, ky = _local_scale(own)
    area = np.array([sum(_shoelace(r) for r in rs) for rs in rings]) * QUANTUM ** 2 * kx * ky
    border = shapely.length(shapely.transform(shapely.boundary(own), lambda c: c * np.array([kx, ky])))
    return bool(np.all(np.abs(area - shapely.area(own) * kx * ky) <= border * 1.0))


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0].astype(float), ring[:, 1].astype(float)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
