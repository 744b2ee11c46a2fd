"""The gridmap data model: layer names, fields, code schemes and the facility vocabulary."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Metric CRS for Jiayuguan: CGCS2000 / 3-degree Gauss-Kruger CM 99E (the default; see :func:`metric_crs_for`).
METRIC_CRS = "EPSG:4542"
#: Area of use of :data:`METRIC_CRS` as (west, south, east, north) lon/lat, from the EPSG registry.
METRIC_CRS_AREA: tuple[float, float, float, float] = (97.5, 21.43, 100.5, 42.76)
#: CGCS2000 3-degree Gauss-Kruger zones: central meridian (°E) -> (EPSG code, south, north), the latitudes
#: of each zone's area of use in the EPSG registry (China between CM-1.5° and CM+1.5°). EPSG:4534 = CM 75E
#: ... EPSG:4554 = CM 135E. Kept here, not taken from pyproj, because schema is a leaf module.
GK_ZONES: dict[int, tuple[int, float, float]] = {
    75: (4534, 35.81, 40.65), 78: (4535, 31.03, 41.83), 81: (4536, 29.95, 45.88), 84: (4537, 28.26, 47.23),
    87: (4538, 27.8, 49.18), 90: (4539, 27.32, 48.42), 93: (4540, 27.71, 45.13), 96: (4541, 28.23, 44.5),
    99: (4542, 21.43, 42.76), 102: (4543, 21.13, 42.69), 105: (4544, 22.5, 42.21), 108: (4545, 18.19, 42.47),
    111: (4546, 18.11, 45.11), 114: (4547, 21.52, 45.45), 117: (4548, 22.6, 49.88), 120: (4549, 24.43, 53.33),
    123: (4550, 28.22, 53.56), 126: (4551, 40.19, 53.2), 129: (4552, 41.37, 50.25), 132: (4553, 42.42, 48.88),
    135: (4554, 45.85, 48.4),
}
#: Storage CRS: RFC 7946 GeoJSON is WGS84 lon/lat.
STORAGE_CRS = "EPSG:4326"
#: Decimal places kept for lon/lat in stored GeoJSON (about 0.1 m).
COORD_PRECISION = 6

#: Layers in a geodata folder, in load order. Each is ``<name>.geojson``.
LAYERS: tuple[str, ...] = ("divisions", "committees", "grids", "facilities", "addresses", "roads")
#: Levels of the governance hierarchy that results are summed up to, finest first.
LEVELS: tuple[str, ...] = ("grid", "committee", "division", "city")
#: How distance to a facility is measured: a straight line in the metric CRS, or walking along the roads.
DISTANCE_MODES: tuple[str, ...] = ("straight", "walk")

#: Geometry type each layer must hold.
GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "divisions": ("Polygon", "MultiPolygon"),
    "committees": ("Polygon", "MultiPolygon"),
    "grids": ("Polygon", "MultiPolygon"),
    "facilities": ("Point",),
    "addresses": ("Point",),
    "roads": ("LineString", "MultiLineString"),
}


@dataclass(frozen=True)
class Field:
    """One attribute of a layer."""

    name: str
    dtype: str  # "str" | "int" | "float"
    required: bool = True
    personal: bool = False
    doc: str = ""


FIELDS: dict[str, tuple[Field, ...]] = {
    "divisions": (
        Field("code", "str", doc="unique code of the town/sub-district; cn-9-12-15: 9 digits, e.g. 620201001"),
        Field("name", "str", doc="Chinese name, e.g. 雄关街道"),
        Field("kind", "str", doc="subdistrict (街道) or town (镇)"),
    ),
    "committees": (
        Field("code", "str", doc="unique code; cn-9-12-15: 12 digits, division code + 001-199 (community) "
                                 "or 200-399 (village)"),
        Field("name", "str", doc="Chinese name, e.g. 建设社区"),
        Field("kind", "str", doc="community (社区居委会) or village (村委会)"),
        Field("division_code", "str", doc="code of the division it lies in"),
    ),
    "grids": (
        Field("code", "str", doc="unique code; cn-9-12-15: 15 digits, committee code + 3-digit sequence, "
                                 "west->east then north->south"),
        Field("name", "str", doc="Chinese name, e.g. 建设社区第3网格"),
        Field("committee_code", "str", doc="code of the committee it lies in"),
        Field("division_code", "str", doc="code of the division it lies in"),
        Field("households", "int", doc="number of households (户)"),
        Field("population", "int", doc="resident population (人); equals the sum of its addresses' residents"),
        Field("area_m2", "float", doc="area in square metres, computed in the data's metric CRS (metric_crs_for)"),
        Field("leader_name", "str", personal=True, doc="grid leader (网格长), synthetic"),
        Field("leader_phone", "str", personal=True, doc="grid leader's phone, synthetic"),
        Field("worker_name", "str", personal=True, doc="full-time grid worker (专职网格员), synthetic"),
        Field("worker_phone", "str", personal=True, doc="full-time grid worker's phone, synthetic"),
        Field("instructor_name", "str", personal=True, doc="grid instructor (网格指导员), synthetic"),
        Field("instructor_phone", "str", personal=True, doc="grid instructor's phone, synthetic"),
        Field("parttime_count", "int", doc="number of part-time grid workers (兼职网格员, the M+X)"),
    ),
    "facilities": (
        Field("id", "str", doc="stable identifier, e.g. F00001"),
        Field("name", "str", doc="Chinese name"),
        Field("category", "str", doc="one of CATEGORIES"),
        Field("subtype", "str", required=False, doc="finer type within the category, see SUBTYPES"),
        Field("cjt214_code", "str", required=False, doc="CJ/T 214 component code where one exists"),
        Field("capacity", "int", required=False, doc="parking spaces (parking only)"),
        Field("grid_code", "str", doc="code of the grid it lies in"),
    ),
    "addresses": (
        Field("id", "str", doc="stable identifier, e.g. A000001"),
        Field("address", "str", doc="full normalised address, {street}{number}号 or {street}{number}号楼, e.g. 新华路12号"),
        Field("kind", "str", doc="road (road + house number) or compound (compound + building number)"),
        Field("street", "str", doc="road name (kind=road) or residential compound name (kind=compound)"),
        Field("number", "int", doc="house number (kind=road) or building number (kind=compound)"),
        Field("residents", "int", doc="residents registered at this address"),
        Field("households", "int", doc="households registered at this address"),
        Field("grid_code", "str", doc="code of the grid it lies in"),
        Field("aliases", "str", required=False,
              doc="other names of the row's street (road or compound): old names, abbreviations, common names, "
                  "separated by |, e.g. 嘉和苑|嘉和小区老区; from an alias column (别名, 曾用名, 简称) or an alias file"),
    ),
    "roads": (
        Field("id", "str", doc="stable identifier, e.g. R0001"),
        Field("name", "str", doc="Chinese road name, e.g. 新华路"),
        Field("kind", "str", doc="arterial, secondary, local or rural"),
    ),
}

#: Fields that hold personal data; they never reach a public page, API response or export.
PERSONAL_FIELDS: frozenset[str] = frozenset(
    f.name for fields in FIELDS.values() for f in fields if f.personal
)


@dataclass(frozen=True)
class Category:
    """A facility category with its labels and CJ/T 214 component code."""

    key: str
    zh: str
    en: str
    cjt214_code: str | None
    icon: str  # Font Awesome 6 icon name (without the fa- prefix)
    color: str
    has_capacity: bool = False


CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in (
        Category("bus_stop", "公交站", "Bus stop", "0203", "bus", "#1f77b4"),
        Category("park", "公园绿地", "Park", "0405", "tree", "#2ca02c"),
        Category("parking", "停车场", "Parking", "0201", "square-parking", "#7f7f7f", has_capacity=True),
        Category("library", "图书馆分馆", "Library branch", None, "book", "#9467bd"),
        Category("study_room", "社区自习室", "Community study room", None, "book-open-reader", "#8c564b"),
        Category("senior_university", "老年大学分校", "Senior university branch", None, "graduation-cap", "#e377c2"),
        Category("tcm_clinic", "中医馆", "TCM clinic", None, "staff-snake", "#d62728"),
        Category("fitness", "健身点", "Fitness site", None, "dumbbell", "#ff7f0e"),
    )
}

#: Finer types inside a category.
SUBTYPES: dict[str, dict[str, tuple[str, str]]] = {
    "bus_stop": {"standard_platform": ("标准化站台", "Standard platform"), "stop": ("站点", "Stop")},
    "park": {
        "city_park": ("城市公园", "City park"),
        "pocket_park": ("口袋公园", "Pocket park"),
        "community_garden": ("社区花园", "Community garden"),
    },
    "parking": {"marked": ("标线车位", "Marked spaces"), "tidal": ("潮汐车位", "Tidal spaces")},
}

#: The Chinese statistical-division scheme's code patterns (the ``cn-9-12-15`` entry of :data:`CODE_SCHEMES`).
CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "divisions": re.compile(r"^[0-9]{9}$"),
    "committees": re.compile(r"^[0-9]{12}$"),
    "grids": re.compile(r"^[0-9]{15}$"),
}

#: Code schemes a city can declare (``metadata.json`` ``city.code_scheme``), each as layer -> code pattern.
#: ``free``: codes are unique, non-empty strings, nothing more. ``cn-9-12-15``: 9-digit divisions (town or
#: sub-district), 12-digit committees (division code + 001-199 community or 200-399 village) and 15-digit
#: grids (committee code + 3-digit sequence); only under it are digits checked, a grid's code checked to
#: start with its committee's, parent codes derived from code prefixes and committee kinds read from codes.
CODE_SCHEMES: dict[str, dict[str, re.Pattern[str]]] = {
    "free": {},
    "cn-9-12-15": CODE_PATTERNS,
}
#: The scheme of a city that declares none.
DEFAULT_CODE_SCHEME = "free"


def metric_crs_for(bounds: tuple[float, float, float, float]) -> str:
    """Return the metric CRS to measure data with the given lon/lat extent in.

    Inside China, the CGCS2000 3-degree Gauss-Kruger zone of the extent's centre (:data:`GK_ZONES`:
    the zone whose central meridian is nearest, when the centre lies within that zone's area of
    use; EPSG:4542 = CM 99E for Jiayuguan, EPSG:4544 = CM 105E for Lanzhou). Elsewhere, the WGS84
    UTM zone of the centre.

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees (WGS84 or CGCS2000 lon/lat), e.g. a
        GeoDataFrame's ``total_bounds``.

    Returns
    -------
    str
        ``"EPSG:4534"`` ... ``"EPSG:4554"`` (a Gauss-Kruger zone), ``"EPSG:326NN"`` (UTM zone NN
        north) or ``"EPSG:327NN"`` (south). Bounds that are not finite (an empty layer) give
        :data:`METRIC_CRS`.
    """
    west, south, east, north = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return METRIC_CRS
    lon = ((west + east) / 2 + 180.0) % 360.0 - 180.0
    lat = (south + north) / 2
    zone = GK_ZONES.get(3 * math.floor((lon + 1.5) / 3))
    if zone is not None and zone[1] <= lat <= zone[2]:
        return f"EPSG:{zone[0]}"
    utm = min(int((lon + 180.0) // 6) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + utm}"


def committee_kind_from_code(code: str, scheme: str = "cn-9-12-15") -> str | None:
    """Return ``community`` or ``village`` for a 12-digit committee code, or None if out of scheme.

    Parameters
    ----------
    code : str
        12-digit committee code.
    scheme : str
        The city's code scheme (a key of :data:`CODE_SCHEMES`); codes say a committee's kind only
        under ``cn-9-12-15``.

    Returns
    -------
    str or None
        ``"community"`` for 001-199, ``"village"`` for 200-399, otherwise (and under any other
        scheme) None.
    """
    if scheme != "cn-9-12-15" or not CODE_PATTERNS["committees"].match(code):
        return None
    seq = int(code[9:])
    if 1 <= seq <= 199:
        return "community"
    if 200 <= seq <= 399:
        return "village"
    return None


def public_columns(layer: str, columns: list[str]) -> list[str]:
    """Drop personal columns from a list of column names.

    Parameters
    ----------
    layer : str
        Layer name (unused for now; kept so rules can differ per layer).
    columns : list of str
        Column names.

    Returns
    -------
    list of str
        The columns without personal ones, in the same order.
    """
    return [c for c in columns if c not in PERSONAL_FIELDS]
