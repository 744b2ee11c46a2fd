"""The validator's checks of the area layers: code schemes, grid numbering, nesting, overlaps and gaps."""

from __future__ import annotations

import math
from collections.abc import Container, Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo._validate_base import (
    AREA_TOLERANCE_M2,
    _ids,
    _in_metric,
    _issue,
    _metric_crs,
    _str_col,
    _wheres_metric,
)
from app.geo._validate_layers import check_attributes, check_geometry
from app.geo.findings import Finding
from app.geo.schema import CODE_PATTERNS, CODE_SCHEMES, committee_kind_from_code

_DIGITS = {"divisions": 9, "committees": 12, "grids": 15}
_DIVISION_KINDS = ("subdistrict", "town")
_COMMITTEE_KINDS = ("community", "village")


def _kind_issues(layer: str, code: str | None, kind: str | None, kinds: tuple[str, ...]) -> list[Finding]:
    """An error when an area's ``kind`` is not one of ``kinds``."""
    if kind is None or kind in kinds:
        return []
    return [_issue("error", layer, code, f"kind {kind!r} is not one of {', '.join(kinds)}")]


def _parent_issues(layer: str, code: str, field: str, parent: str | None, known: Container[str],
                   prefix: bool = True) -> list[Finding]:
    """Errors when an area's code does not start with its parent's (``prefix``) or the parent is unknown."""
    if parent is None:
        return []
    issues = []
    if prefix and not code.startswith(parent):
        issues.append(_issue("error", layer, code, f"code does not start with its {field} {parent}"))
    if parent not in known:
        issues.append(_issue("error", layer, code, f"{field} {parent} is not in the {field[:-5]}s layer"))
    return issues


