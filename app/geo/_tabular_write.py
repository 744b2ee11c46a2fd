"""Writing a result a chunk at a time with pyarrow: CSV (UTF-8 with BOM), Parquet and GeoParquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from app.geo._tabular_limits import TableError, TableLimits

if TYPE_CHECKING:
    import pandas as pd

#: Formats written chunk by chunk; the others (XLSX, GeoJSON) are written whole by :func:`app.geo.tabular.write_table`.
STREAM_FORMATS = ("csv", "parquet", "geoparquet")
#: GeoParquet metadata of a WKB point column in WGS84 (no ``crs`` member means OGC:CRS84).
GEO_COLUMN = "geometry"


def geo_metadata(column: str = GEO_COLUMN) -> bytes:
    """The ``geo`` key of a GeoParquet 1.0 file whose ``column`` holds WGS84 points as WKB."""
    return json.dumps({"version": "1.0.0", "primary_column": column,
                       "columns": {column: {"encoding": "WKB", "geometry_types": ["Point"]}}}).encode()


class ChunkWriter:
    """Writes frames of one schema to a CSV, Parquet or GeoParquet file as they come.

    Parameters
    ----------
    path : Path
        The file to write (created or replaced).
    fmt : str
        One of :data:`STREAM_FORMATS`.
    schema : pyarrow.Schema
        The columns and their types; every frame is converted to it.
    lon, lat : str, optional
        GeoParquet: the columns of the WGS84 point written as the geometry.
    limits : TableLimits, optional
        Refuse a result larger than ``limits.max_response_bytes`` as soon as it gets there.
    """

    def __init__(self, path: Path, fmt: str, schema: pa.Schema, lon: str | None = None, lat: str | None = None,
                 limits: TableLimits | None = None) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if fmt not in STREAM_FORMATS:
            raise TableError(f"cannot write {fmt!r} a chunk at a time")
        self.fmt, self.lon, self.lat, self.limits = fmt, lon, lat, limits
        self.schema = schema
        self._fh: IO[bytes] = path.open("wb")
        self._writer: Any
        if fmt == "csv":
            self._fh.write(b"\xef\xbb\xbf")
            out = pa.schema([pa.field(f.name, pa.string() if pa.types.is_boolean(f.type) else f.type)
                             for f in schema])
            self._writer = pacsv.CSVWriter(self._fh, out, write_options=pacsv.WriteOptions(eol="\r\n"))
            self._csv_schema = out
        else:
            out = schema
            if fmt == "geoparquet":
                if lon is None or lat is None:
                    raise TableError("cannot write GeoParquet: no lon/lat columns")
                out = schema.append(pa.field(GEO_COLUMN, pa.binary()))
                out = out.with_metadata({b"geo": geo_metadata()})
            self._writer = pq.ParquetWriter(self._fh, out, compression="zstd")
            self._pq_schema = out

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (its columns are those of the schema)."""
        self.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False, safe=False))

    def _conform(self, table: pa.Table) -> pa.Table:
        if table.schema != self.schema:
            table = pa.Table.from_arrays([col if col.type == f.type else col.cast(f.type, safe=False)
                                          for col, f in zip(table.columns, self.schema, strict=True)],
                                         schema=self.schema)
        if self.fmt == "csv":
            arrays = [_bool_text(col) if pa.types.is_boolean(col.type) else col for col in table.columns]
            table = pa.Table.from_arrays(arrays, schema=self._csv_schema)
        return table

    def encode(self, table: pa.Table) -> pa.Buffer | None:
        """CSV: the rows of ``table`` as the CSV lines :meth:`write_table` would write, for :meth:`write_encoded`.

        Safe to call from other threads (it does not touch the file), so chunks can be formatted in
        parallel and written in order. None for the other formats.
        """
        import pyarrow.csv as pacsv

        if self.fmt != "csv":
            return None
        sink = pa.BufferOutputStream()
        pacsv.write_csv(self._conform(table), sink,
                        write_options=pacsv.WriteOptions(include_header=False, eol="\r\n"))
        return sink.getvalue()

    def write_encoded(self, data: bytes | pa.Buffer) -> None:
        """Append CSV lines made by :meth:`encode` (after at least one :meth:`write_table`, which wrote the header)."""
        self._fh.write(data)
        self._check_size()

    def write_table(self, table: pa.Table) -> None:
        """Append the rows of an Arrow table (its columns are those of the schema, in order)."""
        table = self._conform(table)
        if self.fmt == "csv":
            self._writer.write_table(table)
        else:
            if self.fmt == "geoparquet":
                table = table.append_column(GEO_COLUMN, _points(table.column(self.lon), table.column(self.lat)))
                table = table.replace_schema_metadata(self._pq_schema.metadata)
            self._writer.write_table(table)
        self._check_size()

    def _check_size(self) -> None:
        self._fh.flush()
        if self.limits is not None and self._fh.tell() > self.limits.max_response_bytes:
            raise self.limits.response_error()

    def close(self) -> None:
        """Finish the file (a Parquet footer) and close it."""
        try:
            self._writer.close()
        finally:
            self._fh.close()


def _bool_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Booleans as pandas writes them in CSV: True, False, empty for null."""
    import pyarrow.compute as pc

    from app.geo._arrow_np import text

    return pc.if_else(col, text("True"), text("False"))


def _points(lon: pa.ChunkedArray, lat: pa.ChunkedArray) -> pa.Array:
    """WKB points of the lon/lat columns (float64); null where either is missing."""
    import pyarrow.compute as pc
    import shapely

    x = np.asarray(pc.fill_null(lon.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False), dtype=float)
    y = np.asarray(pc.fill_null(lat.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    wkb = np.full(len(x), None, dtype=object)
    if ok.any():
        wkb[ok] = shapely.to_wkb(shapely.points(x[ok], y[ok]))
    return pa.array(wkb, type=pa.binary())


def result_schema(inputs: pa.Schema, columns: list[str], types: dict[str, pa.DataType]) -> pa.Schema:
    """The schema of a result: ``types`` for the columns a batch job adds, the input's types for the others."""
    given = {f.name: f.type for f in inputs}
    fields = []
    for name in columns:
        kind = types.get(name) or given.get(name)
        if kind is None or pa.types.is_null(kind):
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)
