"""Batch rows located straight from and into Arrow tables: the cells read with pyarrow compute, no pandas copy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from app.geo import _arrow_np as an
from app.geo import _locate_rows as _rows

if TYPE_CHECKING:
    from app.geo.dataset import Dataset

#: Cells that count as no text (after stripping), as :class:`app.geo._locate_rows.FrameSource` has it.
_NO_TEXT = ("", "nan", "None")


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


class ArrowSource:
    """An Arrow table as a :class:`app.geo._locate_rows.Source`, with the answers of the pandas one.

    Text and plain number columns are read with pyarrow compute; any other type, or a text column
    with a cell pyarrow does not read as a number, goes through the pandas reading of that column.
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def _frame(self, name: str) -> _rows.FrameSource:
        import pandas as pd

        return _rows.FrameSource(pd.DataFrame({name: self.table.column(name).to_pandas()}))

    def numbers(self, name: str) -> NDArray[np.float64]:
        """See :meth:`app.geo._locate_rows.Source.numbers`."""
        col = self.table.column(name)
        kind = col.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            values = pc.cast(col, pa.float64())
        elif _is_text(kind):
            text = pc.utf8_trim_whitespace(col)
            text = pc.if_else(pc.equal(text, an.text("").cast(kind)), pa.nulls(1, kind)[0], text)
            try:
                values = pc.cast(text, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return self._frame(name).numbers(name)
        else:
            return self._frame(name).numbers(name)
        return an.to_floats(values)

    def has_text(self, name: str) -> NDArray[np.bool_]:
        """See :meth:`app.geo._locate_rows.Source.has_text`."""
        col = self.table.column(name)
        if not _is_text(col.type):
            return self._frame(name).has_text(name)
        text = pc.fill_null(pc.utf8_trim_whitespace(col), an.text("").cast(col.type))
        return an.to_bools(pc.invert(pc.is_in(text, value_set=an.strings(_NO_TEXT))))

    def texts(self, name: str, rows: NDArray[np.int64]) -> list[str]:
        """See :meth:`app.geo._locate_rows.Source.texts`."""
        col = self.table.column(name)
        if not _is_text(col.type):
            return self._frame(name).texts(name, rows)
        return pc.fill_null(col.take(an.ints(rows)), an.text("").cast(col.type)).to_pylist()


def locate_table(ds: Dataset, table: pa.Table, crs: str | int | None = None, lon_col: str | None = None,
                 lat_col: str | None = None, address_col: str | None = None, basic: bool = False,
                 cache_dir: Path | None = None) -> pa.Table:
    """:func:`app.geo.locate.locate_frame` for an Arrow table: the same rows, statuses and messages, as Arrow.

    Parameters
    ----------
    ds : Dataset
        The data version.
    table : pyarrow.Table
        Input rows; all columns are kept.
    crs, lon_col, lat_col, address_col
        As :func:`app.geo.locate.locate_frame`.
    basic : bool, default False
        Only the columns of :data:`BASIC_COLUMNS` (see :func:`attach_basic`), without the nearest
        grid, nearest address and datum checks of coordinate rows.
    cache_dir : Path, optional
        Where the version's :class:`app.geo._batch_index.BatchIndex` is saved and loaded (see
        :func:`app.geo._batch_index.batch_index`); a table of coordinates is located with it.

    Returns
    -------
    pyarrow.Table
        The input columns and the columns :func:`app.geo.locate.locate_frame` adds (or the basic ones).

    Raises
    ------
    LocateError, TableError
        No coordinate or address column; a named column missing.
    """
    from app.geo import tabular

    spec = _parse_crs(crs)
    cols = tabular.detect_columns(list(table.column_names), lon=lon_col, lat=lat_col, address=address_col)
    if not (cols.lon and cols.lat) and not cols.address:
        from app.geo.locate import LocateError

        raise LocateError("no lon/lat columns and no address column found; "
                          "name them lon/lat (经度/纬度) or address (地址)")
    source = ArrowSource(table)
    if cols.lon and cols.lat:
        if basic:
            fast = _basic_coordinates(ds, table, source, cols.lon, cols.lat, cols.address, spec, _is_geographic(spec),
                                      cache_dir)
        else:
            from app.geo._batch_index import batch_index

            batch_index(ds, cache_dir)  # loaded (or built and saved) once per version, before the rows
            fast = _full_coordinates(ds, table, source, cols.lon, cols.lat, cols.address, spec, _is_geographic(spec))
        if fast is not None:
            return fast
    rows = _rows.locate_rows(ds, source, table.num_rows, cols.lon, cols.lat, cols.address, spec,
                             _is_geographic(spec), extras=not basic)
    return attach_basic(ds, table, rows) if basic else attach(ds, table, rows)


def _statuses() -> tuple[str, ...]:
    """:data:`app.geo.locate.STATUSES` (imported on use: a coordinate batch never loads the single lookups)."""
    from app.geo.locate import STATUSES

    return STATUSES


def _parse_crs(crs: str | int | None) -> Any:
    """:func:`app.geo.locate.parse_crs` without importing the single lookups unless the CRS is refused."""
    from app.geo import crs as crsmod

    if crs is None or (isinstance(crs, str) and not crs.strip()):
        crs = "EPSG:4326"
    try:
        return crsmod.parse_crs(crs)
    except crsmod.CRSError:
        from app.geo.locate import parse_crs

        return parse_crs(crs)  # raises its LocateError


def _is_geographic(spec: Any) -> bool:
    """Whether coordinates in ``spec`` are degrees of lon/lat (as :func:`app.geo.locate._is_geographic`)."""
    import pyproj

    return spec.kind != "epsg" or pyproj.CRS.from_epsg(spec.epsg).is_geographic


def _strings(values: NDArray[np.object_]) -> pa.Array:
    if len(values) and (values == None).all():  # noqa: E711 - elementwise, an address-only column of coordinate rows
        return pa.nulls(len(values), pa.string())
    return pa.array(values, type=pa.string(), from_pandas=True)


def _choices(values: NDArray[np.object_], choices: tuple[str, ...]) -> pa.Array:
    """A column of a few known strings (statuses) built by index, not string by string."""
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, choice in enumerate(choices):
        codes[values == choice] = i
    if (codes < 0).any():
        return _strings(values)
    return an.strings(choices).take(an.ints(codes))


def _floats(values: NDArray[np.float64]) -> pa.Array:
    return an.floats(values)  # NaN -> null, as from a DataFrame


def _rows_of(index: NDArray[np.int64]) -> pa.Array:
    """Row numbers for ``take``: null (a null cell) where ``index`` is negative."""
    return an.ints(index, index >= 0)


def _with_columns(table: pa.Table, columns: dict[str, Any]) -> pa.Table:
    """``table`` with ``columns`` appended; a result column replaces an input column of that name, as in pandas."""
    out = table
    for name, values in columns.items():
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, values)
        else:
            out = out.append_column(name, values)
    return out


