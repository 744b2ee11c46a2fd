"""The importer's checks: geometry types and validity, columns, text, values, codes, defaults, tiling, grids."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from app.geo import validate
from app.geo._import_base import (
    _as_code,
    _metric_crs_of,
    _norm_key,
    _place,
    _safe_text,
    _to_metric,
    _wgs_place,
)
from app.geo._validate_text import HIDDEN, escape, hidden_problem, is_code_field, nfc, strip_hidden
from app.geo.findings import LIST_LIMIT, Finding, Report
from app.geo.schema import (
    CATEGORIES,
    CODE_PATTERNS,
    FIELDS,
    GEOMETRY_TYPES,
    STORAGE_CRS,
    committee_kind_from_code,
)
from app.geo.store import ReadStore

#: Smallest overlap or gap between grids that is reported, in m².
MIN_AREA_M2 = 1.0
#: Column names accepted for schema fields besides their own name (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码", "网格编码", "gridcode", "grid_code_15"),
    "name": ("名称", "网格名称", "name_zh"),
    "committee_code": ("社区编码", "村居编码", "committee"),
    "division_code": ("街道编码", "乡镇编码", "division"),
    "households": ("户数",),
    "population": ("人口", "人数"),
    "category": ("类别", "类型"),
    "address": ("地址",),
}

_CODE_KEY = {"divisions": "code", "committees": "code", "grids": "code",
             "facilities": "id", "addresses": "id", "roads": "id"}
_ID_PREFIX = {"facilities": "F", "addresses": "A", "roads": "R"}


def _check_types(layer: str, geoms: np.ndarray, labels: list[str], report: Report) -> None:
    allowed = GEOMETRY_TYPES[layer]
    for i, g in enumerate(geoms):
        if g is not None and g.geom_type not in allowed:
            report.error("wrong_geometry_type", f"{g.geom_type} where layer {layer} holds {' or '.join(allowed)}",
                         feature=labels[i], place=_wgs_place(g))
            geoms[i] = None


def _check_validity(layer: str, geoms: np.ndarray, labels: list[str], report: Report, repair: bool) -> None:
    invalid = np.flatnonzero(~shapely.is_valid(np.asarray(geoms, dtype=object)) & ~shapely.is_missing(geoms))
    for i in invalid:
        g = geoms[i]
        reason = shapely.is_valid_reason(g)
        m = re.search(r"\[([-\d.eE+]+) ([-\d.eE+]+)", reason)
        place = _place(float(m.group(1)), float(m.group(2))) if m else _wgs_place(g)
        if not repair:
            report.error("invalid_geometry", f"invalid geometry: {reason}; run with --repair to fix it",
                         feature=labels[i], place=place)
            continue
        fixed = shapely.make_valid(g)
        allowed = GEOMETRY_TYPES[layer]
        if fixed.geom_type == "GeometryCollection":
            parts = [p for p in fixed.geoms if p.geom_type in allowed or f"Multi{p.geom_type}" in allowed]
            fixed = shapely.union_all(parts) if parts else shapely.Polygon()
        if fixed.is_empty or fixed.geom_type not in allowed:
            if fixed.geom_type == "Polygon" and "MultiPolygon" in allowed:
                pass
            else:
                report.error("invalid_geometry", f"invalid geometry ({reason}) and the repair leaves no "
                             f"{'/'.join(allowed)}", feature=labels[i], place=place)
                continue
        report.add("repaired", "invalid_geometry", f"repaired: {reason}", feature=labels[i], place=place)
        geoms[i] = fixed


def _match_columns(layer: str, props: list[dict[str, Any]], report: Report) -> list[dict[str, Any]]:
    names = [f.name for f in FIELDS[layer]]
    seen_cols = list(dict.fromkeys(k for p in props for k in p))  # in order of appearance, without a list scan
    mapping: dict[str, str] = {}
    by_key = {_norm_key(c): c for c in seen_cols}
    for name in names:
        for cand in (name, *ALIASES.get(name, ())):
            col = by_key.get(_norm_key(cand))
            if col is not None and col not in mapping:
                mapping[col] = name
                break
    for col in seen_cols:  # Shapefile .dbf names are cut to 10 characters: committee_code -> committee_
        if col not in mapping and len(col) == 10:
            hits = [n for n in names if n.startswith(col) and n not in mapping.values()]
            if len(hits) == 1:
                mapping[col] = hits[0]
    dropped = [c for c in seen_cols if c not in mapping]
    if dropped:
        report.warning("extra_columns", f"columns not in the {layer} data model are dropped: "
                       f"{_safe_text(', '.join(map(str, dropped)), 300)}")
    return [{mapping[k]: v for k, v in p.items() if k in mapping} for p in props]


def _check_text(rows: list[dict[str, Any]], labels: list[str], report: Report) -> None:
    """Put every text in NFC; refuse hidden characters in codes and ids, and strip them from other text.

    Hidden characters (control characters such as NUL, zero-width and bidi controls, see
    :data:`app.geo._validate_text.HIDDEN`) make a code that looks right but names no page, and
    cut a name where a NUL ends it. This runs on the matched fields of every format.
    """
    for i, row in enumerate(rows):
        for name, value in row.items():
            if not isinstance(value, str):
                continue
            if HIDDEN.search(value) is None:
                row[name] = nfc(value)
            elif is_code_field(name):
                report.error("hidden_characters", hidden_problem(name, value) or "", feature=labels[i])
            else:
                report.warning("hidden_characters", f"{hidden_problem(name, value)}; removed", feature=labels[i])
                row[name] = strip_hidden(value)


def _coerce_fields(layer: str, rows: list[dict[str, Any]], labels: list[str], report: Report) -> None:
    for f in FIELDS[layer]:
        for i, row in enumerate(rows):
            v = row.get(f.name)
            if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
                row[f.name] = None
                continue
            if f.dtype == "str":
                row[f.name] = _as_code(v) if is_code_field(f.name) else str(v).strip()
            elif f.dtype in ("int", "float"):
                try:
                    num = float(str(v).strip().replace(",", "")) if not isinstance(v, int | float) else float(v)
                    if not math.isfinite(num) or abs(num) > 1e12:
                        raise ValueError
                    if f.dtype == "int" and not num.is_integer():
                        raise ValueError
                except (ValueError, TypeError, OverflowError):
                    kind = "a whole number" if f.dtype == "int" else "a number"
                    report.error("bad_value", f"{f.name} is {_safe_text(repr(v), 40)}, not {kind}", feature=labels[i])
                    row[f.name] = None
                    continue
                row[f.name] = int(num) if f.dtype == "int" else num


def _check_codes(layer: str, rows: list[dict[str, Any]], labels: list[str], report: Report) -> None:
    key = _CODE_KEY[layer]
    if key == "id" and all(r.get("id") is None for r in rows):
        width = max(5, len(str(len(rows))))
        for n, r in enumerate(rows, start=1):
            r["id"] = f"{_ID_PREFIX[layer]}{n:0{width}d}"
        report.warning("generated_ids", f"the file has no id column; ids {rows[0]['id']}… were generated")
        return
    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        code = r.get(key)
        if code is None:
            report.error("missing_code", f"the feature has no {key}", feature=labels[i])
            continue
        if code in first:
            report.error("duplicate_code", f"{key} {escape(code)} is also used by {labels[first[code]]}",
                         feature=labels[i])
        else:
            first[code] = i
        pattern = CODE_PATTERNS.get(layer)
        if pattern is not None and not pattern.match(code):
            digits = {"divisions": 9, "committees": 12, "grids": 15}[layer]
            report.warning("code_scheme", f"code {_safe_text(code, 40)} does not follow the {digits}-digit scheme",
                           feature=labels[i])
    if layer == "grids":
        for i, r in enumerate(rows):
            code, com = r.get("code"), r.get("committee_code")
            if com is None and code and CODE_PATTERNS["grids"].match(code):
                r["committee_code"] = com = code[:12]
            if com is None:
                report.error("missing_code", "the grid has no committee_code", feature=labels[i])
            elif code and not str(code).startswith(str(com)):
                report.warning("code_scheme", f"grid code {escape(code)} does not start with its committee code "
                               f"{escape(com)}", feature=labels[i])
            if r.get("division_code") is None and com and CODE_PATTERNS["committees"].match(com):
                r["division_code"] = com[:9]
    if layer == "committees":
        for r in rows:
            if r.get("division_code") is None and r.get("code") and CODE_PATTERNS["committees"].match(r["code"]):
                r["division_code"] = r["code"][:9]


def _fill_defaults(layer: str, rows: list[dict[str, Any]], labels: list[str], report: Report) -> None:
    essential = {"divisions": ("name",), "committees": ("name",), "grids": ("name",),
                 "facilities": ("name", "category"), "addresses": ("address",), "roads": ("name",)}[layer]
    filled: dict[str, int] = defaultdict(int)
    for i, r in enumerate(rows):
        for f in FIELDS[layer]:
            if r.get(f.name) is not None:
                continue
            if f.name in essential:
                report.error("missing_value", f"the feature has no {f.name}", feature=labels[i])
            elif f.name == "kind" and layer in ("divisions", "committees"):
                r["kind"] = _guess_kind(layer, r)
                filled[f.name] += 1
            elif f.required and f.name not in ("area_m2", "grid_code", "committee_code", "division_code"):
                r[f.name] = 0 if f.dtype in ("int", "float") else ""
                filled[f.name] += 1
        if layer == "facilities" and r.get("category") is not None and r["category"] not in CATEGORIES:
            report.error("bad_value", f"category {_safe_text(r['category'], 40)!r} is not one of "
                         f"{', '.join(CATEGORIES)}", feature=labels[i])
    if filled:
        report.warning("filled_fields", "missing values were filled with defaults: "
                       + ", ".join(f"{k} ({n})" for k, n in filled.items()))


def _guess_kind(layer: str, row: dict[str, Any]) -> str:
    name = str(row.get("name") or "")
    if layer == "divisions":
        return "town" if name.endswith(("镇", "乡")) else "subdistrict"
    code = str(row.get("code") or "")
    return committee_kind_from_code(code) or ("village" if name.endswith("村") else "community")


_OVERLAP = re.compile(r"overlaps (.*) by [\d.]+ m²", re.DOTALL)


def _copy_findings(issues: list[Finding], problem: str, labels_by_code: dict[str, str], report: Report,
                   severity: str) -> None:
    """Copy :mod:`app.geo.validate` findings into the import report, naming features by their labels.

    An overlap names the other area by its code too: it is found in the message and looked up,
    where scanning every code for each finding made a file with many findings quadratic.
    """
    for issue in issues:
        feature = labels_by_code.get(issue.feature, issue.feature) if issue.feature else None
        message = issue.message
        other = _OVERLAP.fullmatch(message) if problem == "overlap" else None
        if other and other[1] and other[1] != issue.feature and other[1] in labels_by_code:
            message = f"overlaps {labels_by_code[other[1]]}{message[other.end(1):]}"
        place = issue.place.replace(",", ", ") if issue.place else None
        report.add(severity, problem, message, feature, place)


def check_tiling(gdf: gpd.GeoDataFrame, layer: str, labels: list[str], report: Report,
                 parents: gpd.GeoDataFrame | None = None, parent_layer: str | None = None,
                 severity: str = "error", tolerance: float = MIN_AREA_M2) -> None:
    """Check areas against each other and their parents, reusing :mod:`app.geo.validate`.

    Reports overlaps, gaps (holes between the areas) and areas lying outside the parent they
    name, all with their size in m² and a place; names unknown parents. Areas are measured in
    the metric CRS of the checked layer's extent (:func:`app.geo.schema.metric_crs_for`).

    Parameters
    ----------
    gdf : GeoDataFrame
        The checked layer in EPSG:4326 with ``code`` (and ``<parent>_code``).
    layer : str
        Its name.
    labels : list of str
        One label per row, used to name features.
    report : Report
        Where findings go.
    parents : GeoDataFrame, optional
        The stored parent layer (e.g. committees for grids).
    parent_layer : str, optional
        Its name.
    severity : str
        ``error`` (refuses the import) or ``warning``.
    tolerance : float
        Smallest area reported, in m².
    """
    by_code = {str(c): lab for c, lab in zip(gdf["code"], labels, strict=True) if c is not None}
    ok = gdf[shapely.is_valid(np.asarray(gdf.geometry.values, dtype=object))]
    if len(ok) == 0:
        return
    crs = _metric_crs_of(ok.geometry.values)
    metric = ok.to_crs(crs)  # once: the checks below take frames already in their CRS as they are
    _copy_findings(validate.check_overlaps(metric, layer, tolerance=tolerance, crs=crs), "overlap", by_code,
                   report, severity)
    _copy_findings(validate.check_city_gaps(metric, layer, tolerance=tolerance, crs=crs), "gap", by_code,
                   report, severity)
    if parent_layer is None:
        return
    if parents is None or len(parents) == 0:
        report.warning("no_parents", f"no {parent_layer} layer is stored, so containment was not checked")
        return
    key = f"{parent_layer[:-1]}_code"
    known = {_as_code(c) for c in parents["code"]}
    for code, pcode, geom in zip(ok["code"], ok[key], ok.geometry.values, strict=True):
        if pcode is not None and pcode not in known:
            report.add(severity, "unknown_parent", f"{parent_layer[:-1]} {escape(str(pcode))} does not exist in "
                       f"the stored {parent_layer}; import {parent_layer} first", by_code.get(str(code)),
                       _wgs_place(geom))
    parents = parents.assign(code=parents["code"].map(_as_code))
    _copy_findings(validate.check_nesting(metric, parents, layer, parent_layer, key, tolerance=tolerance, crs=crs),
                   "outside_parent", by_code, report, severity)


def _check_areas(layer: str, rows: list[dict[str, Any]], geoms: np.ndarray, labels: list[str], report: Report,
                 context: ReadStore | None) -> None:
    """Check an area layer's tiling (against its stored parent layer) and compute the grids' ``area_m2``."""
    severity = "error" if layer == "grids" else "warning"  # the issue refuses only grids on these
    parent = {"grids": "committees", "committees": "divisions"}.get(layer)
    frame = gpd.GeoDataFrame({"code": [r.get("code") for r in rows],
                              **({f"{parent[:-1]}_code": [r.get(f"{parent[:-1]}_code") for r in rows]}
                                 if parent else {})},
                             geometry=list(geoms), crs=STORAGE_CRS)
    check_tiling(frame, layer, labels, report, _context_layer(context, parent) if parent else None, parent,
                 severity=severity)
    if layer != "grids":
        return
    metric_crs = _metric_crs_of(geoms)
    metric = _to_metric(np.array([g if g is not None else shapely.Polygon() for g in geoms], dtype=object),
                        metric_crs)
    for r, g, lab in zip(rows, metric, labels, strict=True):
        area = round(float(g.area), 1)
        given = r.get("area_m2")
        if given and area and abs(given - area) > 0.01 * area:
            report.warning("area_recomputed", f"area_m2 {given} replaced by {area} computed in {metric_crs}",
                           feature=lab)
        r["area_m2"] = area


def _context_layer(context: ReadStore | None, name: str) -> gpd.GeoDataFrame | None:
    """A stored layer the import is checked against, or None when there is none or it cannot be read."""
    if context is None:
        return None
    try:
        if name not in context.layer_names():
            return None
        return context.read(name)
    except Exception:  # noqa: BLE001 - a broken store must not hide the import report
        return None


def _assign_grids(rows: list[dict[str, Any]], geoms: np.ndarray, labels: list[str],
                  grids: gpd.GeoDataFrame | None, report: Report) -> None:
    if grids is None or len(grids) == 0:
        if any(r.get("grid_code") is None for r in rows):
            report.warning("no_grid", "no grids are stored, so grid_code could not be filled in")
        return
    tree = shapely.STRtree(grids.geometry.values)
    codes = grids["code"].map(_as_code).to_numpy()
    pts = np.array([g if g is not None else shapely.Point() for g in geoms], dtype=object)
    hit_pt, hit_grid = tree.query(pts, predicate="intersects")
    found: dict[int, str] = {}
    for p, g in zip(hit_pt, hit_grid, strict=True):
        found.setdefault(int(p), codes[g])
    filled = outside = moved = 0
    for i, r in enumerate(rows):
        if geoms[i] is None:
            continue
        where = found.get(i)
        if where is None:
            outside += 1
            if r.get("grid_code") is None:
                r["grid_code"] = ""
            if outside <= LIST_LIMIT:
                report.warning("outside_grids", "the point lies in no grid", feature=labels[i],
                               place=_wgs_place(geoms[i]))
        elif r.get("grid_code") is None:
            r["grid_code"] = where
            filled += 1
        elif r["grid_code"] != where:
            moved += 1
            if moved <= LIST_LIMIT:
                report.warning("grid_mismatch", f"grid_code {escape(r['grid_code'])} but the point lies in grid "
                               f"{where}", feature=labels[i], place=_wgs_place(geoms[i]))
    if filled:
        report.warning("filled_fields", f"grid_code filled in from the stored grids for {filled} features")

