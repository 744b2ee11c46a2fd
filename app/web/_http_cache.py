"""Strong ETags, 304 answers and gzip/Brotli compressed once, for static files and the big cacheable data responses."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

try:  # Brotli when installed (it is a dependency; a missing wheel only loses `br`)
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

#: Endpoints whose 200 answers get the treatment: static files, the home map's payloads, vector tiles,
#: grid popups, road labels and the OGC API GeoJSON downloads.
CACHEABLE = frozenset({"static", "maps.layer_data", "maps.tiled_data", "tiles.tile", "tiles.grid_record",
                       "tiles.road_labels", "ogcapi.items", "ogcapi.item", "locate.outlines", "health.layers",
                       "openapi.openapi_json", "ogcapi.api"})
#: Media types worth compressing.
COMPRESSIBLE = ("text/", "application/json", "application/geo+json", "application/javascript",
                "application/x-protobuf", "application/vnd.mapbox-vector-tile", "image/svg+xml",
                "application/schema+json", "application/vnd.oai.openapi+json")
#: Bodies smaller than this are sent as they are (still with an ETag).
MIN_BYTES = 1024
#: Compressed bodies kept in memory (per process), in bytes; least recently used dropped first.
CACHE_BYTES = 64 * 1024 * 1024
#: Suffix of each encoding's ETag: every representation has its own strong validator.
SUFFIX = {"br": "-br", "gzip": "-gz"}

_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_cache_size = 0
_lock = threading.Lock()


def _compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=9 if len(data) > 1 << 20 else 11)
    return gzip.compress(data, compresslevel=9, mtime=0)


def sidecar(path: Path, encoding: str) -> Path:
    """The file holding ``path`` compressed in ``encoding`` ahead of time: ``name.br`` or ``name.gz`` beside it."""
    return path.with_name(path.name + SUFFIX[encoding].replace("-", "."))


def _read_sidecar(path: Path, encoding: str) -> bytes | None:
    """``path``'s sidecar in ``encoding`` when it was written from the file as it is now, else None.

    A sidecar carries its source's modification time (:func:`write_sidecars` sets it): a source
    edited since then has another, and is compressed on the request instead.
    """
    try:
        side = sidecar(path, encoding)
        if side.stat().st_mtime_ns != path.stat().st_mtime_ns:
            return None
        return side.read_bytes()
    except OSError:
        return None


def write_sidecars(root: Path, progress: Callable[[str], None] | None = None) -> int:
    """Compress every static file under ``root`` worth compressing into its ``.br`` and ``.gz`` sidecars.

    Compressing at install time keeps it off the first requests: Brotli's best level takes ~0.3 s
    for Bootstrap's stylesheet, and each server process would otherwise spend it while a page waits.
    Sidecars already written from the file as it is are left alone.

    Parameters
    ----------
    root : Path
        The static folder.
    progress : callable, optional
        Called with one line of text when anything was written.

    Returns
    -------
    int
        Sidecars written.
    """
    written = 0
    encodings = [e for e in SUFFIX if e != "br" or brotli is not None]
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".br", ".gz"):
            continue
        kind, wrapped = mimetypes.guess_type(path.name)
        if wrapped is not None or not (kind or "").startswith(COMPRESSIBLE):
            continue
        stat = path.stat()
        if stat.st_size < MIN_BYTES:
            continue
        data = None
        for encoding in encodings:
            side = sidecar(path, encoding)
            if side.exists() and side.stat().st_mtime_ns == stat.st_mtime_ns:
                continue
            data = path.read_bytes() if data is None else data
            tmp = side.with_name(side.name + ".tmp")
            tmp.write_bytes(_compress(data, encoding))
            os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            tmp.replace(side)
            written += 1
    if written and progress is not None:
        progress(f"compressed {written} static file(s) ahead (.br/.gz beside each)")
    return written


def compressed(data: bytes, encoding: str, key: str, source: Path | None = None) -> bytes:
    """``data`` in ``encoding`` (``gzip`` or ``br``), compressed once per ``key`` and kept in memory.

    Parameters
    ----------
    data : bytes
        The body.
    encoding : str
        ``"gzip"`` or ``"br"``.
    key : str
        A strong validator of ``data`` (its ETag): the same key always means the same bytes.
    source : Path, optional
        The file ``data`` was read from: its sidecar (see :func:`write_sidecars`) is used when current.

    Returns
    -------
    bytes
        The compressed body.
    """
    global _cache_size
    ck = (key, encoding)
    with _lock:
        hit = _cache.get(ck)
        if hit is not None:
            _cache.move_to_end(ck)
            return hit
    out = (_read_sidecar(source, encoding) if source is not None else None) or _compress(data, encoding)
    with _lock:
        if ck not in _cache and len(out) <= CACHE_BYTES // 4:
            _cache[ck] = out
            _cache_size += len(out)
            while _cache_size > CACHE_BYTES:
                _cache_size -= len(_cache.popitem(last=False)[1])
    return out


def negotiate(accept_encoding: str) -> str | None:
    """The encoding to send for an ``Accept-Encoding`` header: ``br``, ``gzip`` or None (identity)."""
    offered: dict[str, float] = {}
    for part in (accept_encoding or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if name:
            offered[name.strip()] = q
    for enc in (("br", "gzip") if brotli is not None else ("gzip",)):
        if offered.get(enc, offered.get("*", 0.0)) > 0:
            return enc
    return None


def _matches(header: str | None, tags: set[str]) -> bool:
    """Whether an ``If-None-Match`` header names one of ``tags`` (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    given = {t.strip().removeprefix("W/").strip('"') for t in header.split(",")}
    return bool(given & tags)


def finish(response: Response) -> Response:
    """Give a cacheable 200 answer its strong ETag, answer 304 when the client has it, and compress it once.

    The ETag of the identity body is the view's own when it set a strong one (the data version and
    URL, or a hash), else a content hash; a compressed body's ETag adds ``-gz``/``-br``. A
    ``If-None-Match`` naming any of them gets 304 with the negotiated representation's ETag.
    """
    if (request.endpoint not in CACHEABLE or request.method not in ("GET", "HEAD")
            or response.status_code not in (200, 304) or "Content-Range" in response.headers):
        return response
    mimetype = response.mimetype or ""
    compressible = mimetype.startswith(COMPRESSIBLE)
    if compressible:
        response.vary.add("Accept-Encoding")
    encoded = response.headers.get("Content-Encoding")
    tag, weak = response.get_etag()
    if encoded is not None:  # a view compressed it already (vector tiles): keep its body, make its tag strong
        if tag is None or encoded not in SUFFIX:
            return response
        base = tag
        response.set_etag(tag + SUFFIX[encoded])
        return _conditional(response, {base, base + SUFFIX[encoded]})
    if response.status_code == 304:
        return response
    encoding = negotiate(request.headers.get("Accept-Encoding", "")) if compressible else None
    if encoding is None and tag is not None and not weak:  # sent as it is: no need to read a file into memory
        return _conditional(response, {tag, *(tag + s for s in SUFFIX.values())})
    response.direct_passthrough = False
    data = response.get_data()
    base = tag if tag is not None and not weak else hashlib.blake2b(data, digest_size=16).hexdigest()
    if encoding is not None and len(data) >= MIN_BYTES:
        response.set_data(compressed(data, encoding, base, _static_file()))
        response.headers["Content-Encoding"] = encoding
        response.set_etag(base + SUFFIX[encoding])
    else:
        response.set_etag(base)
    return _conditional(response, {base, *(base + s for s in SUFFIX.values())})


def _static_file() -> Path | None:
    """The file a static request was answered from, or None for any other endpoint."""
    if request.endpoint != "static" or not current_app.static_folder:
        return None
    found = safe_join(current_app.static_folder, (request.view_args or {}).get("filename", ""))
    return Path(found) if found is not None else None


def _conditional(response: Response, tags: set[str]) -> Response:
    """Turn ``response`` into a bodiless 304 when the request's ``If-None-Match`` names one of ``tags``."""
    if not _matches(request.headers.get("If-None-Match"), tags):
        return response
    response.status_code = 304
    response.set_data(b"")
    for header in ("Content-Length", "Content-Encoding", "Content-Type"):
        response.headers.pop(header, None)
    return response


def init_app(app: Flask) -> None:
    """Register :func:`finish` (before the security headers' hook, so it runs after it on each answer)."""
    app.after_request(finish)


def stats() -> dict[str, Any]:
    """Entries and bytes of this process's compressed-body cache (for the benchmark)."""
    with _lock:
        return {"entries": len(_cache), "bytes": _cache_size}
