"""Shared pieces of the importer's private modules: the stop signal, text and codes, places, metric CRSs."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo.schema import STORAGE_CRS, metric_crs_for


class _Stop(Exception):
    """Reading cannot go on; the reason is already in the report."""


def _place(lon: float, lat: float) -> str:
    """A place as import reports give it: ``lon, lat`` to 6 decimals."""
    return f"{lon:.6f}, {lat:.6f}"


def _wgs_place(geom: BaseGeometry | None) -> str | None:
    """The :func:`_place` of a point on a lon/lat geometry, or None when it has none."""
    if geom is None or geom.is_empty:
        return None
    try:
        p = geom.representative_point()
    except shapely.errors.GEOSException:
        p = shapely.get_point(shapely.get_exterior_ring(geom) if geom.geom_type == "Polygon" else geom, 0)
    if p is None or p.is_empty or not (math.isfinite(p.x) and math.isfinite(p.y)):
        return None
    return _place(p.x, p.y)


def _metric_crs_of(geoms: np.ndarray) -> str:
    """The metric CRS for lon/lat geometries: :func:`metric_crs_for` of their extent."""
    return metric_crs_for(tuple(shapely.total_bounds(np.asarray(geoms, dtype=object))))


def _to_metric(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Lon/lat geometries converted to the metric ``crs``."""
    to_metric = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))


def _norm_key(name: str) -> str:
    """A column name compared loosely: no spaces, underscores or dashes, lower case."""
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def _as_code(value: Any) -> str | None:
    """Return a code as text: numbers lose a trailing ``.0``; blanks are None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


def _safe_text(value: Any, limit: int = 200) -> str:
    """A value as one line of at most ``limit`` characters, for messages about hostile files."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[:limit] + "…"
