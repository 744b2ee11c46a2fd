"""Tests for app.geo.tabular: reading CSV/XLSX in Chinese encodings, column detection, writing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from app import settings
from app.geo.tabular import (
    ColumnSpec,
    TableError,
    TableLimitError,
    TableLimits,
    detect_columns,
    json_document,
    read_table,
    table_bytes,
    write_table,
)
from tests import batch_files

CSV_TEXT = "名称,经度,纬度,地址\n雄关广场,98.2891,39.7725,新华路12号\n钢城体育公园,98.301,39.801,阳光小区3栋\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_read_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(CSV_TEXT.encode(encoding))
    df = read_table(path)
    assert list(df.columns) == ["名称", "经度", "纬度", "地址"]
    assert df.iloc[1].tolist() == ["钢城体育公园", "98.301", "39.801", "阳光小区3栋"]
    assert all(pd.api.types.is_string_dtype(df[c]) for c in df.columns)


def test_read_bytes_and_file_objects(tmp_path: Path) -> None:
    data = CSV_TEXT.encode("gb18030")
    assert read_table(data, filename="x.csv").shape == (2, 4)
    assert read_table(data).shape == (2, 4)  # no name: sniffed as CSV
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    with path.open("rb") as fh:
        assert read_table(fh).shape == (2, 4)


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_read_other_separators(sep: str) -> None:
    text = CSV_TEXT.replace(",", sep)
    df = read_table(text.encode("utf-8"), filename="a.csv")
    assert list(df.columns) == ["名称", "经度", "纬度", "地址"]
    assert df.loc[0, "经度"] == "98.2891"


def test_read_quoted_and_ragged() -> None:
    text = 'address,note\n"新华路12号, 2单元",ok\n阳光小区3号楼\n\n'
    df = read_table(text.encode(), filename="a.csv")
    assert df["address"].tolist() == ["新华路12号, 2单元", "阳光小区3号楼"]
    assert df["note"].tolist() == ["ok", ""]


def test_xlsx_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"名称": ["雄关广场", "钢城体育公园"], "lon": [98.2891, 98.301], "lat": [39.7725, 39.801],
                       "户数": [12, 7], "备注": ["", None]})
    path = write_table(df, tmp_path / "out.xlsx")
    back = read_table(path)
    assert list(back.columns) == ["名称", "lon", "lat", "户数", "备注"]
    assert back["名称"].tolist() == ["雄关广场", "钢城体育公园"]
    assert back["lon"].tolist() == ["98.2891", "98.301"]
    assert back["户数"].tolist() == ["12", "7"]
    assert back["备注"].tolist() == ["", ""]
    ws = load_workbook(path).active
    assert ws["A1"].font.bold
    assert ws.column_dimensions["A"].width >= 12  # fits 钢城体育公园 (6 wide characters)


def test_csv_written_with_bom(tmp_path: Path) -> None:
    df = pd.DataFrame({"地址": ["新华路12号"], "n": [1]})
    path = write_table(df, tmp_path / "out.csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert read_table(path).to_dict("records") == [{"地址": "新华路12号", "n": "1"}]


def test_geojson_written_with_null_geometry(tmp_path: Path) -> None:
    df = pd.DataFrame({"name": ["a", "b", "c"], "经度": ["98.123456789", "", "x"], "纬度": [39.7, 39.8, 39.9],
                       "n": [1, 2, 3]})
    path = write_table(df, tmp_path / "out.geojson")
    fc = json.loads(path.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection"
    geoms = [f["geometry"] for f in fc["features"]]
    assert geoms[0] == {"type": "Point", "coordinates": [98.123457, 39.7]}
    assert geoms[1] is None and geoms[2] is None
    assert fc["features"][0]["properties"]["name"] == "a"
    assert fc["features"][2]["properties"]["n"] == 3


def test_geojson_needs_coordinates(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="lon/lat"):
        write_table(pd.DataFrame({"address": ["x"]}), tmp_path / "out.geojson")


def test_write_to_buffer() -> None:
    df = pd.DataFrame({"地址": ["新华路12号"], "lon": [98.1], "lat": [39.7]})
    for fmt in ("csv", "xlsx", "geojson"):
        buf = io.BytesIO()
        assert write_table(df, buf, fmt=fmt) is None
        if fmt == "xlsx":  # a workbook records when it was written, so two writes may differ by a second
            assert pd.read_excel(io.BytesIO(buf.getvalue())).equals(pd.read_excel(io.BytesIO(table_bytes(df, fmt))))
        else:
            assert buf.getvalue() == table_bytes(df, fmt)
    with pytest.raises(TableError, match="give the format"):
        write_table(df, io.BytesIO())


def test_write_fmt_overrides_extension(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.dat", fmt="csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfa")


def test_write_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="cannot write"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.parquet")
    with pytest.raises(TableError, match="cannot write"):
        table_bytes(pd.DataFrame({"a": [1]}), "pdf")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"  \r\n\n", "empty"),
        ("empty.xlsx", b"", "empty"),
        ("junk.csv", bytes(range(256)) * 8, "binary"),
        ("junk2.csv", b"\x80\xff\xfe\x81" * 50, "cannot decode"),
        ("junk.xlsx", b"not a workbook at all", "not a readable Excel workbook"),
        ("table.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
        ("numbers.csv", b"98.1,39.7\n98.2,39.8\n", "no header row"),
        ("header.csv", b",,\n1,2,3\n", "no header row"),
        ("wide.csv", b"a,b\n1,2,3\n", "row 2 has 3 fields"),
        ("utf16.csv", "a,b\n1,2\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(TableError, match=message) as info:
        read_table(path)
    assert isinstance(info.value, ValueError)
    assert name not in str(info.value)  # callers prefix the file name themselves


def test_xlsx_named_csv(tmp_path: Path) -> None:
    data = table_bytes(pd.DataFrame({"a": [1]}), "xlsx")
    with pytest.raises(TableError, match="Excel workbook"):
        read_table(data, filename="points.csv")
    assert read_table(data).to_dict("records") == [{"a": "1"}]  # unnamed bytes: sniffed


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="not found"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["名称", "经度", "纬度"], ColumnSpec("经度", "纬度", None)),
        (["Name", "LON", "Lat", "Address"], ColumnSpec("LON", "Lat", "Address")),
        (["lng", "latitude"], ColumnSpec("lng", "latitude", None)),
        (["x", "y"], ColumnSpec("x", "y", None)),
        (["Longitude", "name"], ColumnSpec(None, None, None)),  # lon alone is not enough
        (["名称", "详细地址"], ColumnSpec(None, None, "详细地址")),
        (["住址"], ColumnSpec(None, None, "住址")),
        (["addr", "lon"], ColumnSpec(None, None, "addr")),
    ],
)
def test_detect_columns(columns: list[str], expected: ColumnSpec) -> None:
    spec = detect_columns(pd.DataFrame(columns=columns))
    assert spec == expected
    assert spec.mode == ("coords" if expected.lon else "address" if expected.address else "none")


def test_detect_columns_overrides() -> None:
    df = pd.DataFrame(columns=["E", "N", "place", "地址"])
    spec = detect_columns(df, lon="E", lat="N", address="place")
    assert spec == ColumnSpec("E", "N", "place")
    assert spec.has_coords
    with pytest.raises(TableError, match="lon column 'east' not found"):
        detect_columns(df, lon="east", lat="N")
    with pytest.raises(TableError, match="both"):
        detect_columns(df, lon="E")


# --- limits of batch jobs ------------------------------------------------------------------------------

#: Small limits, so that every attack on them stays small and fast.
SMALL = TableLimits(max_file_bytes=64 * 1024, max_rows=10, max_columns=5, max_cell_chars=100,
                    max_unpacked_bytes=1024 * 1024, max_response_bytes=16 * 1024)


def _refused(data: bytes, name: str, setting: str, limits: TableLimits = SMALL) -> str:
    """Read ``data`` within ``limits``: assert it is refused with 413 naming ``setting``; return the message."""
    with pytest.raises(TableLimitError) as info:
        read_table(data, filename=name, label=name, limits=limits)
    err = info.value
    assert err.status == 413 and err.key == "table.limit"
    assert err.detail["setting"] == f"GRIDMAP_{setting}" and f"(GRIDMAP_{setting})" in err.message
    assert err.message.startswith(f"{name}: ")
    return err.message


def test_limits_from_config_staff_and_public() -> None:
    config = settings.Config()
    staff = TableLimits.from_config(config, signed_in=True)
    public = TableLimits.from_config(config, signed_in=False)
    assert (staff.max_rows, staff.rows_setting) == (config.BATCH_MAX_ROWS, "BATCH_MAX_ROWS")
    assert staff.max_file_bytes == config.MAX_UPLOAD_MB * 1024 * 1024
    assert (public.max_rows, public.rows_setting) == (config.ANON_BATCH_MAX_ROWS, "ANON_BATCH_MAX_ROWS")
    assert (public.max_file_bytes, public.file_setting) == (config.ANON_BATCH_MAX_MB * 1024 * 1024, "ANON_BATCH_MAX_MB")
    for lim in (staff, public):
        assert lim.max_columns == config.BATCH_MAX_COLUMNS and lim.max_cell_chars == config.BATCH_MAX_CELL_CHARS
        assert lim.max_unpacked_bytes == config.BATCH_MAX_UNPACKED_MB * 1024 * 1024
        assert lim.max_response_bytes == config.BATCH_MAX_RESPONSE_MB * 1024 * 1024


def test_csv_within_the_limits_is_read() -> None:
    data = "lon,lat\n" + "98.3,39.8\n" * 10
    assert read_table(data.encode(), filename="ok.csv", limits=SMALL).shape == (10, 2)


def test_csv_rows_columns_and_file_size_are_limited(tmp_path: Path) -> None:
    message = _refused(b"lon,lat\n" + b"98.3,39.8\n" * 25, "tall.csv", "BATCH_MAX_ROWS")
    assert "the file has 25 rows; at most 10 are accepted" in message
    assert "6 columns; at most 5" in _refused(batch_files.wide_csv(6), "wide.csv", "BATCH_MAX_COLUMNS")
    big = b"lon,lat\n" + b"98.3,39.8\n" * 7000
    assert "the file is 68 KiB; at most 64 KiB are accepted" in _refused(big, "big.csv", "MAX_UPLOAD_MB")
    path = tmp_path / "big.csv"
    path.write_bytes(big)
    _refused(path.read_bytes(), "big.csv", "MAX_UPLOAD_MB")
    with pytest.raises(TableLimitError):
        read_table(path, limits=SMALL)  # refused from its size, before it is read
    with path.open("rb") as fh, pytest.raises(TableLimitError):
        read_table(fh, limits=SMALL)
    public = TableLimits.from_config(settings.Config(ANON_BATCH_MAX_ROWS=3), signed_in=False)
    message = _refused(b"lon,lat\n" + b"98.3,39.8\n" * 4, "t.csv", "ANON_BATCH_MAX_ROWS", public)
    assert "without signing in" in message


@pytest.mark.parametrize("chars", [101, 5000, 131_072, 200_000, 2_000_000])
def test_long_csv_cells_are_limited_never_a_csv_error(chars: int) -> None:
    limits = TableLimits.from_config(settings.Config(BATCH_MAX_CELL_CHARS=100, MAX_UPLOAD_MB=8), signed_in=True)
    message = _refused(batch_files.long_cell_csv(chars), "long.csv", "BATCH_MAX_CELL_CHARS", limits)
    assert "row 2 has a cell of" in message and "at most 100" in message
    quoted = b'lon,lat\n"' + b"x," * chars + b'",1\n'
    _refused(quoted, "quoted.csv", "BATCH_MAX_CELL_CHARS", limits)


def test_long_csv_cells_within_a_raised_limit_are_read() -> None:
    limits = TableLimits.from_config(settings.Config(BATCH_MAX_CELL_CHARS=300_000), signed_in=True)
    df = read_table(batch_files.long_cell_csv(200_000), filename="long.csv", limits=limits)
    assert len(df.loc[0, "note"]) == 200_000
    # without limits, a cell past what the csv module allows is a TableError, not a csv.Error
    with pytest.raises(TableError, match="row 2"):
        read_table(b"a\n" + b"x" * (10 * 1024 * 1024) + b"\n", filename="x.csv")


def test_xlsx_within_the_limits_is_read() -> None:
    data = batch_files.workbook(batch_files.cells([["lon", "lat"], ["98.3", "39.8"]]))
    assert read_table(data, filename="ok.xlsx", limits=SMALL).to_dict("records") == [{"lon": "98.3", "lat": "39.8"}]


def test_xlsx_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    message = _refused(batch_files.shared_string_bomb(300), "bomb.xlsx", "BATCH_MAX_UNPACKED_MB",
                       TableLimits.from_config(settings.Config(), signed_in=False))
    assert "unpacks to 300.0 MiB; at most 64 MiB" in message


def test_xlsx_part_larger_than_its_header_says_is_refused() -> None:
    with pytest.raises(TableError, match="more than the 100 bytes it declares") as info:
        read_table(batch_files.lying_bomb(4), filename="liar.xlsx", limits=SMALL)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("ref", "setting"),
    [("XFD1048576", "BATCH_MAX_ROWS"), ("A1048576", "BATCH_MAX_ROWS"), ("XFD2", "BATCH_MAX_COLUMNS"),
     ("GR1000", "BATCH_MAX_UNPACKED_MB")],
)
def test_xlsx_far_cell_is_refused_before_calamine_allocates_the_sheet(ref: str, setting: str) -> None:
    # calamine would allocate 32 bytes for every cell between A1 and XFD1048576 (and abort the process)
    limits = TableLimits(**{**SMALL.__dict__, "max_rows": 1000, "max_columns": 200, "max_unpacked_bytes": 64 * 1024})
    message = _refused(batch_files.far_cell(ref), "far.xlsx", setting, limits)
    assert "a sheet of the workbook spans" in message
    if setting == "BATCH_MAX_UNPACKED_MB":
        assert "1000 rows × 200 columns; at most 4096 cells" in message


def test_xlsx_cells_without_references_are_counted() -> None:
    message = _refused(batch_files.unreferenced_wide_row(6), "wide.xlsx", "BATCH_MAX_COLUMNS")
    assert "spans 6 columns" in message


def test_xlsx_shared_strings_are_limited() -> None:
    # 56 strings, more than the 11 rows × 5 columns a sheet may have: calamine would keep them all
    data = batch_files.workbook(batch_files.cells([["lon", "lat"]]), shared=["a"] * 56)
    assert "holds 56 shared strings; at most 55" in _refused(data, "s.xlsx", "BATCH_MAX_ROWS")
    assert read_table(batch_files.workbook(batch_files.cells([["lon"]]), shared=["a"] * 55), filename="s.xlsx",
                      limits=SMALL).columns.tolist() == ["lon"]


def test_xlsx_rows_and_cells_are_limited() -> None:
    rows = [["lon", "lat"]] + [["98.3", "39.8"]] * 11
    assert "spans 12 rows" in _refused(batch_files.workbook(batch_files.cells(rows)), "t.xlsx", "BATCH_MAX_ROWS")
    long = batch_files.workbook(batch_files.cells([["lon", "note"], ["98.3", "x" * 101]]))
    assert "row 2 has a cell of 101 characters" in _refused(long, "l.xlsx", "BATCH_MAX_CELL_CHARS")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 600, "legacy .xls"),
        ("disguised.xlsx", b"\xd0\xcf\x11\xe0" + b"\0" * 600, "legacy .xls"),
        ("junk.xlsx", b"not a zip at all", "not an XLSX workbook"),
    ],
)
def test_workbooks_that_cannot_be_checked_are_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(TableError, match=message):
        read_table(data, filename=name, limits=SMALL)


def test_binary_and_opendocument_workbooks_are_refused() -> None:
    import zipfile

    for member in ("xl/workbook.bin", "content.xml"):
        buf = io.BytesIO(batch_files.workbook(batch_files.cells([["lon"]])))
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr(member, "x")
        with pytest.raises(TableError, match="xlsb"):
            read_table(buf.getvalue(), filename="x.xlsx", limits=SMALL)


def test_limit_errors_keep_their_class_through_the_label() -> None:
    with pytest.raises(TableLimitError) as info:
        read_table(batch_files.wide_csv(6), filename="w.csv", label="上传.csv", limits=SMALL)
    assert info.value.to_dict()["status"] == 413 and info.value.to_dict()["limit"] == "columns"


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"名称": [f"点{i}" for i in range(rows)], "lon_wgs84": [98.3 + i * 1e-6 for i in range(rows)],
                         "lat_wgs84": [39.8] * rows, "score": [None if i % 3 else 0.5 for i in range(rows)]})


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson"])
def test_results_are_limited_in_size(tmp_path: Path, fmt: str) -> None:
    df = _frame(5000)
    with pytest.raises(TableLimitError, match="GRIDMAP_BATCH_MAX_RESPONSE_MB"):
        table_bytes(df, fmt, lon="lon_wgs84", lat="lat_wgs84", limits=SMALL)
    with pytest.raises(TableLimitError):
        write_table(df, tmp_path / f"out.{fmt}", lon="lon_wgs84", lat="lat_wgs84", limits=SMALL)
    assert not (tmp_path / f"out.{fmt}").exists()  # nothing half-written
    assert table_bytes(df.head(3), fmt, lon="lon_wgs84", lat="lat_wgs84", limits=SMALL)


def test_chunked_writers_write_what_the_whole_table_gives() -> None:
    df = _frame(12_345)  # more than one chunk of rows
    assert table_bytes(df, "csv") == df.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    doc = json.loads(table_bytes(df, "geojson", lon="lon_wgs84", lat="lat_wgs84"))
    assert len(doc["features"]) == len(df) and doc["features"][-1]["properties"]["名称"] == "点12344"
    assert doc["features"][1]["properties"]["score"] is None
    body = b"".join(json_document({"total": len(df)}, "rows", df, json.dumps))
    back = json.loads(body)
    assert back["total"] == len(df) and back["rows"][-1]["名称"] == "点12344" and back["rows"][1]["score"] is None
    assert json.loads(b"".join(json_document({}, "rows", df.head(0), json.dumps))) == {"rows": []}


def test_xlsx_output_keeps_its_look() -> None:
    wb = load_workbook(io.BytesIO(table_bytes(_frame(3), "xlsx")))
    ws = wb.active
    assert ws.title == "Sheet1" and ws.freeze_panes == "A2" and ws.max_row == 4
    assert all(c.font.bold for c in ws[1]) and not ws["A2"].font.bold
    assert ws.column_dimensions["A"].width == 8  # at least 8
    assert ws.column_dimensions["B"].width == len(repr(98.3 + 2e-6)) + 2  # the longest cell, and 2
