"""The importer's checks: geometry types and validity, columns, text, values, codes, defaults, tiling, grids."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo import validate
from app.geo._import_base import (
    _as_code,
    _metric_crs_of,
    _place,
    _safe_text,
    _Stop,
    _to_metric,
    _wgs_place,
)
from app.geo._validate_text import HIDDEN, escape, hidden_problem, is_code_field, nfc, strip_hidden
from app.geo.fieldnames import (
    CATEGORY_WORDS,
    SYNONYMS,
    FieldError,
    category_of,
    match_columns,
    subtype_of,
)
from app.geo.findings import LIST_LIMIT, Finding, Report
from app.geo.schema import (
    CATEGORIES,
    CODE_SCHEMES,
    FIELDS,
    GEOMETRY_TYPES,
    STORAGE_CRS,
    SUBTYPES,
    committee_kind_from_code,
)
from app.geo.store import ReadStore

#: Smallest overlap or gap between grids that is reported, in m².
MIN_AREA_M2 = 1.0
#: Column names accepted for schema fields besides their own name, over all layers (the old table; the importer
#: matches per layer with :data:`app.geo.fieldnames.SYNONYMS`).
ALIASES: dict[str, tuple[str, ...]] = {
    name: tuple(dict.fromkeys(w for fields in SYNONYMS.values() for w in fields.get(name, ())))
    for name in dict.fromkeys(f.name for fields in FIELDS.values() for f in fields)
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


def _match_columns(layer: str, columns: list[str], props: list[dict[str, Any]], report: Report,
                   overrides: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the layer's fields, and rows of the extra attributes (every other column, names cleaned).

    Columns are matched by :func:`app.geo.fieldnames.match_columns`; ``overrides`` (target -> source)
    win. A column that feeds no schema field (grouping columns such as 所属社区 included) is kept as
    an extra attribute under its own name, made NFC and stripped of hidden characters; a name that
    clashes with a field (or another extra, ignoring case) gets a ``_2`` suffix.

    Raises
    ------
    _Stop
        When an override names no such field or column (an ``unknown_field`` error).
    """
    seen = list(dict.fromkeys([*columns, *(k for p in props for k in p)]))
    try:
        match = match_columns(layer, seen, overrides)
    except FieldError as exc:
        report.error("unknown_field", str(exc), field=exc.detail.get("field"))
        raise _Stop from None
    schema = {f.name for f in FIELDS[layer]}
    mapping = {c: t for c, t in match.mapping.items() if t in schema}
    renamed = [f"{_safe_text(c, 40)} → {t}" for c, t in mapping.items() if c != t]
    if renamed:
        report.warning("mapped_fields", f"columns read as {layer} fields: {_safe_text(', '.join(renamed), 400)}")
    extras = _extra_names([c for c in seen if c not in mapping], schema)
    if extras:
        report.warning("extra_columns", f"columns not in the {layer} data model are kept as extra attributes: "
                       f"{_safe_text(', '.join(map(str, extras)), 300)}")
    rows = [{mapping[k]: v for k, v in p.items() if k in mapping} for p in props]
    extra_rows = [{extras[k]: _extra_value(v) for k, v in p.items() if k in extras} for p in props]
    return rows, extra_rows


def _extra_names(columns: list[str], reserved: set[str]) -> dict[str, str]:
    """Source column -> the name it is stored under: NFC, hidden characters stripped, clashes suffixed."""
    taken = {n.casefold() for n in (*reserved, "geometry")}
    out: dict[str, str] = {}
    for k, col in enumerate(columns, start=1):
        name = nfc(strip_hidden(str(col))).strip() or f"column_{k}"
        base, n = name, 2
        while name.casefold() in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name.casefold())
        out[col] = name
    return out