def attach(ds: Dataset, table: pa.Table, rows: _rows.Rows) -> pa.Table:
    """The input table with the columns of :func:`app.geo.locate.locate_frame` appended, as Arrow.

    Parameters
    ----------
    ds : Dataset
        The data version.
    table : pyarrow.Table
        The input rows.
    rows : Rows
        Their answers.

    Returns
    -------
    pyarrow.Table
        The same values, row for row, as ``pyarrow.Table.from_pandas(locate_frame(...))``.
    """
    per_grid = _rows.grid_columns(ds)
    n = table.num_rows

    def pick(values: NDArray[np.object_], idx: NDArray[np.int64]) -> pa.Array:
        if not len(values):
            return pa.nulls(n, pa.string())
        return _strings(values).take(_rows_of(idx))

    return _with_columns(table, {
        "grid_code": pick(per_grid.code, rows.grid_idx),
        "grid_name": pick(per_grid.name, rows.grid_idx),
        "committee_code": pick(per_grid.committee_code, rows.grid_idx),
        "committee_name": pick(per_grid.committee_name, rows.grid_idx),
        "division_code": pick(per_grid.division_code, rows.grid_idx),
        "division_name": pick(per_grid.division_name, rows.grid_idx),
        "status": _choices(rows.status, _statuses()),
        "score": _floats(np.round(rows.score, 1)),
        "match_kind": _strings(rows.match_kind),
        "matched_address": _strings(rows.matched_address),
        "on_border": an.bools(rows.on_border),
        "nearest_grid_code": pick(per_grid.code, rows.nearest),
        "distance_m": _floats(np.round(rows.dist, 1)),
        "nearest_address": _strings(rows.near_addr),
        "nearest_address_m": _floats(rows.near_addr_m),
        "message": _strings(rows.message),
        "lon_wgs84": _floats(np.round(rows.wgs_lon, 7)),
        "lat_wgs84": _floats(np.round(rows.wgs_lat, 7)),
    })


