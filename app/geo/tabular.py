"""Reading and writing tables (CSV, XLSX, GeoJSON) for batch jobs, with Chinese-Excel-friendly encodings."""

from __future__ import annotations

import io
import json
import math
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from app.geo._tabular_limits import TableError, TableLimitError, TableLimits, collect
from app.geo._tabular_read import decode_text, read_csv_text, read_sheet
from app.geo.schema import COORD_PRECISION

if TYPE_CHECKING:  # pandas is imported where a table is read or written whole, not by a streamed batch
    import pandas as pd

__all__ = [
    "ADDRESS_NAMES",
    "LAT_NAMES",
    "LON_NAMES",
    "SHEET_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "ColumnSpec",
    "TableError",
    "TableLimitError",
    "TableLimits",
    "detect_columns",
    "json_document",
    "read_table",
    "table_bytes",
    "table_chunks",
    "write_table",
]

#: Extensions read as delimited text.
TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
#: Extensions read as spreadsheets (first sheet).
SHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xls")
#: Extensions :func:`write_table` can write.
WRITE_EXTENSIONS = (".csv", ".xlsx", ".geojson")

#: Recognised column names (compared case-insensitively, ignoring spaces, '_' and '-').
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
ADDRESS_NAMES = ("address", "addr", "地址", "详细地址", "住址", "fulladdress", "居住地址", "家庭住址")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
#: Rows serialised at a time, so that a result is refused at its size limit before it is all built.
_CHUNK_ROWS = 5000


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns of a table hold coordinates and addresses.

    Attributes
    ----------
    lon, lat : str or None
        Longitude and latitude (or x and y) columns; both set or both None.
    address : str or None
        Address text column.
    """

    lon: str | None = None
    lat: str | None = None
    address: str | None = None

    @property
    def has_coords(self) -> bool:
        """True when both coordinate columns are known."""
        return self.lon is not None and self.lat is not None

    @property
    def mode(self) -> str:
        """``"coords"`` when coordinates are known, else ``"address"`` if an address column is, else ``"none"``."""
        if self.has_coords:
            return "coords"
        return "address" if self.address is not None else "none"


def read_table(source: str | Path | bytes | IO[bytes], filename: str | None = None,
               label: str | None = None, limits: TableLimits | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table with every column as text.

    CSV is decoded as UTF-8 (with or without BOM), else GB18030 (what Excel writes on Chinese
    Windows); tab, semicolon or pipe separators are used when the header line clearly uses them.
    For XLSX/XLS the first sheet is read. Cells are stripped; missing cells are empty strings.

    With ``limits`` (batch jobs), the file is held to them before and while it is read: its size
    before it is read, an XLSX file's parts and sheets before they are unpacked, then rows,
    columns and cells as they come. Legacy ``.xls`` workbooks are refused then, since their
    size cannot be checked before calamine allocates their sheet.

    Parameters
    ----------
    source : str, Path, bytes or binary file
        A path, or the file's content (e.g. an upload).
    filename : str, optional
        Name whose extension gives the format; defaults to the path's name.
        For bytes without a name, a ZIP signature means XLSX and anything else CSV.
    label : str, optional
        What the user calls the file (its path or upload name): error messages start with it.
    limits : TableLimits, optional
        The limits of a batch job (:meth:`TableLimits.from_config`); none by default.

    Returns
    -------
    DataFrame
        One column per header cell (str dtype).

    Raises
    ------
    TableLimitError
        The file goes over one of ``limits`` (HTTP 413); the message names the setting.
    TableError
        Empty file, unsupported extension, undecodable or binary content, missing header.
    """
    try:
        return _read_table(source, filename, limits)
    except TableError as exc:
        if label is None:
            raise
        raise type(exc)(f"{label}: {exc.message}", exc.status, key=exc.key, **exc.detail) from None


