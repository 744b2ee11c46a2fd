"""One Features collection as a table: rows in id order, its public and private columns, filters, sorting, GeoJSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._features_crs import FeaturesError, transform_geometries
from app.geo.schema import FIELDS, GEOMETRY_TYPES, PERSONAL_FIELDS, STORAGE_CRS

#: JSON Schema type of each schema dtype.
JSON_TYPES: dict[str, str] = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
#: Parameters of /items that are not property filters: :func:`Table.select` skips them, so the web may pass
#: the whole query string. Others that are no queryable (``properties``, ``filter``, ...) are refused (400).
RESERVED: frozenset[str] = frozenset({"f", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "sortby",
                                      "lang"})

#: shapely geometry type ids -> the names of the Part 3 ``format`` values.
_GEOMETRY_NAMES = {0: "point", 1: "linestring", 3: "polygon", 4: "multipoint", 5: "multilinestring",
                   6: "multipolygon", 7: "geometrycollection"}
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
_INSTANT = r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?"
_DATETIME = re.compile(rf"^(?:{_INSTANT}|(?:{_INSTANT}|\.\.|)/(?:{_INSTANT}|\.\.|))$")


@dataclass
class Table:
    """The rows of one collection in id order, in WGS84, with what each column is.

    Attributes
    ----------
    gdf : GeoDataFrame
        The rows, sorted by ``id_field`` (so paging is deterministic), index 0..n-1, EPSG:4326.
    id_field : str
        The column that is the feature id (``code`` or ``id``).
    types : dict of str to str
        JSON Schema type of every property column.
    public : tuple of str
        Property columns anyone may see (no personal field, no extra attribute).
    private : tuple of str
        Every property column (public ones, then personal fields and extra attributes).
    docs : dict of str to str
        A description per column, where one is known.
    geometry_types : tuple of str
        The GeoJSON geometry types of the rows.
    """

    gdf: gpd.GeoDataFrame
    id_field: str
    types: dict[str, str]
    public: tuple[str, ...]
    private: tuple[str, ...]
    docs: dict[str, str] = field(default_factory=dict)
    geometry_types: tuple[str, ...] = ()

    @cached_property
    def ids(self) -> np.ndarray:
        """The feature ids, as strings, in row order."""
        return self.gdf[self.id_field].astype(str).to_numpy(dtype=object)

    @cached_property
    def rows(self) -> dict[str, int]:
        """Row of each feature id."""
        return {fid: i for i, fid in enumerate(self.ids)}

    @cached_property
    def tree(self) -> shapely.STRtree:
        """A spatial index over the rows' geometries."""
        return shapely.STRtree(np.asarray(self.gdf.geometry.values, dtype=object))

    @cached_property
    def bounds(self) -> list[float] | None:
        """``[west, south, east, north]`` of the rows in lon/lat, or None when there is no geometry."""
        geoms = np.asarray(self.gdf.geometry.values, dtype=object)
        if len(geoms) == 0:
            return None
        b = shapely.total_bounds(geoms)
        return [float(v) for v in b] if np.isfinite(b).all() else None

    def columns(self, personal: bool) -> tuple[str, ...]:
        """The property columns a caller may see."""
        return self.private if personal else self.public

    def select(self, rows: np.ndarray, filters: Mapping[str, Any] | None, personal: bool) -> np.ndarray:
        """The rows among ``rows`` whose properties equal the filter values (a list of values: any of them).

        Raises
        ------
        FeaturesError
            For a property that is no queryable of the caller, or a value of the wrong type.
        """
        if not filters:
            return rows
        allowed = self.columns(personal)
        mask = np.ones(len(rows), dtype=bool)
        for name, value in filters.items():
            if name in RESERVED:
                continue
            if name == "geometry":
                raise FeaturesError("geometry cannot be filtered by value; use bbox", key="features.filter")
            if name not in allowed:
                raise FeaturesError(f"unknown property {name!r}; queryable: {', '.join(allowed)}",
                                    key="features.filter", queryables=list(allowed))
            values = [_typed(v, self.types[name], name) for v in _as_list(value)]
            column = self.gdf[name].iloc[rows]
            if self.types[name] == "string":
                column = column.astype(object).where(column.notna(), None)
                hit = column.map(lambda v, wanted=frozenset(values): v is not None and str(v) in wanted)
            else:
                hit = pd.to_numeric(column, errors="coerce").isin(values)
            mask &= hit.to_numpy(dtype=bool)
        return rows[mask]

    def sort(self, rows: np.ndarray, sortby: str | Sequence[str] | None, personal: bool) -> np.ndarray:
        """``rows`` ordered by ``sortby`` (``name``, ``+name``, ``-name``; several keys comma-separated).

        Ties keep id order, and missing values go last.

        Raises
        ------
        FeaturesError
            For a property that is no queryable of the caller.
        """
        keys = parse_sortby(sortby)
        if not keys or len(rows) == 0:
            return rows
        allowed = self.columns(personal)
        for name, _ in keys:
            if name not in allowed:
                raise FeaturesError(f"cannot sort by {name!r}; sortable: {', '.join(allowed)}",
                                    key="features.sortby", queryables=list(allowed))
        part = pd.DataFrame({f"k{i}": self.gdf[name].iloc[rows].to_numpy() for i, (name, _) in enumerate(keys)})
        part["pos"] = np.arange(len(rows))
        order = part.sort_values([*(f"k{i}" for i in range(len(keys))), "pos"],
                                 ascending=[*(asc for _, asc in keys), True], na_position="last", kind="stable")
        return rows[order["pos"].to_numpy()]

    def features(self, rows: np.ndarray, personal: bool, crs_uri: str) -> list[dict[str, Any]]:
        """GeoJSON features of ``rows``: id, the caller's properties and the geometry in ``crs_uri``."""
        if len(rows) == 0:
            return []
        cols = self.columns(personal)
        props = records(self.gdf.iloc[rows], cols, self.types)
        geoms = transform_geometries(np.asarray(self.gdf.geometry.values, dtype=object)[rows], crs_uri)
        texts = shapely.to_geojson(geoms)
        ids = self.ids[rows]
        return [{"type": "Feature", "id": fid, "geometry": json.loads(t) if t is not None else None,
                 "properties": p} for fid, t, p in zip(ids, texts, props, strict=True)]

    def schema(self, personal: bool, title: str) -> dict[str, Any]:
        """The JSON Schema of the caller's properties (OGC API – Features Part 3 queryables), without ``$id``."""
        props: dict[str, Any] = {}
        for name in self.columns(personal):
            entry: dict[str, Any] = {"title": name, "type": self.types[name]}
            if name in self.docs:
                entry["description"] = self.docs[name]
            if name == self.id_field:
                entry["x-ogc-role"] = "id"
            props[name] = entry
        present = shapely.get_type_id(np.asarray(self.gdf.geometry.values, dtype=object))
        kinds = sorted({_GEOMETRY_NAMES[t] for t in present.tolist() if t in _GEOMETRY_NAMES}
                       or {t.lower() for t in self.geometry_types})
        fmt = f"geometry-{kinds[0]}" if len(kinds) == 1 else "geometry-any"
        props["geometry"] = {"title": "geometry", "format": fmt, "x-ogc-role": "primary-geometry"}
        return {"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object", "title": title,
                "properties": props, "additionalProperties": False}


