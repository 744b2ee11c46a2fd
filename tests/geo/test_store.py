"""Tests for app.geo.dataset: the Dataset's metric CRS follows its data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyproj
import pytest

from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore, layer_path
from app.geo.schema import METRIC_CRS
from tests import helpers

GEOD = pyproj.Geod(ellps="WGS84")


def shifted_city(dest: Path, dlon: float) -> Path:
    """Copy the mini city to ``dest`` with every geometry moved ``dlon`` degrees east."""
    helpers.copy_mini(dest)
    for name, gdf in helpers.shifted_mini(dlon).items():
        gdf.to_file(dest / f"{name}.geojson", driver="GeoJSON", engine="pyogrio")
    return dest


def _geodesic_areas(grids: gpd.GeoDataFrame) -> list[float]:
    return [abs(GEOD.geometry_area_perimeter(g)[0]) for g in grids.to_crs(4326).geometry]


def test_jiayuguan_dataset_uses_epsg4542(ds):
    assert ds.metric_crs == METRIC_CRS == "EPSG:4542"


def test_other_city_gets_its_own_zone_and_true_areas(tmp_path):
    # 103.3°E, near Lanzhou: the stored city's EPSG:4542 does not cover it, so the data chooses
    ds = Dataset(FolderStore(shifted_city(tmp_path / "east", 5.0)))
    assert ds.metric_crs == "EPSG:4543"  # CGCS2000 GK CM 102E
    true = _geodesic_areas(ds.grids)
    utm = ds.grids.to_crs(ds.metric_crs).area.to_numpy()
    gk = ds.grids.to_crs(METRIC_CRS).area.to_numpy()
    for t, u, g in zip(true, utm, gk, strict=True):
        assert abs(u / t - 1) < 1e-3
        assert abs(g / t - 1) > 2e-3  # EPSG:4542 at 4.3° from its central meridian: ~0.3 % too large


def test_empty_or_missing_grids_fall_back(tmp_path):
    folder = shifted_city(tmp_path / "empty", 5.0)
    grids = gpd.read_file(layer_path(folder, "grids"))
    grids.iloc[:0].to_file(layer_path(folder, "grids"), driver="GeoJSON", engine="pyogrio")
    assert Dataset(FolderStore(folder)).metric_crs == METRIC_CRS
    layer_path(folder, "grids").unlink()
    assert Dataset(FolderStore(folder)).metric_crs == METRIC_CRS


class _Layers:
    """A store over GeoDataFrames in any CRS."""

    def __init__(self, **layers: gpd.GeoDataFrame) -> None:
        self.layers = layers

    def version(self) -> str:
        return "v"

    def read(self, layer: str) -> gpd.GeoDataFrame:
        return self.layers[layer]

    def layer_names(self) -> list[str]:
        return list(self.layers)

    def metadata(self) -> dict:
        return {}


@pytest.mark.parametrize("crs", ["EPSG:4542", "EPSG:32648", "EPSG:4490"])
def test_projected_layers_are_placed_by_their_lonlat_extent(crs):
    grids = gpd.read_file(layer_path(helpers.MINI, "grids")).to_crs(crs)
    assert Dataset(_Layers(grids=grids)).metric_crs == "EPSG:4542"


def test_memory_and_overlay_stores_are_read_stores():
    from geopandas.testing import assert_geodataframe_equal

    from app.geo.memory_store import MemoryStore, OverlayStore
    from app.geo.store import ReadStore

    base = FolderStore(helpers.MINI)
    layers = {name: base.read(name) for name in ("grids", "addresses")}
    mem = MemoryStore(layers, metadata={"name": "mini"})
    assert isinstance(mem, ReadStore) and mem.snapshot() is mem
    assert mem.version() == MemoryStore(layers).version()  # the hash is of the content
    assert_geodataframe_equal(mem.read("grids"), layers["grids"])
    assert mem.metadata() == {"name": "mini"} and mem.info().counts == {"grids": 10, "addresses": 69}

    few = layers["grids"].iloc[:3]
    over = OverlayStore(base, {"grids": few}, "abc")
    assert isinstance(over, ReadStore) and over.version() == f"{base.version()}+abc"
    assert_geodataframe_equal(over.read("grids"), few)
    assert_geodataframe_equal(over.read("roads"), base.read("roads"))
    assert over.info().id == over.version() and over.metadata() == base.metadata()
    assert Dataset(over).grids is not None and len(Dataset(over).grids) == 3
