"""The importer's GeoJSON reader: the document, its features and their geometries, checked position by position."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo._import_base import _label, _Raw, _safe_text, _Stop
from app.geo.findings import Report

if TYPE_CHECKING:
    from app.geo.importer import Limits


class _Batch:
    """Plane (x, y) polygons, multipolygons and points, built all at once instead of one by one.

    Building a shapely geometry from nested lists costs tens of microseconds a feature, most of
    an import of a large tiling; one ``from_ragged_array`` call per type does the same for all.
    A geometry with a z (or anything shapely would treat differently) is not taken, and is built
    alone as before.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {"Polygon": [], "MultiPolygon": [], "Point": []}
        self.positions: dict[str, list[list[float]]] = {"Polygon": [], "MultiPolygon": [], "Point": []}
        self.ring_sizes: dict[str, list[int]] = {"Polygon": [], "MultiPolygon": []}
        self.counts: dict[str, list[list[int]]] = {"Polygon": [], "MultiPolygon": []}

    def take(self, row: int, gtype: str, coords: list) -> bool:
        """Queue the checked ``coords`` of a geometry as the feature at ``row``; False if not plane."""
        if gtype == "Point":
            if len(coords) != 2:
                return False
            self.positions[gtype].append(coords)
        elif gtype in self.ring_sizes:
            polys = [coords] if gtype == "Polygon" else coords
            rings = coords if gtype == "Polygon" else [ring for poly in coords for ring in poly]
            for ring in rings:
                for position in ring:
                    if len(position) != 2:
                        return False
            positions, sizes = self.positions[gtype], self.ring_sizes[gtype]
            for ring in rings:
                positions.extend(ring)
                sizes.append(len(ring))
            self.counts[gtype].append([len(poly) for poly in polys])
        else:
            return False
        self.rows[gtype].append(row)
        return True

    def build(self, geoms: list[BaseGeometry | None]) -> None:
        """Put every queued geometry into ``geoms`` at its row."""
        built: dict[str, np.ndarray] = {}
        if self.positions["Point"]:
            built["Point"] = shapely.points(np.asarray(self.positions["Point"], dtype=float))
        for gtype, kind in (("Polygon", shapely.GeometryType.POLYGON),
                            ("MultiPolygon", shapely.GeometryType.MULTIPOLYGON)):
            if not self.positions[gtype]:
                continue
            offsets = [np.cumsum([0, *self.ring_sizes[gtype]]),
                       np.cumsum([0, *(n for counts in self.counts[gtype] for n in counts)])]
            if gtype == "MultiPolygon":
                offsets.append(np.cumsum([0, *(len(c) for c in self.counts[gtype])]))
            coords = np.asarray(self.positions[gtype], dtype=float)
            built[gtype] = shapely.from_ragged_array(kind, coords, tuple(offsets))
        for gtype, geometries in built.items():
            for row, geom in zip(self.rows[gtype], geometries, strict=True):
                geoms[row] = geom


_POS_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _check_positions(coords: Any, depth: int) -> str | None:
    """Return why a GeoJSON coordinates array is malformed, or None."""
    if depth == 0:
        if not isinstance(coords, list) or len(coords) < 2:
            return "a position is not a list of at least 2 numbers"
        for v in coords[:3]:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"a coordinate is {_safe_text(repr(v), 40)}, not a number"
            if not _finite(v):
                return "a coordinate is NaN or infinite"
        return None
    if not isinstance(coords, list):
        return "coordinates are not nested lists"
    for c in coords:
        if depth == 1 and type(c) is list and len(c) == 2 and type(c[0]) is float and type(c[1]) is float \
                and c[0] - c[0] == 0.0 and c[1] - c[1] == 0.0:
            continue  # the usual position, two finite floats (NaN and inf give NaN), without a call per position
        why = _check_positions(c, depth - 1)
        if why:
            return why
    return None


