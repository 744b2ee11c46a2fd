"""The PostGIS backend: versions, layers, history and the current pointer in PostgreSQL tables, one transaction a change."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg

from app.geo import db
from app.geo._geojson_folder import content_hash, folder_version, layer_path
from app.geo._geojson_history import new_entry, to_prune
from app.geo._postgis_conn import Connections, StoreUnavailable, VersionWatch, connect, shutdown
from app.geo._postgis_layers import canonical, columns_of, copy_rows, read_rows, row_digest
from app.geo._postgis_schema import (
    CHANNEL,
    CURRENT,
    FILES,
    HISTORY,
    LAYER_DATA,
    LAYERS_TABLE,
    LOCK_NAME,
    VERSIONS,
    layer_table,
)
from app.geo.changes import summarise
from app.geo.geojson import dump_geojson
from app.geo.schema import LAYERS
from app.geo.store import (
    HistoryEntry,
    Store,
    StoreBusy,
    StoreError,
    VersionInfo,
    check_layer_names,
    resolve_ref,
)

__all__ = ["PostgisSnapshot", "PostgisStore", "StoreUnavailable", "open_postgis"]

#: Extra files carried from version to version besides the layers (as in the GeoJSON store).
EXTRA_FILES: tuple[str, ...] = ("metadata.json",)

_ID_RE = re.compile(r"^(\d{4,})-([0-9a-f]{7})$")


def open_postgis(url: str, keep_versions: int = 0) -> Store:
    """Open a PostgreSQL/PostGIS database as a store (the factory :func:`app.geo.store.open_store` calls).

    Parameters
    ----------
    url : str
        A libpq URL, ``postgresql://user:password@host:port/db`` or ``postgres://…``; Unix sockets
        as ``postgresql://user@/db?host=/run/postgresql``.
    keep_versions : int
        How many versions a commit keeps (0 = all).

    Returns
    -------
    Store
        The store; tables are made on first use.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return PostgisStore(url, keep_versions=keep_versions)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PostgisSnapshot:
    """One stored version, pinned: reads never move to another version.

    Parameters
    ----------
    store : PostgisStore
        The store it belongs to.
    version_id : str
        The version.
    """

    def __init__(self, store: PostgisStore, version_id: str) -> None:
        self.store = store
        self.version_id = version_id
        self.location = store.location
        self._info: VersionInfo | None = None
        self._layers: dict[str, tuple[str, list[list[str]]]] | None = None

    def version(self) -> str:
        """Return the pinned version id."""
        return self.version_id

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the version's description."""
        if self._info is None:
            self._info = self.store.info(self.version_id)
        return self._info

    def snapshot(self, version_id: str | None = None) -> PostgisSnapshot:
        """Return this snapshot (it is pinned already)."""
        if version_id not in (None, self.version_id):
            raise StoreError(f"snapshot {self.version_id} cannot show version {version_id}")
        return self

    def _layer_rows(self) -> dict[str, tuple[str, list[list[str]]]]:
        if self._layers is None:
            with self.store.conns.conn() as conn:
                rows = conn.execute(f"SELECT l.layer, l.data_id, d.columns FROM {LAYERS_TABLE} l "
                                    f"JOIN {LAYER_DATA} d USING (data_id) WHERE l.version = %s",
                                    (self.version_id,)).fetchall()
            self._layers = {r[0]: (r[1], r[2]) for r in rows}
        return self._layers

    def layer_names(self) -> list[str]:
        """Return the layers present in the version."""
        present = self._layer_rows()
        return [n for n in LAYERS if n in present]

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Read one layer of the version as a GeoDataFrame in EPSG:4326 (as the GeoJSON store gives it)."""
        if layer not in LAYERS:
            raise KeyError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        present = self._layer_rows()
        if layer not in present:
            raise FileNotFoundError(f"layer {layer!r} not found in version {self.version_id} of {self.location}")
        data_id, columns = present[layer]
        with self.store.conns.conn() as conn:
            return read_rows(conn, layer, data_id, columns)

    def metadata(self) -> dict[str, Any]:
        """Return ``metadata.json`` of the version, or an empty dict."""
        data = self.store._file(self.version_id, "metadata.json")
        return json.loads(data.decode("utf-8")) if data is not None else {}


class PostgisStore:
    """A writable store of immutable versions in one PostgreSQL/PostGIS database.

    Tables (all prefixed ``gridmap_``): ``versions`` (one row a version, its :class:`VersionInfo`),
    ``current`` (one row: the served version), ``history`` (every change, oldest first),
    ``layers`` (which layer content each version holds), ``layer_data`` (a layer content's columns,
    dtypes and row digest), ``files`` (``metadata.json`` per version), and one table per layer
    (``gridmap_grids`` …: ``data_id, fid, geom geometry(Geometry, 4326), attrs jsonb`` with a GiST
    index). A layer content is keyed by the SHA-256 of its GeoJSON, so a version that keeps a
    layer shares its rows. Views ``gridmap_<layer>_current`` show the current version with the
    schema's fields as typed columns, for QGIS.

    A commit or rollback is one transaction under a session-level advisory lock: the rows, the
    version, its history entry, retention and the switch of ``current`` are all committed or
    none is; ``NOTIFY gridmap_version`` tells the other processes.

    Parameters
    ----------
    url : str
        A libpq URL.
    lock_timeout : float
        Seconds to wait for another writer before raising :class:`StoreBusy`.
    keep_versions : int
        Versions a commit keeps: the newest ones, besides those someone rolled back to and the one
        it replaced; 0 keeps all.
    """

    writable = True

    def __init__(self, url: str, lock_timeout: float = 30.0, keep_versions: int = 0) -> None:
        self.url = url
        self.location = db.redact(url)
        self.lock_timeout = lock_timeout
        self.keep_versions = keep_versions
        self.conns = Connections(url)
        self._watch = VersionWatch(self.conns, self.location)
        self._local = threading.local()
        self._finalizer = weakref.finalize(self, shutdown, self._watch, self.conns)

    def close(self) -> None:
        """Stop the listener and close this process's connections (also done when the store is collected)."""
        self._finalizer()

    # -- reading -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """Return True once the store holds a current version."""
        with self.conns.conn() as conn:
            return conn.execute(f"SELECT 1 FROM {CURRENT}").fetchone() is not None

    def version(self) -> str:
        """Return the current version id: cached, updated by NOTIFY and re-read at most once a second."""
        return self._watch.get()

    def snapshot(self, version_id: str | None = None) -> PostgisSnapshot:
        """Return a pinned view of one version (the current one by default)."""
        vid = version_id or self._watch.refresh()
        with self.conns.conn() as conn:
            if conn.execute(f"SELECT 1 FROM {VERSIONS} WHERE id = %s", (vid,)).fetchone() is None:
                raise StoreError(f"no version {vid!r} in {self.location}")
        return PostgisSnapshot(self, vid)

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Read one layer of the current version."""
        return self.snapshot().read(layer)

    def layer_names(self) -> list[str]:
        """Return the layers present in the current version."""
        return self.snapshot().layer_names()

    def metadata(self) -> dict[str, Any]:
        """Return ``metadata.json`` of the current version, or an empty dict."""
        return self.snapshot().metadata()

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the description of a version (the current one by default)."""
        vid = version_id or self._watch.refresh()
        with self.conns.conn() as conn:
            row = conn.execute(f"SELECT info FROM {VERSIONS} WHERE id = %s", (vid,)).fetchone()
        if row is None:
            raise StoreError(f"no version {vid!r} in {self.location}")
        return VersionInfo(**row[0])

    def _file(self, version_id: str, name: str) -> bytes | None:
        with self.conns.conn() as conn:
            row = conn.execute(f"SELECT data FROM {FILES} WHERE version = %s AND name = %s",
                               (version_id, name)).fetchone()
        return bytes(row[0]) if row is not None else None

    def list_versions(self) -> list[VersionInfo]:
        """Return every complete version, oldest first."""
        with self.conns.conn() as conn:
            rows = conn.execute(f"SELECT info FROM {VERSIONS} ORDER BY seq").fetchall()
        return [VersionInfo(**r[0]) for r in rows]

    def resolve(self, ref: str) -> str:
        """Turn a user's version reference into a full id: the id, its number (``3``) or a unique prefix.

        Raises
        ------
        StoreError
            If nothing or more than one version matches.
        """
        return resolve_ref([v.id for v in self.list_versions()], ref)

    def verify(self, version_id: str | None = None) -> list[str]:
        """Check a version's rows and files against the digests and SHA-256 recorded when it was written.

        Returns
        -------
        list of str
            Problems found; empty when the version is complete and intact.
        """
        vid = version_id or self.version()
        try:
            info = self.info(vid)
        except StoreError as exc:
            return [f"{vid}: {exc}"]
        problems = []
        with self.conns.conn() as conn:
            layers = {r[0]: (r[1], r[2]) for r in conn.execute(
                f"SELECT l.layer, l.data_id, d.digest FROM {LAYERS_TABLE} l JOIN {LAYER_DATA} d USING (data_id) "
                f"WHERE l.version = %s", (vid,)).fetchall()}
            files = {r[0]: bytes(r[1]) for r in conn.execute(
                f"SELECT name, data FROM {FILES} WHERE version = %s", (vid,)).fetchall()}
            for name, digest in info.hashes.items():
                layer = name.removesuffix(".geojson")
                if name.endswith(".geojson") and layer in LAYERS:
                    if layer not in layers:
                        problems.append(f"{vid}: {name} missing")
                    elif (layers[layer][0] != f"{layer}:{digest}"
                          or row_digest(conn, layer, layers[layer][0]) != layers[layer][1]):
                        problems.append(f"{vid}: {name} does not match its recorded hash")
                elif name not in files:
                    problems.append(f"{vid}: {name} missing")
                elif _sha(files[name]) != digest:
                    problems.append(f"{vid}: {name} does not match its recorded hash")
        return problems

    def history(self) -> list[HistoryEntry]:
        """Return every change of the served version, oldest first (see :class:`~app.geo.store.HistoryEntry`)."""
        with self.conns.conn() as conn:
            rows = conn.execute(f"SELECT entry FROM {HISTORY} ORDER BY n").fetchall()
        return [HistoryEntry.from_dict(r[0]) for r in rows]

    # -- writing -----------------------------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store's exclusive write lock (a session-level advisory lock, across processes and machines).

        Raises
        ------
        StoreBusy
            If another writer holds it for longer than ``lock_timeout``.
        """
        return self._lock_none(self.lock_timeout)

    @contextlib.contextmanager
    def _lock_none(self, timeout: float) -> Iterator[None]:
        with self._locked(timeout):
            yield

    @contextlib.contextmanager
    def _locked(self, timeout: float) -> Iterator[Any]:
        """Hold the writer lock on a dedicated connection and yield it (re-entrant within one thread)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        conn = connect(self.url)
        try:
            with self.conns.conn():
                pass  # the schema exists before anyone writes
            deadline = time.monotonic() + timeout
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK_NAME,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise StoreBusy(f"another import or rollback is running on {self.location}; try again")
                time.sleep(0.05)
            self._local.conn = conn
            try:
                yield conn
            except psycopg.OperationalError as exc:  # the connection broke: nothing of the change was committed
                raise StoreUnavailable(f"lost the store database {self.location}: {exc.__class__.__name__}") from None
            finally:
                self._local.conn = None
        finally:
            conn.close()  # closing the session releases the lock

    def recover(self) -> None:
        """Remove layer rows no version uses; a no-op when another writer holds the lock.

        Every change is one transaction, so a killed writer leaves nothing half-done to finish:
        its rows, version, history entry and switch of ``current`` were all rolled back together.
        """
        with contextlib.suppress(StoreBusy), self._locked(0.0) as conn, conn.transaction():
            _drop_unused(conn)

    def _current_id(self, conn: Any) -> str | None:
        row = conn.execute(f"SELECT version FROM {CURRENT}").fetchone()
        return row[0] if row is not None else None

    def commit(
        self,
        layers: dict[str, gpd.GeoDataFrame | bytes],
        *,
        author: str,
        message: str,
        source: str = "import",
        extra_files: dict[str, bytes] | None = None,
        base: str | None = "current",
        expect: str | None = None,
    ) -> VersionInfo:
        """Write a new version made of the current one with ``layers`` replaced, and make it current.

        Everything (the layer rows by COPY, the version, its history entry, retention and the switch
        of ``current``) is one transaction: a process killed at any point leaves the previous
        version current and nothing of the new one.

        Parameters
        ----------
        layers : dict
            Layer name -> GeoDataFrame (EPSG:4326) or ready GeoJSON bytes.
        author : str
            Who made the change.
        message : str
            What it was, e.g. ``import grids from grids.shp.zip``.
        source : str
            ``seed``, ``import`` or similar.
        extra_files : dict, optional
            Further files (``metadata.json``) to keep with the version.
        base : str or None
            ``"current"`` to start from the current version, None to start empty.
        expect : str, optional
            The version the change was checked against; if another writer moved the store
            since, nothing is written and :class:`StoreError` is raised.

        Returns
        -------
        VersionInfo
            The new current version (the current one when nothing changed).
        """
        check_layer_names(layers)
        payload: dict[str, bytes] = {}
        for name, value in layers.items():
            payload[name] = bytes(value) if isinstance(value, bytes | bytearray) else dump_geojson(value, name=name)
        extra_files = extra_files or {}
        with self._locked(self.lock_timeout) as conn:
            current_id = self._current_id(conn)
            if expect is not None and current_id is not None and current_id != expect:
                raise StoreError(f"the data changed to version {current_id} while this import was checked "
                                 f"against {expect}; run the import again")
            current = PostgisSnapshot(self, current_id) if current_id is not None else None
            parent = current if base == "current" else None
            carried = parent.info().hashes if parent is not None else {}
            hashes: dict[str, str] = {}
            for name in LAYERS:
                file = f"{name}.geojson"
                if name in payload:
                    hashes[file] = _sha(payload[name])
                elif file in carried:
                    hashes[file] = carried[file]
            files: dict[str, bytes] = {}
            for name in EXTRA_FILES:
                data = extra_files.get(name)
                if data is None and parent is not None and name in carried:
                    data = self._file(parent.version_id, name)
                if data is not None:
                    files[name] = data
                    hashes[name] = _sha(data)
            if current is not None and hashes == current.info().hashes:
                return current.info()
            if not any(f.endswith(".geojson") for f in hashes):
                raise StoreError("a version needs at least one layer")
            frames = {n: _canonical(n, data) for n, data in payload.items()}
            counts = {n: len(f) for n, f in frames.items()}
            if parent is not None:
                parent_counts = parent.info().counts
                counts.update({n: parent_counts[n] for n in LAYERS
                               if n not in payload and f"{n}.geojson" in hashes and n in parent_counts})
            counts = {n: counts[n] for n in LAYERS if n in counts}
            if parent is not None:
                summary = summarise(parent, {**{n: None for n in payload},
                                             **{n: f for n, f in frames.items() if n == "grids"}}, counts)
            else:
                summary = {"layers": {n: {"before": None, "after": c} for n, c in counts.items()}}
            if parent is None or all(f"{n}.geojson" not in hashes or n in payload for n in LAYERS):
                content = content_hash(payload)
            else:
                content = _sha("".join(f"{k}={v};" for k, v in sorted(hashes.items())
                                       if k.endswith(".geojson")).encode())[:12]
            with conn.transaction():
                seq = conn.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {VERSIONS}").fetchone()[0]
                vid = f"{seq:04d}-{content[:7]}"
                info = VersionInfo(
                    id=vid, created=_now(), author=author, message=message,
                    parent=parent.version_id if parent is not None else None, source=source,
                    counts=counts, summary=summary, hashes=hashes, content_hash=content,
                )
                conn.execute(f"INSERT INTO {VERSIONS} (seq, id, info) VALUES (%s, %s, %s)",
                             (seq, vid, json.dumps(info.to_dict(), ensure_ascii=False)))
                for name in LAYERS:
                    digest = hashes.get(f"{name}.geojson")
                    if digest is None:
                        continue
                    if name in frames:
                        _store_layer(conn, name, f"{name}:{digest}", frames[name])
                    conn.execute(f"INSERT INTO {LAYERS_TABLE} (version, layer, data_id) VALUES (%s, %s, %s)",
                                 (vid, name, f"{name}:{digest}"))
                for name, data in files.items():
                    conn.execute(f"INSERT INTO {FILES} (version, name, data) VALUES (%s, %s, %s)", (vid, name, data))
                pruned = to_prune([v.id for v in self._versions(conn)], self._history(conn), self.keep_versions,
                                  protect=[vid] + ([current_id] if current_id else [])) if self.keep_versions else []
                entry = new_entry("commit", vid, id=vid, previous=current_id, author=author, source=source,
                                  message=message, layers=sorted(payload), pruned=pruned)
                self._switch(conn, entry, vid)
                if pruned:
                    conn.execute(f"DELETE FROM {VERSIONS} WHERE id = ANY(%s)", (pruned,))
                    _drop_unused(conn)
            self._watch.set(vid)
            return info

    def _versions(self, conn: Any) -> list[VersionInfo]:
        return [VersionInfo(**r[0]) for r in conn.execute(f"SELECT info FROM {VERSIONS} ORDER BY seq").fetchall()]

    def _history(self, conn: Any) -> list[HistoryEntry]:
        return [HistoryEntry.from_dict(r[0]) for r in conn.execute(f"SELECT entry FROM {HISTORY} ORDER BY n")]

    def _switch(self, conn: Any, entry: HistoryEntry, vid: str) -> None:
        """Record ``entry`` and make ``vid`` current, in the caller's transaction, and tell the listeners."""
        conn.execute(f"INSERT INTO {HISTORY} (entry) VALUES (%s)", (json.dumps(entry.to_dict(), ensure_ascii=False),))
        conn.execute(f"INSERT INTO {CURRENT} (one, version) VALUES (true, %s) "
                     f"ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version", (vid,))
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, vid))

    def rollback(self, ref: str, *, author: str = "", change_id: str | None = None,
                 ) -> tuple[VersionInfo, dict[str, Any]]:
        """Make an earlier (or later) stored version current again, in one transaction.

        Parameters
        ----------
        ref : str
            Version id, number or unique prefix.
        author : str
            Who rolls back, for the history.
        change_id : str, optional
            The id of the change's history entry (a random one when None).

        Returns
        -------
        tuple
            The version now current and a summary of what changed compared with the one before.
        """
        with self._locked(self.lock_timeout) as conn:
            vid = self.resolve(ref)
            problems = self.verify(vid)
            if problems:
                raise StoreError("; ".join(problems))
            current_id = self._current_id(conn)
            before = PostgisSnapshot(self, current_id) if current_id is not None else None
            target = PostgisSnapshot(self, vid)
            if current_id == vid:
                raise StoreError(f"version {vid} is already current")
            new_grids = {"grids": target.read("grids")} if "grids" in target.layer_names() else {}
            summary = summarise(before, new_grids, target.info().counts)
            entry = new_entry("rollback", vid, id=change_id, author=author, summary=summary, previous=current_id)
            with conn.transaction():
                self._switch(conn, entry, vid)
            self._watch.set(vid)
            return target.info(), summary

    def seed_from(self, folder: str | Path, author: str = "system") -> VersionInfo | None:
        """Make ``folder`` (a plain geodata folder) a new version if it differs from the current one.

        Returns
        -------
        VersionInfo or None
            The new version, or None when nothing had to be done.
        """
        folder = Path(folder)
        present = [n for n in LAYERS if layer_path(folder, n).exists()]
        if not present:
            raise StoreError(f"{folder} holds no GeoJSON layers to seed the store from")
        digest = folder_version(folder)
        if self.exists():
            versions = self.list_versions()
            if any(v.source != "seed" for v in versions) or self.info().content_hash == digest:
                return None
        with self.lock():
            if self.exists() and self.info().content_hash == digest:
                return None
            extra = {n: (folder / n).read_bytes() for n in EXTRA_FILES if (folder / n).exists()}
            return self.commit({n: layer_path(folder, n).read_bytes() for n in present}, author=author,
                               message=f"seeded from {folder}", source="seed", extra_files=extra, base=None)


