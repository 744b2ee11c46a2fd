"""Validate a geodata folder: files, geometry, codes, nesting, tiling, attributes, sums and points."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo.schema import (
    CATEGORIES,
    CODE_PATTERNS,
    FIELDS,
    GEOMETRY_TYPES,
    LAYERS,
    METRIC_CRS,
    STORAGE_CRS,
    SUBTYPES,
    committee_kind_from_code,
    metric_crs_for,
)

#: Overlaps and gaps smaller than this (square metres, in the data's metric CRS) are ignored as numeric slivers.
AREA_TOLERANCE_M2 = 0.01
#: Addresses and facilities farther than this from any road (metres) get a warning.
ROAD_DISTANCE_M = 150.0
#: How many issues of one check the text report lists before summarising the rest.
TEXT_LIMIT = 20

_DIGITS = {"divisions": 9, "committees": 12, "grids": 15}
_KEY = {"divisions": "code", "committees": "code", "grids": "code"}
_DIVISION_KINDS = ("subdistrict", "town")
_COMMITTEE_KINDS = ("community", "village")
_ROAD_KINDS = ("arterial", "secondary", "local", "rural")
_ADDRESS_KINDS = ("road", "compound")
_WHERE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)")


@dataclass
class Issue:
    """One problem found in the data."""

    severity: str  # "error" | "warning"
    layer: str
    feature: str | None
    message: str
    where: str | None = None  # "lon,lat"

    def to_dict(self) -> dict:
        """Return the issue as a plain dict."""
        return asdict(self)

    def format_text(self) -> str:
        """Return one line describing the issue."""
        feat = f" {self.feature}" if self.feature else ""
        at = f" @ {self.where}" if self.where else ""
        return f"[{self.severity}] {self.layer}{feat}: {self.message}{at}"


@dataclass
class Section:
    """The outcome of one check: what was checked and the issues it raised."""

    key: str
    title: str
    checked: str = ""
    issues: list[Issue] = field(default_factory=list)
    skipped: str | None = None

    @property
    def errors(self) -> int:
        """Number of errors."""
        return sum(1 for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> int:
        """Number of warnings."""
        return sum(1 for i in self.issues if i.severity == "warning")


@dataclass
class Report:
    """The result of :func:`validate_folder`."""

    folder: str
    sections: list[Section] = field(default_factory=list)

    @property
    def issues(self) -> list[Issue]:
        """Every issue, in check order."""
        return [i for s in self.sections for i in s.issues]

    @property
    def errors(self) -> list[Issue]:
        """Issues of severity error."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Issues of severity warning."""
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings are allowed)."""
        return not self.errors

    def format_text(self) -> str:
        """Return a readable report: one section per check with ✓/✗, then a summary line."""
        lines = [f"Validating {self.folder}"]
        for s in self.sections:
            if s.skipped:
                lines.append(f"– {s.title}: skipped ({s.skipped})")
                continue
            mark = "✗" if s.errors else ("⚠" if s.warnings else "✓")
            counts = []
            if s.errors:
                counts.append(f"{s.errors} error{'s' if s.errors != 1 else ''}")
            if s.warnings:
                counts.append(f"{s.warnings} warning{'s' if s.warnings != 1 else ''}")
            detail = s.checked + (f" — {', '.join(counts)}" if counts else "")
            lines.append(f"{mark} {s.title}: {detail}")
            for issue in s.issues[:TEXT_LIMIT]:
                lines.append(f"    {issue.format_text()}")
            if len(s.issues) > TEXT_LIMIT:
                lines.append(f"    ... and {len(s.issues) - TEXT_LIMIT} more")
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"{verdict}: {n_err} error{'s' if n_err != 1 else ''}, "
                     f"{n_warn} warning{'s' if n_warn != 1 else ''}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Return the report as plain data (for JSON)."""
        return {
            "folder": self.folder,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "sections": [{"key": s.key, "title": s.title, "checked": s.checked, "skipped": s.skipped,
                          "errors": s.errors, "warnings": s.warnings,
                          "issues": [i.to_dict() for i in s.issues]} for s in self.sections],
        }


# ---------------------------------------------------------------------------- helpers
def _where(geom) -> str | None:
    """'lon,lat' of a representative point of a lon/lat geometry."""
    if geom is None or shapely.is_empty(geom):
        return None
    p = shapely.point_on_surface(geom) if shapely.get_type_id(geom) in (3, 6) else shapely.centroid(geom)
    return f"{p.x:.6f},{p.y:.6f}"


