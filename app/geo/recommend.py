"""Site recommendation: where new facilities would cover the most residents not yet within reach (MCLP, LSCP, p-median)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from app.geo._coverage_params import MAX_RADIUS_M, MODES, PRESETS
from app.geo._coverage_results import records_of, weighted_stats
from app.geo._coverage_sources import City, as_dataset, prepared_city
from app.geo._recommend_candidates import (
    RecommendError,
    address_candidates,
    demand_points,
    file_candidates,
    pairs_within,
    road_candidates,
)
from app.geo._recommend_solve import OBJECTIVES, Solution, solve_lscp, solve_mclp, solve_pmedian
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES, STORAGE_CRS

__all__ = ["CANDIDATE_SOURCES", "MAX_ADD", "OBJECTIVES", "KindRun", "RecommendError", "RecommendParams",
           "RecommendResult", "make_params", "recommend"]

#: Where candidate sites come from (a file is given separately).
CANDIDATE_SOURCES = ("roads", "addresses", "file")
#: Most sites one recommendation adds per kind.
MAX_ADD = 200
#: Spacing of road candidates: default and limits, in metres.
DEFAULT_SPACING_M = 100.0
MIN_SPACING_M = 10.0


@dataclass(frozen=True)
class RecommendParams:
    """The parameters of one recommendation (validated; build with :func:`make_params`).

    ``requirements`` holds ``(category, distance)`` per kind: one pair for a single category,
    each required kind of a preset (e.g. ``circle_15min``) otherwise.
    """

    requirements: tuple[tuple[str, float], ...]
    add: int
    mode: str = "straight"
    objective: str = "mclp"
    candidates: str = "roads"
    spacing_m: float = DEFAULT_SPACING_M
    time_limit_s: float = 30.0
    preset: str | None = None
    candidate_file: str | None = None
    crs: str = "EPSG:4326"

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON-able data."""
        d = asdict(self)
        d["requirements"] = [{"category": c, "distance_m": r} for c, r in self.requirements]
        return d

    def label(self, lang: str = "zh") -> str:
        """A short human label, e.g. ``公交站 500 m 新增 5 处（最大覆盖）``."""
        en = lang == "en"
        obj = {"mclp": ("最大覆盖", "max coverage"), "lscp": ("最少站点全覆盖", "fewest sites to cover all"),
               "pmedian": ("最短平均距离", "shortest mean distance")}[self.objective][en]
        if self.preset:
            head = PRESETS[self.preset].en if en else PRESETS[self.preset].zh
        else:
            c, r = self.requirements[0]
            head = f"{CATEGORIES[c].en if en else CATEGORIES[c].zh} {r:g} m"
        if self.objective == "lscp":
            return f"{head} ({obj})" if en else f"{head}（{obj}）"
        return f"{head}, add {self.add} ({obj})" if en else f"{head} 新增 {self.add} 处（{obj}）"


