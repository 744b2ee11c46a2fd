"""Reading CSV text and XLSX sheets into frames of text, within the limits of a batch job when given."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from app.geo._tabular_limits import TableError, TableLimits, allow_csv_fields, check_workbook

if TYPE_CHECKING:  # imported by the readers that make a frame; a streamed batch uses only the sniffing here
    import pandas as pd

_DELIMITERS = (",", "\t", ";", "|")


def decode_text(data: bytes) -> str:
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
    header = next((line for line in text[:1 << 20].splitlines() if line.strip()), "")
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


def _start_table(first: list[str], limits: TableLimits | None) -> tuple[list[str], int]:
    """The header made of the first non-empty row, within the limits; and its width."""
    if limits is not None:
        limits.check_cells(first, 1)
    header = _check_header(first)
    if limits is not None:
        limits.check_columns(len(header))
    return header, len(header)


def _more_rows(rows: Any) -> int:
    """Count the further non-empty rows of a CSV reader, for the message (0 if the rest is unreadable)."""
    try:
        return sum(1 for r in rows if any(cell.strip() for cell in r))
    except csv.Error:
        return 0


def read_csv_text(text: str, limits: TableLimits | None = None) -> pd.DataFrame:
    if not text.strip():
        raise TableError("the file is empty")
    sep = _sniff_delimiter(text)
    if limits is not None:
        allow_csv_fields(limits.max_cell_chars + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    body: list[list[str]] = []
    lineno = 1
    try:
        for r in reader:
            if not any(cell.strip() for cell in r):
                continue
            if header is None:
                header, width = _start_table(r, limits)
                continue
            lineno += 1
            if limits is not None:
                limits.check_cells(r, lineno)
            if len(r) > width and any(cell.strip() for cell in r[width:]):
                raise TableError(f"row {lineno} has {len(r)} fields but the header has {width}")
            if limits is not None and len(body) >= limits.max_rows:
                raise limits.rows_error(len(body) + 1 + _more_rows(reader))
            body.append([cell.strip() for cell in r[:width]] + [""] * (width - len(r)))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            if limits is not None:
                raise limits.cell_error(lineno + (header is not None), limits.max_cell_chars, more=True) from None
            raise TableError(f"row {lineno + (header is not None)} has a cell longer than "
                             f"{csv.field_size_limit()} characters") from None
        raise TableError(f"not readable as CSV near line {reader.line_num} ({exc})") from None
    if header is None:
        raise TableError("the file is empty")
    import pandas as pd

    return pd.DataFrame(body, columns=header, dtype=object).astype(str)


def read_sheet(data: bytes, limits: TableLimits | None = None) -> pd.DataFrame:
    from python_calamine import CalamineWorkbook

    if limits is not None:
        check_workbook(data, limits)  # calamine unpacks and allocates a whole sheet at once
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise TableError("the workbook has no sheets")
        sheet = book.get_sheet_by_index(0)
        header: list[str] | None = None
        body: list[list[str]] = []
        for values in sheet.iter_rows():
            r = [_cell_str(v) for v in values]
            if not any(r):
                continue
            if header is None:
                header, width = _start_table(r, limits)
                continue
            if limits is not None:
                limits.check_cells(r, len(body) + 2)
            if limits is not None and len(body) >= limits.max_rows:
                raise limits.rows_error(limits.max_rows, more=True)
            body.append(r[:width] + [""] * (width - len(r)))
    except TableError:
        raise
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise TableError(f"not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    if header is None:
        raise TableError("the first sheet is empty")
    import pandas as pd

    return pd.DataFrame(body, columns=header, dtype=object).astype(str)
