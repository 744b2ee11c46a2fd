"""Coordinate reference systems: parse CRS names, convert to and from WGS84, GCJ-02 and BD-09."""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, overload

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray

from app.errors import GridmapError

__all__ = [
    "CRSError",
    "CrsSpec",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "parse_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# --- GCJ-02 / BD-09 constants (published description of the "Mars coordinates" shift) -----------------
#: Semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02, metres.
_KRASOVSKY_A = 6378245.0
#: First eccentricity squared of the Krasovsky 1940 ellipsoid.
_KRASOVSKY_EE = 0.00669342162296594323
#: China's rough bounding box inside which GCJ-02 applies the shift: lon_min, lon_max, lat_min, lat_max.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 137.8347, 0.8293, 55.8271)
#: BD-09's angular constant (3000 * pi / 180).
_BD_X_PI = math.pi * 3000.0 / 180.0
#: Stop iterating an inverse once every coordinate moves less than this, degrees (about 1 mm).
_INVERSE_TOL_DEG = 1e-9
#: Upper bound on inverse iterations (each one shrinks the error about a thousandfold; 3-4 suffice).
_INVERSE_MAX_ITER = 30

#: EPSG codes of geographic CRSs passed through unchanged by :func:`to_wgs84` / :func:`from_wgs84`.
#: CGCS2000 (EPSG:4490) and WGS84 (EPSG:4326) differ by a few centimetres, far below the data's
#: precision (6 decimals, about 0.1 m), so they are treated as the same datum.
PASS_THROUGH_EPSG: frozenset[int] = frozenset({4326, 4490})


class CRSError(GridmapError, ValueError):
    """A coordinate reference system was not recognised or cannot be used."""

    default_key = "crs"


@dataclass(frozen=True)
class CrsSpec:
    """A parsed coordinate reference system.

    Attributes
    ----------
    kind : {"epsg", "gcj02", "bd09"}
        ``"epsg"`` for any CRS with an EPSG code; ``"gcj02"`` and ``"bd09"`` for the Chinese
        obfuscated systems, which have no EPSG code.
    epsg : int or None
        The EPSG code when ``kind == "epsg"``, otherwise None.
    label : str
        A human-readable name, e.g. ``"EPSG:4326 WGS 84"`` or ``"GCJ-02"``.
    """

    kind: Literal["epsg", "gcj02", "bd09"]
    epsg: int | None
    label: str

    @property
    def is_wgs84_equivalent(self) -> bool:
        """True when coordinates in this CRS are WGS84 lon/lat at the data's precision."""
        return self.kind == "epsg" and self.epsg in PASS_THROUGH_EPSG


# --- array helpers ----------------------------------------------------------------------------------------


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Return float64 arrays broadcast to one shape, and whether both inputs were scalars."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError as exc:
        raise ValueError(f"x/lon and y/lat have incompatible shapes {x.shape} and {y.shape}") from exc
    if scalar:  # numpy scalars: ~10x less per-operation overhead than 0-d arrays, for single lookups
        return x[()], y[()], scalar
    return x, y, scalar


def _out(x: NDArray[np.float64], y: NDArray[np.float64], scalar: bool):
    """Return plain floats for scalar input, arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return x, y


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return whether points lie inside China's rough bounding box, where GCJ-02 shifts apply.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in degrees.

    Returns
    -------
    numpy.ndarray of bool
        True inside :data:`CHINA_BBOX` (bounds inclusive).
    """
    x, y, _ = _as_arrays(lon, lat)
    lon_min, lon_max, lat_min, lat_max = CHINA_BBOX
    return (x >= lon_min) & (x <= lon_max) & (y >= lat_min) & (y <= lat_max)


def _gcj_delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Return the GCJ-02 shift (dlon, dlat) in degrees at WGS84 points, ignoring the China box."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    # The series above is in metres on the Krasovsky ellipsoid; turn it into degrees at this latitude.
    radlat = lat / 180.0 * pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(radlat) * pi)
    return dlon, dlat


