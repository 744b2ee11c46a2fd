"""Reading and writing tables (CSV, XLSX, GeoJSON) for batch jobs, with Chinese-Excel-friendly encodings."""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from app.errors import GridmapError
from app.geo.schema import COORD_PRECISION

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
_DELIMITERS = (",", "\t", ";", "|")


class TableError(GridmapError, ValueError):
    """A table cannot be read or written; the message names the problem."""

    default_key = "table"


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


def _decode(data: bytes) -> str:
    """Decode CSV bytes: UTF-8 (with or without BOM), else GB18030; reject binary data."""
    if b"\x00" in data[:65536]:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise TableError("UTF-16 text is not supported; save the file as CSV UTF-8")
        raise TableError("the file is binary, not CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise TableError(
            f"cannot decode the file as UTF-8 or GB18030 (bad byte at offset {exc.start}); "
            "save it as CSV UTF-8"
        ) from None
    bad = sum(1 for ch in text[:65536] if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\r\n\t")
    if bad:
        raise TableError("the file does not look like text (control characters found); "
                         "save it as CSV UTF-8")
    return text


def _sniff_delimiter(text: str) -> str:
    """The delimiter that is obvious from the header line, comma by default."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 and counts[best] > counts[","] else ","


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _check_header(columns: list[str]) -> list[str]:
    """Strip header names and reject a missing header."""
    cols = [str(c).strip().lstrip("\ufeff") for c in columns]
    if not cols or all(c == "" for c in cols):
        raise TableError("the header row is empty; the first row must name the columns")
    if all(c == "" or _looks_numeric(c) for c in cols):
        raise TableError(f"no header row (the first row holds only numbers: {', '.join(cols[:5])}); "
                         "add a row of column names such as lon,lat or address")
    seen: dict[str, int] = {}
    out = []
    for i, c in enumerate(cols):
        c = c or f"column_{i + 1}"
        if c in seen:
            seen[c] += 1
            c = f"{c}_{seen[c]}"
        else:
            seen[c] = 1
        out.append(c)
    return out


def _cell_str(value: Any) -> str:
    """A spreadsheet cell as text: integral floats without '.0', empty for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _read_csv_text(text: str) -> pd.DataFrame:
    if not text.strip():
        raise TableError("the file is empty")
    sep = _sniff_delimiter(text)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise TableError("the file is empty")
    header = _check_header(rows[0])
    width = len(header)
    body = []
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) > width and any(cell.strip() for cell in r[width:]):
            raise TableError(f"row {lineno} has {len(r)} fields but the header has {width}")
        body.append([cell.strip() for cell in r[:width]] + [""] * (width - len(r)))
    return pd.DataFrame(body, columns=header, dtype=object).astype(str)


