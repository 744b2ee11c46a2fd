"""Map layer data: simplified, quantised geometry, choropleth classes, facility layers and per-area details."""

from __future__ import annotations

import hashlib
import html
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo.schema import CATEGORIES, METRIC_CRS, PERSONAL_FIELDS, SUBTYPES
from app.geo.store import Dataset

#: Size of one quantisation step, degrees: 1e-5 deg is about 0.85 m east-west and 1.1 m north-south here.
QUANTUM = 1e-5
#: Coverage-preserving simplification tolerance, metres (EPSG:4542); shared borders stay shared.
SIMPLIFY_M = 2.0
#: Radius of the "nearby facilities" search around a grid or committee, metres.
NEARBY_M = 500.0
#: Number of classes of the choropleth.
N_CLASSES = 5
#: Sequential palette for the choropleth, light to dark (one colour per class).
PALETTE: tuple[str, ...] = ("#fff5d6", "#fdd08a", "#f99d59", "#e0603a", "#a8261f")
#: Datums the map can be drawn in: WGS84 (OSM, Tianditu, no basemap) or GCJ-02 (AMap tiles).
DATUMS = ("wgs84", "gcj02")


@dataclass(frozen=True)
class Attribute:
    """A grid attribute the choropleth can show."""

    key: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str


#: Choropleth attributes: population, households, density, total facilities and per-category counts.
ATTRIBUTES: dict[str, Attribute] = {
    a.key: a
    for a in (
        Attribute("population", "人口", "Population", "人", "people"),
        Attribute("households", "户数", "Households", "户", "households"),
        Attribute("density", "人口密度", "Population density", "人/km²", "people/km²"),
        Attribute("facilities", "设施总数", "Facilities", "处", "sites"),
        *(Attribute(f"fac_{c.key}", f"{c.zh}数量", f"{c.en} count", "处", "sites") for c in CATEGORIES.values()),
    )
}

_LOCK = threading.RLock()


