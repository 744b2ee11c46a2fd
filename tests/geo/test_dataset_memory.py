"""What keeps a large city's server small: builds hand their scratch memory back, the tile cache is bounded in bytes."""

from __future__ import annotations

import pytest

from app.geo import dataset
from app.geo.dataset import Dataset


def test_the_tile_cache_is_bounded_in_bytes() -> None:
    from app.geo.tiles import _LRU

    cache = _LRU(100, max_bytes=1000)
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
