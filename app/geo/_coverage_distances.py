"""Reach of facilities: distances from addresses and the area covered per grid, in a straight line or walking."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely

from app.geo._coverage_params import CoverageError, CoverageParams
from app.geo._coverage_sources import City
from app.geo.network import Snap, WalkNetwork, build_network

#: Disks are drawn as polygons with 4 * DISK_QUAD_SEGS vertices and the area of the true circle.
DISK_QUAD_SEGS = 32


@dataclass
class Reach:
    """What is within reach, per address and per grid.

    Attributes
    ----------
    dist : ndarray of float
        Per address, metres: to the nearest facility (pooled), or with requirements to the
        farthest of the nearest required kinds (inf: unreachable).
    reached : ndarray of bool
        Per address: within reach (with requirements: every kind within its own distance).
    covered : ndarray of float
        Per grid: area within reach (with requirements: of every kind), square metres.
    kinds : dict
        With requirements, per kind: ``(dist per address, covered m² per grid)``.
    """

    dist: np.ndarray
    reached: np.ndarray
    covered: np.ndarray
    kinds: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def reach(city: City, params: CoverageParams, say: Callable[[str], None]) -> Reach:
    """Distances from every address and the covered area of every grid.

    Parameters
    ----------
    city : City
        The prepared data version.
    params : CoverageParams
        The question; its mode picks straight-line or walking distance, its requirements the rule.
    say : callable
        Called with a short message before each step that is not cached yet.

    Returns
    -------
    Reach
        Per address and per grid; with requirements also per kind.
    """
    if not params.requirements:
        dist, covered = _reach_one(city, params.categories, params.radius_m, params.mode, say)
        return Reach(dist, dist <= params.radius_m, covered)
    kinds = {c: _reach_one(city, (c,), r, params.mode, say) for c, r in params.requirements}
    dists = np.column_stack([kinds[c][0] for c, _ in params.requirements])
    radii = np.array([r for _, r in params.requirements])
    reached = (dists <= radii).all(axis=1) if len(dists) else np.zeros(0, dtype=bool)
    dist = dists.max(axis=1) if len(dists) else np.zeros(0)
    if len(params.requirements) == 1:
        covered = kinds[params.requirements[0][0]][1]
    elif params.mode == "straight":
        say("area within reach of every required kind")
        covered = _straight_area_all(city, params.requirements)
    else:
        covered = _walk_area_all(city, params.requirements)
    return Reach(dist, reached, covered, kinds)


def _reach_one(city: City, cats: tuple[str, ...], radius: float, mode: str,
               say: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """``(dist, covered)`` for the pooled facilities of ``cats`` within ``radius``."""
    if mode == "straight":
        say(f"straight-line distances to {'+'.join(cats)}")
        dist = straight_distances(city, cats)
        say("covered area per grid")
        covered, _ = straight_area(city, cats, radius)
        return dist, covered
    if ("network",) not in city.memo:
        say("building the walking network")
    net = walk_network(city)
    if ("walk_sources", cats) not in city.memo:
        say(f"walking distances on {net.node_count} nodes / {net.segment_count} segments")
    dist = walk_distances(city, cats)
    if ("sample_snap",) not in city.memo:
        say(f"snapping {len(city.samples()[0])} area sample points (spacing {city.samples()[2]:g} m)")
    return dist, walk_area(city, cats, radius)


def service_area(city: City, params: CoverageParams) -> shapely.Geometry:
    """The area within reach in the metric CRS: the union of the disks, or the reached roads in walk mode.

    With requirements: where every kind is within its own distance (straight: the intersection
    of the kinds' areas; walk: roads where every kind is reached, distances scaled to the largest).
    """
    if params.requirements and params.mode == "straight":
        return _zone_all(city, params.requirements)
    if params.requirements:
        big = max(r for _, r in params.requirements)
        scaled = np.max([_walk_sources(city, (c,))[1] * (big / r) for c, r in params.requirements], axis=0)
        return walk_network(city).reached_lines(scaled, big)
    if params.mode == "straight":
        return _zone(city, params.categories, params.radius_m)
    _, node_dist = _walk_sources(city, params.categories)
    return walk_network(city).reached_lines(node_dist, params.radius_m)


def _zone(city: City, cats: tuple[str, ...], radius: float) -> shapely.Geometry:
    """The union of the disks of the facilities of ``cats`` (straight line), cached."""

    def build() -> shapely.Geometry:
        _, pieces = straight_area(city, cats, radius)
        pieces = pieces[~shapely.is_empty(pieces)] if len(pieces) else pieces
        if len(pieces) == 0:
            return shapely.MultiPolygon()
        polys = shapely.get_parts(pieces)
        polys = polys[shapely.get_type_id(polys) == 3]
        return shapely.union_all(polys, grid_size=0.01) if len(polys) else shapely.MultiPolygon()

    return city.memoised(("zone", cats, radius), build)


def _zone_all(city: City, reqs: tuple[tuple[str, float], ...]) -> shapely.Geometry:
    """Where every required kind is within its own straight-line distance, cached."""

    def build() -> shapely.Geometry:
        zones = [_zone(city, (c,), r) for c, r in reqs]
        if any(z.is_empty for z in zones):
            return shapely.MultiPolygon()
        out = zones[0]
        for z in zones[1:]:
            out = shapely.intersection(out, z, grid_size=0.01)
        return out

    return city.memoised(("zone_all", reqs), build)


def _straight_area_all(city: City, reqs: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Area of every grid within reach of every required kind (straight line)."""

    def build() -> np.ndarray:
        zone = _zone_all(city, reqs)
        if zone.is_empty:
            return np.zeros(city.n_grids)
        shapely.prepare(zone)
        area = shapely.area(shapely.intersection(city.grid_geom, zone))
        return np.minimum(area, city.grid_area)

    return city.memoised(("straight_area_all", reqs), build)


def _walk_area_all(city: City, reqs: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Area of every grid within walking reach of every required kind: grid area × share of samples."""

    def build() -> np.ndarray:
        rows = city.samples()[1]
        ok = np.all([_sample_dist(city, (c,)) <= r for c, r in reqs], axis=0)
        return _sample_share(city, rows, ok) * city.grid_area

    return city.memoised(("walk_area_all", reqs), build)


# -- straight line ----------------------------------------------------------------------------


def _disk_radius(radius: float) -> float:
    """Radius of a 4*DISK_QUAD_SEGS-gon with the same area as the circle of ``radius``."""
    n = 4 * DISK_QUAD_SEGS
    return radius * math.sqrt(2 * math.pi / (n * math.sin(2 * math.pi / n)))


def straight_distances(city: City, cats: tuple[str, ...]) -> np.ndarray:
    """Straight-line distance from every address to the nearest facility of ``cats``."""

    def build() -> np.ndarray:
        fxy = city.facility_xy(cats)
        ok = city.addr_ok
        out = np.full(len(city.addr_xy), np.inf)
        if len(fxy) == 0 or not ok.any():
            return out
        tree = shapely.STRtree(shapely.points(fxy))
        pts = city.memoised(("addr_points",), lambda: shapely.points(city.addr_xy[ok]))
        idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        sub = np.full(ok.sum(), np.inf)
        sub[idx[0]] = dist
        out[ok] = sub
        return out

    return city.memoised(("straight_dist", cats), build)


def _voronoi_cells(city: City, cats: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of the (deduplicated) facilities of ``cats``, clipped to the city extent."""

    def build() -> tuple[np.ndarray, np.ndarray]:
        fxy = city.facility_xy(cats)
        extent = city.extent()
        if len(fxy) == 0:
            return fxy, np.array([], dtype=object)
        if len(fxy) == 1:
            return fxy, np.array([extent], dtype=object)
        pts = shapely.points(fxy)
        cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent, ordered=True)
        cells = np.asarray(shapely.get_parts(cells), dtype=object)
        if len(cells) != len(fxy) or not shapely.contains(cells, pts).all():  # pragma: no cover - GEOS guard
            tree = shapely.STRtree(cells)
            hit = tree.query(pts, predicate="intersects")
            matched = np.empty(len(fxy), dtype=object)
            matched[hit[0][::-1]] = cells[hit[1][::-1]]
            cells = matched
        return fxy, shapely.intersection(cells, extent)

    return city.memoised(("voronoi", cats), build)


def straight_area(city: City, cats: tuple[str, ...], radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Covered area of every grid, exactly (up to the 128-gon), without any union.

    Each point's nearest facility is the one whose Voronoi cell holds it, so the covered set
    is the disjoint union of ``cell_i ∩ disk_i``; a grid's covered area is the sum of the
    areas of its intersections with these pieces.

    Returns
    -------
    tuple of ndarray
        ``(covered, pieces)``: square metres per grid, and the pieces ``cell_i ∩ disk_i``.
    """

    def build() -> tuple[np.ndarray, np.ndarray]:
        fxy, cells = _voronoi_cells(city, cats)
        if len(fxy) == 0:
            return np.zeros(city.n_grids), np.array([], dtype=object)
        disks = shapely.buffer(shapely.points(fxy), _disk_radius(radius), quad_segs=DISK_QUAD_SEGS)
        pieces = shapely.intersection(cells, disks)
        p_idx, g_idx = city.grid_tree.query(pieces, predicate="intersects")
        # a piece inside its grid needs no clipping (prepared point-in-polygon tests are cheap)
        inside = shapely.contains_properly(city.grid_geom[g_idx], pieces[p_idx])
        area = shapely.area(pieces[p_idx])
        clip = ~inside
        area[clip] = shapely.area(shapely.intersection(pieces[p_idx[clip]], city.grid_geom[g_idx[clip]]))
        covered = np.bincount(g_idx, weights=area, minlength=city.n_grids)
        return np.minimum(covered, city.grid_area), pieces

    return city.memoised(("straight_area", cats, radius), build)


# -- walking ----------------------------------------------------------------------------------


def walk_network(city: City) -> WalkNetwork:
    """The walking network of the city's roads layer.

    Raises
    ------
    CoverageError
        When the data has no roads, or the roads layer is empty.
    """

    def build() -> WalkNetwork:
        if not city.has_layer("roads"):
            raise CoverageError("walk mode needs a roads layer, and the data has none")
        roads = city.ds.layer("roads")
        net = build_network(np.asarray(roads.geometry.to_crs(city.crs).values, dtype=object))
        if net.segment_count == 0:
            raise CoverageError("walk mode needs roads, and the roads layer is empty")
        return net

    return city.memoised(("network",), build)


def _walk_sources(city: City, cats: tuple[str, ...]) -> tuple[Snap, np.ndarray]:
    """The facilities of ``cats`` snapped to the network, and every node's walking distance to the nearest."""
    net = walk_network(city)

    def build() -> tuple[Snap, np.ndarray]:
        snap = net.snap(city.facility_xy(cats))
        return snap, net.node_distances(snap)

    return city.memoised(("walk_sources", cats), build)


def walk_distances(city: City, cats: tuple[str, ...]) -> np.ndarray:
    """Walking distance from every address to the nearest facility of ``cats``."""
    net = walk_network(city)

    def build() -> np.ndarray:
        ok = city.addr_ok
        snap = city.memoised(("addr_snap",), lambda: net.snap(city.addr_xy[ok]))
        src, node_dist = _walk_sources(city, cats)
        out = np.full(len(city.addr_xy), np.inf)
        out[ok] = net.distances(node_dist, src, snap)
        return out

    return city.memoised(("walk_dist", cats), build)


def _sample_dist(city: City, cats: tuple[str, ...]) -> np.ndarray:
    """Walking distance from every area sample point to the nearest facility of ``cats``."""
    net = walk_network(city)
    xy = city.samples()[0]
    snap = city.memoised(("sample_snap",), lambda: net.snap(xy))
    src, node_dist = _walk_sources(city, cats)
    return city.memoised(("sample_dist", cats), lambda: net.distances(node_dist, src, snap))


def _sample_share(city: City, rows: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Share of each grid's sample points where ``hit`` holds (0 for a grid without samples)."""
    n = np.bincount(rows, minlength=city.n_grids)
    k = np.bincount(rows, weights=hit.astype(float), minlength=city.n_grids)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.maximum(n, 1), 0.0)


def walk_area(city: City, cats: tuple[str, ...], radius: float) -> np.ndarray:
    """Covered area of every grid in walk mode: grid area × share of its samples within reach."""

    def build() -> np.ndarray:
        rows = city.samples()[1]
        return _sample_share(city, rows, _sample_dist(city, cats) <= radius) * city.grid_area

    return city.memoised(("walk_area", cats, radius), build)
