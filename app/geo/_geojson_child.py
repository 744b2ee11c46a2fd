"""Reading a large city's GeoJSON layers in a child process, so GDAL and its parsing peak stay out of the server."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd

#: A folder whose layer files hold at least this many bytes together is read in the child (a small city in-process).
CHILD_MIN_BYTES = 2 << 20
#: Whether this process reads a large city in the child at all: a long-lived server does (`gridmap serve` calls
#: :func:`enable`); a short command reads in-process, where the child's start-up (a second interpreter importing
#: geopandas, ~1 s) would cost more than the memory it keeps out.
_ENABLED = False
#: Seconds the child waits for the next layer before it exits (a later read starts another).
CHILD_IDLE_S = 30.0

#: The child: reads one path per line (JSON) and answers ``b"1"`` + length + the pickled GeoDataFrame
#: (``b"0"`` + length + the error's text when it cannot). It writes only to a copy of its stdout:
#: anything a library prints goes to stderr.
_CHILD = r"""
import json, os, pickle, select, struct, sys
out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
import geopandas as gpd
inp = sys.stdin.buffer
idle = float(sys.argv[1])
while select.select([inp], [], [], idle)[0]:
    line = inp.readline()
    if not line:
        break
    try:
        gdf = gpd.read_file(json.loads(line), engine="pyogrio")
        if gdf.crs is None:
            gdf = gdf.set_crs("EPSG:4326")
        ok, body = b"1", pickle.dumps(gdf, protocol=5)
        del gdf
    except Exception as exc:
        ok, body = b"0", repr(exc).encode("utf-8", "replace")
    out.write(ok + struct.pack("<Q", len(body)))
    out.write(body)
    out.flush()
    del body
"""

_lock = threading.Lock()
_child: subprocess.Popen[bytes] | None = None
_owner = 0  # the pid that started _child: a forked worker starts its own


def enable(on: bool = True) -> None:
    """Read large cities' layers in the child from now on in this process (``gridmap serve``), or no longer."""
    global _ENABLED
    _ENABLED = on


def wanted(folder: Path, layers: tuple[str, ...]) -> bool:
    """Whether this process reads in the child (:func:`enable`) and the layer files of ``folder`` are large enough
    together (:data:`CHILD_MIN_BYTES`)."""
    if not _ENABLED:
        return False
    total = 0
    for name in layers:
        try:
            total += (Path(folder) / f"{name}.geojson").stat().st_size
        except OSError:
            continue
    return total >= CHILD_MIN_BYTES


def read(path: Path) -> gpd.GeoDataFrame | None:
    """``geopandas.read_file(path, engine="pyogrio")`` (in EPSG:4326 when the file names no CRS), read by the child.

    The frame comes back pickled, so it equals the one read in this process: same columns, dtypes,
    index, values, geometries and CRS.

    Parameters
    ----------
    path : Path
        A GeoJSON file.

    Returns
    -------
    GeoDataFrame or None
        The layer; None when the child could not read it or could not run (the caller then reads
        it in this process, which raises the error there is).
    """
    for _attempt in range(2):  # the child may have just left after its idle time: once more with a new one
        with _lock:
            child = _running()
            if child is None:
                return None
            try:
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write(json.dumps(str(path)).encode("utf-8") + b"\n")
                child.stdin.flush()
                ok, body = _answer(child.stdout)
            except (OSError, ValueError, struct.error):
                _stop()
                continue
        if ok != b"1":
            return None
        return pickle.loads(body)  # noqa: S301 - our own child's pickle of a frame it read
    return None


def _answer(stream: IO[bytes]) -> tuple[bytes, bytes]:
    head = stream.read(9)
    if len(head) != 9:
        raise ValueError("the reader child left")
    (size,) = struct.unpack("<Q", head[1:])
    body = stream.read(size)
    if len(body) != size:
        raise ValueError("the reader child left")
    return head[:1], body


def _running() -> subprocess.Popen[bytes] | None:
    """The child of this process, started when there is none (None when it cannot start)."""
    global _child, _owner
    if _child is not None and _owner == os.getpid() and _child.poll() is None:
        return _child
    if _owner == os.getpid():
        _stop()
    try:
        _child = subprocess.Popen([sys.executable, "-c", _CHILD, str(CHILD_IDLE_S)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, close_fds=True)
    except OSError:
        _child = None
        return None
    _owner = os.getpid()
    return _child


def _stop() -> None:
    """End this process's child (its stdin closed, then killed if it lingers)."""
    global _child
    child, _child = _child, None
    if child is None:
        return
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def close() -> None:
    """End the reader child now (a server calls this after its warm-up; a later read starts another)."""
    with _lock:
        if _owner == os.getpid():
            _stop()
