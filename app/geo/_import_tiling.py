"""Area layers in the file's own CRS: overlaps and gaps measured there, shared edges noded, slivers repaired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo import validate
from app.geo._import_base import _metric_crs_of
from app.geo._import_checks import _OVERLAP, MIN_AREA_M2
from app.geo._import_crs import to_wgs84_quiet
from app.geo._validate_base import AREA_TOLERANCE_M2, _wheres_metric
from app.geo.crs import CrsSpec
from app.geo.findings import Report
from app.geo.schema import STORAGE_CRS

__all__ = ["NODE_TOLERANCE_M", "REPAIR_MAX_M2", "REPAIR_MAX_SHARE", "REPAIR_MAX_WIDTH_M", "node_coverage",
           "prepare_areas"]

#: Vertices of neighbours closer than this (in metres, measured in the metric CRS) are made one, and a
#: vertex this close to an edge is inserted into it: a tenth of what the stored 6 decimals (about 0.1 m)
#: can show, far above floating-point noise and a drawing program's snapping tolerance (ArcGIS: 1 mm).
NODE_TOLERANCE_M = 0.01
#: With ``repair``, an overlap or an enclosed gap is a sliver (moved, not refused) when it covers at most
#: this share of the smaller feature it touches ...
REPAIR_MAX_SHARE = 0.01
#: ... and it is at most this large (m²) ...
REPAIR_MAX_M2 = 50.0
#: ... or, however long, at most this wide on average (2 × area / perimeter, m): a misdrawn edge.
REPAIR_MAX_WIDTH_M = 1.0

_SEVERITY = {"grids": "error"}  # the issue refuses only grids on overlaps and gaps; the others get warnings


XY = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Frame:
    """The area layer's valid polygons in the file's CRS, and the metric CRS they are measured in."""

    idx: np.ndarray  # positions in the layer
    src: np.ndarray  # geometries in the file's CRS (changed by noding and repairs)
    crs: str  # the metric CRS areas are measured in: the file's own when it is projected in metres
    to_metric: XY | None = None  # file coordinates -> metric ones (None: the same)
    from_metric: XY | None = None

    def metric(self, geoms: np.ndarray) -> np.ndarray:
        """Source-CRS geometries in the metric CRS."""
        geoms = np.asarray(geoms, dtype=object)
        return geoms if self.to_metric is None else shapely.transform(geoms, self.to_metric)

    def source(self, geoms: np.ndarray) -> np.ndarray:
        """Metric geometries in the source CRS."""
        geoms = np.asarray(geoms, dtype=object)
        return geoms if self.from_metric is None else shapely.transform(geoms, self.from_metric)


def _metric_source(spec: CrsSpec) -> bool:
    """Whether the file's CRS is projected in metres (then it is measured in as it is)."""
    if spec.kind != "epsg" or spec.epsg is None:
        return False
    try:
        crs = pyproj.CRS.from_epsg(spec.epsg)
    except pyproj.exceptions.CRSError:
        return False
    axes = crs.axis_info
    return bool(crs.is_projected and axes and all(abs(ax.unit_conversion_factor - 1.0) < 1e-12 for ax in axes[:2]))


