"""Batch location of a whole file, streamed in chunks: read with pyarrow, locate each chunk, write it."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from app.errors import GridmapError
from app.geo import _arrow_np as an
from app.geo import tabular
from app.geo._locate_arrow import locate_frame_basic, locate_table
from app.geo._tabular_limits import TableError, TableLimits
from app.geo._tabular_stream import (
    PARQUET_EXTENSIONS,
    RaggedCsv,
    TableStream,
    csv_stream,
    parquet_stream,
    to_frame,
)
from app.geo._tabular_write import STREAM_FORMATS, ChunkWriter, result_schema

if TYPE_CHECKING:  # a batch of Arrow chunks (CSV, Parquet) never loads pandas or the layers' modules
    import pandas as pd

    from app.geo.dataset import Dataset

#: The row statuses, in the order of :data:`app.geo.locate.STATUSES` (a test checks they are the same; a
#: coordinate batch does not import the single lookups and their address tree).
STATUSES = ("ok", "ambiguous", "outside", "not_found", "invalid")
#: Rows located at a time: memory grows with this, not with the file.
DEFAULT_CHUNK_ROWS = 50_000
#: Output formats by extension (``--geoparquet`` turns ``.parquet`` into GeoParquet).
OUT_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".parquet": "parquet",
               ".geoparquet": "geoparquet"}
#: Input extensions a batch job reads.
IN_EXTENSIONS = tabular.TEXT_EXTENSIONS + tabular.SHEET_EXTENSIONS + PARQUET_EXTENSIONS
#: Types of the columns :func:`app.geo.locate.locate_frame` adds.
RESULT_TYPES: dict[str, pa.DataType] = {
    **{name: pa.string() for name in ("grid_code", "grid_name", "committee_code", "committee_name",
                                      "division_code", "division_name", "status", "match_kind",
                                      "matched_address", "nearest_grid_code", "nearest_address", "message")},
    **{name: pa.float64() for name in ("score", "distance_m", "nearest_address_m", "lon_wgs84", "lat_wgs84")},
    "on_border": pa.bool_(),
}
#: The engines of ``gridmap locate-batch --engine``: this process, or a dask.distributed cluster.
ENGINES = ("local", "dask")
#: Threads locating chunks of one batch job (the machine's cores, at most 4).
THREADS = max(1, min(4, os.cpu_count() or 1))
#: The result columns of ``gridmap locate-batch --columns``: every column, or the grid, status and message only.
COLUMNS = ("full", "basic")
#: Output formats ``--columns basic`` writes (the others need the WGS84 position it leaves out).
BASIC_FORMATS = ("csv", "parquet", "xlsx")
#: Rows located between two hand-backs of the freed heap to the system (see :func:`_heap_settings`).
TRIM_ROWS = 500_000
#: Rows with a status other than ok or a message, listed at most in :attr:`BatchResult.noted`.
MAX_NOTED = 20

#: ``progress(rows_done, rows_total_or_None, seconds)``.
Progress = Callable[[int, "int | None", float], None]


def _locate_frame(basic: bool) -> Callable[..., pd.DataFrame]:
    """The pandas path: :func:`app.geo.locate.locate_frame`, or its basic variant."""
    from app.geo.locate import locate_frame

    return locate_frame_basic if basic else locate_frame


class BatchError(GridmapError, ValueError):
    """A batch job that cannot run: bad options, partitions or cluster; the message names the problem."""

    default_key = "batch"


@dataclass
class BatchResult:
    """What a batch job did.

    Attributes
    ----------
    out : Path
        The file written.
    counts : dict
        Rows by status, and ``total``.
    noted : list of (int, str, str)
        The first rows needing a look: (line in the input, 2 for the first data row; status; message).
    seconds : float
        Wall time.
    reader : str
        ``"csv"``, ``"parquet"``, ``"geoparquet"`` (streamed) or ``"memory"`` (XLSX, ragged CSV).
    """

    out: Path
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in (*STATUSES, "total")})
    noted: list[tuple[int, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    reader: str = "csv"


def output_format(out: Path, geoparquet: bool = False, columns: str = "full") -> str:
    """The format of an output file from its extension, refusing an unknown one before any work.

    Parameters
    ----------
    out : Path
        The output file.
    geoparquet : bool
        Write GeoParquet even to ``.parquet``.
    columns : str
        ``full`` or ``basic`` (see :data:`COLUMNS`); ``basic`` writes only :data:`BASIC_FORMATS`.

    Returns
    -------
    str
        ``csv``, ``xlsx``, ``geojson``, ``parquet`` or ``geoparquet``.

    Raises
    ------
    BatchError
        Unknown extension, ``geoparquet`` with another format than Parquet, unknown ``columns``,
        or ``basic`` with GeoJSON/GeoParquet.
    """
    fmt = OUT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise BatchError(f"cannot write {out.name!r}: unknown format {out.suffix or '(none)'!r}; "
                         f"use one of {', '.join(OUT_FORMATS)}")
    if geoparquet and fmt not in ("parquet", "geoparquet"):
        raise BatchError(f"--geoparquet needs a .parquet or .geoparquet output, not {out.suffix!r}")
    fmt = "geoparquet" if geoparquet else fmt
    if columns not in COLUMNS:
        raise BatchError(f"unknown columns {columns!r}; use one of {', '.join(COLUMNS)}")
    if columns == "basic" and fmt not in BASIC_FORMATS:
        raise BatchError(f"--columns basic writes .csv, .parquet or .xlsx, not {fmt}: it has no WGS84 position "
                         "for a geometry; use --columns full")
    return fmt


def open_input(path: Path, chunk_rows: int, limits: TableLimits | None) -> TableStream:
    """Open an input file for streaming (CSV, Parquet, GeoParquet) or read it whole (XLSX).

    Raises
    ------
    TableError
        Missing file, unknown extension, unreadable content, or over ``limits``.
    """
    ext = path.suffix.lower()
    if not path.is_file():
        raise TableError("file not found" if not path.exists() else "is a folder, not a file")
    if ext in PARQUET_EXTENSIONS:
        return parquet_stream(path, chunk_rows, limits)
    if ext in tabular.TEXT_EXTENSIONS or not ext:
        return csv_stream(path, chunk_rows, limits)
    return _memory_stream(path, chunk_rows, limits)


def _memory_stream(path: Path, chunk_rows: int, limits: TableLimits | None) -> TableStream:
    """A file read whole by :func:`app.geo.tabular.read_table`, handed out in chunks."""
    df = tabular.read_table(path, limits=limits)
    chunks = (df.iloc[i:i + chunk_rows] for i in range(0, len(df), chunk_rows))
    schema = pa.schema([(str(c), pa.string()) for c in df.columns])
    return TableStream([str(c) for c in df.columns], schema, chunks, total=len(df), kind="memory")


def locate_file(ds: Dataset, infile: Path, outfile: Path, *, crs: str | int | None = None,
                lon_col: str | None = None, lat_col: str | None = None, address_col: str | None = None,
                limits: TableLimits | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS, geoparquet: bool = False,
                translate: Callable[[str], str] | None = None, progress: Progress | None = None,
                columns: str = "full", cache_dir: Path | None = None) -> BatchResult:
    """Locate every row of a file, a chunk at a time, and write the result as it goes.

    CSV and (Geo)Parquet are read and written with pyarrow in chunks of ``chunk_rows`` rows,
    so memory does not grow with the file. XLSX input and XLSX/GeoJSON output are whole-file
    (in memory), and so is a CSV whose rows do not all have the header's number of fields (the
    row-by-row reader pads short rows as before). Each chunk is located by
    :func:`app.geo.locate.locate_frame`: every row is kept with its status and message. The
    result is written to a temporary file next to ``outfile`` and renamed when complete, so a
    refused or failed job leaves no output.

    Parameters
    ----------
    ds : Dataset
        The data version.
    infile, outfile : Path
        Input (.csv/.tsv/.txt, .xlsx, .parquet, .geoparquet) and output (see :data:`OUT_FORMATS`).
    crs : str or int, optional
        CRS of the coordinates; by default WGS84, or a GeoParquet input's own CRS.
    lon_col, lat_col, address_col : str, optional
        Columns; found by name when not given.
    limits : TableLimits, optional
        Limits of the input and the result (the staff limits on the CLI).
    chunk_rows : int
        Rows located at a time.
    geoparquet : bool
        Write GeoParquet (a WKB point geometry and ``geo`` metadata) to a ``.parquet`` output.
    translate : callable, optional
        Turns each row message into the user's language.
    progress : callable, optional
        Called after each chunk as ``progress(done, total, seconds)``; total is None when unknown.
    columns : str
        ``full`` (every column of :func:`app.geo.locate.locate_frame`) or ``basic``: the input
        columns, then grid code and name, committee and division codes, status and message, with
        the same values as ``full``; coordinate rows get no nearest grid (an outside row's message
        is "outside every grid"), nearest address or other-datum check, which makes it several
        times faster. Address rows are matched as in ``full``.
    cache_dir : Path, optional
        A folder for the data version's batch index (``INSTANCE_DIR/cache`` on the CLI): a table of
        coordinates loads it from there, or builds it once and saves it there for later jobs.

    Returns
    -------
    BatchResult
        Counts by status, the first rows needing a look, timing.

    Raises
    ------
    BatchError, TableError, TableLimitError, LocateError
        Bad output extension, unreadable input, over the limits, no coordinate or address column.
    """
    started = time.perf_counter()
    fmt = output_format(outfile, geoparquet, columns)
    tmp = outfile.with_name(f".{outfile.name}.partial")
    try:
        try:
            try:
                result = _run(ds, open_input(infile, chunk_rows, limits), tmp, fmt, crs, lon_col, lat_col,
                              address_col, limits, translate, progress, started, columns, cache_dir)
            except RaggedCsv:  # pyarrow cannot pad a short row: read it row by row, as before
                result = _run(ds, _memory_stream(infile, chunk_rows, limits), tmp, fmt, crs, lon_col, lat_col,
                              address_col, limits, translate, progress, started, columns, cache_dir)
        except TableError as exc:
            if exc.message.startswith(f"{infile}: "):
                raise
            raise type(exc)(f"{infile}: {exc.message}", exc.status, key=exc.key, **exc.detail) from None
        os.replace(tmp, outfile)
    finally:
        tmp.unlink(missing_ok=True)
    result.out = outfile
    result.seconds = time.perf_counter() - started
    return result


def _run(ds: Dataset, stream: TableStream, tmp: Path, fmt: str, crs: str | int | None, lon_col: str | None,
         lat_col: str | None, address_col: str | None, limits: TableLimits | None,
         translate: Callable[[str], str] | None, progress: Progress | None, started: float,
         columns: str = "full", cache_dir: Path | None = None) -> BatchResult:
    """Locate the chunks of ``stream`` into ``tmp``: Arrow in and out for CSV/Parquet, two chunks at a time.

    Chunks are located on a pool of :data:`THREADS` threads (shapely, pyproj, scipy and pyarrow
    release the interpreter lock) while this thread reads the next one and writes the finished
    ones in order; at most :data:`THREADS` + 1 chunks are held at once.
    """
    result = BatchResult(tmp, reader=stream.kind)
    lon_col, lat_col = lon_col or stream.lon, lat_col or stream.lat
    crs = crs if crs is not None else stream.crs
    arrow = fmt in STREAM_FORMATS
    writer: ChunkWriter | None = None
    whole: list[pd.DataFrame] = []
    done = 0
    basic = columns == "basic"

    def locate(chunk: pa.Table | pd.DataFrame, first: int) -> tuple[pa.Table | pd.DataFrame, pa.Buffer | None]:
        if arrow and isinstance(chunk, pa.Table):
            out = _translated(locate_table(ds, chunk, crs=crs, lon_col=lon_col, lat_col=lat_col,
                                           address_col=address_col, basic=basic, cache_dir=cache_dir), translate)
            # the CSV text is formatted here too, in parallel with other chunks; finish writes it in order
            return out, (writer.encode(out) if writer is not None else None)
        if isinstance(chunk, pa.Table):
            chunk = to_frame(chunk, first)
        out = _locate_frame(basic)(ds, chunk, crs=crs, lon_col=lon_col, lat_col=lat_col, address_col=address_col)
        if translate is not None:
            out["message"] = [translate(m) if isinstance(m, str) and m else m for m in out["message"]]
        return out, None

    def finish(located: tuple[pa.Table | pd.DataFrame, pa.Buffer | None], first: int) -> None:
        nonlocal writer, done
        out, encoded = located
        _count(result, out, first)
        if fmt in STREAM_FORMATS:
            if writer is None:
                names = out.column_names if isinstance(out, pa.Table) else [str(c) for c in out.columns]
                writer = _writer(tmp, fmt, stream.schema, names, limits)
            if encoded is not None:
                writer.write_encoded(encoded)
            elif isinstance(out, pa.Table):
                writer.write_table(out)
            else:
                writer.write(out)
        else:
            whole.append(to_frame(out, first) if isinstance(out, pa.Table) else out)
        done += out.num_rows if isinstance(out, pa.Table) else len(out)
        if progress is not None:
            progress(done, stream.total, time.perf_counter() - started)

    pending: deque[tuple[Future[tuple[pa.Table | pd.DataFrame, pa.Buffer | None]], int]] = deque()
    pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="locate-batch")
    try:
        read = trimmed = 0
        _heap_settings()
        for chunk in stream.chunks:
            rows = chunk.num_rows if isinstance(chunk, pa.Table) else len(chunk)
            if read == 0:  # the first chunk here: it builds the index and lookups once, before any thread
                finish(locate(chunk, 0), 0)
            else:
                pending.append((pool.submit(locate, chunk, read), read))
            read += rows
            del chunk
            while len(pending) >= THREADS or (pending and pending[0][0].done()):
                future, first = pending.popleft()
                finish(future.result(), first)
                del future
                trimmed += rows
                if trimmed >= TRIM_ROWS:
                    trimmed = 0
                    _trim()
        while pending:
            future, first = pending.popleft()
            finish(future.result(), first)
        if done == 0:  # a header without rows: the result has the header and the columns added
            import pandas as pd

            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in stream.columns})
            out = _locate_frame(basic)(ds, empty, crs=crs, lon_col=lon_col, lat_col=lat_col, address_col=address_col)
            if fmt in STREAM_FORMATS:
                writer = _writer(tmp, fmt, stream.schema, list(out.columns), limits)
            else:
                whole.append(out)
        if writer is not None:
            writer.close()
            writer = None
        else:
            import pandas as pd

            tabular.write_table(pd.concat(whole), tmp, fmt=fmt, lon="lon_wgs84", lat="lat_wgs84", limits=limits)
    finally:
        for future, _ in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.close()
    return result


def _translated(table: pa.Table, translate: Callable[[str], str] | None) -> pa.Table:
    """The table with each distinct row message translated once (dictionary-encoded, then decoded)."""
    if translate is None:
        return table
    import pyarrow.compute as pc

    at = table.column_names.index("message")
    codes = pc.dictionary_encode(table.column("message")).combine_chunks()
    words = an.strings([translate(m) if m else m for m in codes.dictionary.to_pylist()])
    return table.set_column(at, "message", words.take(codes.indices))


def _trim() -> None:
    """Give the heap that a located chunk freed back to the system (glibc keeps it otherwise), for a flat RSS."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


