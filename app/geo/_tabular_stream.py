"""Reading CSV, Parquet and GeoParquet a chunk at a time with pyarrow, within the limits of a batch job."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from app.geo._tabular_limits import TableError, TableLimits
from app.geo._tabular_read import _sniff_delimiter, _start_table, decode_text

if TYPE_CHECKING:
    import pandas as pd

#: Bytes read to find the encoding, the delimiter and the header of a CSV file.
SAMPLE_BYTES = 4 << 20
#: Bytes pyarrow parses at a time (a cell may not be longer than this).
BLOCK_BYTES = 4 << 20
#: Extensions read as Parquet; ``.geoparquet`` (or a ``geo`` key in the metadata) as GeoParquet.
PARQUET_EXTENSIONS = (".parquet", ".geoparquet", ".pq")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


class RaggedCsv(Exception):
    """A CSV row has another number of fields than the header (the row-by-row reader pads or refuses it)."""


@dataclass
class TableStream:
    """A table read a chunk at a time.

    Attributes
    ----------
    columns : list of str
        Column names of every chunk.
    schema : pyarrow.Schema
        Arrow types of the columns (all strings for CSV).
    chunks : iterator of pyarrow.Table or DataFrame
        The rows: Arrow tables (CSV, Parquet; see :func:`to_frame`), or DataFrames indexed by
        their rows' positions in the file (0 = first data row).
    total : int or None
        Number of data rows when known before reading (Parquet).
    crs : str or None
        CRS of the coordinates when the file says (GeoParquet).
    lon, lat : str or None
        Coordinate columns the reader made (GeoParquet: from the point geometry).
    kind : str
        ``"csv"``, ``"parquet"`` or ``"geoparquet"``.
    """

    columns: list[str]
    schema: pa.Schema
    chunks: Iterator[pa.Table | pd.DataFrame]
    total: int | None = None
    crs: str | None = None
    lon: str | None = None
    lat: str | None = None
    kind: str = "csv"
    extra: dict[str, Any] = field(default_factory=dict)


def sniff_csv(path: Path, limits: TableLimits | None) -> tuple[str, str, list[str], list[str]]:
    """The encoding, delimiter, raw header cells and checked column names of a CSV file, from its first bytes.

    Raises
    ------
    TableError
        Empty, binary, UTF-16, an Excel workbook, undecodable, or no header.
    """
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample.strip():
        raise TableError("the file is empty")
    if sample.startswith(_ZIP_MAGIC) or sample.startswith(_OLE_MAGIC):
        raise TableError("this is an Excel workbook, not CSV text; name it .xlsx or export CSV")
    if len(sample) == SAMPLE_BYTES and b"\n" in sample:
        sample = sample[:sample.rfind(b"\n") + 1]  # never cut a character in two
    text = decode_text(sample)
    try:
        sample.decode("utf-8-sig")
        encoding = "utf8"
    except UnicodeDecodeError:
        encoding = "gb18030"
    sep = _sniff_delimiter(text)
    raw = next((r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep)
                if any(cell.strip() for cell in r)), None)
    if raw is None:
        raise TableError("the file is empty")
    header, _ = _start_table(raw, limits)
    return encoding, sep, raw, header


def _strip_batch(batch: pa.RecordBatch, names: list[str]) -> pa.Table:
    """Cells stripped of whitespace, rows with only empty cells dropped, columns named ``names``."""
    import pyarrow.compute as pc

    from app.geo._arrow_np import text

    cols = [pc.utf8_trim_whitespace(col) for col in batch.columns]
    table = pa.Table.from_arrays(cols, names=names)
    if not cols:
        return table
    empty = text("")
    keep = pc.not_equal(cols[0], empty)
    for col in cols[1:]:
        keep = pc.or_(keep, pc.not_equal(col, empty))
    if not pc.all(keep).as_py():
        table = table.filter(keep)
    return table


def _check_cells(table: pa.Table, limits: TableLimits, first_row: int) -> None:
    """Refuse a chunk holding a cell longer than ``limits.max_cell_chars`` (``first_row``: its first row's number)."""
    import pyarrow.compute as pc

    for col in table.columns:
        lengths = pc.utf8_length(col)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limits.max_cell_chars:
            at = int(np.argmax(lengths.to_numpy(zero_copy_only=False) > limits.max_cell_chars))
            raise limits.cell_error(first_row + at, longest)


def _frames(tables: Iterator[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Arrow tables regrouped into tables of ``chunk_rows`` rows (the last one shorter)."""
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= chunk_rows:
            whole = pa.concat_tables(pending)
            head, rest = whole.slice(0, chunk_rows), whole.slice(chunk_rows)
            yield head.combine_chunks()
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
            del whole, head
    if held:
        yield pa.concat_tables(pending).combine_chunks()


def to_frame(table: pa.Table, first_row: int) -> pd.DataFrame:
    """A chunk as a DataFrame indexed by its rows' positions in the file (``first_row`` for its first)."""
    import pandas as pd

    frame = table.to_pandas(memory_pool=pa.system_memory_pool())
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


def csv_stream(path: Path, chunk_rows: int, limits: TableLimits | None) -> TableStream:
    """Open a CSV file (UTF-8, UTF-8 with BOM or GB18030) to be read in chunks of text cells.

    Parameters
    ----------
    path : Path
        The file.
    chunk_rows : int
        Rows per chunk.
    limits : TableLimits, optional
        File size, columns, cells and rows are held to them as the file is read.

    Returns
    -------
    TableStream
        Chunks of text cells, stripped; rows of empty cells skipped, as the row-by-row reader does.

    Raises
    ------
    TableError, TableLimitError
        As :func:`app.geo.tabular.read_table` (while iterating for cells and rows).
    RaggedCsv
        While iterating: a row with fewer or more fields than the header.
    """
    import pyarrow.csv as pacsv

    if limits is not None:
        limits.check_file(path.stat().st_size)
    encoding, sep, raw, header = sniff_csv(path, limits)
    types = {name: pa.string() for name in raw} | {"\ufeff" + raw[0]: pa.string()}
    block = BLOCK_BYTES if limits is None else max(BLOCK_BYTES, 8 * limits.max_cell_chars)

    ragged: list[int] = []

    def invalid(row: Any) -> str:
        ragged.append(row.actual_columns)  # raising here would be swallowed by pyarrow
        return "error"

    def tables() -> Iterator[pa.Table]:
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=block, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                     quoted_strings_can_be_null=False),
                memory_pool=pa.system_memory_pool())  # returns freed blocks: RSS stays near what is in use
        except pa.ArrowInvalid as exc:
            if ragged or "columns, got" in str(exc):
                raise RaggedCsv(str(exc)) from None
            raise _arrow_error(exc) from None
        rows = 0
        with reader:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    if ragged or "columns, got" in str(exc):
                        raise RaggedCsv(str(exc)) from None
                    raise _arrow_error(exc) from None
                if batch.num_columns != len(header):
                    raise RaggedCsv("the header row has another number of fields than pyarrow read")
                table = _strip_batch(batch, header)
                if limits is not None:
                    _check_cells(table, limits, rows + 2)
                    if rows + table.num_rows > limits.max_rows:
                        raise limits.rows_error(rows + table.num_rows + _count_rest(reader, header))
                rows += table.num_rows
                yield table

    return TableStream(header, pa.schema([(n, pa.string()) for n in header]), _frames(tables(), chunk_rows))


def _count_rest(reader: Any, header: list[str]) -> int:
    """The non-empty rows left in a CSV reader, for the message of the row limit."""
    rest = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return rest
        except (pa.ArrowInvalid, RaggedCsv):
            return rest
        rest += _strip_batch(batch, header).num_rows


def _arrow_error(exc: Exception) -> Exception:
    text = str(exc)
    if "straddling" in text or "block" in text and "size" in text:
        return TableError(f"not readable as CSV: a cell is longer than {BLOCK_BYTES >> 20} MiB")
    if "UTF8" in text or "utf8" in text.lower() and "invalid" in text.lower():
        return TableError("cannot decode the file as UTF-8 or GB18030 (bad byte at offset 0); save it as CSV UTF-8")
    return TableError(f"not readable as CSV near line 0 ({text.splitlines()[0] if text else exc})")


def _geo_crs(meta: dict[str, Any], column: str) -> str:
    """The CRS of a GeoParquet geometry column as ``EPSG:n`` (OGC:CRS84 when the file names none)."""
    info = meta.get("columns", {}).get(column, {})
    crs = info.get("crs")
    if crs is None:
        return "EPSG:4326"
    ident = crs.get("id") if isinstance(crs, dict) else None
    if isinstance(ident, dict) and str(ident.get("authority", "")).upper() == "EPSG":
        return f"EPSG:{ident['code']}"
    if isinstance(ident, dict) and str(ident.get("code", "")).upper() == "CRS84":
        return "EPSG:4326"
    import pyproj

    try:
        code = pyproj.CRS.from_user_input(crs if isinstance(crs, str) else json.dumps(crs)).to_epsg()
    except pyproj.exceptions.CRSError:
        code = None
    if code is None:
        raise TableError(f"the GeoParquet geometry column {column!r} has a CRS without an EPSG code")
    return f"EPSG:{code}"


def parquet_stream(path: Path, chunk_rows: int, limits: TableLimits | None) -> TableStream:
    """Open a Parquet or GeoParquet file to be read in chunks, its columns keeping their types.

    A GeoParquet file (``geo`` metadata) gives its primary geometry as two columns ``lon`` and
    ``lat`` (``geometry_lon``/``geometry_lat`` when those names are taken) in the file's CRS; the
    geometry column itself is left out. A row whose geometry is missing or not a point has
    empty coordinates.

    Parameters
    ----------
    path : Path
        The file.
    chunk_rows : int
        Rows per chunk.
    limits : TableLimits, optional
        File size, columns and rows are checked before reading.

    Returns
    -------
    TableStream
        The chunks, the row count from the file's footer, and for GeoParquet the CRS and coordinate columns.

    Raises
    ------
    TableError, TableLimitError
        Not a Parquet file, or over the limits.
    """
    import pyarrow.parquet as pq
    import shapely

    if limits is not None:
        limits.check_file(path.stat().st_size)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TableError(f"not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    meta = json.loads((schema.metadata or {}).get(b"geo", b"null") or b"null")
    total = pf.metadata.num_rows
    geom = meta.get("primary_column", "geometry") if isinstance(meta, dict) else None
    if geom is not None and geom not in schema.names:
        geom = None
    names = [n for n in schema.names if n != geom and not n.startswith("__index_level_")]
    lon = lat = None
    if geom is not None:
        lon, lat = ("lon", "lat") if not {"lon", "lat"} & set(names) else (f"{geom}_lon", f"{geom}_lat")
    out_names = names + ([lon, lat] if geom else [])
    if limits is not None:
        limits.check_columns(len(out_names))
        if total > limits.max_rows:
            raise limits.rows_error(total)
    fields = [schema.field(n) for n in names] + ([pa.field(lon, pa.float64()), pa.field(lat, pa.float64())]
                                                   if geom else [])

    def tables() -> Iterator[pa.Table]:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=names + ([geom] if geom else [])):
            table = pa.Table.from_batches([batch])
            if geom is not None:
                wkb = table.column(geom).to_numpy(zero_copy_only=False)
                points = shapely.from_wkb(wkb, on_invalid="ignore")
                is_point = shapely.get_type_id(points) == 0
                x = np.where(is_point, shapely.get_x(points), np.nan)
                y = np.where(is_point, shapely.get_y(points), np.nan)
                table = table.drop_columns([geom]).append_column(lon, pa.array(x)).append_column(lat, pa.array(y))
            yield table

    return TableStream(out_names, pa.schema(fields), _frames(tables(), chunk_rows), total=total,
                       crs=_geo_crs(meta, geom) if geom else None, lon=lon, lat=lat,
                       kind="geoparquet" if geom else "parquet")


def header_of(path: Path) -> list[str]:
    """The column names of a CSV or (Geo)Parquet file without reading its rows (for partitions' schemas)."""
    if path.suffix.lower() in PARQUET_EXTENSIONS:
        return parquet_stream(path, 1, None).columns
    return sniff_csv(path, None)[3]