def _where_metric(geom, crs) -> str | None:
    """'lon,lat' of a representative point of a geometry in ``crs``."""
    if geom is None or shapely.is_empty(geom):
        return None
    p = gpd.GeoSeries([shapely.point_on_surface(geom)], crs=crs).to_crs("EPSG:4326").iloc[0]
    return f"{p.x:.6f},{p.y:.6f}"


def _ids(gdf: gpd.GeoDataFrame, layer: str) -> list[str | None]:
    key = _KEY.get(layer, "id")
    if key in gdf.columns:
        return [None if _isnull(v) else str(v) for v in gdf[key]]
    return [f"#{k}" for k in range(len(gdf))]


def _isnull(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.set_crs(STORAGE_CRS) if gdf.crs is None else gdf


def _metric_crs(*layers: gpd.GeoDataFrame | None) -> str:
    """The metric CRS for a group of layers: :func:`metric_crs_for` of their combined lon/lat extent."""
    boxes = []
    for gdf in layers:
        if gdf is None or not len(gdf):
            continue
        gdf = _lonlat(gdf)
        b = (gdf.total_bounds if gdf.crs.is_geographic else gdf.to_crs(STORAGE_CRS).total_bounds)
        if np.isfinite(b).all():
            boxes.append(b)
    if not boxes:
        return METRIC_CRS
    b = np.array(boxes)
    return metric_crs_for((b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))


def _metric(gdf: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    return _lonlat(gdf).to_crs(crs)


def _str_col(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    if name not in gdf.columns:
        return pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    return pd.Series([None if _isnull(v) else str(v) for v in gdf[name]], index=gdf.index, dtype=object)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------- numbering rule
def sequence_order(grids: Sequence, committee) -> list[int]:
    """Return the indices of a committee's grids in numbering order (west->east, then north->south).

    The committee is cut into horizontal bands of height ``h = sqrt(committee area / number of grids)``
    measured down from its northern edge. Grids are ordered by the band their centroid falls in (north
    first), then by centroid easting (west first). All geometry must be in a metric CRS (see :func:`metric_crs_for`).

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


# ---------------------------------------------------------------------------- checks
def check_geometry(layer: str, gdf: gpd.GeoDataFrame) -> list[Issue]:
    """Check geometry presence, type and validity of one layer.

    Parameters
    ----------
    layer : str
        Layer name (decides the allowed geometry types).
    gdf : GeoDataFrame
        The layer, in lon/lat.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(gdf, layer)
    allowed = GEOMETRY_TYPES.get(layer, ())
    geoms = gdf.geometry.values
    for k, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            issues.append(Issue("error", layer, ids[k], "missing or empty geometry"))
        elif allowed and g.geom_type not in allowed:
            issues.append(Issue("error", layer, ids[k], f"geometry is {g.geom_type}, expected {' or '.join(allowed)}",
                                _where(g)))
    reasons = shapely.is_valid_reason(np.asarray(geoms, dtype=object))
    for k, reason in enumerate(reasons):
        if reason is not None and reason != "Valid Geometry" and geoms[k] is not None:
            m = _WHERE.search(reason)
            where = f"{float(m.group(1)):.6f},{float(m.group(2)):.6f}" if m else _where(geoms[k])
            issues.append(Issue("error", layer, ids[k], f"invalid geometry: {reason}", where))
    return issues


def check_attributes(layer: str, gdf: gpd.GeoDataFrame) -> list[Issue]:
    """Check that a layer has the schema's fields with the right types and no missing required values.

    Parameters
    ----------
    layer : str
        Layer name, a key of :data:`app.geo.schema.FIELDS`.
    gdf : GeoDataFrame
        The layer.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(gdf, layer)
    for f in FIELDS.get(layer, ()):
        if f.name not in gdf.columns:
            if f.required:
                issues.append(Issue("error", layer, None, f"required field {f.name!r} is missing"))
            continue
        col = gdf[f.name]
        nulls = [k for k, v in enumerate(col) if _isnull(v)]
        if f.required and nulls:
            issues.append(Issue("error", layer, ids[nulls[0]],
                                f"field {f.name!r} is empty in {_plural(len(nulls), 'feature')}"))
        bad = [k for k, v in enumerate(col) if not _isnull(v) and not _type_ok(v, f.dtype)]
        if bad:
            v = col.iloc[bad[0]]
            issues.append(Issue("error", layer, ids[bad[0]],
                                f"field {f.name!r} should be {f.dtype} but {_plural(len(bad), 'value')} "
                                f"{'is' if len(bad) == 1 else 'are'} not (e.g. {v!r})"))
    return issues


def _type_ok(v, dtype: str) -> bool:
    if dtype == "str":
        return isinstance(v, str)
    if isinstance(v, (bool, np.bool_)):
        return False
    if dtype == "int":
        return isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
    if dtype == "float":
        return isinstance(v, (int, float, np.integer, np.floating))
    return True


def check_codes(divisions: gpd.GeoDataFrame, committees: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                expected_grids: int | None = None) -> list[Issue]:
    """Check the code schemes: structure, uniqueness and parent-child prefixes of the three area layers.

    Parameters
    ----------
    divisions, committees, grids : GeoDataFrame
        The three area layers (any may be empty).
    expected_grids : int, optional
        Required number of grids; None skips the count check.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    div_codes = _str_col(divisions, "code")
    for layer, gdf in (("divisions", divisions), ("committees", committees), ("grids", grids)):
        codes = _str_col(gdf, "code")
        pat = CODE_PATTERNS[layer]
        for c in codes:
            if c is not None and not pat.match(c):
                issues.append(Issue("error", layer, c, f"code {c!r} is not {_DIGITS[layer]} digits"))
        dup = codes[codes.duplicated(keep=False) & codes.notna()]
        for c in sorted(set(dup)):
            issues.append(Issue("error", layer, c, f"code {c} is used by {int((codes == c).sum())} features"))
    known_div = set(div_codes.dropna())
    for kind, name in zip(_str_col(divisions, "kind"), div_codes, strict=True):
        if kind is not None and kind not in _DIVISION_KINDS:
            issues.append(Issue("error", "divisions", name, f"kind {kind!r} is not one of {', '.join(_DIVISION_KINDS)}"))
    com_div = {}
    for code, div, kind in zip(_str_col(committees, "code"), _str_col(committees, "division_code"),
                               _str_col(committees, "kind"), strict=True):
        if code is None:
            continue
        com_div[code] = div
        if div is not None and not code.startswith(div):
            issues.append(Issue("error", "committees", code, f"code does not start with its division_code {div}"))
        if div is not None and div not in known_div:
            issues.append(Issue("error", "committees", code, f"division_code {div} is not in the divisions layer"))
        scheme = committee_kind_from_code(code)
        if CODE_PATTERNS["committees"].match(code) and scheme is None:
            issues.append(Issue("error", "committees", code,
                                "last 3 digits must be 001-199 (community) or 200-399 (village)"))
        elif scheme is not None and kind is not None and kind != scheme:
            issues.append(Issue("error", "committees", code,
                                f"kind is {kind!r} but code {code[9:]} is in the {scheme} range"))
        if kind is not None and kind not in _COMMITTEE_KINDS:
            issues.append(Issue("error", "committees", code, f"kind {kind!r} is not one of {', '.join(_COMMITTEE_KINDS)}"))
    for code, com, div in zip(_str_col(grids, "code"), _str_col(grids, "committee_code"),
                              _str_col(grids, "division_code"), strict=True):
        if code is None:
            continue
        if com is not None and not code.startswith(com):
            issues.append(Issue("error", "grids", code, f"code does not start with its committee_code {com}"))
        if com is not None and com not in com_div:
            issues.append(Issue("error", "grids", code, f"committee_code {com} is not in the committees layer"))
        elif com is not None and div is not None and com_div[com] != div:
            issues.append(Issue("error", "grids", code,
                                f"division_code {div} differs from its committee's {com_div[com]}"))
        if div is not None and div not in known_div:
            issues.append(Issue("error", "grids", code, f"division_code {div} is not in the divisions layer"))
    if expected_grids is not None and len(grids) != expected_grids:
        issues.append(Issue("error", "grids", None, f"{len(grids)} grids, expected {expected_grids}"))
    return issues


def check_numbering(grids: gpd.GeoDataFrame, committees: gpd.GeoDataFrame, crs: str | None = None) -> list[Issue]:
    """Check that grid sequence numbers follow the west->east, north->south rule of :func:`sequence_order`.

    Parameters
    ----------
    grids, committees : GeoDataFrame
        Grids and committees in lon/lat (reprojected here).
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Issue
        Warnings: the numbering is a convention, not a structural error.
    """
    issues: list[Issue] = []
    crs = crs or _metric_crs(grids, committees)
    gm, cm = _metric(grids, crs), _metric(committees, crs)
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
            issues.append(Issue("warning", "grids", com,
                                f"grid numbers are not west->east, north->south; spatial order is {expected}"))
        elif sorted(seqs) != list(range(1, len(seqs) + 1)):
            issues.append(Issue("warning", "grids", com, f"grid numbers are not 001-{len(seqs):03d} without gaps"))
    return issues


def check_nesting(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, child_layer: str, parent_layer: str,
                  parent_field: str, tolerance: float = AREA_TOLERANCE_M2, crs: str | None = None) -> list[Issue]:
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
    list of Issue
    """
    issues: list[Issue] = []
    crs = crs or _metric_crs(children, parents)
    cm, pm = _metric(children, crs), _metric(parents, crs)
    pgeom = dict(zip(_str_col(pm, "code"), pm.geometry.values, strict=True))
    codes, pcodes = _str_col(cm, "code"), _str_col(cm, parent_field)
    pairs = [(k, pgeom[p]) for k, p in enumerate(pcodes) if p in pgeom and pgeom[p] is not None]
    if not pairs:
        return issues
    a = np.asarray([cm.geometry.values[k] for k, _ in pairs], dtype=object)
    b = np.asarray([g for _, g in pairs], dtype=object)
    ok = shapely.is_valid(a) & shapely.is_valid(b)
    diff = np.full(len(a), None, dtype=object)
    diff[ok] = shapely.difference(a[ok], b[ok])
    for (k, _), d in zip(pairs, diff, strict=True):
        if d is None:
            continue
        area = shapely.area(d)
        if area > tolerance:
            issues.append(Issue("error", child_layer, codes.iloc[k],
                                f"{area:.2f} m² lies outside its {parent_layer[:-1]} {pcodes.iloc[k]}",
                                _where_metric(d, cm.crs)))
    return issues


def check_overlaps(gdf: gpd.GeoDataFrame, layer: str, tolerance: float = AREA_TOLERANCE_M2,
                   crs: str | None = None) -> list[Issue]:
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
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    gm = _metric(gdf, crs or _metric_crs(gdf))
    geoms = np.asarray(gm.geometry.values, dtype=object)
    good = np.array([g is not None and not shapely.is_empty(g) and shapely.is_valid(g) for g in geoms], bool)
    idx = np.nonzero(good)[0]
    if len(idx) < 2:
        return issues
    tree = shapely.STRtree(geoms[idx])
    left, right = tree.query(geoms[idx], predicate="intersects")
    keep = left < right
    left, right = idx[left[keep]], idx[right[keep]]
    inter = shapely.intersection(geoms[left], geoms[right])
    areas = shapely.area(inter)
    codes = _ids(gm, layer)
    for a, b, g, area in zip(left, right, inter, areas, strict=True):
        if area > tolerance:
            issues.append(Issue("error", layer, codes[a], f"overlaps {codes[b]} by {area:.2f} m²",
                                _where_metric(g, gm.crs)))
    return issues


def check_gaps(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, child_layer: str, parent_layer: str,
               parent_field: str, tolerance: float = AREA_TOLERANCE_M2, crs: str | None = None) -> list[Issue]:
    """Report parts of each parent area that none of its children cover (gaps), with their areas in m².

    Parameters
    ----------
    children, parents : GeoDataFrame
        E.g. grids and committees, in lon/lat.
    child_layer, parent_layer : str
        Layer names for the messages.
    parent_field : str
        Field of ``children`` naming the parent's code.
    tolerance : float
        Gaps up to this area (m²) are ignored.
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    crs = crs or _metric_crs(children, parents)
    cm, pm = _metric(children, crs), _metric(parents, crs)
    groups: dict[str, list] = {}
    for p, g in zip(_str_col(cm, parent_field), cm.geometry.values, strict=True):
        if p is not None and g is not None and shapely.is_valid(g):
            groups.setdefault(p, []).append(g)
    for code, pg in zip(_str_col(pm, "code"), pm.geometry.values, strict=True):
        if code is None or pg is None or not shapely.is_valid(pg):
            continue
        kids = groups.get(code, [])
        if not kids:
            issues.append(Issue("error", parent_layer, code, f"has no {child_layer}", _where_metric(pg, pm.crs)))
            continue
        rest = shapely.difference(pg, shapely.union_all(kids))
        for part in shapely.get_parts(rest):
            area = shapely.area(part)
            if shapely.get_dimensions(part) == 2 and area > tolerance:
                issues.append(Issue("error", parent_layer, code,
                                    f"gap of {area:.2f} m² not covered by any of its {child_layer}",
                                    _where_metric(part, pm.crs)))
    return issues


def check_city_gaps(gdf: gpd.GeoDataFrame, layer: str, tolerance: float = AREA_TOLERANCE_M2,
                    crs: str | None = None) -> list[Issue]:
    """Report holes in the union of a whole layer (e.g. land between grids that no grid covers).

    Parameters
    ----------
    gdf : GeoDataFrame
        An area layer in lon/lat.
    layer : str
        Layer name for the messages.
    tolerance : float
        Holes up to this area (m²) are ignored.
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    gm = _metric(gdf, crs or _metric_crs(gdf))
    geoms = [g for g in gm.geometry.values if g is not None and shapely.is_valid(g)]
    if not geoms:
        return issues
    for poly in shapely.get_parts(shapely.union_all(geoms)):
        for ring in poly.interiors:
            hole = shapely.Polygon(ring)
            if hole.area > tolerance:
                issues.append(Issue("error", layer, None, f"gap of {hole.area:.2f} m² between {layer}",
                                    _where_metric(hole, gm.crs)))
    return issues


def check_grids(grids: gpd.GeoDataFrame, committees: gpd.GeoDataFrame,
                tolerance: float = AREA_TOLERANCE_M2) -> list[Issue]:
    """Check a grid layer against its committees: geometry, attributes, codes, nesting, overlaps, gaps, numbering.

    The import feature uses this to vet an uploaded grid layer before it replaces the current one.

    Parameters
    ----------
    grids, committees : GeoDataFrame
        The grid layer and the committee layer it refers to, in lon/lat.
    tolerance : float
        Area tolerance in m² for nesting, overlaps and gaps.

    Returns
    -------
    list of Issue
    """
    empty = gpd.GeoDataFrame({"code": []}, geometry=[], crs="EPSG:4326")
    crs = _metric_crs(grids, committees)
    issues = check_geometry("grids", grids) + check_attributes("grids", grids)
    issues += [i for i in check_codes(empty, committees, grids) if i.layer == "grids" and "divisions" not in i.message]
    issues += check_nesting(grids, committees, "grids", "committees", "committee_code", tolerance, crs)
    issues += check_overlaps(grids, "grids", tolerance, crs)
    issues += check_gaps(grids, committees, "grids", "committees", "committee_code", tolerance, crs)
    issues += check_numbering(grids, committees, crs)
    return issues


def check_points_in_grids(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, layer: str) -> list[Issue]:
    """Check that each point's ``grid_code`` names a grid that actually contains the point.

    Parameters
    ----------
    points : GeoDataFrame
        Addresses or facilities (lon/lat points with ``grid_code``).
    grids : GeoDataFrame
        Grids in lon/lat.
    layer : str
        Layer name of ``points`` for the messages.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(points, layer)
    gcodes = _str_col(grids, "code").to_numpy()
    known = set(c for c in gcodes if c)
    geoms = np.asarray(grids.geometry.values, dtype=object)
    good = np.array([g is not None and shapely.is_valid(g) for g in geoms], bool)
    tree = shapely.STRtree(geoms[good])
    gcodes = gcodes[good]
    pts = np.asarray(points.geometry.values, dtype=object)
    ok_pts = np.array([p is not None and not shapely.is_empty(p) for p in pts], bool)
    src, dst = tree.query(pts[ok_pts], predicate="intersects")
    pos = np.nonzero(ok_pts)[0]
    inside: dict[int, list[str]] = {}
    for s, d in zip(src, dst, strict=True):
        inside.setdefault(int(pos[s]), []).append(gcodes[d])
    for k, code in enumerate(_str_col(points, "grid_code")):
        if not ok_pts[k]:
            continue
        where = f"{pts[k].x:.6f},{pts[k].y:.6f}"
        found = inside.get(k, [])
        if code is not None and code not in known:
            issues.append(Issue("error", layer, ids[k], f"grid_code {code} is not in the grids layer", where))
        elif not found:
            issues.append(Issue("error", layer, ids[k], "lies outside every grid", where))
        elif code is not None and code not in found:
            issues.append(Issue("error", layer, ids[k], f"grid_code is {code} but it lies in {found[0]}", where))
    return issues


def check_address_sums(grids: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> list[Issue]:
    """Check that each grid's population and households equal the sums over its addresses.

    Parameters
    ----------
    grids, addresses : GeoDataFrame
        The grid and address layers.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    if "grid_code" not in addresses.columns:
        return issues
    sums = pd.DataFrame({
        "grid_code": _str_col(addresses, "grid_code"),
        "residents": pd.to_numeric(addresses.get("residents"), errors="coerce"),
        "households": pd.to_numeric(addresses.get("households"), errors="coerce"),
    }).groupby("grid_code").sum(min_count=1)
    for field_g, field_a in (("population", "residents"), ("households", "households")):
        if field_g not in grids.columns:
            continue
        values = pd.to_numeric(grids[field_g], errors="coerce")
        for code, v in zip(_str_col(grids, "code"), values, strict=True):
            total = sums[field_a].get(code, 0) if code in sums.index else 0
            total = 0 if pd.isna(total) else total
            if pd.isna(v) or int(total) != int(v):
                issues.append(Issue("error", "grids", code,
                                    f"{field_g} is {v if not pd.isna(v) else 'empty'} but its addresses' "
                                    f"{field_a} sum to {int(total)}"))
    return issues


def check_facilities(facilities: gpd.GeoDataFrame) -> list[Issue]:
    """Check facility categories, subtypes, CJ/T 214 codes, capacities and id uniqueness.

    Parameters
    ----------
    facilities : GeoDataFrame
        The facility layer.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(facilities, "facilities")
    cats, subs, codes = (_str_col(facilities, c) for c in ("category", "subtype", "cjt214_code"))
    caps = facilities["capacity"] if "capacity" in facilities.columns else pd.Series([None] * len(facilities))
    for k, (cat, sub, code, cap) in enumerate(zip(cats, subs, codes, caps, strict=True)):
        if cat is None:
            continue
        if cat not in CATEGORIES:
            issues.append(Issue("error", "facilities", ids[k],
                                f"category {cat!r} is not one of {', '.join(CATEGORIES)}"))
            continue
        want = CATEGORIES[cat].cjt214_code
        if code != want:
            issues.append(Issue("error", "facilities", ids[k],
                                f"cjt214_code is {code!r}, expected {want!r} for {cat}"))
        if sub is not None and sub not in SUBTYPES.get(cat, {}):
            allowed = ", ".join(SUBTYPES.get(cat, {})) or "none"
            issues.append(Issue("error", "facilities", ids[k], f"subtype {sub!r} is not allowed for {cat} ({allowed})"))
        if CATEGORIES[cat].has_capacity and _isnull(cap):
            issues.append(Issue("warning", "facilities", ids[k], f"{cat} has no capacity"))
        if not CATEGORIES[cat].has_capacity and not _isnull(cap):
            issues.append(Issue("warning", "facilities", ids[k], f"{cat} should not have a capacity"))
        if not _isnull(cap) and _type_ok(cap, "int") and cap < 0:
            issues.append(Issue("error", "facilities", ids[k], f"capacity {cap} is negative"))
    issues += _duplicates(facilities, "facilities", "id")
    return issues


def check_addresses(addresses: gpd.GeoDataFrame) -> list[Issue]:
    """Check address kinds, the address text form, non-negative counts and uniqueness of ids and texts.

    Parameters
    ----------
    addresses : GeoDataFrame
        The address layer.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(addresses, "addresses")
    cols = {c: (addresses[c] if c in addresses.columns else pd.Series([None] * len(addresses)))
            for c in ("address", "kind", "street", "number", "residents", "households")}
    for k, (text, kind, street, number, res, hh) in enumerate(zip(*cols.values(), strict=True)):
        if _isnull(kind):
            continue
        if kind not in _ADDRESS_KINDS:
            issues.append(Issue("error", "addresses", ids[k], f"kind {kind!r} is not road or compound"))
            continue
        if not _isnull(street) and not _isnull(number) and _type_ok(number, "int"):
            want = f"{street}{int(number)}号" + ("楼" if kind == "compound" else "")
            if text != want:
                issues.append(Issue("error", "addresses", ids[k], f"address {text!r} should read {want!r}"))
        for name, v in (("residents", res), ("households", hh)):
            if not _isnull(v) and _type_ok(v, "int") and v < 0:
                issues.append(Issue("error", "addresses", ids[k], f"{name} {v} is negative"))
    issues += _duplicates(addresses, "addresses", "id")
    issues += _duplicates(addresses, "addresses", "address")
    return issues


def check_roads(roads: gpd.GeoDataFrame) -> list[Issue]:
    """Check road kinds and id uniqueness.

    Parameters
    ----------
    roads : GeoDataFrame
        The road layer.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    ids = _ids(roads, "roads")
    for k, kind in enumerate(_str_col(roads, "kind")):
        if kind is not None and kind not in _ROAD_KINDS:
            issues.append(Issue("error", "roads", ids[k], f"kind {kind!r} is not one of {', '.join(_ROAD_KINDS)}"))
    return issues + _duplicates(roads, "roads", "id")


def check_near_roads(points: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, layer: str,
                     max_distance: float = ROAD_DISTANCE_M, crs: str | None = None) -> list[Issue]:
    """Warn about points farther than ``max_distance`` metres from every road (unreachable on foot).

    Parameters
    ----------
    points, roads : GeoDataFrame
        Points (addresses or facilities) and roads, in lon/lat.
    layer : str
        Layer name of ``points``.
    max_distance : float
        Distance in metres.
    crs : str, optional
        Metric CRS to measure in; default: :func:`metric_crs_for` the layers' combined lon/lat extent.

    Returns
    -------
    list of Issue
    """
    issues: list[Issue] = []
    crs = crs or _metric_crs(roads, points)
    lines = np.asarray(_metric(roads, crs).geometry.values, dtype=object)
    lines = lines[[g is not None and not shapely.is_empty(g) for g in lines]]
    if not len(lines) or not len(points):
        return issues
    pm = _metric(points, crs)
    pts = np.asarray(pm.geometry.values, dtype=object)
    tree = shapely.STRtree(lines)
    ok = np.array([p is not None and not shapely.is_empty(p) for p in pts], bool)
    near = tree.query(pts[ok], predicate="dwithin", distance=max_distance)
    close = set(np.nonzero(ok)[0][np.unique(near[0])].tolist())
    ids = _ids(points, layer)
    for k in np.nonzero(ok)[0]:
        if int(k) not in close:
            p = points.geometry.values[k]
            issues.append(Issue("warning", layer, ids[k], f"more than {max_distance:.0f} m from any road",
                                f"{p.x:.6f},{p.y:.6f}"))
    return issues


def _duplicates(gdf: gpd.GeoDataFrame, layer: str, column: str) -> list[Issue]:
    if column not in gdf.columns:
        return []
    col = _str_col(gdf, column)
    dup = col[col.duplicated(keep=False) & col.notna()]
    return [Issue("error", layer, v, f"{column} {v!r} is used by {int((col == v).sum())} features")
            for v in sorted(set(dup))]


# ---------------------------------------------------------------------------- folder
def read_layers(folder: Path) -> tuple[dict[str, gpd.GeoDataFrame], list[Issue]]:
    """Read every layer of a geodata folder, collecting an issue for each missing or unreadable file.

    Parameters
    ----------
    folder : Path
        A geodata folder.

    Returns
    -------
    (dict of layer name to GeoDataFrame, list of Issue)
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    issues: list[Issue] = []
    for name in LAYERS:
        path = Path(folder) / f"{name}.geojson"
        if not path.exists():
            issues.append(Issue("error", name, None, f"file {path.name} is missing"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
                gdf = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:  # noqa: BLE001 - any reader failure is reported, not raised
            issues.append(Issue("error", name, None, f"cannot read {path.name}: {exc}"))
            continue
        layers[name] = gdf if gdf.crs is not None else gdf.set_crs("EPSG:4326")
    return layers, issues


def validate_folder(folder: Path, expected_grids: int | None = 613) -> Report:
    """Run every check on a geodata folder.

    Parameters
    ----------
    folder : Path
        Folder holding ``<layer>.geojson`` files.
    expected_grids : int or None
        Required number of grids (613 for Jiayuguan); None skips the count.

    Returns
    -------
    Report
        Sections per check; ``report.ok`` is True when there are no errors.
    """
    report = Report(str(folder))
    layers, read_issues = read_layers(Path(folder))
    report.sections.append(Section("files", "Files", f"{len(layers)}/{len(LAYERS)} layers read", read_issues))

    def section(key: str, title: str, needs: tuple[str, ...], checked: Callable[[], str],
                run: Callable[[], list[Issue]]) -> None:
        missing = [n for n in needs if n not in layers]
        if missing:
            report.sections.append(Section(key, title, skipped=f"needs {', '.join(missing)}"))
            return
        report.sections.append(Section(key, title, checked(), run()))

    counts = {n: len(g) for n, g in layers.items()}
    # one metric CRS for every check, from the area layers (a stray point must not move it)
    crs = _metric_crs(*(layers.get(n) for n in ("divisions", "committees", "grids")))
    present = [n for n in LAYERS if n in layers]
    section("geometry", "Geometry types and validity", (), lambda: f"{sum(counts.values())} features",
            lambda: [i for n in present for i in check_geometry(n, layers[n])])
    section("attributes", "Attributes and types", (), lambda: f"{len(present)} layers",
            lambda: [i for n in present for i in check_attributes(n, layers[n])])
    d, c, g = layers.get("divisions"), layers.get("committees"), layers.get("grids")
    section("codes", "Codes (division 9, committee 12, grid 15 digits)", ("divisions", "committees", "grids"),
            lambda: f"{counts['divisions']} divisions, {counts['committees']} committees, {counts['grids']} grids",
            lambda: check_codes(d, c, g, expected_grids))
    section("numbering", "Grid numbering (west→east, then north→south)", ("committees", "grids"),
            lambda: f"{counts['grids']} grids in {counts['committees']} committees",
            lambda: check_numbering(g, c, crs))
    section("nesting", "Nesting (grid in committee, committee in division)", ("divisions", "committees", "grids"),
            lambda: f"{counts['grids'] + counts['committees']} areas",
            lambda: check_nesting(g, c, "grids", "committees", "committee_code", crs=crs)
            + check_nesting(c, d, "committees", "divisions", "division_code", crs=crs))
    section("overlaps", f"Overlaps (> {AREA_TOLERANCE_M2} m², {crs})", ("divisions", "committees", "grids"),
            lambda: "grids, committees and divisions city-wide",
            lambda: check_overlaps(g, "grids", crs=crs) + check_overlaps(c, "committees", crs=crs)
            + check_overlaps(d, "divisions", crs=crs))
    section("gaps", f"Gaps (> {AREA_TOLERANCE_M2} m², {crs})", ("divisions", "committees", "grids"),
            lambda: "grids in committees, committees in divisions, holes city-wide",
            lambda: check_gaps(g, c, "grids", "committees", "committee_code", crs=crs)
            + check_gaps(c, d, "committees", "divisions", "division_code", crs=crs)
            + check_city_gaps(g, "grids", crs=crs) + check_city_gaps(d, "divisions", crs=crs))
    section("sums", "Population and households = sums over addresses", ("grids", "addresses"),
            lambda: f"{counts['grids']} grids, {counts['addresses']} addresses",
            lambda: check_address_sums(g, layers["addresses"]))
    section("points", "Addresses and facilities lie in their grid", ("grids", "addresses", "facilities"),
            lambda: f"{counts['addresses'] + counts['facilities']} points",
            lambda: check_points_in_grids(layers["addresses"], g, "addresses")
            + check_points_in_grids(layers["facilities"], g, "facilities"))
    section("facilities", "Facility categories, subtypes and CJ/T 214 codes", ("facilities",),
            lambda: f"{counts['facilities']} facilities",
            lambda: check_facilities(layers["facilities"]))
    section("addresses", "Address text, kinds and uniqueness", ("addresses",),
            lambda: f"{counts['addresses']} addresses",
            lambda: check_addresses(layers["addresses"]))
    section("roads", f"Roads, and points within {ROAD_DISTANCE_M:.0f} m of a road", ("roads", "addresses", "facilities"),
            lambda: f"{counts['roads']} roads",
            lambda: check_roads(layers["roads"])
            + check_near_roads(layers["addresses"], layers["roads"], "addresses", crs=crs)
            + check_near_roads(layers["facilities"], layers["roads"], "facilities", crs=crs))
    return report
