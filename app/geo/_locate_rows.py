"""Batch rows of :func:`app.geo.locate.locate_frame`: coordinates (swaps, datum warnings) and addresses, vectorised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from app.geo import crs as crsmod

if TYPE_CHECKING:  # a coordinate batch of Arrow tables loads neither pandas nor the layers' modules
    import pandas as pd

    from app.geo.dataset import Dataset

#: Separates the parts of one row's ``message`` (each part is translated on its own).
SEP = "; "
#: Alternative readings of geographic coordinates checked when a point falls outside every grid:
#: (spec kind, label of the message, converter to WGS84).
_READINGS: tuple[tuple[str, str, Callable[[Any, Any], tuple[Any, Any]]], ...] = (
    ("gcj02", "GCJ-02 (AMap, Tencent)", crsmod.gcj02_to_wgs84),
    ("bd09", "BD-09 (Baidu)", crsmod.bd09_to_wgs84),
)


@dataclass
class Rows:
    """Per-row answers of one table, filled by the coordinate and address passes.

    Every array has one entry per input row; see :func:`app.geo.locate.locate_frame` for the columns.
    """

    status: NDArray[np.object_]
    message: NDArray[np.object_]
    score: NDArray[np.float64]
    match_kind: NDArray[np.object_]
    matched_address: NDArray[np.object_]
    grid_idx: NDArray[np.int64]
    on_border: NDArray[np.bool_]
    nearest: NDArray[np.int64]
    dist: NDArray[np.float64]
    wgs_lon: NDArray[np.float64]
    wgs_lat: NDArray[np.float64]
    near_addr: NDArray[np.object_]
    near_addr_m: NDArray[np.float64]

    @classmethod
    def empty(cls, n: int) -> Rows:
        """``n`` rows, all ``invalid`` with no message, grid or address."""
        return cls(np.full(n, "invalid", dtype=object), np.full(n, "", dtype=object), np.full(n, np.nan),
                   np.full(n, None, dtype=object), np.full(n, None, dtype=object), np.full(n, -1, dtype=np.int64),
                   np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64), np.full(n, np.nan),
                   np.full(n, np.nan), np.full(n, np.nan), np.full(n, None, dtype=object), np.full(n, np.nan))

    def add_message(self, rows: NDArray[np.int64], parts: Sequence[str] | str) -> None:
        """Append ``parts`` (one per row, or one for all) to the messages of ``rows``."""
        if not len(rows):
            return
        texts = np.empty(len(rows), dtype=object)
        texts[:] = parts if isinstance(parts, str) else list(parts)
        before = self.message[rows]
        has = before != ""
        joined = texts.copy()
        if has.any():
            joined[has] = before[has] + SEP + texts[has]
        self.message[rows] = joined


@dataclass(frozen=True)
class GridColumns:
    """Per grid (by row of ``ds.grids``): the columns a located row gets, as object arrays; built once per version."""

    code: NDArray[np.object_]
    name: NDArray[np.object_]
    committee_code: NDArray[np.object_]
    committee_name: NDArray[np.object_]
    division_code: NDArray[np.object_]
    division_name: NDArray[np.object_]


def grid_columns(ds: Dataset) -> GridColumns:
    """The :class:`GridColumns` of a data version (committee and division names looked up by code)."""

    def build() -> GridColumns:
        grids = ds.grids

        def col(name: str) -> NDArray[np.object_]:
            if name not in grids.columns:
                return np.full(len(grids), None, dtype=object)
            return grids[name].to_numpy(object)

        com, div = ds.layer("committees"), ds.layer("divisions")
        com_names = dict(zip(com["code"], com["name"], strict=True))
        div_names = dict(zip(div["code"], div["name"], strict=True))
        com_code, div_code = col("committee_code"), col("division_code")
        return GridColumns(col("code"), col("name"), com_code,
                           np.array([com_names.get(c) if c else None for c in com_code] or [], dtype=object),
                           div_code,
                           np.array([div_names.get(c) if c else None for c in div_code] or [], dtype=object))

    return ds.cached("locate.grid_columns", build)


class Source(Protocol):
    """The cells of a table that :func:`locate_rows` reads: numbers, whether a cell has text, texts."""

    def numbers(self, name: str) -> NDArray[np.float64]:
        """Column ``name`` as numbers; NaN for empty or non-numeric cells."""
        ...

    def has_text(self, name: str) -> NDArray[np.bool_]:
        """Whether each cell of ``name`` holds text (not empty, ``nan`` or ``None``)."""
        ...

    def texts(self, name: str, rows: NDArray[np.int64]) -> list[str]:
        """The cells of ``name`` at ``rows`` as text."""
        ...


class FrameSource:
    """A pandas DataFrame as a :class:`Source` (cells as text first, as the row-by-row reader gives them)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def numbers(self, name: str) -> NDArray[np.float64]:
        """See :meth:`Source.numbers`."""
        import pandas as pd

        return pd.to_numeric(self.df[name].astype(str).str.strip(), errors="coerce").to_numpy(float)

    def has_text(self, name: str) -> NDArray[np.bool_]:
        """See :meth:`Source.has_text`."""
        has = self.df[name].astype(str).str.strip().replace({"nan": "", "None": ""}) != ""
        return np.asarray(has.to_numpy(), dtype=bool)

    def texts(self, name: str, rows: NDArray[np.int64]) -> list[str]:
        """See :meth:`Source.texts`."""
        return self.df[name].iloc[rows].astype(str).tolist()