def _wgs_to_gcj(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    dlon, dlat = _gcj_delta(x, y)
    inside = in_china(x, y)
    return np.where(inside, x + dlon, x), np.where(inside, y + dlat, y)


def _gcj_to_bd(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """BD-09 of GCJ-02 points; points outside :data:`CHINA_BBOX` are kept (there BD-09 is WGS84 too)."""
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    inside = in_china(x, y)
    return np.where(inside, z * np.cos(theta) + 0.0065, x), np.where(inside, z * np.sin(theta) + 0.006, y)


def _invert(forward, tx: NDArray[np.float64], ty: NDArray[np.float64], gx: NDArray, gy: NDArray):
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from the guess (gx, gy).

    The shifts are smooth and small, so ``x <- x - (forward(x) - target)`` converges geometrically.
    """
    x = gx.copy()
    y = gy.copy()
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(x, y)
        ex = fx - tx
        ey = fy - ty
        x = x - ex
        y = y - ey
        err = np.nanmax(np.maximum(np.abs(ex), np.abs(ey)), initial=0.0)
        if not err > _INVERSE_TOL_DEG:  # also stops on all-NaN input
            break
    return x, y


# --- public conversions -------------------------------------------------------------------------------------


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def wgs84_to_gcj02(lon, lat):
    """Shift WGS84 lon/lat to GCJ-02 (AMap, Tencent, Google China).

    Points outside China's rough bounding box (:data:`CHINA_BBOX`) are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        GCJ-02 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_wgs_to_gcj(x, y), scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def gcj02_to_wgs84(lon, lat):
    """Shift GCJ-02 lon/lat back to WGS84.

    GCJ-02 has no closed-form inverse; this iterates the forward shift until every point moves
    less than 1e-9 degree (about 0.1 mm; at most 30 iterations, 3-4 in practice), so the result
    maps forward onto the input within well under a millimetre.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        WGS84 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    dlon, dlat = _gcj_delta(x, y)
    inside = in_china(x, y)
    gx = np.where(inside, x - dlon, x)
    gy = np.where(inside, y - dlat, y)
    return _out(*_invert(_wgs_to_gcj, x, y, gx, gy), scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def gcj02_to_bd09(lon, lat):
    """Shift GCJ-02 lon/lat to BD-09 (Baidu).

    BD-09 adds a small rotation and scaling around the origin plus a fixed +0.0065 / +0.006 degree
    offset, inside China's rough bounding box (:data:`CHINA_BBOX`). Outside it, like GCJ-02, BD-09
    is plain WGS84 and points are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        BD-09 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(x, y), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def bd09_to_gcj02(lon, lat):
    """Shift BD-09 lon/lat back to GCJ-02.

    Starts from the usual closed-form approximation and refines it by iteration, so that
    :func:`gcj02_to_bd09` of the result reproduces the input to about 1e-9 degree. Points outside
    :data:`CHINA_BBOX` are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        GCJ-02 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    bx = x - 0.0065
    by = y - 0.006
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _BD_X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _BD_X_PI)
    inside = in_china(x, y)
    gx, gy = _invert(_gcj_to_bd, x, y, np.where(inside, z * np.cos(theta), x), np.where(inside, z * np.sin(theta), y))
    return _out(np.where(inside, gx, x), np.where(inside, gy, y), scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def wgs84_to_bd09(lon, lat):
    """Shift WGS84 lon/lat to BD-09: :func:`wgs84_to_gcj02` then :func:`gcj02_to_bd09` (unchanged outside China).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        BD-09 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]: ...
def bd09_to_wgs84(lon, lat):
    """Shift BD-09 lon/lat back to WGS84: :func:`bd09_to_gcj02` then :func:`gcj02_to_wgs84` (unchanged outside China).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    (lon, lat) : tuple of float or of numpy.ndarray
        WGS84 coordinates; floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = bd09_to_gcj02(x, y)
    return _out(*gcj02_to_wgs84(gx, gy), scalar)


# --- parsing ------------------------------------------------------------------------------------------------

_ALIASES: dict[str, CrsSpec] = {}
for _names, _spec in (
    (("wgs84", "wgs-84", "wgs 84", "wgs_84", "gps", "crs84", "ogc:crs84"), CrsSpec("epsg", 4326, "EPSG:4326 WGS 84")),
    (("cgcs2000", "cgcs-2000", "cgcs 2000", "国家2000", "2000国家大地坐标系"), CrsSpec("epsg", 4490, "EPSG:4490 CGCS2000")),
    (("gcj02", "gcj-02", "gcj_02", "gcj", "amap", "autonavi", "gaode", "tencent", "高德", "火星坐标"),
     CrsSpec("gcj02", None, "GCJ-02")),
    (("bd09", "bd-09", "bd_09", "bd09ll", "baidu", "百度"), CrsSpec("bd09", None, "BD-09")),
):
    for _name in _names:
        _ALIASES[_name] = _spec

_EPSG_RE = re.compile(r"^(?:epsg\s*:+\s*)?(\d{4,6})$")


@lru_cache(maxsize=256)
def _epsg_spec(code: int) -> CrsSpec:
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {code!r}: no such EPSG code") from exc
    if code == 4326:
        return _ALIASES["wgs84"]
    if code == 4490:
        return _ALIASES["cgcs2000"]
    return CrsSpec("epsg", code, f"EPSG:{code} {crs.name}")


@lru_cache(maxsize=256)
def _parse_text(text: str) -> CrsSpec:
    key = text.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    m = _EPSG_RE.match(key)
    if m:
        try:
            return _epsg_spec(int(m.group(1)))
        except CRSError as exc:
            raise CRSError(f"unknown CRS {text!r}: no such EPSG code") from exc
    try:
        crs = pyproj.CRS.from_user_input(text.strip())
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"unknown CRS {text!r}: expected EPSG:<code>, a bare EPSG code, wgs84, cgcs2000, gcj02 or bd09"
        ) from exc
    code = crs.to_epsg()
    if code is None:
        raise CRSError(f"CRS {text!r} has no EPSG code; give it as EPSG:<code>")
    return _epsg_spec(code)


def parse_crs(text: str | int | CrsSpec) -> CrsSpec:
    """Parse a CRS given by name, EPSG code or alias.

    Parameters
    ----------
    text : str, int or CrsSpec
        One of: an EPSG code as int (``4326``) or text (``"4326"``, ``"EPSG:4542"``, any code pyproj
        knows); an alias: ``wgs84``; ``cgcs2000`` (EPSG:4490); ``gcj02`` / ``gcj-02`` / ``amap`` /
        ``高德``; ``bd09`` / ``bd-09`` / ``baidu`` / ``百度`` (case-insensitive); any other CRS text
        pyproj understands that resolves to an EPSG code (e.g. ``"OGC:CRS84"``). A CrsSpec is returned
        as is.

    Returns
    -------
    CrsSpec
        The parsed CRS.

    Raises
    ------
    CRSError
        If the input is not a recognised CRS; the message names the input.
    """
    if isinstance(text, CrsSpec):
        return text
    if isinstance(text, bool) or not isinstance(text, (str, int, np.integer)):
        raise CRSError(f"unknown CRS {text!r}: expected a string or an EPSG code")
    if isinstance(text, (int, np.integer)):
        if text <= 0:
            raise CRSError(f"unknown CRS {int(text)!r}: not an EPSG code")
        return _epsg_spec(int(text))
    if not text.strip():
        raise CRSError("unknown CRS '': empty CRS name")
    return _parse_text(text)


# --- transformers ------------------------------------------------------------------------------------------

_local = threading.local()


def _transformer(epsg: int, to_wgs: bool) -> pyproj.Transformer:
    """Return a cached Transformer between EPSG:``epsg`` and WGS84 (lon/lat order), one cache per thread."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (epsg, to_wgs)
    tr = cache.get(key)
    if tr is None:
        src, dst = (epsg, 4326) if to_wgs else (4326, epsg)
        tr = cache[key] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return tr


def to_wgs84(x: ArrayLike, y: ArrayLike, crs: str | int | CrsSpec) -> tuple[NDArray, NDArray]:
    """Convert coordinates in ``crs`` to WGS84 lon/lat.

    EPSG:4326 and EPSG:4490 (CGCS2000, equal to WGS84 at better than 0.1 m) pass through unchanged;
    GCJ-02 and BD-09 are inverted by iteration; other EPSG codes go through a cached pyproj
    Transformer with ``always_xy=True`` (x = easting or longitude, y = northing or latitude).

    Parameters
    ----------
    x, y : array_like
        Coordinates in ``crs``, x first (easting / longitude).
    crs : str, int or CrsSpec
        Source CRS, anything :func:`parse_crs` accepts.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        WGS84 longitude and latitude in degrees (0-d arrays for scalar input).

    Raises
    ------
    CRSError
        If ``crs`` is not recognised.
    """
    return _convert(x, y, crs, to_wgs=True)


def _convert(x: ArrayLike, y: ArrayLike, crs: str | int | CrsSpec, to_wgs: bool) -> tuple[NDArray, NDArray]:
    """Convert between ``crs`` and WGS84 in either direction (GCJ-02/BD-09 by formula, others by PROJ)."""
    spec = parse_crs(crs)
    xs, ys, _ = _as_arrays(x, y)
    if spec.kind in _CHINA_DATUMS:
        out_x, out_y = _CHINA_DATUMS[spec.kind][0 if to_wgs else 1](xs, ys)
        return np.asarray(out_x), np.asarray(out_y)
    if spec.epsg in PASS_THROUGH_EPSG:
        return xs.copy(), ys.copy()
    out_x, out_y = _transformer(spec.epsg, to_wgs).transform(xs, ys)
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str | int | CrsSpec) -> tuple[NDArray, NDArray]:
    """Convert WGS84 lon/lat to coordinates in ``crs``.

    The inverse of :func:`to_wgs84`, with the same pass-through and caching rules.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 longitude and latitude in degrees.
    crs : str, int or CrsSpec
        Target CRS, anything :func:`parse_crs` accepts.

    Returns
    -------
    (x, y) : tuple of numpy.ndarray
        Coordinates in ``crs``, x first (0-d arrays for scalar input).

    Raises
    ------
    CRSError
        If ``crs`` is not recognised.
    """
    return _convert(lon, lat, crs, to_wgs=False)


#: The Chinese obfuscated datums: kind -> (to WGS84, from WGS84).
_CHINA_DATUMS = {"gcj02": (gcj02_to_wgs84, wgs84_to_gcj02), "bd09": (bd09_to_wgs84, wgs84_to_bd09)}
