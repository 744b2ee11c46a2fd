"""The validator's checks of one layer at a time: geometry, attributes, and the facility, address, road rules."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._validate_base import _ids, _isnull, _issue, _str_col, _type_ok, _where
from app.geo._validate_text import escape, hidden_problem, is_code_field
from app.geo.findings import Finding, _plural
from app.geo.schema import CATEGORIES, FIELDS, GEOMETRY_TYPES, SUBTYPES

_ROAD_KINDS = ("arterial", "secondary", "local", "rural")
_ADDRESS_KINDS = ("road", "compound")
_WHERE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)")


def check_geometry(layer: str, gdf: gpd.GeoDataFrame) -> list[Finding]:
    """Check geometry presence, type and validity of one layer.

    Parameters
    ----------
    layer : str
        Layer name (decides the allowed geometry types).
    gdf : GeoDataFrame
        The layer, in lon/lat.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    ids = _ids(gdf, layer)
    allowed = GEOMETRY_TYPES.get(layer, ())
    geoms = gdf.geometry.values
    for k, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            issues.append(_issue("error", layer, ids[k], "missing or empty geometry"))
        elif allowed and g.geom_type not in allowed:
            issues.append(_issue("error", layer, ids[k],
                                 f"geometry is {g.geom_type}, expected {' or '.join(allowed)}", _where(g)))
    reasons = shapely.is_valid_reason(np.asarray(geoms, dtype=object))
    for k, reason in enumerate(reasons):
        if reason is not None and reason != "Valid Geometry" and geoms[k] is not None:
            m = _WHERE.search(reason)
            where = f"{float(m.group(1)):.6f},{float(m.group(2)):.6f}" if m else _where(geoms[k])
            issues.append(_issue("error", layer, ids[k], f"invalid geometry: {reason}", where))
    return issues


def check_attributes(layer: str, gdf: gpd.GeoDataFrame) -> list[Finding]:
    """Check that a layer has the schema's fields with the right types and no missing required values.

    Parameters
    ----------
    layer : str
        Layer name, a key of :data:`app.geo.schema.FIELDS`.
    gdf : GeoDataFrame
        The layer.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    ids = _ids(gdf, layer)
    for f in FIELDS.get(layer, ()):
        if f.name not in gdf.columns:
            if f.required:
                issues.append(_issue("error", layer, None, f"required field {f.name!r} is missing"))
            continue
        col = gdf[f.name]
        nulls = [k for k, v in enumerate(col) if _isnull(v)]
        if f.required and nulls:
            issues.append(_issue("error", layer, ids[nulls[0]],
                                 f"field {f.name!r} is empty in {_plural(len(nulls), 'feature')}"))
        bad = [k for k, v in enumerate(col) if not _isnull(v) and not _type_ok(v, f.dtype)]
        if bad:
            v = col.iloc[bad[0]]
            issues.append(_issue("error", layer, ids[bad[0]],
                                 f"field {f.name!r} should be {f.dtype} but {_plural(len(bad), 'value')} "
                                 f"{'is' if len(bad) == 1 else 'are'} not (e.g. {v!r})"))
        if f.dtype == "str":
            issues += _hidden_issues(layer, f.name, col, ids)
    return issues


def _hidden_issues(layer: str, field: str, col: pd.Series, ids: list[str | None]) -> list[Finding]:
    """Hidden characters in a text column: errors in codes and ids (they break pages), warnings elsewhere."""
    severity = "error" if is_code_field(field) else "warning"
    return [_issue(severity, layer, None if ids[k] is None else escape(ids[k]), problem)
            for k, v in enumerate(col) if isinstance(v, str) and (problem := hidden_problem(field, v))]


def _column(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    """A column as it is, or all None when it is absent."""
    return gdf[name] if name in gdf.columns else pd.Series([None] * len(gdf))


def _duplicates(gdf: gpd.GeoDataFrame, layer: str, column: str) -> list[Finding]:
    if column not in gdf.columns:
        return []
    counts = _str_col(gdf, column).value_counts()  # one count for all, not a comparison per duplicate
    return [_issue("error", layer, v, f"{column} {v!r} is used by {int(counts[v])} features")
            for v in sorted(counts.index[counts > 1])]


def check_facilities(facilities: gpd.GeoDataFrame) -> list[Finding]:
    """Check facility categories, subtypes, CJ/T 214 codes, capacities and id uniqueness.

    Parameters
    ----------
    facilities : GeoDataFrame
        The facility layer.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    ids = _ids(facilities, "facilities")
    cats, subs, codes = (_str_col(facilities, c) for c in ("category", "subtype", "cjt214_code"))
    caps = _column(facilities, "capacity")
    for k, (cat, sub, code, cap) in enumerate(zip(cats, subs, codes, caps, strict=True)):
        if cat is None:
            continue
        if cat not in CATEGORIES:
            issues.append(_issue("error", "facilities", ids[k],
                                 f"category {cat!r} is not one of {', '.join(CATEGORIES)}"))
            continue
        want = CATEGORIES[cat].cjt214_code
        if code != want:
            issues.append(_issue("error", "facilities", ids[k],
                                 f"cjt214_code is {code!r}, expected {want!r} for {cat}"))
        if sub is not None and sub not in SUBTYPES.get(cat, {}):
            allowed = ", ".join(SUBTYPES.get(cat, {})) or "none"
            issues.append(_issue("error", "facilities", ids[k],
                                 f"subtype {sub!r} is not allowed for {cat} ({allowed})"))
        if CATEGORIES[cat].has_capacity and _isnull(cap):
            issues.append(_issue("warning", "facilities", ids[k], f"{cat} has no capacity"))
        if not CATEGORIES[cat].has_capacity and not _isnull(cap):
            issues.append(_issue("warning", "facilities", ids[k], f"{cat} should not have a capacity"))
        if not _isnull(cap) and _type_ok(cap, "int") and cap < 0:
            issues.append(_issue("error", "facilities", ids[k], f"capacity {cap} is negative"))
    return issues + _duplicates(facilities, "facilities", "id")


