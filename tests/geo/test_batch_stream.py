"""Streaming batch location (app.geo.batch): pyarrow chunks give the answers of the in-memory path, row by row."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from app.cli import main
from app.geo import batch
from app.geo.dataset import Dataset
from app.geo.locate import locate_frame
from app.geo.tabular import read_table, write_table


def _rows(ds: Dataset) -> pd.DataFrame:
    """A small table of every kind of row: inside, swapped, outside, bad, address-only, empty."""
    pts = ds.grids.geometry.representative_point()
    addr = ds.layer("addresses")["address"].astype(str).tolist()
    rows = [{"id": f"p{i}", "lon": f"{p.x:.6f}", "lat": f"{p.y:.6f}", "address": ""} for i, p in enumerate(pts[:4])]
    p = pts.iloc[0]
    rows += [
        {"id": "swapped", "lon": f"{p.y:.6f}", "lat": f"{p.x:.6f}", "address": ""},
        {"id": "far", "lon": "100.5", "lat": "30.25", "address": ""},
        {"id": "bad", "lon": "abc", "lat": "", "address": ""},
        {"id": "addr", "lon": "", "lat": "", "address": addr[0]},
        {"id": "nonsense", "lon": "", "lat": "", "address": "不详"},
        {"id": "  padded ", "lon": f" {p.x:.6f} ", "lat": f"{p.y:.6f}", "address": " 无 "},
    ]
    return pd.DataFrame(rows)


def _csv(df: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    return path


def _same(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_dtype=False)


def test_csv_stream_equals_in_memory_path_at_every_chunk_size(ds: Dataset, tmp_path: Path):
    src = _csv(_rows(ds), tmp_path / "in.csv")
    ref = tmp_path / "ref.csv"
    write_table(locate_frame(ds, read_table(src)), ref)
    outs = []
    for rows in (1, 3, 1000):
        out = tmp_path / f"out{rows}.csv"
        res = batch.locate_file(ds, src, out, chunk_rows=rows)
        assert res.reader == "csv" and res.counts["total"] == 10
        _same(out, ref)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2] and outs[0].startswith(b"\xef\xbb\xbf")
    got = pd.read_csv(tmp_path / "out3.csv", dtype=str, keep_default_na=False).set_index("id")
    assert got.loc["swapped", "status"] == "ok" and "swapped" in got.loc["swapped", "message"]
    assert got.loc["bad", "status"] == "invalid" and got.loc["bad", "message"] == "missing or non-numeric coordinates"
    assert got.loc["far", "status"] == "outside" and got.loc["addr", "match_kind"] != ""
    assert got.loc["padded", "status"] == "ok"  # cells are stripped, as the row-by-row reader does


def test_gb18030_csv_is_transcoded(ds: Dataset, tmp_path: Path):
    df = _rows(ds).rename(columns={"lon": "经度", "lat": "纬度", "address": "地址"})
    utf8 = _csv(df, tmp_path / "u.csv")
    gbk = _csv(df, tmp_path / "g.csv", "gb18030")
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")
    batch.locate_file(ds, utf8, tmp_path / "u_out.csv", chunk_rows=4)
    batch.locate_file(ds, gbk, tmp_path / "g_out.csv", chunk_rows=4)
    assert (tmp_path / "u_out.csv").read_bytes() == (tmp_path / "g_out.csv").read_bytes()
    ref = tmp_path / "ref.csv"
    write_table(locate_frame(ds, read_table(gbk)), ref)
    _same(tmp_path / "g_out.csv", ref)


def test_parquet_in_and_out_keeps_types_and_answers(ds: Dataset, tmp_path: Path):
    df = _rows(ds)
    df["n"] = range(len(df))
    src = tmp_path / "in.parquet"
    df.to_parquet(src)
    out = tmp_path / "out.parquet"
    res = batch.locate_file(ds, src, out, chunk_rows=3)
    assert res.reader == "parquet"
    got = pd.read_parquet(out)
    ref = locate_frame(ds, pd.read_parquet(src))
    assert got["n"].dtype == "int64" and got["on_border"].dtype == bool
    pd.testing.assert_frame_equal(got, ref.reset_index(drop=True), check_dtype=False)


def test_geoparquet_in_takes_the_point_geometry_and_out_writes_one(ds: Dataset, tmp_path: Path):
    df = _rows(ds)
    x = pd.to_numeric(df.pop("lon"), errors="coerce")
    y = pd.to_numeric(df.pop("lat"), errors="coerce")
    geom = [shapely.Point(a, b) if a == a and b == b else None for a, b in zip(x, y, strict=True)]
    gdf = gpd.GeoDataFrame(df.drop(columns="address"), geometry=geom, crs="EPSG:4326")
    src = tmp_path / "in.geoparquet"
    gdf.to_parquet(src)
    out = tmp_path / "out.geoparquet"
    res = batch.locate_file(ds, src, out, chunk_rows=4)
    assert res.reader == "geoparquet"
    got = gpd.read_parquet(out)
    assert got.crs.to_epsg() == 4326 or "CRS84" in got.crs.to_string()
    ref = locate_frame(ds, pd.DataFrame({"id": df["id"], "lon": x, "lat": y}))
    assert got["grid_code"].tolist() == ref["grid_code"].tolist()
    assert got["status"].tolist() == ref["status"].tolist() and got["message"].tolist() == ref["message"].tolist()
    inside = got["lon_wgs84"].notna()
    assert shapely.equals(got.geometry[inside].values, shapely.points(got.loc[inside, ["lon_wgs84", "lat_wgs84"]])).all()
    assert got.geometry[~inside].isna().all()
    # plain Parquet out, or GeoParquet to .parquet with the flag
    batch.locate_file(ds, src, tmp_path / "plain.parquet")
    assert b"geo" not in (pd.io.parquet.import_optional_dependency("pyarrow.parquet")
                          .read_schema(tmp_path / "plain.parquet").metadata or {})
    batch.locate_file(ds, src, tmp_path / "flag.parquet", geoparquet=True)
    assert gpd.read_parquet(tmp_path / "flag.parquet").geometry.notna().sum() == inside.sum()


def test_ragged_csv_falls_back_to_the_row_reader(ds: Dataset, tmp_path: Path):
    p = ds.grids.geometry.representative_point().iloc[0]
    src = tmp_path / "r.csv"
    src.write_text(f"id,lon,lat\na,{p.x},{p.y}\nb,{p.x}\nc,{p.x},{p.y},\n", encoding="utf-8")
    res = batch.locate_file(ds, src, tmp_path / "r_out.csv", chunk_rows=2)
    assert res.reader == "memory"
    ref = tmp_path / "ref.csv"
    write_table(locate_frame(ds, read_table(src)), ref)
    _same(tmp_path / "r_out.csv", ref)


def test_progress_and_refusals_leave_no_output(ds: Dataset, tmp_path: Path):
    src = _csv(_rows(ds), tmp_path / "in.csv")
    seen: list[tuple[int, int | None]] = []
    batch.locate_file(ds, src, tmp_path / "o.csv", chunk_rows=4, progress=lambda d, t, s: seen.append((d, t)))
    assert seen == [(4, None), (8, None), (10, None)]
    assert "located 10/20 (50%) rows" in batch.format_progress(10, 20, 1.0)
    assert "已定位 10/20 (50%) 行" in batch.format_progress(10, 20, 1.0, "zh")
    with pytest.raises(batch.BatchError, match="unknown format"):
        batch.locate_file(ds, src, tmp_path / "o.doc")
    with pytest.raises(batch.BatchError, match="--geoparquet"):
        batch.locate_file(ds, src, tmp_path / "o.csv", geoparquet=True)
    assert not (tmp_path / "o.doc").exists() and not list(tmp_path.glob(".*partial"))


def test_cli_prints_progress_unless_quiet(runner, data_dir: Path, tmp_path: Path, ds: Dataset):
    src = _csv(_rows(ds), tmp_path / "in.csv")
    args = ["locate-batch", str(src), "--out", str(tmp_path / "o.parquet"), "--chunk-rows", "4",
            "--data-dir", str(data_dir)]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "located 4 rows" in r.stderr and "located 10 rows" in r.stderr and "rows/s" in r.stderr
    assert "row 8: invalid: missing or non-numeric coordinates" in r.stderr
    assert "total 10" in r.stdout
    r = runner.invoke(main, [*args, "--quiet"])
    assert r.exit_code == 0 and "located" not in r.stderr
    r = runner.invoke(main, ["--lang", "zh", *args])
    assert r.exit_code == 0
    messages = pd.read_parquet(tmp_path / "o.parquet")["message"].tolist()
    assert any("坐标" in m for m in messages if m)
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(tmp_path / "o.txt"), "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "unknown format" in r.output and "Traceback" not in r.output


def test_nearest_grid_from_the_outline_equals_the_full_search(ds: Dataset):
    import numpy as np

    idx = ds.grid_index
    x0, y0, x1, y1 = idx.bounds
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(x0 - 0.05, x1 + 0.05, 4000), [x0 - 0.01, x1 + 1.0, np.nan]])
    lat = np.concatenate([rng.uniform(y0 - 0.05, y1 + 0.05, 4000), [y0 - 0.01, y1 + 1.0, 1.0]])
    out = idx.locate(lon, lat, nearest=False).index < 0
    full_index, full_m = idx._nearest(lon[out], lat[out])
    near_index, near_m = idx.nearest_outside(lon[out], lat[out])
    assert out.sum() > 100
    np.testing.assert_array_equal(near_index, full_index)
    np.testing.assert_array_equal(near_m, full_m)
    assert idx._outline.n_kept < idx._outline.n_segments


def test_arrow_rows_equal_the_dataframe_rows(ds: Dataset):
    import pyarrow as pa

    from app.geo._locate_arrow import locate_table

    df = _rows(ds)
    p = ds.grids.geometry.representative_point().iloc[1]
    df.loc[len(df)] = {"id": "plus", "lon": f"+{p.x:.6f}", "lat": f"{p.y:.6f}", "address": ""}  # pandas reads it
    want = locate_frame(ds, df)
    got = locate_table(ds, pa.Table.from_pandas(df, preserve_index=False))
    assert got.column_names == [str(c) for c in want.columns]
    for name in got.column_names:
        ref = pa.Table.from_pandas(want[[name]], preserve_index=False).column(0).cast(got.column(name).type)
        assert got.column(name).to_pylist() == ref.to_pylist(), name
    # numbers and addresses of other types go through the same readings
    typed = pa.table({"lon": pa.array([p.x, None]), "lat": pa.array([p.y, 1.0]), "address": pa.array([None, 7])})
    got = locate_table(ds, typed)
    want = locate_frame(ds, typed.to_pandas())
    assert got.column("status").to_pylist() == want["status"].tolist()
    assert got.column("message").to_pylist() == want["message"].tolist()


def test_translated_messages_are_worked_out_once_per_distinct_text():
    import pyarrow as pa

    seen: list[str] = []

    def translate(text: str) -> str:
        seen.append(text)
        return text.upper()

    table = pa.table({"message": ["a", "", "a", None, "b"]})
    out = batch._translated(table, translate)
    assert out.column("message").to_pylist() == ["A", "", "A", None, "B"]
    assert sorted(seen) == ["a", "b"]


_BASIC = ["grid_code", "grid_name", "committee_code", "division_code", "status", "message"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_basic_columns_equal_the_full_ones(ds: Dataset, tmp_path: Path, suffix: str):
    df = _rows(ds)
    far = {"id": "far2", "lon": "98.0001", "lat": "39.6001", "address": ""}  # just outside the city
    src = _csv(pd.concat([df, pd.DataFrame([far])], ignore_index=True), tmp_path / "in.csv")
    full, basic = tmp_path / f"full{suffix}", tmp_path / f"basic{suffix}"
    batch.locate_file(ds, src, full, chunk_rows=3)
    res = batch.locate_file(ds, src, basic, chunk_rows=3, columns="basic")
    assert res.counts["total"] == 11
    read = (lambda p: pd.read_parquet(p)) if suffix == ".parquet" else (lambda p: read_table(p))
    f, b = read(full).astype(object).fillna(""), read(basic).astype(object).fillna("")
    assert list(b.columns) == [*df.columns, *_BASIC]
    outside = f["status"].eq("outside")
    assert outside.sum() == 2 and f["status"].eq("invalid").any() and f["status"].eq("ok").any()
    same = [c for c in b.columns if c != "message"]
    pd.testing.assert_frame_equal(b[same].astype(str), f[same].astype(str))
    assert (b["message"][~outside] == f["message"][~outside]).all()
    assert b["message"][outside].eq("outside every grid").all()
    assert f["message"][outside].str.startswith("outside every grid").all()


def test_basic_points_file_equals_full_and_refuses_geometry_outputs(ds: Dataset, tmp_path: Path):
    from tests import batch_files

    src = tmp_path / "points.csv"
    src.write_bytes(batch_files.points_csv(500))
    batch.locate_file(ds, src, tmp_path / "f.csv", chunk_rows=128)
    batch.locate_file(ds, src, tmp_path / "b.csv", chunk_rows=128, columns="basic")
    f = pd.read_csv(tmp_path / "f.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(tmp_path / "b.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(b[["name", "grid_code", "status"]], f[["name", "grid_code", "status"]])
    for out in ("o.geojson", "o.geoparquet"):
        with pytest.raises(batch.BatchError, match="--columns basic"):
            batch.locate_file(ds, src, tmp_path / out, columns="basic")
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".*partial"))


def test_cli_columns_basic(runner, data_dir: Path, tmp_path: Path, ds: Dataset):
    src = _csv(_rows(ds), tmp_path / "in.csv")
    out = tmp_path / "o.csv"
    r = runner.invoke(main, ["locate-batch", str(src), "--out", str(out), "--columns", "basic", "-q",
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert list(pd.read_csv(out).columns)[-6:] == _BASIC and "total 10" in r.stdout
    r = runner.invoke(main, ["locate-batch", str(src), str(src), "--out", str(tmp_path / "d"), "--columns", "basic",
                             "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "one file" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["locate-batch", "--help"])
    assert "basic:" in r.output and "datum" in r.output


@pytest.mark.parametrize("crs", [None, "gcj02"])
def test_basic_coordinate_fast_path_equals_the_general_one(ds: Dataset, crs: str | None):
    import pyarrow as pa

    from app.geo import _locate_arrow, _locate_rows
    from app.geo.locate import _is_geographic, parse_crs

    df = _rows(ds)
    df = df[~df["id"].isin(["addr", "nonsense"])]  # coordinates only (empty addresses): the fast path
    extra = pd.DataFrame([{"id": "range", "lon": "200", "lat": "95", "address": ""},
                          {"id": "text", "lon": "x", "lat": "1", "address": " "}])
    table = pa.Table.from_pandas(pd.concat([df, extra], ignore_index=True), preserve_index=False)
    fast = _locate_arrow.locate_table(ds, table, crs=crs, basic=True)
    spec = parse_crs(crs)
    rows = _locate_rows.locate_rows(ds, _locate_arrow.ArrowSource(table), table.num_rows, "lon", "lat", "address",
                                    spec, _is_geographic(spec), extras=False)
    general = _locate_arrow.attach_basic(ds, table, rows)
    assert fast.equals(general), (fast.to_pandas(), general.to_pandas())
    got = fast.to_pandas().set_index("id")
    assert set(got["status"]) >= {"ok", "outside", "invalid"}
    assert got.loc["range", "message"] == "coordinates out of range"
    full = locate_frame(ds, table.to_pandas(), crs=crs).set_index("id")
    pd.testing.assert_series_equal(got["grid_code"].fillna(""), full["grid_code"].fillna(""))
    pd.testing.assert_series_equal(got["status"], full["status"], check_dtype=False)


def _coordinate_table(ds: Dataset, n: int = 4000) -> pa.Table:
    """Coordinate rows of every kind: random points around the grids (inside, on borders, outside near and
    far, some whose GCJ-02/BD-09 reading falls in a grid), swapped, out of range, missing, far away."""
    import numpy as np

    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = ds.grids.total_bounds
    pad = 0.3 * max(x1 - x0, y1 - y0)
    lon = rng.uniform(x0 - pad, x1 + pad, n).round(6).astype(str).tolist()
    lat = rng.uniform(y0 - pad, y1 + pad, n).round(6).astype(str).tolist()
    p = ds.grids.geometry.representative_point().iloc[0]
    lon += [f"{p.y:.6f}", "200", "", "abc", "100.5", f"{p.x:.6f}", f"{x0:.9f}"]
    lat += [f"{p.x:.6f}", "95", "39.7", "", "30.25", f"{p.y:.6f}", f"{y0:.9f}"]
    return pa.table({"id": [str(i) for i in range(len(lon))], "lon": lon, "lat": lat})


@pytest.mark.parametrize("crs", [None, "gcj02"])
def test_coordinate_table_fast_path_equals_general_path(ds: Dataset, tmp_path: Path, crs: str | None):
    """A table of coordinates only takes the batch index (saved, then loaded in a new Dataset): every
    column of every row is what the general row-by-row path gives, messages and datum warnings included."""
    from app.geo import _locate_arrow as la
    from app.geo import _locate_rows as rows
    from app.geo.locate import _is_geographic, parse_crs

    table = _coordinate_table(ds)
    spec = parse_crs(crs)
    want = la.attach(ds, table, rows.locate_rows(ds, la.ArrowSource(table), table.num_rows, "lon", "lat", None, spec,
                                                 _is_geographic(spec)))
    got = la.locate_table(ds, table, crs=crs, cache_dir=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] and "batch.index" in ds.cache
    assert got.equals(want), [n for n in want.column_names if not got.column(n).equals(want.column(n))]
    loaded = Dataset(ds.store)  # a new process: the saved index, no grid layer read
    again = la.locate_table(loaded, table, crs=crs, cache_dir=tmp_path / "cache")
    assert again.equals(want) and "grids" not in loaded._layers
    messages = want.column("message").to_pylist()
    assert any("nearest grid" in m for m in messages) and any("lat/lon swapped" in m for m in messages)
    if crs is None:
        assert any("read as GCJ-02" in m for m in messages) or any("read as BD-09" in m for m in messages)
    basic = la.locate_table(loaded, table, crs=crs, basic=True, cache_dir=tmp_path / "cache")
    ref = la.locate_table(ds, table, crs=crs, basic=True)
    assert basic.equals(ref)


def test_batch_index_is_rebuilt_for_another_version_and_pruned(ds: Dataset, tmp_path: Path):
    from app.geo import _batch_index as bi

    cache = tmp_path / "cache"
    first = bi.batch_index(ds, cache)
    path = bi.cache_path(cache, ds)
    assert path.exists() and bi.BatchIndex.load(path) is not None
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2])  # a damaged file is ignored and replaced
    assert bi.BatchIndex.load(path) is None
    path.write_bytes(b"not an index")
    assert bi.BatchIndex.load(path) is None
    other = Dataset(ds.store)
    assert bi.batch_index(other, cache) is not first and bi.BatchIndex.load(path) is not None
    for i in range(bi.KEEP_FILES + 2):
        (cache / f"batch-index-old{i}.npz").write_bytes(b"")
    bi._prune(cache)
    assert len(list(cache.glob("batch-index-*.npz"))) == bi.KEEP_FILES