def locate_rows(ds: Dataset, source: Source, n: int, lon: str | None, lat: str | None, address: str | None,
                spec: crsmod.CrsSpec, geographic: bool, progress: Callable[[int, int], None] | None = None,
                extras: bool = True) -> Rows:
    """Locate the ``n`` rows of a table: coordinates where both are numbers, else the address when there is one.

    Parameters
    ----------
    ds : Dataset
        The data version.
    source : Source
        The table's cells.
    n : int
        Its number of rows.
    lon, lat, address : str or None
        The columns found (coordinates only when both are known; at least one kind).
    spec : CrsSpec
        The CRS of the coordinates.
    geographic : bool
        Whether ``spec`` is in degrees.
    progress : callable, optional
        Called as ``progress(done, total)``.
    extras : bool, default True
        False for the basic answer (``locate-batch --columns basic``): no nearest grid, nearest
        address or datum check for coordinate rows (see :func:`locate_coordinates`).

    Returns
    -------
    Rows
        Every row's answer.
    """
    out = Rows.empty(n)
    todo_addr = np.zeros(n, dtype=bool)
    if lon and lat:
        x, y = source.numbers(lon), source.numbers(lat)
        missing = ~np.isfinite(x) | ~np.isfinite(y)
        out.message[missing] = "missing or non-numeric coordinates"
        if address:
            todo_addr = missing & source.has_text(address)
        rows = np.flatnonzero(~missing)
        locate_coordinates(ds, out, rows, x[rows], y[rows], spec, geographic, extras=extras)
    else:
        todo_addr[:] = True
    if progress:
        progress(int((~todo_addr).sum()), n)
    if todo_addr.any() and address:
        rows = np.flatnonzero(todo_addr)
        texts = source.texts(address, rows)
        step = (lambda done: progress(n - len(rows) + done, n)) if progress else None
        with _MATCH_LOCK:
            locate_addresses(ds, out, rows, texts, step)
    if progress:
        progress(n, n)
    return out


#: The address matcher is not known to be thread-safe: batch threads match one at a time.
_MATCH_LOCK = threading.Lock()