def _canonical(layer: str, data: bytes) -> gpd.GeoDataFrame:
    """Return a layer's GeoJSON bytes as a frame, or refuse bytes that are no readable GeoJSON."""
    try:
        return canonical(data)
    except Exception as exc:  # noqa: BLE001 - pyogrio's errors have no common base
        raise StoreError(f"layer {layer}: not readable GeoJSON ({exc.__class__.__name__})") from None


def _store_layer(conn: Any, layer: str, data_id: str, frame: gpd.GeoDataFrame) -> None:
    """Write one layer content's rows unless the store holds them already (another version shares them)."""
    if conn.execute(f"SELECT 1 FROM {LAYER_DATA} WHERE data_id = %s", (data_id,)).fetchone() is not None:
        return
    copy_rows(conn, layer, data_id, frame)
    conn.execute(f"INSERT INTO {LAYER_DATA} (data_id, layer, columns, count, digest) VALUES (%s, %s, %s, %s, %s)",
                 (data_id, layer, json.dumps(columns_of(frame), ensure_ascii=False), len(frame),
                  row_digest(conn, layer, data_id)))


def _drop_unused(conn: Any) -> None:
    """Delete layer contents no version refers to any more (in the caller's transaction)."""
    unused = conn.execute(f"SELECT data_id, layer FROM {LAYER_DATA} d WHERE NOT EXISTS "
                          f"(SELECT 1 FROM {LAYERS_TABLE} l WHERE l.data_id = d.data_id)").fetchall()
    for data_id, layer in unused:
        conn.execute(f"DELETE FROM {layer_table(layer)} WHERE data_id = %s", (data_id,))
        conn.execute(f"DELETE FROM {LAYER_DATA} WHERE data_id = %s", (data_id,))
