"""Where cut vector tiles are kept: a small bounded memory cache per process and a disk cache per data version."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

_log = logging.getLogger(__name__)

#: Tiles kept in memory per process and data version, and the most (compressed) bytes they may take together.
MEMORY_TILES = 1024
MEMORY_BYTES = 12 * 1024 * 1024
#: Data versions whose tile folders are kept on disk (the newest by last use; older ones are removed).
KEEP_VERSIONS = 3
#: Seconds after which a claim on cutting a version's tiles ahead, never finished, is taken over.
STALE_CLAIM_S = 600.0
#: What ends every tile file: this tag and the CRC-32 of the body (little-endian), so a torn file is found.
_TAG = b"GMT1"


class MemoryTiles:
    """A thread-safe least-recently-used cache of tile bodies, bounded in entries and in bytes.

    Parameters
    ----------
    size : int
        Most tiles kept.
    max_bytes : int
        Most bytes the kept bodies take together (the newest body is always kept).
    """

    def __init__(self, size: int = MEMORY_TILES, max_bytes: int = MEMORY_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self.data: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        """Return the body kept under ``key`` (and mark it recently used), or None."""
        with self.lock:
            hit = self.data.get(key)
            if hit is not None:
                self.data.move_to_end(key)
            return hit

    def put(self, key: tuple, value: bytes) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used bodies beyond the bounds."""
        with self.lock:
            old = self.data.get(key)
            self.bytes += len(value) - (len(old) if old is not None else 0)
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size or (self.bytes > self.max_bytes and len(self.data) > 1):
                self.bytes -= len(self.data.popitem(last=False)[1])


def version_folder(version: str) -> str:
    """Return a file-name-safe folder name for a data version (long or odd names end in their CRC-32)."""
    safe = quote(version, safe="-_.")
    if len(safe) > 80 or safe in ("", ".", ".."):
        safe = f"{safe[:60]}-{zlib.crc32(version.encode()):08x}"
    return safe


class DiskTiles:
    """Tile bodies of one data version in files under ``root/<version>/<cut>/<datum>/<layer>/<z>/<x>/<y>.pbf.gz``.

    Every worker process reads and writes the same files: a file is written under a temporary name and
    renamed into place, so a reader sees a whole tile or none. Each file ends in :data:`_TAG` and the
    CRC-32 of its body; a file that fails the check (torn by a crash, damaged) counts as missing and is
    cut and written again. The first use of a version removes the folders of all but the
    :data:`KEEP_VERSIONS` most recently used versions. ``cut`` names how tiles are cut (the cutting
    parameters): tiles cut another way under the same version are removed, never served. A folder that
    cannot be written (read-only instance folder, disk full) makes the cache a no-op, never an error.

    Parameters
    ----------
    root : Path
        The tile cache folder (``INSTANCE_DIR/cache/tiles``).
    version : str
        The data version.
    cut : str
        A short name of how the tiles are cut (a folder name).
    keep : int
        Versions kept on disk.
    """

    def __init__(self, root: Path, version: str, cut: str = "tiles", keep: int = KEEP_VERSIONS) -> None:
        self.root = Path(root)
        self.top = self.root / version_folder(version)
        self.dir = self.top / cut
        self.keep = keep
        self.ok = True
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            os.utime(self.top)  # last use: pruning keeps the newest folders
        except OSError as exc:
            self.ok = False
            _log.warning("tile cache %s is not writable (%s); tiles are cut per process", self.dir, exc)
            return
        self.prune()

    def path(self, key: tuple) -> Path:
        """Return the file of a tile key ``(layer, datum, z, x, y)``."""
        layer, datum, z, x, y = key
        return self.dir / datum / layer / str(z) / str(x) / f"{y}.pbf.gz"

    def get(self, key: tuple) -> bytes | None:
        """Return the stored body of a tile, or None when it is missing or fails its check."""
        if not self.ok:
            return None
        try:
            raw = self.path(key).read_bytes()
        except OSError:
            return None
        body, tag, crc = raw[:-8], raw[-8:-4], raw[-4:]
        if tag != _TAG or zlib.crc32(body).to_bytes(4, "little") != crc:
            _log.warning("tile cache file %s is damaged; cutting it again", self.path(key))
            return None
        return body

    def has(self, key: tuple) -> bool:
        """Return whether a tile's file exists (not checked)."""
        return self.ok and self.path(key).exists()

    def put(self, key: tuple, body: bytes) -> None:
        """Store a tile's body (atomically: a temporary file renamed into place); errors are logged once."""
        if not self.ok:
            return
        dest = self.path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(body + _TAG + zlib.crc32(body).to_bytes(4, "little"))
            os.replace(tmp, dest)
        except OSError as exc:
            self.ok = False
            _log.warning("tile cache %s stopped taking tiles (%s)", self.dir, exc)
            tmp.unlink(missing_ok=True)

    def claim(self, name: str, stale: float = STALE_CLAIM_S) -> bool:
        """Create the marker file ``name`` in the cut's folder; True for the one process that created it.

        A marker older than ``stale`` seconds whose work never finished (see :meth:`finished`: the
        process that claimed it died) is taken over.
        """
        if not self.ok:
            return True
        marker = self.dir / name
        for _attempt in range(2):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    old = time.time() - marker.stat().st_mtime > stale
                except OSError:
                    old = False
                if not old or (self.dir / f"{name}.done").exists():
                    return False
                marker.unlink(missing_ok=True)
                continue
            except OSError:
                return True
            os.close(fd)
            return True
        return False

    def finished(self, name: str) -> None:
        """Mark the work claimed as ``name`` done (a later process does not take it over)."""
        if self.ok:
            with contextlib.suppress(OSError):
                (self.dir / f"{name}.done").touch()

    def prune(self) -> list[Path]:
        """Remove the folders of all but the :attr:`keep` most recently used versions; return those removed."""
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir()]
            folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return []
        old = [p for p in folders[self.keep:] if p != self.top]
        with contextlib.suppress(OSError):
            old += [p for p in self.top.iterdir() if p.is_dir() and p != self.dir]
        for p in old:
            shutil.rmtree(p, ignore_errors=True)
        return old
