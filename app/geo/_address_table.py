"""The address layer's texts and points held compactly once per data version, shared by the matcher and the nearest-address lookup."""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numpy.typing import NDArray

from app.geo._shared_text import shared


class Strings:
    """A read-only list of strings stored as one string and the end offsets (no object per item).

    Parameters
    ----------
    items : sequence of str
        The strings, in order.
    """

    __slots__ = ("_ends", "_text")

    def __init__(self, items: Sequence[str]) -> None:
        self._text = "".join(items)
        self._ends = _offsets(itertools.accumulate(map(len, items)), len(self._text))

    @classmethod
    def of_arrow(cls, column: pd.Series) -> Strings | None:
        """The strings of a pandas column held by Arrow, read straight from its buffer (no str object per item).

        None when the column is not an Arrow string column or has a missing value (see :func:`build_table`).
        """
        dtype = column.dtype
        if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow" or bool(column.isna().any()):
            return None
        arr = pa.array(column.array)
        if isinstance(arr, pa.ChunkedArray):  # a column read back in chunks (see Dataset.layer)
            arr = arr.combine_chunks()
        if arr.type not in (pa.string(), pa.large_string()):
            return None
        out = cls(())
        if len(arr):
            width = np.int64 if arr.type == pa.large_string() else np.int32
            offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset:arr.offset + len(arr) + 1]
            start, stop = int(offsets[0]), int(offsets[-1])
            out._text = arr.buffers()[2].slice(start, stop - start).to_pybytes().decode("utf-8") if stop > start else ""
            ends = np.cumsum(pc.utf8_length(arr).to_numpy(zero_copy_only=False), dtype=np.int64)
            out._ends = _offsets((), len(out._text))
            out._ends.frombytes(ends.astype(np.dtype(out._ends.typecode)).tobytes())
        return out

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: NDArray[np.integer]) -> NDArray[np.object_]: ...

    def __getitem__(self, i: int | NDArray[np.integer]) -> str | NDArray[np.object_]:
        if isinstance(i, np.ndarray):
            return self.take(i)
        return self._text[self._ends[i - 1] if i else 0:self._ends[i]]

    def get(self, i: int) -> str:
        """The string at position ``i`` (an int; the fast path of ``self[i]``)."""
        ends = self._ends
        return self._text[ends[i - 1] if i else 0:ends[i]]

    def take(self, rows: NDArray[np.integer]) -> NDArray[np.object_]:
        """The strings of ``rows`` as an object array.

        Parameters
        ----------
        rows : ndarray of int
            Positions (not negative).

        Returns
        -------
        ndarray of object
            One ``str`` per position.
        """
        text, ends = self._text, self._ends
        out = np.empty(len(rows), dtype=object)
        for k, i in enumerate(rows.tolist()):
            out[k] = text[ends[i - 1] if i else 0:ends[i]]
        return out


def _offsets(ends: Iterable[int], total: int) -> array:
    """An array of end offsets: 4 bytes each while the text is shorter than 2**31 characters, else 8."""
    return array("i" if total < 2**31 else "q", ends)


