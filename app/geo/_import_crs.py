"""The importer's coordinate systems: choose the file's CRS, convert to WGS84, find features outside China."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo._import_base import _Raw, _safe_text, _Stop, _wgs_place
from app.geo.findings import Report

_CHINA = crsmod.CHINA_BBOX  # (lon_min, lon_max, lat_min, lat_max)
_GEOGRAPHIC = {4326, 4490, 4214, 4610}


def _coords_bounds(geoms: list[BaseGeometry | None]) -> np.ndarray:
    arr = np.array([g if g is not None else None for g in geoms], dtype=object)
    return shapely.bounds(arr)  # NaN rows for None


def _choose_crs(raw: _Raw, given: str | None, report: Report) -> crsmod.CrsSpec:
    if given:
        try:
            spec = crsmod.parse_crs(given)
        except crsmod.CRSError as exc:
            report.error("unknown_crs", str(exc))
            raise _Stop from None
        if raw.crs is not None and raw.crs != spec:
            report.warning("crs_override", f"the file says {raw.crs.label}; using {spec.label} as given")
        return spec
    if raw.crs is not None:
        return raw.crs
    b = _coords_bounds(raw.geoms)
    finite = b[np.isfinite(b).all(axis=1)]
    if raw.assumed_wgs84_ok or not len(finite):
        return crsmod.parse_crs(4326)
    if len(finite) and (np.abs(finite[:, [0, 2]]) <= 180).all() and (np.abs(finite[:, [1, 3]]) <= 90).all():
        report.warning("assumed_crs", "no coordinate system in the file or given; assumed WGS84 (EPSG:4326). "
                       "Coordinates from AMap/Tencent are GCJ-02 and from Baidu BD-09: give --crs gcj02 or bd09")
        return crsmod.parse_crs(4326)
    big = float(np.nanmax(np.abs(finite))) if len(finite) else float("nan")
    report.error("unknown_crs", f"no coordinate system in the file and none given, and the coordinates "
                 f"(up to {big:.0f}) are not lon/lat; give one, e.g. --crs EPSG:4542")
    raise _Stop


def _in_china(b: np.ndarray) -> np.ndarray:
    lon0, lon1, lat0, lat1 = _CHINA
    return (b[:, 0] >= lon0) & (b[:, 2] <= lon1) & (b[:, 1] >= lat0) & (b[:, 3] <= lat1)


def _transform(geoms: np.ndarray, spec: crsmod.CrsSpec, swap: bool = False) -> np.ndarray:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
        if spec.is_wgs84_equivalent:
            return np.column_stack([x, y])
        with np.errstate(all="ignore"):
            lon, lat = crsmod.to_wgs84(x, y, spec)
        return np.column_stack([np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)])

    return shapely.transform(geoms, fn)


def _reproject(raw: _Raw, spec: crsmod.CrsSpec, report: Report) -> np.ndarray:
    """Convert to WGS84 and report out-of-range, swapped and non-Chinese coordinates per feature."""
    geoms = np.array(raw.geoms, dtype=object)
    present = np.array([g is not None for g in raw.geoms])
    out = np.full(len(geoms), None, dtype=object)
    if not present.any():
        return out
    src = geoms[present]
    src_b = shapely.bounds(src)
    geographic = spec.kind != "epsg" or spec.epsg in _GEOGRAPHIC
    try:
        wgs = _transform(src, spec)
    except Exception as exc:  # noqa: BLE001 - pyproj errors on absurd input
        report.error("out_of_range", f"the coordinates cannot be converted from {spec.label} ({_safe_text(exc)})")
        raise _Stop from None
    b = shapely.bounds(wgs)
    finite = np.isfinite(b).all(axis=1)
    in_range = finite & (np.abs(b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(b[:, [1, 3]]) <= 90).all(axis=1)
    if geographic:
        in_range &= (np.abs(src_b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(src_b[:, [1, 3]]) <= 90).all(axis=1)
    china = in_range & _in_china(np.where(np.isfinite(b), b, 0))
    bad = np.flatnonzero(~china)
    swapped_ok = np.zeros(len(src), dtype=bool)
    if len(bad):
        try:
            sw = _transform(src[bad], spec, swap=True)
            sb = shapely.bounds(sw)
            swapped_ok[bad] = np.isfinite(sb).all(axis=1) & _in_china(np.where(np.isfinite(sb), sb, 0))
        except Exception:  # noqa: BLE001
            pass
    labels = [lab for lab, p in zip(raw.labels, present, strict=True) if p]
    for k in bad:
        x, y = src_b[k, 0], src_b[k, 1]
        where = f"x={x:.6g}, y={y:.6g} in {spec.label}"
        if swapped_ok[k]:
            report.error("latlon_swap", "probable lat/lon swap: the coordinates fall in China only with x and y "
                         "exchanged", feature=labels[k], place=where)
        elif not in_range[k]:
            report.error("out_of_range", f"coordinates out of range for {spec.label}", feature=labels[k], place=where)
        else:
            report.error("outside_china", f"the feature lies outside China (lon {_CHINA[0]}–{_CHINA[1]}, "
                         f"lat {_CHINA[2]}–{_CHINA[3]}) after conversion from {spec.label}: wrong coordinate "
                         "system?", feature=labels[k], place=_wgs_place(wgs[k]))
    out[np.flatnonzero(present)] = np.where(china, wgs, None)
    return out
