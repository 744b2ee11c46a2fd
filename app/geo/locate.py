"""Which grid a coordinate or an address falls in: single lookups and whole tables."""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from app.errors import GridmapError
from app.geo import _locate_reverse as _reverse
from app.geo import _locate_rows as _rows
from app.geo import crs as crsmod
from app.geo._shared_text import shared_list
from app.geo.dataset import Dataset
from app.geo.memory_store import OverlayStore
from app.geo.schema import PERSONAL_FIELDS, STORAGE_CRS

#: Row statuses in batch results.
STATUSES = ("ok", "ambiguous", "outside", "not_found", "invalid")


class LocateError(GridmapError, ValueError):
    """A lookup request that cannot be answered, with a message that names the problem."""

    default_key = "locate"


@dataclass(frozen=True)
class _Lookup:
    """Names of committees and divisions by code, built once per data version."""

    committees: dict[str, str]
    divisions: dict[str, str]


def _lookup(ds: Dataset) -> _Lookup:
    def build() -> _Lookup:
        com = ds.layer("committees")
        div = ds.layer("divisions")
        return _Lookup(dict(zip(com["code"], com["name"], strict=True)), dict(zip(div["code"], div["name"], strict=True)))

    return ds.cached("locate.lookup", build)


@lru_cache(maxsize=64)
def _is_geographic(spec: crsmod.CrsSpec) -> bool:
    """Whether coordinates in ``spec`` are degrees of lon/lat (so ±180/±90 applies)."""
    return spec.kind != "epsg" or pyproj.CRS.from_epsg(spec.epsg).is_geographic