def basic_index(ds: Dataset) -> Any:
    """The grid index of a basic batch: the data version's own when built, else one with a coarser raster.

    A coarser raster builds in about half the time (0.5 s for 613 grids) and answers every point
    the same (boundary cells are settled by exact point-in-polygon tests); the nearest-grid search
    a basic batch leaves out is never built.
    """
    if "grid_index" in vars(ds):
        return ds.grid_index

    def build() -> Any:
        import math

        from app.geo.gridindex import GridIndex

        n = len(ds.grids)
        return GridIndex(ds.grids, resolution=int(np.clip(40.0 * math.sqrt(max(n, 1)), 256, 1280)))

    return ds.cached("locate.basic_index", build)


def _in_range(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
    return np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)


@dataclass
class Located:
    """Coordinate rows read in their CRS, turned into WGS84 and put in the grids (see :func:`project_and_locate`).

    Every array has one entry per point.

    Attributes
    ----------
    ok : ndarray of bool
        Within ±180/±90 (always True for a projected CRS).
    lon, lat : ndarray of float
        WGS84, the swapped reading's for swapped rows; NaN where there is none.
    good : ndarray of bool
        A real point (finite WGS84), swapped rows included.
    grid : ndarray of int64
        The grid's row, -1 outside every grid.
    on_border : ndarray of bool
        On a grid's border.
    swapped : ndarray of bool
        Read as (y, x): outside every grid (or out of range) as given, in a grid that way.
    """

    ok: NDArray[np.bool_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    good: NDArray[np.bool_]
    grid: NDArray[np.int64]
    on_border: NDArray[np.bool_]
    swapped: NDArray[np.bool_]


def project_and_locate(index: Any, x: NDArray[np.float64], y: NDArray[np.float64], spec: crsmod.CrsSpec,
                       geographic: bool) -> Located:
    """Turn finite coordinates into WGS84 and find their grids; a geographic pair outside every grid is tried swapped.

    Parameters
    ----------
    index : GridIndex
        The grid index (any with ``locate(lon, lat, nearest=False)``).
    x, y : ndarray of float
        Finite coordinates in ``spec``.
    spec : CrsSpec
        Their CRS.
    geographic : bool
        Whether ``spec`` is in degrees (then ±180/±90 applies and swaps are looked for).

    Returns
    -------
    Located
        Per point: range, WGS84 position, grid, border and swap.
    """
    n = len(x)
    ok = _in_range(x, y) if geographic else np.ones(n, dtype=bool)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    if ok.all():
        lon, lat = (np.asarray(v, dtype=float) for v in crsmod.to_wgs84(x, y, spec))
    elif ok.any():
        lon[ok], lat[ok] = crsmod.to_wgs84(x[ok], y[ok], spec)
    good = np.isfinite(lon) & np.isfinite(lat)
    grid, border = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool)
    if good.any():  # only real points: a nearest-grid search from a placeholder far away is slow
        res = index.locate(lon[good], lat[good], nearest=False)
        grid[good], border[good] = res.index, res.on_border
    swapped = np.zeros(n, dtype=bool)
    if geographic:  # lat,lon written the other way round: only taken when that reading is in a grid
        try_swap = np.flatnonzero((grid < 0) & _in_range(y, x))
        if len(try_swap):
            slon, slat = crsmod.to_wgs84(y[try_swap], x[try_swap], spec)
            sgood = np.flatnonzero(np.isfinite(slon) & np.isfinite(slat))
            sres = index.locate(slon[sgood], slat[sgood], nearest=False)
            hit = sres.index >= 0
            k, h = try_swap[sgood[hit]], sgood[hit]
            swapped[k], good[k], grid[k], border[k] = True, True, sres.index[hit], sres.on_border[hit]
            lon[k], lat[k] = slon[h], slat[h]
    return Located(ok, lon, lat, good, grid, border, swapped)