def esc(value: Any) -> str:
    """Return ``value`` as HTML-escaped text ('' for missing values).

    Parameters
    ----------
    value : Any
        Any value from the data.

    Returns
    -------
    str
        Text safe to insert into HTML, quotes included.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _cached(ds: Dataset, key: str, build: Callable[[], Any]) -> Any:
    cache = ds.cache
    full = f"mapdata.{key}"
    hit = cache.get(full)
    if hit is None:
        with _LOCK:
            hit = cache.get(full)
            if hit is None:
                hit = build()
                cache[full] = hit
    return hit


# --- geometry encoding ---------------------------------------------------------------------------


def shift_geometries(geoms: np.ndarray, datum: str) -> np.ndarray:
    """Return WGS84 geometries in ``datum`` (GCJ-02 for AMap tiles; WGS84 unchanged).

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Lon/lat geometries in WGS84.
    datum : str
        ``wgs84`` or ``gcj02``.

    Returns
    -------
    ndarray of shapely geometries
        The geometries with every vertex shifted.
    """
    if datum == "wgs84":
        return geoms
    if datum != "gcj02":
        raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")
    from app.geo.crs import wgs84_to_gcj02

    def _shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _shift)


def _local_scale(geoms: np.ndarray) -> tuple[float, float]:
    """Metres per degree of longitude and latitude at the middle of ``geoms`` (local equirectangular)."""
    lat0 = float(np.mean(shapely.total_bounds(geoms)[[1, 3]]))
    return 111_320.0 * math.cos(math.radians(lat0)), 110_574.0


def simplify_coverage(geoms: np.ndarray | gpd.GeoSeries, tolerance_m: float = SIMPLIFY_M) -> np.ndarray:
    """Simplify a polygon coverage so neighbours keep identical shared borders.

    The simplification runs in a local equirectangular frame (metres at the coverage's middle
    latitude): at city scale that is within a fraction of a percent of EPSG:4542 distances,
    and it needs no reprojection.

    Parameters
    ----------
    geoms : array of shapely geometries or GeoSeries
        Polygons in WGS84 that tile an area (grids, committees or divisions).
    tolerance_m : float
        Simplification tolerance in metres.

    Returns
    -------
    ndarray of shapely geometries
        The simplified polygons, in WGS84.
    """
    geoms = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    if len(geoms) == 0:
        return geoms
    kx, ky = _local_scale(geoms)
    metric = shapely.transform(geoms, lambda c: c * np.array([kx, ky]))
    try:
        simple = shapely.coverage_simplify(metric, tolerance_m)
    except Exception:  # noqa: BLE001 - an invalid coverage falls back to per-polygon simplification
        simple = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    bad = shapely.is_empty(simple) | ~shapely.is_valid(simple)
    simple = np.where(bad, metric, simple)
    return shapely.transform(simple, lambda c: c / np.array([kx, ky]))


def _q(values: np.ndarray, origin: float) -> np.ndarray:
    return np.rint((values - origin) / QUANTUM).astype(np.int64)


def encode_polygons(geoms: np.ndarray, origin: tuple[float, float]) -> list[list[list[list[int]]]]:
    """Encode (multi)polygons as quantised, delta-coded integer rings, all at once.

    Each ring becomes ``[x0, y0, dx1, dy1, ...]`` in units of :data:`QUANTUM` degrees from
    ``origin``, without the closing vertex and without repeated vertices. Because quantisation
    is a pure function of a vertex, vertices shared by neighbours stay shared.

    Parameters
    ----------
    geoms : array of Polygon or MultiPolygon
        Lon/lat geometries.
    origin : (float, float)
        Lon/lat of the quantisation origin.

    Returns
    -------
    list
        Per geometry: one entry per polygon, each a list of rings (exterior first).
    """
    geoms = np.asarray(geoms, dtype=object)
    polys, poly_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    qx, qy = _q(coords[:, 0], origin[0]), _q(coords[:, 1], origin[1])
    # drop each ring's closing vertex and consecutive repeats (quantisation can merge vertices)
    last = np.r_[coord_ring[1:] != coord_ring[:-1], True]
    first = np.r_[True, coord_ring[1:] != coord_ring[:-1]]
    repeat = np.r_[False, (np.diff(qx) == 0) & (np.diff(qy) == 0)] & ~first
    keep = ~last & ~repeat
    qx, qy, cr = qx[keep], qy[keep], coord_ring[keep]
    start = np.r_[True, cr[1:] != cr[:-1]]
    dx = np.where(start, qx, np.r_[0, np.diff(qx)])
    dy = np.where(start, qy, np.r_[0, np.diff(qy)])
    flat = np.empty(2 * len(dx), dtype=np.int64)
    flat[0::2], flat[1::2] = dx, dy
    bounds = np.flatnonzero(start).tolist() + [len(dx)]
    ring_ids = cr[start]
    counts = np.diff(bounds)
    out: list[list[list[list[int]]]] = [[] for _ in range(len(geoms))]
    poly_slot: dict[int, list[list[int]]] = {}
    for rid, b0, n in zip(ring_ids.tolist(), bounds[:-1], counts.tolist(), strict=True):
        if n < 3:
            continue
        pid = int(ring_poly[rid])
        slot = poly_slot.get(pid)
        if slot is None:
            slot = poly_slot[pid] = []
            out[int(poly_geom[pid])].append(slot)
        slot.append(flat[2 * b0: 2 * (b0 + n)].tolist())
    return out


def encode_polygon(geom: BaseGeometry, origin: tuple[float, float]) -> list[list[list[int]]]:
    """Encode one (multi)polygon; see :func:`encode_polygons`.

    Parameters
    ----------
    geom : Polygon or MultiPolygon
        Lon/lat geometry.
    origin : (float, float)
        Lon/lat of the quantisation origin.

    Returns
    -------
    list
        One entry per polygon, each a list of rings (exterior first).
    """
    return encode_polygons(np.asarray([geom], dtype=object), origin)[0]


def decode_polygon(parts: list[list[list[int]]], origin: tuple[float, float]) -> list[list[list[tuple[float, float]]]]:
    """Invert :func:`encode_polygon` (for tests and exports): lon/lat rings, not closed.

    Parameters
    ----------
    parts : list
        Output of :func:`encode_polygon`.
    origin : (float, float)
        The same origin.

    Returns
    -------
    list
        Polygons as lists of rings of (lon, lat) tuples.
    """
    result = []
    for rings in parts:
        polys = []
        for ring in rings:
            arr = np.asarray(ring, dtype=np.int64)
            xs = np.cumsum(arr[0::2]) * QUANTUM + origin[0]
            ys = np.cumsum(arr[1::2]) * QUANTUM + origin[1]
            polys.append(list(zip(xs.tolist(), ys.tolist(), strict=True)))
        result.append(polys)
    return result


# --- attributes and classes ----------------------------------------------------------------------


def facility_counts(ds: Dataset) -> pd.DataFrame:
    """Return facility counts per grid: one column per category plus ``facilities`` (the total).

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    DataFrame
        Indexed by grid code, columns ``fac_<category>`` and ``facilities``; zero where none.
    """

    def build() -> pd.DataFrame:
        codes = ds.layer("grids")["code"].astype(str).tolist()
        fac = ds.layer("facilities")
        row_of = {c: i for i, c in enumerate(codes)}
        col_of = {c: j for j, c in enumerate(CATEGORIES)}
        counts = np.zeros((len(codes), len(CATEGORIES)), dtype=np.int64)
        rows = np.array([row_of.get(str(g), -1) for g in fac["grid_code"].tolist()], dtype=np.int64)
        cols = np.array([col_of.get(str(c), -1) for c in fac["category"].tolist()], dtype=np.int64)
        ok = (rows >= 0) & (cols >= 0)
        np.add.at(counts, (rows[ok], cols[ok]), 1)
        table = pd.DataFrame(counts, index=codes, columns=[f"fac_{c}" for c in CATEGORIES])
        table["facilities"] = counts.sum(axis=1)
        return table

    return _cached(ds, "facility_counts", build)


def grid_attributes(ds: Dataset) -> pd.DataFrame:
    """Return every choropleth attribute of every grid, indexed by grid code.

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    DataFrame
        Columns are the keys of :data:`ATTRIBUTES`, plus ``area_km2``.
    """

    def build() -> pd.DataFrame:
        grids = ds.layer("grids")
        df = pd.DataFrame(index=grids["code"].astype(str).values)
        df["population"] = grids["population"].fillna(0).astype(int).values
        df["households"] = grids["households"].fillna(0).astype(int).values
        area_km2 = grids["area_m2"].astype(float).values / 1e6
        df["area_km2"] = area_km2
        with np.errstate(divide="ignore", invalid="ignore"):
            dens = np.where(area_km2 > 0, df["population"].values / area_km2, 0.0)
        df["density"] = np.round(dens, 0)
        df = df.join(facility_counts(ds))
        return df

    return _cached(ds, "grid_attributes", build)


def classify(values: np.ndarray | list[float], k: int = N_CLASSES) -> list[float]:
    """Return class breaks for a choropleth: quantiles rounded to readable numbers.

    Parameters
    ----------
    values : array-like of float
        The attribute values.
    k : int
        Wanted number of classes; fewer are returned when values have fewer distinct levels.

    Returns
    -------
    list of float
        Ascending breaks ``[b0, b1, ..., bn]``; class i holds ``b_i <= v < b_{i+1}`` (the last is closed).
        ``b0`` is the minimum and ``bn`` the maximum.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return [0.0, 0.0]
    lo, hi = float(arr.min()), float(arr.max())
    uniq = np.unique(arr)
    if uniq.size <= k:
        return [float(v) for v in uniq] + [hi] if uniq.size > 1 else [lo, hi]
    qs = np.quantile(arr, np.linspace(0, 1, k + 1)[1:-1])
    inner = sorted({_round_break(q) for q in qs if lo < _round_break(q) <= hi})
    return [lo, *inner, hi]


