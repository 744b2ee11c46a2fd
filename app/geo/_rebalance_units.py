"""The building blocks of a rebalanced committee: road-bounded blocks, or address cells within them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from app.geo.schema import COORD_PRECISION

__all__ = ["GRID_SIZE", "Units", "build_units", "road_blocks"]

#: Shared border (in degrees, about 1 cm) below which two units only touch at a point.
_EDGE = 1e-7
#: Coordinates are snapped to this grid, the precision of stored GeoJSON (6 decimals).
GRID_SIZE = 10.0 ** -COORD_PRECISION


@dataclass(frozen=True)
class Units:
    """A committee cut into units that regions are made of.

    Attributes
    ----------
    geoms : numpy.ndarray of shapely geometries
        Each unit's polygon, in lon/lat.
    households, residents : numpy.ndarray
        Sums over the addresses in each unit.
    xy : numpy.ndarray
        Each unit's centre in the metric CRS, shape (n, 2).
    neighbours : list of set of int
        Units sharing a border with each unit.
    address_unit : numpy.ndarray
        The unit each of the committee's addresses lies in (positions as passed).
    blocks : int
        Road-bounded blocks the committee has.
    split : int
        Blocks cut further into address cells (their borders do not follow roads).
    """

    geoms: np.ndarray
    households: np.ndarray
    residents: np.ndarray
    xy: np.ndarray
    neighbours: list[set[int]]
    address_unit: np.ndarray
    blocks: int
    split: int


def road_blocks(area: BaseGeometry, roads: np.ndarray) -> list[BaseGeometry]:
    """Cut an area along the roads crossing it into blocks that together cover it exactly.

    Parameters
    ----------
    area : shapely geometry
        A committee (lon/lat).
    roads : numpy.ndarray of shapely geometries
        Road lines (lon/lat); those outside ``area`` are ignored.

    Returns
    -------
    list of shapely Polygon
        The blocks; the area itself when no road crosses it.
    """
    area = shapely.make_valid(area)
    inside = [shapely.intersection(r, area) for r in roads if r is not None and shapely.intersects(r, area)]
    lines = shapely.union_all([shapely.boundary(area), *inside])
    pieces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(lines)))))
    blocks = [p for p in pieces if p.area > 0 and shapely.contains(area, shapely.point_on_surface(p))]
    if not blocks:
        return list(shapely.get_parts(area))
    rest = shapely.difference(area, shapely.union_all(blocks))
    blocks += [p for p in shapely.get_parts(rest) if p.area > 1e-14]  # what polygonize missed, kept whole
    return blocks


def _cells(block: BaseGeometry, pts: np.ndarray) -> list[tuple[BaseGeometry, int | None]]:
    """Voronoi cells of distinct address points, clipped to the block: (cell, point position or None)."""
    uniq, first = np.unique(np.round(shapely.get_coordinates(pts), 9), axis=0, return_index=True)
    if len(uniq) < 2:
        return [(block, None)]
    regions = shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=block)
    out: list[tuple[BaseGeometry, int | None]] = []
    seeds = shapely.points(uniq)
    for cell in shapely.get_parts(regions):
        clipped = shapely.intersection(cell, block)
        for part in shapely.get_parts(clipped):
            if shapely.get_type_id(part) != 3 or part.area <= 0:
                continue
            hit = np.flatnonzero(shapely.covers(part, seeds))
            out.append((part, int(first[hit[0]]) if len(hit) else None))
    return out


def _neighbours(geoms: np.ndarray) -> list[set[int]]:
    """Rook contiguity: units whose borders share a line, not just a point."""
    n = len(geoms)
    nb: list[set[int]] = [set() for _ in range(n)]
    if n < 2:
        return nb
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b])))
        for i, j, s in zip(a, b, shared, strict=True):
            if s > _EDGE:
                nb[int(i)].add(int(j))
                nb[int(j)].add(int(i))
    return nb


def build_units(area: BaseGeometry, roads: np.ndarray, points: np.ndarray, households: np.ndarray,
                residents: np.ndarray, metric_crs: str, cap: float, fine: bool) -> Units:
    """Cut a committee into units: its road blocks, with blocks over ``cap`` (or all, when ``fine``) cut into cells.

    A cell is the Voronoi cell of one address point (addresses at one spot share it) clipped to its
    block, so block borders (roads) stay unit borders either way.

    Parameters
    ----------
    area : shapely geometry
        The committee, lon/lat.
    roads : numpy.ndarray
        Road lines, lon/lat.
    points : numpy.ndarray
        The committee's address points, lon/lat.
    households, residents : numpy.ndarray
        Per address.
    metric_crs : str
        The city's metric CRS, for unit centres.
    cap : float
        Households above which a block is cut into cells.
    fine : bool
        Cut every block with two or more address spots into cells.

    Returns
    -------
    Units
    """
    blocks = road_blocks(area, roads)
    bgeoms = np.asarray(blocks, dtype=object)
    in_block = _assign(bgeoms, points)
    geoms: list[BaseGeometry] = []
    unit_of = np.full(len(points), -1, dtype=int)
    split = 0
    for k, block in enumerate(blocks):
        mine = np.flatnonzero(in_block == k)
        if len(mine) >= 2 and (fine or households[mine].sum() > cap):
            cells = _cells(block, points[mine])
            if len(cells) > 1:
                split += 1
                start = len(geoms)
                geoms.extend(c for c, _ in cells)
                local = _assign(np.asarray([c for c, _ in cells], dtype=object), points[mine])
                unit_of[mine] = start + local
                continue
        unit_of[mine] = len(geoms)
        geoms.append(block)
    # snap to the stored precision (6 decimals) now, so that what is stored is what was checked; first move
    # the points where a cut (road, cell edge) meets the committee's border onto the border's own vertices
    raw = np.asarray(geoms, dtype=object)
    if split:
        raw = _noded(raw)
    garr = shapely.set_precision(_pin(raw, area), GRID_SIZE)
    keep = np.array([g is not None and not shapely.is_empty(g) and shapely.area(g) > 0 for g in garr], bool)
    if not keep.all():
        new_pos = np.cumsum(keep) - 1
        lost = ~keep[unit_of]
        unit_of = np.where(lost, -1, new_pos[unit_of])
        garr = garr[keep]
        if lost.any():
            unit_of[lost] = _assign(garr, points[lost])
    n = len(garr)
    hh = np.bincount(unit_of, weights=households.astype(float), minlength=n)
    res = np.bincount(unit_of, weights=residents.astype(float), minlength=n)
    centres = shapely.get_coordinates(shapely.point_on_surface(garr))
    tx = Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
    x, y = tx.transform(centres[:, 0], centres[:, 1])
    return Units(garr, hh, res, np.column_stack([x, y]), _neighbours(garr), unit_of, len(blocks), split)


def _noded(units: np.ndarray) -> np.ndarray:
    """The units rebuilt from their noded borders, so that neighbours share every vertex (no T-junctions).

    Cells add vertices on block edges that the block across the road lacks; snapped to 6 decimals such
    a vertex would leave the edge and open a sliver. Polygonizing the union of all borders puts it in both.
    """
    faces = np.asarray(list(shapely.get_parts(shapely.polygonize(
        list(shapely.get_parts(shapely.union_all(shapely.boundary(units))))))), dtype=object)
    if not len(faces):
        return units
    owner = _assign(units, shapely.point_on_surface(faces))
    out = []
    for k in range(len(units)):
        mine = faces[owner == k]
        out.append(mine[0] if len(mine) == 1 else shapely.union_all(mine) if len(mine) else units[k])
    return np.asarray(out, dtype=object)


def _pin(geoms: np.ndarray, area: BaseGeometry) -> np.ndarray:
    """Move unit vertices that lie on the area's border, but are none of its vertices, to its nearest vertex.

    Such a vertex (where a road or a cell edge meets the border) cannot be stored at 6 decimals without
    leaving the border, which would open slivers against the neighbouring committee; a border vertex is
    stored exactly. Units sharing the vertex move it alike, so they still tile the area.
    """
    from scipy.spatial import cKDTree

    border = shapely.boundary(area)
    corners = np.unique(shapely.get_coordinates(border), axis=0)
    if len(corners) == 0:
        return geoms
    tree = cKDTree(corners)

    def move(coords: np.ndarray) -> np.ndarray:
        on = shapely.distance(shapely.points(coords), border) < 1e-9
        if not on.any():
            return coords
        dist, idx = tree.query(coords[on])
        out = coords.copy()
        out[np.flatnonzero(on)[dist > 0]] = corners[idx[dist > 0]]
        return out

    moved = shapely.transform(geoms, move)
    fixed = np.array([g if shapely.is_valid(g) else _polygonal(shapely.make_valid(g)) for g in moved], dtype=object)
    return fixed


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of a repaired geometry (lines and points it may hold dropped)."""
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _assign(polys: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The polygon each point lies in (the nearest for a point on no polygon)."""
    out = np.full(len(points), -1, dtype=int)
    if not len(points):
        return out
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(points, predicate="intersects")
    order = np.argsort(pi, kind="stable")
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = gi[first]
    lost = np.flatnonzero(out < 0)
    if len(lost):
        out[lost] = tree.nearest(points[lost])
    return out