def locate_coordinates(ds: Dataset, out: Rows, rows: NDArray[np.int64], x: NDArray[np.float64],
                       y: NDArray[np.float64], spec: crsmod.CrsSpec, geographic: bool, extras: bool = True) -> None:
    """Locate coordinate rows into ``out``, all at once.

    A geographic pair that misses every grid (or is out of range) while its swapped reading
    ``(y, x)`` falls in a grid is located there, and the row's message says so. A point still
    outside gets its nearest grid in the message and, when its GCJ-02 or BD-09 reading (or the
    WGS84 one, for those CRSs) falls in a grid, a warning naming that grid; it is not moved.
    Every located point gets its nearest standard address within
    :data:`app.geo._locate_reverse.MAX_DISTANCE_M`.

    Parameters
    ----------
    ds : Dataset
        The data version.
    out : Rows
        The answers, filled in place at ``rows``.
    rows : ndarray of int
        Rows with finite numbers in both columns.
    x, y : ndarray of float
        Their coordinates in ``spec`` (same length as ``rows``).
    spec : CrsSpec
        The table's CRS.
    geographic : bool
        Whether ``spec`` is in degrees (then ±180/±90 applies and swaps are looked for).
    extras : bool, default True
        False to skip the nearest grid (a point outside gets the message "outside every grid"),
        the other-datum warnings and the nearest address: the grid, status and the other messages
        are the same.
    """
    n = len(rows)
    if not n:
        return
    index = ds.grid_index if extras else basic_index(ds)
    loc = project_and_locate(index, x, y, spec, geographic)
    ok, lon, lat, good, grid, border, swapped = (loc.ok, loc.lon, loc.lat, loc.good, loc.grid, loc.on_border,
                                                 loc.swapped)
    near, dist = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    outside = good & (grid < 0)
    if outside.any() and extras:  # the nearest grid, searched for the points still outside only
        near[outside], dist[outside] = index.nearest_outside(lon[outside], lat[outside])
    out.wgs_lon[rows], out.wgs_lat[rows] = lon, lat
    out.grid_idx[rows] = grid
    out.on_border[rows] = border
    out.nearest[rows] = np.where(outside, near, -1)
    out.dist[rows] = np.where(outside, dist, np.nan)
    out.status[rows] = np.where(good, np.where(grid >= 0, "ok", "outside"), "invalid")
    out.message[rows[~ok & ~swapped]] = "coordinates out of range"
    out.message[rows[ok & ~good]] = f"coordinates outside the valid area of {spec.label}"
    if swapped.any():
        out.add_message(rows[swapped], "lat/lon swapped, read as lat,lon")
    codes = grid_columns(ds).code
    far = np.flatnonzero(outside & (near >= 0))
    if len(far):
        metres = [f"{d:.0f}" for d in dist[far].tolist()]
        out.add_message(rows[far], "outside every grid, nearest grid " + codes[near[far]].astype(str).astype(object)
                        + " at " + np.array(metres, dtype=object) + " m")
    if (outside & (near < 0)).any():  # too far for the metric CRS to measure
        out.add_message(rows[outside & (near < 0)], "outside every grid")
    if not extras:
        return
    if geographic and outside.any():
        _warn_other_datums(ds, out, rows, x, y, spec, np.flatnonzero(outside), codes)
    from app.geo._locate_reverse import address_points  # scipy's KD-tree: not for a basic batch

    points = address_points(ds)
    found, metres = points.nearest(lon, lat)
    has = found >= 0
    out.near_addr[rows[has]] = points.addresses[found[has]]
    out.near_addr_m[rows[has]] = np.round(metres[has], 1)


