"""One data version in memory: its layers and the structures built from them, swapped whole on a new version."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import shapely

from app.geo._shared_text import shared
from app.geo.city import City
from app.geo.schema import FIELDS, METRIC_CRS, STORAGE_CRS, metric_crs_for
from app.geo.store import ReadStore, Store

T = TypeVar("T")

#: Layers a city may lack: read as empty (no facilities, no address gazetteer, no road network).
OPTIONAL_LAYERS: tuple[str, ...] = ("facilities", "addresses", "roads")
#: Point layers held as their columns and coordinates, the GeoDataFrame made again when asked for (see
#: :meth:`Dataset.layer`): a large city's shapely points take several times the memory of their numbers.
COMPACT_LAYERS: tuple[str, ...] = ("addresses",)
#: Layers :meth:`Dataset.warm` reads up front: what the first view of any page draws.
WARM_LAYERS: tuple[str, ...] = ("grids", "committees", "divisions")

if TYPE_CHECKING:  # geopandas and pandas are imported where a layer is read: a saved batch index needs neither
    import geopandas as gpd
    import pandas as pd

    from app.geo.address import AddressMatcher
    from app.geo.gridindex import GridIndex


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_trim()
#: Heaps ("arenas") glibc may keep for a server's threads (see :func:`limit_arenas`): one, shared by all of them.
SERVER_ARENAS = 1
#: Blocks from this many bytes up are mapped alone and handed back when freed (see :func:`limit_arenas`).
SERVER_MMAP_THRESHOLD = 256 << 10
#: Free memory at the top of a heap beyond this many bytes is handed back at once (see :func:`limit_arenas`).
SERVER_TRIM_THRESHOLD = 1 << 20


def limit_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Make glibc's malloc keep less freed memory in a server: call it before any thread starts.

    ``mallopt``: at most ``arenas`` heaps (``M_ARENA_MAX``; by default glibc gives threads up to eight
    heaps per core, and each keeps the pages its thread freed), and fixed thresholds for mapping large
    blocks alone and for trimming the heap's top (:data:`SERVER_MMAP_THRESHOLD`,
    :data:`SERVER_TRIM_THRESHOLD`; glibc would raise both up to 32 and 64 MB after the first large
    block is freed, and keep that much after every build). A served 30,650-grid city held ~575 MiB
    after its first view with glibc's defaults, ~523 with two arenas, ~414 with the thresholds as
    well (together with the other savings of that change). One arena rather than two saved another
    ~12 MiB at the first view (the threads' objects no longer fill a second heap) at the same lookup
    throughput (the threads take turns on the GIL anyway). A ``MALLOC_ARENA_MAX``,
    ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` in the environment is left as it is.

    Parameters
    ----------
    arenas : int
        The most heaps.

    Returns
    -------
    bool
        Whether the heap limit was set (False with another C library, or when the environment sets it).
    """
    import os

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(-3, SERVER_MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        mallopt(-1, SERVER_TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(-8, arenas))  # M_ARENA_MAX


def release_memory() -> None:
    """Hand the heap pages freed by a build back to the operating system (glibc ``malloc_trim``).

    Building an index or reading a layer makes large short-lived arrays and objects; glibc keeps
    their pages in the process after they are freed, so the server's resident memory would stay
    at each build's peak. Arrow's own allocator (mimalloc or jemalloc) is asked to do the same.
    ``malloc_trim`` is a no-op where the C library has none.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
        self._depth = 0  # nesting of builds under the lock: memory is released after the outermost
        self._layers: dict[str, gpd.GeoDataFrame] = {}
        self._compact: dict[str, _PointLayer] = {}  # layers of COMPACT_LAYERS, without shapely points
        self._handed: dict[str, weakref.ref[gpd.GeoDataFrame]] = {}  # their GeoDataFrame while a caller holds it
        self._matcher_done: threading.Event | None = None
        #: Derived structures other modules build once per version (keyed by "module.name").
        self.cache: dict[str, object] = {}

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """Return a layer, reading it on first use.

        Derived fields the data may lack are computed here, so every page can rely on them: the
        grids' ``area_m2`` (square metres in :attr:`metric_crs`) where the column is absent or empty.
        A missing layer of :data:`OPTIONAL_LAYERS` reads as an empty layer with the schema's fields.
        A layer of :data:`COMPACT_LAYERS` made only of 2D points is kept as its columns and
        coordinates; its GeoDataFrame (equal to the one read) is made again when no caller holds the last one.
        """
        with self._lock:
            gdf = self._layers.get(name)
            if gdf is not None:
                return gdf
            handed = self._handed.get(name)
            gdf = handed() if handed is not None else None
            if gdf is not None:
                return gdf
            compact = self._compact.get(name)
            if compact is not None:
                gdf = compact.frame()
            else:
                with self._building():
                    if name in OPTIONAL_LAYERS and name not in self.store.layer_names():
                        gdf = _empty_layer(name)
                    else:
                        gdf = self.store.read(name)
                    if name == "grids":
                        gdf = _with_area(gdf, self._metric_crs_of(gdf))
                    compact = _PointLayer.of(gdf) if name in COMPACT_LAYERS else None
                if compact is None:
                    self._layers[name] = gdf
                    return gdf
                self._compact[name] = compact
            self._handed[name] = weakref.ref(gdf)
            return gdf

    def point_coordinates(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The x and y of every feature of a layer kept compact (all 2D points), or None for any other layer.

        The arrays are the layer's own (read-only views): a structure built from them need not copy them.
        """
        self.layer(name)
        compact = self._compact.get(name)
        return None if compact is None else compact.coordinates()

    def attributes(self, name: str) -> pd.DataFrame:
        """A layer's columns but its geometry, in their order; a compact layer's without making its points again.

        What the address matcher and table read: at 585,100 addresses the points made and dropped again
        left ~30 MB of the heap in pieces the process could not hand back. The frame may be shared: do not change it.
        """
        import geopandas as gpd
        import pandas as pd

        compact = self._compact.get(name)
        if compact is None:
            gdf = self.layer(name)
            compact = self._compact.get(name)
            if compact is None:
                if isinstance(gdf, gpd.GeoDataFrame) and gdf.geometry.name in gdf.columns:
                    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
                return gdf
            del gdf
        return compact.attributes()

    def feature_count(self, name: str) -> int:
        """The number of features of a layer (0 for a missing optional one), without making its GeoDataFrame again."""
        compact = self._compact.get(name)
        return len(compact) if compact is not None else len(self.layer(name))

    @contextmanager
    def _building(self) -> Iterator[None]:
        """Mark a build under the lock; after the outermost one, hand the freed heap back (:func:`release_memory`)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    release_memory()

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
                    with self._building():
                        hit = self.cache[key] = build()
        return hit  # type: ignore[return-value]

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """The city's metadata of this version (``metadata.json``), or an empty dict."""
        return self.store.metadata()

    def counts(self) -> dict[str, int]:
        """Return the feature count of every layer present."""
        return {name: self.feature_count(name) for name in self.store.layer_names()}

    @cached_property
    def grids(self) -> gpd.GeoDataFrame:
        """The grid layer."""
        return self.layer("grids")

    @cached_property
    def city(self) -> City:
        """The city of this version (``metadata.json``'s ``"city"``); ``City()`` when the metadata names none."""
        return City.from_metadata(self.metadata)

    @cached_property
    def metric_crs(self) -> str:
        """The CRS metric work on this version uses.

        The city's own :attr:`City.metric_crs` when it names one whose area of use holds the grids'
        centre; else :func:`~app.geo.schema.metric_crs_for` of the grids' extent;
        :data:`~app.geo.schema.METRIC_CRS` when the grid layer is missing or empty.
        """
        if "grids" not in self.store.layer_names():
            return self.city.metric_crs or METRIC_CRS
        return self._metric_crs_of(self.layer("grids"))

    def _metric_crs_of(self, grids: gpd.GeoDataFrame) -> str:
        """:attr:`metric_crs` for these grids (also used while the grid layer is being read)."""
        declared = self.city.metric_crs
        if len(grids) == 0:
            return declared or METRIC_CRS
        if grids.crs is not None and not grids.crs.is_geographic:
            grids = grids.to_crs(STORAGE_CRS)
        bounds = tuple(float(b) for b in grids.total_bounds)
        if not all(np.isfinite(bounds)):  # only empty geometries
            return declared or METRIC_CRS
        if declared and _covers(declared, bounds):  # else the data chooses (a city moved, or a wrong CRS)
            return declared
        return metric_crs_for(bounds)

    @cached_property
    def grid_index(self) -> GridIndex:
        """The point-in-grid index over :attr:`grids`."""
        from app.geo.gridindex import GridIndex

        with self._building():
            return GridIndex(self.grids)

    @cached_property
    def address_matcher(self) -> AddressMatcher:
        """The gazetteer matcher over the address layer.

        Addresses may start with the city's place names, which matching ignores: the province,
        name and districts of :attr:`city`, and the names in the divisions and committees layers.
        """
        from app.geo.address import AddressMatcher, AddressPrefixes

        names = self.store.layer_names()

        def layer_names(layer: str) -> list[str]:
            if layer not in names or "name" not in self.layer(layer).columns:
                return []
            return [n for n in self.layer(layer)["name"].tolist() if isinstance(n, str)]

        prefixes = AddressPrefixes.for_city(self.city, areas=layer_names("divisions"),
                                            committees=layer_names("committees"))
        grid_committee: dict[str, str] = {}  # for the committee tie-break: 朝晖社区阳光小区3号楼
        if "committees" in names and {"code", "committee_code"} <= set(self.grids.columns):
            coms = self.layer("committees")
            if {"code", "name"} <= set(coms.columns):
                com_name = dict(zip(coms["code"].astype(str), coms["name"], strict=True))
                grid_committee = {shared(str(g)): shared(com_name[str(c)]) for g, c in zip(self.grids["code"],
                                  self.grids["committee_code"], strict=True)
                                  if isinstance(com_name.get(str(c)), str)}
        from app.geo._locate_reverse import address_table

        matcher = AddressMatcher(self.attributes("addresses"), prefixes, grid_committee, table=address_table(self))
        len(matcher)  # builds the index now (not under this Dataset's lock), then hands back its scratch memory
        release_memory()
        return matcher

    def address_matcher_ready(self, timeout: float | None) -> AddressMatcher | None:
        """:attr:`address_matcher` if it is built within ``timeout`` seconds, else None while it builds on.

        The first call starts building the matcher in a background thread of this process (a city
        with hundreds of thousands of addresses takes a while); a caller that cannot wait answers
        without addresses meanwhile. A failed build raises here, as :attr:`address_matcher` would.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait for the build (0: only look; None: until it is built).

        Returns
        -------
        AddressMatcher or None
            The matcher, or None while it is still being built.
        """
        if "address_matcher" in self.__dict__:
            return self.address_matcher
        with self._lock:
            done = self._matcher_done
            if done is None:
                done = self._matcher_done = threading.Event()

                def build() -> None:
                    try:
                        self.address_matcher  # noqa: B018 - builds and caches it
                    except Exception:  # noqa: BLE001 - raised again to the caller below
                        pass
                    finally:
                        done.set()

                threading.Thread(target=build, name="gridmap-address-index", daemon=True).start()
        if not done.wait(timeout):
            return None
        return self.address_matcher

    def warm(self) -> None:
        """Build now what every first view needs, and nothing more: the layers of :data:`WARM_LAYERS`.

        A server may call this before it forks its workers (they then share these pages). The
        address gazetteer, the point index and the search index are built on first use
        (:meth:`address_matcher_ready` builds the matcher in the background).
        """
        names = self.store.layer_names()
        for name in WARM_LAYERS:
            if name in names:
                self.layer(name)

    @cached_property
    def _grid_rows(self) -> dict[str, int]:
        return {shared(code): i for i, code in enumerate(self.grids["code"])}

    def grid_row(self, code: str | None) -> int | None:
        """Return the row of a grid code in :attr:`grids`, or None if there is no such grid."""
        return self._grid_rows.get(code) if code else None


class _PointLayer:
    """A layer of 2D points without its shapely geometry: the other columns, the coordinates and the CRS.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer as read; every geometry a 2D point (see :meth:`of`).
    """

    def __init__(self, gdf: gpd.GeoDataFrame) -> None:
        import pandas as pd

        geoms = np.asarray(gdf.geometry.array, dtype=object)
        self._x, self._y = shapely.get_x(geoms), shapely.get_y(geoms)
        self._geometry = gdf.geometry.name
        self._columns = list(gdf.columns)
        self._crs = gdf.crs
        self._attrs = dict(gdf.attrs)
        rest = pd.DataFrame(gdf.drop(columns=self._geometry))
        self._packed = _pack(rest)
        self._rest: pd.DataFrame | None = None if self._packed is not None else rest

    @classmethod
    def of(cls, gdf: gpd.GeoDataFrame) -> _PointLayer | None:
        """The compact layer, or None when some geometry is missing, empty, 3D or not a point (kept as read)."""
        import geopandas as gpd

        if not len(gdf) or not isinstance(gdf, gpd.GeoDataFrame) or list(gdf.columns).count(gdf.geometry.name) != 1:
            return None
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        if not (shapely.get_type_id(geoms) == 0).all() or shapely.is_empty(geoms).any() or shapely.has_z(geoms).any():
            return None
        return cls(gdf)

    def __len__(self) -> int:
        return len(self._x)

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the x and y arrays."""
        x, y = self._x.view(), self._y.view()
        x.flags.writeable = y.flags.writeable = False
        return x, y

    def attributes(self) -> pd.DataFrame:
        """The columns but the geometry, as read (no points made)."""
        return self._rest if self._packed is None else _unpack(self._packed)

    def frame(self) -> gpd.GeoDataFrame:
        """The layer as a GeoDataFrame equal to the one read: same columns, order, dtypes, index and CRS."""
        import geopandas as gpd
        import pandas as pd

        rest = self.attributes()
        points = gpd.GeoSeries(shapely.points(self._x, self._y), index=rest.index, crs=self._crs,
                               name=self._geometry)
        out = gpd.GeoDataFrame(pd.concat([rest, points], axis=1)[self._columns], geometry=self._geometry,
                               crs=self._crs)
        out.attrs.update(self._attrs)
        return out


#: Rows per compressed block of a packed layer (its columns read back in chunks of this many rows).
_PACK_ROWS = 1 << 16


def _pack(frame: pd.DataFrame) -> pa.Buffer | None:
    """``frame`` as a compressed Arrow stream (a large address layer's columns: ~60 -> ~5 MB), or None.

    None when no compression codec is available, Arrow cannot hold a column, or the frame read
    back would differ in any value, dtype, index or column name (then the frame is kept as it is).
    """
    codec = next((c for c in ("zstd", "lz4") if pa.Codec.is_available(c)), None)
    if codec is None or not len(frame):
        return None
    try:
        # one thread: Arrow's thread pool would leave each thread's allocator heap in the process
        table = pa.Table.from_pandas(frame, preserve_index=None, nthreads=1)  # a RangeIndex as metadata
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression=codec, use_threads=False)
        with pa.ipc.new_stream(sink, table.schema, options=options) as out:
            out.write_table(table, max_chunksize=_PACK_ROWS)
        packed = sink.getvalue()
        back = _unpack(packed)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    same = (back.equals(frame) and list(back.dtypes) == list(frame.dtypes) and list(back.columns) == list(frame.columns)
            and type(back.index) is type(frame.index) and back.index.equals(frame.index)
            and back.index.dtype == frame.index.dtype and back.index.names == frame.index.names)
    return packed if same else None


def _unpack(packed: pa.Buffer) -> pd.DataFrame:
    """The frame :func:`_pack` packed."""
    reader = pa.ipc.open_stream(packed, options=pa.ipc.IpcReadOptions(use_threads=False))
    return reader.read_all().to_pandas(use_threads=False)


def _covers(crs: str, bounds: tuple[float, ...]) -> bool:
    """Whether ``crs`` is projected and the lon/lat centre of ``bounds`` lies in its area of use.

    False when PROJ does not know ``crs`` or it is geographic (degrees cannot measure metres).
    """
    import pyproj

    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        return False
    if not parsed.is_projected:
        return False
    area = parsed.area_of_use
    if area is None:
        return True
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    return area.west <= lon <= area.east and area.south <= lat <= area.north


def _empty_layer(name: str) -> gpd.GeoDataFrame:
    """An empty layer with the schema's fields, in the storage CRS."""
    import geopandas as gpd
    import pandas as pd

    columns = {f.name: pd.Series(dtype=object if f.dtype == "str" else float) for f in FIELDS[name]}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)


def _with_area(grids: gpd.GeoDataFrame, metric_crs: str) -> gpd.GeoDataFrame:
    """The grids with ``area_m2`` (m², 0.1 m² steps, in ``metric_crs``) filled in where it is absent or empty."""
    import pandas as pd

    given = grids["area_m2"] if "area_m2" in grids.columns else None
    if given is not None and not given.isna().any():
        return grids
    geoms = grids.geometry if grids.crs is not None else grids.geometry.set_crs(STORAGE_CRS)
    area = np.round(geoms.to_crs(metric_crs).area.to_numpy(dtype=float), 1) if len(grids) else np.zeros(0)
    out = grids.copy()
    out["area_m2"] = area if given is None else pd.to_numeric(given, errors="coerce").fillna(
        pd.Series(area, index=grids.index))
    return out


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