def _read_source(source: str | Path | bytes | IO[bytes], filename: str | None,
                 limits: TableLimits | None) -> tuple[bytes, str]:
    """The bytes and the name of a table, read no further than ``limits.max_file_bytes``."""
    if isinstance(source, str | Path):
        path = Path(source)
        name = filename or path.name
        try:
            if limits is not None:
                limits.check_file(path.stat().st_size)
            data = path.read_bytes()
        except FileNotFoundError:
            raise TableError("file not found") from None
        except IsADirectoryError:
            raise TableError("is a folder, not a file") from None
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = filename or "upload"
    else:
        data = source.read() if limits is None else source.read(limits.max_file_bytes + 1)
        name = filename or str(getattr(source, "filename", None) or getattr(source, "name", "upload"))
    if limits is not None:
        limits.check_file(len(data))
    return data, name


def _read_table(source: str | Path | bytes | IO[bytes], filename: str | None,
                limits: TableLimits | None) -> pd.DataFrame:
    data, name = _read_source(source, filename, limits)
    ext = Path(name).suffix.lower()
    if not data or not data.strip():
        raise TableError("the file is empty")
    if not ext:
        ext = ".xlsx" if data.startswith(_ZIP_MAGIC) else ".csv"
    if ext in SHEET_EXTENSIONS:
        if limits is not None and (ext == ".xls" or data.startswith(_OLE_MAGIC)):
            raise TableError("legacy .xls workbooks are not accepted for batch jobs; save the file as .xlsx or CSV")
        return read_sheet(data, limits)
    if ext in TEXT_EXTENSIONS:
        if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
            raise TableError("this is an Excel workbook, not CSV text; name it .xlsx or export CSV")
        return read_csv_text(decode_text(data), limits)
    raise TableError(f"unsupported file type {ext!r}; use "
                     + ", ".join(TEXT_EXTENSIONS + SHEET_EXTENSIONS))


