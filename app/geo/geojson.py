"""The one GeoJSON writer: RFC 7946 FeatureCollections, one feature per line, stable bytes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from app.geo.schema import COORD_PRECISION

if TYPE_CHECKING:
    import geopandas as gpd


def plain(value: Any) -> Any:
    """Return ``value`` as a JSON-ready Python value (numpy scalars, NaN, NA and timestamps handled).

    Parameters
    ----------
    value : object
        A cell of a GeoDataFrame.

    Returns
    -------
    object
        None for missing values, an ISO string for timestamps, a plain number or the value itself.
    """
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def dump_features(features: Iterable[tuple[dict[str, Any], dict[str, Any] | None]], name: str | None = None) -> bytes:
    """Serialise ``(properties, geometry)`` pairs as a FeatureCollection, one feature per line.

    Parameters
    ----------
    features : iterable of (dict, dict or None)
        Each feature's JSON-ready properties and GeoJSON geometry mapping.
    name : str, optional
        A ``name`` member for the collection (as GDAL writes it).

    Returns
    -------
    bytes
        UTF-8 JSON, byte-identical for identical input, diff-friendly.
    """
    lines = [json.dumps({"type": "Feature", "properties": props, "geometry": geom},
                        ensure_ascii=False, separators=(",", ":")) for props, geom in features]
    head = '{"type":"FeatureCollection",' + (f'"name":{json.dumps(name, ensure_ascii=False)},' if name else "")
    return (head + '"features":[\n' + ",\n".join(lines) + "\n]}\n").encode("utf-8")


def dump_geojson(gdf: gpd.GeoDataFrame, name: str | None = None) -> bytes:
    """Serialise a layer as RFC 7946 GeoJSON with coordinates rounded to 6 decimals.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer in EPSG:4326.
    name : str, optional
        A ``name`` member for the collection.

    Returns
    -------
    bytes
        UTF-8 JSON, one feature per line, byte-identical for identical input.
    """
    geoms = shapely.set_precision(gdf.geometry.values, 10.0 ** -COORD_PRECISION, mode="pointwise") \
        if len(gdf) else gdf.geometry.values
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    records = gdf[cols].astype(object).where(gdf[cols].notna(), None).to_dict("records") if cols else [{}] * len(gdf)
    pairs = (({k: plain(v) for k, v in props.items()},
              None if geom is None or shapely.is_empty(geom) else json.loads(shapely.to_geojson(geom)))
             for props, geom in zip(records, geoms, strict=True))
    return dump_features(pairs, name)


def round_coords(coords: Any, digits: int = COORD_PRECISION) -> Any:
    """Round the numbers of a nested GeoJSON ``coordinates`` array.

    Parameters
    ----------
    coords : list
        A position, or nested lists of positions.
    digits : int
        Decimals to keep (6: about 0.1 m).

    Returns
    -------
    list
        The same nesting with rounded floats.
    """
    if isinstance(coords, list | tuple):
        if coords and isinstance(coords[0], int | float):
            return [round(float(v), digits) for v in coords]
        return [round_coords(v, digits) for v in coords]
    return coords