def _extra_value(value: Any) -> str | int | float | None:
    """An extra attribute's value as text, a whole number, a number or None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _check_text(rows: list[dict[str, Any]], labels: list[str], report: Report, extra: bool = False) -> None:
    """Put every text in NFC; refuse hidden characters in codes and ids, and strip them from other text.

    Hidden characters (control characters such as NUL, zero-width and bidi controls, see
    :data:`app.geo._validate_text.HIDDEN`) make a code that looks right but names no page, and
    cut a name where a NUL ends it. This runs on the matched fields of every format, and with
    ``extra`` on the extra attributes (where hidden characters are always stripped, never refused).
    """
    for i, row in enumerate(rows):
        for name, value in row.items():
            if not isinstance(value, str):
                continue
            if HIDDEN.search(value) is None:
                row[name] = nfc(value)
            elif is_code_field(name) and not extra:
                report.error("hidden_characters", hidden_problem(name, value) or "", feature=labels[i], field=name)
            else:
                report.warning("hidden_characters", f"{hidden_problem(name, value)}; removed", feature=labels[i],
                               field=name)
                row[name] = nfc(strip_hidden(value))


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
                    report.error("bad_value", f"{f.name} is {_safe_text(repr(v), 40)}, not {kind}", feature=labels[i],
                                 field=f.name)
                    row[f.name] = None
                    continue
                row[f.name] = int(num) if f.dtype == "int" else num


def _check_codes(layer: str, rows: list[dict[str, Any]], labels: list[str], report: Report,
                 scheme: str = "free", committees: gpd.GeoDataFrame | None = None) -> None:
    """Check codes (or ids) are there and unique; fill in ids, and parent codes where they can be known.

    Under the ``cn-9-12-15`` scheme a code off the digit pattern is a warning, a grid's code must
    start with its committee's, and missing parent codes are taken from code prefixes. Under
    ``free`` (any other scheme) codes are unique strings and nothing is derived from them. Either
    way a grid's missing ``division_code`` is taken from its committee in ``committees`` (the store's).
    """
    patterns = CODE_SCHEMES.get(scheme, {})
    key = _CODE_KEY[layer]
    if key == "id" and all(r.get("id") is None for r in rows):
        width = max(5, len(str(len(rows))))
        for n, r in enumerate(rows, start=1):
            r["id"] = f"{_ID_PREFIX[layer]}{n:0{width}d}"
        report.warning("generated_ids", f"the file has no id column; ids {rows[0]['id']}… were generated",
                       field="id")
        return
    first: dict[str, int] = {}
    pattern = patterns.get(layer)
    for i, r in enumerate(rows):
        code = r.get(key)
        if code is None:
            report.error("missing_code", f"the feature has no {key}", feature=labels[i], field=key)
            continue
        if code in first:
            report.error("duplicate_code", f"{key} {escape(code)} is also used by {labels[first[code]]}",
                         feature=labels[i], field=key)
        else:
            first[code] = i
        if pattern is not None and not pattern.match(code):
            digits = _DIGITS.get(layer, 0)
            report.warning("code_scheme", f"code {_safe_text(code, 40)} does not follow the {digits}-digit scheme "
                           f"({scheme})", feature=labels[i], field="code")
    if layer == "grids":
        _grid_parents(rows, labels, report, patterns, scheme, committees)
    if layer == "committees" and "committees" in patterns:
        for r in rows:
            if r.get("division_code") is None and r.get("code") and patterns["committees"].match(r["code"]):
                r["division_code"] = r["code"][:_DIGITS["divisions"]]


_DIGITS = {"divisions": 9, "committees": 12, "grids": 15}


def _grid_parents(rows: list[dict[str, Any]], labels: list[str], report: Report, patterns: Mapping[str, re.Pattern],
                  scheme: str, committees: gpd.GeoDataFrame | None) -> None:
    """Every grid needs its committee_code; its division_code comes from the code or the stored committee."""
    by_com: dict[str, str] = {}
    if committees is not None and len(committees) and "division_code" in committees.columns:
        by_com = {_as_code(c): _as_code(d) for c, d in zip(committees["code"], committees["division_code"],
                                                          strict=True) if _as_code(d)}
    cn = "grids" in patterns
    for i, r in enumerate(rows):
        code, com = r.get("code"), r.get("committee_code")
        if com is None and cn and code and patterns["grids"].match(code):
            r["committee_code"] = com = code[:_DIGITS["committees"]]
        if com is None:
            hint = ("" if cn else f" (the {scheme} code scheme derives nothing from the grid's code)")
            report.error("missing_code", f"the grid has no committee_code{hint}: give a column of committee codes "
                         "(社区编码), or build the city with init-city, which derives the committees from a "
                         "committee name column (所属社区)", feature=labels[i], field="committee_code")
        elif cn and code and not str(code).startswith(str(com)):
            report.warning("code_scheme", f"grid code {escape(code)} does not start with its committee code "
                           f"{escape(com)}", feature=labels[i], field="code")
        if r.get("division_code") is None and com:
            if cn and patterns["committees"].match(com):
                r["division_code"] = com[:_DIGITS["divisions"]]
            elif com in by_com:
                r["division_code"] = by_com[com]


def _map_categories(rows: list[dict[str, Any]], labels: list[str], report: Report) -> None:
    """Turn category and subtype words (公交站点, 停车场, 口袋公园 ...) into the vocabulary's keys.

    A category word that names a subtype (口袋公园 -> park, pocket_park) fills in an empty subtype.
    """
    mapped: Counter[str] = Counter()
    for r in rows:
        value = r.get("category")
        if value is not None and value not in CATEGORIES:
            key = category_of(value)
            if key is not None:
                mapped[f"{_safe_text(value, 30)} → {key}"] += 1
                r["category"] = key
                if r.get("subtype") is None:
                    r["subtype"] = subtype_of(value, key)
        cat, sub = r.get("category"), r.get("subtype")
        if cat in SUBTYPES and sub is not None and sub not in SUBTYPES[cat]:
            key = subtype_of(sub, cat)
            if key is not None:
                mapped[f"{_safe_text(sub, 30)} → {key}"] += 1
                r["subtype"] = key
    if mapped:
        report.warning("mapped_fields", "category words read as the vocabulary's keys: "
                       + ", ".join(f"{k} ({n})" for k, n in mapped.most_common(LIST_LIMIT)), field="category")


def _accepted_words() -> str:
    """The category keys with a few of their words, for an unknown category's message."""
    return "; ".join(f"{key} ({'/'.join(w for w in words[1:5])})" for key, words in CATEGORY_WORDS.items())