def make_params(category: str | None = None, radius_m: float | str | None = None, add: int | str | None = 5,
                mode: str = "straight", objective: str = "mclp", candidates: str = "roads",
                spacing_m: float | str = DEFAULT_SPACING_M, time_limit_s: float | None = None,
                preset: str | None = None, candidate_file: str | None = None, crs: str = "EPSG:4326") -> RecommendParams:
    """Validate a recommendation question.

    Parameters
    ----------
    category : str, optional
        A key of :data:`app.geo.schema.CATEGORIES` (with ``radius_m``); or give ``preset``.
    radius_m : float, optional
        Service radius in metres, 0 < radius <= :data:`MAX_RADIUS_M`; with a preset it overrides every kind's distance.
    add : int
        Sites to add per kind, 1..:data:`MAX_ADD` (not used by ``lscp``).
    mode : str
        ``straight`` or ``walk``.
    objective : str
        ``mclp`` (most residents newly covered), ``lscp`` (fewest sites that cover everyone reachable)
        or ``pmedian`` (shortest mean distance to the nearest facility).
    candidates : str
        ``roads`` (every ``spacing_m`` along the roads), ``addresses`` or ``file``.
    spacing_m : float
        Spacing of road candidates, metres.
    time_limit_s : float, optional
        The solver's time limit; default the ``OPTIMISE_TIME_LIMIT`` setting.
    preset : str, optional
        A coverage preset (e.g. ``circle_15min``): one recommendation per required kind.
    candidate_file : str, optional
        Name of the candidates file (with ``candidates="file"``).
    crs : str
        CRS of the candidate file's coordinates.

    Raises
    ------
    RecommendError
        When a value is missing or out of range.
    """
    for name, value in (("category", category), ("preset", preset), ("mode", mode), ("objective", objective),
                        ("candidates", candidates), ("crs", crs), ("candidate file", candidate_file)):
        if value is not None and not isinstance(value, str):
            raise RecommendError(f"{name} must be text, got {value!r}"[:200])
    if mode not in MODES:
        raise RecommendError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if objective not in OBJECTIVES:
        raise RecommendError(f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    if candidates not in CANDIDATE_SOURCES:
        raise RecommendError(f"unknown candidates {candidates!r}; expected roads, addresses or a file")
    radius = None if radius_m is None or radius_m == "" else _number(radius_m, "radius")
    if radius is not None and not 0 < radius <= MAX_RADIUS_M:
        raise RecommendError(f"radius must be more than 0 and at most {MAX_RADIUS_M:g} m, got {radius:g}")
    if preset:
        if preset not in PRESETS:
            raise RecommendError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        reqs = tuple(sorted((r.category, radius or r.distance_m) for r in PRESETS[preset].requirements))
    else:
        if not category:
            raise RecommendError("give a facility category (with a radius) or a preset")
        if category not in CATEGORIES:
            raise RecommendError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
        if radius is None:
            raise RecommendError("give a radius in metres")
        reqs = ((category, radius),)
    n_add = 1 if objective == "lscp" and add in (None, "") else _number(add, "add")
    if not float(n_add).is_integer() or not 1 <= n_add <= MAX_ADD:
        raise RecommendError(f"add must be a whole number from 1 to {MAX_ADD}, got {n_add:g}")
    spacing = _number(spacing_m, "spacing")
    if not MIN_SPACING_M <= spacing <= MAX_RADIUS_M:
        raise RecommendError(f"spacing must be from {MIN_SPACING_M:g} to {MAX_RADIUS_M:g} m, got {spacing:g}")
    if time_limit_s is None:
        from app.settings import resolve

        time_limit_s = resolve().OPTIMISE_TIME_LIMIT
    limit = _number(time_limit_s, "time limit")
    if limit <= 0:
        raise RecommendError(f"the time limit must be more than 0 s, got {limit:g}")
    if candidates == "file" and not candidate_file:
        raise RecommendError("candidates from a file need the file")
    return RecommendParams(reqs, int(n_add), mode, objective, candidates, spacing, limit, preset or None,
                           candidate_file, crs)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise RecommendError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecommendError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RecommendError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass
class KindRun:
    """The recommendation for one facility kind.

    Attributes
    ----------
    category, radius_m : str, float
        The kind and its service radius.
    sites : DataFrame
        The chosen sites: ``rank``, ``name``, ``lon``, ``lat``, ``x``, ``y`` (metric CRS),
        ``grid_code``, ``grid_name``, ``committee_name`` and ``residents_new`` (residents newly
        within reach, each counted once, at the nearest new site).
    tables : dict of str to DataFrame
        ``grid`` and ``committee``: residents within reach before and after, and mean distances.
    summary : dict
        City figures before and after, the solver's status and gap, and the model size.
    newly : DataFrame
        Demand points newly within reach: ``lon``, ``lat``, ``residents``, ``site`` (rank).
    """

    category: str
    radius_m: float
    sites: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    newly: pd.DataFrame


@dataclass
class RecommendResult:
    """The answer to one recommendation: one :class:`KindRun` per kind, and what was asked."""

    params: RecommendParams
    data_version: str
    computed_at: str
    runs: list[KindRun]
    metric_crs: str
    candidates_count: int
    elapsed_s: float = 0.0
    _city: City | None = field(default=None, repr=False)

    @property
    def sites(self) -> pd.DataFrame:
        """Every chosen site, with its ``category``."""
        frames = [r.sites.assign(category=r.category) for r in self.runs]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def table(self, level: str = "grid") -> pd.DataFrame:
        """The before/after table of ``grid`` or ``committee`` (all kinds, with a ``category`` column)."""
        frames = [r.tables[level].assign(category=r.category) for r in self.runs]
        df = pd.concat(frames, ignore_index=True)
        return df[["category", *[c for c in df.columns if c != "category"]]]

    def kinds(self) -> list[dict[str, Any]]:
        """Per kind: the city's share within reach before and after, units lacking it, sites and status."""
        return [{"category": r.category, "zh": CATEGORIES[r.category].zh, "en": CATEGORIES[r.category].en,
                 "radius_m": r.radius_m, **r.summary} for r in self.runs]

    def parameters(self) -> dict[str, Any]:
        """Parameters, data version, metric CRS and time."""
        return {**self.params.to_dict(), "data_version": self.data_version, "metric_crs": self.metric_crs,
                "computed_at": self.computed_at, "candidates_count": self.candidates_count,
                "label_zh": self.params.label("zh"), "label_en": self.params.label("en")}

    def geojson(self, with_newly: bool = True) -> dict[str, Any]:
        """The chosen sites (and the demand points they newly reach) as a GeoJSON FeatureCollection in WGS84."""
        feats = []
        for run in self.runs:
            for row in records_of(run.sites.drop(columns=["x", "y"])):
                feats.append({"type": "Feature", "properties": {"kind": "site", "category": run.category, **row},
                              "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]}})
            if with_newly:
                for row in records_of(run.newly):
                    feats.append({"type": "Feature",
                                  "properties": {"kind": "newly_covered", "category": run.category, **row},
                                  "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]}})
        return {"type": "FeatureCollection", "features": feats,
                "parameters": self.parameters(), "kinds": self.kinds()}

    def to_json(self, level: str = "committee") -> dict[str, Any]:
        """Everything the page and the API show."""
        return {"parameters": self.parameters(), "kinds": self.kinds(),
                "sites": records_of(self.sites.drop(columns=["x", "y"])) if len(self.sites) else [],
                "rows": records_of(self.table(level)), "level": level, "geojson": self.geojson(),
                "elapsed_s": round(self.elapsed_s, 3)}


def recommend(source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path, params: RecommendParams,
              candidate_source: str | Path | bytes | IO[bytes] | None = None,
              progress: Callable[[str], None] | None = None) -> RecommendResult:
    """Recommend new sites for a facility kind (or each kind of a preset).

    Demand is the residents at address points (coincident points merged). The existing
    facilities stay: MCLP counts only residents not yet within reach, and chooses ``add`` sites
    that newly cover the most; LSCP the fewest sites that cover every uncovered resident some
    candidate reaches; p-median the ``add`` sites that cut the residents' mean distance to their
    nearest facility most (a new site serves residents within the radius). Candidates that reach
    no uncovered resident are dropped before solving. HiGHS solves the spopt model within the
    time limit; at the limit the answer is the best found and the gap is reported.

    Parameters
    ----------
    source : Dataset, dict of GeoDataFrame, or path
        The data (see :func:`app.geo.coverage.as_dataset`).
    params : RecommendParams
        The question (:func:`make_params`).
    candidate_source : path, bytes or binary file, optional
        The candidates file, with ``params.candidates == "file"``.
    progress : callable, optional
        Called with short progress messages.

    Returns
    -------
    RecommendResult
        The sites and the before/after tables per kind.

    Raises
    ------
    RecommendError
        For an empty candidate set, more sites than candidates, or data without what is needed.
    """
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    ds = as_dataset(source)
    city = prepared_city(ds, say)
    say("candidate sites")
    if params.candidates == "roads":
        cand_xy, names = road_candidates(city, params.spacing_m), None
    elif params.candidates == "addresses":
        cand_xy, names = address_candidates(city), None
    else:
        if candidate_source is None:
            raise RecommendError("candidates from a file need the file")
        cand_xy, names = file_candidates(city, candidate_source, params.candidate_file, params.crs)
    if len(cand_xy) == 0:
        raise RecommendError("there are no candidate sites")
    if params.objective != "lscp" and params.add > len(cand_xy):
        raise RecommendError(f"add must be at most the number of candidate sites ({len(cand_xy)}), got {params.add}")
    from app.geo._recommend_tables import kind_run

    runs = [kind_run(city, params, cat, radius, cand_xy, names, say) for cat, radius in params.requirements]
    return RecommendResult(params, city.version, datetime.now(UTC).isoformat(timespec="seconds"), runs, city.crs,
                           len(cand_xy), time.perf_counter() - t0, city)


def solve_kind(city: City, params: RecommendParams, cat: str, radius: float, cand_xy: np.ndarray,
               say: Callable[[str], None]) -> tuple[Any, Solution, np.ndarray, np.ndarray, np.ndarray]:
    """Demand, pairs and the solver's answer for one kind (see :func:`recommend`)."""
    say(f"demand and existing {cat} ({params.mode})")
    dem = demand_points(city, (cat,), params.mode)
    todo = np.ones(len(dem.xy), dtype=bool) if params.objective == "pmedian" else dem.d_exist > radius
    sub = np.flatnonzero(todo)
    say(f"pairs within {radius:g} m: {len(sub)} demand points × {len(cand_xy)} candidates")
    di, ci, dist = pairs_within(city, dem.xy[sub], cand_xy, radius, params.mode)
    di = sub[di]
    say(f"solving {params.objective} with HiGHS (time limit {params.time_limit_s:g} s)")
    if params.objective == "mclp":
        sol = solve_mclp(dem.weight, di, ci, len(cand_xy), params.add, params.time_limit_s)
    elif params.objective == "lscp":
        sol = solve_lscp(dem.weight, di, ci, len(cand_xy), params.time_limit_s)
    else:
        sol = solve_pmedian(dem.weight, dem.d_exist, di, ci, dist, len(cand_xy), params.add, params.time_limit_s,
                            far_m=2 * MAX_RADIUS_M)
    return dem, sol, di, ci, dist


def dist_stats(group: np.ndarray, value: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """Residents-weighted mean distance per group (see :func:`app.geo.coverage.weighted_stats`)."""
    return weighted_stats(group, value, weight, n)["mean"]


def storage_xy(xy: np.ndarray, crs: str) -> np.ndarray:
    """Metric points as WGS84 lon/lat."""
    if len(xy) == 0:
        return np.empty((0, 2))
    s = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs).to_crs(STORAGE_CRS)
    return np.column_stack([s.x.to_numpy(), s.y.to_numpy()])