def _round_break(q: float) -> float:
    if q <= 0:
        return 0.0
    mag = 10 ** max(math.floor(math.log10(q)) - 1, 0)
    return float(round(q / mag) * mag)


def classes(ds: Dataset) -> dict[str, dict[str, list]]:
    """Return choropleth breaks and colours for every attribute.

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    dict
        ``{attribute: {"breaks": [...], "colors": [...]}}`` with one colour per class.
    """

    def build() -> dict[str, dict[str, list]]:
        attrs = grid_attributes(ds)
        out = {}
        for key in ATTRIBUTES:
            breaks = classify(attrs[key].values)
            n = max(len(breaks) - 1, 1)
            idx = np.linspace(0, len(PALETTE) - 1, n).round().astype(int) if n > 1 else [len(PALETTE) // 2]
            discrete = len(np.unique(attrs[key].values)) <= N_CLASSES
            out[key] = {"breaks": breaks, "colors": [PALETTE[i] for i in idx], "discrete": discrete}
        return out

    return _cached(ds, "classes", build)


# --- the home-page layer payload -------------------------------------------------------------------


def staff_public(row: pd.Series | dict, show_personal: bool) -> dict[str, Any]:
    """Return what a page may show about a grid's staff.

    Parameters
    ----------
    row : Series or dict
        A grid record.
    show_personal : bool
        True only for signed-in users allowed to see personal fields (names, phones).

    Returns
    -------
    dict
        ``parttime`` (count, always), and when ``show_personal`` the escaped personal fields.
    """
    out: dict[str, Any] = {"parttime": int(row.get("parttime_count") or 0)}
    if show_personal:
        for name in sorted(PERSONAL_FIELDS):
            if name in row:
                out[name] = esc(row.get(name))
    return out


def _origin(bounds: np.ndarray) -> tuple[float, float]:
    return (math.floor(bounds[0] * 100) / 100, math.floor(bounds[1] * 100) / 100)


def home_payload(ds: Dataset, datum: str = "wgs84", show_personal: bool = False) -> dict[str, Any]:
    """Build the compact layer payload behind the home map (cached per data version, datum and access).

    Polygons are coverage-simplified (shared borders stay shared), quantised to about 1 m and
    delta-coded; text is HTML-escaped on the server. Personal fields are left out unless
    ``show_personal``.

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02`` (every coordinate shifted to line up with AMap tiles).
    show_personal : bool
        Include staff names and phones (never on public pages).

    Returns
    -------
    dict
        ``version``, ``quantum``, ``origin``, ``bounds``, ``divisions``, ``committees``, ``grids``,
        ``facilities`` and ``classes``.
    """
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")

    def build() -> dict[str, Any]:
        grids = ds.layer("grids")
        bounds = shift_geometries(np.asarray([shapely.box(*grids.total_bounds)]), datum)[0].bounds
        origin = _origin(np.asarray(bounds))

        def polys(layer: str) -> list[list]:
            simple = _cached(ds, f"simple.{layer}", lambda: simplify_coverage(ds.layer(layer).geometry))
            return encode_polygons(shift_geometries(simple, datum), origin)

        divs = ds.layer("divisions")
        coms = ds.layer("committees")
        attrs = grid_attributes(ds)
        fields = ["code", "name", "committee", "division", "population", "households", "area_km2", "density",
                  "parttime", "facilities", *(f"fac_{c}" for c in CATEGORIES)]
        com_index = {str(c): i for i, c in enumerate(coms["code"].tolist())}
        div_index = {str(c): i for i, c in enumerate(divs["code"].tolist())}
        text_cols = [[esc(v) for v in grids[c].tolist()] for c in ("code", "name")]
        # committee and division as row numbers into their tables (-1 when the code is unknown)
        text_cols.append([com_index.get(str(c), -1) for c in grids["committee_code"].tolist()])
        text_cols.append([div_index.get(str(c), -1) for c in grids["division_code"].tolist()])
        parttime = grids["parttime_count"].fillna(0).astype(int).tolist() if "parttime_count" in grids else [0] * len(grids)
        num_cols = [attrs["population"].astype(int).tolist(), attrs["households"].astype(int).tolist(),
                    attrs["area_km2"].round(3).tolist(), attrs["density"].astype(int).tolist(), parttime,
                    *(attrs[c].astype(int).tolist() for c in ("facilities", *(f"fac_{k}" for k in CATEGORIES)))]
        rows = [list(r) for r in zip(*text_cols, *num_cols, strict=True)]
        grid_part: dict[str, Any] = {"fields": fields, "rows": rows, "geom": polys("grids")}
        if show_personal:
            grid_part["personal"] = [staff_public(rec, True) for rec in grids.to_dict("records")]

        fac = ds.layer("facilities")
        fx, fy = fac.geometry.x.values, fac.geometry.y.values
        if datum == "gcj02":
            from app.geo.crs import wgs84_to_gcj02

            fx, fy = wgs84_to_gcj02(fx, fy)
        qx, qy = _q(np.asarray(fx), origin[0]).tolist(), _q(np.asarray(fy), origin[1]).tolist()
        cap = fac["capacity"] if "capacity" in fac else pd.Series([None] * len(fac))
        sub = fac["subtype"] if "subtype" in fac else pd.Series([None] * len(fac))
        fac_rows = [
            [esc(i), esc(n), esc(c), esc(s), None if pd.isna(k) else int(k), esc(g), x, y]
            for i, n, c, s, k, g, x, y in zip(fac["id"], fac["name"], fac["category"], sub, cap, fac["grid_code"],
                                              qx, qy, strict=True)
        ]
        return {
            "version": ds.version,
            "datum": datum,
            "quantum": QUANTUM,
            "origin": list(origin),
            "bounds": [round(b, 6) for b in bounds],
            "divisions": {"fields": ["code", "name", "kind"],
                          "rows": [[esc(c), esc(n), esc(k)] for c, n, k in zip(divs["code"], divs["name"], divs["kind"],
                                                                            strict=True)],
                          "geom": polys("divisions")},
            "committees": {"fields": ["code", "name", "kind", "division"],
                           "rows": [[esc(c), esc(n), esc(k), div_index.get(str(d), -1)] for c, n, k, d in
                                    zip(coms["code"], coms["name"], coms["kind"], coms["division_code"], strict=True)],
                           "geom": polys("committees")},
            "grids": grid_part,
            "facilities": {"fields": ["id", "name", "category", "subtype", "capacity", "grid", "x", "y"],
                           "rows": fac_rows},
            "classes": classes(ds),
        }

    return _cached(ds, f"payload.{datum}.{int(show_personal)}", build)


def payload_bytes(ds: Dataset, datum: str = "wgs84", show_personal: bool = False) -> tuple[bytes, str]:
    """Return the home payload serialised as compact UTF-8 JSON, with a strong ETag (cached).

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02``.
    show_personal : bool
        See :func:`home_payload`.

    Returns
    -------
    (bytes, str)
        The body and its ETag (a hash of the body).
    """

    def build() -> tuple[bytes, str]:
        body = json.dumps(home_payload(ds, datum, show_personal), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        return body, hashlib.sha256(body).hexdigest()[:20]

    return _cached(ds, f"payload_bytes.{datum}.{int(show_personal)}", build)


# --- per-grid and per-committee details ----------------------------------------------------------


def _metric(ds: Dataset, layer: str) -> gpd.GeoDataFrame:
    return _cached(ds, f"metric.{layer}", lambda: ds.layer(layer).to_crs(METRIC_CRS))


def neighbours(ds: Dataset, layer: str) -> dict[str, list[str]]:
    """Return, for every polygon of ``layer``, the codes of the polygons that share a border with it.

    Parameters
    ----------
    ds : Dataset
        The data version.
    layer : str
        ``grids``, ``committees`` or ``divisions``.

    Returns
    -------
    dict
        Code -> sorted list of neighbouring codes (within 1 m, in EPSG:4542).
    """

    def build() -> dict[str, list[str]]:
        gdf = _metric(ds, layer)
        codes = gdf["code"].astype(str).values
        geoms = gdf.geometry.values
        tree = shapely.STRtree(geoms)
        left, right = tree.query(shapely.buffer(geoms, 1.0), predicate="intersects")
        out: dict[str, set[str]] = {c: set() for c in codes}
        for i, j in zip(left, right, strict=True):
            if i != j:
                out[codes[i]].add(codes[j])
        return {c: sorted(v) for c, v in out.items()}

    return _cached(ds, f"neighbours.{layer}", build)


def facilities_near(ds: Dataset, area: BaseGeometry, radius_m: float = NEARBY_M) -> list[dict[str, Any]]:
    """Return the facilities inside an area and within ``radius_m`` of it, nearest first.

    Parameters
    ----------
    ds : Dataset
        The data version.
    area : Polygon or MultiPolygon
        The area in EPSG:4542.
    radius_m : float
        Search distance beyond the area's border, metres.

    Returns
    -------
    list of dict
        One per facility: ``id``, ``name``, ``category``, ``subtype``, ``capacity``, ``grid_code``,
        ``lon``, ``lat``, ``distance_m`` (0 inside) and ``inside``. Text is not escaped here.
    """
    fac = _metric(ds, "facilities")
    tree = _cached(ds, "facility_tree", lambda: shapely.STRtree(fac.geometry.values))
    idx = tree.query(area.buffer(radius_m), predicate="intersects")
    if len(idx) == 0:
        return []
    sub = fac.iloc[np.sort(idx)]
    dist = shapely.distance(area, sub.geometry.values)
    wgs = ds.layer("facilities").iloc[np.sort(idx)]
    out = []
    for (_, row), (_, w), d in zip(sub.iterrows(), wgs.iterrows(), dist, strict=True):
        cap = row.get("capacity")
        out.append({
            "id": str(row["id"]), "name": str(row["name"]), "category": str(row["category"]),
            "subtype": None if pd.isna(row.get("subtype")) else str(row.get("subtype")),
            "capacity": None if cap is None or pd.isna(cap) else int(cap),
            "grid_code": str(row["grid_code"]), "lon": float(w.geometry.x), "lat": float(w.geometry.y),
            "distance_m": round(float(d), 1), "inside": bool(d <= 0.0),
        })
    out.sort(key=lambda f: (f["distance_m"], f["id"]))
    return out


def _public(rec: dict[str, Any], show_personal: bool) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "geometry" and (show_personal or k not in PERSONAL_FIELDS)}


def grid_detail(ds: Dataset, code: str, show_personal: bool = False) -> dict[str, Any] | None:
    """Return everything the page of one grid shows, or None if there is no such grid.

    Parameters
    ----------
    ds : Dataset
        The data version.
    code : str
        15-digit grid code.
    show_personal : bool
        Include personal fields (staff names and phones).

    Returns
    -------
    dict or None
        ``record`` (public attributes), ``attributes`` (choropleth values), ``committee``,
        ``division``, ``neighbours`` (list of records), ``facilities`` (see :func:`facilities_near`),
        ``geometry`` (WGS84) and ``buffer`` (the 500 m ring, WGS84). Text is not escaped here.
    """
    grids = ds.layer("grids")
    hits = np.flatnonzero(grids["code"].astype(str).values == str(code))
    if len(hits) == 0:
        return None
    i = int(hits[0])
    rec = grids.iloc[i].to_dict()
    metric_geom = _metric(ds, "grids").geometry.values[i]
    attrs = grid_attributes(ds).loc[str(code)].to_dict()
    by_code = grids.set_index(grids["code"].astype(str))
    nbrs = [_public(by_code.loc[c].to_dict(), False) | {"code": c, "geometry": by_code.loc[c, "geometry"]}
            for c in neighbours(ds, "grids").get(str(code), [])]
    return {
        "record": _public(rec, show_personal),
        "attributes": attrs,
        "staff": staff_public(rec, show_personal),
        "committee": _row_by_code(ds, "committees", rec.get("committee_code")),
        "division": _row_by_code(ds, "divisions", rec.get("division_code")),
        "neighbours": nbrs,
        "facilities": facilities_near(ds, metric_geom),
        "geometry": grids.geometry.values[i],
        "buffer": gpd.GeoSeries([metric_geom.buffer(NEARBY_M)], crs=METRIC_CRS).to_crs("EPSG:4326").values[0],
    }


def _row_by_code(ds: Dataset, layer: str, code: Any) -> dict[str, Any] | None:
    gdf = ds.layer(layer)
    hits = np.flatnonzero(gdf["code"].astype(str).values == str(code))
    return None if len(hits) == 0 else _public(gdf.iloc[int(hits[0])].to_dict(), False)


def committee_detail(ds: Dataset, code: str) -> dict[str, Any] | None:
    """Return everything the page of one residents' or village committee shows, or None if unknown.

    Parameters
    ----------
    ds : Dataset
        The data version.
    code : str
        12-digit committee code.

    Returns
    -------
    dict or None
        ``record``, ``division``, ``totals`` (population, households, area_km2, grid count,
        facility counts), ``grids`` (public records with attributes), ``neighbours``,
        ``facilities``, ``geometry`` and ``buffer`` (WGS84).
    """
    coms = ds.layer("committees")
    hits = np.flatnonzero(coms["code"].astype(str).values == str(code))
    if len(hits) == 0:
        return None
    i = int(hits[0])
    rec = coms.iloc[i].to_dict()
    grids = ds.layer("grids")
    mine = grids[grids["committee_code"].astype(str) == str(code)]
    attrs = grid_attributes(ds).loc[mine["code"].astype(str).values]
    metric_geom = _metric(ds, "committees").geometry.values[i]
    by_code = coms.set_index(coms["code"].astype(str))
    area_km2 = float(attrs["area_km2"].sum()) if len(attrs) else float(metric_geom.area) / 1e6
    totals = {
        "grids": len(mine), "population": int(attrs["population"].sum()),
        "households": int(attrs["households"].sum()), "area_km2": round(area_km2, 3),
        "facilities": int(attrs["facilities"].sum()) if len(attrs) else 0,
    }
    totals["density"] = round(totals["population"] / area_km2) if area_km2 > 0 else 0
    grid_rows = [
        _public(g, False) | {"attributes": attrs.loc[str(g["code"])].to_dict(), "geometry": g["geometry"]}
        for g in mine.to_dict("records")
    ]
    return {
        "record": _public(rec, False),
        "division": _row_by_code(ds, "divisions", rec.get("division_code")),
        "totals": totals,
        "grids": grid_rows,
        "neighbours": [_public(by_code.loc[c].to_dict(), False) | {"code": c, "geometry": by_code.loc[c, "geometry"]}
                       for c in neighbours(ds, "committees").get(str(code), [])],
        "facilities": facilities_near(ds, metric_geom),
        "geometry": coms.geometry.values[i],
        "buffer": gpd.GeoSeries([metric_geom.buffer(NEARBY_M)], crs=METRIC_CRS).to_crs("EPSG:4326").values[0],
    }


def subtype_label(category: str, subtype: str | None, lang: str) -> str:
    """Return the label of a facility subtype in ``lang`` ('' if none).

    Parameters
    ----------
    category : str
        A key of CATEGORIES.
    subtype : str or None
        A key of SUBTYPES[category].
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        The label, or the raw subtype when unknown.
    """
    if not subtype:
        return ""
    pair = SUBTYPES.get(category, {}).get(subtype)
    if pair is None:
        return subtype
    return pair[0] if lang == "zh" else pair[1]