def check_codes(divisions: gpd.GeoDataFrame, committees: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                expected_grids: int | None = None, scheme: str = "cn-9-12-15") -> list[Finding]:
    """Check the codes of the three area layers: uniqueness, parents, and the city's code scheme.

    Parameters
    ----------
    divisions, committees, grids : GeoDataFrame
        The three area layers (any may be empty).
    expected_grids : int, optional
        Required number of grids; None skips the count check.
    scheme : str
        The city's code scheme, a key of :data:`app.geo.schema.CODE_SCHEMES`. Under ``cn-9-12-15``
        codes have 9/12/15 digits, start with their parent's, and a committee's last three digits
        give its kind; under ``free`` codes must be unique and name parents that exist.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    patterns = CODE_SCHEMES.get(scheme, {})
    cn = bool(patterns)
    div_codes = _str_col(divisions, "code")
    for layer, gdf in (("divisions", divisions), ("committees", committees), ("grids", grids)):
        codes = _str_col(gdf, "code")
        pat = patterns.get(layer)
        for c in codes:
            if c is not None and pat is not None and not pat.match(c):
                issues.append(_issue("error", layer, c, f"code {c!r} is not {_DIGITS[layer]} digits"))
        counts = codes.value_counts()  # one count for all: comparing the column per duplicate is quadratic
        for c in sorted(counts.index[counts > 1]):
            issues.append(_issue("error", layer, c, f"code {c} is used by {int(counts[c])} features"))
    known_div = set(div_codes.dropna())
    for kind, name in zip(_str_col(divisions, "kind"), div_codes, strict=True):
        issues += _kind_issues("divisions", name, kind, _DIVISION_KINDS)
    com_div = {}
    for code, div, kind in zip(_str_col(committees, "code"), _str_col(committees, "division_code"),
                               _str_col(committees, "kind"), strict=True):
        if code is None:
            continue
        com_div[code] = div
        issues += _parent_issues("committees", code, "division_code", div, known_div, prefix=cn)
        by_code = committee_kind_from_code(code, scheme)
        if cn and CODE_PATTERNS["committees"].match(code) and by_code is None:
            issues.append(_issue("error", "committees", code,
                                 "last 3 digits must be 001-199 (community) or 200-399 (village)"))
        elif by_code is not None and kind is not None and kind != by_code:
            issues.append(_issue("error", "committees", code,
                                 f"kind is {kind!r} but code {code[9:]} is in the {by_code} range"))
        issues += _kind_issues("committees", code, kind, _COMMITTEE_KINDS)
    for code, com, div in zip(_str_col(grids, "code"), _str_col(grids, "committee_code"),
                              _str_col(grids, "division_code"), strict=True):
        if code is None:
            continue
        issues += _parent_issues("grids", code, "committee_code", com, com_div, prefix=cn)
        if com in com_div and div is not None and com_div[com] != div:
            issues.append(_issue("error", "grids", code,
                                 f"division_code {div} differs from its committee's {com_div[com]}"))
        issues += _parent_issues("grids", code, "division_code", div, known_div, prefix=False)
    if expected_grids is not None and len(grids) != expected_grids:
        issues.append(_issue("error", "grids", None, f"{len(grids)} grids, expected {expected_grids}"))
    return issues


def sequence_order(grids: Sequence[BaseGeometry], committee: BaseGeometry) -> list[int]:
    """Return the indices of a committee's grids in numbering order (west->east, then north->south).

    The committee is cut into horizontal bands of height ``h = sqrt(committee area / number of grids)``
    measured down from its northern edge. Grids are ordered by the band their centroid falls in (north
    first), then by centroid easting (west first). All geometry must be in a metric CRS (see
    :func:`~app.geo.schema.metric_crs_for`).

    Parameters
    ----------
    grids : sequence of shapely geometries
        The committee's grids, in metres.
    committee : shapely geometry
        The committee polygon, in metres.

    Returns
    -------
    list of int
        Positions into ``grids``; the first gets sequence 001.
    """
    if not len(grids):
        return []
    h = math.sqrt(max(shapely.area(committee), 1.0) / len(grids))
    ymax = shapely.bounds(committee)[3]
    cents = shapely.centroid(np.asarray(grids, dtype=object))
    keys = [(math.floor((ymax - shapely.get_y(c)) / h), shapely.get_x(c), k) for k, c in enumerate(cents)]
    return [k for *_, k in sorted(keys)]


def check_numbering(grids: gpd.GeoDataFrame, committees: gpd.GeoDataFrame,
                    crs: str | None = None) -> list[Finding]:
    """Check that grid sequence numbers follow the west->east, north->south rule of :func:`sequence_order`.

    Parameters
    ----------
    grids, committees : GeoDataFrame
        Grids and committees in lon/lat (reprojected here).
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Finding
        Warnings: the numbering is a convention, not a structural error.
    """
    issues: list[Finding] = []
    gm, cm = _in_metric(crs, grids, committees)
    com_geom = dict(zip(_str_col(cm, "code"), cm.geometry.values, strict=True))
    gcodes = _str_col(gm, "code")
    by_com: dict[str, list[int]] = {}
    for k, (code, com) in enumerate(zip(gcodes, _str_col(gm, "committee_code"), strict=True)):
        if code and com and CODE_PATTERNS["grids"].match(code) and code.startswith(com) and com in com_geom:
            by_com.setdefault(com, []).append(k)
    for com in sorted(by_com):
        rows = by_com[com]
        geoms = [gm.geometry.values[k] for k in rows]
        if any(g is None or shapely.is_empty(g) for g in geoms) or com_geom[com] is None:
            continue
        order = sequence_order(geoms, com_geom[com])
        seqs = [int(gcodes.iloc[rows[k]][12:]) for k in order]
        if seqs != sorted(seqs):
            expected = ", ".join(gcodes.iloc[rows[k]][12:] for k in order)
            issues.append(_issue("warning", "grids", com,
                                 f"grid numbers are not west->east, north->south; spatial order is {expected}"))
        elif sorted(seqs) != list(range(1, len(seqs) + 1)):
            issues.append(_issue("warning", "grids", com,
                                 f"grid numbers are not 001-{len(seqs):03d} without gaps"))
    return issues


def check_nesting(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, child_layer: str, parent_layer: str,
                  parent_field: str, tolerance: float = AREA_TOLERANCE_M2,
                  crs: str | None = None) -> list[Finding]:
    """Check that every child area lies inside the parent it names (area of the difference, m²).

    Parameters
    ----------
    children, parents : GeoDataFrame
        E.g. grids and committees, in lon/lat.
    child_layer, parent_layer : str
        Layer names for the messages.
    parent_field : str
        Field of ``children`` naming the parent's code, e.g. ``committee_code``.
    tolerance : float
        Differences up to this area (m²) are ignored.
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    cm, pm = _in_metric(crs, children, parents)
    pgeom = dict(zip(_str_col(pm, "code"), pm.geometry.values, strict=True))  # the last of a code wins
    pgeom = {c: g for c, g in pgeom.items() if g is not None}
    codes, pcodes = _str_col(cm, "code").to_numpy(), _str_col(cm, parent_field).to_numpy()
    rows = np.array([k for k, p in enumerate(pcodes) if p in pgeom], dtype=int)
    if not len(rows):
        return issues
    # each parent is checked and prepared once, not once per child: a parent has hundreds of children
    valid = {c: bool(shapely.is_valid(g)) for c, g in pgeom.items()}
    shapely.prepare(np.asarray([g for c, g in pgeom.items() if valid[c]], dtype=object))
    a = np.asarray(cm.geometry.values, dtype=object)[rows]
    b = np.asarray([pgeom[p] for p in pcodes[rows]], dtype=object)
    ok = shapely.is_valid(a) & np.array([valid[p] for p in pcodes[rows]], dtype=bool)
    ok[ok] = ~shapely.covers(b[ok], a[ok])  # a child its parent covers has nothing outside it
    diff = shapely.difference(a[ok], b[ok])
    areas = shapely.area(diff)
    over = areas > tolerance
    wheres = _wheres_metric(diff[over], cm.crs)
    for k, area, where in zip(rows[ok][over], areas[over], wheres, strict=True):
        issues.append(_issue("error", child_layer, codes[k],
                             f"{area:.2f} m² lies outside its {parent_layer[:-1]} {pcodes[k]}", where))
    return issues


