"""Limits on batch tables, and the checks that hold a hostile CSV or XLSX to them before and while it is read."""

from __future__ import annotations

import csv
import io
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import GridmapError

if TYPE_CHECKING:
    from app.settings import Config

_MIB = 1024 * 1024
#: Bytes of worksheet XML that a real cell takes at the least (``<c r="A1"><v>1</v></c>`` is 22):
#: a sheet may span one cell per this many bytes of ``BATCH_MAX_UNPACKED_MB``.
BYTES_PER_CELL = 16
#: Most parts (zip members) a workbook may hold; Excel writes a few dozen.
MAX_PARTS = 1000
_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # the zip local file header, as in zipfile
_CENTRAL_SIGNATURE = b"PK\x01\x02"


class TableError(GridmapError, ValueError):
    """A table cannot be read or written; the message names the problem."""

    default_key = "table"


class TableLimitError(TableError):
    """A table goes over a limit of :class:`TableLimits`; the message and the detail name the limit and its setting."""

    default_status = 413
    default_key = "table.limit"


def _mib(n: int) -> str:
    if n < _MIB:
        return f"{n / 1024:.0f} KiB"
    value = n / _MIB
    return f"{value:.0f} MiB" if value == int(value) else f"{value:.1f} MiB"


@dataclass(frozen=True)
class TableLimits:
    """What one batch file may hold and its result may weigh; checked before and while the file is read.

    Attributes
    ----------
    max_file_bytes : int
        Largest file (``MAX_UPLOAD_MB``; ``ANON_BATCH_MAX_MB`` for the public).
    max_rows : int
        Most data rows (``BATCH_MAX_ROWS``; ``ANON_BATCH_MAX_ROWS`` for the public).
    max_columns : int
        Most columns (``BATCH_MAX_COLUMNS``).
    max_cell_chars : int
        Longest cell, in characters (``BATCH_MAX_CELL_CHARS``).
    max_unpacked_bytes : int
        Largest total size of an XLSX file's parts once unpacked (``BATCH_MAX_UNPACKED_MB``).
    max_response_bytes : int
        Largest result, as a file or a JSON answer (``BATCH_MAX_RESPONSE_MB``).
    file_setting, rows_setting : str
        The settings that gave ``max_file_bytes`` and ``max_rows``, for the messages.
    """

    max_file_bytes: int
    max_rows: int
    max_columns: int
    max_cell_chars: int
    max_unpacked_bytes: int
    max_response_bytes: int
    file_setting: str = "MAX_UPLOAD_MB"
    rows_setting: str = "BATCH_MAX_ROWS"

    @classmethod
    def from_config(cls, config: Config, signed_in: bool) -> TableLimits:
        """Build the limits of a signed-in staff member (and of the CLI), or the lower ones of the public.

        Parameters
        ----------
        config : app.settings.Config
            The resolved settings.
        signed_in : bool
            True for staff (``MAX_UPLOAD_MB``, ``BATCH_MAX_ROWS``); False for the public
            (``ANON_BATCH_MAX_MB``, ``ANON_BATCH_MAX_ROWS``).

        Returns
        -------
        TableLimits
            The limits.
        """
        if signed_in:
            file_mb, file_setting = config.MAX_UPLOAD_MB, "MAX_UPLOAD_MB"
            rows, rows_setting = config.BATCH_MAX_ROWS, "BATCH_MAX_ROWS"
        else:
            file_mb, file_setting = config.ANON_BATCH_MAX_MB, "ANON_BATCH_MAX_MB"
            rows, rows_setting = config.ANON_BATCH_MAX_ROWS, "ANON_BATCH_MAX_ROWS"
        return cls(max_file_bytes=file_mb * _MIB, max_rows=rows, max_columns=config.BATCH_MAX_COLUMNS,
                   max_cell_chars=config.BATCH_MAX_CELL_CHARS,
                   max_unpacked_bytes=config.BATCH_MAX_UNPACKED_MB * _MIB,
                   max_response_bytes=config.BATCH_MAX_RESPONSE_MB * _MIB,
                   file_setting=file_setting, rows_setting=rows_setting)

    @property
    def max_cells(self) -> int:
        """Most cells a sheet may span (rows × columns, empty ones included)."""
        return max(self.max_unpacked_bytes // BYTES_PER_CELL, 1)

    def _refuse(self, limit: str, setting: str, maximum: int, message: str) -> TableLimitError:
        public = " without signing in" if setting.startswith("ANON_") else ""
        return TableLimitError(f"{message}{public} (GRIDMAP_{setting})", limit=limit,
                               setting=f"GRIDMAP_{setting}", maximum=maximum)

    def check_file(self, size: int, what: str = "the file", allowance: int = 0) -> None:
        """Refuse a file (or an upload with ``allowance`` bytes of form around it) above ``max_file_bytes``."""
        if size > self.max_file_bytes + allowance:
            raise self._refuse("file_size", self.file_setting, self.max_file_bytes,
                               f"{what} is {_mib(size)}; at most {_mib(self.max_file_bytes)} are accepted")

    def rows_error(self, rows: int, more: bool = False) -> TableLimitError:
        """The error for a table of ``rows`` data rows (``more``: at least that many)."""
        count = f"more than {rows}" if more else str(rows)
        return self._refuse("rows", self.rows_setting, self.max_rows,
                            f"the file has {count} rows; at most {self.max_rows} are accepted")

    def check_columns(self, columns: int, what: str = "the file has") -> None:
        """Refuse a table of more than ``max_columns`` columns."""
        if columns > self.max_columns:
            raise self._refuse("columns", "BATCH_MAX_COLUMNS", self.max_columns,
                               f"{what} {columns} columns; at most {self.max_columns} are accepted")

    def cell_error(self, row: int, chars: int, more: bool = False) -> TableLimitError:
        """The error for a cell of ``chars`` characters (``more``: at least that many) in ``row``."""
        count = f"more than {chars}" if more else str(chars)
        return self._refuse("cell_chars", "BATCH_MAX_CELL_CHARS", self.max_cell_chars,
                            f"row {row} has a cell of {count} characters; at most {self.max_cell_chars} "
                            "are accepted")

    def check_cells(self, cells: list[str], row: int) -> None:
        """Refuse a row holding a cell longer than ``max_cell_chars``."""
        longest = max(map(len, cells), default=0)
        if longest > self.max_cell_chars:
            raise self.cell_error(row, longest)

    def unpacked_error(self, size: int) -> TableLimitError:
        """The error for a workbook that unpacks to ``size`` bytes."""
        return self._refuse("unpacked_size", "BATCH_MAX_UNPACKED_MB", self.max_unpacked_bytes,
                            f"the workbook unpacks to {_mib(size)}; at most {_mib(self.max_unpacked_bytes)} "
                            "are accepted")

    def check_span(self, rows: int, columns: int) -> None:
        """Refuse a sheet spanning more rows (header included), columns or cells than the limits allow."""
        if rows > self.max_rows + 1:
            raise self._refuse("rows", self.rows_setting, self.max_rows,
                               f"a sheet of the workbook spans {rows} rows; at most {self.max_rows} "
                               "(and a header) are accepted")
        self.check_columns(columns, "a sheet of the workbook spans")
        if rows * columns > self.max_cells:
            raise self._refuse("sheet_cells", "BATCH_MAX_UNPACKED_MB", self.max_cells,
                               f"a sheet of the workbook spans {rows} rows × {columns} columns; at most "
                               f"{self.max_cells} cells are accepted (one per {BYTES_PER_CELL} bytes of "
                               "the unpacked size)")

    def check_strings(self, count: int) -> None:
        """Refuse a workbook with more shared strings than its cells could use (a sheet's rows × columns)."""
        cells = min((self.max_rows + 1) * self.max_columns, self.max_cells)
        if count > cells:
            setting = self.rows_setting if cells < self.max_cells else "BATCH_MAX_UNPACKED_MB"
            raise self._refuse("shared_strings", setting, cells,
                               f"the workbook holds {count} shared strings; at most {cells} are accepted "
                               "(as many as the cells of a sheet)")

    def response_error(self) -> TableLimitError:
        """The error for a result larger than ``max_response_bytes``."""
        return self._refuse("response_size", "BATCH_MAX_RESPONSE_MB", self.max_response_bytes,
                            f"the result would be larger than {_mib(self.max_response_bytes)}, the most that "
                            "is sent; split the file, or ask for CSV, the smallest format")


def collect(chunks: Iterable[bytes], limits: TableLimits | None) -> list[bytes]:
    """Gather the chunks of a result, refusing it as soon as it passes ``limits.max_response_bytes``."""
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if limits is not None and total > limits.max_response_bytes:
            raise limits.response_error()
        parts.append(chunk)
    return parts


_FIELD_LOCK = threading.Lock()


def allow_csv_fields(chars: int) -> None:
    """Let the csv module read fields of ``chars`` characters.

    Its limit is one value for the whole process, so it is only ever raised (a thread reading with
    a lower limit of its own checks its cells itself).
    """
    with _FIELD_LOCK:
        if csv.field_size_limit() < chars:
            csv.field_size_limit(chars)


# --- XLSX: the zip parts and the span of the sheets, checked before calamine reads anything ---------------

_START_WITHOUT_R = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(?:c|row)(?=[\s/>])(?!\s+r\s*=)")
# an attribute follows a space (or, in sloppy XML, a quote); a prefixed x:r is not calamine's r
_R_VALUE = re.compile(rb"""[\s"']r\s*=\s*["']?([A-Za-z]*)0*([0-9]*)""")
_CELL_REF = re.compile(r"([A-Za-z]*)([0-9]*)")


def _column_number(letters: str | bytes) -> int:
    """``A`` → 1, ``Z`` → 26, ``AA`` → 27."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ch if isinstance(ch, int) else ord(ch)) - 64
    return number


def _referenced_extent(xml: bytes | bytearray) -> tuple[int, int]:
    """The most rows and columns any ``r="…"`` in a part names, wherever it stands (errs high)."""
    rows, letters = 0, set()
    start = 0
    while start < len(xml):
        stop = xml.find(b"<", start + _CHUNK)  # a reference holds no "<": cutting before one never splits it
        stop = len(xml) if stop < 0 else stop
        found = _R_VALUE.findall(xml, start, stop)
        if found:
            rows = max(rows, max(int(digits or 0) for _, digits in found))
            letters.update(col for col, _ in found)
        start = stop
    return rows, max(map(_column_number, letters), default=0)


def _implicit_extent(xml: bytes | bytearray) -> tuple[int, int]:
    """The rows and columns of a part whose cells or rows lack references, placed as calamine places them.

    A ``<c>`` without ``r`` goes right of the cell before it and a ``<row>`` without ``r`` below
    the row before it; an XML parser tells real tags from text, comments and attribute values.
    """
    from xml.parsers import expat

    state = {"row": -1, "col": -1, "rows": 0, "cols": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "row":
            ref = attrs.get("r", "")
            state["row"] = int(ref) - 1 if ref.isdigit() else state["row"] + 1
            state["col"] = -1
        elif local == "c":
            found = _CELL_REF.fullmatch(attrs.get("r", ""))
            letters, digits = found.groups() if found else ("", "")
            col = _column_number(letters) - 1 if letters else state["col"] + 1
            row = int(digits) - 1 if digits else state["row"]
            state["col"] = col
            state["rows"] = max(state["rows"], row + 1)
            state["cols"] = max(state["cols"], col + 1)

    def doctype(*_: object) -> None:
        raise TableError("the workbook has a sheet with a DTD; save the file again from Excel")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise TableError(f"the workbook has a malformed sheet ({exc})") from None
    return state["rows"], state["cols"]


def _part_extent(xml: bytes | bytearray) -> tuple[int, int]:
    """The rows and columns a part could make calamine allocate if it were read as a worksheet.

    calamine holds a sheet as a dense rows × columns grid, so one far-away cell reference in a
    tiny file asks for terabytes. Every part is measured, since the workbook's relations may
    name any part as its first sheet.
    """
    rows, cols = _referenced_extent(xml)
    if _START_WITHOUT_R.search(xml):
        more_rows, more_cols = _implicit_extent(xml)
        rows, cols = max(rows, more_rows), max(cols, more_cols)
    return rows, cols


def _part_chunks(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The unpacked bytes of one part, a chunk at a time, read from its raw data (not bounded by its header)."""
    head = data[info.header_offset:info.header_offset + _LOCAL_HEADER.size]
    if len(head) < _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
        raise TableError(f"not a readable Excel workbook (part {info.filename!r} is missing)")
    fields = _LOCAL_HEADER.unpack(head)
    start = info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]
    raw = memoryview(data)[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        for i in range(0, len(raw), _CHUNK):
            yield bytes(raw[i:i + _CHUNK])
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise TableError(f"the workbook part {info.filename!r} uses compression method {info.compress_type}; "
                         "save the file again from Excel")
    inflater = zlib.decompressobj(-15)
    try:
        for i in range(0, len(raw), 1 << 16):
            piece = bytes(raw[i:i + (1 << 16)])
            while piece and not inflater.eof:
                out = inflater.decompress(piece, _CHUNK)
                if out:
                    yield out
                piece = inflater.unconsumed_tail
            if inflater.eof:
                break
        tail = inflater.flush()
    except zlib.error as exc:
        raise TableError(f"not a readable Excel workbook (part {info.filename!r}: {exc})") from None
    if tail:
        yield tail


def check_workbook(data: bytes, limits: TableLimits) -> None:
    """Check an XLSX file's parts before calamine reads it.

    The declared unpacked size must be within ``max_unpacked_bytes``; every part is then unpacked
    here, a chunk at a time, and refused when it holds more than it declares (a lying header);
    and the worksheets may span at most the rows, columns and cells the limits allow.

    Parameters
    ----------
    data : bytes
        The file.
    limits : TableLimits
        The limits.

    Raises
    ------
    TableLimitError
        Too large once unpacked, or a sheet spanning too many rows, columns or cells.
    TableError
        Not a zip, too many parts, encrypted, binary (.xlsb) or OpenDocument, unknown compression,
        a part larger than its header says, UTF-16 parts, a malformed sheet.
    """
    if not data.startswith(b"PK\x03\x04"):
        raise TableError("not an XLSX workbook (an .xlsx file is a zip archive); save it as .xlsx or CSV")
    if data.count(_CENTRAL_SIGNATURE) > MAX_PARTS:
        raise TableError(f"the workbook holds more than {MAX_PARTS} parts; Excel files hold a few dozen")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        raise TableError(f"not a readable Excel workbook ({exc})") from None
    names = {info.filename.lower() for info in infos}
    if "xl/workbook.bin" in names or "content.xml" in names:
        raise TableError("binary (.xlsb) and OpenDocument workbooks are not accepted; save the file as .xlsx")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_unpacked_bytes:
        raise limits.unpacked_error(declared)
    for info in infos:
        if info.flag_bits & 0x1:
            raise TableError("the workbook is encrypted; save it without a password")
        part = bytearray()
        for chunk in _part_chunks(data, info):
            if not part and chunk[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
                raise TableError(f"the workbook part {info.filename!r} is UTF-16 text; save the file again from Excel")
            if len(part) + len(chunk) > info.file_size:
                raise TableError(f"the workbook part {info.filename!r} unpacks to more than the {info.file_size} "
                                 "bytes it declares; refusing a probable zip bomb")
            part += chunk
        # calamine keeps every shared string (some 40 bytes each), used or not
        limits.check_strings(sum(part.count(tag) for tag in (b"<si>", b"<si ", b"<si/", b":si>", b":si ", b":si/")))
        rows, cols = _part_extent(part)
        if cols:
            limits.check_span(rows, cols)