def _heap_settings() -> None:
    """Blocks of a chunk from the heap, and up to 64 MiB kept free on top of a heap between chunks.

    glibc otherwise gives the top of a heap back as soon as 128 KiB are free and takes it again for
    the next chunk: page faults that cost a tenth of a batch's CPU time. The heap is still handed back
    every :data:`TRIM_ROWS` rows (:func:`_trim`), so the RSS stays flat.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _writer(tmp: Path, fmt: str, schema: pa.Schema, columns: list[str], limits: TableLimits | None) -> ChunkWriter:
    return ChunkWriter(tmp, fmt, result_schema(schema, columns, RESULT_TYPES), lon="lon_wgs84", lat="lat_wgs84",
                       limits=limits)


def _count(result: BatchResult, out: pa.Table | pd.DataFrame, first: int) -> None:
    """Add a located chunk's statuses to the counts and its first rows needing a look to the notes."""
    import pyarrow.compute as pc

    if not isinstance(out, pa.Table):  # a DataFrame indexed by its rows' positions in the file
        positions = out.index.to_numpy()
        out = pa.Table.from_pandas(out[["status", "message"]], preserve_index=False)
    else:
        positions = np.arange(first, first + out.num_rows)
    status = out.column("status")
    for pair in pc.value_counts(status).to_pylist():
        result.counts[str(pair["values"])] = result.counts.get(str(pair["values"]), 0) + int(pair["counts"])
    result.counts["total"] += out.num_rows
    if len(result.noted) < MAX_NOTED:
        message = pc.fill_null(out.column("message").cast(pa.string()), an.text(""))
        noted = pc.or_(pc.fill_null(pc.not_equal(status, an.text("ok")), an.flag(True)),
                       pc.not_equal(message, an.text("")))
        for at in np.flatnonzero(an.to_bools(noted))[:MAX_NOTED - len(result.noted)]:
            result.noted.append((int(positions[at]) + 2, str(status[int(at)].as_py()), str(message[int(at)].as_py())))


def format_progress(done: int, total: int | None, seconds: float, lang: str | None = None) -> str:
    """One progress line: rows done (of the total when known) and rows per second, in Chinese for ``lang="zh"``."""
    rate = done / seconds if seconds > 0 else 0.0
    of = f"/{total:,} ({100 * done / total:.0f}%)" if total else ""
    if lang == "zh":
        return f"  已定位 {done:,}{of} 行，每秒 {rate:,.0f} 行"
    return f"  located {done:,}{of} rows, {rate:,.0f} rows/s"


def partitions(inputs: list[Path]) -> list[Path]:
    """The partition files of folders and files, all with the same columns (see :func:`app.geo._batch_dask.partitions`)."""
    from app.geo import _batch_dask

    return _batch_dask.partitions(inputs)


def locate_partitions(ds: Dataset, parts: list[Path], outdir: Path, **options: object) -> list[BatchResult]:
    """Locate every partition into ``outdir``, here or on a Dask cluster (see :func:`app.geo._batch_dask.locate_partitions`)."""
    from app.geo import _batch_dask

    return _batch_dask.locate_partitions(ds, parts, outdir, **options)  # type: ignore[arg-type]
