"""The embedded GeoJSON backend: a versioned store of immutable version folders, or a plain folder read-only."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.geo._durable import atomic_write, fsync_dir, write_durable
from app.geo._geojson_folder import (
    VERSION_META,
    FolderStore,
    VersionSnapshot,
    content_hash,
    count_features,
    folder_version,
    layer_path,
    load_info,
)
from app.geo._geojson_history import HISTORY, append, new_entry, read_history, seq_of, settle, to_prune
from app.geo.changes import summarise
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

if TYPE_CHECKING:  # imported by commit: opening a store to read a version needs neither geopandas nor pandas
    import geopandas as gpd

__all__ = ["FolderStore", "VersionSnapshot", "VersionedStore", "content_hash", "folder_version", "layer_path",
           "open_geojson"]

#: Name of the pointer file that holds the current version id.
POINTER = "CURRENT"
#: Extra files carried from version to version besides the layers.
EXTRA_FILES: tuple[str, ...] = ("metadata.json",)

_ID_RE = re.compile(r"^(\d{4,})-([0-9a-f]{7})$")


def open_geojson(path: str, keep_versions: int = 0) -> Store:
    """Open a folder as the GeoJSON backend (the factory :func:`app.geo.store.open_store` calls).

    A folder with a ``CURRENT`` pointer or a ``versions/`` folder, or one that is empty or does not
    exist yet, is a :class:`VersionedStore`; a folder of plain ``<layer>.geojson`` files is a
    read-only :class:`FolderStore`.

    Parameters
    ----------
    path : str
        The folder.
    keep_versions : int
        For a versioned store: how many versions a commit keeps (0 = all).

    Returns
    -------
    Store
        The store over it.
    """
    folder = Path(path)
    if (folder / POINTER).exists() or (folder / "versions").is_dir():
        return VersionedStore(folder, keep_versions=keep_versions)
    if any(layer_path(folder, n).exists() for n in LAYERS):
        return FolderStore(folder)
    return VersionedStore(folder, keep_versions=keep_versions)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class VersionedStore:
    """A writable store of immutable versions under ``root``.

    Layout::

        root/CURRENT                      id of the served version (replaced atomically)
        root/history.jsonl                every change of CURRENT, fsynced before CURRENT moves
        root/versions/<id>/<layer>.geojson
        root/versions/<id>/version.json   who, when, what changed, per-file SHA-256
        root/.lock                        fcntl lock held while a version is written
        root/staging/                     half-written versions (removed under the lock)

    The history is the record of truth: a change is made once its line is written. Whoever takes
    the lock next (or opens the store, :meth:`recover`) finishes what a killed writer left: moves
    CURRENT to the version the history names, removes folders it pruned, and removes a version a
    commit wrote but never recorded.

    Parameters
    ----------
    root : str or Path
        The store folder (created if missing).
    lock_timeout : float
        Seconds to wait for another writer before raising :class:`StoreBusy`.
    keep_versions : int
        Versions a commit keeps: the newest ones, besides those someone rolled back to and the one
        it replaced; 0 keeps all.
    """

    writable = True

    def __init__(self, root: str | Path, lock_timeout: float = 30.0, keep_versions: int = 0) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.lock_timeout = lock_timeout
        self.keep_versions = keep_versions
        self._stamp: tuple[int, int, int] | None = None
        self._current = ""
        self._stat_lock = threading.Lock()

    # -- reading -----------------------------------------------------------------------------

    @property
    def versions_dir(self) -> Path:
        """The folder that holds one sub-folder per version."""
        return self.root / "versions"

    @property
    def pointer(self) -> Path:
        """The CURRENT pointer file."""
        return self.root / POINTER

    def exists(self) -> bool:
        """Return True once the store holds a current version."""
        return self.pointer.exists()

    def version(self) -> str:
        """Return the current version id; re-read only when the pointer file's stat changes."""
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError as exc:
            raise StoreError(f"store {self.root} has no current version (no {POINTER} file)") from exc
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            with self._stat_lock:
                text = self.pointer.read_text(encoding="ascii").strip()
                if not _ID_RE.match(text):
                    raise StoreError(f"store {self.root}: {POINTER} holds {text!r}, not a version id")
                self._current, self._stamp = text, stamp
        return self._current

    def snapshot(self, version_id: str | None = None) -> VersionSnapshot:
        """Return a pinned view of one version (the current one by default)."""
        vid = version_id or self.version()
        folder = self.versions_dir / vid
        if not (folder / VERSION_META).exists():
            raise StoreError(f"no version {vid!r} in {self.root}")
        return VersionSnapshot(folder, vid)

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Read one layer of the current version."""
        return self.snapshot().read(layer)

    def layer_names(self) -> list[str]:
        """Return the layers present in the current version."""
        return self.snapshot().layer_names()

    def metadata(self) -> dict:
        """Return ``metadata.json`` of the current version, or an empty dict."""
        return self.snapshot().metadata()

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the description of a version (the current one by default)."""
        return self.snapshot(version_id).info()

    def list_versions(self) -> list[VersionInfo]:
        """Return every complete version, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        out = []
        for p in self.versions_dir.iterdir():
            if _ID_RE.match(p.name) and (p / VERSION_META).exists():
                with contextlib.suppress(OSError, ValueError, TypeError):
                    out.append(load_info(p))
        return sorted(out, key=lambda v: v.seq)

    def resolve(self, ref: str) -> str:
        """Turn a user's version reference into a full id: the id, its number (``3``) or a unique prefix.

        Raises
        ------
        StoreError
            If nothing or more than one version matches.
        """
        return resolve_ref([v.id for v in self.list_versions()], ref)

    def verify(self, version_id: str | None = None) -> list[str]:
        """Check a version's files against the SHA-256 recorded in its version.json.

        Returns
        -------
        list of str
            Problems found; empty when the version is complete and intact.
        """
        folder = self.versions_dir / (version_id or self.version())
        try:
            info = load_info(folder)
        except (OSError, ValueError, TypeError) as exc:
            return [f"{folder.name}: unreadable {VERSION_META}: {exc}"]
        problems = []
        for name, digest in info.hashes.items():
            p = folder / name
            if not p.exists():
                problems.append(f"{folder.name}: {name} missing")
            elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
                problems.append(f"{folder.name}: {name} does not match its recorded hash")
        return problems

    def history(self) -> list[HistoryEntry]:
        """Return every change of the served version, oldest first (see :class:`~app.geo.store.HistoryEntry`)."""
        return read_history(self.root)

    # -- writing -----------------------------------------------------------------------------

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store's exclusive write lock (across processes and threads).

        On taking it, what a killed writer left is finished first.

        Raises
        ------
        StoreBusy
            If another writer holds it for longer than ``lock_timeout``.
        """
        return self._locked(self.lock_timeout)

    def recover(self) -> None:
        """Finish what a writer killed mid-change left; a no-op when nothing is or another writer is at work."""
        if not any(self._leftovers()[:3]):
            return
        with contextlib.suppress(StoreBusy), self._locked(0.0):
            pass  # taking the lock recovers

    @contextlib.contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise StoreBusy(f"another import or rollback is running on {self.root}; try again") from exc
                    time.sleep(0.05)
            self._recover_locked()
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _leftovers(self) -> tuple[list[Path], list[str], str | None, bool]:
        """Return what is left undone: junk files, versions to remove, the pointer's due target, a missing baseline."""
        staging = self.root / "staging"
        junk = [*(staging.iterdir() if staging.is_dir() else ()), *self.root.glob(f".{POINTER}.tmp-*")]
        present = [p.name for p in self.versions_dir.iterdir() if _ID_RE.match(p.name)] \
            if self.versions_dir.is_dir() else []
        try:
            current: str | None = self.pointer.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            current = None
        history = self.history()
        remove, pointer = settle(history, present, current)
        return junk, remove, pointer, bool(present) and not (self.root / HISTORY).exists()

    def _recover_locked(self) -> None:
        junk, remove, pointer, baseline = self._leftovers()
        for p in junk:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
        if baseline:  # a store from before the history: what it holds now is where the history starts
            current = self.pointer.read_text(encoding="ascii").strip() if self.exists() else None
            versions = sorted((p.name for p in self.versions_dir.iterdir() if _ID_RE.match(p.name)), key=seq_of)
            append(self.root, new_entry("baseline", current, id="baseline", author="system", versions=versions))
        if pointer is not None:
            self._set_pointer(pointer)
        if remove:
            self._remove_versions(remove)

    def _remove_versions(self, version_ids: list[str]) -> None:
        """Remove version folders, each first renamed out of ``versions/`` so none is ever seen half-removed."""
        trash = self.root / "staging"
        trash.mkdir(parents=True, exist_ok=True)
        for vid in version_ids:
            gone = trash / f"removed-{vid}-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.versions_dir / vid, gone)
        fsync_dir(self.versions_dir)
        for p in trash.glob("removed-*"):
            shutil.rmtree(p, ignore_errors=True)

    def _set_pointer(self, version_id: str) -> None:
        atomic_write(self.pointer, (version_id + "\n").encode("ascii"))

    def _next_seq(self) -> int:
        seqs = [int(p.name.split("-")[0]) for p in self.versions_dir.iterdir() if _ID_RE.match(p.name)] \
            if self.versions_dir.is_dir() else []
        return max(seqs, default=0) + 1

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

        The version is built in a staging folder, every file fsynced, the folder renamed into
        ``versions/``, the commit written to the history and only then the CURRENT pointer
        replaced atomically. A process killed at any point leaves a complete version current:
        the previous one, or the new one once its history line is written (the next writer or
        :meth:`recover` moves the pointer). Then versions beyond ``keep_versions`` are removed.

        Layers and files identical to the current version's make no version: the current one is
        returned unchanged, and nothing is written.

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
            Further files (e.g. ``metadata.json``) to write into the version.
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
        import geopandas as gpd

        from app.geo.geojson import dump_geojson

        check_layer_names(layers)
        with self.lock():
            if expect is not None and self.exists() and self.version() != expect:
                raise StoreError(f"the data changed to version {self.version()} while this import was checked "
                                 f"against {expect}; run the import again")
            current = self.snapshot() if self.exists() else None
            parent = current if base == "current" else None
            payload: dict[str, bytes] = {}
            frames: dict[str, gpd.GeoDataFrame] = {}
            for name, value in layers.items():
                if isinstance(value, bytes | bytearray):
                    payload[name] = bytes(value)
                else:
                    payload[name] = dump_geojson(value, name=name)
                    frames[name] = value
            if current is not None and self._same_files(current, parent, payload, extra_files or {}):
                return current.info()
            staging = self.root / "staging" / uuid.uuid4().hex
            staging.mkdir(parents=True)
            hashes: dict[str, str] = {}
            counts: dict[str, int] = {}
            all_bytes: dict[str, bytes] = {}
            for name in LAYERS:
                target = layer_path(staging, name)
                if name in payload:
                    data = payload[name]
                    write_durable(target, data)
                elif parent is not None and layer_path(parent.folder, name).exists():
                    src = layer_path(parent.folder, name)
                    try:
                        os.link(src, target)  # versions are immutable, so sharing the inode is safe
                    except OSError:
                        shutil.copyfile(src, target)
                        with open(target, "rb") as fh:
                            os.fsync(fh.fileno())
                    data = target.read_bytes()
                else:
                    continue
                all_bytes[name] = data
                hashes[target.name] = hashlib.sha256(data).hexdigest()
                counts[name] = len(frames[name]) if name in frames else count_features(data)
            for name in EXTRA_FILES:
                data = (extra_files or {}).get(name)
                if data is None and parent is not None and (Path(parent.folder) / name).exists():
                    data = (Path(parent.folder) / name).read_bytes()
                if data is not None:
                    write_durable(staging / name, data)
                    hashes[name] = hashlib.sha256(data).hexdigest()
            if not all_bytes:
                shutil.rmtree(staging, ignore_errors=True)
                raise StoreError("a version needs at least one layer")
            if parent is not None:
                new_frames = {n: (frames[n] if n in frames else gpd.read_file(layer_path(staging, n), engine="pyogrio"))
                              for n in payload if n == "grids"}
                summary = summarise(parent, {**{n: None for n in payload}, **new_frames}, counts)
            else:
                summary = {"layers": {n: {"before": None, "after": c} for n, c in counts.items()}}
            content = content_hash(all_bytes)
            vid = f"{self._next_seq():04d}-{content[:7]}"
            info = VersionInfo(
                id=vid, created=_now(), author=author, message=message,
                parent=parent.version_id if parent is not None else None, source=source,
                counts=counts, summary=summary, hashes=hashes, content_hash=content,
            )
            write_durable(staging / VERSION_META,
                           json.dumps(info.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
            fsync_dir(staging)
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            os.rename(staging, self.versions_dir / vid)
            fsync_dir(self.versions_dir)
            previous = current.version_id if current is not None else None
            # the version replaced stays too: requests that started on it may still read its layers
            pruned = to_prune([v.id for v in self.list_versions()], self.history(), self.keep_versions,
                              protect=[vid] + ([previous] if previous else [])) if self.keep_versions else []
            append(self.root, new_entry("commit", vid, id=vid, previous=previous, author=author, source=source,
                                        message=message, layers=sorted(payload), pruned=pruned))
            self._set_pointer(vid)
            if pruned:
                self._remove_versions(pruned)
            return info

    @staticmethod
    def _same_files(current: VersionSnapshot, parent: VersionSnapshot | None, payload: dict[str, bytes],
                    extra_files: dict[str, bytes]) -> bool:
        """Return True when the version ``commit`` would make has exactly the files of ``current``."""
        recorded = current.info().hashes
        carried = parent.info().hashes if parent is not None else {}
        want = {f"{n}.geojson": hashlib.sha256(data).hexdigest() for n, data in payload.items()}
        for name in LAYERS:
            file = f"{name}.geojson"
            if name not in payload and file in carried:
                want[file] = carried[file]
        for name in EXTRA_FILES:
            if name in extra_files:
                want[name] = hashlib.sha256(extra_files[name]).hexdigest()
            elif name in carried:
                want[name] = carried[name]
        return want == recorded

    def rollback(self, ref: str, *, author: str = "", change_id: str | None = None,
                 ) -> tuple[VersionInfo, dict[str, Any]]:
        """Make an earlier (or later) stored version current again.

        Parameters
        ----------
        ref : str
            Version id, number or unique prefix.
        author : str
            Who rolls back, for the history.
        change_id : str, optional
            The id of the change's history entry (a random one when None), so that the caller
            can name its own record of it.

        Returns
        -------
        tuple
            The version now current and a summary of what changed compared with the one before.
        """
        with self.lock():
            vid = self.resolve(ref)
            problems = self.verify(vid)
            if problems:
                raise StoreError("; ".join(problems))
            before = self.snapshot() if self.exists() else None
            target = self.snapshot(vid)
            if before is not None and before.version_id == vid:
                raise StoreError(f"version {vid} is already current")
            new_grids = {"grids": target.read("grids")} if "grids" in target.layer_names() else {}
            summary = summarise(before, new_grids, target.info().counts)
            append(self.root, new_entry("rollback", vid, id=change_id, author=author, summary=summary,
                                        previous=before.version_id if before is not None else None))
            self._set_pointer(vid)
            return target.info(), summary

    def seed_from(self, folder: str | Path, author: str = "system") -> VersionInfo | None:
        """Make ``folder`` (a plain geodata folder) a new version if it differs from the current one.

        Used on start to turn the committed demo data into version 1, and to pick up a regenerated
        demo while the store has never had an import.

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
