"""Reverse lookup: the standard address nearest a point, in metres of the city's metric CRS (a KD-tree)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from app.geo.dataset import Dataset

#: Farthest an address may be from the point and still be called its nearest address, in metres.
MAX_DISTANCE_M = 2000.0


@dataclass
class AddressPoints:
    """The address layer's points in the metric CRS with a KD-tree over them, built once per data version.

    Attributes
    ----------
    addresses : ndarray of str
        The standard address of each point.
    ids, grid_codes : ndarray of str
        The address id and grid code of each point.
    lon, lat : ndarray of float
        WGS84 position of each point.
    metric_crs : str
        The CRS the tree is in (:attr:`Dataset.metric_crs`).
    """

    addresses: NDArray[np.object_]
    ids: NDArray[np.object_]
    grid_codes: NDArray[np.object_]
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
        return {"address": str(self.addresses[i]), "id": str(self.ids[i]), "grid_code": str(self.grid_codes[i]),
                "lon": round(float(self.lon[i]), 7), "lat": round(float(self.lat[i]), 7),
                "distance_m": round(float(distance_m), 1)}


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
        empty = np.empty(0, dtype=object)
        if "addresses" not in ds.store.layer_names():
            return AddressPoints(empty, empty, empty, np.empty(0), np.empty(0), ds.metric_crs)
        layer = ds.layer("addresses")
        geoms = layer.geometry.to_numpy()
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        keep &= shapely.get_type_id(geoms) == 0  # points only
        layer = layer[keep]
        n = len(layer)
        lon = shapely.get_x(layer.geometry.to_numpy()) if n else np.empty(0)
        lat = shapely.get_y(layer.geometry.to_numpy()) if n else np.empty(0)

        def column(name: str) -> NDArray[np.object_]:
            if name not in layer.columns:
                return np.full(n, "", dtype=object)
            return np.asarray(["" if v is None or v != v else str(v) for v in layer[name]], dtype=object)

        out = AddressPoints(column("address"), column("id"), column("grid_code"), np.asarray(lon, float),
                            np.asarray(lat, float), ds.metric_crs)
        if n:
            x, y = out._transformer().transform(out.lon, out.lat)
            out.tree = cKDTree(np.column_stack((np.asarray(x, float), np.asarray(y, float))))
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