def _finite(v: float) -> bool:
    """True for a finite number; an integer too large for a float is not."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _ring_problem(ring: list) -> str | None:
    if len(ring) < 4:
        return f"a ring has {len(ring)} positions; at least 4 are needed"
    if ring[0][:2] != ring[-1][:2]:
        return "a ring is not closed (its last position differs from its first)"
    return None


def _geojson_geometry(obj: Any, repair: bool, batch: _Batch | None = None,
                      row: int = 0) -> tuple[BaseGeometry | None, str | None, str | None, bool]:
    """Build a geometry from a GeoJSON object.

    With a ``batch``, a plane polygon, multipolygon or point that passed the checks is left to it
    (built later as the feature at ``row``), and the geometry returned is None without a problem.

    Returns (geometry, problem key, message, repaired).
    """
    if obj is None:
        return None, "empty_geometry", "the feature has no geometry (null)", False
    if not isinstance(obj, dict):
        return None, "bad_geometry", "geometry is not an object", False
    gtype = obj.get("type")
    if gtype == "GeometryCollection":
        return None, "wrong_geometry_type", "GeometryCollection is not accepted", False
    if not isinstance(gtype, str) or gtype not in _POS_DEPTH:
        return None, "bad_geometry", f"unknown geometry type {_safe_text(repr(gtype), 40)}", False
    coords = obj.get("coordinates")
    if coords is None or coords == []:
        return None, "empty_geometry", f"{gtype} has no coordinates", False
    why = _check_positions(coords, _POS_DEPTH[gtype])
    if why:
        key = "nan_coordinates" if "NaN" in why else "bad_coordinates"
        return None, key, why, False
    repaired = False
    if gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else coords
        for poly in polys:
            if not poly:
                return None, "empty_geometry", "a polygon has no rings", False
            for i, ring in enumerate(poly):
                why = _ring_problem(ring)
                if why:
                    if repair and "not closed" in why and len(ring) >= 3:
                        poly[i] = [*ring, ring[0]]
                        repaired = True
                        continue
                    return None, "unclosed_ring" if "not closed" in why else "invalid_geometry", why, False
    if gtype in ("LineString",) and len(coords) < 2:
        return None, "invalid_geometry", "a line needs at least 2 positions", False
    if batch is not None and not repaired and batch.take(row, gtype, coords):
        return None, None, None, False
    try:
        geom = shapely.geometry.shape(obj)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        return None, "bad_geometry", f"cannot build the geometry ({_safe_text(exc)})", False
    if geom.is_empty:
        return None, "empty_geometry", f"{gtype} is empty", False
    return geom, None, None, repaired


def _crs_member(doc: dict, report: Report) -> crsmod.CrsSpec | None:
    member = doc.get("crs")
    if member is None:
        return None
    name = None
    if isinstance(member, dict):
        props = member.get("properties")
        if isinstance(props, dict):
            name = props.get("name") or props.get("code")
    if not isinstance(name, str | int):
        report.error("unknown_crs", "the file's \"crs\" member is malformed")
        raise _Stop
    text = str(name)
    if re.search(r"crs:?84$", text, re.I):
        text = "EPSG:4326"
    m = re.search(r"EPSG:{1,2}(?:[\d.]*:)?(\d{4,6})$", text, re.I)
    if m:
        text = f"EPSG:{m.group(1)}"
    try:
        return crsmod.parse_crs(text)
    except crsmod.CRSError as exc:
        report.error("unknown_crs", f"the file names a coordinate system that is not known: {exc}")
        raise _Stop from None


def _read_geojson(data: bytes, report: Report, repair: bool, limits: Limits) -> _Raw:
    """Read a GeoJSON document; with ``repair``, unclosed rings are closed and listed in ``raw.unclosed``."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    encoding = "utf-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
            encoding = "gb18030"
            report.warning("encoding", "the file is not UTF-8; read it as GB18030")
        except UnicodeDecodeError:
            report.error("unreadable", "the file is neither UTF-8 nor GB18030 text")
            raise _Stop from None
    try:
        doc = json.loads(text)
    except RecursionError:
        report.error("unreadable", "the JSON is nested too deeply to be GeoJSON")
        raise _Stop from None
    except ValueError as exc:
        report.error("unreadable", f"not valid JSON: {_safe_text(exc)}")
        raise _Stop from None
    if not isinstance(doc, dict):
        report.error("unreadable", f"not GeoJSON: the top level is a JSON {type(doc).__name__}, not an object")
        raise _Stop
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            report.error("unreadable", "the FeatureCollection has no \"features\" list")
            raise _Stop
    elif kind == "Feature":
        features = [doc]
    else:
        report.error("unreadable", f"not a GeoJSON FeatureCollection or Feature (type is {_safe_text(repr(kind), 40)})")
        raise _Stop
    if len(features) > limits.max_features:
        report.error("too_many_features", f"{len(features)} features; at most {limits.max_features} allowed")
        raise _Stop
    raw = _Raw([], [], [], crs=_crs_member(doc, report), assumed_wgs84_ok=True, format="geojson", encoding=encoding)
    raw.crs_from_file = raw.crs is not None
    batch = _Batch()
    for i, feat in enumerate(features, start=1):
        label = f"#{i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            report.error("bad_feature", "not a GeoJSON Feature object", feature=label)
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            report.error("bad_feature", "\"properties\" is not an object", feature=label)
            props = {}
        geom, problem, msg, repaired = _geojson_geometry(feat.get("geometry"), repair, batch, len(raw.geoms))
        label = _label(label, props)
        if problem:
            report.error(problem, msg or problem, feature=label)
        if repaired:  # reported by check_layer: an error, or a repair when asked for
            raw.unclosed.append(len(raw.geoms))
        raw.props.append(props)
        raw.geoms.append(geom)
        raw.labels.append(label)
    batch.build(raw.geoms)
    return raw.finish()
