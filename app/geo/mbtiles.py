"""A local basemap file (MBTiles, or PMTiles when the pmtiles package is installed): checked once, read tile by tile."""

from __future__ import annotations

import gzip
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import GridmapError

#: Tile formats a basemap file may hold (raster: Leaflet draws them as they are), with their MIME types.
FORMATS = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
#: Magic bytes of each format, for files whose metadata does not say.
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"RIFF", "webp"))


class BasemapFileError(GridmapError):
    """The configured basemap file cannot be served: missing, not MBTiles/PMTiles, or holding no raster tiles."""

    default_status = 503
    default_key = "basemap.file"


class TileMissing(GridmapError):
    """The basemap file holds no tile at this address (outside its area or zoom range)."""

    default_status = 404
    default_key = "basemap.tile"


@dataclass
class TileFile:
    """An opened basemap file.

    Attributes
    ----------
    path : Path
        The file.
    format : str
        ``png``, ``jpg`` or ``webp`` (a key of :data:`FORMATS`).
    minzoom, maxzoom : int
        The zoom levels it holds tiles for.
    bounds : tuple of float or None
        West, south, east, north in WGS84 degrees, when the file says.
    name, attribution : str
        From its metadata.
    etag : str
        Changes when the file changes (size and modification time).
    """

    path: Path
    format: str
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None
    name: str = ""
    attribution: str = ""
    etag: str = ""
    _reader: Any = field(default=None, repr=False)

    @property
    def mimetype(self) -> str:
        """The MIME type of its tiles."""
        return FORMATS[self.format]

    def tile(self, z: int, x: int, y: int) -> bytes:
        """Return the tile at ``z/x/y`` (XYZ numbering, y from the north, as Leaflet asks).

        Raises
        ------
        TileMissing
            When the file has no such tile.
        """
        if not (self.minzoom <= z <= self.maxzoom) or not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
            raise TileMissing(f"the basemap has no tile {z}/{x}/{y} (zoom {self.minzoom}-{self.maxzoom})")
        data = self._reader(z, x, y)
        if not data:
            raise TileMissing(f"the basemap has no tile {z}/{x}/{y}")
        return bytes(data)


def _sniff(data: bytes | None) -> str | None:
    for magic, fmt in _MAGIC:
        if data and data.startswith(magic):
            return fmt
    return None


def _format(declared: str, sample: bytes | None, path: Path) -> str:
    fmt = {"jpeg": "jpg"}.get(declared.lower(), declared.lower()) or (_sniff(sample) or "")
    if fmt in ("pbf", "mvt"):
        raise BasemapFileError(f"{path}: holds vector tiles (pbf); the local basemap needs raster tiles (png, jpg or webp)")
    if fmt not in FORMATS:
        raise BasemapFileError(f"{path}: unknown tile format {fmt or '(none)'}; expected png, jpg or webp")
    return fmt


def _bounds(text: Any) -> tuple[float, float, float, float] | None:
    try:
        w, s, e, n = (float(v) for v in str(text).split(","))
    except (TypeError, ValueError):
        return None
    return (w, s, e, n) if -180 <= w < e <= 180 and -90 <= s < n <= 90 else None


class _MBTiles:
    """Reads one MBTiles file, one read-only sqlite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.uri = f"{path.resolve().as_uri()}?mode=ro"
        self.local = threading.local()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False)
        return c

    def __call__(self, z: int, x: int, y: int) -> bytes | None:
        row = self.conn().execute(  # MBTiles numbers rows from the south (TMS)
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y)).fetchone()
        return row[0] if row else None


def _open_mbtiles(path: Path) -> TileFile:
    reader = _MBTiles(path)
    try:
        c = reader.conn()
        meta = dict(c.execute("SELECT name, value FROM metadata").fetchall())
        zooms = c.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        sample = c.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
    except sqlite3.Error as exc:
        raise BasemapFileError(f"{path}: not a readable MBTiles file ({exc})") from None
    if zooms is None or zooms[0] is None:
        raise BasemapFileError(f"{path}: the MBTiles file holds no tiles")
    fmt = _format(str(meta.get("format", "")), sample[0] if sample else None, path)
    minzoom, maxzoom = int(zooms[0]), int(zooms[1])
    return TileFile(path, fmt, minzoom, maxzoom, _bounds(meta.get("bounds")), str(meta.get("name", "")),
                    str(meta.get("attribution", "")), _reader=reader)


def _open_pmtiles(path: Path) -> TileFile:
    try:
        from pmtiles.reader import MmapSource, Reader
        from pmtiles.tile import Compression, TileType
    except ImportError:
        raise BasemapFileError(f"{path}: reading PMTiles needs the pmtiles package (pip install pmtiles)") from None
    handle = path.open("rb")
    try:
        reader = Reader(MmapSource(handle))
        header = reader.header()
        meta = reader.metadata()
    except Exception as exc:  # the pmtiles package raises plain exceptions on a damaged file
        handle.close()
        raise BasemapFileError(f"{path}: not a readable PMTiles file ({exc})") from None
    names = {TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp", TileType.MVT: "pbf"}
    fmt = _format(names.get(header["tile_type"], ""), None, path)
    bounds = (header["min_lon_e7"] / 1e7, header["min_lat_e7"] / 1e7, header["max_lon_e7"] / 1e7, header["max_lat_e7"] / 1e7)
    lock = threading.Lock()
    gzipped = header.get("tile_compression") == Compression.GZIP

    def read(z: int, x: int, y: int) -> bytes | None:
        with lock:
            data = reader.get(z, x, y)
        return gzip.decompress(data) if data and gzipped else data

    return TileFile(path, fmt, int(header["min_zoom"]), int(header["max_zoom"]), _bounds(",".join(map(str, bounds))),
                    str(meta.get("name", "")), str(meta.get("attribution", "")), _reader=read)


def open_tile_file(path: str | Path) -> TileFile:
    """Open and check a basemap file: an ``.mbtiles`` (SQLite) or ``.pmtiles`` archive of raster tiles.

    Parameters
    ----------
    path : str or Path
        The file, as the BASEMAP_FILE setting gives it.

    Returns
    -------
    TileFile
        Its format, zoom range and bounds, ready to read tiles from.

    Raises
    ------
    BasemapFileError
        When the path is empty or missing, or the file is not MBTiles/PMTiles of png, jpg or webp tiles;
        the message names the file.
    """
    if not str(path):
        raise BasemapFileError("BASEMAP=local needs BASEMAP_FILE, the path of an .mbtiles or .pmtiles file")
    p = Path(path).expanduser()
    if not p.is_file():
        raise BasemapFileError(f"{p}: the basemap file does not exist")
    with p.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"PMTiles"):
        tf = _open_pmtiles(p)
    elif head.startswith(b"SQLite format 3"):
        tf = _open_mbtiles(p)
    else:
        raise BasemapFileError(f"{p}: neither an MBTiles (SQLite) nor a PMTiles file")
    st = p.stat()
    tf.etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
    return tf
