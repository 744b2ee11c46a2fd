"""OGC API – Features without a web framework: collections, queryables, items and queries of one data version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.geo import coverage
from app.geo._coverage_params import make_params
from app.geo._features_crs import (
    CGCS2000,
    CRS84,
    FeaturesError,
    normalise_crs,
    parse_bbox,
    supported_crs,
)
from app.geo._features_table import RESERVED, Table, check_datetime, layer_table, result_table
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES

__all__ = [
    "CGCS2000", "COLLECTIONS", "CRS84", "DEFAULT_LIMIT", "MAX_LIMIT", "RESERVED", "CollectionDef", "CollectionNotFound",
    "FeatureNotFound", "FeaturePage", "FeaturesError", "SUPPORTED_CRS", "available", "collection",
    "collections", "item", "normalise_crs", "query", "queryables",
]

#: Largest page; a larger ``limit`` is answered with this many features (Part 1: not an error).
MAX_LIMIT = 10000
#: Page size when ``limit`` is omitted.
DEFAULT_LIMIT = 10


class CollectionNotFound(FeaturesError):
    """No collection of that id in this data version (404)."""

    default_status = 404
    default_key = "features.collection"


class FeatureNotFound(FeaturesError):
    """No feature of that id in the collection (404)."""

    default_status = 404
    default_key = "features.item"


@dataclass(frozen=True)
class CollectionDef:
    """One collection: where its rows come from and what it is called.

    Attributes
    ----------
    id : str
        The collection id in URLs (``grids``, ``facilities-park``, ``coverage-bus_stop``).
    kind : str
        ``layer`` (a stored layer), ``category`` (the facilities of one category) or ``coverage``
        (a coverage preset's result per grid).
    layer : str
        The stored layer the rows (or, for coverage, the geometries) come from.
    title_zh, title_en : str
        Titles.
    description_zh, description_en : str
        Descriptions.
    category : str or None
        The facility category (``kind == "category"``).
    preset : str or None
        The key of :data:`app.geo.coverage.PRESETS` (``kind == "coverage"``).
    """

    id: str
    kind: str
    layer: str
    title_zh: str
    title_en: str
    description_zh: str = ""
    description_en: str = ""
    category: str | None = None
    preset: str | None = None

    def title(self, lang: str = "zh") -> str:
        """The title in ``lang`` (``zh`` or ``en``)."""
        return self.title_en if lang == "en" else self.title_zh

    def description(self, lang: str = "zh") -> str:
        """The description in ``lang`` (``zh`` or ``en``)."""
        return self.description_en if lang == "en" else self.description_zh

    def coverage_params(self) -> coverage.CoverageParams | None:
        """The coverage question of a coverage collection: the preset's requirements, straight line."""
        if self.preset is None:
            return None
        return make_params(mode="straight", preset=self.preset)


def _definitions() -> dict[str, CollectionDef]:
    layers = (
        ("divisions", "乡镇（街道）", "Divisions", "乡镇和街道的边界", "Towns and sub-districts"),
        ("committees", "村（社区）委员会", "Committees", "社区居委会和村委会的辖区",
         "Residents' committees (communities) and villagers' committees"),
        ("grids", "网格", "Grids", "网格化管理的网格，含户数、人口和面积",
         "Grid-management grids with households, population and area"),
        ("facilities", "设施", "Facilities", "全部公共设施（各类别另有集合）",
         "All public facilities (each category is also a collection)"),
        ("addresses", "地址", "Addresses", "门牌和楼栋地址，含登记人口", "House and building addresses with residents"),
        ("roads", "道路", "Roads", "道路中心线", "Road centre lines"),
    )
    out = {cid: CollectionDef(cid, "layer", cid, zh, en, dzh, den) for cid, zh, en, dzh, den in layers}
    for key, cat in CATEGORIES.items():
        cid = f"facilities-{key}"
        out[cid] = CollectionDef(cid, "category", "facilities", f"设施：{cat.zh}", f"Facilities: {cat.en}",
                                 f"类别为“{cat.zh}”的设施", f"Facilities of category {key}", category=key)
    for key, p in coverage.PRESETS.items():
        cid = f"coverage-{key}"
        radius = f"{max(p.radii):g} m"
        out[cid] = CollectionDef(
            cid, "coverage", "grids", f"覆盖分析：{p.zh}（{radius}，按网格）", f"Coverage: {p.en} ({radius}, by grid)",
            f"最新数据版本上按网格计算的覆盖结果，直线距离 {radius}。{p.standard}",
            f"Coverage per grid on the current data version, straight line {radius}. {p.standard}", preset=key)
    return out


#: Every collection gridmap can serve, by id; :func:`available` says which a data version has: the layers
#: (divisions, committees, grids, facilities, addresses, roads), one per facility category
#: (``facilities-bus_stop``, ...) and one per coverage preset (``coverage-bus_stop``, ...: the preset's largest
#: radius, straight line, one feature per grid). Coordinates follow the axis order of the CRS asked for (CRS84
#: lon/lat, EPSG:4490 lat/lon, EPSG:4542 northing/easting). Personal fields and extra (non-schema) attributes
#: appear only with ``personal=True``: not in properties, queryables, filters or sort keys otherwise.
COLLECTIONS: dict[str, CollectionDef] = _definitions()

#: Descriptions of the coverage result columns (the queryables of ``coverage-*`` collections).
COVERAGE_DOCS: dict[str, str] = {
    "code": "grid code", "name": "grid name", "committee_code": "code of the grid's committee",
    "committee_name": "name of the grid's committee", "division_code": "code of the grid's division",
    "division_name": "name of the grid's division", "residents": "residents in the grid (address gazetteer)",
    "households": "households in the grid", "residents_covered": "residents within reach",
    "residents_uncovered": "residents not within reach", "residents_pct": "share of residents within reach, %",
    "area_m2": "grid area, m²", "area_covered_m2": "area within reach, m²", "area_pct": "share of area within reach, %",
    "dist_mean_m": "mean distance to the nearest facility, weighted by residents, m",
    "dist_median_m": "median distance to the nearest facility, m", "dist_p90_m": "90th percentile distance, m",
    "dist_max_m": "largest distance to the nearest facility, m",
    "residents_unreachable": "residents without a route (walking only)",
    "facilities": "facilities of the categories in the grid", "capacity": "parking spaces in the grid",
    "spaces_per_100_households": "parking spaces per 100 households",
    "below_target": "underserved: a required kind is out of reach (its residents share below the preset's target)",
    "missing": "required facility kinds the grid lacks, comma-separated category keys",
    **{f"pct_{k}": f"share of residents within the distance of {c.en.lower()}s, %" for k, c in CATEGORIES.items()},
}


@dataclass
class FeaturePage:
    """One page of a query, in the CRS asked for.

    Attributes
    ----------
    features : list of dict
        GeoJSON features (``id`` = the code or id, ``properties``, ``geometry`` in :attr:`crs`'s axis order).
    number_matched : int
        Features matching the query on all pages.
    number_returned : int
        Features on this page.
    limit, offset : int
        The page asked for (``limit`` after capping at :data:`MAX_LIMIT`).
    crs : str
        The OGC URI of the coordinates (for the ``Content-Crs`` header).
    version : str
        The data version.
    collection : str
        The collection id.

    Mapping access works too: ``page["features"]``, ``page["numberMatched"]``, ``page["numberReturned"]``.
    """

    features: list[dict[str, Any]]
    number_matched: int
    number_returned: int
    limit: int
    offset: int
    crs: str
    version: str
    collection: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def numberMatched(self) -> int:  # noqa: N802 - the OGC member name
        """:attr:`number_matched` under its OGC name."""
        return self.number_matched

    @property
    def numberReturned(self) -> int:  # noqa: N802 - the OGC member name
        """:attr:`number_returned` under its OGC name."""
        return self.number_returned

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        nxt = self.offset + self.limit
        return nxt if nxt < self.number_matched else None

    @property
    def prev_offset(self) -> int | None:
        """The offset of the previous page, or None on the first one."""
        return max(self.offset - self.limit, 0) if self.offset > 0 else None

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection with ``numberMatched`` and ``numberReturned`` (the blueprint adds links)."""
        return {"type": "FeatureCollection", "features": self.features, "numberMatched": self.number_matched,
                "numberReturned": self.number_returned}

    def __getitem__(self, key: str) -> Any:
        return self.to_geojson()[key]


def SUPPORTED_CRS(ds: Dataset) -> list[str]:  # noqa: N802 - the name the API documents
    """The CRS every collection offers, as OGC URIs: CRS84 first, EPSG:4490, then ``ds.metric_crs``."""
    return supported_crs(ds.metric_crs)


def available(ds: Dataset, cdef: CollectionDef) -> bool:
    """Whether this data version has the layers a collection needs (coverage: grids, addresses, facilities)."""
    names = set(ds.store.layer_names())
    if cdef.kind == "coverage":
        return {"grids", "addresses", "facilities"} <= names
    return cdef.layer in names


def collections(ds: Dataset, *, personal: bool, lang: str = "zh") -> list[dict[str, Any]]:
    """Describe every collection of this data version, in :data:`COLLECTIONS` order.

    Cheap: extents come from the stored layers (coverage collections take the grids'), so no coverage
    analysis runs; results are computed by the first :func:`query` of a coverage collection.

    Parameters
    ----------
    ds : Dataset
        The data version.
    personal : bool
        Whether the caller may see personal data (descriptions do not differ; kept for symmetry).
    lang : str, keyword
        ``zh`` (default) or ``en`` for titles and descriptions.

    Returns
    -------
    list of dict
        One dict per collection as :func:`collection` gives it (no links: the web adds them).
    """
    return [_describe(ds, cdef, lang) for cdef in COLLECTIONS.values() if available(ds, cdef)]


def collection(ds: Dataset, cid: str, *, personal: bool, lang: str = "zh") -> dict[str, Any]:
    """Describe one collection: ``id``, ``title``, ``description``, ``extent``, ``itemType``, ``crs``, ``storageCrs``.

    ``extent.spatial`` is a CRS84 bbox (absent for an empty collection); coverage collections add
    ``coverage`` (the preset, categories, radius, mode and target). ``lang`` (keyword) picks the language.

    Raises
    ------
    CollectionNotFound
        (404) when this data version has no such collection.
    """
    return _describe(ds, _lookup(ds, cid), lang)


def queryables(ds: Dataset, cid: str, *, personal: bool, lang: str = "zh") -> dict[str, Any]:
    """The JSON Schema of a collection's properties, the ones the caller may see (Part 3 queryables).

    ``$schema``, ``type: object``, ``title``, ``properties`` (each ``type``, ``title``, ``description``;
    the id marked ``x-ogc-role: id``; ``geometry`` with its ``format``) and ``additionalProperties: false``.
    The web adds ``$id`` (the queryables URL). Without ``personal`` no personal field and no extra
    attribute appears. A coverage collection computes its result here if it is not cached yet.

    Raises
    ------
    CollectionNotFound
        (404) when this data version has no such collection.
    """
    cdef = _lookup(ds, cid)
    return _table(ds, cdef).schema(personal, cdef.title(lang))


def query(
    ds: Dataset,
    cid: str,
    *,
    limit: int | str | None = DEFAULT_LIMIT,
    offset: int | str | None = 0,
    bbox: str | Sequence[float] | None = None,
    bbox_crs: str | None = None,
    crs: str | None = None,
    filters: Mapping[str, Any] | None = None,
    sortby: str | Sequence[str] | None = None,
    personal: bool = False,
    datetime: str | None = None,
) -> FeaturePage:
    """One page of a collection's features.

    Parameters
    ----------
    ds : Dataset
        The data version.
    cid : str
        The collection id.
    limit : int or str
        Page size, at least 1 (default 10); above :data:`MAX_LIMIT` it is capped, as Part 1 asks.
    offset : int or str
        Features to skip, at least 0; past the end gives an empty page.
    bbox : str or sequence of float, optional
        ``"minx,miny,maxx,maxy"`` (4 or 6 numbers) in the axis order of ``bbox_crs``; features whose
        geometry intersects the box match.
    bbox_crs : str, optional
        The box's CRS (default CRS84), one of :func:`SUPPORTED_CRS`; checked even without ``bbox``.
    crs : str, optional
        The CRS of the answer (default CRS84), one of :func:`SUPPORTED_CRS`.
    filters : mapping, optional
        Property name -> value (or list of values, any of which matches): equality on queryable
        properties. Keys in :data:`RESERVED` (``f``, ``limit``, ...) are ignored, so the web may pass
        the whole query string.
    sortby : str or sequence of str, optional
        ``name``, ``+name`` or ``-name``, several comma-separated; ties and the default keep id order.
    personal : bool
        Whether personal fields and extra attributes may appear (and be filtered and sorted by).
    datetime : str, keyword, optional
        Checked as an RFC 3339 instant or interval; no collection has time properties yet, so it
        selects nothing away.

    Returns
    -------
    FeaturePage
        The features, ``number_matched``, ``number_returned`` and what the web needs for links.

    Raises
    ------
    CollectionNotFound
        (404) for an unknown collection.
    FeaturesError
        (400) for a bad limit, offset, bbox, CRS (detail ``supported``), datetime, unknown property
        (detail ``queryables``) or a value of the wrong type.
    """
    cdef = _lookup(ds, cid)
    n_limit = min(_integer(limit, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    n_offset = _integer(offset, "offset", 0, 0)
    supported = SUPPORTED_CRS(ds)
    out_crs = normalise_crs(crs, supported, "crs")
    area = parse_bbox(bbox, bbox_crs, supported) if bbox not in (None, "") else None
    if area is None and bbox_crs not in (None, ""):
        normalise_crs(bbox_crs, supported, "bbox-crs")
    check_datetime(datetime)
    table = _table(ds, cdef)
    if area is None:
        rows = np.arange(len(table.gdf))
    else:
        rows = np.unique(table.tree.query(area, predicate="intersects"))
    rows = table.select(rows, filters, personal)
    rows = table.sort(rows, sortby, personal)
    page = rows[n_offset:n_offset + n_limit]
    feats = table.features(page, personal, out_crs)
    return FeaturePage(feats, int(len(rows)), len(feats), n_limit, n_offset, out_crs, ds.version, cid)


def item(ds: Dataset, cid: str, fid: str, *, crs: str | None = None, personal: bool = False) -> dict[str, Any]:
    """One feature of a collection by id (GeoJSON Feature in ``crs``, default CRS84).

    Raises
    ------
    CollectionNotFound, FeatureNotFound
        (404) when there is no such collection or feature.
    FeaturesError
        (400) for an unsupported CRS.
    """
    cdef = _lookup(ds, cid)
    out_crs = normalise_crs(crs, SUPPORTED_CRS(ds), "crs")
    table = _table(ds, cdef)
    row = table.rows.get(str(fid))
    if row is None:
        raise FeatureNotFound(f"collection {cid!r} has no feature {fid!r}")
    return table.features(np.array([row]), personal, out_crs)[0]


# -- internals --------------------------------------------------------------------------------


def _lookup(ds: Dataset, cid: str) -> CollectionDef:
    cdef = COLLECTIONS.get(str(cid))
    if cdef is None or not available(ds, cdef):
        raise CollectionNotFound(f"no collection {cid!r}")
    return cdef


def _table(ds: Dataset, cdef: CollectionDef) -> Table:
    """The collection's :class:`Table`, built once per data version."""
    return ds.cached(f"features.table.{cdef.id}", lambda: _build(ds, cdef))


def _build(ds: Dataset, cdef: CollectionDef) -> Table:
    if cdef.kind == "layer":
        return layer_table(ds.layer(cdef.layer), cdef.layer)
    if cdef.kind == "category":
        fac = ds.layer("facilities")
        if "category" not in fac.columns:
            return layer_table(fac.iloc[0:0], "facilities")
        return layer_table(fac[fac["category"].astype(object).eq(cdef.category).to_numpy(dtype=bool)], "facilities")
    params = cdef.coverage_params()
    assert params is not None
    result = coverage.analyse_params(ds, params, "grid")
    return result_table(result.geodataframe("grid"), COVERAGE_DOCS)


def _describe(ds: Dataset, cdef: CollectionDef, lang: str) -> dict[str, Any]:
    source = COLLECTIONS["grids"] if cdef.kind == "coverage" else cdef
    bounds = _table(ds, source).bounds
    out: dict[str, Any] = {"id": cdef.id, "title": cdef.title(lang), "description": cdef.description(lang),
                           "itemType": "feature", "crs": SUPPORTED_CRS(ds), "storageCrs": CRS84}
    if bounds is not None:
        out["extent"] = {"spatial": {"bbox": [bounds], "crs": CRS84}}
    params = cdef.coverage_params()
    if params is not None:
        out["coverage"] = {"preset": cdef.preset, **params.to_dict(),
                           "standard": coverage.PRESETS[str(cdef.preset)].standard}
    return out


def _integer(value: Any, name: str, default: int, minimum: int) -> int:
    """A paging parameter as an int of at least ``minimum`` (None or ``""``: ``default``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise FeaturesError(f"{name} must be an integer, got {value!r}", key=f"features.{name}")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise FeaturesError(f"{name} must be an integer, got {value!r}", key=f"features.{name}") from None
    if number < minimum:
        raise FeaturesError(f"{name} must be at least {minimum}, got {number}", key=f"features.{name}")
    return number
