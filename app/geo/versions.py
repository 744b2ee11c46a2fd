"""A versioned GeoJSON store: immutable version folders, an atomic CURRENT pointer, a lock and rollback."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo.schema import COORD_PRECISION, LAYERS
from app.geo.store import DataManager, Dataset, FolderStore, Store, folder_version, layer_path

#: Name of the pointer file that holds the current version id.
POINTER = "CURRENT"
#: File inside each version folder describing it.
VERSION_META = "version.json"
#: Extra files carried from version to version besides the layers.
EXTRA_FILES: tuple[str, ...] = ("metadata.json",)

_ID_RE = re.compile(r"^(\d{4,})-([0-9a-f]{7})$")


class StoreError(RuntimeError):
    """A store operation that cannot be done, with a message that names the problem."""


class StoreBusy(StoreError):
    """Another process holds the store's lock."""


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
        """The sequence number at the front of the id."""
        return int(self.id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return {
            "id": self.id, "created": self.created, "author": self.author, "message": self.message,
            "parent": self.parent, "source": self.source, "counts": self.counts, "summary": self.summary,
            "hashes": self.hashes, "content_hash": self.content_hash,
        }


# --------------------------------------------------------------------------- GeoJSON writing


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def dump_geojson(gdf: gpd.GeoDataFrame) -> bytes:
    """Serialise a layer as RFC 7946 GeoJSON with coordinates rounded to 6 decimals.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer in EPSG:4326.

    Returns
    -------
    bytes
        UTF-8 JSON, one feature per line, byte-identical for identical input.
    """
    geoms = shapely.set_precision(gdf.geometry.values, 10.0 ** -COORD_PRECISION, mode="pointwise") \
        if len(gdf) else gdf.geometry.values
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    records = gdf[cols].astype(object).where(gdf[cols].notna(), None).to_dict("records") if cols else [{}] * len(gdf)
    lines = []
    for props, geom in zip(records, geoms, strict=True):
        gjson = None if geom is None or shapely.is_empty(geom) else json.loads(shapely.to_geojson(geom))
        feature = {"type": "Feature", "properties": {k: _plain(v) for k, v in props.items()}, "geometry": gjson}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    body = ",\n".join(lines)
    return ('{"type":"FeatureCollection","features":[\n' + body + "\n]}\n").encode("utf-8")


# --------------------------------------------------------------------------- durable file helpers


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: write a temp file, fsync, rename, fsync the folder.

    Parameters
    ----------
    path : Path
        The file to replace.
    data : bytes
        Its new content.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        _write_durable(tmp, data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _content_hash(layer_bytes: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for layer in LAYERS:
        if layer in layer_bytes:
            h.update(layer.encode())
            h.update(layer_bytes[layer])
    return h.hexdigest()[:12]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- change summary


def grid_changes(old: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame | None) -> dict[str, list[str]]:
    """Compare two grid layers by code: which grids were added, removed and reshaped.

    Parameters
    ----------
    old, new : geopandas.GeoDataFrame or None
        The grid layers before and after (None when absent).

    Returns
    -------
    dict
        ``{"added": [...], "removed": [...], "reshaped": [...]}``, codes sorted.
    """
    def by_code(gdf: gpd.GeoDataFrame | None) -> dict[str, Any]:
        if gdf is None or "code" not in gdf.columns:
            return {}
        return dict(zip(gdf["code"].astype(str), gdf.geometry.values, strict=True))

    a, b = by_code(old), by_code(new)
    common = sorted(set(a) & set(b))
    reshaped = []
    for code in common:
        ga, gb = a[code], b[code]
        if ga is None or gb is None:
            if (ga is None) != (gb is None):
                reshaped.append(code)
            continue
        if not shapely.equals_exact(shapely.normalize(ga), shapely.normalize(gb), tolerance=5e-7):
            reshaped.append(code)
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)), "reshaped": reshaped}