def _fill_defaults(layer: str, rows: list[dict[str, Any]], labels: list[str], report: Report,
                   scheme: str = "free") -> None:
    essential = {"divisions": ("name",), "committees": ("name",), "grids": ("name",),
                 "facilities": ("name", "category"), "addresses": ("address",), "roads": ("name",)}[layer]
    filled: dict[str, int] = defaultdict(int)
    for i, r in enumerate(rows):
        for f in FIELDS[layer]:
            if r.get(f.name) is not None:
                continue
            if f.name in essential:
                report.error("missing_value", f"the feature has no {f.name}", feature=labels[i], field=f.name)
            elif f.name == "kind" and layer in ("divisions", "committees"):
                r["kind"] = _guess_kind(layer, r, scheme)
                filled[f.name] += 1
            elif f.required and f.name not in ("area_m2", "grid_code", "committee_code", "division_code"):
                r[f.name] = 0 if f.dtype in ("int", "float") else ""
                filled[f.name] += 1
        if layer == "facilities" and r.get("cjt214_code") is None and r.get("category") in CATEGORIES:
            code = CATEGORIES[r["category"]].cjt214_code  # the CJ/T 214 component code follows from the category
            if code is not None:
                r["cjt214_code"] = code
                filled["cjt214_code"] += 1
        if layer == "facilities" and r.get("category") is not None and r["category"] not in CATEGORIES:
            report.error("bad_value", f"category {_safe_text(r['category'], 40)!r} is not one of the categories "
                         f"or their words: {_accepted_words()}", feature=labels[i], field="category")
    if filled:
        report.warning("filled_fields", "missing values were filled with defaults: "
                       + ", ".join(f"{k} ({n})" for k, n in filled.items()))


def _guess_kind(layer: str, row: dict[str, Any], scheme: str = "free") -> str:
    name = str(row.get("name") or "")
    if layer == "divisions":
        return "town" if name.endswith(("镇", "乡")) else "subdistrict"
    code = str(row.get("code") or "")
    return committee_kind_from_code(code, scheme) or ("village" if name.endswith(("村", "村委会")) else "community")


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
                 severity: str = "error", tolerance: float = MIN_AREA_M2, tiling: bool = True) -> None:
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
    tiling : bool
        Check overlaps and gaps (False: only the parents).
    """
    by_code = {str(c): lab for c, lab in zip(gdf["code"], labels, strict=True) if c is not None}
    ok = gdf[shapely.is_valid(np.asarray(gdf.geometry.values, dtype=object))]
    if len(ok) == 0:
        return
    crs = _metric_crs_of(ok.geometry.values)
    metric = ok.to_crs(crs)  # once: the checks below take frames already in their CRS as they are
    if tiling:
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
    """Check an area layer's tiling (against its stored parent layer) and compute the grids' ``area_m2``.

    ``geoms`` are in WGS84, rounded as stored. Overlaps and gaps are checked again here, as stored,
    unless :func:`app.geo._import_tiling.prepare_areas` reported some already in the file's own CRS
    (then those are the findings, measured where the file was drawn, and are not repeated).
    """
    severity = "error" if layer == "grids" else "warning"  # the issue refuses only grids on these
    tiling = not any(f.problem in ("overlap", "gap") and f.severity != "repaired" for f in report.findings)
    parent = {"grids": "committees", "committees": "divisions"}.get(layer)
    frame = gpd.GeoDataFrame({"code": [r.get("code") for r in rows],
                              **({f"{parent[:-1]}_code": [r.get(f"{parent[:-1]}_code") for r in rows]}
                                 if parent else {})},
                             geometry=list(geoms), crs=STORAGE_CRS)
    check_tiling(frame, layer, labels, report, _context_layer(context, parent) if parent else None, parent,
                 severity=severity, tiling=tiling)
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
                               f"{where}", feature=labels[i], place=_wgs_place(geoms[i]), field="grid_code")
    if outside > LIST_LIMIT:
        report.warning("outside_grids", f"… and {outside - LIST_LIMIT} more points lie in no grid "
                       f"({outside} in all); their grid_code is empty")
    if filled:
        report.warning("filled_fields", f"grid_code filled in from the stored grids for {filled} features")

