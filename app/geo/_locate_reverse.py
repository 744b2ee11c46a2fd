"""Reverse lookup: the standard address nearest a point, in metres of the city's metric CRS (a KD-tree)."""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd
import pyproj
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

from app.geo._address_table import AddressTable, Coded, Strings, build_table
from app.geo.dataset import Dataset

#: Farthest an address may be from the point and still be called its nearest address, in metres.
MAX_DISTANCE_M = 2000.0


@functools.cache
def _kd_tree_class() -> type[cKDTree]:
    """scipy's ``cKDTree``, loaded without the rest of ``scipy.spatial`` where it can be (~26 -> ~11 MB).

    ``scipy.spatial`` imports ``scipy.sparse``, ``scipy.linalg`` and ``scipy.special`` for its other
    tools; a server that only looks up nearest addresses needs the KD-tree's own extension module.
    The whole package is imported when it is loaded already or the extension cannot be found alone.
    """
    if "scipy.spatial" not in sys.modules:
        try:
            import scipy

            found = sorted(Path(scipy.__path__[0], "spatial").glob("_ckdtree.*"))
            spec = importlib.util.spec_from_file_location("scipy.spatial._ckdtree", found[0]) if found else None
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module.cKDTree  # type: ignore[no-any-return]
        except (ImportError, OSError, AttributeError):
            pass
    from scipy.spatial import cKDTree

    return cKDTree


class Texts:
    """One text column of the address points: ``""`` where the layer had no value (no str object per row).

    Parameters
    ----------
    strings : Strings or Coded
        The column of the whole address table (:class:`~app.geo._address_table.AddressTable`).
    blank : ndarray of bool
        Rows of the table whose value was missing.
    rows : ndarray of int, optional
        The table row of each point; None when every row is a point.
    """

    __slots__ = ("_any_blank", "_blank", "_rows", "_strings")

    def __init__(self, strings: Strings | Coded, blank: NDArray[np.bool_], rows: NDArray[np.int64] | None) -> None:
        self._strings, self._blank, self._rows = strings, blank, rows
        self._any_blank = bool(blank.any())

    def row(self, r: int) -> str:
        """The text of table row ``r`` (not point ``r``): the fast path of one answer."""
        return "" if self._any_blank and self._blank[r] else self._strings.get(r)

    def __len__(self) -> int:
        return len(self._strings) if self._rows is None else len(self._rows)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: NDArray[np.integer]) -> NDArray[np.object_]: ...

    def __getitem__(self, i: int | NDArray[np.integer]) -> str | NDArray[np.object_]:
        if isinstance(i, np.ndarray):
            rows = np.asarray(i, dtype=np.int64) if self._rows is None else self._rows[i]
            out = np.empty(len(rows), dtype=object)
            strings, blank = self._strings, self._blank
            for k, r in enumerate(rows.tolist()):
                out[k] = "" if blank[r] else strings[r]
            return out
        r = int(i) if self._rows is None else int(self._rows[i])
        return "" if self._blank[r] else self._strings[r]


