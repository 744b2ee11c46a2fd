"""Shared pieces of the validator's checks: findings, feature ids, column access, places and metric CRSs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo.findings import Finding
from app.geo.schema import METRIC_CRS, STORAGE_CRS, metric_crs_for

#: Overlaps and gaps smaller than this (m², in the data's metric CRS) are ignored as numeric slivers.
AREA_TOLERANCE_M2 = 0.01
#: Addresses and facilities farther than this from any road (metres) get a warning.
ROAD_DISTANCE_M = 150.0

_KEY = {"divisions": "code", "committees": "code", "grids": "code"}


def _issue(severity: str, layer: str, feature: str | None, message: str, where: str | None = None) -> Finding:
    """Return a validator finding: ``where`` is ``lon,lat``."""
    return Finding(severity, "", message, feature, where, layer)


def _where(geom: BaseGeometry | None) -> str | None:
    """'lon,lat' of a representative point of a lon/lat geometry."""
    if geom is None or shapely.is_empty(geom):
        return None
    p = shapely.point_on_surface(geom) if shapely.get_type_id(geom) in (3, 6) else shapely.centroid(geom)
    return f"{p.x:.6f},{p.y:.6f}"


def _where_metric(geom: BaseGeometry | None, crs: Any) -> str | None:
    """'lon,lat' of a representative point of a geometry in ``crs``."""
    return _wheres_metric([geom], crs)[0]


def _wheres_metric(geoms: Sequence[BaseGeometry | None] | np.ndarray, crs: Any) -> list[str | None]:
    """:func:`_where_metric` of many geometries, converted to lon/lat in one go.

    One transformation for all of them: converting point by point costs a GeoSeries and a
    transformer per finding, which dominated a check with one finding per feature.
    """
    geoms = np.asarray(geoms, dtype=object)
    out: list[str | None] = [None] * len(geoms)
    some = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if not len(some):
        return out
    points = gpd.GeoSeries(shapely.point_on_surface(geoms[some]), crs=crs).to_crs(STORAGE_CRS)
    for k, x, y in zip(some, points.x, points.y, strict=True):
        out[k] = f"{x:.6f},{y:.6f}"
    return out


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _ids(gdf: gpd.GeoDataFrame, layer: str) -> list[str | None]:
    """Name each feature by its code (area layers) or id, else by its position."""
    key = _KEY.get(layer, "id")
    if key in gdf.columns:
        return [None if _isnull(v) else str(v) for v in gdf[key]]
    return [f"#{k}" for k in range(len(gdf))]


def _str_col(gdf: gpd.GeoDataFrame, name: str) -> pd.Series:
    """A column as text with None for blanks; all None when the column is absent."""
    if name not in gdf.columns:
        return pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    return pd.Series([None if _isnull(v) else str(v) for v in gdf[name]], index=gdf.index, dtype=object)


def _type_ok(v: Any, dtype: str) -> bool:
    """True when ``v`` fits a schema field type (``str``, ``int`` or ``float``); booleans fit no number."""
    if dtype == "str":
        return isinstance(v, str)
    if isinstance(v, bool | np.bool_):
        return False
    if dtype == "int":
        return isinstance(v, int | np.integer) or (
            isinstance(v, float | np.floating) and float(v).is_integer())
    if dtype == "float":
        return isinstance(v, int | float | np.integer | np.floating)
    return True


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


def _in_metric(crs: str | None, *layers: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Return ``layers`` in ``crs``, by default the :func:`_metric_crs` of them all."""
    crs = crs or _metric_crs(*layers)
    return [_lonlat(gdf).to_crs(crs) for gdf in layers]
