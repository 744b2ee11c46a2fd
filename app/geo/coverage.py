"""Facility coverage: the residents and area within reach of chosen facilities, by grid, committee, division and city."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from app.geo.network import Snap, WalkNetwork, build_network
from app.geo.schema import CATEGORIES, PERSONAL_FIELDS, STORAGE_CRS
from app.geo.store import Dataset, FolderStore

#: Distance modes: straight line in the data's metric CRS, or walking along the road network.
MODES: tuple[str, ...] = ("straight", "walk")
#: Aggregation levels, finest first.
LEVELS: tuple[str, ...] = ("grid", "committee", "division", "city")
#: Largest radius accepted, in metres.
MAX_RADIUS_M = 5000.0
#: Disks are drawn as polygons with 4 * DISK_QUAD_SEGS vertices and the area of the true circle.
DISK_QUAD_SEGS = 32
#: Walk mode estimates area on a lattice of about this many sample points over the whole city ...
WALK_SAMPLE_POINTS = 200_000
#: ... but never finer than this spacing, in metres.
WALK_MIN_SPACING_M = 10.0
#: Results kept per data version (the web page's repeated queries are answered from here).
RESULT_CACHE_SIZE = 64
#: Shares are compared with targets with this tolerance, in percentage points.
_EPS_PCT = 1e-9


class CoverageError(ValueError):
    """A coverage request that cannot be answered, with a message that names the problem."""


@dataclass(frozen=True)
class Preset:
    """A planning-standard preset: categories, radii and the coverage target per radius.

    Presets are defaults: every interface lets the planner change the categories, the
    radius and the target.

    Attributes
    ----------
    key : str
        Identifier, e.g. ``bus_stop``.
    zh, en : str
        Labels.
    categories : tuple of str
        Facility categories whose union is analysed.
    radii : tuple of float
        The standard's distances, in metres.
    targets : dict
        Target share of residents (percent) by radius; radii without a target mark nothing.
    strict : bool
        True when the share must be *above* the target (``>``), False for ``>=``.
    standard : str
        Where the numbers come from.
    """

    key: str
    zh: str
    en: str
    categories: tuple[str, ...]
    radii: tuple[float, ...]
    targets: dict[float, float] = field(default_factory=dict)
    strict: bool = False
    standard: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the preset as JSON-able data."""
        d = asdict(self)
        d["targets"] = {str(int(k) if float(k).is_integer() else k): v for k, v in self.targets.items()}
        d["categories"] = list(self.categories)
        d["radii"] = list(self.radii)
        return d


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("bus_stop", "公交站点覆盖", "Bus stop coverage", ("bus_stop",), (300.0, 500.0),
               {300.0: 50.0, 500.0: 90.0}, False,
               "GB 50220-95: 300 m ≥ 50%, 500 m ≥ 90%; 公交都市 500 m ≥ 90%"),
        Preset("park", "公园绿地服务半径覆盖", "Park service radius", ("park",), (300.0, 500.0),
               {500.0: 80.0}, True,
               "GB 55014-2021: 公园绿地服务半径覆盖率 > 80%; 300米见绿、500米见园"),
        Preset("circle_5min", "5分钟生活圈", "5-minute living circle", ("park", "fitness"), (300.0,),
               {}, False, "GB 50180-2018: 5-minute living circle ≈ 300 m"),
        Preset("circle_10min", "10分钟生活圈", "10-minute living circle",
               ("bus_stop", "study_room", "parking"), (500.0,), {}, False,
               "GB 50180-2018: 10-minute living circle ≈ 500 m"),
        Preset("circle_15min", "15分钟生活圈", "15-minute living circle",
               ("library", "senior_university", "tcm_clinic"), (1000.0,), {}, False,
               "GB 50180-2018: 15-minute living circle ≈ 800-1000 m"),
    )
}


