"""The importer's coordinate systems: choose the file's CRS, convert to WGS84, catch swapped and misplaced coordinates."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo._import_base import _Raw, _safe_text, _Stop, _wgs_place
from app.geo.findings import LIST_LIMIT, Report

_CHINA = crsmod.CHINA_BBOX  # (lon_min, lon_max, lat_min, lat_max)
_GEOGRAPHIC = {4326, 4490, 4214, 4610}
#: A feature this far (degrees) outside its CRS's area of use is refused: the CRS is wrong. Generous, since
#: offices use one zone beyond its bounds (Norway draws all of its 4–31°E in UTM zone 33, 12–18°E).
FAR_OUTSIDE_DEG = 15.0
#: How far (degrees) outside an area of use or a city's extent still counts as inside it, for the swap test.
NEAR_DEG = 1.0
#: A facility or address this far (degrees) from the stored city's grids is refused: wrong coordinates.
FAR_FROM_CITY_DEG = 10.0

Bounds = tuple[float, float, float, float]  # west, south, east, north


def _coords_bounds(geoms: list[BaseGeometry | None]) -> np.ndarray:
    arr = np.array([g if g is not None else None for g in geoms], dtype=object)
    return shapely.bounds(arr)  # NaN rows for None


def _choose_crs(raw: _Raw, given: str | None, report: Report) -> crsmod.CrsSpec:
    """The CRS to read the features in: the one given, else the file's (or its column names'), else guessed."""
    if given:
        try:
            spec = crsmod.parse_crs(given)
        except crsmod.CRSError as exc:
            report.error("unknown_crs", str(exc))
            raise _Stop from None
        if raw.crs is not None and raw.crs != spec:
            says = (f"the columns {'/'.join(raw.crs_hint_columns)} say" if raw.crs_hint_columns
                    else "the file says")
            report.warning("crs_override", f"{_safe_text(says, 120)} {raw.crs.label}; using {spec.label} as given")
        return spec
    if raw.crs is not None:
        return raw.crs
    b = _coords_bounds(raw.geoms)
    finite = b[np.isfinite(b).all(axis=1)]
    if raw.assumed_wgs84_ok or not len(finite):
        return crsmod.parse_crs(4326)
    lonlat = (np.abs(finite[:, [0, 2]]) <= 180).all() and (np.abs(finite[:, [1, 3]]) <= 90).all()
    latlon = (np.abs(finite[:, [0, 2]]) <= 90).all() and (np.abs(finite[:, [1, 3]]) <= 180).all()
    if lonlat or latlon:  # lat/lon written the other way round: taken as WGS84, and the swap reported
        report.warning("assumed_crs", "no coordinate system in the file or given; assumed WGS84 (EPSG:4326). "
                       "Coordinates from AMap/Tencent are GCJ-02 and from Baidu BD-09: give --crs gcj02 or bd09")
        return crsmod.parse_crs(4326)
    big = float(np.nanmax(np.abs(finite))) if len(finite) else float("nan")
    report.error("unknown_crs", f"no coordinate system in the file and none given, and the coordinates "
                 f"(up to {big:.0f}) are not lon/lat; give one, e.g. --crs EPSG:4542")
    raise _Stop


@lru_cache(maxsize=64)
def area_of_use(spec: crsmod.CrsSpec) -> Bounds | None:
    """Where a CRS is meant for, as (west, south, east, north) lon/lat; None when it is world-wide or unknown.

    GCJ-02 and BD-09 are meant for China (:data:`app.geo.crs.CHINA_BBOX`); WGS84 and CGCS2000
    lon/lat are taken as world-wide. An area that crosses the antimeridian has ``west > east``.
    """
    if spec.kind != "epsg":
        lon0, lon1, lat0, lat1 = _CHINA
        return (lon0, lat0, lon1, lat1)
    if spec.is_wgs84_equivalent:  # CGCS2000 is WGS84 at the data's precision, wherever the data lies
        return None
    try:
        area = pyproj.CRS.from_epsg(spec.epsg).area_of_use
    except pyproj.exceptions.CRSError:
        return None
    if area is None:
        return None
    west, south, east, north = (float(v) for v in (area.west, area.south, area.east, area.north))
    if east - west >= 359.0 and north - south >= 179.0:
        return None
    return (west, south, east, north)


def _inside(b: np.ndarray, area: Bounds, margin: float) -> np.ndarray:
    """Rows of lon/lat bounds (minx, miny, maxx, maxy) lying inside ``area`` grown by ``margin`` degrees."""
    west, south, east, north = area
    b = np.where(np.isfinite(b), b, np.nan)
    with np.errstate(invalid="ignore"):
        lat_ok = (b[:, 1] >= south - margin) & (b[:, 3] <= north + margin)
        if west <= east:
            lon_ok = (b[:, 0] >= west - margin) & (b[:, 2] <= east + margin)
        else:  # across the antimeridian: [west, 180] or [-180, east]
            lon_ok = ((b[:, 0] >= west - margin) | (b[:, 2] <= east + margin))
    return lat_ok & lon_ok


def _outside_by(b: np.ndarray, area: Bounds) -> np.ndarray:
    """How many degrees each row of lon/lat bounds lies outside ``area`` (0 inside; the larger axis)."""
    west, south, east, north = area
    dlat = np.maximum.reduce([south - b[:, 1], b[:, 3] - north, np.zeros(len(b))])
    if west <= east:
        dlon = np.maximum.reduce([west - b[:, 0], b[:, 2] - east, np.zeros(len(b))])
    else:
        dlon = np.where((b[:, 0] >= west) | (b[:, 2] <= east), 0.0,
                        np.minimum(np.abs(b[:, 0] - west), np.abs(b[:, 2] - east)))
    return np.maximum(dlat, dlon)


def _transform(geoms: np.ndarray, spec: crsmod.CrsSpec, swap: bool = False) -> np.ndarray:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
        if spec.is_wgs84_equivalent:
            return np.column_stack([x, y])
        with np.errstate(all="ignore"):
            lon, lat = crsmod.to_wgs84(x, y, spec)
        return np.column_stack([np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)])

    return shapely.transform(geoms, fn)


def _in_range(b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (np.isfinite(b).all(axis=1) & (np.abs(b[:, [0, 2]]) <= 180).all(axis=1)
                & (np.abs(b[:, [1, 3]]) <= 90).all(axis=1))


def to_wgs84_quiet(geoms: np.ndarray, spec: crsmod.CrsSpec) -> np.ndarray:
    """Convert source-CRS geometries to WGS84 without any check (for geometries already checked once)."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():
        out[present] = _transform(geoms[present], spec)
    return out


