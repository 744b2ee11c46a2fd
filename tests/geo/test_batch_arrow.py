"""app.geo._arrow_np: Arrow arrays from numpy buffers and back equal pyarrow's own conversions, without pandas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from app.geo import _arrow_np as an


def test_arrays_equal_pyarrows_conversions():
    values = np.array([1.5, np.nan, -np.inf, 0.0, 7.25])
    assert an.floats(values).equals(pa.array(values, type=pa.float64(), from_pandas=True))
    kept = an.floats(values, nan_is_null=False)  # NaN is a number here (and NaN != NaN for equals)
    assert kept.null_count == 0 and np.array_equal(an.to_floats(kept), values, equal_nan=True)
    index = np.array([3, -1, 0, 2])
    assert an.ints(index, index >= 0).equals(pa.array(index, mask=index < 0))
    assert an.ints(np.array([0, 2, 1], dtype=np.int8), type=pa.int8()).equals(pa.array([0, 2, 1], type=pa.int8()))
    flags = np.arange(19) % 3 == 0
    assert an.bools(flags).equals(pa.array(flags))
    texts = ["ok", None, "网格", "", "outside every grid"]
    assert an.strings(texts).equals(pa.array(texts, type=pa.string()))
    assert len(an.strings([])) == 0 and an.strings([]).type == pa.string()
    assert pc.equal(an.strings(texts), an.text("网格")).to_pylist() == [False, None, True, False, False]
    assert an.flag(True).as_py() is True


def test_back_to_numpy_with_nulls_offsets_and_chunks():
    arr = pa.array([1.0, None, 3.5, None, -2.0])
    chunked = pa.chunked_array([arr.slice(1), arr])
    np.testing.assert_array_equal(an.to_floats(chunked), [np.nan, 3.5, np.nan, -2.0, 1.0, np.nan, 3.5, np.nan, -2.0])
    np.testing.assert_array_equal(an.to_floats(pa.array([1, None, 3])), [1.0, np.nan, 3.0])
    assert np.isnan(an.to_floats(pa.nulls(3, pa.string()).cast(pa.float64()))).all()
    flags = pa.array([True, None, False, True, None, True, False, False, True, True])
    np.testing.assert_array_equal(an.to_bools(flags.slice(1)), [False, False, True, False, True, False, False, True, True])
    np.testing.assert_array_equal(an.to_bools(flags.slice(1), null=True), [True, False, True, True, True, False, False,
                                                                           True, True])
    np.testing.assert_array_equal(an.valid_of(flags.slice(3, 3)), [True, False, True])


def test_no_pandas_on_the_way():
    """pyarrow's own conversions (pa.array, to_numpy, Python scalars in compute calls) import pandas (~0.5 s)."""
    code = ("import sys, numpy as np, pyarrow.compute as pc\n"
            "from app.geo import _arrow_np as an\n"
            "s = an.strings(['a', None]).take(an.ints(np.array([1, 0, -1]), np.array([True, True, False])))\n"
            "x = an.to_floats(an.floats(np.array([1.0, np.nan]))); b = an.to_bools(pc.equal(s, an.text('a')))\n"
            "print('pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
