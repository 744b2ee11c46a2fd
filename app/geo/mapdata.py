"""Map layer data: simplified, quantised geometry, choropleth classes, facility layers and per-area details."""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo.schema import CATEGORIES, PERSONAL_FIELDS, SUBTYPES
from app.geo.store import Dataset

#: Size of one quantisation step, degrees: 1e-5 deg is about 0.85 m east-west and 1.1 m north-south here.
QUANTUM = 1e-5
#: Coverage-preserving simplification tolerance, metres (local frame, see simplify_coverage); shared borders stay shared.
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
    return ds.cached(f"mapdata.{key}", build)


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
    latitude): at city scale that is within a fraction of a percent of metric-CRS distances,
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


# --- shared-border topology ----------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """Polygons as shared arcs, each stored once (TopoJSON-like, in quantised integer coordinates).

    Each arc runs between two junctions and has the feature on its left (``left``, always set) and
    the one on its right (``right``, -1 for none). Rings are oriented with their inside on the left
    (exteriors counter-clockwise), so a feature's rings are its left arcs forward plus its right
    arcs reversed, chained end to start (see :func:`assemble_rings`).
    """

    arcs: tuple[np.ndarray, ...]
    left: np.ndarray
    right: np.ndarray


def _quantised_rings(geoms: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Oriented, quantised ring vertices without closing vertex or repeats, and their ring/feature ids."""
    polys, poly_geom = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, cr = shapely.get_coordinates(rings, return_index=True)
    qx, qy = _q(coords[:, 0], origin[0]), _q(coords[:, 1], origin[1])
    if len(cr) == 0:
        return qx, qy, cr, cr
    first = np.r_[True, cr[1:] != cr[:-1]]
    keep = ~(np.r_[False, (np.diff(qx) == 0) & (np.diff(qy) == 0)] & ~first)
    qx, qy, cr = qx[keep], qy[keep], cr[keep]
    keep = np.r_[cr[1:] == cr[:-1], False]  # each ring's last vertex now equals its first
    qx, qy, cr = qx[keep], qy[keep], cr[keep]
    # rings of fewer than 3 vertices vanish, and so does a polygon whose exterior vanishes
    size = np.bincount(cr, minlength=len(rings))
    exterior = np.r_[True, ring_poly[1:] != ring_poly[:-1]] if len(rings) else np.zeros(0, dtype=bool)
    dead = np.zeros(len(polys), dtype=bool)
    dead[ring_poly[exterior & (size < 3)]] = True
    keep = ((size >= 3) & ~dead[ring_poly])[cr]
    return qx[keep], qy[keep], cr[keep], poly_geom[ring_poly[cr[keep]]]


