"""What keeps a large city's server small: builds hand their scratch memory back, the tile cache is bounded in bytes."""

from __future__ import annotations

import pytest

from app.geo import dataset
from app.geo.dataset import Dataset


def test_the_tile_cache_is_bounded_in_bytes() -> None:
    from app.geo._tiles_cache import MemoryTiles

    cache = MemoryTiles(100, max_bytes=1000)
    for i in range(10):
        cache.put(("grids", i), bytes(300))
    assert cache.bytes <= 1000 and len(cache.data) == 3 and cache.get(("grids", 9)) is not None
    assert cache.get(("grids", 0)) is None
    cache.put(("grids", 9), bytes(100))
    assert cache.bytes == 700


def test_builds_release_memory_once_after_the_outermost(ds: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(dataset, "release_memory", lambda: calls.append(1))
    fresh = Dataset(ds.store)
    fresh.cached("test.outer", lambda: fresh.cached("test.inner", lambda: len(fresh.layer("grids"))))
    assert calls == [1]  # one release for the nested builds and the layer read inside them
    monkeypatch.undo()
    dataset.release_memory()  # the real one runs anywhere (a no-op without glibc)


def test_the_address_layer_is_kept_compact_and_made_again_equal(ds: Dataset) -> None:
    from geopandas.testing import assert_geodataframe_equal

    read = ds.store.read("addresses")
    first = ds.layer("addresses")
    assert_geodataframe_equal(first, read, check_dtype=True, check_index_type=True, check_column_type=True)
    assert ds.layer("addresses") is first  # the same object while a caller holds it
    assert ds.feature_count("addresses") == len(read) == ds.counts()["addresses"]
    assert ds._compact["addresses"]._packed is not None  # the columns are packed (they read back identical)
    del first
    again = ds.layer("addresses")  # made again from the compact columns
    assert_geodataframe_equal(again, read, check_dtype=True, check_index_type=True, check_column_type=True)
    assert list(again.columns) == list(read.columns) and again.crs == read.crs


def test_a_layer_that_is_not_all_points_is_kept_as_read(ds: Dataset) -> None:
    import shapely

    from app.geo.dataset import _PointLayer

    layer = ds.store.read("addresses")
    assert _PointLayer.of(layer) is not None
    layer.loc[layer.index[0], "geometry"] = None
    assert _PointLayer.of(layer) is None
    layer.loc[layer.index[0], "geometry"] = shapely.Point(98.2, 39.8, 1600.0)
    assert _PointLayer.of(layer) is None


def test_compact_strings_read_straight_from_arrow_equal_the_plain_ones() -> None:
    import numpy as np
    import pandas as pd

    from app.geo._address_table import Coded, Strings

    words = ["新华路12号", "", "A0001-0", "朝晖社区福民花园3号楼", "x"] * 3
    col = pd.Series(words, dtype=pd.StringDtype("pyarrow", na_value=np.nan)).iloc[2:]  # a slice: offsets inside
    fast = Strings.of_arrow(col)
    assert fast is not None and [fast[i] for i in range(len(fast))] == words[2:]
    assert list(fast[np.array([3, 0])]) == [words[5], words[2]]
    assert Strings.of_arrow(pd.Series(["a", None], dtype=col.dtype)) is None  # missing values: the plain path
    import pyarrow as pa

    chunked = pa.Table.from_batches([pa.record_batch({"t": words[:4]}), pa.record_batch({"t": words[4:]})])
    column = chunked.to_pandas()["t"]
    assert column.dtype == col.dtype
    fast = Strings.of_arrow(column)
    assert fast is not None and [fast[i] for i in range(len(fast))] == words
    assert Strings.of_arrow(pd.Series(["a"], dtype=object)) is None
    coded = Coded.of(words)
    assert list(coded) == words and coded[3] == words[3] and len(coded) == len(words)


def test_nearest_address_equals_a_brute_force_search(ds: Dataset) -> None:
    import numpy as np
    import pyproj

    from app.geo._locate_reverse import MAX_DISTANCE_M, nearest_address

    layer = ds.store.read("addresses")
    x0, y0, x1, y1 = layer.total_bounds
    rng = np.random.default_rng(3)
    tr = pyproj.Transformer.from_crs("EPSG:4326", ds.metric_crs, always_xy=True)
    ax, ay = tr.transform(layer.geometry.x.to_numpy(), layer.geometry.y.to_numpy())
    for lon, lat in zip(rng.uniform(x0 - 0.02, x1 + 0.02, 40), rng.uniform(y0 - 0.02, y1 + 0.02, 40), strict=True):
        px, py = tr.transform(lon, lat)
        d = np.hypot(ax - px, ay - py)
        i = int(np.argmin(d))
        got = nearest_address(ds, lon, lat)
        if d[i] > MAX_DISTANCE_M:
            assert got is None
            continue
        row = layer.iloc[i]
        assert got == {"address": row["address"], "id": row["id"], "grid_code": row["grid_code"],
                       "lon": round(row.geometry.x, 7), "lat": round(row.geometry.y, 7),
                       "distance_m": round(float(d[i]), 1)}


def test_grid_answers_equal_the_grid_rows(ds: Dataset) -> None:
    import pandas as pd

    from app.geo.locate import grid_info

    grids = ds.grids
    coms = dict(zip(ds.layer("committees")["code"], ds.layer("committees")["name"], strict=True))
    divs = dict(zip(ds.layer("divisions")["code"], ds.layer("divisions")["name"], strict=True))
    for i in range(len(grids)):
        row = grids.iloc[i]
        want = {"code": row["code"], "name": row["name"],
                "committee": {"code": row["committee_code"], "name": coms.get(row["committee_code"])},
                "division": {"code": row["division_code"], "name": divs.get(row["division_code"])}}
        want.update({f: int(row[f]) for f in ("population", "households", "parttime_count")
                     if f in grids.columns and not pd.isna(row[f])})
        assert grid_info(ds, i) == want
        staff = grid_info(ds, i, personal=True)["staff"]
        assert staff == {r: {"name": row[f"{r}_name"], "phone": row[f"{r}_phone"]}
                         for r in ("leader", "worker", "instructor")}
    assert grid_info(ds, 0) is not grid_info(ds, 0)  # a fresh dict each call


def test_answers_are_the_same_from_a_layer_read_back_in_chunks(ds: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.geo._locate_reverse import nearest_address
    from app.geo.locate import locate_address

    monkeypatch.setattr(dataset, "_PACK_ROWS", 7)  # the mini city's columns come back in many chunks
    chunked = Dataset(ds.store)
    assert len(chunked.layer("addresses")) == len(ds.layer("addresses"))  # packed, dropped, made again below
    layer = ds.store.read("addresses")
    for i in range(0, len(layer), max(1, len(layer) // 25)):
        p, text = layer.geometry.iloc[i], layer["address"].iloc[i]
        assert nearest_address(chunked, p.x, p.y) == nearest_address(ds, p.x, p.y)
        assert locate_address(chunked, text) == locate_address(ds, text)
