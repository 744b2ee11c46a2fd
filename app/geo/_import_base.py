"""Shared pieces of the importer's private modules: features as read, the stop signal, text, places, CRSs."""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo._validate_text import escape
from app.geo.schema import STORAGE_CRS, metric_crs_for


class _Stop(Exception):
    """Reading cannot go on; the reason is already in the report."""


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is read and checked (usable as a decorator).

    A large file becomes millions of small lists and dicts, none of them in a cycle; every few
    hundred of them the collector walks all that are alive, which tripled the time of reading
    a 200,000-feature file. Reference counting still frees everything as before.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@dataclass
class RawLayer:
    """Features as read from a file, before any check: properties, geometries in the file's CRS, and what was found.

    Attributes
    ----------
    props : list of dict
        Each feature's attributes, keyed by the file's column names.
    geoms : list of shapely geometry or None
        Each feature's geometry in the file's CRS (None when missing or unreadable).
    labels : list of str
        Each feature's name in reports: ``#3 (code, name)`` or ``row 4``.
    crs : app.geo.crs.CrsSpec, optional
        The CRS the file (or a table's column names) states; None when it states none.
    crs_from_file : bool
        True when ``crs`` was read from the file.
    assumed_wgs84_ok : bool
        True for GeoJSON without a ``crs`` member: WGS84 by definition.
    format : str
        ``geojson``, ``gpkg``, ``shapefile`` or ``table``.
    encoding : str
        The text encoding read (``utf-8``, ``gb18030`` ...); ``""`` when the format has none.
    columns : list of str
        The attribute columns in file order (a table's coordinate or WKT columns excluded).
    geometry_types : tuple of str
        The geometry types found, in order of first appearance.
    crs_hint_columns : tuple of str
        The columns whose names stated ``crs`` (a table's ``经度(GCJ-02)``, ``纬度(GCJ-02)``).
    unclosed : list of int
        Features whose unclosed rings were closed while reading; :func:`check_layer` reports them
        (as errors, or as repairs with ``repair``).
    source_layer : str
        The GeoPackage layer read ("" for other formats).
    """

    props: list[dict[str, Any]]
    geoms: list[BaseGeometry | None]
    labels: list[str]  # "#3" or "row 4"
    crs: crsmod.CrsSpec | None = None
    crs_from_file: bool = False
    assumed_wgs84_ok: bool = False  # GeoJSON without crs member is WGS84 by definition
    format: str = ""
    encoding: str = ""
    columns: list[str] = field(default_factory=list)
    geometry_types: tuple[str, ...] = ()
    crs_hint_columns: tuple[str, ...] = ()
    unclosed: list[int] = field(default_factory=list)
    source_layer: str = ""

    def finish(self) -> RawLayer:
        """Fill in ``columns`` (when the reader did not) and ``geometry_types`` from the features read."""
        if not self.columns:
            self.columns = [str(k) for k in dict.fromkeys(k for p in self.props for k in p)]
        self.geometry_types = tuple(dict.fromkeys(g.geom_type for g in self.geoms if g is not None))
        return self


#: The old private name of :class:`RawLayer`.
_Raw = RawLayer


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
    """A value as one line of at most ``limit`` characters, hidden characters escaped: for messages on hostile files."""
    text = escape(str(value).replace("\n", " ").replace("\r", " "))
    return text if len(text) <= limit else text[:limit] + "…"


def _label(base: str, props: dict[str, Any]) -> str:
    """A feature's name in reports: ``#3`` or ``row 4``, with its code (or id) and name when it has them."""
    bits = []
    for key in ("code", "id", "name", "address"):
        v = props.get(key)
        if v not in (None, "") and not (isinstance(v, float) and math.isnan(v)):
            bits.append(_safe_text(_as_code(v) if key in ("code", "id") else v, 60))
        if len(bits) == 2:
            break
    return f"{base} ({', '.join(bits)})" if bits else base
