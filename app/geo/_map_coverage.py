"""A coverage result for a tiled map: the units' values as one compact table, joined to the vector tiles by code."""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

import numpy as np
import shapely

from app.geo.coverage import CoverageResult, records_of
from app.geo.dataset import Dataset

#: The vector-tile layer (app.geo.tiles.TILE_LAYERS) that draws each coverage level's units.
UNIT_LAYERS: dict[str, str] = {"grid": "grids", "committee": "committees", "division": "divisions"}
#: Per-unit values the map styles and its popups show (those of the result's table that exist).
UNIT_FIELDS: tuple[str, ...] = ("code", "name", "committee_name", "residents", "residents_uncovered", "residents_pct",
                                "area_pct", "dist_mean_m", "dist_p90_m", "facilities", "spaces_per_100_households",
                                "below_target", "missing")
#: Columns of the underserved list (as in the GeoJSON answer), each row with its unit's ``bbox``.
UNDERSERVED_FIELDS: tuple[str, ...] = ("code", "name", "committee_name", "division_name", "residents",
                                       "residents_uncovered", "residents_pct", "area_pct", "dist_mean_m",
                                       "dist_p90_m", "missing")

#: Answers by ``id(result)``, each dropped when its result is (results are unhashable dataclasses).
_memo: dict[int, dict[tuple[str, int], str]] = {}
_memo_lock = threading.Lock()


def coverage_map_table(ds: Dataset, result: CoverageResult, level: str, limit: int = 1000) -> str:
    """Everything the coverage page draws for a tiled city, as JSON text (cached per result).

    The same object as :meth:`CoverageResult.map_json` except ``units``: instead of a GeoJSON
    FeatureCollection it is ``{"layer": <tile layer>, "fields": [...], "rows": [[...], ...]}``,
    one row of :data:`UNIT_FIELDS` values per unit, which the browser joins by ``code`` to the
    features of the layer's vector tiles (cacheable per data version, whatever the question).
    For the grid level ``overview`` holds the committees' values the same way (drawn below the zoom
    the grid tiles start at), else it is None. Each ``underserved`` row carries its grid's ``bbox`` (``[west, south, east, north]``, WGS84),
    so the list can zoom to a grid before its tiles are loaded; ``tiled`` is true.

    Parameters
    ----------
    ds : Dataset
        The data version the result was computed on.
    result : CoverageResult
        The analysis.
    level : str
        ``grid``, ``committee`` or ``division``.
    limit : int
        Most underserved grids listed.

    Returns
    -------
    str
        The JSON text.
    """
    key = (level, limit)
    with _memo_lock:
        hit = _memo.get(id(result), {}).get(key)
    if hit is not None:
        return hit
    units = _units(result, level)
    overview = _units(result, "committee") if level == "grid" and "committee" in result.tables else None
    under = result.underserved()
    cols = [c for c in (*UNDERSERVED_FIELDS, *result.kind_columns) if c in under.columns]
    listed = records_of(under[cols].head(limit))
    _add_bbox(ds, listed)
    body = {"parameters": result.parameters(), "summary": result.summary(), "kinds": result.kinds(),
            "level": level, "tiled": True,
            "units": units, "overview": overview,
            "service_area": result.service_area_geojson(), "underserved": listed, "underserved_count": len(under)}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    with _memo_lock:
        if id(result) not in _memo:
            weakref.finalize(result, _memo.pop, id(result), None)
        _memo.setdefault(id(result), {})[key] = text
    return text


def _units(result: CoverageResult, level: str) -> dict[str, Any]:
    """One level's values: its tile layer, the fields and one row per unit."""
    table = result.table(level)
    fields = [c for c in (*UNIT_FIELDS, *result.kind_columns) if c in table.columns]
    return {"layer": UNIT_LAYERS.get(level, "grids"), "fields": fields,
            "rows": [[r.get(f) for f in fields] for r in records_of(table[fields])]}


def _add_bbox(ds: Dataset, rows: list[dict[str, Any]]) -> None:
    """Give each listed grid its ``bbox`` (WGS84, 6 decimals; None for a code the grids lack)."""
    idx = [ds.grid_row(str(r.get("code"))) for r in rows]
    found = [i for i in idx if i is not None]
    bounds = shapely.bounds(np.asarray(ds.grids.geometry.values, dtype=object)[found]) if found else np.empty((0, 4))
    it = iter(bounds.tolist())
    for r, i in zip(rows, idx, strict=True):
        r["bbox"] = [round(v, 6) for v in next(it)] if i is not None else None
