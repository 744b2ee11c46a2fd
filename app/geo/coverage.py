"""Facility coverage: the residents and area within reach of chosen facilities, by grid, committee, division and city.

The work is split along its seams: :mod:`app.geo._coverage_params` (presets and validation),
:mod:`app.geo._coverage_sources` (the data as arrays), :mod:`app.geo._coverage_distances`
(straight-line and walking reach) and :mod:`app.geo._coverage_results` (tables and maps).
This module is the public face: :func:`analyse` and the names callers use.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd

from app.geo._coverage_distances import reach
from app.geo._coverage_params import (
    KIND_TARGET_PCT,
    LEVELS,
    MAX_RADIUS_M,
    MODES,
    PRESETS,
    STANDARDS,
    UNSET,
    CoverageError,
    CoverageParams,
    Preset,
    Requirement,
    Standard,
    check_level,
    make_params,
)
from app.geo._coverage_results import (
    CoverageResult,
    level_tables,
    missing_list,
    missing_names,
    records_of,
    weighted_stats,
)
from app.geo._coverage_sources import as_dataset, prepared_city
from app.geo.dataset import Dataset

__all__ = [
    "KIND_TARGET_PCT", "LEVELS", "MAX_RADIUS_M", "MODES", "PRESETS", "RESULT_CACHE_SIZE", "STANDARDS",
    "CoverageError", "CoverageParams", "CoverageResult", "Preset", "Requirement", "Standard",
    "analyse", "analyse_params", "as_dataset", "make_params", "missing_list", "missing_names", "records_of",
    "weighted_stats",
]

#: Results kept per data version (the web page's repeated queries are answered from here).
RESULT_CACHE_SIZE = 64

_RESULTS_LOCK = threading.RLock()


def analyse(
    source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path,
    categories: str | Iterable[str] | None = None,
    radius_m: float | None = None,
    mode: str = "straight",
    level: str = "grid",
    target_pct: float | None = UNSET,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    requirements: str | Mapping[str, float] | Iterable[Any] | None = None,
    preset: str | None = None,
) -> CoverageResult:
    """Answer a coverage question: who and what area lies within reach of the facilities.

    Two rules. Pooled (``categories`` and ``radius_m``): the facilities of the categories
    count together ("any of"). Per kind (``preset`` or ``requirements``, e.g. a living circle
    of GB 50180-2018): every required kind must be within its own distance ("all of"); a unit
    lacks a kind when fewer than the target share of its residents reach it, and is
    underserved (``below_target``) when it lacks any kind.

    Metrics (every level; shares in percent):

    - ``residents_pct``: residents (address gazetteer ``residents``) within reach: whose
      nearest facility of ``categories`` is within ``radius_m`` (pooled), or who have every
      required kind within its distance (per kind);
    - ``pct_<kind>`` (per kind only): residents within the distance of that kind;
    - ``missing``: the category keys the unit lacks, comma-separated in the tables and a list
      in :func:`records_of` (pooled: all categories when the unit is below the target);
    - ``area_pct``: area within reach. Straight mode: exact area of the grid within
      reach (disks as 128-gons of the circle's area; per kind, the intersection of the kinds'
      areas). Walk mode: the share of the grid's lattice sample points
      (:func:`app.geo._coverage_sources.area_samples`) within reach, times the grid's area;
    - ``dist_mean_m``, ``dist_median_m``, ``dist_p90_m``, ``dist_max_m``: distance from
      residents to the nearest facility (per kind: to the farthest of the nearest required
      kinds), weighted by residents (walk mode: unreachable residents are left out and
      counted in ``residents_unreachable``);
    - ``facilities``: facilities of ``categories`` in the unit; with a capacity category
      (parking) also ``capacity`` and ``spaces_per_100_households``;
    - ``below_target``: residents share below the target (per kind: any kind missing).

    Walk mode snaps addresses, facilities and sample points to the road network with the
    rule in :class:`app.geo.network.WalkNetwork`. Results are cached per data version and
    parameters, so a repeated question is answered without recomputation.

    Parameters
    ----------
    source : Dataset, dict of GeoDataFrame, or path
        The data (see :func:`as_dataset`).
    categories : str or iterable of str, optional
        Facility categories; their facilities are pooled.
    radius_m : float, optional
        Distance in metres (with ``categories``).
    mode : str
        ``straight`` (Euclidean in the data's metric CRS, :attr:`Dataset.metric_crs`) or ``walk`` (road network).
    level : str
        Default level of :meth:`CoverageResult.table`; all levels are computed.
    target_pct : float or None, optional
        Target residents share in percent (per kind: for each kind); omitted: the preset's
        (:func:`app.geo._coverage_params.make_params`).
    strict : bool, optional
        Whether the share must exceed the target; default from the preset.
    progress : callable, optional
        Called with short progress messages.
    requirements : str, mapping or iterable, optional
        Required kinds with their own distances, e.g. ``{"library": 1000, "tcm_clinic": 800}``.
    preset : str, optional
        A key of :data:`PRESETS`; its requirements unless ``requirements`` is given.

    Returns
    -------
    CoverageResult
        Tables per level, the underserved grids and the service area.

    Raises
    ------
    CoverageError
        When a parameter is out of range or the data lacks a layer the question needs.
    """
    check_level(level)
    params = make_params(categories, radius_m, mode, target_pct, strict, requirements=requirements, preset=preset)
    return analyse_params(source, params, level, progress)


def analyse_params(
    source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path,
    params: CoverageParams,
    level: str = "grid",
    progress: Callable[[str], None] | None = None,
) -> CoverageResult:
    """Answer a validated coverage question (:func:`make_params`); see :func:`analyse`."""
    check_level(level)
    ds = as_dataset(source)
    with _RESULTS_LOCK:
        results: OrderedDict = ds.cache.setdefault("coverage.results", OrderedDict())
        hit = results.get(params)
        if hit is not None:
            results.move_to_end(params)
    if hit is not None:
        # the same answer (tables and memo shared) with this call's default level
        return dataclasses.replace(hit, level=level)
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    city = prepared_city(ds, say)
    rc = reach(city, params, say)
    say("aggregating by grid, committee, division and city")
    tables = level_tables(city, params, rc)
    result = CoverageResult(params, city.version, datetime.now(UTC).isoformat(timespec="seconds"), tables,
                            level, time.perf_counter() - t0, city)
    with _RESULTS_LOCK:
        results[params] = result
        while len(results) > RESULT_CACHE_SIZE:
            results.popitem(last=False)
    return result
