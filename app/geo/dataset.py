"""One data version in memory: its layers and the structures built from them, swapped whole on a new version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import geopandas as gpd

from app.geo.schema import METRIC_CRS, STORAGE_CRS, metric_crs_for
from app.geo.store import ReadStore, Store

T = TypeVar("T")

if TYPE_CHECKING:
    from app.geo.address import AddressMatcher
    from app.geo.gridindex import GridIndex


class Dataset:
    """One immutable data version, with layers and derived structures built lazily and cached.

    Everything a request needs hangs off one Dataset, so swapping the Dataset object swaps
    the whole version at once: no request ever sees half of two versions.

    Parameters
    ----------
    store : ReadStore
        Where the layers come from, pinned to one version (see :meth:`ReadStore.snapshot`).
    """

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        self.version = store.version()
        self._lock = threading.RLock()
        self._layers: dict[str, gpd.GeoDataFrame] = {}
        #: Derived structures other modules build once per version (keyed by "module.name").
        self.cache: dict[str, object] = {}

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """Return a layer, reading it on first use."""
        with self._lock:
            if name not in self._layers:
                self._layers[name] = self.store.read(name)
            return self._layers[name]

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """Return ``cache[key]``, building it once with ``build()`` (thread-safe; builds may nest).

        Parameters
        ----------
        key : str
            A key naming the structure, prefixed by its module (e.g. ``"mapdata.classes"``).
        build : callable
            Makes the structure from this version's data.

        Returns
        -------
        object
            The cached structure.
        """
        hit = self.cache.get(key)
        if hit is None:
            with self._lock:
                hit = self.cache.get(key)
                if hit is None:
                    hit = self.cache[key] = build()
        return hit  # type: ignore[return-value]

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """The city's metadata of this version (``metadata.json``), or an empty dict."""
        return self.store.metadata()

    def counts(self) -> dict[str, int]:
        """Return the feature count of every layer present."""
        return {name: len(self.layer(name)) for name in self.store.layer_names()}

    @cached_property
    def grids(self) -> gpd.GeoDataFrame:
        """The grid layer."""
        return self.layer("grids")

    @cached_property
    def metric_crs(self) -> str:
        """The CRS metric work on this version uses: :func:`~app.geo.schema.metric_crs_for` of the grids' extent.

        :data:`~app.geo.schema.METRIC_CRS` when the grid layer is missing or empty.
        """
        if "grids" not in self.store.layer_names():
            return METRIC_CRS
        grids = self.grids
        if len(grids) == 0:
            return METRIC_CRS
        if grids.crs is not None and not grids.crs.is_geographic:
            grids = grids.to_crs(STORAGE_CRS)
        return metric_crs_for(tuple(grids.total_bounds))

    @cached_property
    def grid_index(self) -> GridIndex:
        """The point-in-grid index over :attr:`grids`."""
        from app.geo.gridindex import GridIndex

        return GridIndex(self.grids)

    @cached_property
    def address_matcher(self) -> AddressMatcher:
        """The gazetteer matcher over the address layer."""
        from app.geo.address import AddressMatcher

        return AddressMatcher(self.layer("addresses"))

    @cached_property
    def _grid_rows(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.grids["code"])}

    def grid_row(self, code: str | None) -> int | None:
        """Return the row of a grid code in :attr:`grids`, or None if there is no such grid."""
        return self._grid_rows.get(code) if code else None


class DataManager:
    """Hands out the current :class:`Dataset` and swaps it when the stored version changes.

    Parameters
    ----------
    store : Store
        The store to watch (any backend).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._current: Dataset | None = None
        self._lock = threading.Lock()

    def current(self) -> Dataset:
        """Return the Dataset for the stored version, building a new one if the version moved."""
        ds = self._current
        version = self.store.version()
        if ds is not None and ds.version == version:
            return ds
        with self._lock:
            if self._current is None or self._current.version != version:
                self._current = self._open(version)
            return self._current

    def _open(self, version: str) -> Dataset:
        """Build the Dataset of ``version``, pinned to it so a later import cannot mix into it."""
        return Dataset(self.store.snapshot(version))
