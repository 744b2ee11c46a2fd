"""Vector tiles of the mini city: the right features, clipped and simplified per zoom, refusals, road labels."""

from __future__ import annotations

import gzip
import math
import os
import threading
import time
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely

from app.geo import _tiles_cache, map_records, tiles
from app.geo._tiles_cache import DiskTiles, version_folder
from app.geo.dataset import Dataset


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    lat_r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n)


def _decode(body: bytes, layer: str) -> list[dict]:
    doc = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    return doc[layer]["features"] if layer in doc else []


def _vertices(features: list[dict]) -> int:
    return sum(shapely.get_num_coordinates(shapely.geometry.shape(f["geometry"])) for f in features)


def test_a_grid_tile_holds_the_grids_it_meets_with_their_values(ds: Dataset) -> None:
    grid = ds.grids.iloc[0]
    pt = grid.geometry.representative_point()
    z = tiles.zooms(ds)["grids"]
    x, y = _tile_of(pt.x, pt.y, z)
    feats = _decode(tiles.tile(ds, "grids", z, x, y), "grids")
    codes = {f["properties"]["code"] for f in feats}
    assert grid["code"] in codes
    # exactly the grids whose shape meets the tile (STRtree picks by box; empty clips are dropped)
    box = shapely.box(*[v for v in _lonlat_bounds(z, x, y)])
    assert codes <= set(ds.grids.loc[ds.grids.intersects(box.buffer(0.01)), "code"])
    props = next(f["properties"] for f in feats if f["properties"]["code"] == grid["code"])
    assert props["name"] == grid["name"] and props["population"] == int(grid["population"])
    for f in feats:  # coordinates in tile units: the extent plus the buffer
        minx, miny, maxx, maxy = shapely.geometry.shape(f["geometry"]).bounds
        assert minx >= -tiles.BUFFER - 1 and maxx <= tiles.EXTENT + tiles.BUFFER + 1
        assert miny >= -tiles.BUFFER - 1 and maxy <= tiles.EXTENT + tiles.BUFFER + 1