#: The columns ``locate-batch --columns basic`` adds, a subset of those of :func:`attach`.
BASIC_COLUMNS = ("grid_code", "grid_name", "committee_code", "division_code", "status", "message")


def attach_basic(ds: Dataset, table: pa.Table, rows: _rows.Rows) -> pa.Table:
    """The input table with the :data:`BASIC_COLUMNS` appended: the values :func:`attach` gives them.

    Parameters
    ----------
    ds : Dataset
        The data version.
    table : pyarrow.Table
        The input rows.
    rows : Rows
        Their answers (an outside point's message names no nearest grid when located without extras).

    Returns
    -------
    pyarrow.Table
        The input columns, then grid code and name, committee and division codes, status and message.
    """
    per_grid = _rows.grid_columns(ds)
    n = table.num_rows
    idx = _rows_of(rows.grid_idx)

    def pick(values: NDArray[np.object_]) -> pa.Array:
        return _strings(values).take(idx) if len(values) else pa.nulls(n, pa.string())

    return _with_columns(table, {
        "grid_code": pick(per_grid.code),
        "grid_name": pick(per_grid.name),
        "committee_code": pick(per_grid.committee_code),
        "division_code": pick(per_grid.division_code),
        "status": _choices(rows.status, _statuses()),
        "message": _strings(rows.message),
    })


def locate_frame_basic(ds: Dataset, df: Any, crs: str | int | None = None, lon_col: str | None = None,
                       lat_col: str | None = None, address_col: str | None = None) -> Any:
    """:func:`locate_table` with ``basic=True`` for a pandas DataFrame (XLSX and ragged CSV input, XLSX output).

    Parameters
    ----------
    ds : Dataset
        The data version.
    df : pandas.DataFrame
        Input rows (cells as read by :func:`app.geo.tabular.read_table`); all columns are kept.
    crs, lon_col, lat_col, address_col
        As :func:`app.geo.locate.locate_frame`.

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` with the :data:`BASIC_COLUMNS`, values as :func:`attach_basic` gives them.
    """
    from app.geo import tabular
    from app.geo.locate import LocateError, _is_geographic, parse_crs

    spec = parse_crs(crs)
    cols = tabular.detect_columns(df, lon=lon_col, lat=lat_col, address=address_col)
    if not (cols.lon and cols.lat) and not cols.address:
        raise LocateError("no lon/lat columns and no address column found; "
                          "name them lon/lat (经度/纬度) or address (地址)")
    rows = _rows.locate_rows(ds, _rows.FrameSource(df), len(df), cols.lon, cols.lat, cols.address, spec,
                             _is_geographic(spec), extras=False)
    per_grid = _rows.grid_columns(ds)
    inside = rows.grid_idx >= 0
    safe = np.where(inside, rows.grid_idx, 0)
    out = df.copy()
    for name, values in (("grid_code", per_grid.code), ("grid_name", per_grid.name),
                         ("committee_code", per_grid.committee_code), ("division_code", per_grid.division_code)):
        out[name] = np.where(inside, values[safe], None) if len(values) else np.full(len(df), None, dtype=object)
    out["status"] = rows.status
    out["message"] = rows.message
    return out


#: Row messages of a coordinate table, by code (as :func:`app.geo._locate_rows.locate_coordinates` words them);
#: code 3 is worded with the table's CRS.
_MESSAGES = ("", "missing or non-numeric coordinates", "coordinates out of range", "",
             "outside every grid", "lat/lon swapped, read as lat,lon")
#: Row statuses of a coordinate table, by code.
_COORDINATE_STATUSES = ("ok", "outside", "invalid")


def _coordinates(source: ArrowSource, lon: str, lat: str,
                 address: str | None) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]] | None:
    """The numbers of a coordinate table and its rows that have both; None when a row lacks them but has an address."""
    x, y = source.numbers(lon), source.numbers(lat)
    missing = ~np.isfinite(x) | ~np.isfinite(y)
    if address and missing.any() and (missing & source.has_text(address)).any():
        return None
    return x, y, np.flatnonzero(~missing)