def build_topology(geoms: np.ndarray, origin: tuple[float, float]) -> Topology:
    """Split polygon rings into arcs at junctions and store every shared border once.

    Coordinates are quantised to :data:`QUANTUM` first, so neighbours whose vertices coincide
    after quantisation share their arcs. Rings are cut where three or more edges meet or where
    the set of features using an edge changes. Any input is encoded exactly (after quantisation):
    gaps, overlaps and unshared vertices only cost bytes, since such borders are not shared.

    Parameters
    ----------
    geoms : array of Polygon or MultiPolygon
        Lon/lat geometries (feature i is ``geoms[i]``).
    origin : (float, float)
        Lon/lat of the quantisation origin.

    Returns
    -------
    Topology
        The arcs (absolute quantised coordinates) and the feature on each side.
    """
    geoms = np.asarray(geoms, dtype=object)
    qx, qy, cr, feature = _quantised_rings(geoms, origin)
    n, ng = len(qx), len(geoms)
    if n == 0:
        return Topology((), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    starts = np.flatnonzero(np.r_[True, cr[1:] != cr[:-1]])
    lens = np.diff(np.r_[starts, n])
    first, last = np.repeat(starts, lens), np.repeat(starts + lens - 1, lens)
    at = np.arange(n)
    nxt, prv = np.where(at == last, first, at + 1), np.where(at == first, last, at - 1)
    x0, y0 = int(qx.min()), int(qy.min())
    span = int(qy.max()) - y0 + 1
    uv, vid = np.unique((qx - x0) * span + (qy - y0), return_inverse=True)
    nv = len(uv)
    # edges: undirected vertex pairs; an edge's signature is who uses it (lowest, highest feature, count)
    ue, eid = np.unique(np.minimum(vid, vid[nxt]) * nv + np.maximum(vid, vid[nxt]), return_inverse=True)
    lo = np.full(len(ue), ng, dtype=np.int64)
    hi = np.full(len(ue), -1, dtype=np.int64)
    np.minimum.at(lo, eid, feature)
    np.maximum.at(hi, eid, feature)
    sig = ((lo * (ng + 1) + hi) * 4 + np.minimum(np.bincount(eid, minlength=len(ue)), 3))[eid]
    degree = np.bincount(np.r_[ue // nv, ue % nv], minlength=nv)
    cut = np.flatnonzero((degree[vid] >= 3) | (sig != sig[prv]))
    cut_ring = cr[cut]
    ring_ids = cr[starts]
    c0 = np.searchsorted(cut_ring, ring_ids).tolist()
    c1 = np.searchsorted(cut_ring, ring_ids, side="right").tolist()
    cut_l, vl = cut.tolist(), vid.tolist()

    arcs: list[list[int]] = []
    left: list[int] = []
    right: list[int] = []
    index: dict[tuple[int, ...], int] = {}
    for s, m, k0, k1, g in zip(starts.tolist(), lens.tolist(), c0, c1, feature[starts].tolist(), strict=True):
        ring = vl[s:s + m]
        if k0 == k1:  # no junction: one closed arc, starting at its lowest vertex so neighbours agree
            j = ring.index(min(ring))
            pieces = [ring[j:] + ring[:j + 1]]
        else:
            cuts = [c - s for c in cut_l[k0:k1]]
            twice = ring + ring
            pieces = [twice[a:b + 1] for a, b in zip(cuts, [*cuts[1:], cuts[0] + m], strict=True)]
        for seq in pieces:
            key = tuple(seq)
            back = index.get(key[::-1])
            if back is not None and right[back] < 0 and left[back] != g:
                right[back] = g  # the neighbour's side of a border already stored
                continue
            index[key] = len(arcs)
            arcs.append(seq)
            left.append(g)
            right.append(-1)
    xy = np.column_stack([uv // span + x0, uv % span + y0])
    flat = xy[np.fromiter((v for a in arcs for v in a), dtype=np.int64)]
    bounds = np.cumsum([len(a) for a in arcs])[:-1]
    return Topology(tuple(np.split(flat, bounds)), np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64))


def encode_topology(topo: Topology) -> dict[str, list[int]]:
    """Encode a topology for the payload (see :func:`decode_topology` and map.js).

    ``x``/``y``: the arcs' vertices as one delta-coded stream (the first vertex absolute, in
    quanta from the origin); ``n``: vertices per arc, negative when the arc starts where the
    previous one ended (its first vertex is then not repeated in the stream); ``left``: the left
    feature, delta-coded; ``right``: right feature minus left feature, 0 for none.

    Parameters
    ----------
    topo : Topology
        Output of :func:`build_topology`.

    Returns
    -------
    dict
        ``{"x", "y", "n", "left", "right"}`` lists of ints.
    """
    if not topo.arcs:
        return {"x": [], "y": [], "n": [], "left": [], "right": []}
    ends = np.array([a[-1] for a in topo.arcs])
    heads = np.array([a[0] for a in topo.arcs])
    follows = np.r_[False, (heads[1:] == ends[:-1]).all(axis=1)]
    lens = np.array([len(a) for a in topo.arcs])
    stream = np.concatenate([a[1:] if f else a for a, f in zip(topo.arcs, follows.tolist(), strict=True)])
    delta = np.diff(stream, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return {
        "x": delta[:, 0].tolist(), "y": delta[:, 1].tolist(),
        "n": np.where(follows, -(lens - 1), lens).tolist(),
        "left": np.diff(topo.left, prepend=0).tolist(),
        "right": np.where(topo.right >= 0, topo.right - topo.left, 0).tolist(),
    }


def decode_topology(obj: dict[str, list[int]]) -> Topology:
    """Invert :func:`encode_topology` (for tests and checks).

    Parameters
    ----------
    obj : dict
        The encoded topology.

    Returns
    -------
    Topology
        The same arcs and sides.
    """
    stream = np.cumsum(np.column_stack([obj["x"], obj["y"]]).astype(np.int64).reshape(-1, 2), axis=0)
    arcs, at, prev = [], 0, None
    for n in obj["n"]:
        if n < 0:
            arc = np.vstack([prev[-1:], stream[at:at - n]])
            at -= n
        else:
            arc = stream[at:at + n]
            at += n
        arcs.append(arc)
        prev = arc
    left = np.cumsum(np.asarray(obj["left"], dtype=np.int64))
    r = np.asarray(obj["right"], dtype=np.int64)
    return Topology(tuple(arcs), left, np.where(r != 0, left + r, -1))


def assemble_rings(topo: Topology, groups: np.ndarray | None = None, n_groups: int | None = None
                   ) -> list[list[np.ndarray]]:
    """Return the rings of each feature, or of each group of features (their union's boundary).

    An arc bounds a group when the features on its two sides are in different groups. The
    group's arcs, oriented with the group on the left, are chained end to start into closed rings
    (the same walk as map.js). The rings of one group fill its area under the even-odd rule.

    Parameters
    ----------
    topo : Topology
        The topology.
    groups : array of int, optional
        Group of each feature (-1 for none); default: every feature is its own group.
    n_groups : int, optional
        Number of groups; default ``max(groups) + 1``.

    Returns
    -------
    list
        Per group, a list of rings as (k, 2) arrays of quantised coordinates, not closed.
    """
    if groups is None:
        n_feat = int(max(topo.left.max(initial=-1), topo.right.max(initial=-1))) + 1
        groups = np.arange(n_feat)
    groups = np.asarray(groups, dtype=np.int64)
    if n_groups is None:
        n_groups = int(groups.max(initial=-1)) + 1
    gl = groups[topo.left] if len(topo.left) else topo.left
    gr = np.where(topo.right >= 0, groups[np.maximum(topo.right, 0)], -1) if len(topo.right) else topo.right
    pieces: list[list[int]] = [[] for _ in range(n_groups)]
    for a, (lg, rg) in enumerate(zip(gl.tolist(), gr.tolist(), strict=True)):
        if lg == rg:
            continue
        if lg >= 0:
            pieces[lg].append(a)
        if rg >= 0:
            pieces[rg].append(~a)
    flat = np.concatenate(topo.arcs) if topo.arcs else np.zeros((0, 2), dtype=np.int64)
    last = np.cumsum([len(a) for a in topo.arcs], dtype=np.int64) - 1
    first = np.r_[0, last[:-1] + 1] if len(last) else last
    heads = list(map(tuple, flat[first].tolist()))
    tails = list(map(tuple, flat[last].tolist()))
    return [_chain(topo.arcs, heads, tails, refs) for refs in pieces]


def _chain(arcs: tuple[np.ndarray, ...], heads: list[tuple[int, int]], tails: list[tuple[int, int]],
           refs: list[int]) -> list[np.ndarray]:
    def start(ref: int) -> tuple[int, int]:
        return heads[ref] if ref >= 0 else tails[~ref]

    by_start: dict[tuple[int, int], list[int]] = {}
    for k, ref in enumerate(refs):
        by_start.setdefault(start(ref), []).append(k)
    used = [False] * len(refs)
    rings = []
    for k0 in range(len(refs)):
        if used[k0]:
            continue
        head, parts, k = start(refs[k0]), [], k0
        while True:
            used[k] = True
            ref = refs[k]
            arc = arcs[ref] if ref >= 0 else arcs[~ref][::-1]
            parts.append(arc if not parts else arc[1:])
            end = tails[ref] if ref >= 0 else heads[~ref]
            if end == head:
                break
            k = next((c for c in by_start.get(end, ()) if not used[c]), -1)
            if k < 0:
                break
        ring = np.vstack(parts)
        if len(ring) > 1 and (ring[0] == ring[-1]).all():
            ring = ring[:-1]
        rings.append(ring)
    return rings


def rings_geometry(rings: list[np.ndarray], origin: tuple[float, float]) -> BaseGeometry:
    """Return the area that ``rings`` fill under the even-odd rule, in lon/lat (for checks and tests).

    Parameters
    ----------
    rings : list of (k, 2) int arrays
        Quantised rings, as returned by :func:`assemble_rings`.
    origin : (float, float)
        The quantisation origin.

    Returns
    -------
    Polygon or MultiPolygon
        The filled area (empty when there are no rings).
    """
    area = shapely.Polygon()
    for ring in rings:
        if len(ring) >= 3:
            poly = shapely.make_valid(shapely.Polygon(ring * QUANTUM + np.asarray(origin)))
            area = shapely.symmetric_difference(area, poly)
    return area


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


def _outlines_match(topo: Topology, groups: np.ndarray, own: np.ndarray, origin: tuple[float, float]) -> bool:
    """True when the outline of each group derived from ``topo`` is the group's own border.

    Every vertex of a derived outline must be a vertex of the group's own border (to within one
    quantum), and the two areas must agree to within the border's length times one metre.
    A layer made by dissolving the grids passes; borders digitised apart from the grids fail, and
    the layer then keeps its own geometry.
    """
    if len(own) == 0:
        return True
    rings = assemble_rings(topo, groups, len(own))
    if any(not rs for rs in rings):
        return False
    derived = np.vstack([r for rs in rings for r in rs])
    derived_group = np.repeat(np.arange(len(rings)), [sum(len(r) for r in rs) for rs in rings])
    coords, which = shapely.get_coordinates(shapely.boundary(own), return_index=True)
    mine = np.column_stack([_q(coords[:, 0], origin[0]), _q(coords[:, 1], origin[1])])
    lo = np.minimum(derived.min(axis=0), mine.min(axis=0)) - 1  # a margin of one for the offsets below
    span = np.maximum(derived.max(axis=0), mine.max(axis=0)) - lo + 2

    def keys(xy: np.ndarray, group: np.ndarray) -> np.ndarray:
        return (group * span[0] + (xy[:, 0] - lo[0])) * span[1] + (xy[:, 1] - lo[1])

    # within one quantum, since a vertex halfway between two quanta may round either way
    want, have = keys(derived, derived_group), keys(mine, which)
    offsets = (np.arange(-1, 2)[:, None] * span[1] + np.arange(-1, 2)[None, :]).ravel()
    if not np.isin(want[None, :] + offsets[:, None], have).any(axis=0).all():
        return False
    kx, ky = _local_scale(own)
    area = np.array([sum(_shoelace(r) for r in rs) for rs in rings]) * QUANTUM ** 2 * kx * ky
    border = shapely.length(shapely.transform(shapely.boundary(own), lambda c: c * np.array([kx, ky])))
    return bool(np.all(np.abs(area - shapely.area(own) * kx * ky) <= border * 1.0))


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0].astype(float), ring[:, 1].astype(float)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def home_payload(ds: Dataset, datum: str = "wgs84", show_personal: bool = False) -> dict[str, Any]:
    """Build the compact layer payload behind the home map (cached per data version, datum and access).

    Grid polygons are coverage-simplified, quantised to about 1 m and stored as a topology: every
    border between two grids is one arc, stored once (see :func:`build_topology`). Committees and
    divisions, which are unions of grids, carry no geometry: the client draws their outlines from
    the grid arcs whose two sides lie in different committees or divisions. Only a layer that is
    not a dissolve of its grids (see :func:`_outlines_match`) gets a topology of its own.
    Facility counts per grid are left for the client to count from the facility rows, and the
    grid ``code`` and ``name`` columns listed in ``grids.prefixed`` hold only what follows the
    grid's committee's code or name. Text is HTML-escaped on the server; personal fields are left
    out unless ``show_personal``.

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
        ``version``, ``datum``, ``quantum``, ``origin``, ``bounds``, ``divisions``, ``committees``,
        ``grids``, ``facilities`` and ``classes``. Tables are ``{"fields": [...], "columns": [...]}``
        (one list per field); ``grids.topology`` is an :func:`encode_topology` result.
    """
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")

    def build() -> dict[str, Any]:
        grids = ds.layer("grids")
        bounds = shift_geometries(np.asarray([shapely.box(*grids.total_bounds)]), datum)[0].bounds
        origin = _origin(np.asarray(bounds))

        def simple(layer: str) -> np.ndarray:
            geoms = _cached(ds, f"simple.{layer}", lambda: simplify_coverage(ds.layer(layer).geometry))
            return shift_geometries(geoms, datum)

        divs = ds.layer("divisions")
        coms = ds.layer("committees")
        attrs = grid_attributes(ds)
        com_index = {str(c): i for i, c in enumerate(coms["code"].tolist())}
        div_index = {str(c): i for i, c in enumerate(divs["code"].tolist())}
        grid_com = np.array([com_index.get(str(c), -1) for c in grids["committee_code"].tolist()], dtype=np.int64)
        grid_div = np.array([div_index.get(str(c), -1) for c in grids["division_code"].tolist()], dtype=np.int64)
        topo = build_topology(simple("grids"), origin)
        # when every grid's code and name extend its committee's (620201001001 -> 620201001001003,
        # 雄关社区 -> 雄关社区第3网格), only the extension is sent
        text, prefixed = {}, []
        for f in ("code", "name"):
            raw = grids[f].tolist()
            parents = coms[f].tolist()
            parent = [parents[c] if c >= 0 else None for c in grid_com.tolist()]
            if all(isinstance(v, str) and isinstance(p, str) and v.startswith(p)
                   for v, p in zip(raw, parent, strict=True)):
                text[f] = [esc(v[len(p):]) for v, p in zip(raw, parent, strict=True)]
                prefixed.append(f)
            else:
                text[f] = [esc(v) for v in raw]
        parttime = grids["parttime_count"].fillna(0).astype(int).tolist() if "parttime_count" in grids else [0] * len(grids)
        grid_part: dict[str, Any] = {
            "fields": ["code", "name", "committee", "division", "population", "households", "area_km2", "density",
                       "parttime"],
            "columns": [text["code"], text["name"], grid_com.tolist(), grid_div.tolist(),
                        attrs["population"].astype(int).tolist(), attrs["households"].astype(int).tolist(),
                        attrs["area_km2"].round(3).tolist(), attrs["density"].astype(int).tolist(), parttime],
            "prefixed": prefixed,
            "topology": encode_topology(topo),
        }
        if show_personal:
            grid_part["personal"] = [staff_public(rec, True) for rec in grids.to_dict("records")]

        def boundary_layer(gdf: gpd.GeoDataFrame, layer: str, groups: np.ndarray, fields: list[str],
                           columns: list[list]) -> dict[str, Any]:
            part: dict[str, Any] = {"fields": fields, "columns": columns}
            own = shift_geometries(np.asarray(gdf.geometry.values, dtype=object), datum)
            if not _outlines_match(topo, groups, own, origin):
                part["topology"] = encode_topology(build_topology(simple(layer), origin))
            return part

        fac = ds.layer("facilities")
        fx, fy = fac.geometry.x.values, fac.geometry.y.values
        if datum == "gcj02":
            from app.geo.crs import wgs84_to_gcj02

            fx, fy = wgs84_to_gcj02(fx, fy)
        grid_row = {str(c): i for i, c in enumerate(grids["code"].tolist())}
        cap = fac["capacity"] if "capacity" in fac else pd.Series([None] * len(fac))
        sub = fac["subtype"] if "subtype" in fac else pd.Series([None] * len(fac))
        return {
            "version": ds.version,
            "datum": datum,
            "quantum": QUANTUM,
            "origin": list(origin),
            "bounds": [round(b, 6) for b in bounds],
            "divisions": boundary_layer(divs, "divisions", grid_div, ["code", "name", "kind"],
                                        [[esc(v) for v in divs[c].tolist()] for c in ("code", "name", "kind")]),
            "committees": boundary_layer(
                coms, "committees", grid_com, ["code", "name", "kind", "division"],
                [*([esc(v) for v in coms[c].tolist()] for c in ("code", "name", "kind")),
                 [div_index.get(str(d), -1) for d in coms["division_code"].tolist()]]),
            "grids": grid_part,
            # grid: row number in the grid table, or the escaped code when no grid has it
            "facilities": {"fields": ["id", "name", "category", "subtype", "capacity", "grid", "x", "y"],
                           "columns": [[esc(v) for v in fac["id"].tolist()], [esc(v) for v in fac["name"].tolist()],
                                       [esc(v) for v in fac["category"].tolist()], [esc(v) for v in sub.tolist()],
                                       [None if pd.isna(k) else int(k) for k in cap.tolist()],
                                       [grid_row.get(str(g), esc(g)) for g in fac["grid_code"].tolist()],
                                       _q(np.asarray(fx), origin[0]).tolist(), _q(np.asarray(fy), origin[1]).tolist()]},
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
    return _cached(ds, f"metric.{layer}", lambda: ds.layer(layer).to_crs(ds.metric_crs))


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
        Code -> sorted list of neighbouring codes (within 1 m, in the data's metric CRS).
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
        The area in the data's metric CRS (:attr:`Dataset.metric_crs`).
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
        "buffer": gpd.GeoSeries([metric_geom.buffer(NEARBY_M)], crs=ds.metric_crs).to_crs("EPSG:4326").values[0],
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
        "buffer": gpd.GeoSeries([metric_geom.buffer(NEARBY_M)], crs=ds.metric_crs).to_crs("EPSG:4326").values[0],
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
