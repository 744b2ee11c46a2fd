"""The data coverage analyses: a Dataset's grids, addresses and facilities as arrays in its metric CRS."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._coverage_params import MAX_RADIUS_M, CoverageError
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from app.geo.memory_store import MemoryStore

T = TypeVar("T")

#: Walk mode estimates area on a lattice of about this many sample points over the whole city ...
WALK_SAMPLE_POINTS = 200_000
#: ... but never finer than this spacing, in metres.
WALK_MIN_SPACING_M = 10.0

_FOLDER_DATASETS: dict[str, Dataset] = {}
_FOLDER_LOCK = threading.RLock()


def as_dataset(source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path) -> Dataset:
    """Return a :class:`~app.geo.dataset.Dataset` for a Dataset, a dict of layers or a geodata folder.

    Parameters
    ----------
    source : Dataset, dict or path
        A Dataset; a mapping of layer name to GeoDataFrame (grids, addresses, facilities,
        and for walk mode roads; committees and divisions give names); or a geodata folder.

    Returns
    -------
    Dataset
        The data version to analyse. Folders are reused while their version is unchanged.

    Raises
    ------
    CoverageError
        For a folder without ``grids.geojson`` or a source of any other type.
    """
    if isinstance(source, Dataset):
        return source
    if isinstance(source, str | Path):
        folder = Path(source)
        if not (folder / "grids.geojson").exists():
            raise CoverageError(f"{folder} is not a geodata folder (no grids.geojson)")
        key = str(folder.resolve())
        with _FOLDER_LOCK:
            store = FolderStore(folder)
            ds = _FOLDER_DATASETS.get(key)
            if ds is None or ds.version != store.version():
                ds = _FOLDER_DATASETS[key] = Dataset(store)
            return ds
    if isinstance(source, Mapping):
        return Dataset(MemoryStore(source))
    raise CoverageError(f"cannot analyse a {type(source).__name__}; give a Dataset, a dict of layers or a folder")


class City:
    """Grids, addresses and facilities of one data version as arrays in the metric CRS.

    Built once per data version (:func:`prepared_city`); everything derived from it
    (distances, Voronoi cells, the walking network ...) is kept in :attr:`memo`.

    Parameters
    ----------
    ds : Dataset
        The data version; it must have grids, addresses and facilities.
    """

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.version = ds.version
        self._lock = threading.RLock()
        #: Structures built from this city, by key (see :meth:`memoised`).
        self.memo: dict[tuple, Any] = {}
        names = set(ds.store.layer_names())
        for required in ("grids", "addresses", "facilities"):
            if required not in names:
                raise CoverageError(f"the data has no {required} layer, which coverage needs")
        grids = ds.layer("grids")
        #: The metric CRS every array below is in.
        self.crs = ds.metric_crs
        self.grids = pd.DataFrame({
            "code": grids["code"].astype(str).to_numpy(),
            "name": grids["name"].astype(str).to_numpy() if "name" in grids else grids["code"].astype(str).to_numpy(),
            "committee_code": _col(grids, "committee_code"),
            "division_code": _col(grids, "division_code"),
        })
        self.grid_geom = np.asarray(grids.geometry.to_crs(self.crs).values, dtype=object)
        self.grid_geom = shapely.make_valid(self.grid_geom)
        shapely.prepare(self.grid_geom)
        self.grid_area = shapely.area(self.grid_geom)
        self.grid_tree = shapely.STRtree(self.grid_geom)
        self.n_grids = len(self.grids)
        grid_row = {c: i for i, c in enumerate(self.grids["code"])}

        self.committees = _units(self.optional_layer("committees"), self.grids["committee_code"], with_division=True)
        self.divisions = _units(self.optional_layer("divisions"), self.grids["division_code"], with_division=False)
        if "division_code" in self.committees:
            missing = self.committees["division_code"] == ""
            if missing.any():
                first_div = self.grids.groupby("committee_code")["division_code"].first()
                self.committees.loc[missing, "division_code"] = (
                    self.committees.loc[missing, "code"].map(first_div).fillna("").to_numpy()
                )
        com_row = {c: i for i, c in enumerate(self.committees["code"])}
        div_row = {c: i for i, c in enumerate(self.divisions["code"])}
        self.grid_com = self.grids["committee_code"].map(com_row).fillna(-1).to_numpy(np.int64)
        self.grid_div = self.grids["division_code"].map(div_row).fillna(-1).to_numpy(np.int64)
        self.com_names = dict(zip(self.committees["code"], self.committees["name"], strict=True))
        self.div_names = dict(zip(self.divisions["code"], self.divisions["name"], strict=True))

        addr = ds.layer("addresses")
        self.addr_xy = _metric_xy(addr, self.crs)
        #: Addresses with a location (the others are never within reach).
        self.addr_ok = np.isfinite(self.addr_xy).all(axis=1)
        self.addr_res = _int_col(addr, "residents")
        self.addr_hh = _int_col(addr, "households")
        self.addr_grid = self._grid_of(addr, self.addr_xy, grid_row)

        fac = ds.layer("facilities")
        self.fac_xy = _metric_xy(fac, self.crs)
        self.fac_cat = fac["category"].astype(str).to_numpy() if "category" in fac else np.full(len(fac), "")
        self.fac_cap = _int_col(fac, "capacity")
        self.fac_grid = self._grid_of(fac, self.fac_xy, grid_row)
        self.metadata = ds.metadata

    def has_layer(self, name: str) -> bool:
        """Whether the data has the layer ``name``."""
        return name in self.ds.store.layer_names()

    def optional_layer(self, name: str) -> gpd.GeoDataFrame | None:
        """Return a layer of the data version, or None when the data has no such layer."""
        return self.ds.layer(name) if self.has_layer(name) else None

    def _grid_of(self, gdf: gpd.GeoDataFrame, xy: np.ndarray, grid_row: dict[str, int]) -> np.ndarray:
        """Grid row of each point: its grid_code if known, else the grid that contains it, else -1."""
        out = np.full(len(gdf), -1, dtype=np.int64)
        if "grid_code" in gdf:
            out = gdf["grid_code"].astype(str).map(grid_row).fillna(-1).to_numpy(np.int64)
        todo = np.flatnonzero(out < 0)
        if len(todo):
            pts = shapely.points(xy[todo])
            hit = self.grid_tree.query(pts, predicate="within")
            out[todo[hit[0][::-1]]] = hit[1][::-1]  # first grid wins
        return out

    def fac_mask(self, cats: tuple[str, ...]) -> np.ndarray:
        """Facilities of ``cats`` that have a location."""
        return np.isin(self.fac_cat, cats) & np.isfinite(self.fac_xy).all(axis=1)

    def facility_xy(self, cats: tuple[str, ...]) -> np.ndarray:
        """Locations of the facilities of ``cats``, each place once (co-located facilities reach alike)."""
        xy = self.fac_xy[self.fac_mask(cats)]
        return np.unique(np.round(xy, 3), axis=0) if len(xy) else np.empty((0, 2))

    def extent(self) -> shapely.Geometry:
        """A box around everything, wide enough for the largest radius."""
        boxes = [shapely.total_bounds(self.grid_geom)]
        if len(self.fac_xy):
            boxes.append(np.r_[np.nanmin(self.fac_xy, axis=0), np.nanmax(self.fac_xy, axis=0)])
        b = np.array(boxes)
        pad = MAX_RADIUS_M * 1.5 + 1000.0
        return shapely.box(b[:, 0].min() - pad, b[:, 1].min() - pad, b[:, 2].max() + pad, b[:, 3].max() + pad)

    def memoised(self, key: tuple, build: Callable[[], T]) -> T:
        """Return ``memo[key]``, building it with ``build()`` on first use.

        The build runs outside the lock, so builds may nest; if two threads build the same
        key at once, the first stored value wins and both return it.
        """
        with self._lock:
            if key in self.memo:
                return self.memo[key]
        value = build()
        with self._lock:
            return self.memo.setdefault(key, value)

    def samples(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Area sample points for walk mode: ``(xy, grid_row, spacing)`` (see :func:`area_samples`)."""
        return self.memoised(("samples",), lambda: area_samples(self.grid_geom))


