"""Coverage results: the tables per level, the summary, the underserved grids and their maps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from app.geo._coverage_distances import Reach, service_area
from app.geo._coverage_params import CoverageParams, check_level
from app.geo._coverage_sources import City, prepared_city
from app.geo.city import City as CityProfile
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES, PERSONAL_FIELDS, STORAGE_CRS

#: Shares are compared with targets with this tolerance, in percentage points.
_EPS_PCT = 1e-9


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
    _city: City | None = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def table(self, level: str | None = None) -> pd.DataFrame:
        """Return the table of one level (default: :attr:`level`)."""
        return self.tables[check_level(level or self.level)]

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

    @property
    def kind_columns(self) -> list[str]:
        """The per-kind share columns, ``pct_<kind>`` for each required kind (none for pooled questions)."""
        return [f"pct_{c}" for c, _ in self.params.requirements]

    def kinds(self, level: str = "grid") -> list[dict[str, Any]]:
        """Each required kind with its distance, the city's share within it and the units lacking it.

        Returns
        -------
        list of dict
            ``category``, ``zh``, ``en``, ``distance_m``, ``residents_pct`` (whole city) and
            ``units_missing`` (units of ``level`` lacking the kind); empty for pooled questions.
        """
        city = self.tables["city"].iloc[0]
        lacking = self.table(level)["missing"].str.split(",")
        out = []
        for cat, dist in self.params.requirements:
            pct = city[f"pct_{cat}"]
            out.append({"category": cat, "zh": CATEGORIES[cat].zh, "en": CATEGORIES[cat].en, "distance_m": dist,
                        "residents_pct": None if pd.isna(pct) else float(pct),
                        "units_missing": int(lacking.map(lambda m, cat=cat: cat in m).sum())})
        return out

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
            self._memo["service_area"] = service_area(self._city, self.params)
        geom = self._memo["service_area"]
        if crs == self.metric_crs or geom.is_empty:
            return geom
        return _reproject(geom, self.metric_crs, crs)

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
                                "spaces_per_100_households", "below_target", "missing",
                                *self.kind_columns) if c in self.table(level)]
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
                out = _mapping(_reproject(shapely.simplify(geom, simplify_m), self.metric_crs, STORAGE_CRS))
            self._memo["service_area_geojson"] = out
        return self._memo["service_area_geojson"]

    def map_json(self, level: str | None = None, limit: int = 1000) -> str:
        """Everything a map page shows, serialised once per result and cached.

        A JSON object with ``parameters``, ``summary``, ``units`` (:meth:`map_geojson`),
        ``service_area`` (:meth:`service_area_geojson`), ``underserved`` (at most ``limit``
        grids, with ``missing``), ``underserved_count`` and ``kinds`` (:meth:`kinds`).
        """
        level = level or self.level
        key = ("map_json", level, limit)
        if key not in self._memo:
            cols = ["code", "name", "committee_name", "division_name", "residents", "residents_uncovered",
                    "residents_pct", "area_pct", "dist_mean_m", "dist_p90_m", "missing", *self.kind_columns]
            under = self.underserved()
            body = {"parameters": self.parameters(), "summary": self.summary(), "kinds": self.kinds(),
                    "level": level,
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
    """Rows of a coverage table as JSON-able dicts.

    NaN as None, numpy scalars as Python, no personal field, and ``missing`` as a list of
    category keys (the tables hold it comma-separated, so every file format can store it).
    """
    clean = df.astype(object).where(pd.notna(df), None)
    rows = clean.to_dict(orient="records")
    for row in rows:
        for k, v in row.items():
            if isinstance(v, np.generic):
                row[k] = v.item()
        if isinstance(row.get("missing"), str):
            row["missing"] = missing_list(row["missing"])
        for k in PERSONAL_FIELDS & row.keys():
            del row[k]
    return rows


def missing_list(value: str | None) -> list[str]:
    """The category keys of a ``missing`` cell (``"library,tcm_clinic"`` → ``["library", "tcm_clinic"]``)."""
    return [c for c in (value or "").split(",") if c]


def missing_names(value: str | list[str] | None, lang: str = "zh") -> str:
    """A ``missing`` cell or list as category names, e.g. ``图书馆分馆、中医馆`` (``""``: none)."""
    keys = missing_list(value) if isinstance(value, str) or value is None else list(value)
    names = [CATEGORIES[c].en if lang == "en" else CATEGORIES[c].zh for c in keys if c in CATEGORIES]
    return (", " if lang == "en" else "、").join(names)


# -- tables -----------------------------------------------------------------------------------


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


def level_tables(city: City, params: CoverageParams, rc: Reach) -> dict[str, pd.DataFrame]:
    """The coverage table of every level from what is within reach per address and per grid.

    Besides the metrics of :func:`app.geo.coverage.analyse`, every table has ``missing``: the
    category keys the unit lacks, comma-separated (``""``: none). With requirements a kind is
    missing when the share of the unit's residents within its distance (``pct_<kind>``, one
    column per required kind) is below the target, and ``below_target`` is true when any kind
    is missing. Pooled, a unit below the target lacks all its categories.

    Parameters
    ----------
    city : City
        The prepared data version.
    params : CoverageParams
        The question.
    rc : Reach
        Distances and reach per address, covered area per grid (:func:`~app.geo._coverage_distances.reach`).

    Returns
    -------
    dict of str to DataFrame
        One table per level of :data:`~app.geo._coverage_params.LEVELS`.
    """
    dist, covered = rc.dist, rc.covered
    fmask = city.fac_mask(params.categories)
    cap_cats = tuple(c for c in params.categories if CATEGORIES[c].has_capacity)
    reached = rc.reached.astype(float)
    reachable = np.isfinite(dist)
    level_groups = {
        "grid": (np.arange(city.n_grids), city.n_grids),
        "committee": (city.grid_com, len(city.committees)),
        "division": (city.grid_div, len(city.divisions)),
        "city": (np.zeros(city.n_grids, dtype=np.int64), 1),
    }
    tables: dict[str, pd.DataFrame] = {}
    for level, (grid_group, n) in level_groups.items():
        a_grp = _group_of(city.addr_grid, grid_group)
        f_grp = _group_of(city.fac_grid, grid_group)
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
        stats = city.memoised(("dist_stats", params.mode, params.categories, params.requirements, level),
                              lambda a_grp=a_grp, n=n: weighted_stats(a_grp, dist, city.addr_res.astype(float), n))
        res_pct = _per_hundred(res_cov, residents)
        df = _level_ids(city, level)
        df["residents"] = residents.astype(np.int64)
        df["households"] = households.astype(np.int64)
        df["residents_covered"] = res_cov.astype(np.int64)
        df["residents_uncovered"] = (residents - res_cov).astype(np.int64)
        df["residents_pct"] = np.round(res_pct, 2)
        df["area_m2"] = np.round(area, 1)
        df["area_covered_m2"] = np.round(area_cov, 1)
        df["area_pct"] = np.round(_per_hundred(area_cov, area), 2)
        df["dist_mean_m"] = np.round(stats["mean"], 1)
        df["dist_median_m"] = np.round(stats["median"], 1)
        df["dist_p90_m"] = np.round(stats["p90"], 1)
        df["dist_max_m"] = np.round(stats["max"], 1)
        df["residents_unreachable"] = unreach.astype(np.int64)
        df["facilities"] = n_fac.astype(np.int64)
        if cap_cats:
            c_sel = f_sel & city.fac_mask(cap_cats)
            cap = np.bincount(f_grp[c_sel], weights=city.fac_cap[c_sel].astype(float), minlength=n)
            df["capacity"] = cap.astype(np.int64)
            df["spaces_per_100_households"] = np.round(_per_hundred(cap, households), 2)
        relevant = residents > 0
        if params.requirements:
            lacking = []
            for cat, r in params.requirements:
                k_cov = np.bincount(ag, weights=res * (rc.kinds[cat][0][a_ok] <= r), minlength=n)
                k_pct = _per_hundred(k_cov, residents)
                df[f"pct_{cat}"] = np.round(k_pct, 2)
                lacking.append(_below(k_pct, params, relevant))
            lack = np.column_stack(lacking)
            df["below_target"] = lack.any(axis=1)
            kinds = [c for c, _ in params.requirements]
            df["missing"] = [",".join(k for k, miss in zip(kinds, row, strict=True) if miss) for row in lack]
        else:
            below = _below(res_pct, params, relevant)
            df["below_target"] = below
            df["missing"] = np.where(below, ",".join(params.categories), "")
        tables[level] = df
    return tables


def _group_of(grid_rows: np.ndarray, grid_group: np.ndarray) -> np.ndarray:
    """The group of each point from the grid row it lies in (-1 stays -1: in no grid)."""
    return np.where(grid_rows >= 0, grid_group[np.maximum(grid_rows, 0)], -1)


def _per_hundred(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``100 * part / whole``, NaN where ``whole`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, 100.0 * part / np.where(whole > 0, whole, 1), np.nan)


def _below(pct: np.ndarray, params: CoverageParams, relevant: np.ndarray) -> np.ndarray:
    if params.target_pct is None:
        return np.zeros(len(pct), dtype=bool)
    t = params.target_pct
    with np.errstate(invalid="ignore"):
        below = pct <= t + _EPS_PCT if params.strict else pct < t - _EPS_PCT
    return below & relevant & ~np.isnan(pct)


def _level_ids(city: City, level: str) -> pd.DataFrame:
    """The identifying columns of a level's table: codes, names and the units above."""
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
    profile = CityProfile.from_metadata(meta)  # metadata["city"] is the stored city's profile (a dict)
    name = profile.name or (meta.get("name") if isinstance(meta.get("name"), str) else "") or "全市"
    return pd.DataFrame({"code": [str(meta.get("city_code", "city"))], "name": [name], "grids": [city.n_grids]})


