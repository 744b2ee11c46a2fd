"""Storage behind one small interface: a folder of GeoJSON layers today, PostGIS later."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import geopandas as gpd

from app.geo.schema import LAYERS, METRIC_CRS, STORAGE_CRS, metric_crs_for

T = TypeVar("T")

if TYPE_CHECKING:
    from app.geo.address import AddressMatcher
    from app.geo.gridindex import GridIndex


class Store(Protocol):
    """What the rest of gridmap needs from storage."""

    def version(self) -> str:
        """Return the identifier of the data version currently stored."""
        ...

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Return one layer as a GeoDataFrame in EPSG:4326."""
        ...

    def layer_names(self) -> list[str]:
        """Return the names of the layers present."""
        ...


def layer_path(folder: Path, layer: str) -> Path:
    """Return the path of ``layer`` inside a geodata folder.

    Parameters
    ----------
    folder : Path
        A geodata folder.
    layer : str
        Layer name, one of :data:`app.geo.schema.LAYERS`.

    Returns
    -------
    Path
        ``folder / f"{layer}.geojson"``.
    """
    return Path(folder) / f"{layer}.geojson"


def folder_version(folder: Path) -> str:
    """Return a content hash of a geodata folder's layers: the data version.

    Parameters
    ----------
    folder : Path
        A geodata folder.

    Returns
    -------
    str
        The first 12 hex digits of a SHA-256 over every layer file's name and bytes.
    """
    h = hashlib.sha256()
    for layer in LAYERS:
        p = layer_path(folder, layer)
        if p.exists():
            h.update(layer.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


class FolderStore:
    """A read-only store over one folder of ``<layer>.geojson`` files.

    Parameters
    ----------
    folder : str or Path
        The geodata folder, e.g. the repository's ``geodata/``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._stamp: tuple | None = None
        self._version = ""

    def version(self) -> str:
        """Return the content hash of the folder's layers, re-hashed only when a file's stat changes."""
        stamp = tuple(
            (st.st_mtime_ns, st.st_size) if (p := layer_path(self.folder, n)).exists() and (st := p.stat()) else None
            for n in LAYERS
        )
        if stamp != self._stamp:
            self._version = folder_version(self.folder)
            self._stamp = stamp
        return self._version

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Read one layer from its GeoJSON file."""
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        path = layer_path(self.folder, layer)
        if not path.exists():
            raise FileNotFoundError(f"layer {layer!r} not found: {path}")
        gdf = gpd.read_file(path, engine="pyogrio")
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        return gdf

    def layer_names(self) -> list[str]:
        """Return the layers whose files exist in the folder."""
        return [name for name in LAYERS if layer_path(self.folder, name).exists()]

    def metadata(self) -> dict:
        """Return ``metadata.json`` of the folder, or an empty dict."""
        p = self.folder / "metadata.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


class Dataset:
    """One immutable data version, with layers and derived structures built lazily and cached.

    Everything a request needs hangs off one Dataset, so swapping the Dataset object swaps
    the whole version at once: no request ever sees half of two versions.

    Parameters
    ----------
    store : Store
        Where the layers come from.
    """

    def __init__(self, store: Store) -> None:
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
        The store to watch.
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
        """Build the Dataset of ``version`` (subclasses pin it to that version's files)."""
        return Dataset(self.store)