def summarise(old: Store | None, new_layers: dict[str, gpd.GeoDataFrame], new_counts: dict[str, int]) -> dict[str, Any]:
    """Summarise a change: grids added/removed/reshaped and feature counts before and after per layer.

    Parameters
    ----------
    old : Store or None
        The version being replaced (None for the first version).
    new_layers : dict
        Layers that were replaced, as GeoDataFrames.
    new_counts : dict
        Feature counts of every layer in the new version.

    Returns
    -------
    dict
        ``{"layers": {name: {"before": n, "after": m}}, "grids": {"added": [...], ...}}``.
    """
    old_counts: dict[str, int] = {}
    if old is not None:
        info = getattr(old, "info", None)
        old_counts = dict(info().counts) if callable(info) else {}
    out: dict[str, Any] = {"layers": {}}
    for name in LAYERS:
        before, after = old_counts.get(name), new_counts.get(name)
        if name in new_layers or before != after:
            out["layers"][name] = {"before": before, "after": after}
    if "grids" in new_layers:
        old_grids = None
        if old is not None and "grids" in old.layer_names():
            old_grids = old.read("grids")
        out["grids"] = grid_changes(old_grids, new_layers["grids"])
    return out


def format_summary(summary: dict[str, Any], limit: int = 8) -> str:
    """Return a one-line human summary of a change summary dict.

    Parameters
    ----------
    summary : dict
        As made by :func:`summarise`.
    limit : int
        How many codes to name per kind before "…".

    Returns
    -------
    str
        E.g. ``grids: +3 added, -1 removed, 2 reshaped (620201001001004, …)``.
    """
    parts = []
    grids = summary.get("grids")
    if grids:
        bits = []
        for kind in ("added", "removed", "reshaped"):
            codes = grids.get(kind, [])
            shown = ", ".join(codes[:limit]) + (", …" if len(codes) > limit else "")
            bits.append(f"{len(codes)} {kind}" + (f" ({shown})" if codes else ""))
        parts.append("grids: " + "; ".join(bits))
    for name, c in summary.get("layers", {}).items():
        if name == "grids" and grids:
            continue
        parts.append(f"{name}: {c.get('before')} → {c.get('after')}")
    return " | ".join(parts) if parts else "no change"


# --------------------------------------------------------------------------- stores


class VersionSnapshot(FolderStore):
    """One stored version, pinned: reads never move to another version.

    Parameters
    ----------
    folder : Path
        The version's folder.
    version_id : str
        Its id.
    """

    def __init__(self, folder: str | Path, version_id: str) -> None:
        super().__init__(folder)
        self.version_id = version_id

    def version(self) -> str:
        """Return the pinned version id."""
        return self.version_id

    def info(self) -> VersionInfo:
        """Return the version's description."""
        return _load_info(Path(self.folder))


def _load_info(folder: Path) -> VersionInfo:
    raw = json.loads((folder / VERSION_META).read_text(encoding="utf-8"))
    return VersionInfo(**raw)


