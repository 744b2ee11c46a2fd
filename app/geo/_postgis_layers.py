"""Layer rows in PostGIS: a GeoDataFrame to COPY rows (EWKB + JSON attributes) and back, with the same dtypes."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._postgis_schema import layer_table

#: Name and dtype of the geometry column in a layer's recorded columns.
GEOMETRY = ("geometry", "geometry")


def canonical(data: bytes) -> gpd.GeoDataFrame:
    """Return a layer's GeoJSON bytes as the GeoJSON store reads them (pyogrio, EPSG:4326).

    Parameters
    ----------
    data : bytes
        A GeoJSON FeatureCollection.

    Returns
    -------
    geopandas.GeoDataFrame
        The frame whose columns, dtypes and geometries the PostGIS store keeps.
    """
    gdf = gpd.read_file(io.BytesIO(data), engine="pyogrio")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    return gdf


def columns_of(frame: gpd.GeoDataFrame) -> list[list[str]]:
    """Return ``[[name, dtype], …]`` of a frame in order, the geometry column as ``["geometry", "geometry"]``."""
    geom = frame.geometry.name
    return [[GEOMETRY[0], GEOMETRY[1]] if c == geom else [str(c), str(frame[c].dtype)] for c in frame.columns]


def _jsonable(series: pd.Series) -> list[Any]:
    """Return a column's values as JSON values (NaN and NaT as null, numpy scalars as Python ones)."""
    kind = series.dtype.kind
    if kind in "iub":
        return series.tolist()
    if kind == "f":
        return [None if math.isnan(v) else v for v in series.tolist()]
    if kind == "M":
        return [None if pd.isna(v) else v.isoformat() for v in series]
    out = []
    for v in series.tolist():
        if v is None or isinstance(v, str | bool | int):
            out.append(v)
        elif isinstance(v, float):
            out.append(None if math.isnan(v) else v)
        elif isinstance(v, np.generic):
            out.append(v.item())
        elif isinstance(v, list | dict):
            out.append(v)
        elif isinstance(v, np.ndarray):
            out.append(v.tolist())
        else:
            out.append(None if pd.isna(v) else str(v))
    return out


def copy_rows(conn: Any, layer: str, data_id: str, frame: gpd.GeoDataFrame) -> None:
    """Write a frame's rows into ``layer``'s table under ``data_id`` with one COPY.

    Parameters
    ----------
    conn : psycopg.Connection
        A connection inside the writing transaction.
    layer : str
        Layer name.
    data_id : str
        The key of this layer content (the SHA-256 of its GeoJSON bytes).
    frame : geopandas.GeoDataFrame
        The canonical frame (:func:`canonical`).
    """
    geoms = shapely.set_srid(np.asarray(frame.geometry.array, dtype=object), 4326)
    hexes = shapely.to_wkb(geoms, hex=True, include_srid=True)
    names = [c for c in frame.columns if c != frame.geometry.name]
    values = [_jsonable(frame[c]) for c in names]
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    lines = []
    for i in range(len(frame)):
        attrs = dumps({n: col[i] for n, col in zip(names, values, strict=True)})
        geom = hexes[i] if hexes[i] is not None else "\\N"
        # COPY text format: JSON holds no raw tab or newline, so doubling its backslashes is all the escaping
        lines.append(f"{data_id}\t{i}\t{geom}\t{attrs.replace(chr(92), chr(92) * 2)}\n")
    with conn.cursor() as cur, cur.copy(
            f"COPY {layer_table(layer)} (data_id, fid, geom, attrs) FROM STDIN") as copy:
        for start in range(0, len(lines), 5000):
            copy.write("".join(lines[start:start + 5000]))


def row_digest(conn: Any, layer: str, data_id: str) -> str:
    """Return an MD5 over the stored rows of one layer content (fid, EWKB, attributes), computed in SQL."""
    row = conn.execute(
        f"SELECT md5(coalesce(string_agg(fid::text || ':' || coalesce(encode(ST_AsEWKB(geom), 'hex'), '') "
        f"|| ':' || attrs::text, '|' ORDER BY fid), '')), count(*) FROM {layer_table(layer)} WHERE data_id = %s",
        (data_id,)).fetchone()
    return f"{row[0]}:{row[1]}"


def read_rows(conn: Any, layer: str, data_id: str, columns: list[list[str]]) -> gpd.GeoDataFrame:
    """Read one layer content back as the frame it was written from (same columns, order and dtypes).

    Parameters
    ----------
    conn : psycopg.Connection
        Any connection.
    layer : str
        Layer name.
    data_id : str
        The layer content's key.
    columns : list
        ``[[name, dtype], …]`` as :func:`columns_of` recorded them.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, with a RangeIndex.
    """
    rows = conn.execute(f"SELECT ST_AsBinary(geom), attrs::text FROM {layer_table(layer)} "
                        f"WHERE data_id = %s ORDER BY fid", (data_id,)).fetchall()
    wkb = [r[0] for r in rows]
    records = json.loads("[" + ",".join(r[1] for r in rows) + "]") if rows else []
    geometry = shapely.from_wkb(np.array(wkb, dtype=object)) if rows else np.array([], dtype=object)
    data: dict[str, Any] = {}
    geom_name = GEOMETRY[0]
    for name, dtype in columns:
        if dtype == GEOMETRY[1]:
            geom_name = name
            data[name] = gpd.GeoSeries(geometry, crs="EPSG:4326")
            continue
        raw = [rec.get(name) for rec in records]
        data[name] = _column(raw, dtype)
    frame = gpd.GeoDataFrame(data, geometry=geom_name, crs="EPSG:4326")
    return frame


def _column(raw: list[Any], dtype: str) -> pd.Series:
    """Return a list of JSON values as a Series of ``dtype`` (the recorded one)."""
    if dtype == "object":
        return pd.Series(raw, dtype=object)
    if dtype.startswith("datetime64"):
        return pd.Series(pd.to_datetime(pd.Series(raw, dtype=object))).astype(dtype)
    if dtype.startswith(("float", "int", "uint")) or dtype == "bool":
        if dtype.startswith("float"):
            return pd.Series([np.nan if v is None else v for v in raw], dtype=dtype)
        if any(v is None for v in raw):
            return pd.Series(raw, dtype=object)
        return pd.Series(raw, dtype=dtype)
    try:
        return pd.Series(raw).astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(raw, dtype=object)