def _parse_number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise LocateError(f"{name} must be a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip() if value is not None else ""
        if not text:
            raise LocateError(f"{name} is missing")
        try:
            number = float(text)
        except ValueError:
            raise LocateError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(number):
        raise LocateError(f"{name} must be a finite number, got {value!r}")
    return number


def to_lonlat(x: Any, y: Any, crs: str | int | None = None) -> tuple[float, float]:
    """Turn one coordinate pair in any supported CRS into WGS84 lon/lat, checking it.

    Parameters
    ----------
    x, y : number or str
        Easting/longitude and northing/latitude in ``crs``.
    crs : str or int, optional
        Anything :func:`app.geo.crs.parse_crs` accepts (EPSG code, ``gcj02``, ``bd09`` ...);
        WGS84 by default.

    Returns
    -------
    tuple of float
        ``(lon, lat)`` in WGS84.

    Raises
    ------
    LocateError
        For non-numeric or out-of-range coordinates or an unknown CRS.
    """
    spec = parse_crs(crs)
    xv, yv = _parse_number(x, "lon" if _is_geographic(spec) else "x"), _parse_number(y, "lat" if _is_geographic(spec) else "y")
    if _is_geographic(spec) and not (-180 <= xv <= 180 and -90 <= yv <= 90):
        raise LocateError(f"coordinates out of range: lon must be within ±180 and lat within ±90, got {xv}, {yv}")
    lon, lat = crsmod.to_wgs84(xv, yv, spec)
    lon_f, lat_f = float(lon), float(lat)
    if not (math.isfinite(lon_f) and math.isfinite(lat_f) and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise LocateError(f"coordinates {xv}, {yv} are outside the valid area of {spec.label}")
    return lon_f, lat_f


def parse_crs(crs: str | int | None) -> crsmod.CrsSpec:
    """Parse a CRS name or code, raising :class:`LocateError` (the lookups' one error type) for a bad one.

    Parameters
    ----------
    crs : str, int or None
        The CRS; None or empty means WGS84.

    Returns
    -------
    CrsSpec
        The parsed CRS.
    """
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        crs = "EPSG:4326"
    try:
        return crsmod.parse_crs(crs)
    except crsmod.CRSError as exc:
        raise LocateError(exc.message) from None


def grid_info(ds: Dataset, index: int | None, personal: bool = False) -> dict[str, Any]:
    """Describe one grid for a lookup answer: code, name, committee, division and staff.

    Parameters
    ----------
    ds : Dataset
        The data version.
    index : int or None
        Row of the grid in ``ds.grids``; None gives an object whose ``code`` is null.
    personal : bool
        Include staff names and phones (signed-in staff only).

    Returns
    -------
    dict
        JSON-ready description.
    """
    if index is None or index < 0:
        return {"code": None, "name": None, "committee": None, "division": None}
    g = _grid_answers(ds)
    i = int(index)
    com, div = g.coms[i], g.divs[i]
    info: dict[str, Any] = {  # a fresh dict each call: callers may add to it
        "code": g.codes[i], "name": g.names[i],
        "committee": {"code": com, "name": g.committee_names.get(com)} if com else None,
        "division": {"code": div, "name": g.division_names.get(div)} if div else None,
    }
    for field, values in g.counts:
        value = values[i]
        if value != _MISSING:
            info[field] = value
    if personal and g.has_staff:
        staff = {}
        for role, names, phones in _grid_staff(ds):
            staff[role] = {"name": names[i], "phone": phones[i]}
        info["staff"] = staff
    return info


def _plain(value: Any) -> Any:
    """A cell of a grid row as a JSON-ready value: None for a missing one (None, NaN, NA)."""
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # not a scalar
        return value


@dataclass(frozen=True)
class _GridAnswers:
    """The fields of every grid's answer as columns, by row of ``ds.grids`` (no dict per grid)."""

    codes: list[Any]
    names: list[Any]
    coms: list[Any]
    divs: list[Any]
    committee_names: dict[Any, Any]
    division_names: dict[Any, Any]
    counts: tuple[tuple[str, array[int]], ...]  # (field, value by row; _MISSING for none), in answer order
    has_staff: bool  # the layer has staff columns (read by :func:`_grid_staff` on the first personal answer)


#: A count the grid's answer leaves out (the layer has none): counts are machine integers, not an int object per grid.
_MISSING = -(2**63)
#: The staff roles of a grid, in the order answers list them.
_ROLES = ("leader", "worker", "instructor")


def _grid_answers(ds: Dataset) -> _GridAnswers:
    """Every grid's answer fields (code, name, committee, division, counts, staff contacts), built once per data version.

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    _GridAnswers
        Columns by row of ``ds.grids``. The staff contacts (personal fields) are not among them: only
        signed-in staff see them, so :func:`_grid_staff` reads them on the first such answer.
    """
    def build() -> _GridAnswers:
        grids = ds.grids
        names = _lookup(ds)
        counts = tuple((f, array("q", (_MISSING if v is None else int(v) for v in _column(grids, f))))
                       for f in ("population", "households", "parttime_count") if f in grids.columns)
        return _GridAnswers(_column(grids, "code"), _column(grids, "name"), _column(grids, "committee_code"),
                            _column(grids, "division_code"), names.committees, names.divisions, counts,
                            "leader_name" in grids.columns)

    return ds.cached("locate.grid_answers", build)


def _column(grids: Any, name: str) -> list[Any]:
    """A column of the grid layer as JSON-ready values (None for a missing column or value)."""
    return shared_list(_plain(v) for v in grids[name].tolist()) if name in grids.columns else [None] * len(grids)


def _grid_staff(ds: Dataset) -> tuple[tuple[str, list[Any], list[Any]], ...]:
    """(role, names, phones) of every grid, by row of ``ds.grids``: read once per version, on the first personal answer."""
    def build() -> tuple[tuple[str, list[Any], list[Any]], ...]:
        grids = ds.grids
        return tuple((r, _column(grids, f"{r}_name"), _column(grids, f"{r}_phone")) for r in _ROLES)

    return ds.cached("locate.grid_staff", build)


def locate_point(ds: Dataset, x: Any, y: Any, crs: str | int | None = None, personal: bool = False) -> dict[str, Any]:
    """Find the grid a coordinate falls in.

    Parameters
    ----------
    ds : Dataset
        The data version.
    x, y : number or str
        Coordinate in ``crs`` (lon/lat order for geographic CRSs).
    crs : str or int, optional
        Input CRS, WGS84 by default; GCJ-02 and BD-09 are converted back to WGS84.
    personal : bool
        Include staff contacts.

    Returns
    -------
    dict
        ``status`` (ok or outside), ``grid`` (``grid.code`` is null outside), ``on_border``,
        ``nearest`` (outside only: nearest grid and distance in metres), ``nearest_address`` (the
        standard address nearest the point with ``distance_m``, null when none is within
        :data:`app.geo._locate_reverse.MAX_DISTANCE_M`), ``wgs84`` and ``data_version``.
    """
    spec = parse_crs(crs)
    lon, lat = to_lonlat(x, y, spec)
    hit = ds.grid_index.locate_one(lon, lat)
    inside = hit.index >= 0
    answer: dict[str, Any] = {
        "status": "ok" if inside else "outside",
        "query": {"x": x, "y": y, "crs": spec.label},
        "wgs84": {"lon": round(lon, 7), "lat": round(lat, 7)},
        "grid": grid_info(ds, hit.index if inside else None, personal),
        "on_border": bool(hit.on_border),
        "nearest": None,
        "data_version": ds.version,
    }
    if not inside and hit.nearest_index >= 0:
        near = grid_info(ds, hit.nearest_index, False)
        answer["nearest"] = {"code": near["code"], "name": near["name"], "distance_m": round(float(hit.distance_m), 1)}
    answer["nearest_address"] = _reverse.nearest_address(ds, lon, lat)
    return answer


def locate_address(ds: Dataset, text: Any, limit: int = 5, personal: bool = False) -> dict[str, Any]:
    """Find the grid of a Chinese address through the gazetteer, saying how it was matched.

    Parameters
    ----------
    ds : Dataset
        The data version.
    text : str
        Free-form address, e.g. ``甘肃省嘉峪关市新华路十二号2单元301室``.
    limit : int
        How many ranked candidates to return.
    personal : bool
        Include staff contacts.

    Returns
    -------
    dict
        ``status`` (ok, ambiguous or not_found), ``normalized`` text, ``matched_address`` (the
        standard address matched; null unless ok), ``match_kind`` (exact, normalised, fuzzy,
        ambiguous or not_found), ``score`` (0-100), ranked ``candidates`` (each with its grid's
        code and name) and ``grid`` of the match (``grid.code`` null unless ok: an ambiguous
        answer picks no grid). Text without address content (无, 不详, punctuation) is not_found
        with no candidates.

    Raises
    ------
    LocateError
        For an empty or over-long text.
    """
    if text is None or not str(text).strip():
        raise LocateError("address is empty")
    if len(str(text)) > 200:
        raise LocateError("address is longer than 200 characters")
    result = ds.address_matcher.match(str(text), limit=limit)
    matched, kind, score = _rows.explain(result)
    status = "not_found" if result.status == "invalid" else result.status
    cands = () if result.status == "invalid" else result.candidates
    best = cands[0] if status == "ok" and cands else None
    index = ds.grid_row(best.grid_code) if best is not None else None
    grid_names = ds.cached("locate.grid_names", lambda: np.array(shared_list(
        ds.grids["name" if "name" in ds.grids.columns else "code"].tolist()), dtype=object))

    def grid_name(code: str) -> str | None:
        row = ds.grid_row(code)
        return None if row is None else grid_names[row]

    return {
        "status": status,
        "query": {"address": str(text)},
        "normalized": result.normalized,
        "matched_address": matched if status == "ok" else None,
        "match_kind": kind if status != "not_found" else "not_found",
        "score": round(score, 1) if cands else 0.0,
        "candidates": [
            {"address": c.address, "score": round(float(c.score), 1), "grid_code": c.grid_code,
             "grid_name": grid_name(c.grid_code), "lon": c.lon, "lat": c.lat}
            for c in cands
        ],
        "grid": grid_info(ds, index, personal),
        "data_version": ds.version,
    }


def reverse_lookup(ds: Dataset, x: Any, y: Any, crs: str | int | None = None,
                   max_distance: float = _reverse.MAX_DISTANCE_M) -> dict[str, Any]:
    """Find the standard address nearest a coordinate (reverse geocoding), in metres of the city's metric CRS.

    Parameters
    ----------
    ds : Dataset
        The data version.
    x, y : number or str
        Coordinate in ``crs`` (lon/lat order for geographic CRSs).
    crs : str or int, optional
        Input CRS, WGS84 by default.
    max_distance : float
        Farthest an address may be, in metres.

    Returns
    -------
    dict
        ``status`` (ok, or not_found when no address is within ``max_distance``), ``query``,
        ``wgs84``, ``address`` (``address``, ``id``, ``grid_code``, ``lon``, ``lat``,
        ``distance_m``; null when not found), ``max_distance_m`` and ``data_version``.
    """
    spec = parse_crs(crs)
    lon, lat = to_lonlat(x, y, spec)
    near = _reverse.nearest_address(ds, lon, lat, max_distance)
    return {
        "status": "ok" if near else "not_found",
        "query": {"x": x, "y": y, "crs": spec.label},
        "wgs84": {"lon": round(lon, 7), "lat": round(lat, 7)},
        "address": near,
        "max_distance_m": max_distance,
        "data_version": ds.version,
    }


def locate_frame(
    ds: Dataset,
    df: pd.DataFrame,
    crs: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    address_col: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Assign every row of a table to a grid, keeping every row.

    Rows with coordinates are located exactly (a lat,lon pair written the other way round is
    taken swapped when that reading falls in a grid, and flagged); rows with only an address go
    through the gazetteer with the rules of :func:`locate_address`. Bad rows get status
    ``invalid`` and a message; they never fail the table.

    Parameters
    ----------
    ds : Dataset
        The data version.
    df : DataFrame
        Input rows; all columns are kept as they are.
    crs : str or int, optional
        CRS of the coordinate columns (WGS84 by default).
    lon_col, lat_col, address_col : str, optional
        Column names; found automatically when not given.
    progress : callable, optional
        Called as ``progress(done, total)``.

    Returns
    -------
    DataFrame
        The input columns plus ``grid_code``, ``grid_name``, ``committee_code``, ``committee_name``,
        ``division_code``, ``division_name``, ``status`` (one of :data:`STATUSES`), ``score``,
        ``match_kind`` and ``matched_address`` (address rows), ``on_border``, ``nearest_grid_code``,
        ``distance_m``, ``nearest_address`` and ``nearest_address_m`` (coordinate rows: the nearest
        standard address and metres to it), ``message`` (parts joined by ``"; "``), and
        ``lon_wgs84``/``lat_wgs84``: the point in WGS84 (the input converted, or the matched
        address's location).
    """
    from app.geo import tabular

    spec = parse_crs(crs)
    cols = tabular.detect_columns(df, lon=lon_col, lat=lat_col, address=address_col)
    if not (cols.lon and cols.lat) and not cols.address:
        raise LocateError("no lon/lat columns and no address column found; "
                          "name them lon/lat (经度/纬度) or address (地址)")
    out = _rows.locate_rows(ds, _rows.FrameSource(df), len(df), cols.lon, cols.lat, cols.address, spec,
                            _is_geographic(spec), progress)
    return _attach(ds, df, out)


def _attach(ds: Dataset, df: pd.DataFrame, rows: _rows.Rows) -> pd.DataFrame:
    per_grid = _rows.grid_columns(ds)
    grid_idx = rows.grid_idx
    inside = grid_idx >= 0
    safe = np.where(inside, grid_idx, 0)

    def pick(values: np.ndarray) -> np.ndarray:
        if not len(values):
            return np.full(len(df), None, dtype=object)
        return np.where(inside, values[safe], None)

    out = df.copy()
    out["grid_code"] = pick(per_grid.code)
    out["grid_name"] = pick(per_grid.name)
    out["committee_code"] = pick(per_grid.committee_code)
    out["committee_name"] = pick(per_grid.committee_name)
    out["division_code"] = pick(per_grid.division_code)
    out["division_name"] = pick(per_grid.division_name)
    out["status"] = rows.status
    out["score"] = np.round(rows.score, 1)
    out["match_kind"] = rows.match_kind
    out["matched_address"] = rows.matched_address
    out["on_border"] = rows.on_border
    nearest = rows.nearest
    has_near = nearest >= 0
    out["nearest_grid_code"] = (np.where(has_near, per_grid.code[np.where(has_near, nearest, 0)], None)
                                if len(per_grid.code) else np.full(len(df), None, dtype=object))
    out["distance_m"] = np.round(rows.dist, 1)
    out["nearest_address"] = rows.near_addr
    out["nearest_address_m"] = rows.near_addr_m
    out["message"] = rows.message
    out["lon_wgs84"] = np.round(rows.wgs_lon, 7)
    out["lat_wgs84"] = np.round(rows.wgs_lat, 7)
    assert not (set(out.columns) & PERSONAL_FIELDS - set(df.columns))
    return out


def with_grids(ds: Dataset, grids_file: Path) -> Dataset:
    """Return a Dataset like ``ds`` whose grids come from ``grids_file`` (GeoJSON or GeoPackage, any CRS).

    Parameters
    ----------
    ds : Dataset
        The base data version (committee and division names come from it).
    grids_file : Path
        Grid polygons with at least a ``code`` column.

    Returns
    -------
    Dataset
        A new Dataset over the overlay.

    Raises
    ------
    LocateError
        If the file cannot be read, or has no CRS or no ``code`` column.
    """
    grids_file = Path(grids_file)
    try:
        gdf = gpd.read_file(grids_file, engine="pyogrio")
        data = grids_file.read_bytes()
    except (OSError, ValueError) as exc:  # pyogrio's DataSourceError is an OSError
        raise LocateError(f"{grids_file}: {exc}") from None
    if gdf.crs is None:
        raise LocateError(f"{grids_file}: the grid file has no CRS; save it with one (e.g. EPSG:4326)")
    if "code" not in gdf.columns:
        raise LocateError(f"{grids_file}: the grid file has no 'code' column "
                          f"(columns: {', '.join(map(str, gdf.columns))})")
    gdf["code"] = gdf["code"].astype(str)
    if "name" not in gdf.columns:
        gdf["name"] = gdf["code"]
    tag = hashlib.sha256(data).hexdigest()[:8]
    return Dataset(OverlayStore(ds.store, {"grids": gdf.to_crs(STORAGE_CRS)}, tag))


def summarize(result: pd.DataFrame) -> dict[str, int]:
    """Count rows by status.

    Parameters
    ----------
    result : DataFrame
        Output of :func:`locate_frame`.

    Returns
    -------
    dict
        ``{status: count}`` for every status, plus ``total``.
    """
    counts = {s: int((result["status"] == s).sum()) for s in STATUSES}
    counts["total"] = len(result)
    return counts
