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

import geopandas as gpd

from app.geo._coverage_distances import reach
from app.geo._coverage_params import (
    LEVELS,
    MAX_RADIUS_M,
    MODES,
    PRESETS,
    UNSET,
    CoverageError,
    check_level,
    make_params,
)
from app.geo._coverage_results import CoverageResult, level_tables, records_of, weighted_stats
from app.geo._coverage_sources import as_dataset, prepared_city
from app.geo.dataset import Dataset

__all__ = [
    "LEVELS", "MAX_RADIUS_M", "MODES", "PRESETS", "RESULT_CACHE_SIZE",
    "CoverageError", "CoverageResult", "analyse", "as_dataset", "records_of", "weighted_stats",
]

#: Results kept per data version (the web page's repeated queries are answered from here).
RESULT_CACHE_SIZE = 64

_RESULTS_LOCK = threading.RLock()


def analyse(
    source: Dataset | Mapping[str, gpd.GeoDataFrame] | str | Path,
    categories: str | Iterable[str],
    radius_m: float,
    mode: str = "straight",
    level: str = "grid",
    target_pct: float | None = UNSET,
    strict: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> CoverageResult:
    """Answer a coverage question: who and what area lies within ``radius_m`` of the facilities.

    Metrics (every level; shares in percent):

    - ``residents_pct``: residents (address gazetteer ``residents``) whose nearest
      facility of ``categories`` is within ``radius_m``;
    - ``area_pct``: area within reach. Straight mode: exact area of the grid within
      ``radius_m`` of a facility (disks as 128-gons of the circle's area). Walk mode: the
      share of the grid's lattice sample points (:func:`app.geo._coverage_sources.area_samples`)
      whose walking distance is within ``radius_m``, times the grid's area;
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
        Target residents share in percent; omitted: the preset's
        (:func:`app.geo._coverage_params.default_target`).
    strict : bool, optional
        Whether the share must exceed the target; default from the preset.
    progress : callable, optional
        Called with short progress messages.

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
    params = make_params(categories, radius_m, mode, target_pct, strict)
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
    dist, covered = reach(city, params, say)
    say("aggregating by grid, committee, division and city")
    tables = level_tables(city, params, dist, covered)
    result = CoverageResult(params, city.version, datetime.now(UTC).isoformat(timespec="seconds"), tables,
                            level, time.perf_counter() - t0, city)
    with _RESULTS_LOCK:
        results[params] = result
        while len(results) > RESULT_CACHE_SIZE:
            results.popitem(last=False)
    return result