def _coverage_suspects(geoms: np.ndarray) -> np.ndarray:
    """Mask of the valid areas that may overlap another: an edge not shared exactly, or not a polygon.

    Parameters
    ----------
    geoms : numpy.ndarray
        Valid, non-empty geometries.

    Returns
    -------
    numpy.ndarray of bool
        False only for a (multi)polygon whose every edge is matched by a neighbour or lies free
        (``shapely.coverage_invalid_edges``); such an area overlaps no other.
    """
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    try:
        return ~shapely.is_empty(shapely.coverage_invalid_edges(geoms)) | ~polygonal
    except shapely.errors.GEOSException:  # any doubt: intersect them all
        return np.ones(len(geoms), dtype=bool)


def check_overlaps(gdf: gpd.GeoDataFrame, layer: str, tolerance: float = AREA_TOLERANCE_M2,
                   crs: str | None = None) -> list[Finding]:
    """Report every pair of areas in one layer that overlap by more than ``tolerance`` m².

    Parameters
    ----------
    gdf : GeoDataFrame
        An area layer in lon/lat.
    layer : str
        Layer name for the messages.
    tolerance : float
        Overlaps up to this area (m²) are ignored.
    crs : str, optional
        As for :func:`check_nesting`.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    (gm,) = _in_metric(crs, gdf)
    geoms = np.asarray(gm.geometry.values, dtype=object)
    idx = np.flatnonzero(shapely.is_valid(geoms) & ~shapely.is_empty(geoms))
    if len(idx) < 2:
        return issues
    tree = shapely.STRtree(geoms[idx])
    left, right = tree.query(geoms[idx])  # boxes only: the pairs that matter are intersected below anyway
    # Intersecting every pair of neighbours costs most of an import of a large tiling, and neighbours
    # that only share an edge overlap by nothing. Two areas overlap only where an edge of one runs
    # inside the other, or where they are duplicates: the coverage check flags both kinds, so only
    # pairs with a flagged area are intersected (and only if their boxes share more than the tolerance).
    suspect = _coverage_suspects(geoms[idx])
    box = shapely.bounds(geoms[idx])
    width = np.minimum(box[left, 2], box[right, 2]) - np.maximum(box[left, 0], box[right, 0])
    height = np.minimum(box[left, 3], box[right, 3]) - np.maximum(box[left, 1], box[right, 1])
    keep = ((left < right) & (suspect[left] | suspect[right])
            & (width > 0) & (height > 0) & (width * height > tolerance / 2))
    left, right = idx[left[keep]], idx[right[keep]]
    inter = shapely.intersection(geoms[left], geoms[right])
    areas = shapely.area(inter)
    over = areas > tolerance
    codes = _ids(gm, layer)
    wheres = _wheres_metric(inter[over], gm.crs)
    for a, b, area, where in zip(left[over], right[over], areas[over], wheres, strict=True):
        issues.append(_issue("error", layer, codes[a], f"overlaps {codes[b]} by {area:.2f} m²", where))
    return issues


def check_gaps(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, child_layer: str, parent_layer: str,
               parent_field: str, tolerance: float = AREA_TOLERANCE_M2,
               crs: str | None = None) -> list[Finding]:
    """Report parts of each parent area that none of its children cover (gaps), with their areas in m².

    Parameters
    ----------
    children, parents, child_layer, parent_layer, parent_field, crs
        As for :func:`check_nesting`.
    tolerance : float
        Gaps up to this area (m²) are ignored.

    Returns
    -------
    list of Finding
    """
    cm, pm = _in_metric(crs, children, parents)
    groups: dict[str, list] = {}
    for p, g in zip(_str_col(cm, parent_field), cm.geometry.values, strict=True):
        if p is not None and g is not None and shapely.is_valid(g):
            groups.setdefault(p, []).append(g)
    found: list[tuple[str, str, BaseGeometry]] = []  # placed together at the end, in one conversion
    for code, pg in zip(_str_col(pm, "code"), pm.geometry.values, strict=True):
        if code is None or pg is None or not shapely.is_valid(pg):
            continue
        kids = groups.get(code, [])
        if not kids:
            found.append((code, f"has no {child_layer}", pg))
            continue
        rest = shapely.difference(pg, shapely.union_all(kids))
        for part in shapely.get_parts(rest):
            area = shapely.area(part)
            if shapely.get_dimensions(part) == 2 and area > tolerance:
                found.append((code, f"gap of {area:.2f} m² not covered by any of its {child_layer}", part))
    wheres = _wheres_metric([g for *_, g in found], pm.crs)
    return [_issue("error", parent_layer, code, message, where)
            for (code, message, _), where in zip(found, wheres, strict=True)]


def check_city_gaps(gdf: gpd.GeoDataFrame, layer: str, tolerance: float = AREA_TOLERANCE_M2,
                    crs: str | None = None) -> list[Finding]:
    """Report holes in the union of a whole layer (e.g. land between grids that no grid covers).

    Parameters
    ----------
    gdf, layer, crs
        As for :func:`check_overlaps`.
    tolerance : float
        Holes up to this area (m²) are ignored.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    (gm,) = _in_metric(crs, gdf)
    geoms = np.asarray(gm.geometry.values, dtype=object)
    geoms = geoms[shapely.is_valid(geoms)]
    if not len(geoms):
        return issues
    rings = [ring for poly in shapely.get_parts(shapely.union_all(geoms)) for ring in poly.interiors]
    holes = [hole for hole in map(shapely.Polygon, rings) if hole.area > tolerance]
    for hole, where in zip(holes, _wheres_metric(holes, gm.crs), strict=True):
        issues.append(_issue("error", layer, None, f"gap of {hole.area:.2f} m² between {layer}", where))
    return issues


def check_grids(grids: gpd.GeoDataFrame, committees: gpd.GeoDataFrame,
                tolerance: float = AREA_TOLERANCE_M2) -> list[Finding]:
    """Check a grid layer against its committees: geometry, attributes, codes, nesting, overlaps, gaps, numbers.

    Parameters
    ----------
    grids, committees : GeoDataFrame
        The grid layer and the committee layer it refers to, in lon/lat.
    tolerance : float
        Area tolerance in m² for nesting, overlaps and gaps.

    Returns
    -------
    list of Finding
    """
    empty = gpd.GeoDataFrame({"code": []}, geometry=[], crs="EPSG:4326")
    crs = _metric_crs(grids, committees)
    issues = check_geometry("grids", grids) + check_attributes("grids", grids)
    issues += [i for i in check_codes(empty, committees, grids)
               if i.layer == "grids" and "divisions" not in i.message]
    issues += check_nesting(grids, committees, "grids", "committees", "committee_code", tolerance, crs)
    issues += check_overlaps(grids, "grids", tolerance, crs)
    issues += check_gaps(grids, committees, "grids", "committees", "committee_code", tolerance, crs)
    issues += check_numbering(grids, committees, crs)
    return issues