@dataclass(frozen=True)
class CoverageParams:
    """The parameters of one coverage question (validated; build with :func:`make_params`)."""

    categories: tuple[str, ...]
    radius_m: float
    mode: str = "straight"
    target_pct: float | None = None
    strict: bool = False

    def label(self, lang: str = "zh") -> str:
        """Return a short human label, e.g. ``公交站 500 m 直线``."""
        names = "+".join(CATEGORIES[c].zh if lang == "zh" else CATEGORIES[c].en for c in self.categories)
        mode = {"straight": ("直线", "straight line"), "walk": ("步行", "walking")}[self.mode][lang != "zh"]
        return f"{names} {self.radius_m:g} m {mode}"

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-able data."""
        return {
            "categories": list(self.categories),
            "radius_m": self.radius_m,
            "mode": self.mode,
            "target_pct": self.target_pct,
            "target_rule": None if self.target_pct is None else (">" if self.strict else ">="),
        }


_UNSET: Any = object()


def default_target(categories: Iterable[str], radius_m: float) -> tuple[float | None, bool]:
    """Return the preset target for a category set and radius, if a preset defines one.

    Parameters
    ----------
    categories : iterable of str
        Facility categories.
    radius_m : float
        Radius in metres.

    Returns
    -------
    tuple
        ``(target_pct, strict)``; ``(None, False)`` when no preset has exactly these
        categories with a target at this radius.
    """
    cats = tuple(sorted(set(categories)))
    for p in PRESETS.values():
        if tuple(sorted(p.categories)) == cats and float(radius_m) in p.targets:
            return p.targets[float(radius_m)], p.strict
    return None, False


def make_params(
    categories: str | Iterable[str],
    radius_m: float | str,
    mode: str = "straight",
    target_pct: float | str | None = _UNSET,
    strict: bool | None = None,
) -> CoverageParams:
    """Validate a coverage question.

    Parameters
    ----------
    categories : str or iterable of str
        One or several keys of :data:`app.geo.schema.CATEGORIES`; their facilities are pooled.
    radius_m : float
        Distance in metres, 0 < radius <= :data:`MAX_RADIUS_M`.
    mode : str
        ``straight`` or ``walk``.
    target_pct : float or None, optional
        Target share of residents within reach, in percent. Omitted: the preset's target
        (:func:`default_target`); None: no target.
    strict : bool, optional
        Whether the share must be above (not just reach) the target; defaults to the preset's rule.

    Returns
    -------
    CoverageParams
        Validated parameters, categories sorted and deduplicated.

    Raises
    ------
    CoverageError
        When a value is missing or out of range.
    """
    if isinstance(categories, str):
        categories = [c for c in categories.split(",")]
    cats = sorted({str(c).strip() for c in categories if str(c).strip()})
    if not cats:
        raise CoverageError("choose at least one facility category")
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise CoverageError(f"unknown category {unknown[0]!r}; expected one of {', '.join(CATEGORIES)}")
    radius = _number(radius_m, "radius")
    if not 0 < radius <= MAX_RADIUS_M:
        raise CoverageError(f"radius must be more than 0 and at most {MAX_RADIUS_M:g} m, got {radius:g}")
    if mode not in MODES:
        raise CoverageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    preset_target, preset_strict = default_target(cats, radius)
    if target_pct is _UNSET:
        target = preset_target
    elif target_pct is None or (isinstance(target_pct, str) and target_pct.strip() == ""):
        target = None
    else:
        target = _number(target_pct, "target")
        if not 0 <= target <= 100:
            raise CoverageError(f"target must be a percentage from 0 to 100, got {target:g}")
    return CoverageParams(tuple(cats), radius, mode, target, preset_strict if strict is None else bool(strict))


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise CoverageError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CoverageError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise CoverageError(f"{name} must be a finite number, got {value!r}")
    return number


# --------------------------------------------------------------------------------------------
# Data sources


class _MemoryStore:
    """A Store over layers held in memory; the version is a hash of their content."""

    def __init__(self, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
        self._layers = {k: (v if v.crs is not None else v.set_crs(STORAGE_CRS)) for k, v in layers.items()}
        h = hashlib.sha256()
        for name in sorted(self._layers):
            gdf = self._layers[name]
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(pd.DataFrame(gdf.drop(columns="geometry")).astype(str),
                                                index=False).values.tobytes())
            h.update(b"".join(shapely.to_wkb(gdf.geometry.values)))
        self._version = "mem-" + h.hexdigest()[:12]

    def version(self) -> str:
        return self._version

    def read(self, layer: str) -> gpd.GeoDataFrame:
        if layer not in self._layers:
            raise FileNotFoundError(f"layer {layer!r} not given")
        return self._layers[layer]

    def layer_names(self) -> list[str]:
        return list(self._layers)


_FOLDER_DATASETS: dict[str, Dataset] = {}
_LOCK = threading.RLock()


def as_dataset(source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path) -> Dataset:
    """Return a :class:`~app.geo.store.Dataset` for a Dataset, a dict of layers or a geodata folder.

    Parameters
    ----------
    source : Dataset, dict or path
        A Dataset; a mapping of layer name to GeoDataFrame (grids, addresses, facilities,
        and for walk mode roads; committees and divisions give names); or a geodata folder.

    Returns
    -------
    Dataset
        The data version to analyse. Folders are reused while their version is unchanged.
    """
    if isinstance(source, Dataset):
        return source
    if isinstance(source, str | Path):
        folder = Path(source)
        if not (folder / "grids.geojson").exists():
            raise CoverageError(f"{folder} is not a geodata folder (no grids.geojson)")
        key = str(folder.resolve())
        with _LOCK:
            store = FolderStore(folder)
            ds = _FOLDER_DATASETS.get(key)
            if ds is None or ds.version != store.version():
                ds = _FOLDER_DATASETS[key] = Dataset(store)
            return ds
    if isinstance(source, Mapping):
        return Dataset(_MemoryStore(source))
    raise CoverageError(f"cannot analyse a {type(source).__name__}; give a Dataset, a dict of layers or a folder")


# --------------------------------------------------------------------------------------------
# The prepared city: arrays in the data's metric CRS (Dataset.metric_crs), built once per data version


class _City:
    """Grids, addresses and facilities of one data version as arrays in the metric CRS."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.version = ds.version
        self._lock = threading.RLock()
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

        com = ds.layer("committees") if "committees" in names else None
        div = ds.layer("divisions") if "divisions" in names else None
        self.committees = _units(com, self.grids["committee_code"], with_division=True)
        self.divisions = _units(div, self.grids["division_code"], with_division=False)
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
        self.addr_res = _int_col(addr, "residents")
        self.addr_hh = _int_col(addr, "households")
        self.addr_grid = self._grid_of(addr, self.addr_xy, grid_row)

        fac = ds.layer("facilities")
        self.fac_xy = _metric_xy(fac, self.crs)
        self.fac_cat = fac["category"].astype(str).to_numpy() if "category" in fac else np.full(len(fac), "")
        self.fac_cap = _int_col(fac, "capacity")
        self.fac_grid = self._grid_of(fac, self.fac_xy, grid_row)
        self.metadata = ds.store.metadata() if hasattr(ds.store, "metadata") else {}

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
        return np.isin(self.fac_cat, cats) & np.isfinite(self.fac_xy).all(axis=1)

    def extent(self) -> shapely.Geometry:
        """A box around everything, wide enough for the largest radius."""
        boxes = [shapely.total_bounds(self.grid_geom)]
        if len(self.fac_xy):
            boxes.append(np.r_[np.nanmin(self.fac_xy, axis=0), np.nanmax(self.fac_xy, axis=0)])
        b = np.array(boxes)
        pad = MAX_RADIUS_M * 1.5 + 1000.0
        return shapely.box(b[:, 0].min() - pad, b[:, 1].min() - pad, b[:, 2].max() + pad, b[:, 3].max() + pad)

    # -- memoised building blocks ---------------------------------------------------------

    def memoised(self, key: tuple, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self.memo:
                return self.memo[key]
        value = build()
        with self._lock:
            return self.memo.setdefault(key, value)

    def network(self) -> WalkNetwork:
        def build() -> WalkNetwork:
            if "roads" not in self.ds.store.layer_names():
                raise CoverageError("walk mode needs a roads layer, and the data has none")
            roads = self.ds.layer("roads")
            net = build_network(np.asarray(roads.geometry.to_crs(self.crs).values, dtype=object))
            if net.segment_count == 0:
                raise CoverageError("walk mode needs roads, and the roads layer is empty")
            return net

        return self.memoised(("network",), build)

    def samples(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Area sample points for walk mode: ``(xy, grid_row, spacing)``."""
        return self.memoised(("samples",), lambda: area_samples(self.grid_geom))


def _col(gdf: pd.DataFrame, name: str) -> np.ndarray:
    return gdf[name].fillna("").astype(str).to_numpy() if name in gdf else np.full(len(gdf), "", dtype=object)


def _int_col(gdf: pd.DataFrame, name: str) -> np.ndarray:
    if name not in gdf:
        return np.zeros(len(gdf), dtype=np.int64)
    return pd.to_numeric(gdf[name], errors="coerce").fillna(0).to_numpy(np.int64)


def _metric_xy(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
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


def _city(ds: Dataset) -> _City:
    return ds.cached("coverage.city", lambda: _City(ds))


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


# --------------------------------------------------------------------------------------------
# Distances and covered area


def _disk_radius(radius: float) -> float:
    """Radius of a 4*DISK_QUAD_SEGS-gon with the same area as the circle of ``radius``."""
    n = 4 * DISK_QUAD_SEGS
    return radius * math.sqrt(2 * math.pi / (n * math.sin(2 * math.pi / n)))


def _unique_xy(xy: np.ndarray) -> np.ndarray:
    return np.unique(np.round(xy, 3), axis=0) if len(xy) else np.empty((0, 2))


def _straight_distances(city: _City, cats: tuple[str, ...]) -> np.ndarray:
    """Straight-line distance from every address to the nearest facility of ``cats``."""

    def build() -> np.ndarray:
        fxy = _unique_xy(city.fac_xy[city.fac_mask(cats)])
        out = np.full(len(city.addr_xy), np.inf)
        ok = np.isfinite(city.addr_xy).all(axis=1)
        if len(fxy) == 0 or not ok.any():
            return out
        tree = shapely.STRtree(shapely.points(fxy))
        pts = city.memoised(("addr_points",), lambda: shapely.points(city.addr_xy[ok]))
        idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        sub = np.full(ok.sum(), np.inf)
        sub[idx[0]] = dist
        out[ok] = sub
        return out

    return city.memoised(("straight_dist", cats), build)


def _voronoi_cells(city: _City, cats: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of the (deduplicated) facilities of ``cats``, clipped to the city extent."""

    def build() -> tuple[np.ndarray, np.ndarray]:
        fxy = _unique_xy(city.fac_xy[city.fac_mask(cats)])
        extent = city.extent()
        if len(fxy) == 0:
            return fxy, np.array([], dtype=object)
        if len(fxy) == 1:
            return fxy, np.array([extent], dtype=object)
        pts = shapely.points(fxy)
        cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent, ordered=True)
        cells = np.asarray(shapely.get_parts(cells), dtype=object)
        if len(cells) != len(fxy) or not shapely.contains(cells, pts).all():  # pragma: no cover - GEOS guard
            tree = shapely.STRtree(cells)
            hit = tree.query(pts, predicate="intersects")
            matched = np.empty(len(fxy), dtype=object)
            matched[hit[0][::-1]] = cells[hit[1][::-1]]
            cells = matched
        return fxy, shapely.intersection(cells, extent)

    return city.memoised(("voronoi", cats), build)


def _straight_area(city: _City, cats: tuple[str, ...], radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Covered area of every grid, exactly (up to the 128-gon), without any union.

    Each point's nearest facility is the one whose Voronoi cell holds it, so the covered set
    is the disjoint union of ``cell_i ∩ disk_i``; a grid's covered area is the sum of the
    areas of its intersections with these pieces.
    """

    def build() -> tuple[np.ndarray, np.ndarray]:
        fxy, cells = _voronoi_cells(city, cats)
        if len(fxy) == 0:
            return np.zeros(city.n_grids), np.array([], dtype=object)
        disks = shapely.buffer(shapely.points(fxy), _disk_radius(radius), quad_segs=DISK_QUAD_SEGS)
        pieces = shapely.intersection(cells, disks)
        p_idx, g_idx = city.grid_tree.query(pieces, predicate="intersects")
        # a piece inside its grid needs no clipping (prepared point-in-polygon tests are cheap)
        inside = shapely.contains_properly(city.grid_geom[g_idx], pieces[p_idx])
        area = shapely.area(pieces[p_idx])
        clip = ~inside
        area[clip] = shapely.area(shapely.intersection(pieces[p_idx[clip]], city.grid_geom[g_idx[clip]]))
        covered = np.bincount(g_idx, weights=area, minlength=city.n_grids)
        return np.minimum(covered, city.grid_area), pieces

    return city.memoised(("straight_area", cats, radius), build)


def _walk_sources(city: _City, cats: tuple[str, ...]) -> tuple[Snap, np.ndarray]:
    net = city.network()

    def build() -> tuple[Snap, np.ndarray]:
        fxy = _unique_xy(city.fac_xy[city.fac_mask(cats)])
        snap = net.snap(fxy)
        return snap, net.node_distances(snap)

    return city.memoised(("walk_sources", cats), build)


def _walk_distances(city: _City, cats: tuple[str, ...]) -> np.ndarray:
    """Walking distance from every address to the nearest facility of ``cats``."""
    net = city.network()

    def build() -> np.ndarray:
        ok = np.isfinite(city.addr_xy).all(axis=1)
        snap = city.memoised(("addr_snap",), lambda: net.snap(city.addr_xy[ok]))
        src, node_dist = _walk_sources(city, cats)
        out = np.full(len(city.addr_xy), np.inf)
        out[ok] = net.distances(node_dist, src, snap)
        return out

    return city.memoised(("walk_dist", cats), build)


def _walk_area(city: _City, cats: tuple[str, ...], radius: float) -> np.ndarray:
    """Covered area of every grid in walk mode: grid area × share of its samples within reach."""
    net = city.network()

    def build() -> np.ndarray:
        xy, rows, _ = city.samples()
        snap = city.memoised(("sample_snap",), lambda: net.snap(xy))
        src, node_dist = _walk_sources(city, cats)
        d = city.memoised(("sample_dist", cats), lambda: net.distances(node_dist, src, snap))
        n = np.bincount(rows, minlength=city.n_grids)
        hit = np.bincount(rows, weights=(d <= radius).astype(float), minlength=city.n_grids)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, hit / np.maximum(n, 1), 0.0)
        return share * city.grid_area

    return city.memoised(("walk_area", cats, radius), build)


# --------------------------------------------------------------------------------------------
# Aggregation


def weighted_stats(group: np.ndarray, value: np.ndarray, weight: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Weighted mean, median, 90th percentile and maximum of ``value`` per group.

    The weighted q-quantile of a group is the smallest value whose cumulative weight
    reaches ``q`` times the group's total weight. Rows with a non-finite value, a weight
    of 0 or a negative group are ignored.

    Parameters
    ----------
    group : ndarray of int
        Group of each row, 0..n_groups-1 (negative: ignored).
    value, weight : ndarray of float
        Values and their weights.
    n_groups : int
        Number of groups.

    Returns
    -------
    dict
        ``mean``, ``median``, ``p90`` and ``max`` arrays of length ``n_groups`` (NaN for empty groups).
    """
    ok = (group >= 0) & np.isfinite(value) & (weight > 0)
    g, v, w = group[ok], value[ok].astype(float), weight[ok].astype(float)
    out = {k: np.full(n_groups, np.nan) for k in ("mean", "median", "p90", "max")}
    if len(g) == 0:
        return out
    order = np.lexsort((v, g))
    g, v, w = g[order], v[order], w[order]
    total = np.bincount(g, weights=w, minlength=n_groups)
    has = total > 0
    out["mean"][has] = (np.bincount(g, weights=w * v, minlength=n_groups) / np.where(has, total, 1))[has]
    # rows are sorted by group, so each group is one contiguous run
    present = np.flatnonzero(np.bincount(g, minlength=n_groups) > 0)
    starts = np.searchsorted(g, present, side="left")
    ends = np.searchsorted(g, present, side="right")
    cum = np.cumsum(w)
    cum_in = cum - np.concatenate([[0.0], cum])[starts][np.repeat(np.arange(len(present)), ends - starts)]
    pos = np.arange(len(g))
    big = len(g)
    for key, q in (("median", 0.5), ("p90", 0.9)):
        idx = np.where(cum_in >= q * total[g] * (1 - 1e-12), pos, big)
        first = np.minimum.reduceat(idx, starts)
        found = first < big
        out[key][present[found]] = v[first[found]]
    out["max"][present] = v[ends - 1]
    return out


def _below(pct: np.ndarray, params: CoverageParams, relevant: np.ndarray) -> np.ndarray:
    if params.target_pct is None:
        return np.zeros(len(pct), dtype=bool)
    t = params.target_pct
    with np.errstate(invalid="ignore"):
        below = pct <= t + _EPS_PCT if params.strict else pct < t - _EPS_PCT
    return below & relevant & ~np.isnan(pct)


def _tables(city: _City, params: CoverageParams, dist: np.ndarray, covered: np.ndarray) -> dict[str, pd.DataFrame]:
    r = params.radius_m
    fmask = city.fac_mask(params.categories)
    has_capacity = any(CATEGORIES[c].has_capacity for c in params.categories)
    reached = (dist <= r).astype(float)
    reachable = np.isfinite(dist)
    level_groups = {
        "grid": (np.arange(city.n_grids), city.n_grids),
        "committee": (city.grid_com, len(city.committees)),
        "division": (city.grid_div, len(city.divisions)),
        "city": (np.zeros(city.n_grids, dtype=np.int64), 1),
    }
    tables: dict[str, pd.DataFrame] = {}
    for level, (grid_group, n) in level_groups.items():
        a_grp = np.where(city.addr_grid >= 0, grid_group[np.maximum(city.addr_grid, 0)], -1)
        f_grp = np.where(city.fac_grid >= 0, grid_group[np.maximum(city.fac_grid, 0)], -1)
        a_ok = a_grp >= 0
        ag = a_grp[a_ok]
        res = city.addr_res[a_ok].astype(float)
        residents = np.bincount(ag, weights=res, minlength=n)
        res_cov = np.bincount(ag, weights=res * reached[a_ok], minlength=n)
        unreach = np.bincount(ag, weights=res * ~reachable[a_ok], minlength=n)
        households = np.bincount(ag, weights=city.addr_hh[a_ok].astype(float), minlength=n)
        g_ok = grid_group >= 0
        area = np.bincount(grid_group[g_ok], weights=city.grid_area[g_ok], minlength=n)
        area_cov = np.bincount(grid_group[g_ok], weights=covered[g_ok], minlength=n)
        f_sel = fmask & (f_grp >= 0)
        n_fac = np.bincount(f_grp[f_sel], minlength=n)
        stats = city.memoised(("dist_stats", params.mode, params.categories, level),
                              lambda a_grp=a_grp, n=n: weighted_stats(a_grp, dist, city.addr_res.astype(float), n))
        with np.errstate(invalid="ignore", divide="ignore"):
            res_pct = np.where(residents > 0, 100.0 * res_cov / np.where(residents > 0, residents, 1), np.nan)
            area_pct = np.where(area > 0, 100.0 * area_cov / np.where(area > 0, area, 1), np.nan)
        df = _level_ids(city, level)
        df["residents"] = residents.astype(np.int64)
        df["households"] = households.astype(np.int64)
        df["residents_covered"] = res_cov.astype(np.int64)
        df["residents_uncovered"] = (residents - res_cov).astype(np.int64)
        df["residents_pct"] = np.round(res_pct, 2)
        df["area_m2"] = np.round(area, 1)
        df["area_covered_m2"] = np.round(area_cov, 1)
        df["area_pct"] = np.round(area_pct, 2)
        df["dist_mean_m"] = np.round(stats["mean"], 1)
        df["dist_median_m"] = np.round(stats["median"], 1)
        df["dist_p90_m"] = np.round(stats["p90"], 1)
        df["dist_max_m"] = np.round(stats["max"], 1)
        df["residents_unreachable"] = unreach.astype(np.int64)
        df["facilities"] = n_fac.astype(np.int64)
        if has_capacity:
            cap = np.bincount(f_grp[f_sel], weights=city.fac_cap[f_sel].astype(float), minlength=n)
            df["capacity"] = cap.astype(np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                df["spaces_per_100_households"] = np.round(
                    np.where(households > 0, 100.0 * cap / np.where(households > 0, households, 1), np.nan), 2)
        df["below_target"] = _below(res_pct, params, residents > 0)
        tables[level] = df
    return tables


def _level_ids(city: _City, level: str) -> pd.DataFrame:
    if level == "grid":
        g = city.grids
        return pd.DataFrame({
            "code": g["code"], "name": g["name"],
            "committee_code": g["committee_code"], "committee_name": g["committee_code"].map(city.com_names).fillna(""),
            "division_code": g["division_code"], "division_name": g["division_code"].map(city.div_names).fillna(""),
        })
    if level == "committee":
        c = city.committees
        dcode = c["division_code"] if "division_code" in c else pd.Series([""] * len(c))
        grids = np.bincount(city.grid_com[city.grid_com >= 0], minlength=len(c))
        return pd.DataFrame({"code": c["code"], "name": c["name"], "division_code": dcode,
                             "division_name": dcode.map(city.div_names).fillna(""), "grids": grids})
    if level == "division":
        d = city.divisions
        grids = np.bincount(city.grid_div[city.grid_div >= 0], minlength=len(d))
        return pd.DataFrame({"code": d["code"], "name": d["name"], "grids": grids})
    meta = city.metadata if isinstance(city.metadata, dict) else {}
    return pd.DataFrame({"code": [str(meta.get("city_code", "city"))], "name": [str(meta.get("city") or meta.get("name") or "全市")],
                         "grids": [city.n_grids]})


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class CoverageResult:
    """The answer to one coverage question.

    Attributes
    ----------
    params : CoverageParams
        The question.
    data_version : str
        The data version it was computed on.
    computed_at : str
        When, ISO 8601 in UTC.
    tables : dict of str to DataFrame
        One table per level (``grid``, ``committee``, ``division``, ``city``). Shares are
        percentages; distances are resident-weighted, in metres. No personal field appears.
    level : str
        The level asked for (the default of :meth:`table`).
    elapsed_s : float
        Time taken to compute it (0 when it came from the cache... of the first call).
    """

    params: CoverageParams
    data_version: str
    computed_at: str
    tables: dict[str, pd.DataFrame]
    level: str = "grid"
    elapsed_s: float = 0.0
    _city: Any = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def table(self, level: str | None = None) -> pd.DataFrame:
        """Return the table of one level (default: :attr:`level`)."""
        level = level or self.level
        if level not in self.tables:
            raise CoverageError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        return self.tables[level]

    @property
    def grids(self) -> pd.DataFrame:
        """The grid-level table."""
        return self.tables["grid"]

    def underserved(self) -> pd.DataFrame:
        """Grids below the target, the most residents not covered first (empty without a target)."""
        g = self.tables["grid"]
        out = g[g["below_target"]].sort_values(["residents_uncovered", "residents_pct", "code"],
                                                ascending=[False, True, True])
        return out.reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """The whole-city row as a dict (NaN as None)."""
        return records_of(self.tables["city"])[0]

    @property
    def metric_crs(self) -> str:
        """The metric CRS distances and areas were computed in (the data's, see :attr:`Dataset.metric_crs`)."""
        return self._city.crs

    def parameters(self) -> dict[str, Any]:
        """Parameters, data version, metric CRS and time, for a parameters sheet or a JSON answer."""
        return {**self.params.to_dict(), "data_version": self.data_version, "metric_crs": self.metric_crs,
                "computed_at": self.computed_at,
                "label_zh": self.params.label("zh"), "label_en": self.params.label("en")}

    def records(self, level: str | None = None) -> list[dict[str, Any]]:
        """Rows of one level as JSON-able dicts (NaN as None)."""
        return records_of(self.table(level))

    def service_area(self, crs: str = STORAGE_CRS) -> shapely.Geometry:
        """The area within reach, for drawing.

        Straight mode: the union of the disks (polygons). Walk mode: the reached parts of
        the road network (lines).

        Parameters
        ----------
        crs : str
            CRS of the returned geometry (default WGS84; :attr:`metric_crs` gives it unprojected).
        """
        if "service_area" not in self._memo:
            self._memo["service_area"] = _service_area_metric(self._city, self.params)
        geom = self._memo["service_area"]
        if crs == self.metric_crs or geom.is_empty:
            return geom
        return gpd.GeoSeries([geom], crs=self.metric_crs).to_crs(crs).iloc[0]

    def map_geojson(self, level: str | None = None, simplify_m: float = 2.0) -> dict[str, Any]:
        """The level's units as a GeoJSON FeatureCollection for a web map (WGS84, cached).

        Properties are the identifiers and the headline metrics; geometries are simplified
        by about ``simplify_m`` metres.
        """
        level = level or self.level
        key = ("map_geojson", level)
        if key not in self._memo:
            geoms = _map_geometries(self._city, level, simplify_m)
            keep = [c for c in ("code", "name", "committee_name", "residents", "residents_uncovered",
                                "residents_pct", "area_pct", "dist_mean_m", "dist_p90_m", "facilities",
                                "spaces_per_100_households", "below_target") if c in self.table(level)]
            props = records_of(self.table(level)[keep])
            self._memo[key] = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": p, "geometry": g} for p, g in zip(props, geoms, strict=True)]}
        return self._memo[key]

    def service_area_geojson(self, simplify_m: float = 2.0) -> dict[str, Any] | None:
        """The service area as a GeoJSON geometry in WGS84 (None when empty), cached."""
        if "service_area_geojson" not in self._memo:
            geom = self.service_area(self.metric_crs)
            if geom.is_empty:
                out = None
            else:
                geom = shapely.simplify(geom, simplify_m)
                wgs = gpd.GeoSeries([geom], crs=self.metric_crs).to_crs(STORAGE_CRS).iloc[0]
                out = shapely.geometry.mapping(shapely.set_precision(wgs, 1e-6))
            self._memo["service_area_geojson"] = out
        return self._memo["service_area_geojson"]

    def map_json(self, level: str | None = None, limit: int = 1000) -> str:
        """Everything a map page shows, serialised once per result and cached.

        A JSON object with ``parameters``, ``summary``, ``units`` (:meth:`map_geojson`),
        ``service_area`` (:meth:`service_area_geojson`), ``underserved`` (at most ``limit``
        grids) and ``underserved_count``.
        """
        level = level or self.level
        key = ("map_json", level, limit)
        if key not in self._memo:
            cols = ["code", "name", "committee_name", "division_name", "residents", "residents_uncovered",
                    "residents_pct", "area_pct", "dist_mean_m", "dist_p90_m"]
            under = self.underserved()
            body = {"parameters": self.parameters(), "summary": self.summary(), "level": level,
                    "units": self.map_geojson(level), "service_area": self.service_area_geojson(),
                    "underserved": records_of(under[cols].head(limit)), "underserved_count": len(under)}
            self._memo[key] = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return self._memo[key]

    def geodataframe(self, level: str | None = None) -> gpd.GeoDataFrame:
        """The table of one level with its polygons, in WGS84."""
        level = level or self.level
        return gpd.GeoDataFrame(self.table(level).copy(), geometry=level_geometries(self._city.ds, level),
                                crs=STORAGE_CRS)


def records_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a coverage table as JSON-able dicts: NaN as None, numpy scalars as Python, no personal field."""
    clean = df.astype(object).where(pd.notna(df), None)
    rows = clean.to_dict(orient="records")
    for row in rows:
        for k, v in row.items():
            if isinstance(v, np.generic):
                row[k] = v.item()
        for k in PERSONAL_FIELDS & row.keys():
            del row[k]
    return rows


def level_geometries(ds: Dataset, level: str) -> np.ndarray:
    """Polygons of every unit of a level, in WGS84, aligned with the level's table rows.

    Parameters
    ----------
    ds : Dataset
        The data version.
    level : str
        One of :data:`LEVELS`.

    Returns
    -------
    ndarray of shapely geometry
        One polygon per row (committees and divisions missing from their layer are the
        union of their grids).
    """
    city = _city(ds)

    def build() -> np.ndarray:
        grids = np.asarray(ds.layer("grids").geometry.values, dtype=object)
        if level == "grid":
            return grids
        if level == "city":
            return np.array([shapely.union_all(shapely.make_valid(grids), grid_size=1e-7)], dtype=object)
        units, grid_group, layer = ((city.committees, city.grid_com, "committees") if level == "committee"
                                    else (city.divisions, city.grid_div, "divisions"))
        out = np.empty(len(units), dtype=object)
        if layer in ds.store.layer_names():
            lay = ds.layer(layer)
            by_code = dict(zip(lay["code"].astype(str), lay.geometry.values, strict=False))
            for i, code in enumerate(units["code"]):
                out[i] = by_code.get(code)
        for i in range(len(units)):
            if out[i] is None:
                out[i] = shapely.union_all(grids[grid_group == i])
        return out

    return city.memoised(("geometries", level), build)


def _map_geometries(city: _City, level: str, simplify_m: float) -> list[dict[str, Any]]:
    def build() -> list[dict[str, Any]]:
        geoms = gpd.GeoSeries(level_geometries(city.ds, level), crs=STORAGE_CRS).to_crs(city.crs)
        simple = geoms.simplify(simplify_m, preserve_topology=True).to_crs(STORAGE_CRS)
        return [shapely.geometry.mapping(shapely.set_precision(g, 1e-6)) for g in simple.values]

    return city.memoised(("map_geometries", level, simplify_m), build)


def _service_area_metric(city: _City, params: CoverageParams) -> shapely.Geometry:
    if params.mode == "straight":
        _, pieces = _straight_area(city, params.categories, params.radius_m)
        pieces = pieces[~shapely.is_empty(pieces)] if len(pieces) else pieces
        if len(pieces) == 0:
            return shapely.MultiPolygon()
        polys = shapely.get_parts(pieces)
        polys = polys[shapely.get_type_id(polys) == 3]
        return shapely.union_all(polys, grid_size=0.01) if len(polys) else shapely.MultiPolygon()
    net = city.network()
    _, node_dist = _walk_sources(city, params.categories)
    return net.reached_lines(node_dist, params.radius_m)


def analyse(
    source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path,
    categories: str | Iterable[str],
    radius_m: float,
    mode: str = "straight",
    level: str = "grid",
    target_pct: float | None = _UNSET,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> CoverageResult:
    """Answer a coverage question: who and what area lies within ``radius_m`` of the facilities.

    Metrics (every level; shares in percent):

    - ``residents_pct``: residents (address gazetteer ``residents``) whose nearest
      facility of ``categories`` is within ``radius_m``;
    - ``area_pct``: area within reach. Straight mode: exact area of the grid within
      ``radius_m`` of a facility (disks as 128-gons of the circle's area). Walk mode: the
      share of the grid's lattice sample points (:func:`area_samples`) whose walking
      distance is within ``radius_m``, times the grid's area;
    - ``dist_mean_m``, ``dist_median_m``, ``dist_p90_m``, ``dist_max_m``: distance from
      residents to the nearest facility, weighted by residents (walk mode: unreachable
      residents are left out and counted in ``residents_unreachable``);
    - ``facilities``: facilities of ``categories`` in the unit; with a capacity category
      (parking) also ``capacity`` and ``spaces_per_100_households``;
    - ``below_target``: residents share below the target.

    Walk mode snaps addresses, facilities and sample points to the road network with the
    rule in :class:`app.geo.network.WalkNetwork`. Results are cached per data version and
    parameters, so a repeated question is answered without recomputation.

    Parameters
    ----------
    source : Dataset, dict of GeoDataFrame, or path
        The data (see :func:`as_dataset`).
    categories : str or iterable of str
        Facility categories; their facilities are pooled.
    radius_m : float
        Distance in metres.
    mode : str
        ``straight`` (Euclidean in the data's metric CRS, :attr:`Dataset.metric_crs`) or ``walk`` (road network).
    level : str
        Default level of :meth:`CoverageResult.table`; all levels are computed.
    target_pct : float or None, optional
        Target residents share in percent; omitted: the preset's (:func:`default_target`).
    strict : bool, optional
        Whether the share must exceed the target; default from the preset.
    progress : callable, optional
        Called with short progress messages.

    Returns
    -------
    CoverageResult
        Tables per level, the underserved grids and the service area.
    """
    if level not in LEVELS:
        raise CoverageError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    params = make_params(categories, radius_m, mode, target_pct, strict)
    ds = as_dataset(source)
    cache = ds.cache
    with _LOCK:
        results: OrderedDict = cache.setdefault("coverage.results", OrderedDict())
        hit = results.get(params)
        if hit is not None:
            results.move_to_end(params)
    if hit is not None:
        return CoverageResult(hit.params, hit.data_version, hit.computed_at, hit.tables, level, hit.elapsed_s,
                              hit._city, hit._memo)
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    if "coverage.city" not in cache:
        say("preparing grids, addresses and facilities")
    city = _city(ds)
    cats = params.categories
    if mode == "straight":
        say(f"straight-line distances to {'+'.join(cats)}")
        dist = _straight_distances(city, cats)
        say("covered area per grid")
        covered, _ = _straight_area(city, cats, params.radius_m)
    else:
        if ("network",) not in city.memo:
            say("building the walking network")
        net = city.network()
        if ("walk_sources", cats) not in city.memo:
            say(f"walking distances on {net.node_count} nodes / {net.segment_count} segments")
        dist = _walk_distances(city, cats)
        if ("sample_snap",) not in city.memo:
            say(f"snapping {len(city.samples()[0])} area sample points (spacing {city.samples()[2]:g} m)")
        covered = _walk_area(city, cats, params.radius_m)
    say("aggregating by grid, committee, division and city")
    tables = _tables(city, params, dist, covered)
    result = CoverageResult(params, city.version, datetime.now(UTC).isoformat(timespec="seconds"), tables,
                            level, time.perf_counter() - t0, city)
    with _LOCK:
        results[params] = result
        while len(results) > RESULT_CACHE_SIZE:
            results.popitem(last=False)
    return result