@dataclass
class AddressPoints:
    """The address layer's points in the metric CRS with a KD-tree over them, built once per data version.

    The texts are views of the :class:`~app.geo._address_table.AddressTable` the address matcher
    also uses (one string per column, not one object per address).

    Attributes
    ----------
    addresses : Texts
        The standard address of each point (``points.addresses[i]``, or an object array for an index array).
    ids, grid_codes : Texts
        The address id and grid code of each point.
    lon, lat : ndarray of float
        WGS84 position of each point.
    metric_crs : str
        The CRS the tree is in (:attr:`Dataset.metric_crs`).
    """

    addresses: Texts
    ids: Texts
    grid_codes: Texts
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    metric_crs: str
    tree: cKDTree | None = None
    _threads: threading.local = field(default_factory=threading.local, repr=False)

    def _transformer(self) -> pyproj.Transformer:
        """A WGS84 -> metric transformer of this thread (pyproj transformers are not shared between threads)."""
        tr = getattr(self._threads, "tr", None)
        if tr is None:
            tr = self._threads.tr = pyproj.Transformer.from_crs("EPSG:4326", self.metric_crs, always_xy=True)
        return tr

    def nearest(self, lon: ArrayLike, lat: ArrayLike,
                max_distance: float = MAX_DISTANCE_M) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The nearest address of each point, all points at once.

        Parameters
        ----------
        lon, lat : array-like of float
            WGS84 positions; NaN gives no address.
        max_distance : float
            Addresses farther than this many metres do not count.

        Returns
        -------
        tuple of ndarray
            ``(index, distance_m)``: the row of the nearest address (-1 when none is within
            ``max_distance`` or the point is not finite) and its distance in metres (NaN then).
        """
        lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
        index = np.full(len(lon_a), -1, dtype=np.int64)
        dist = np.full(len(lon_a), np.nan)
        good = np.isfinite(lon_a) & np.isfinite(lat_a)
        if self.tree is None or not good.any():
            return index, dist
        x, y = self._transformer().transform(lon_a[good], lat_a[good])
        projected = np.isfinite(x) & np.isfinite(y)  # beyond what the metric CRS can project: no address
        good[np.flatnonzero(good)[~projected]] = False
        x, y = np.asarray(x)[projected], np.asarray(y)[projected]
        d, hit = self.tree.query(np.column_stack((x, y)), distance_upper_bound=max_distance)
        found = np.isfinite(d)  # beyond the bound: d is inf and hit is n
        rows = np.flatnonzero(good)[found]
        index[rows] = hit[found]
        dist[rows] = d[found]
        return index, dist

    def describe(self, i: int, distance_m: float) -> dict[str, Any]:
        """One nearest address as a JSON-ready dict: address, id, grid code, WGS84 position and distance."""
        rows = self.addresses._rows
        r = i if rows is None else int(rows[i])
        return {"address": self.addresses.row(r), "id": self.ids.row(r), "grid_code": self.grid_codes.row(r),
                "lon": round(float(self.lon[i]), 7), "lat": round(float(self.lat[i]), 7),
                "distance_m": round(float(distance_m), 1)}


def address_table(ds: Dataset) -> AddressTable:
    """The address layer of ``ds`` as compact columns, built once per data version (``Dataset.cached``).

    Shared by :func:`address_points` and :attr:`Dataset.address_matcher`; a missing layer gives an empty table.
    """
    def build() -> AddressTable:
        if "addresses" not in ds.store.layer_names():
            return build_table(pd.DataFrame({"address": []}))
        xy = ds.point_coordinates("addresses")  # all points: their columns suffice (no shapely points made)
        return build_table(ds.layer("addresses") if xy is None else ds.attributes("addresses"), xy)

    return ds.cached("address.table", build)


def address_points(ds: Dataset) -> AddressPoints:
    """The address points of ``ds`` with their tree, built once per data version (``Dataset.cached``).

    Parameters
    ----------
    ds : Dataset
        The data version; a missing or empty address layer gives points without a tree.

    Returns
    -------
    AddressPoints
        The points and their KD-tree in ``ds.metric_crs``.
    """
    def build() -> AddressPoints:
        table = address_table(ds)
        rows = None if table.point.all() else np.flatnonzero(table.point)
        blank = table.blank
        lon, lat = (table.lon, table.lat) if rows is None else (table.lon[rows], table.lat[rows])
        out = AddressPoints(Texts(table.address, blank["address"], rows), Texts(table.id, blank["id"], rows),
                            Texts(table.grid_code, blank["grid_code"], rows), lon, lat, ds.metric_crs)
        if len(lon):
            x, y = out._transformer().transform(lon, lat)
            out.tree = _kd_tree_class()(np.column_stack((np.asarray(x, float), np.asarray(y, float))))
        return out

    return ds.cached("locate.address_points", build)


def nearest_address(ds: Dataset, lon: float, lat: float, max_distance: float = MAX_DISTANCE_M) -> dict[str, Any] | None:
    """The standard address nearest one WGS84 point, or None when none is within ``max_distance`` metres.

    Parameters
    ----------
    ds : Dataset
        The data version.
    lon, lat : float
        The point in WGS84.
    max_distance : float
        Farthest distance that counts, in metres.

    Returns
    -------
    dict or None
        ``address``, ``id``, ``grid_code``, ``lon``, ``lat`` and ``distance_m``.
    """
    points = address_points(ds)
    if points.tree is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    x, y = points._transformer().transform(lon, lat)  # one point: the scalar path is several times faster
    if not (math.isfinite(x) and math.isfinite(y)):  # beyond what the metric CRS can project
        return None
    d, i = points.tree.query((x, y), distance_upper_bound=max_distance)
    return points.describe(int(i), float(d)) if math.isfinite(d) else None