def _reproject(raw: _Raw | np.ndarray, spec: crsmod.CrsSpec, report: Report, labels: list[str] | None = None,
               *, city_bounds: Bounds | None = None, points: bool = False) -> np.ndarray:
    """Convert to WGS84, and report coordinates out of range, swapped, or far from where they belong.

    Parameters
    ----------
    raw : RawLayer or numpy.ndarray
        The features read (or their source-CRS geometries, with ``labels``).
    spec : app.geo.crs.CrsSpec
        The CRS they are in.
    report : Report
        Where findings go.
    labels : list of str, optional
        Feature labels when ``raw`` is an array.
    city_bounds : tuple, optional
        The extent of the stored city's grids (lon/lat): a world-wide CRS's swaps are judged against it,
        and with ``points`` a feature far from it is refused.
    points : bool
        The layer is one of points that belong in the city (facilities, addresses).

    Returns
    -------
    numpy.ndarray
        The geometries in WGS84; None for the refused ones.

    Notes
    -----
    Nothing is refused just for lying outside China. A ``latlon_swap`` is reported only when the
    coordinates lie outside the CRS's area of use (or, for a world-wide CRS, outside the city's
    extent; or out of range) and exchanging x and y puts them inside it. A feature more than
    :data:`FAR_OUTSIDE_DEG` outside its CRS's area of use is refused (``outside_crs_area``);
    GCJ-02/BD-09 outside China is the identity there (a warning, ``crs_identity``).
    """
    if isinstance(raw, np.ndarray):
        geoms, labs = raw, list(labels or [""] * len(raw))
    else:
        geoms, labs = np.array(raw.geoms, dtype=object), raw.labels
    present = np.array([g is not None for g in geoms], dtype=bool)
    out = np.full(len(geoms), None, dtype=object)
    if not present.any():
        return out
    src = np.asarray(geoms[present], dtype=object)
    src_b = shapely.bounds(src)
    geographic = spec.kind != "epsg" or spec.epsg in _GEOGRAPHIC
    try:
        wgs = _transform(src, spec)
    except Exception as exc:  # noqa: BLE001 - pyproj errors on absurd input
        report.error("out_of_range", f"the coordinates cannot be converted from {spec.label} ({_safe_text(exc)})")
        raise _Stop from None
    b = shapely.bounds(wgs)
    in_range = _in_range(b)
    if geographic:
        in_range &= _in_range(np.where(np.isfinite(src_b), src_b, np.inf))
    area = area_of_use(spec)
    home = area if area is not None else city_bounds  # where the data belongs, as far as is known
    plausible = in_range & (_inside(b, home, NEAR_DEG) if home is not None else True)
    suspect = np.flatnonzero(~plausible)
    swapped_ok = np.zeros(len(src), dtype=bool)
    if len(suspect):
        try:
            sw = _transform(src[suspect], spec, swap=True)
            sb = shapely.bounds(sw)
            swapped_ok[suspect] = _in_range(sb) & (_inside(sb, home, NEAR_DEG) if home is not None else True)
        except Exception:  # noqa: BLE001
            pass
    far = np.zeros(len(src), dtype=bool)
    if area is not None and spec.kind == "epsg":
        with np.errstate(invalid="ignore"):
            far = in_range & (_outside_by(np.where(np.isfinite(b), b, 0.0), area) > FAR_OUTSIDE_DEG)
    far_city = np.zeros(len(src), dtype=bool)
    if points and city_bounds is not None:
        with np.errstate(invalid="ignore"):
            far_city = in_range & ~far & (_outside_by(np.where(np.isfinite(b), b, 0.0), city_bounds)
                                          > FAR_FROM_CITY_DEG)
    lab = [x for x, p in zip(labs, present, strict=True) if p]
    bad = np.zeros(len(src), dtype=bool)
    for k in np.flatnonzero(~in_range | swapped_ok | far | far_city):
        where = f"x={src_b[k, 0]:.6g}, y={src_b[k, 1]:.6g} in {spec.label}"
        bad[k] = True
        if swapped_ok[k]:
            region = "the area of use of " + spec.label if area is not None else "the city's extent"
            report.error("latlon_swap", f"probable lat/lon swap: the coordinates fall in {region} only with x "
                         "and y exchanged", feature=lab[k], place=where)
        elif not in_range[k]:
            report.error("out_of_range", f"coordinates out of range for {spec.label}", feature=lab[k], place=where)
        elif far[k]:
            w, s, e, n = area
            report.error("outside_crs_area", f"the feature lies far outside the area of use of {spec.label} "
                         f"(lon {w:g}–{e:g}, lat {s:g}–{n:g}) after conversion: wrong coordinate system?",
                         feature=lab[k], place=_wgs_place(wgs[k]))
        elif far_city[k]:
            report.error("far_from_city", f"the feature lies more than {FAR_FROM_CITY_DEG:g}° from the city's "
                         f"grids after conversion from {spec.label}: wrong coordinates or coordinate system?",
                         feature=lab[k], place=_wgs_place(wgs[k]))
        else:
            bad[k] = False
    if spec.kind != "epsg":
        lon0, lon1, lat0, lat1 = _CHINA
        abroad = np.flatnonzero(~bad & in_range & ~_inside(b, (lon0, lat0, lon1, lat1), 0.0))
        if len(abroad):
            shown = ", ".join(lab[k] for k in abroad[:LIST_LIMIT]) + (" …" if len(abroad) > LIST_LIMIT else "")
            report.warning("crs_identity", f"{len(abroad)} features lie outside China, where {spec.label} is "
                           f"WGS84 unchanged (the published algorithm shifts only inside China): {shown}")
    out[np.flatnonzero(present)] = np.where(bad, None, wgs)
    return out