def _codes(n: int, todo: NDArray[np.int64], loc: _rows.Located,
           outside_says: int) -> tuple[NDArray[np.int64], NDArray[np.int8], NDArray[np.int8]]:
    """Per row of the table: grid row (-1 none), status code (:data:`_COORDINATE_STATUSES`), message code
    (:data:`_MESSAGES`; ``outside_says`` for a point outside every grid)."""
    grid_idx = np.full(n, -1, dtype=np.int64)
    grid_idx[todo] = loc.grid
    status = np.full(n, 2, dtype=np.int8)
    status[todo] = np.where(loc.good, np.where(loc.grid >= 0, 0, 1), 2)
    message = np.full(n, 1, dtype=np.int8)
    message[todo] = np.select([loc.swapped, ~loc.ok, ~loc.good, loc.grid < 0], [5, 2, 3, outside_says], 0)
    return grid_idx, status, message


def _texts(codes: NDArray[np.int8], words: tuple[str, ...] | list[str]) -> pa.Array:
    """A text column from small codes into ``words``."""
    return an.strings(words).take(an.ints(codes, type=pa.int8()))


def _basic_coordinates(ds: Dataset, table: pa.Table, source: ArrowSource, lon: str, lat: str, address: str | None,
                       spec: Any, geographic: bool, cache_dir: Path | None = None) -> pa.Table | None:
    """The basic answer of a table whose rows are all located by coordinates, with small codes, no object arrays.

    The same grid, status and message as ``locate_rows(..., extras=False)`` then :func:`attach_basic`;
    None when some row has no coordinates but an address (that table takes the general path).
    """
    found = _coordinates(source, lon, lat, address)
    if found is None:
        return None
    x, y, todo = found
    saved = None
    if cache_dir is not None or "batch.index" in ds.cache:
        from app.geo._batch_index import batch_index

        saved = batch_index(ds, cache_dir)
    loc = _rows.project_and_locate(saved.grids if saved is not None else _rows.basic_index(ds), x[todo], y[todo],
                                   spec, geographic)
    grid_idx, status, message = _codes(len(x), todo, loc, 4)
    words = list(_MESSAGES)
    words[3] = f"coordinates outside the valid area of {spec.label}"
    if saved is not None:
        per_grid: dict[str, pa.Array] = saved.columns
    else:
        per_grid = {name: _strings(getattr(_rows.grid_columns(ds), name)) for name in ("code", "name", "committee_code",
                                                                                     "division_code")}
    idx = _rows_of(grid_idx)

    def pick(name: str) -> pa.Array:
        return per_grid[name].take(idx) if len(per_grid[name]) else pa.nulls(len(x), pa.string())

    return _with_columns(table, {
        "grid_code": pick("code"),
        "grid_name": pick("name"),
        "committee_code": pick("committee_code"),
        "division_code": pick("division_code"),
        "status": _texts(status, _COORDINATE_STATUSES),
        "message": _texts(message, words),
    })


def _join(*parts: Any) -> pa.Array:
    """Texts joined element-wise (each part an Arrow string array or a str)."""
    return pc.binary_join_element_wise(*(an.text(p) if isinstance(p, str) else p for p in parts), an.text(""))


