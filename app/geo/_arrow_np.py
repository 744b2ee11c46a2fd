"""numpy arrays and Arrow arrays through their buffers: pyarrow's own conversions import pandas (~0.5 s) on first use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

#: Largest data buffer of a ``string`` array (32-bit offsets); longer texts are built as ``large_string`` and cast.
_MAX_OFFSET = (1 << 31) - 1
#: numpy types of the Arrow integer types :func:`ints` makes.
_INTS = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
         pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64}


def _bitmap(valid: NDArray[np.bool_] | None) -> pa.Buffer | None:
    """An Arrow validity bitmap of ``valid`` (None when every entry is valid)."""
    if valid is None or bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def floats(values: NDArray[np.floating] | Sequence[float], nan_is_null: bool = True) -> pa.Array:
    """A float64 array with NaN as null: ``pa.array(values, type=pa.float64(), from_pandas=True)``.

    Parameters
    ----------
    values : array-like of float
        The numbers.
    nan_is_null : bool, default True
        False to keep NaN as a number (``pa.array(values)`` of a float ndarray).

    Returns
    -------
    pyarrow.Array
        float64, null where ``values`` is NaN unless ``nan_is_null`` is False.
    """
    data = np.ascontiguousarray(values, dtype=np.float64)
    valid = _bitmap(~np.isnan(data)) if nan_is_null else None
    return pa.Array.from_buffers(pa.float64(), len(data), [valid, pa.py_buffer(data)])


def ints(values: NDArray[np.integer], valid: NDArray[np.bool_] | None = None,
         type: pa.DataType | None = None) -> pa.Array:  # noqa: A002 - pyarrow's name
    """An integer array, null where ``valid`` is False: ``pa.array(values, mask=~valid)``.

    Parameters
    ----------
    values : ndarray of int
        The numbers.
    valid : ndarray of bool, optional
        Which entries are not null (all by default).
    type : pyarrow.DataType, optional
        An integer type (default: int64); ``values`` are converted to it.

    Returns
    -------
    pyarrow.Array
        The integers.
    """
    kind = type or pa.int64()
    data = np.ascontiguousarray(values, dtype=_INTS[kind])
    return pa.Array.from_buffers(kind, len(data), [_bitmap(valid), pa.py_buffer(data)])


def bools(values: NDArray[np.bool_]) -> pa.Array:
    """A boolean array without nulls: ``pa.array(values, type=pa.bool_())``."""
    data = np.asarray(values, dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(data), [None, pa.py_buffer(np.packbits(data, bitorder="little"))])


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string array, null for None: ``pa.array(values, type=pa.string())`` for a few texts (labels, per-grid names).

    Parameters
    ----------
    values : sequence of str or None
        The texts.

    Returns
    -------
    pyarrow.Array
        ``string`` (``large_string`` data cast down; an error if longer than 2 GiB in all).
    """
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    n = len(encoded)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    valid = _bitmap(np.fromiter((v is not None for v in values), dtype=bool, count=n))
    if offsets[-1] <= _MAX_OFFSET:
        return pa.Array.from_buffers(pa.string(), n, [valid, pa.py_buffer(offsets.astype(np.int32)), data])
    return pa.Array.from_buffers(pa.large_string(), n, [valid, pa.py_buffer(offsets), data]).cast(pa.string())


def text(value: str) -> pa.Scalar:
    """A string scalar (pyarrow compute takes it without converting a Python object)."""
    return strings([value])[0]


def flag(value: bool) -> pa.Scalar:
    """A boolean scalar."""
    return bools(np.array([value]))[0]


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def valid_of(values: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    """Which entries are not null, as a numpy bool array."""
    arr = _array(values)
    if not arr.null_count:
        return np.ones(len(arr), dtype=bool)
    if arr.buffers()[0] is None:  # the null type: no bitmap, every entry null
        return np.zeros(len(arr), dtype=bool)
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset:].astype(bool)


def to_floats(values: pa.Array | pa.ChunkedArray) -> NDArray[np.float64]:
    """A numeric array as float64 numbers, NaN for null: ``pc.fill_null(values, nan).to_numpy()``."""
    arr = _array(values)
    if arr.type != pa.float64():
        arr = arr.cast(pa.float64())
    if arr.buffers()[1] is None:  # a null array cast to float64 keeps no data
        return np.full(len(arr), np.nan)
    out = np.frombuffer(arr.buffers()[1], dtype=np.float64, count=arr.offset + len(arr))[arr.offset:]
    if arr.null_count:
        out = out.copy()
        out[~valid_of(arr)] = np.nan
    return out


def to_bools(values: pa.Array | pa.ChunkedArray, null: bool = False) -> NDArray[np.bool_]:
    """A boolean array as numpy bools, ``null`` where it is null."""
    arr = _array(values)
    if not len(arr):
        return np.zeros(0, dtype=bool)
    if arr.buffers()[1] is None:
        return np.full(len(arr), null)
    bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    out = np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset:].astype(bool)
    if arr.null_count:
        out[~valid_of(arr)] = null
    return out