def _key(name: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", str(name)).lower() if ch not in " _-")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    keys = {_key(c): c for c in reversed(columns)}
    for n in names:
        if _key(n) in keys:
            return keys[_key(n)]
    return None


def detect_columns(df: pd.DataFrame | list[str], lon: str | None = None, lat: str | None = None,
                   address: str | None = None) -> ColumnSpec:
    """Find the coordinate and address columns of a table.

    Parameters
    ----------
    df : DataFrame or list of str
        The table, or its column names.
    lon, lat, address : str, optional
        Explicit column names; they must exist. Others are found by name: lon, lng, longitude,
        x, 经度 / lat, latitude, y, 纬度 / address, addr, 地址, 详细地址, 住址 (case-insensitive).

    Returns
    -------
    ColumnSpec
        The columns found; coordinates only when both lon and lat are known. Its ``mode`` is
        ``"none"`` when neither coordinates nor an address column were found.

    Raises
    ------
    TableError
        An explicit column is missing, or only one of lon/lat was given.
    """
    columns = [str(c) for c in (df if isinstance(df, list) else df.columns)]
    for role, given in (("lon", lon), ("lat", lat), ("address", address)):
        if given is not None and given not in columns:
            raise TableError(f"{role} column {given!r} not found; columns are: {', '.join(columns)}")
    if (lon is None) != (lat is None):
        raise TableError("give both the lon and the lat column, or neither")
    if lon is None:
        lon, lat = _find(columns, LON_NAMES), _find(columns, LAT_NAMES)
        if lon is None or lat is None:
            lon = lat = None
    if address is None:
        address = _find(columns, ADDRESS_NAMES)
    return ColumnSpec(lon, lat, address)


def _json_value(value: Any) -> Any:
    """A table cell as a JSON value (NaN/NA -> null, numpy scalars -> Python)."""
    if type(value) is str:  # most cells: none of the cases below
        return value
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | time | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_width(name: str, values: pd.Series) -> int:
    """Excel column width fitting a header and its cells, between 8 and 60."""
    width = _display_width(name)
    for v in map(_json_value, values.tolist()):
        if v is not None:
            width = max(width, _display_width(str(v)[:60]))  # widths stop at 60 anyway
    return min(max(width + 2, 8), 60)


def _xlsx_chunks(df: pd.DataFrame) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)  # rows go to a temporary file, not to memory
    ws = wb.create_sheet("Sheet1")
    columns = [str(c) for c in df.columns]
    for j, name in enumerate(columns):
        ws.column_dimensions[get_column_letter(j + 1)].width = _column_width(name, df.iloc[:, j])
    ws.freeze_panes = "A2"
    header = []
    for name in columns:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for row in df.itertuples(index=False, name=None):
        ws.append([_json_value(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    yield buf.getvalue()


def _csv_chunks(df: pd.DataFrame) -> Iterator[bytes]:
    yield df.iloc[:0].to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    for start in range(0, len(df), _CHUNK_ROWS):
        part = df.iloc[start:start + _CHUNK_ROWS]
        yield part.to_csv(index=False, header=False, lineterminator="\r\n").encode("utf-8")


def _geojson_chunks(df: pd.DataFrame, lon: str | None, lat: str | None) -> Iterator[bytes]:
    columns = [str(c) for c in df.columns]
    if lon is not None or lat is not None:
        spec = detect_columns(df, lon, lat)
        lon, lat = spec.lon, spec.lat
    else:
        lon, lat = _find(columns, LON_NAMES), _find(columns, LAT_NAMES)
    if lon is None or lat is None:
        raise TableError(f"cannot write GeoJSON: no lon/lat columns (columns: {', '.join(columns)})")
    import pandas as pd

    xs = pd.to_numeric(df[lon], errors="coerce").to_numpy(float)
    ys = pd.to_numeric(df[lat], errors="coerce").to_numpy(float)
    yield b'{"type": "FeatureCollection", "features": ['
    for start in range(0, len(df), _CHUNK_ROWS):
        features = []
        part = df.iloc[start:start + _CHUNK_ROWS].itertuples(index=False, name=None)
        for row, x, y in zip(part, xs[start:start + _CHUNK_ROWS], ys[start:start + _CHUNK_ROWS], strict=True):
            ok = math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90
            geometry = ({"type": "Point", "coordinates": [round(float(x), COORD_PRECISION),
                                                          round(float(y), COORD_PRECISION)]} if ok else None)
            features.append({"type": "Feature",
                             "properties": {c: _json_value(v) for c, v in zip(columns, row, strict=True)},
                             "geometry": geometry})
        text = json.dumps(features, ensure_ascii=False)[1:-1]
        yield ((", " if start else "") + text).encode("utf-8")
    yield b"]}"


def json_document(head: dict[str, Any], key: str, df: pd.DataFrame,
                  dumps: Callable[[Any], str]) -> Iterator[bytes]:
    """A JSON object of ``head`` and the table's rows as a list under ``key``, a chunk of rows at a time.

    Parameters
    ----------
    head : dict
        The other members of the object (written first).
    key : str
        The member that holds the rows (objects of column: value; missing values are null).
    df : DataFrame
        The table.
    dumps : callable
        The JSON encoder (e.g. the web app's ``app.json.dumps``).

    Yields
    ------
    bytes
        UTF-8 pieces whose concatenation is the document.
    """
    opening = dumps(head)
    yield (opening[:-1] + (", " if head else "") + dumps(key) + ": [").encode("utf-8")
    for start in range(0, len(df), _CHUNK_ROWS):
        part = df.iloc[start:start + _CHUNK_ROWS]
        rows = part.astype(object).where(part.notna(), None).to_dict(orient="records")
        yield ((", " if start else "") + dumps(rows)[1:-1]).encode("utf-8")
    yield b"]}"


def table_chunks(df: pd.DataFrame, fmt: str, lon: str | None = None, lat: str | None = None) -> Iterator[bytes]:
    """Serialise a table as CSV (UTF-8 with BOM), XLSX or GeoJSON, a chunk of rows at a time.

    Parameters
    ----------
    df : DataFrame
        The table.
    fmt : str
        ``"csv"``, ``"xlsx"`` or ``"geojson"`` (a leading dot is allowed).
    lon, lat : str, optional
        Coordinate columns for GeoJSON; found by name when not given.

    Yields
    ------
    bytes
        Pieces whose concatenation is the file (XLSX comes as one piece).

    Raises
    ------
    TableError
        Unknown format, or GeoJSON without coordinate columns.
    """
    ext = "." + fmt.lower().lstrip(".")
    if ext == ".csv":
        return _csv_chunks(df)
    if ext == ".xlsx":
        return _xlsx_chunks(df)
    if ext == ".geojson":
        return _geojson_chunks(df, lon, lat)
    raise TableError(f"cannot write {ext!r} files; use one of {', '.join(WRITE_EXTENSIONS)}")


def table_bytes(df: pd.DataFrame, fmt: str, lon: str | None = None, lat: str | None = None,
                limits: TableLimits | None = None) -> bytes:
    """Serialise a table as CSV (UTF-8 with BOM), XLSX or GeoJSON.

    Parameters
    ----------
    df : DataFrame
        The table.
    fmt : str
        ``"csv"``, ``"xlsx"`` or ``"geojson"`` (a leading dot is allowed).
    lon, lat : str, optional
        Coordinate columns for GeoJSON; found by name when not given.
    limits : TableLimits, optional
        Refuse a result larger than ``limits.max_response_bytes`` as soon as it gets there.

    Returns
    -------
    bytes
        The file content.

    Raises
    ------
    TableLimitError
        The result is larger than ``limits`` allow.
    TableError
        Unknown format, or GeoJSON without coordinate columns.
    """
    return b"".join(collect(table_chunks(df, fmt, lon, lat), limits))


def write_table(df: pd.DataFrame, path: str | Path | IO[bytes], fmt: str | None = None,
                lon: str | None = None, lat: str | None = None, limits: TableLimits | None = None) -> Path | None:
    """Write a table as CSV, XLSX or GeoJSON, chosen by ``fmt`` or the path's extension.

    ``.csv`` is UTF-8 with BOM (Excel opens it with Chinese intact); ``.xlsx`` has a bold,
    frozen header and column widths fitted to the content; ``.geojson`` is an RFC 7946
    FeatureCollection of points from the lon/lat columns, null geometry where a row has none.

    Parameters
    ----------
    df : DataFrame
        The table.
    path : str, Path or binary file
        Output file, or a writable binary buffer (then ``fmt`` is required).
    fmt : str, optional
        ``"csv"``, ``"xlsx"`` or ``"geojson"``; defaults to the path's extension.
    lon, lat : str, optional
        Coordinate columns for GeoJSON; found by name when not given.
    limits : TableLimits, optional
        Refuse (and write nothing) when the result is larger than ``limits.max_response_bytes``.

    Returns
    -------
    Path or None
        The path written, or None when writing to a buffer.

    Raises
    ------
    TableLimitError
        The result is larger than ``limits`` allow.
    TableError
        Unknown format or extension, or GeoJSON without coordinate columns.
    """
    if isinstance(path, str | Path):
        path = Path(path)
        ext = "." + (fmt or path.suffix).lower().lstrip(".")
        if ext not in WRITE_EXTENSIONS:
            raise TableError(f"cannot write {path.name!r}: unknown format {ext if ext != '.' else '(none)'!r}; "
                             f"use one of {', '.join(WRITE_EXTENSIONS)}")
        parts = collect(table_chunks(df, ext, lon, lat), limits)
        with path.open("wb") as fh:
            fh.writelines(parts)
        return path
    if not fmt:
        raise TableError("give the format (csv, xlsx or geojson) when writing to a buffer")
    path.writelines(collect(table_chunks(df, fmt, lon, lat), limits))
    return None
