"""Layers read by a child process equal the ones read in this process, and its failures fall back."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest

from app.geo import _geojson_child
from app.geo._geojson_folder import FolderStore
from app.geo.dataset import limit_arenas
from app.geo.schema import LAYERS


@pytest.fixture
def in_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder counts as large: its layers are read by the child."""
    monkeypatch.setattr(_geojson_child, "CHILD_MIN_BYTES", 0)
    monkeypatch.setattr(_geojson_child, "_ENABLED", True)
    yield
    _geojson_child.close()


def test_child_reads_the_same_frames(data_dir: Path, in_child: None) -> None:
    store = FolderStore(data_dir)
    for layer in store.layer_names():
        got = store.read(layer)
        want = gpd.read_file(data_dir / f"{layer}.geojson", engine="pyogrio")
        want = want.set_crs("EPSG:4326") if want.crs is None else want
        assert got.equals(want), layer
        assert list(got.dtypes) == list(want.dtypes) and list(got.columns) == list(want.columns)
        assert got.crs == want.crs and got.index.equals(want.index)
    assert store._in_child


def test_child_is_restarted_after_it_left(data_dir: Path, in_child: None) -> None:
    store = FolderStore(data_dir)
    first = store.read("grids")
    _geojson_child.close()
    assert store.read("grids").equals(first)


def test_unreadable_file_falls_back_to_this_process(data_dir: Path, in_child: None) -> None:
    (data_dir / "divisions.geojson").write_text("{not json", encoding="utf-8")
    assert _geojson_child.read(data_dir / "divisions.geojson") is None
    with pytest.raises(Exception):  # noqa: B017, PT011 - the same error as a read without the child
        FolderStore(data_dir).read("divisions")


def test_small_city_is_read_here(data_dir: Path) -> None:
    assert not _geojson_child.wanted(data_dir, LAYERS)
    total = sum((data_dir / f"{n}.geojson").stat().st_size for n in LAYERS if (data_dir / f"{n}.geojson").exists())
    assert total < _geojson_child.CHILD_MIN_BYTES


def test_layer_without_crs_is_wgs84(tmp_path: Path, in_child: None) -> None:
    (tmp_path / "divisions.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "1", "name": "甲"},
         "geometry": {"type": "Point", "coordinates": [98.2, 39.8]}}]}), encoding="utf-8")
    got = FolderStore(tmp_path).read("divisions")
    assert got.crs == "EPSG:4326" and got["name"].tolist() == ["甲"]


def test_limit_arenas_respects_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False


def test_only_a_server_reads_in_the_child(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short command reads even a large city here (the child's start-up would cost it a second); serve enables it."""
    monkeypatch.setattr(_geojson_child, "CHILD_MIN_BYTES", 0)
    monkeypatch.setattr(_geojson_child, "_ENABLED", False)
    assert not _geojson_child.wanted(data_dir, LAYERS)
    _geojson_child.enable()
    assert _geojson_child.wanted(data_dir, LAYERS)