def _lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 1 << z

    def lat(t: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def test_levels_of_detail_and_simplification(ds: Dataset) -> None:
    z_grids = tiles.zooms(ds)["grids"]
    assert tiles.zooms(ds)["divisions"] == 0 <= tiles.zooms(ds)["committees"] <= z_grids
    pt = ds.grids.union_all().representative_point()
    # below the grids' zoom the grid tile is empty, the division tile is not
    x, y = _tile_of(pt.x, pt.y, z_grids - 3)
    assert _decode(tiles.tile(ds, "grids", z_grids - 3, x, y), "grids") == []
    assert _decode(tiles.tile(ds, "divisions", z_grids - 3, x, y), "divisions")
    # the same divisions carry fewer vertices at a low zoom than summed over the tiles of a deep one
    low = _vertices(_decode(tiles.tile(ds, "divisions", 8, *_tile_of(pt.x, pt.y, 8)), "divisions"))
    deep = 0
    x0, y1 = _tile_of(ds.grids.total_bounds[0], ds.grids.total_bounds[1], 15)
    x1, y0 = _tile_of(ds.grids.total_bounds[2], ds.grids.total_bounds[3], 15)
    for tx in range(x0, x1 + 1):
        for ty in range(y0, y1 + 1):
            deep += _vertices(_decode(tiles.tile(ds, "divisions", 15, tx, ty), "divisions"))
    assert 0 < low < deep


def test_empty_tile_far_away(ds: Dataset) -> None:
    body = tiles.tile(ds, "grids", 14, 0, 0)
    assert _decode(body, "grids") == []
    assert tiles.tile_gz(ds, "grids", 14, 0, 0) is tiles.tile_gz(ds, "grids", 14, 0, 0)  # cached per version


def test_roads_by_kind_and_labels(ds: Dataset) -> None:
    pt = ds.grids.union_all().representative_point()
    low = _decode(tiles.tile(ds, "roads", 11, *_tile_of(pt.x, pt.y, 11)), "roads")
    assert low and {f["properties"]["kind"] for f in low} <= set(tiles.MAJOR_ROADS)
    labels = map_records.road_labels(ds)
    assert {r[0] for r in labels} == set(ds.layer("roads")["name"])
    assert all(-90 <= r[3] <= 90 for r in labels)


@pytest.mark.parametrize(("layer", "z", "x", "y", "status"), [
    ("nope", 10, 0, 0, 404), ("grids", 17, 0, 0, 400), ("grids", -1, 0, 0, 400),
    ("grids", 3, 8, 0, 400), ("grids", 3, 0, -1, 400)])
def test_bad_tile_addresses_are_refused(ds: Dataset, layer: str, z: int, x: int, y: int, status: int) -> None:
    with pytest.raises(tiles.TileError) as err:
        tiles.tile(ds, layer, z, x, y)
    assert err.value.status == status and err.value.key == "tiles"


def test_grid_record_matches_the_popup_fields(ds: Dataset) -> None:
    grid = ds.grids.iloc[2]
    rec = map_records.grid_record(ds, grid["code"])
    assert rec["code"] == grid["code"] and rec["committee"]["code"] == grid["committee_code"]
    assert rec["population"] == int(grid["population"]) and rec["personal"] is None
    assert map_records.grid_record(ds, grid["code"], show_personal=True)["personal"]
    assert map_records.grid_record(ds, "no-such-grid") is None


def test_tiles_a_user_zooms_through_are_cut_ahead(ds: Dataset) -> None:
    listed = tiles.warm_tiles(ds)
    zs = [z for _layer, z, _x, _y in listed]
    assert zs == sorted(zs) and max(zs) == tiles.zooms(ds)["grids"] + 1 - tiles.ZOOM_OFFSET
    assert {layer for layer, _z, _x, _y in listed} == {tiles.ALL}
    grid = ds.grids.iloc[0].geometry.representative_point()
    top = max(zs)
    assert (tiles.ALL, top, *_tile_of(grid.x, grid.y, top)) in listed
    assert len(tiles.warm_tiles(ds, limit=len(listed) - 1)) < len(listed)
    thread = tiles.warm(ds, "wgs84", delay=0)
    assert thread is not None
    thread.join(timeout=60)
    cache = ds.cached("tiles.memory", lambda: None)
    assert all(cache.get((layer, "wgs84", z, x, y)) is not None for layer, z, x, y in listed)


def test_cutting_ahead_waits_on_its_pause_before_each_tile(ds: Dataset) -> None:
    listed = tiles.warm_tiles(ds)
    cache = ds.cached("tiles.memory", _tiles_cache.MemoryTiles)
    release, asked = threading.Event(), []

    def pause() -> None:  # as the server's: block while visitors are being served
        asked.append(time.monotonic())
        release.wait(timeout=60)

    thread = tiles.warm(ds, "gcj02", delay=0, pause=pause)
    assert thread is not None
    deadline = time.monotonic() + 30
    while not asked and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(asked) == 1  # held at the first tile
    assert not any(cache.get((layer, "gcj02", z, x, y)) for layer, z, x, y in listed)
    release.set()
    thread.join(timeout=60)
    assert len(asked) == len(listed)
    cache = ds.cached("tiles.memory", lambda: None)
    assert all(cache.get((layer, "gcj02", z, x, y)) is not None for layer, z, x, y in listed)


def test_the_opening_tiles_are_cut_without_cutting_ahead(ds: Dataset, tmp_path: Path) -> None:
    opening = tiles.warm_tiles(ds, 5)
    assert tiles.cut_opening(ds, "wgs84", tmp_path, limit=5) == len(opening) == 5
    assert ds.cached("tiles.warm.wgs84", lambda: "not started") == "not started"  # no thread before a fork
    mem = ds.cached("tiles.memory", _tiles_cache.MemoryTiles)
    for layer, z, x, y in opening:
        assert mem.get((layer, "wgs84", z, x, y)) == tiles.tile_gz(ds, layer, z, x, y, "wgs84", tmp_path)
    again = Dataset(ds.store)  # the next start finds them on disk
    assert tiles.cut_opening(again, "wgs84", tmp_path, limit=5) == 0


def test_an_all_tile_holds_the_layers_shown_at_its_zoom_bottom_first(ds: Dataset) -> None:
    zs = tiles.zooms(ds)
    pt = ds.grids.iloc[0].geometry.representative_point()
    z = zs["grids"] - tiles.ZOOM_OFFSET  # the tile drawn at the grids' map zoom
    body = tiles.tile(ds, tiles.ALL, z, *_tile_of(pt.x, pt.y, z))
    doc = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    assert list(doc) == [n for n in tiles.DRAW_ORDER if n in doc] and {"grids", "committees", "divisions"} <= set(doc)
    for name in doc:  # each layer as its own tile has it
        one = tiles.tile(ds, name, z, *_tile_of(pt.x, pt.y, z))
        assert doc[name]["features"] == _decode(one, name)
    # below the grids' zoom no grid layer at all; divisions from zoom 0
    low = zs["grids"] - 3 - tiles.ZOOM_OFFSET
    doc = mapbox_vector_tile.decode(tiles.tile(ds, tiles.ALL, low, *_tile_of(pt.x, pt.y, low)))
    assert "grids" not in doc and doc["divisions"]["features"]


def test_disk_cache_is_shared_read_back_checked_and_pruned(ds: Dataset, tmp_path: Path) -> None:
    pt = ds.grids.iloc[0].geometry.representative_point()
    z = tiles.zooms(ds)["grids"] - tiles.ZOOM_OFFSET
    x, y = _tile_of(pt.x, pt.y, z)
    root = tmp_path / "cache" / "tiles"
    first = tiles.tile_gz(ds, "grids", z, x, y, cache_dir=root)
    path = DiskTiles(root, ds.version, tiles.cut_name()).path(("grids", "wgs84", z, x, y))
    assert path.is_file() and path.parents[5] == root / version_folder(ds.version)
    # another process (a fresh Dataset of the same version) reads the file instead of cutting
    other = Dataset(ds.store)
    cut = []
    real = tiles._cut_any
    try:
        # (count this tile's cuts only: the tiles cut ahead in the background go through here too)
        tiles._cut_any = lambda *a: (a[1] == "grids" and cut.append(a)) or real(*a)  # type: ignore[assignment]
        assert tiles.tile_gz(other, "grids", z, x, y, cache_dir=root) == first
        assert cut == []
        # a damaged file is cut again and rewritten
        path.write_bytes(path.read_bytes()[:-20] + b"\0" * 20)
        third = Dataset(ds.store)
        assert gzip.decompress(tiles.tile_gz(third, "grids", z, x, y, cache_dir=root)) == gzip.decompress(first)
        assert len(cut) == 1 and DiskTiles(root, ds.version, tiles.cut_name()).get(("grids", "wgs84", z, x, y))
    finally:
        tiles._cut_any = real  # type: ignore[assignment]
    # only the newest versions' folders stay
    for i in range(_tiles_cache.KEEP_VERSIONS + 2):
        folder = root / f"old-{i}"
        folder.mkdir()
        os.utime(folder, (1000 + i, 1000 + i))
    (root / version_folder(ds.version) / "cut-old").mkdir()  # tiles cut another way on this version go too
    DiskTiles(root, ds.version, tiles.cut_name())
    assert [p.name for p in (root / version_folder(ds.version)).iterdir() if p.is_dir()] == [tiles.cut_name()]
    kept = sorted(p.name for p in root.iterdir())
    assert version_folder(ds.version) in kept and len(kept) == _tiles_cache.KEEP_VERSIONS
    assert "old-0" not in kept and f"old-{_tiles_cache.KEEP_VERSIONS + 1}" in kept


def test_an_unwritable_disk_cache_only_costs_the_cache(ds: Dataset, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    body = tiles.tile(ds, "divisions", 10, *_tile_of(*ds.grids.iloc[0].geometry.representative_point().coords[0], 10),
                      cache_dir=blocker / "tiles")
    assert _decode(body, "divisions")


def test_memory_cache_is_bounded_in_tiles_and_bytes() -> None:
    mem = _tiles_cache.MemoryTiles(size=3, max_bytes=10)
    for i in range(5):
        mem.put(("k", i), b"1234")
    assert len(mem.data) == 2 and mem.bytes == 8 and mem.get(("k", 4)) == b"1234" and mem.get(("k", 0)) is None
    mem.put(("big",), b"x" * 50)  # the newest is kept even alone over the bound
    assert list(mem.data) == [("big",)] and mem.bytes == 50


def test_one_process_cuts_ahead_and_an_abandoned_claim_is_taken_over(tmp_path: Path) -> None:
    disk = DiskTiles(tmp_path, "v1", "cut-x")
    assert disk.claim(".warm-wgs84") is True
    assert disk.claim(".warm-wgs84") is False  # another worker: already being cut
    old = time.time() - _tiles_cache.STALE_CLAIM_S - 5
    os.utime(disk.dir / ".warm-wgs84", (old, old))
    assert disk.claim(".warm-wgs84") is True  # its process died before finishing: taken over
    disk.finished(".warm-wgs84")
    os.utime(disk.dir / ".warm-wgs84", (old, old))
    assert disk.claim(".warm-wgs84") is False  # finished: never again on this version



@pytest.mark.parametrize("datum", ["wgs84", "gcj02"])
def test_a_tile_takes_exactly_the_features_whose_projected_shape_meets_it(ds: Dataset, datum: str) -> None:
    """Tiles project only the features their lon/lat box (widened by the datum's shift) finds: none may be missed.

    The reference projects the whole layer first, as the layers once were held: every feature whose
    shifted Web Mercator shape meets the buffered tile is in the tile, and no other.
    """
    from app.geo._map_topology import shift_geometries

    grids = ds.grids
    merc = tiles.to_mercator(shift_geometries(np.asarray(grids.geometry.values, dtype=object), datum))
    z = tiles.zooms(ds)["grids"] - tiles.ZOOM_OFFSET + 1
    seen = 0
    for lon, lat in [(p.x, p.y) for p in grids.geometry.iloc[:: max(1, len(grids) // 15)].representative_point()]:
        x, y = _tile_of(lon, lat, z)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1)):
            b = tiles.tile_bounds(z, x + dx, y + dy)
            pad = (b[2] - b[0]) * tiles.BUFFER / tiles.EXTENT
            clipped = shapely.clip_by_rect(merc, b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)
            want = set(grids["code"][~(shapely.is_empty(clipped) | shapely.is_missing(clipped))])
            got = {f["properties"]["code"] for f in _decode(tiles.tile(ds, "grids", z, x + dx, y + dy, datum), "grids")}
            assert got <= want  # a sliver may simplify away, nothing else
            assert len(want - got) <= len(want) // 20
            seen += len(got)
    assert seen >= 10
