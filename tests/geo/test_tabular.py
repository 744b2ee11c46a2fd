"""Tests for app.geo.tabular: reading CSV/XLSX in Chinese encodings, column detection, writing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from app.geo.tabular import ColumnSpec, TableError, detect_columns, read_table, table_bytes, write_table

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
