"""Property-based fuzz of the batch reader: whatever the bytes, a table within the limits or a TableError."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.geo.tabular import TableError, TableLimits, read_table
from tests import batch_files

LIMITS = TableLimits(max_file_bytes=256 * 1024, max_rows=20, max_columns=6, max_cell_chars=64,
                     max_unpacked_bytes=512 * 1024, max_response_bytes=64 * 1024)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_within_limits(data: bytes, name: str | None) -> None:
    """Read ``data``: it must give a table within LIMITS or raise a TableError, nothing else."""
    try:
        df = read_table(data, filename=name, label=name, limits=LIMITS)
    except TableError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return
    assert isinstance(df, pd.DataFrame)
    assert len(df) <= LIMITS.max_rows and len(df.columns) <= LIMITS.max_columns
    for col in df.columns:
        assert len(str(col)) <= LIMITS.max_cell_chars
        assert df[col].map(len).max() <= LIMITS.max_cell_chars if len(df) else True


NAMES = st.sampled_from([None, "x.csv", "x.tsv", "x.txt", "x.xlsx", "x.xlsm", "x.xls", "x.pdf"])


@FUZZ
@given(data=st.binary(max_size=4096), name=NAMES)
def test_arbitrary_bytes(data: bytes, name: str | None) -> None:
    _read_within_limits(data, name)


_CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80) | st.sampled_from(
    ["", '"', '""', ",", "\n", "\r\n", "\x00", "98.3", "经度", "lon", "lat", "x" * 70])


@FUZZ
@given(rows=st.lists(st.lists(_CELL, max_size=9), max_size=30),
       sep=st.sampled_from([",", "\t", ";", "|"]), quote=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_csv_like_text(rows: list[list[str]], sep: str, quote: bool, encoding: str) -> None:
    def field(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if quote else cell

    text = "\n".join(sep.join(field(c) for c in row) for row in rows)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    _read_within_limits(data, "x.csv")


_REF = st.builds(lambda col, row: col + row, st.sampled_from(["", "A", "B", "F", "G", "Z", "AA", "XFD", "a", "$A"]),
                 st.sampled_from(["", "1", "2", "20", "21", "22", "0", "1048576", "99999999999", "x"]))
_ATTR = st.one_of(
    st.builds(lambda ref: f' r="{ref}"', _REF), st.just(""), st.just(' t="s"'), st.just(' t="inlineStr"'),
    st.builds(lambda ref: f" x=\" r='{ref}'\"", _REF))
_VALUE = st.one_of(st.just(""), st.builds(lambda t: f"<v>{t}</v>", st.sampled_from(["1", "0", "98.3", "abc", "-1"])),
                   st.builds(lambda t: f"<is><t>{t}</t></is>", st.sampled_from(["lon", "lat", "x" * 65, "名称", ""])))
_CELL_TAG = st.builds(lambda a, v: f"<c{a}>{v}</c>" if v else f"<c{a}/>", _ATTR, _VALUE)
_ROW_TAG = st.builds(lambda a, cells: f"<row{a}>{''.join(cells)}</row>", st.sampled_from(["", ' r="1"', ' r="3"',
                                                                                          ' r="25"', ' r="1048576"']),
                     st.lists(_CELL_TAG, max_size=8))


@FUZZ
@given(rows=st.lists(_ROW_TAG, max_size=25), shared=st.lists(st.sampled_from(["lon", "lat", "x" * 70]), max_size=3),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3))
def test_xlsx_like_workbooks(rows: list[str], shared: list[str], flips: list[tuple[int, int]]) -> None:
    data = bytearray(batch_files.workbook("".join(rows), shared=shared))
    for pos, value in flips:  # damage a few bytes of the zip
        data[pos % len(data)] = value
    _read_within_limits(bytes(data), "x.xlsx")


def test_stored_and_truncated_parts() -> None:
    good = batch_files.workbook(batch_files.cells([["lon", "lat"], ["98.3", "39.8"]]))
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    stored = buf.getvalue()
    assert read_table(stored, filename="s.xlsx", limits=LIMITS).shape == (1, 2)
    for cut in (30, len(stored) // 2, len(stored) - 10):
        _read_within_limits(stored[:cut], "s.xlsx")