def layer_table(gdf: gpd.GeoDataFrame, layer: str) -> Table:
    """The :class:`Table` of a stored layer (or part of one): schema fields first, extra attributes private.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer's rows (any order; any CRS, turned into WGS84).
    layer : str
        The layer's name in :data:`app.geo.schema.FIELDS`.
    """
    fields = {f.name: f for f in FIELDS[layer]}
    id_field = "code" if "code" in fields else "id"
    data = [c for c in gdf.columns if c != gdf.geometry.name]
    known = [f for f in fields if f in data]
    public = tuple(f for f in known if not fields[f].personal and f not in PERSONAL_FIELDS)
    private = (*public, *(f for f in known if f not in public), *(c for c in data if c not in fields))
    types = {c: JSON_TYPES[fields[c].dtype] if c in fields else _json_type(gdf[c]) for c in private}
    docs = {c: fields[c].doc for c in known if fields[c].doc}
    return Table(_sorted(gdf, id_field), id_field, types, public, private, docs, GEOMETRY_TYPES[layer])


def result_table(gdf: gpd.GeoDataFrame, docs: Mapping[str, str]) -> Table:
    """The :class:`Table` of a computed result with one row per grid (``code``); personal fields never appear."""
    cols = tuple(c for c in gdf.columns if c != gdf.geometry.name and c not in PERSONAL_FIELDS)
    types = {c: _json_type(gdf[c]) for c in cols}
    return Table(_sorted(gdf, "code"), "code", types, cols, cols, dict(docs), GEOMETRY_TYPES["grids"])