def check_addresses(addresses: gpd.GeoDataFrame) -> list[Finding]:
    """Check address kinds, the address text form, non-negative counts and uniqueness of ids and texts.

    Parameters
    ----------
    addresses : GeoDataFrame
        The address layer.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    ids = _ids(addresses, "addresses")
    cols = [_column(addresses, c) for c in ("address", "kind", "street", "number", "residents", "households")]
    for k, (text, kind, street, number, res, hh) in enumerate(zip(*cols, strict=True)):
        if _isnull(kind):
            continue
        if kind not in _ADDRESS_KINDS:
            issues.append(_issue("error", "addresses", ids[k], f"kind {kind!r} is not road or compound"))
            continue
        if not _isnull(street) and not _isnull(number) and _type_ok(number, "int"):
            want = f"{street}{int(number)}号" + ("楼" if kind == "compound" else "")
            if text != want:
                issues.append(_issue("error", "addresses", ids[k], f"address {text!r} should read {want!r}"))
        for name, v in (("residents", res), ("households", hh)):
            if not _isnull(v) and _type_ok(v, "int") and v < 0:
                issues.append(_issue("error", "addresses", ids[k], f"{name} {v} is negative"))
    return issues + _duplicates(addresses, "addresses", "id") + _duplicates(addresses, "addresses", "address")


def check_roads(roads: gpd.GeoDataFrame) -> list[Finding]:
    """Check road kinds and id uniqueness.

    Parameters
    ----------
    roads : GeoDataFrame
        The road layer.

    Returns
    -------
    list of Finding
    """
    ids = _ids(roads, "roads")
    issues = [_issue("error", "roads", ids[k], f"kind {kind!r} is not one of {', '.join(_ROAD_KINDS)}")
              for k, kind in enumerate(_str_col(roads, "kind"))
              if kind is not None and kind not in _ROAD_KINDS]
    return issues + _duplicates(roads, "roads", "id")
