"""The storage seam: the read and write protocols every backend implements, and the backend registry."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.errors import GridmapError

if TYPE_CHECKING:
    import geopandas as gpd

    from app.geo.dataset import DataManager
    from app.settings import Config


class StoreError(GridmapError):
    """A store operation that cannot be done, with a message that names the problem."""

    default_status = 409
    default_key = "store"


class StoreBusy(StoreError):
    """Another process holds the store's write lock."""

    default_key = "store.busy"


class ReadOnlyStore(StoreError):
    """A write was asked of a store that serves its data read-only."""

    default_key = "store.read_only"


@dataclass(frozen=True)
class VersionInfo:
    """What one stored version is: id, when and by whom it was made, and what it changed."""

    id: str
    created: str
    author: str
    message: str
    parent: str | None
    source: str
    counts: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""

    @property
    def seq(self) -> int:
        """The sequence number at the front of the id (0 for an unversioned folder)."""
        head = self.id.split("-", 1)[0]
        return int(head) if head.isdigit() else 0

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return {
            "id": self.id, "created": self.created, "author": self.author, "message": self.message,
            "parent": self.parent, "source": self.source, "counts": self.counts, "summary": self.summary,
            "hashes": self.hashes, "content_hash": self.content_hash,
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of a store's history: a change of the served version, recorded before it was made.

    Attributes
    ----------
    id : str
        Unique. A commit's is the id of the version it made; a rollback's is the change id its
        caller gave (or a random one).
    action : str
        ``commit``, ``rollback``, or ``baseline`` (the versions a store held when its history began).
    version : str or None
        The version made current (a baseline's: the one current then).
    previous : str or None
        The version current before.
    author, time : str
        Who made the change, and when (UTC, ISO 8601).
    source, message : str
        A commit's source (``import``, ``seed``) and message.
    layers : list of str
        The layers a commit replaced.
    summary : dict
        What a rollback changed, as in :attr:`VersionInfo.summary` (a commit's is in its version's info).
    pruned : list of str
        Versions a commit removed to keep ``KEEP_VERSIONS``.
    versions : list of str
        A baseline's versions.
    pid, host : int, str
        The process that wrote it, so that a reconcile leaves a running writer's record to that writer.
    """

    id: str
    action: str
    version: str | None
    previous: str | None = None
    author: str = ""
    time: str = ""
    source: str = ""
    message: str = ""
    layers: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    pid: int = 0
    host: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HistoryEntry:
        """Build an entry from :meth:`to_dict` output, ignoring fields this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


@runtime_checkable
class ReadStore(Protocol):
    """What readers need from storage: one version's layers and metadata."""

    #: Where the data lives, for messages (a folder path or a URL without secrets).
    location: str

    def version(self) -> str:
        """Return the identifier of the data version currently stored."""
        ...

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Return one layer of the current version as a GeoDataFrame in EPSG:4326."""
        ...

    def layer_names(self) -> list[str]:
        """Return the names of the layers present in the current version."""
        ...

    def metadata(self) -> dict[str, Any]:
        """Return the city's metadata (``metadata.json``) of the current version, or an empty dict."""
        ...

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the description of a version (the current one by default)."""
        ...

    def snapshot(self, version_id: str | None = None) -> ReadStore:
        """Return a view pinned to one version, so reads never move to another one."""
        ...


@runtime_checkable
class WriteStore(Protocol):
    """What imports, rollback and the admin pages need: versions to make, list, check and restore."""

    #: False for a backend that serves its data read-only; every write then raises ReadOnlyStore.
    writable: bool

    def exists(self) -> bool:
        """Return True once the store holds a current version."""
        ...

    def commit(self, layers: dict[str, gpd.GeoDataFrame | bytes], *, author: str, message: str,
               source: str = "import", extra_files: dict[str, bytes] | None = None,
               base: str | None = "current", expect: str | None = None) -> VersionInfo:
        """Write a new version made of the current one with ``layers`` replaced, and make it current.

        Content identical to the current version's makes no version: the current one is returned
        as it is. Each new version is in :meth:`history` (its entry's id is the version id) before
        it is served, with the older versions the store's retention removed after it.
        """
        ...

    def rollback(self, ref: str, *, author: str = "", change_id: str | None = None,
                 ) -> tuple[VersionInfo, dict[str, Any]]:
        """Make a stored version current again; return it and a summary of the change.

        The change is in :meth:`history` under ``change_id`` (a random id when None) before it is served.
        """
        ...

    def history(self) -> list[HistoryEntry]:
        """Return every change of the served version, oldest first (empty for a store that keeps none)."""
        ...

    def recover(self) -> None:
        """Finish what a writer killed mid-change left, so that the history and the versions agree.

        A no-op when nothing is left, or when another writer holds the lock (it recovered on taking it).
        """
        ...

    def list_versions(self) -> list[VersionInfo]:
        """Return every complete version, oldest first."""
        ...

    def resolve(self, ref: str) -> str:
        """Turn a user's version reference (id, number or unique prefix) into a full id."""
        ...

    def verify(self, version_id: str | None = None) -> list[str]:
        """Check a version's content against what was recorded; return the problems found."""
        ...

    def seed_from(self, folder: str | Path, author: str = "system") -> VersionInfo | None:
        """Make a plain geodata folder a new version if it differs from the seeded one."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the store's exclusive write lock."""
        ...


class Store(ReadStore, WriteStore, Protocol):
    """A whole backend: the read and the write protocol."""


def resolve_ref(ids: list[str], ref: str) -> str:
    """Turn a user's version reference into one of ``ids``: the id, its number (``3``) or a unique prefix.

    The one rule every versioned backend's :meth:`WriteStore.resolve` follows.

    Raises
    ------
    StoreError
        If nothing or more than one version matches.
    """
    ref = ref.strip()
    if ref in ids:
        return ref
    if ref.isdigit():
        hits = [i for i in ids if int(i.split("-")[0]) == int(ref)]
    else:
        hits = [i for i in ids if i.startswith(ref) or i.split("-")[1].startswith(ref)] if ref else []
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise StoreError(f"no version {ref!r}; known: {', '.join(ids) or 'none'}")
    raise StoreError(f"version {ref!r} is ambiguous: {', '.join(hits)}")


def check_layer_names(names: Any) -> None:
    """Refuse a commit that names a layer the schema does not know (the rule of every backend).

    Raises
    ------
    StoreError
        Naming the unknown layers.
    """
    from app.geo.schema import LAYERS

    unknown = set(names) - set(LAYERS)
    if unknown:
        raise StoreError(f"unknown layer(s): {', '.join(sorted(unknown))}")


#: Backends by name: ``"module:factory"``, imported on first use (as pygeoapi names its providers).
#: A factory takes the URL or path and ``keep_versions`` (how many versions to keep, 0 = all) and
#: returns a :class:`Store`. A URL's scheme picks the backend; a plain path or ``file://`` URL is
#: the embedded GeoJSON store.
BACKENDS: dict[str, str] = {
    "geojson": "app.geo.geojson_store:open_geojson",
    "postgresql": "app.geo.postgis_store:open_postgis",
}

#: URL schemes that name a backend other than their own name.
SCHEMES: dict[str, str] = {"file": "geojson", "postgres": "postgresql"}


def register_backend(name: str, target: str, *schemes: str) -> None:
    """Register a store backend.

    Parameters
    ----------
    name : str
        The backend's name, also its URL scheme (e.g. ``"postgresql"``).
    target : str
        ``"package.module:factory"``; the factory takes the URL and returns a :class:`Store`.
    *schemes : str
        Further URL schemes that open it (e.g. ``"postgres"``).
    """
    BACKENDS[name] = target
    for scheme in schemes:
        SCHEMES[scheme] = name


def _factory(name: str) -> Callable[..., Store]:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_of(url_or_path: str | Path) -> str:
    """Return the name of the backend that opens ``url_or_path``.

    Raises
    ------
    StoreError
        If the URL's scheme names no registered backend.
    """
    text = str(url_or_path)
    scheme, sep, _ = text.partition("://")
    if not sep:
        return "geojson"
    name = SCHEMES.get(scheme.lower(), scheme.lower())
    if name not in BACKENDS:
        raise StoreError(f"no store backend for {scheme}:// URLs; known: {', '.join(sorted(BACKENDS))}",
                         status=400, key="store.backend")
    return name


def open_store(url_or_path: str | Path, keep_versions: int = 0) -> Store:
    """Open a store by URL or path, choosing the backend from :data:`BACKENDS`.

    Parameters
    ----------
    url_or_path : str or Path
        A folder (a versioned GeoJSON store, or a plain folder of ``<layer>.geojson`` served
        read-only), a ``file://`` URL, or the URL of another registered backend.
    keep_versions : int
        Versions a commit keeps (the newest ones, besides those rolled back to); 0 keeps all.

    Returns
    -------
    Store
        The backend's store.
    """
    text = str(url_or_path)
    name = backend_of(text)
    if name == "geojson" and text.startswith("file://"):
        text = text[len("file://"):]
    return _factory(name)(text, keep_versions=keep_versions)


def open_data(config: Config) -> DataManager:
    """Open the store the service runs on, as the settings say, and hand out its current version.

    * ``STORE_URL`` set: that store (a folder, or a ``postgresql://`` database), seeded from ``DATA_DIR``
      when it holds layers (by default the demo, so a new database serves the demo city from the first start);
    * ``DATA_DIR`` the committed demo: a versioned store in ``INSTANCE_DIR/store``, seeded from it;
    * otherwise ``DATA_DIR`` itself (a versioned store, or a plain folder served read-only).

    What a writer killed mid-change left is finished first (:meth:`WriteStore.recover`).

    Parameters
    ----------
    config : app.settings.Config
        Its ``DATA_DIR``, ``STORE_URL`` and ``INSTANCE_DIR`` say what to open, ``KEEP_VERSIONS``
        how many versions the store keeps.

    Returns
    -------
    app.geo.dataset.DataManager
        The manager over the chosen store.

    Raises
    ------
    StoreError
        If the chosen store is empty and nothing can seed it.
    """
    from app import settings
    from app.geo.dataset import DataManager

    data = Path(config.DATA_DIR)
    seed = data if (data / "grids.geojson").exists() else None
    if config.STORE_URL:
        store = open_store(config.STORE_URL, config.KEEP_VERSIONS)
    elif seed is not None and data.resolve() == settings.DEMO_DATA_DIR.resolve():
        store = open_store(settings.instance_dir(config) / "store", config.KEEP_VERSIONS)
    else:
        store = open_store(data, config.KEEP_VERSIONS)
        store.recover()
        return DataManager(store)
    store.recover()
    if seed is not None:
        store.seed_from(seed)
    elif not store.exists():
        raise StoreError(f"store {store.location} is empty and {data} holds no layers to seed it from")
    return DataManager(store)