# -- geometries -------------------------------------------------------------------------------


def level_geometries(ds: Dataset, level: str) -> np.ndarray:
    """Polygons of every unit of a level, in WGS84, aligned with the level's table rows.

    Parameters
    ----------
    ds : Dataset
        The data version.
    level : str
        One of :data:`~app.geo._coverage_params.LEVELS`.

    Returns
    -------
    ndarray of shapely geometry
        One polygon per row (committees and divisions missing from their layer are the
        union of their grids).
    """
    city = prepared_city(ds)

    def build() -> np.ndarray:
        grids = np.asarray(ds.layer("grids").geometry.values, dtype=object)
        if level == "grid":
            return grids
        if level == "city":
            return np.array([shapely.union_all(shapely.make_valid(grids), grid_size=1e-7)], dtype=object)
        units, grid_group, layer = ((city.committees, city.grid_com, "committees") if level == "committee"
                                    else (city.divisions, city.grid_div, "divisions"))
        out = np.empty(len(units), dtype=object)
        lay = city.optional_layer(layer)
        if lay is not None:
            by_code = dict(zip(lay["code"].astype(str), lay.geometry.values, strict=False))
            for i, code in enumerate(units["code"]):
                out[i] = by_code.get(code)
        for i in range(len(units)):
            if out[i] is None:
                out[i] = shapely.union_all(grids[grid_group == i])
        return out

    return city.memoised(("geometries", level), build)


def _map_geometries(city: City, level: str, simplify_m: float) -> list[dict[str, Any]]:
    """The level's polygons simplified by about ``simplify_m`` metres, as GeoJSON geometries in WGS84."""

    def build() -> list[dict[str, Any]]:
        geoms = gpd.GeoSeries(level_geometries(city.ds, level), crs=STORAGE_CRS).to_crs(city.crs)
        simple = geoms.simplify(simplify_m, preserve_topology=True).to_crs(STORAGE_CRS)
        return [_mapping(g) for g in simple.values]

    return city.memoised(("map_geometries", level, simplify_m), build)


def _reproject(geom: shapely.Geometry, src: str, dst: str) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]


def _mapping(geom: shapely.Geometry) -> dict[str, Any]:
    """A WGS84 geometry as GeoJSON, snapped to 1e-6 degrees (about 10 cm)."""
    return shapely.geometry.mapping(shapely.set_precision(geom, 1e-6))