def _full_coordinates(ds: Dataset, table: pa.Table, source: ArrowSource, lon: str, lat: str, address: str | None,
                      spec: Any, geographic: bool) -> pa.Table | None:
    """The full answer (every column of :func:`attach`) of a table whose rows are all located by coordinates.

    The values of ``locate_rows`` then :func:`attach`, from the :class:`app.geo._batch_index.BatchIndex`
    of the version: texts by index into small per-grid arrays, messages put together with Arrow
    compute, no object array per row. None when some row has no coordinates but an address.
    """
    from app.geo._batch_index import batch_index
    from app.geo._locate_rows import _READINGS

    found = _coordinates(source, lon, lat, address)
    if found is None:
        return None
    x, y, todo = found
    n = len(x)
    bi = batch_index(ds)
    loc = _rows.project_and_locate(bi.grids, x[todo], y[todo], spec, geographic)
    outside = np.flatnonzero(loc.good & (loc.grid < 0))
    near, dist = bi.nearest_grid(loc.lon[outside], loc.lat[outside])
    codes = bi.columns["code"]
    # messages: a code per row for the fixed texts (0 for a row outside: its text is made below)
    grid_idx, status, message_code = _codes(n, todo, loc, 0)
    words = list(_MESSAGES)
    words[3] = f"coordinates outside the valid area of {spec.label}"
    message = _texts(message_code, words)
    if len(outside):
        far = near >= 0
        metres = pc.cast(pc.round(an.floats(np.where(far, dist, 0.0), nan_is_null=False), 0,
                                  round_mode="half_to_even"), pa.int64())
        said = pc.if_else(an.bools(far), _join("outside every grid, nearest grid ", codes.take(an.ints(np.where(
            far, near, 0))), " at ", pc.cast(metres, pa.string()), " m"), an.text("outside every grid"))
        if geographic:
            said = _datum_warnings(bi, spec, x[todo[outside]], y[todo[outside]], said, _READINGS, codes)
        mask = np.zeros(n, dtype=bool)
        mask[todo[outside]] = True
        message = pc.replace_with_mask(message, an.bools(mask), said)
    # per row, for the Arrow columns
    on_border = np.zeros(n, dtype=bool)
    on_border[todo] = loc.on_border
    nearest = np.full(n, -1, dtype=np.int64)
    nearest[todo[outside]] = near
    distance = np.full(n, np.nan)
    distance[todo[outside]] = dist
    lon_w, lat_w = np.full(n, np.nan), np.full(n, np.nan)
    lon_w[todo], lat_w[todo] = loc.lon, loc.lat
    address_at, metres_a = bi.nearest_address(lon_w, lat_w)
    idx = _rows_of(grid_idx)
    return _with_columns(table, {
        "grid_code": codes.take(idx),
        "grid_name": bi.columns["name"].take(idx),
        "committee_code": bi.columns["committee_code"].take(idx),
        "committee_name": bi.columns["committee_name"].take(idx),
        "division_code": bi.columns["division_code"].take(idx),
        "division_name": bi.columns["division_name"].take(idx),
        "status": _texts(status, _COORDINATE_STATUSES),
        "score": pa.nulls(n, pa.float64()),
        "match_kind": pa.nulls(n, pa.string()),
        "matched_address": pa.nulls(n, pa.string()),
        "on_border": an.bools(on_border),
        "nearest_grid_code": codes.take(_rows_of(nearest)),
        "distance_m": _floats(np.round(distance, 1)),
        "nearest_address": bi.address_text.take(_rows_of(address_at)),
        "nearest_address_m": _floats(np.round(metres_a, 1)),
        "message": message,
        "lon_wgs84": _floats(np.round(lon_w, 7)),
        "lat_wgs84": _floats(np.round(lat_w, 7)),
    })


def _datum_warnings(bi: Any, spec: Any, x: NDArray[np.float64], y: NDArray[np.float64], said: pa.Array,
                    readings: Any, codes: pa.Array) -> pa.Array:
    """``said`` (the messages of rows outside every grid) with the warning of the first other datum whose
    reading falls in a grid, as :func:`app.geo._locate_rows._warn_other_datums` words it."""
    others: list[tuple[str, Any]] = [(label, conv) for kind, label, conv in readings if kind != spec.kind]
    if spec.kind != "epsg":
        others.insert(0, ("WGS84", lambda a, b: (np.asarray(a, float), np.asarray(b, float))))
    warned = np.zeros(len(x), dtype=bool)
    grid = np.full(len(x), -1, dtype=np.int64)
    label_of = np.full(len(x), -1, dtype=np.int64)
    for i, (_, convert) in enumerate(others):
        todo = np.flatnonzero(~warned)
        if not len(todo):
            break
        alon, alat = (np.asarray(v, dtype=float) for v in convert(x[todo], y[todo]))
        fine = np.flatnonzero(np.isfinite(alon) & np.isfinite(alat))
        res = bi.grids.locate(alon[fine], alat[fine], nearest=False)
        hit = todo[fine[res.index >= 0]]
        grid[hit], label_of[hit], warned[hit] = res.index[res.index >= 0], i, True
    if not warned.any():
        return said
    labels = an.strings([label for label, _ in others])
    warning = _join("; read as ", labels.take(an.ints(label_of, warned)), " it falls in grid ",
                    codes.take(an.ints(grid, warned)), ", check the coordinate system")
    return pc.if_else(an.bools(warned), _join(said, warning), said)