def _conversions(spec: CrsSpec, crs: str) -> tuple[XY, XY]:
    """File coordinates to the metric ``crs`` and back (through WGS84, as the importer converts them)."""
    fwd = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    back = pyproj.Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)

    def to_metric(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        with np.errstate(all="ignore"):
            if not spec.is_wgs84_equivalent:
                x, y = crsmod.to_wgs84(x, y, spec)
            return np.column_stack(fwd.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))

    def from_metric(xy: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            x, y = back.transform(xy[:, 0], xy[:, 1])
            if not spec.is_wgs84_equivalent:
                x, y = crsmod.from_wgs84(x, y, spec)
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return to_metric, from_metric


def _runs(ids: np.ndarray) -> np.ndarray:
    """Sorted ids numbered 0, 1, 2 ... by run (what ``np.unique(..., return_inverse=True)`` gives, without sorting)."""
    if not len(ids):
        return ids
    return np.concatenate([[0], np.cumsum(ids[1:] != ids[:-1])])


def node_coverage(geoms: np.ndarray, tolerance: float, measure: XY | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Make shared edges of polygons identical: merge near vertices, insert neighbours' vertices into edges.

    Vertices of different polygons (or of one) closer than ``tolerance`` get one position (the
    first in coordinate order of their cluster), and every vertex lying within ``tolerance`` of an
    edge it is no end of is inserted into that edge. A T-junction (a polygon's corner on the middle
    of a neighbour's edge) then is a vertex of both, so that converting and rounding every vertex
    on its own keeps both sides of the edge the same.

    Distances are measured after ``measure`` (e.g. lon/lat to metres): an edge that is straight in
    the metric CRS is curved in lon/lat, so a corner on a long edge may lie centimetres off the
    lon/lat chord and yet exactly on the edge as the validator sees it. Positions come from the
    geometries themselves: noding never converts a coordinate.

    Parameters
    ----------
    geoms : numpy.ndarray
        Valid, non-empty polygons and multipolygons.
    tolerance : float
        In the units of ``measure``'s result.
    measure : callable, optional
        Coordinates (n × 2) to the coordinates distances are measured in; default: as they are.

    Returns
    -------
    tuple of numpy.ndarray
        The geometries (unchanged objects where nothing moved) and a mask of those that changed.
    """
    geoms = np.asarray(geoms, dtype=object)
    changed = np.zeros(len(geoms), dtype=bool)
    if len(geoms) < 2:
        return geoms, changed
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    by_xy = np.lexsort((coords[:, 1], coords[:, 0]))  # np.unique(axis=0) sorts rows as bytes, far slower
    first = np.ones(len(coords), dtype=bool)
    first[1:] = (coords[by_xy[1:]] != coords[by_xy[:-1]]).any(axis=1)
    uniq = coords[by_xy[first]]
    inverse = np.empty(len(coords), dtype=np.intp)
    inverse[by_xy] = np.cumsum(first) - 1
    mxy = uniq if measure is None else measure(uniq)
    if not np.isfinite(mxy).all():
        return geoms, changed
    points = shapely.points(mxy)
    tree = shapely.STRtree(points)
    # one position for vertices closer than the tolerance: the first of each cluster of near pairs
    a, b = tree.query(points, predicate="dwithin", distance=tolerance)
    a, b = a[a < b], b[a < b]
    canon = np.arange(len(uniq))
    while len(a) and (canon[a] != canon[b]).any():
        low = np.minimum(canon[a], canon[b])
        np.minimum.at(canon, canon[a], low)
        np.minimum.at(canon, canon[b], low)
        while (canon[canon] != canon).any():
            canon = canon[canon]
    vid = canon[inverse]  # vertex -> its position in uniq
    moved = np.any(uniq[vid] != coords, axis=1)
    # edges k -> k+1 within a ring; vertices within the tolerance of an edge they do not end (boxes
    # first, then the distance in numpy: a query with the distance itself costs several times as much)
    seg = np.flatnonzero(coord_ring[:-1] == coord_ring[1:])
    start, end = vid[seg], vid[seg + 1]
    lo = np.minimum(mxy[start], mxy[end]) - tolerance
    hi = np.maximum(mxy[start], mxy[end]) + tolerance
    s_hit, p_hit = tree.query(shapely.linestrings(np.stack([lo, hi], axis=1)))  # a diagonal's box: made faster
    keep = (canon[p_hit] == p_hit) & (p_hit != start[s_hit]) & (p_hit != end[s_hit])
    s_hit, p_hit = s_hit[keep], p_hit[keep]
    pa, pb, pt = mxy[start[s_hit]], mxy[end[s_hit]], mxy[p_hit]
    d = pb - pa
    t = np.einsum("ij,ij->i", pt - pa, d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-300)
    off = np.hypot(*(pa + np.clip(t, 0, 1)[:, None] * d - pt).T)
    inside = ((t > 0) & (t < 1) & (off <= tolerance) & (np.hypot(*(pt - pa).T) > tolerance)
              & (np.hypot(*(pt - pb).T) > tolerance))
    s_hit, p_hit, t = s_hit[inside], p_hit[inside], t[inside]
    if not len(s_hit) and not moved.any():
        return geoms, changed
    # the new vertex sequence: original vertex k at (k, 0), an insertion into edge k -> k+1 at (k, t)
    at = np.concatenate([np.arange(len(coords)), seg[s_hit]])
    frac = np.concatenate([np.zeros(len(coords)), t])
    order = np.lexsort((frac, at))
    new_xy = uniq[np.concatenate([vid, p_hit])][order]
    new_ring = coord_ring[at[order]]
    touched = np.zeros(len(rings), dtype=bool)
    touched[coord_ring[moved]] = True
    touched[coord_ring[seg[s_hit]]] = True
    changed[part_owner[ring_part[touched]]] = True
    sel_ring = changed[part_owner[ring_part]]  # every ring of a changed geometry is rebuilt
    sel_xy = sel_ring[new_ring]
    new_rings = shapely.linearrings(new_xy[sel_xy], indices=_runs(new_ring[sel_xy]))
    polys = shapely.polygons(new_rings, indices=_runs(ring_part[sel_ring]))
    owners = part_owner[np.unique(ring_part[sel_ring])]
    out = geoms.copy()
    rebuilt_owner, first = np.unique(owners, return_index=True)
    multi = shapely.get_type_id(geoms[rebuilt_owner]) == 6
    if multi.any():
        _, owner_ids = np.unique(owners, return_inverse=True)
        multis = shapely.multipolygons(polys, indices=owner_ids.reshape(-1))
        out[rebuilt_owner[multi]] = multis[multi]
    out[rebuilt_owner[~multi]] = polys[first[~multi]]
    # a merge may fold a part finer than the tolerance: keep such a geometry as it was drawn
    broken = changed & ~shapely.is_valid(out)
    out[broken] = geoms[broken]
    changed &= ~broken
    return out, changed


def _frame(geoms: np.ndarray, spec: CrsSpec) -> _Frame | None:
    """The layer's valid polygons and where they are measured; None when there are none or they cannot be."""
    present = np.array([g is not None for g in geoms], dtype=bool)
    ok = np.zeros(len(geoms), dtype=bool)
    ok[present] = (np.isin(shapely.get_type_id(geoms[present]), (3, 6)) & shapely.is_valid(geoms[present])
                   & ~shapely.is_empty(geoms[present]))
    idx = np.flatnonzero(ok)
    if not len(idx):
        return None
    src = np.asarray(geoms[idx], dtype=object)
    if _metric_source(spec):
        return _Frame(idx, src, f"EPSG:{spec.epsg}")
    lonlat = src if spec.is_wgs84_equivalent else to_wgs84_quiet(src, spec)
    b = shapely.bounds(lonlat)
    if not np.isfinite(b).all():
        return None
    crs = _metric_crs_of(lonlat)
    return _Frame(idx, src, crs, *_conversions(spec, crs))


def _sliver(area: float, perimeter: float, smallest: float) -> bool:
    """True for an overlap or gap ``--repair`` moves (see :data:`REPAIR_MAX_SHARE`)."""
    width = 2 * area / perimeter if perimeter > 0 else 0.0
    return area <= REPAIR_MAX_SHARE * smallest and (area <= REPAIR_MAX_M2 or width <= REPAIR_MAX_WIDTH_M)


def _floor(repair: bool) -> float:
    """The smallest overlap or gap looked at: reported from :data:`MIN_AREA_M2`, repaired from the validator's
    tolerance (so that a repaired layer passes ``gridmap validate``)."""
    return AREA_TOLERANCE_M2 if repair else MIN_AREA_M2


def _border(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length of ``a``'s boundary that runs inside or along ``b``."""
    return float(shapely.length(shapely.intersection(shapely.boundary(a), b)))


def _overlaps(fr: _Frame, met: np.ndarray, valid: bool, layer: str, labels: list[str], report: Report,
              repair: bool, severity: str) -> bool:
    """Report (or, slivers with ``repair``, resolve) overlaps between the layer's areas; True if any moved.

    ``met`` are the areas in the metric CRS (kept up to date here); ``valid`` says they form a valid
    coverage already, which overlaps nowhere.
    """
    if valid:
        return False
    gdf = gpd.GeoDataFrame({"code": [str(k) for k in range(len(met))]}, geometry=list(met), crs=fr.crs)
    floor = _floor(repair)
    pairs = []
    for issue in validate.check_overlaps(gdf, layer, tolerance=floor, crs=fr.crs):
        other = _OVERLAP.fullmatch(issue.message)
        if other and issue.feature is not None:
            pairs.append((int(issue.feature), int(other[1]), issue.place.replace(",", ", ") if issue.place else None))
    moved = False
    for a, b, place in sorted(pairs):
        inter = shapely.intersection(met[a], met[b])
        area = float(shapely.area(inter))
        if area <= floor:  # an earlier repair took it away
            continue
        la, lb = labels[fr.idx[a]], labels[fr.idx[b]]
        small = _sliver(area, float(shapely.length(inter)), min(float(met[a].area), float(met[b].area)))
        what = f"{area:.2f} m² (measured in {fr.crs})"
        if not (repair and small):
            if area <= MIN_AREA_M2:
                continue
            hint = "; a sliver: run with --repair to leave it to one of them" if small else ""
            report.add(severity, "overlap", f"overlaps {lb} by {what}{hint}", la, place)
            continue
        # it stays with the area whose rest borders it longer (ties: the earlier feature); the other loses it
        win, lose = (a, b) if _border(met[b], met[a]) >= _border(met[a], met[b]) else (b, a)
        cut = shapely.difference(fr.src[lose], fr.src[win])
        if shapely.is_empty(cut) or not shapely.is_valid(cut):
            report.add(severity, "overlap", f"overlaps {lb} by {what}; the repair would leave no valid area",
                       la, place)
            continue
        fr.src[lose] = cut
        met[lose] = fr.metric(np.array([cut], dtype=object))[0]
        moved = True
        report.add("repaired", "overlap", f"removed the {what} it overlapped {labels[fr.idx[win]]} by; that part "
                   f"stays in {labels[fr.idx[win]]}", labels[fr.idx[lose]], place)
    return moved


def _gaps(fr: _Frame, met: np.ndarray, valid: bool, layer: str, labels: list[str], report: Report,
          repair: bool, severity: str) -> bool:
    """Report (or, slivers with ``repair``, fill) holes in the union of the layer, as
    :func:`app.geo.validate.check_city_gaps` finds them (in the metric CRS); True if any was filled.

    A valid coverage is merged as one (several times faster than a union); any other with a union.
    """
    union = shapely.coverage_union_all(met) if valid else shapely.union_all(met)
    holes = np.array([shapely.Polygon(ring) for poly in shapely.get_parts(union) for ring in poly.interiors],
                     dtype=object)
    if not len(holes):
        return False
    areas = shapely.area(holes)
    holes, areas = holes[areas > _floor(repair)], areas[areas > _floor(repair)]
    places = [w.replace(",", ", ") if w else None for w in _wheres_metric(holes, fr.crs)]  # one conversion
    tree = shapely.STRtree(met)
    moved = False
    for hole, area, place in zip(holes, areas, places, strict=True):
        around = np.sort(tree.query(hole, predicate="intersects"))
        small = len(around) > 0 and _sliver(float(area), float(shapely.length(hole)),
                                            float(shapely.area(met[around]).min()))
        what = f"gap of {area:.2f} m² between {layer} (measured in {fr.crs})"
        if not (repair and small):
            if area <= MIN_AREA_M2:
                continue
            hint = "; a sliver: run with --repair to give it to a neighbour" if small else ""
            report.add(severity, "gap", what + hint, None, place)
            continue
        lengths = shapely.length(shapely.intersection(shapely.get_exterior_ring(hole),
                                                      shapely.buffer(shapely.boundary(met[around]), NODE_TOLERANCE_M)))
        best = int(around[int(np.argmax(lengths))])  # argmax takes the first of equals: the earlier feature
        grown = shapely.union(fr.src[best], fr.source(np.array([hole], dtype=object))[0])
        if shapely.is_empty(grown) or not shapely.is_valid(grown):
            report.add(severity, "gap", what + "; the repair would leave no valid area", None, place)
            continue
        fr.src[best] = grown
        met[best] = fr.metric(np.array([grown], dtype=object))[0]
        moved = True
        report.add("repaired", "gap", f"added the {what} to it, the area that borders the gap longest",
                   labels[fr.idx[best]], place)
    return moved


def _coverage_valid(met: np.ndarray) -> bool:
    try:
        return bool(shapely.coverage_is_valid(met))
    except shapely.errors.GEOSException:
        return False


def prepare_areas(layer: str, geoms: np.ndarray, spec: CrsSpec, labels: list[str], report: Report,
                  repair: bool) -> np.ndarray:
    """Check and node an area layer in the file's own CRS, before it is reprojected and rounded.

    First the coverage is noded (:func:`node_coverage`, distances measured in metres), so that
    shared edges stay identical when every vertex is converted to WGS84 and rounded on its own.
    Then overlaps and gaps (holes in the layer's union) larger than
    :data:`~app.geo._import_checks.MIN_AREA_M2` are measured in the file's CRS when it is projected
    in metres, else in the metric CRS of the layer's extent (the validator's); they are errors for
    grids and warnings for committees and divisions, and a sliver's message says ``--repair`` fixes
    it. With ``repair``, slivers (see :data:`REPAIR_MAX_SHARE`; from the validator's 0.01 m² up, so
    that the stored layer passes it) are resolved instead: an overlap is taken out of one of the two
    areas (it stays with the one whose rest borders it longer; ties: the earlier in the file) and an
    enclosed gap given to the neighbour that borders it longest, each with a ``repaired`` finding
    saying how many m² moved from or to which feature; the result is noded again. Invalid, empty and
    non-polygonal geometries are left as they are for the later checks.

    Parameters
    ----------
    layer : str
        ``divisions``, ``committees`` or ``grids``.
    geoms : numpy.ndarray
        The geometries as read, in the file's CRS (None for a missing one).
    spec : app.geo.crs.CrsSpec
        The file's CRS.
    labels : list of str
        One label per feature.
    report : Report
        Where findings go.
    repair : bool
        Resolve slivers instead of reporting them.

    Returns
    -------
    numpy.ndarray
        The geometries in the source CRS: the same objects where nothing changed, noded or
        repaired ones where something did.
    """
    out = np.array(list(geoms), dtype=object) if not isinstance(geoms, np.ndarray) else geoms.copy()
    fr = _frame(out, spec)
    if fr is None:
        return out
    fr.src, _ = node_coverage(fr.src, NODE_TOLERANCE_M, fr.to_metric)
    met = fr.metric(fr.src)
    valid = _coverage_valid(met)
    severity = _SEVERITY.get(layer, "warning")
    moved = _overlaps(fr, met, valid, layer, labels, report, repair, severity)
    moved = _gaps(fr, met, valid and not moved, layer, labels, report, repair, severity) or moved
    if moved:
        fr.src, _ = node_coverage(fr.src, NODE_TOLERANCE_M, fr.to_metric)
    out[fr.idx] = fr.src
    return out
