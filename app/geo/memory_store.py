"""Read-only stores over layers held in memory: for notebooks, and for a user's own file laid over the served data."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from app.geo.schema import STORAGE_CRS
from app.geo.store import ReadStore, VersionInfo


class MemoryStore:
    """A :class:`~app.geo.store.ReadStore` over GeoDataFrames; the version is a hash of their content.

    Parameters
    ----------
    layers : mapping
        Layer name -> GeoDataFrame (a frame without a CRS is taken as EPSG:4326).
    metadata : mapping, optional
        The city's metadata, as ``metadata.json`` would hold it.
    """

    location = "memory"

    def __init__(self, layers: Mapping[str, gpd.GeoDataFrame], metadata: Mapping[str, Any] | None = None) -> None:
        self._layers = {k: (v if v.crs is not None else v.set_crs(STORAGE_CRS)) for k, v in layers.items()}
        self._metadata = dict(metadata or {})
        h = hashlib.sha256()
        for name in sorted(self._layers):
            gdf = self._layers[name]
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(pd.DataFrame(gdf.drop(columns="geometry")).astype(str),
                                                index=False).values.tobytes())
            h.update(b"".join(shapely.to_wkb(gdf.geometry.values)))
        self._version = "mem-" + h.hexdigest()[:12]

    def version(self) -> str:
        """Return the content hash of the layers."""
        return self._version

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Return one of the given layers."""
        if layer not in self._layers:
            raise FileNotFoundError(f"layer {layer!r} not given")
        return self._layers[layer]

    def layer_names(self) -> list[str]:
        """Return the names of the given layers."""
        return list(self._layers)

    def metadata(self) -> dict[str, Any]:
        """Return the given metadata (empty by default)."""
        return dict(self._metadata)

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the one version: the content hash and the feature counts."""
        return VersionInfo(id=self._version, created="", author="", message="layers in memory", parent=None,
                           source="memory", counts={n: len(g) for n, g in self._layers.items()},
                           content_hash=self._version)

    def snapshot(self, version_id: str | None = None) -> MemoryStore:
        """Return the store itself: its layers never change."""
        return self


class OverlayStore:
    """A :class:`~app.geo.store.ReadStore` that answers some layers from memory and the rest from a base store.

    Used to locate a batch in a grid file of the user's own while committee and division
    names still come from the served data.

    Parameters
    ----------
    base : ReadStore
        The store (pinned version) that holds every other layer.
    layers : mapping
        Layer name -> GeoDataFrame in EPSG:4326 that replaces the base's layer.
    tag : str
        Appended to the base's version, so caches keyed by version keep the two apart.
    """

    def __init__(self, base: ReadStore, layers: Mapping[str, gpd.GeoDataFrame], tag: str) -> None:
        self.base = base
        self.location = f"{base.location}+{tag}"
        self._layers = dict(layers)
        self._version = f"{base.version()}+{tag}"

    def version(self) -> str:
        """Return the base's version with the overlay's tag."""
        return self._version

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Return the overlaid layer, or the base's."""
        return self._layers[layer] if layer in self._layers else self.base.read(layer)

    def layer_names(self) -> list[str]:
        """Return the base's layers and the overlaid ones."""
        return list(dict.fromkeys([*self.base.layer_names(), *self._layers]))

    def metadata(self) -> dict[str, Any]:
        """Return the base's metadata."""
        return self.base.metadata()

    def info(self, version_id: str | None = None) -> VersionInfo:
        """Return the base's description under the overlay's version id."""
        return dataclasses.replace(self.base.info(), id=self._version)

    def snapshot(self, version_id: str | None = None) -> OverlayStore:
        """Return the store itself: the overlay is pinned to its base's version."""
        return self