class VersionedStore:
    """A writable store of immutable versions under ``root``.

    Layout::

        root/CURRENT                      id of the served version (replaced atomically)
        root/versions/<id>/<layer>.geojson
        root/versions/<id>/version.json   who, when, what changed, per-file SHA-256
        root/.lock                        fcntl lock held while a version is written
        root/staging/                     half-written versions (removed under the lock)

    Parameters
    ----------
    root : str or Path
        The store folder (created if missing).
    lock_timeout : float
        Seconds to wait for another writer before raising :class:`StoreBusy`.
    """

    def __init__(self, root: str | Path, lock_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
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
                    out.append(_load_info(p))
        return sorted(out, key=lambda v: v.seq)

    def resolve(self, ref: str) -> str:
        """Turn a user's version reference into a full id: the id, its number (``3``) or a unique prefix.

        Raises
        ------
        StoreError
            If nothing or more than one version matches.
        """
        ref = ref.strip()
        ids = [v.id for v in self.list_versions()]
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

    def verify(self, version_id: str | None = None) -> list[str]:
        """Check a version's files against the SHA-256 recorded in its version.json.

        Returns
        -------
        list of str
            Problems found; empty when the version is complete and intact.
        """
        folder = self.versions_dir / (version_id or self.version())
        try:
            info = _load_info(folder)
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

    # -- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive write lock (across processes and threads).

        Raises
        ------
        StoreBusy
            If another writer holds it for longer than ``lock_timeout``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
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
            self._clean_staging()
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _clean_staging(self) -> None:
        staging = self.root / "staging"
        if staging.is_dir():
            for p in staging.iterdir():
                shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(f".{POINTER}.tmp-*"):
            with contextlib.suppress(OSError):
                p.unlink()

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
        ``versions/`` and only then the CURRENT pointer replaced atomically. A process killed at
        any point leaves the previous version current and complete.

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
            The new current version.
        """
        unknown = set(layers) - set(LAYERS)
        if unknown:
            raise StoreError(f"unknown layer(s): {', '.join(sorted(unknown))}")
        with self.lock():
            if expect is not None and self.exists() and self.version() != expect:
                raise StoreError(f"the data changed to version {self.version()} while this import was checked "
                                 f"against {expect}; run the import again")
            parent = self.snapshot() if (base == "current" and self.exists()) else None
            payload: dict[str, bytes] = {}
            frames: dict[str, gpd.GeoDataFrame] = {}
            for name, value in layers.items():
                if isinstance(value, bytes | bytearray):
                    payload[name] = bytes(value)
                else:
                    payload[name] = dump_geojson(value)
                    frames[name] = value
            staging = self.root / "staging" / uuid.uuid4().hex
            staging.mkdir(parents=True)
            hashes: dict[str, str] = {}
            counts: dict[str, int] = {}
            all_bytes: dict[str, bytes] = {}
            for name in LAYERS:
                target = layer_path(staging, name)
                if name in payload:
                    data = payload[name]
                    _write_durable(target, data)
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
                counts[name] = len(frames[name]) if name in frames else _count_features(data)
            for name in EXTRA_FILES:
                data = (extra_files or {}).get(name)
                if data is None and parent is not None and (Path(parent.folder) / name).exists():
                    data = (Path(parent.folder) / name).read_bytes()
                if data is not None:
                    _write_durable(staging / name, data)
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
            content = _content_hash(all_bytes)
            vid = f"{self._next_seq():04d}-{content[:7]}"
            info = VersionInfo(
                id=vid, created=_now(), author=author, message=message,
                parent=parent.version_id if parent is not None else None, source=source,
                counts=counts, summary=summary, hashes=hashes, content_hash=content,
            )
            _write_durable(staging / VERSION_META,
                           json.dumps(info.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
            _fsync_dir(staging)
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            os.rename(staging, self.versions_dir / vid)
            _fsync_dir(self.versions_dir)
            self._set_pointer(vid)
            return info

    def rollback(self, ref: str) -> tuple[VersionInfo, dict[str, Any]]:
        """Make an earlier (or later) stored version current again.

        Parameters
        ----------
        ref : str
            Version id, number or unique prefix.

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


def _count_features(data: bytes) -> int:
    try:
        return len(json.loads(data).get("features", []))
    except (ValueError, AttributeError):
        return 0


class VersionedDataManager(DataManager):
    """A :class:`DataManager` whose Datasets are pinned to one version folder each.

    A Dataset reads its layers lazily; pinning means a layer read after an import still comes
    from the version the Dataset was made for, so no request sees half of two versions.
    """

    store: VersionedStore

    def _open(self, version: str) -> Dataset:
        return Dataset(self.store.snapshot(version))


def open_data(data_dir: str | Path, store_dir: str | Path | None, default_data_dir: str | Path,
              instance_dir: str | Path) -> DataManager:
    """Choose and open the store the service runs on.

    * ``store_dir`` given: a versioned store there, seeded from ``data_dir`` when empty;
    * ``data_dir`` is itself a versioned store (has ``CURRENT`` or ``versions/``): use it;
    * ``data_dir`` is the committed demo: a versioned store in ``instance_dir/store``, seeded from it;
    * otherwise a read-only :class:`FolderStore` over ``data_dir``.

    Parameters
    ----------
    data_dir : str or Path
        The ``DATA_DIR`` setting.
    store_dir : str or Path or None
        The ``STORE_DIR`` setting (None or empty when unset).
    default_data_dir : str or Path
        The committed demo folder.
    instance_dir : str or Path
        The instance folder.

    Returns
    -------
    DataManager
        A :class:`VersionedDataManager` or a plain :class:`DataManager` over a FolderStore.
    """
    data = Path(data_dir)
    if store_dir:
        root = Path(store_dir)
    elif (data / POINTER).exists() or (data / "versions").is_dir():
        return VersionedDataManager(VersionedStore(data))
    elif data.resolve() == Path(default_data_dir).resolve() and layer_path(data, "grids").exists():
        root = Path(instance_dir) / "store"
    else:
        return DataManager(FolderStore(data))
    store = VersionedStore(root)
    if layer_path(data, "grids").exists():
        store.seed_from(data)
    elif not store.exists():
        raise StoreError(f"store {root} is empty and {data} holds no layers to seed it from")
    return VersionedDataManager(store)