def prepared_city(ds: Dataset, say: Callable[[str], None] | None = None) -> City:
    """Return the :class:`City` of a data version, built once and cached on the Dataset.

    Parameters
    ----------
    ds : Dataset
        The data version.
    say : callable, optional
        Called with a progress message when the City has to be built.
    """
    if say is not None and "coverage.city" not in ds.cache:
        say("preparing grids, addresses and facilities")
    return ds.cached("coverage.city", lambda: City(ds))


def _col(gdf: pd.DataFrame, name: str) -> np.ndarray:
    return gdf[name].fillna("").astype(str).to_numpy() if name in gdf else np.full(len(gdf), "", dtype=object)


def _int_col(gdf: pd.DataFrame, name: str) -> np.ndarray:
    if name not in gdf:
        return np.zeros(len(gdf), dtype=np.int64)
    return pd.to_numeric(gdf[name], errors="coerce").fillna(0).to_numpy(np.int64)


def _metric_xy(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """One point per feature (its centroid) in ``crs``; NaN for missing or empty geometries."""
    if len(gdf) == 0:
        return np.empty((0, 2))
    geom = gdf.geometry.to_crs(crs).values
    xy = np.full((len(gdf), 2), np.nan)
    ok = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    xy[ok] = shapely.get_coordinates(shapely.centroid(geom[ok]))
    return xy


def _units(layer: gpd.GeoDataFrame | None, used_codes: pd.Series, with_division: bool) -> pd.DataFrame:
    """Committees or divisions: the layer's rows, plus codes used by grids but missing from it."""
    cols = ["code", "name"] + (["division_code"] if with_division else [])
    if layer is not None and len(layer):
        df = pd.DataFrame({c: _col(layer, c) for c in cols})
    else:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    extra = sorted(set(used_codes) - set(df["code"]) - {""})
    if extra:
        add = pd.DataFrame({"code": extra, "name": extra})
        if with_division:
            add["division_code"] = ""
        df = pd.concat([df, add], ignore_index=True)
    return df.reset_index(drop=True)


def area_samples(grid_geom: np.ndarray, target: int = WALK_SAMPLE_POINTS,
                 min_spacing: float = WALK_MIN_SPACING_M) -> tuple[np.ndarray, np.ndarray, float]:
    """Lattice sample points inside each grid, for the walk-mode area share.

    The lattice has square cells of side ``s = max(min_spacing, ceil(sqrt(total area / target)))``
    metres, anchored at the CRS origin; a grid's sample points are the cell centres
    ``((i + 0.5) s, (j + 0.5) s)`` inside it. A grid too small to hold one gets its
    representative point, so every grid has at least one sample.

    Parameters
    ----------
    grid_geom : ndarray of shapely geometry
        Grid polygons in the metric CRS.
    target : int
        About how many points to place over the whole city.
    min_spacing : float
        Finest spacing in metres.

    Returns
    -------
    tuple
        ``(xy, grid_row, spacing)``: points (n, 2), the grid row of each, and ``s``.
    """
    total = float(shapely.area(grid_geom).sum())
    s = max(min_spacing, math.ceil(math.sqrt(total / max(target, 1))))
    xs: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for i, g in enumerate(grid_geom):
        x0, y0, x1, y1 = g.bounds
        gx = (np.arange(math.floor(x0 / s), math.ceil(x1 / s)) + 0.5) * s
        gy = (np.arange(math.floor(y0 / s), math.ceil(y1 / s)) + 0.5) * s
        mx, my = np.meshgrid(gx, gy)
        mx, my = mx.ravel(), my.ravel()
        inside = shapely.contains_xy(g, mx, my)
        pts = np.column_stack([mx[inside], my[inside]])
        if len(pts) == 0:
            pts = shapely.get_coordinates(shapely.point_on_surface(g))
        xs.append(pts)
        rows.append(np.full(len(pts), i, dtype=np.int64))
    if not xs:
        return np.empty((0, 2)), np.array([], dtype=np.int64), float(s)
    return np.concatenate(xs), np.concatenate(rows), float(s)