def records(df: pd.DataFrame, cols: Iterable[str], types: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN as None, numpy scalars as Python, whole floats of integer columns as int."""
    cols = list(cols)
    part = df[cols]
    clean = part.astype(object).where(part.notna(), None)
    rows = clean.to_dict(orient="records")
    ints = [c for c in cols if types.get(c) == "integer"]
    for row in rows:
        for k, v in row.items():
            if isinstance(v, np.generic):
                row[k] = v = v.item()
            if k in ints and isinstance(v, float) and v.is_integer():
                row[k] = int(v)
    return rows


def parse_sortby(sortby: str | Sequence[str] | None) -> list[tuple[str, bool]]:
    """``"+name,-code"`` (or a list of such) as ``[("name", True), ("code", False)]``."""
    if sortby is None:
        return []
    parts = sortby.split(",") if isinstance(sortby, str) else [p for s in sortby for p in str(s).split(",")]
    keys = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        asc = not part.startswith("-")
        name = part[1:].strip() if part[0] in "+-" else part
        if not name:
            raise FeaturesError(f"sortby: a sign without a property in {sortby!r}", key="features.sortby")
        keys.append((name, asc))
    return keys


def check_datetime(value: str | None) -> None:
    """Refuse a ``datetime`` that is no RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``)."""
    if value is None or value == "":
        return
    if not _DATETIME.match(str(value).strip()) or str(value).strip() in ("/", "../..", "../", "/.."):
        raise FeaturesError(f"datetime must be an RFC 3339 date-time or interval, got {value!r}",
                            key="features.datetime")


def _sorted(gdf: gpd.GeoDataFrame, id_field: str) -> gpd.GeoDataFrame:
    """The rows in WGS84, sorted by their id as text, indexed 0..n-1."""
    if gdf.crs is None:
        gdf = gdf.set_crs(STORAGE_CRS)
    elif not gdf.crs.equals(STORAGE_CRS):
        gdf = gdf.to_crs(STORAGE_CRS)
    key = gdf[id_field].astype(str) if id_field in gdf.columns else pd.Series(np.arange(len(gdf)).astype(str))
    order = np.argsort(key.to_numpy(dtype=object).astype(str), kind="stable")
    return gdf.iloc[order].reset_index(drop=True)


def _json_type(series: pd.Series) -> str:
    """The JSON Schema type of a column's values."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    return "string"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _typed(value: Any, kind: str, name: str) -> Any:
    """A filter value (text from a URL, or already typed) as the column's type."""
    text = str(value).strip()
    if kind == "string":
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
    else:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and (kind == "number" or number.is_integer()):
            return number
    raise FeaturesError(f"{name} must be {'an' if kind == 'integer' else 'a'} {kind}, got {value!r}",
                        key="features.filter")
