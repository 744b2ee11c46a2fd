"""CRS of the OGC API – Features core (Part 2): OGC CRS URIs, authority axis order, geometry and bbox transforms."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyproj
import shapely

from app.errors import GridmapError
from app.geo.crs import PASS_THROUGH_EPSG

#: The OGC URI of WGS84 longitude/latitude (the default of every request and the storage CRS).
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: The OGC URI prefix of EPSG codes.
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
#: CGCS2000 geographic (China's datum; latitude first, as EPSG defines it).
CGCS2000 = EPSG_URI + "4490"
#: Decimal places of coordinates in answers: degrees (about 1 cm) and metres (1 mm).
DECIMALS_DEG, DECIMALS_M = 7, 3

_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/(OGC|EPSG)/[^/]+/([A-Za-z0-9]+)/?$", re.IGNORECASE)
_CURIE = re.compile(r"^\[?(OGC|EPSG):(?:[^:\]]*:)?([A-Za-z0-9]+)\]?$", re.IGNORECASE)
_local = threading.local()


class FeaturesError(GridmapError, ValueError):
    """A Features request that cannot be answered: a bad parameter (400) or, in subclasses, a missing thing."""

    default_key = "features"


@dataclass(frozen=True)
class OutputCrs:
    """How to write coordinates in one supported CRS.

    Attributes
    ----------
    uri : str
        The OGC URI.
    epsg : int or None
        Its EPSG code (None for CRS84).
    swap : bool
        True when the CRS's first axis is northing/latitude (EPSG:4490, EPSG:4542): coordinates are
        written ``[y, x]`` as the standard demands (coordinates follow the CRS's axis order).
    geographic : bool
        Degrees rather than metres.
    """

    uri: str
    epsg: int | None
    swap: bool
    geographic: bool

    @property
    def decimals(self) -> int:
        """Decimal places written in this CRS."""
        return DECIMALS_DEG if self.geographic else DECIMALS_M

    def from_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` WGS84 lon/lat rows as coordinates of this CRS, in its axis order, rounded."""
        out = np.asarray(xy, dtype=float)
        if self.epsg is not None and self.epsg not in PASS_THROUGH_EPSG:
            x, y = _transformer(self.epsg, True).transform(out[:, 0], out[:, 1])
            out = np.column_stack([x, y])
        if self.swap:
            out = out[:, ::-1]
        return np.round(out, self.decimals)

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` coordinates of this CRS (in its axis order) as WGS84 lon/lat rows."""
        out = np.asarray(xy, dtype=float)
        if self.swap:
            out = out[:, ::-1]
        if self.epsg is not None and self.epsg not in PASS_THROUGH_EPSG:
            lon, lat = _transformer(self.epsg, False).transform(out[:, 0], out[:, 1])
            out = np.column_stack([lon, lat])
        return out


def epsg_uri(code: int) -> str:
    """The OGC URI of an EPSG code: ``http://www.opengis.net/def/crs/EPSG/0/<code>``."""
    return f"{EPSG_URI}{int(code)}"


def supported_crs(metric_crs: str) -> list[str]:
    """CRS84, EPSG:4490 and the metric CRS (``"EPSG:4542"``) as OGC URIs, without repeats.

    A metric CRS that is no EPSG code PROJ knows is left out.
    """
    out = [CRS84, CGCS2000]
    found = re.fullmatch(r"EPSG:(\d+)", str(metric_crs).strip(), re.IGNORECASE)
    if found and _known(int(found.group(1))):
        uri = epsg_uri(int(found.group(1)))
        if uri not in out:
            out.append(uri)
    return out


def normalise_crs(value: Any, supported: Sequence[str], param: str = "crs") -> str:
    """The canonical URI of a requested CRS, one of ``supported``.

    Accepts the OGC URIs (http or https), the safe CURIEs ``[EPSG:4490]`` and ``[OGC:CRS84]`` and the
    short forms ``EPSG:4490``, ``OGC:CRS84`` and ``CRS84``. None or ``""`` is CRS84.

    Raises
    ------
    FeaturesError
        (400, key ``features.crs``, detail ``supported``) for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return CRS84
    text = str(value).strip()
    found = _URI.match(text) or _CURIE.match(text)
    if found:
        auth, code = found.group(1).upper(), found.group(2).upper()
    elif text.upper() == "CRS84":
        auth, code = "OGC", "CRS84"
    else:
        auth = code = ""
    uri = CRS84 if (auth, code) == ("OGC", "CRS84") else epsg_uri(int(code)) if auth == "EPSG" and code.isdigit() else ""
    if uri not in supported:
        raise FeaturesError(f"unsupported {param} {text!r}; supported: {', '.join(supported)}",
                            key="features.crs", supported=list(supported))
    return uri


@lru_cache(maxsize=32)
def output_crs(uri: str) -> OutputCrs:
    """The :class:`OutputCrs` of a canonical URI (from :func:`normalise_crs`)."""
    if uri == CRS84:
        return OutputCrs(uri, None, False, True)
    epsg = int(uri.rsplit("/", 1)[1])
    crs = pyproj.CRS.from_epsg(epsg)
    first = crs.axis_info[0].direction.lower() if crs.axis_info else "east"
    return OutputCrs(uri, epsg, first in ("north", "south"), bool(crs.is_geographic))


def transform_geometries(geoms: np.ndarray, uri: str) -> np.ndarray:
    """WGS84 lon/lat geometries in the CRS ``uri``, in its axis order, coordinates rounded."""
    out = output_crs(uri)
    return shapely.transform(np.asarray(geoms, dtype=object), out.from_lonlat)


def parse_bbox(value: Any, bbox_crs: Any, supported: Sequence[str]) -> shapely.Geometry:
    """The area of a ``bbox`` parameter as a WGS84 lon/lat (multi)polygon.

    Parameters
    ----------
    value : str or sequence of float
        ``"minx,miny,maxx,maxy"`` (or six numbers with heights, which are ignored) in the axis order of
        ``bbox_crs``: CRS84 ``lon,lat,lon,lat``; EPSG:4490 ``lat,lon,lat,lon``; EPSG:4542
        ``northing,easting,northing,easting``. In a geographic CRS a first longitude above the second
        means the box crosses the antimeridian.
    bbox_crs : str or None
        The ``bbox-crs`` (default CRS84).
    supported : sequence of str
        The supported CRS URIs.

    Returns
    -------
    shapely.Geometry
        The box, or for a projected CRS the box's densified outline, in WGS84 lon/lat.

    Raises
    ------
    FeaturesError
        For a malformed box or an unsupported CRS.
    """
    out = output_crs(normalise_crs(bbox_crs, supported, "bbox-crs"))
    nums = _numbers(value)
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    elif len(nums) != 4:
        raise FeaturesError(f"bbox needs 4 (or 6) comma-separated numbers, got {len(nums)}", key="features.bbox")
    (a1, b1), (a2, b2) = (nums[0], nums[1]), (nums[2], nums[3])
    if out.swap:  # the CRS's axis order -> x, y
        (a1, b1), (a2, b2) = (b1, a1), (b2, a2)
    if b1 > b2:
        raise FeaturesError("bbox: the lower corner lies north of the upper corner", key="features.bbox")
    if not out.geographic:
        if a1 > a2:
            raise FeaturesError("bbox: the lower corner lies east of the upper corner", key="features.bbox")
        ring = shapely.segmentize(shapely.box(a1, b1, a2, b2), max(a2 - a1, b2 - b1, 1.0) / 64)
        xy = shapely.get_coordinates(ring)
        if out.swap:
            xy = xy[:, ::-1]
        return shapely.polygons(out.to_lonlat(xy))
    if not (-90 <= b1 <= 90 and -90 <= b2 <= 90):
        raise FeaturesError("bbox: latitudes must lie between -90 and 90", key="features.bbox")
    if a1 > a2:  # crosses the antimeridian
        return shapely.union(shapely.box(a1, b1, 180.0, b2), shapely.box(-180.0, b1, a2, b2))
    return shapely.box(a1, b1, a2, b2)


def _numbers(value: Any) -> list[float]:
    """The numbers of a bbox given as text or a sequence, all finite."""
    parts = value.split(",") if isinstance(value, str) else list(value) if value is not None else []
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise FeaturesError(f"bbox must be comma-separated numbers, got {value!r}", key="features.bbox") from None
    if not all(math.isfinite(n) for n in nums):
        raise FeaturesError(f"bbox numbers must be finite, got {value!r}", key="features.bbox")
    return nums


@lru_cache(maxsize=32)
def _known(epsg: int) -> bool:
    try:
        pyproj.CRS.from_epsg(epsg)
    except pyproj.exceptions.CRSError:
        return False
    return True


def _transformer(epsg: int, forward: bool) -> pyproj.Transformer:
    """WGS84 lon/lat -> EPSG ``epsg`` (x=easting, y=northing) when ``forward``, else back; one per thread
    (pyproj transformers must not be shared between threads)."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    tr = cache.get((epsg, forward))
    if tr is None:
        src, dst = (4326, epsg) if forward else (epsg, 4326)
        tr = cache[(epsg, forward)] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return tr