def _warn_other_datums(ds: Dataset, out: Rows, rows: NDArray[np.int64], x: NDArray[np.float64],
                       y: NDArray[np.float64], spec: crsmod.CrsSpec, outside: NDArray[np.int64],
                       codes: NDArray[np.object_]) -> None:
    """Warn rows outside every grid whose reading in another datum (GCJ-02, BD-09, WGS84) falls in one."""
    readings: list[tuple[str, Callable[[Any, Any], tuple[Any, Any]]]] = [
        (label, conv) for kind, label, conv in _READINGS if kind != spec.kind]
    if spec.kind != "epsg":
        readings.insert(0, ("WGS84", lambda a, b: (np.asarray(a, float), np.asarray(b, float))))
    warned = np.zeros(len(outside), dtype=bool)
    for label, convert in readings:
        todo = np.flatnonzero(~warned)
        if not len(todo):
            break
        k = outside[todo]
        alon, alat = convert(x[k], y[k])
        alon, alat = np.asarray(alon, float), np.asarray(alat, float)
        fine = np.flatnonzero(np.isfinite(alon) & np.isfinite(alat))
        res = ds.grid_index.locate(alon[fine], alat[fine], nearest=False)
        hit = fine[res.index >= 0]
        if len(hit):
            out.add_message(rows[k[hit]], [f"read as {label} it falls in grid {codes[g]}, check the coordinate system"
                                           for g in res.index[res.index >= 0]])
            warned[todo[hit]] = True


def explain(result: Any) -> tuple[str | None, str, float]:
    """``(matched_address, match_kind, score)`` of one :class:`~app.geo.address.MatchResult`."""
    return result.matched_address, result.match_kind, float(result.score)


def locate_addresses(ds: Dataset, out: Rows, rows: NDArray[np.int64], texts: list[str],
                     progress: Callable[[int], None] | None = None) -> None:
    """Match address rows into ``out`` with the rules of a single lookup.

    ``ok`` rows get the matched address's grid and position; ``ambiguous`` rows list the
    candidates in the message and get no grid; ``not_found`` rows name the closest addresses,
    if any; an empty cell is ``invalid``. Fuzzy matches say so in the message.

    Parameters
    ----------
    ds : Dataset
        The data version.
    out : Rows
        The answers, filled in place at ``rows``.
    rows : ndarray of int
        The rows to match.
    texts : list of str
        Their address cells.
    progress : callable, optional
        Called with the number of rows matched so far, every 10,000 rows.
    """
    results = ds.address_matcher.match_many(texts)
    answers: dict[int, tuple[Any, ...]] = {}  # repeated texts share one result: work it out once
    for i, (row, res) in enumerate(zip(rows, results, strict=True)):
        got = answers.get(id(res))
        if got is None:
            got = answers[id(res)] = _address_answer(ds, res, texts[i])
        (out.status[row], out.message[row], out.match_kind[row], out.score[row], out.matched_address[row],
         out.wgs_lon[row], out.wgs_lat[row], out.grid_idx[row]) = got
        if progress and (i + 1) % 10000 == 0:
            progress(i + 1)


def _address_answer(ds: Dataset, res: Any, text: str) -> tuple[Any, ...]:
    """One address row's (status, message, match_kind, score, matched_address, lon, lat, grid row)."""
    text = text.strip()
    if res.status == "invalid" or not text or text.lower() in ("nan", "none"):
        return "invalid", "empty address", "not_found", np.nan, None, np.nan, np.nan, -1
    matched, kind, score = explain(res)
    if res.status == "ok":
        best = res.candidates[0]
        matched = matched or best.address
        grid = ds.grid_row(best.grid_code) if best.grid_code else None
        message = f"fuzzy match: {matched} (score {score:.0f})" if kind == "fuzzy" else ""
        return "ok", message, kind, score, matched, best.lon, best.lat, -1 if grid is None else grid
    if res.status == "ambiguous":
        message = "ambiguous: " + "；".join(f"{c.address} ({c.grid_code})" for c in res.candidates[:3])
        return "ambiguous", message, kind, score, None, np.nan, np.nan, -1
    message = ("closest: " + "；".join(c.address for c in res.candidates[:3])
               if res.candidates else "no similar address")
    return "not_found", message, kind, score, None, np.nan, np.nan, -1