class Coded:
    """A read-only list of strings with few distinct values: a small integer per item and each value once.

    Parameters
    ----------
    codes : array of int
        The position in ``values`` of each item.
    values : list of str
        The distinct values.
    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: array, values: list[str]) -> None:
        self.codes, self.values = codes, values

    @classmethod
    def of(cls, items: Sequence[str] | pd.Series) -> Coded:
        """Code a sequence of strings (or a pandas column without missing values)."""
        codes, uniques = pd.factorize(np.asarray(items, dtype=object) if isinstance(items, list) else items)
        out = array("i")
        out.frombytes(np.asarray(codes, dtype=np.int32).tobytes())
        return cls(out, [shared(str(v)) for v in uniques])

    def mapped(self, values: list[str]) -> Coded:
        """The same codes over other values (``values[k]`` for ``self.values[k]``)."""
        return Coded(self.codes, values)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> str:
        return self.values[self.codes[i]]

    def get(self, i: int) -> str:
        """The string at position ``i`` (as ``self[i]``)."""
        return self.values[self.codes[i]]

    def __iter__(self) -> Iterator[str]:
        values = self.values
        return (values[c] for c in self.codes)


@dataclass(frozen=True, eq=False)
class AddressTable:
    """The address layer's ``address``, ``id`` and ``grid_code`` texts and WGS84 points, one row per feature.

    The texts are as :class:`~app.geo.address.AddressMatcher` reads them (``astype(str)``: a missing
    value reads ``"None"`` or ``"nan"``; a layer without ``id`` numbers its rows); ``blank`` says
    which values were missing, for the nearest-address answer that shows them as ``""``.

    Attributes
    ----------
    address, id : Strings
        Texts of each row.
    grid_code : Coded
        Grid code of each row (each distinct code held once).
    lon, lat : ndarray of float
        Position of each row; NaN where the row has no point (missing, empty or not a point).
    point : ndarray of bool
        Rows with a point.
    blank : dict of str to ndarray of bool
        Per column (``address``, ``id``, ``grid_code``), rows whose value was missing (all when the column is).
    """

    address: Strings
    id: Strings
    grid_code: Coded
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    point: NDArray[np.bool_]
    blank: dict[str, NDArray[np.bool_]]

    def __len__(self) -> int:
        return len(self.address)


def _texts(df: pd.DataFrame, name: str, n: int) -> tuple[list[str] | Strings | None, NDArray[np.bool_]]:
    """The column's values as the matcher's ``astype(str)`` texts, and which were missing."""
    if name not in df.columns:
        return None, np.ones(n, dtype=bool)
    col = df[name]
    blank = np.asarray(col.isna().to_numpy(), dtype=bool)
    fast = None if blank.any() else Strings.of_arrow(col)
    if fast is not None:
        return fast, blank
    return [v if isinstance(v, str) else str(v) for v in col.astype(str).tolist()], blank


def build_table(df: pd.DataFrame, xy: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None) -> AddressTable:
    """Read an address table (a GeoDataFrame of points, or ``lon``/``lat`` columns) into an :class:`AddressTable`.

    Parameters
    ----------
    df : DataFrame or GeoDataFrame
        Columns ``address`` (required), ``id`` and ``grid_code``, and point ``geometry`` or ``lon``/``lat``.
    xy : tuple of ndarray, optional
        The position of every row when each row is a 2D point (:meth:`Dataset.point_coordinates`), used
        as they are instead of reading the geometry again.

    Returns
    -------
    AddressTable
        The compact columns.
    """
    n = len(df)
    if xy is not None and len(xy[0]) == n:
        lon, lat = xy
        point = np.ones(n, dtype=bool)
    elif "geometry" in df.columns and n:
        geoms = np.asarray(df.geometry.array, dtype=object)
        point = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & (shapely.get_type_id(geoms) == 0)
        lon, lat = np.full(n, np.nan), np.full(n, np.nan)
        lon[point], lat[point] = shapely.get_x(geoms[point]), shapely.get_y(geoms[point])
    elif {"lon", "lat"} <= set(df.columns):
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
        point = np.isfinite(lon) & np.isfinite(lat)
    else:
        lon = lat = np.full(n, np.nan)
        point = np.zeros(n, dtype=bool)
    texts, blank_address = _texts(df, "address", n)
    ids, blank_id = _texts(df, "id", n)
    if "grid_code" in df.columns and not df["grid_code"].isna().any():
        grid_code, blank_grid = Coded.of(df["grid_code"].astype(str)), np.zeros(n, dtype=bool)
    else:
        grids, blank_grid = _texts(df, "grid_code", n)
        grid_code = Coded.of(list(grids) if grids is not None else [""] * n)
    return AddressTable(
        address=_strings(texts, n, lambda i: ""),
        id=_strings(ids, n, str),
        grid_code=grid_code,
        lon=np.asarray(lon, dtype=float), lat=np.asarray(lat, dtype=float), point=np.asarray(point, dtype=bool),
        blank={"address": blank_address, "id": blank_id, "grid_code": blank_grid})


def _strings(texts: list[str] | Strings | None, n: int, default: Callable[[int], str]) -> Strings:
    """``texts`` as :class:`Strings`; ``default(i)`` for each row when the column is missing."""
    if isinstance(texts, Strings):
        return texts
    return Strings(texts if texts is not None else [default(i) for i in range(n)])