def _read_sheet(data: bytes) -> pd.DataFrame:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise TableError("the workbook has no sheets")
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=True)
    except TableError:
        raise
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise TableError(f"not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    rows = [[_cell_str(v) for v in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        raise TableError("the first sheet is empty")
    header = _check_header(rows[0])
    width = len(header)
    body = [r[:width] + [""] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object).astype(str)


def read_table(source: str | Path | bytes | IO[bytes], filename: str | None = None,
               label: str | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table with every column as text.

    CSV is decoded as UTF-8 (with or without BOM), else GB18030 (what Excel writes on Chinese
    Windows); tab, semicolon or pipe separators are used when the header line clearly uses them.
    For XLSX/XLS the first sheet is read. Cells are stripped; missing cells are empty strings.

    Parameters
    ----------
    source : str, Path, bytes or binary file
        A path, or the file's content (e.g. an upload).
    filename : str, optional
        Name whose extension gives the format; defaults to the path's name.
        For bytes without a name, a ZIP signature means XLSX and anything else CSV.
    label : str, optional
        What the user calls the file (its path or upload name): error messages start with it.

    Returns
    -------
    DataFrame
        One column per header cell (str dtype).

    Raises
    ------
    TableError
        Empty file, unsupported extension, undecodable or binary content, missing header.
    """
    try:
        return _read_table(source, filename)
    except TableError as exc:
        if label is None:
            raise
        raise TableError(f"{label}: {exc.message}") from None


def _read_table(source: str | Path | bytes | IO[bytes], filename: str | None) -> pd.DataFrame:
    if isinstance(source, str | Path):
        path = Path(source)
        name = filename or path.name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise TableError("file not found") from None
        except IsADirectoryError:
            raise TableError("is a folder, not a file") from None
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = filename or "upload"
    else:
        data = source.read()
        name = filename or str(getattr(source, "filename", None) or getattr(source, "name", "upload"))
    ext = Path(name).suffix.lower()
    if not data or not data.strip():
        raise TableError("the file is empty")
    if not ext:
        ext = ".xlsx" if data.startswith(_ZIP_MAGIC) else ".csv"
    if ext in SHEET_EXTENSIONS:
        return _read_sheet(data)
    if ext in TEXT_EXTENSIONS:
        if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
            raise TableError("this is an Excel workbook, not CSV text; name it .xlsx or export CSV")
        return _read_csv_text(_decode(data))
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


def detect_columns(df: pd.DataFrame, lon: str | None = None, lat: str | None = None,
                   address: str | None = None) -> ColumnSpec:
    """Find the coordinate and address columns of a table.

    Parameters
    ----------
    df : DataFrame
        The table.
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
    columns = [str(c) for c in df.columns]
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
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _xlsx_bytes(df: pd.DataFrame) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    columns = [str(c) for c in df.columns]
    ws.append(columns)
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    widths = [_display_width(c) for c in columns]
    for row in df.itertuples(index=False, name=None):
        values = [_json_value(v) for v in row]
        ws.append(values)
        for j, v in enumerate(values):
            if v is not None:
                widths[j] = max(widths[j], _display_width(str(v)))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _geojson_bytes(df: pd.DataFrame, lon: str | None, lat: str | None) -> bytes:
    columns = [str(c) for c in df.columns]
    if lon is not None or lat is not None:
        spec = detect_columns(df, lon, lat)
        lon, lat = spec.lon, spec.lat
    else:
        lon, lat = _find(columns, LON_NAMES), _find(columns, LAT_NAMES)
    if lon is None or lat is None:
        raise TableError(f"cannot write GeoJSON: no lon/lat columns (columns: {', '.join(columns)})")
    xs = pd.to_numeric(df[lon], errors="coerce").to_numpy(float)
    ys = pd.to_numeric(df[lat], errors="coerce").to_numpy(float)
    features = []
    for row, x, y in zip(df.itertuples(index=False, name=None), xs, ys, strict=True):
        ok = math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90
        geometry = ({"type": "Point", "coordinates": [round(float(x), COORD_PRECISION),
                                                      round(float(y), COORD_PRECISION)]} if ok else None)
        features.append({"type": "Feature",
                         "properties": {c: _json_value(v) for c, v in zip(columns, row, strict=True)},
                         "geometry": geometry})
    text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return text.encode("utf-8")


def table_bytes(df: pd.DataFrame, fmt: str, lon: str | None = None, lat: str | None = None) -> bytes:
    """Serialise a table as CSV (UTF-8 with BOM), XLSX or GeoJSON.

    Parameters
    ----------
    df : DataFrame
        The table.
    fmt : str
        ``"csv"``, ``"xlsx"`` or ``"geojson"`` (a leading dot is allowed).
    lon, lat : str, optional
        Coordinate columns for GeoJSON; found by name when not given.

    Returns
    -------
    bytes
        The file content.

    Raises
    ------
    TableError
        Unknown format, or GeoJSON without coordinate columns.
    """
    ext = "." + fmt.lower().lstrip(".")
    if ext == ".csv":
        return df.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    if ext == ".xlsx":
        return _xlsx_bytes(df)
    if ext == ".geojson":
        return _geojson_bytes(df, lon, lat)
    raise TableError(f"cannot write {ext!r} files; use one of {', '.join(WRITE_EXTENSIONS)}")


def write_table(df: pd.DataFrame, path: str | Path | IO[bytes], fmt: str | None = None,
                lon: str | None = None, lat: str | None = None) -> Path | None:
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

    Returns
    -------
    Path or None
        The path written, or None when writing to a buffer.

    Raises
    ------
    TableError
        Unknown format or extension, or GeoJSON without coordinate columns.
    """
    if isinstance(path, str | Path):
        path = Path(path)
        ext = "." + (fmt or path.suffix).lower().lstrip(".")
        if ext not in WRITE_EXTENSIONS:
            raise TableError(f"cannot write {path.name!r}: unknown format {ext if ext != '.' else '(none)'!r}; "
                             f"use one of {', '.join(WRITE_EXTENSIONS)}")
        path.write_bytes(table_bytes(df, ext, lon, lat))
        return path
    if not fmt:
        raise TableError("give the format (csv, xlsx or geojson) when writing to a buffer")
    path.write(table_bytes(df, fmt, lon, lat))
    return None
