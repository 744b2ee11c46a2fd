"""Site recommendation inputs: candidate sites (roads, addresses, a file), demand points and who each candidate reaches."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from app.errors import GridmapError
from app.geo._coverage_distances import straight_distances, walk_distances, walk_network
from app.geo._coverage_sources import City
from app.geo.crs import CRSError, to_wgs84
from app.geo.tabular import detect_columns, read_table

#: Candidates whose walking distances are computed in one Dijkstra batch.
_WALK_CHUNK = 256


class RecommendError(GridmapError, ValueError):
    """A site recommendation that cannot be answered, with a message that names the problem."""

    default_key = "recommend"


@dataclass
class Demand:
    """Demand points: addresses with residents, coincident ones merged, in the metric CRS.

    Attributes
    ----------
    xy : ndarray, shape (n, 2)
        One point per distinct location.
    weight : ndarray of float
        Residents at each point.
    addr : ndarray of int
        For every address with residents, the demand point it was merged into.
    addr_rows : ndarray of int
        The address rows (of the City) those are.
    d_exist : ndarray of float
        Distance from each point to the nearest existing facility (inf: none reachable).
    """

    xy: np.ndarray
    weight: np.ndarray
    addr: np.ndarray
    addr_rows: np.ndarray
    d_exist: np.ndarray


def demand_points(city: City, cats: tuple[str, ...], mode: str) -> Demand:
    """The demand of a city: residents at address points, coincident points merged.

    Parameters
    ----------
    city : City
        The prepared data version.
    cats : tuple of str
        The existing facilities' categories (their distance is kept per point).
    mode : str
        ``straight`` or ``walk``.

    Returns
    -------
    Demand
        The merged points with their residents and distance to the nearest existing facility.
    """
    dist = straight_distances(city, cats) if mode == "straight" else walk_distances(city, cats)
    rows = np.flatnonzero(city.addr_ok & (city.addr_res > 0))
    if len(rows) == 0:
        return Demand(np.empty((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64), rows, np.zeros(0))
    xy, inv = np.unique(np.round(city.addr_xy[rows], 1), axis=0, return_inverse=True)
    inv = inv.ravel()
    weight = np.bincount(inv, weights=city.addr_res[rows].astype(float), minlength=len(xy))
    d = np.full(len(xy), np.inf)
    np.minimum.at(d, inv, dist[rows])
    return Demand(xy, weight, inv, rows, d)


def road_candidates(city: City, spacing: float) -> np.ndarray:
    """Points along every road every ``spacing`` metres (and at each road's ends), each place once.

    Raises
    ------
    RecommendError
        When the data has no roads.
    """
    if not city.has_layer("roads"):
        raise RecommendError("candidates along roads need a roads layer, and the data has none")
    roads = city.ds.layer("roads")
    lines = shapely.get_parts(np.asarray(roads.geometry.to_crs(city.crs).values, dtype=object))
    lines = lines[shapely.get_type_id(lines) == 1] if len(lines) else lines
    if len(lines) == 0:
        raise RecommendError("candidates along roads need roads, and the roads layer is empty")
    lengths = shapely.length(lines)
    counts = np.maximum(1, np.ceil(lengths / spacing)).astype(np.int64)
    line_idx = np.repeat(np.arange(len(lines)), counts + 1)
    offsets = np.arange(len(line_idx)) - np.repeat(np.cumsum(counts + 1) - (counts + 1), counts + 1)
    frac = offsets / np.repeat(counts, counts + 1)
    pts = shapely.line_interpolate_point(lines[line_idx], frac, normalized=True)
    return np.unique(np.round(shapely.get_coordinates(pts), 1), axis=0)


def address_candidates(city: City) -> np.ndarray:
    """Every located address as a candidate site, each place once."""
    xy = city.addr_xy[city.addr_ok]
    return np.unique(np.round(xy, 1), axis=0) if len(xy) else np.empty((0, 2))


def file_candidates(city: City, source: str | Path | bytes | IO[bytes], filename: str | None = None,
                    crs: str = "EPSG:4326") -> tuple[np.ndarray, list[str]]:
    """Candidate sites from a planner's file: CSV/XLSX with coordinate columns, or GeoJSON points.

    Parameters
    ----------
    city : City
        The prepared data version (gives the metric CRS).
    source : path, bytes or binary file
        The file.
    filename : str, optional
        Its name (the extension picks the reader); defaults to the path's name.
    crs : str
        CRS of the coordinates, e.g. ``EPSG:4326``, ``gcj02``, ``bd09`` or a metric EPSG code.

    Returns
    -------
    tuple
        ``(xy, names)``: points in the metric CRS and a name per point (the ``name`` column or the row number).

    Raises
    ------
    RecommendError
        When the file has no points or no coordinate columns, or a coordinate is not a number.
    """
    name = filename or (str(source) if isinstance(source, str | Path) else "candidates")
    if name.lower().endswith((".geojson", ".json")):
        raw = Path(source).read_bytes() if isinstance(source, str | Path) else (
            source if isinstance(source, bytes) else source.read())
        x, y, names = _geojson_points(raw, name)
    else:
        df = read_table(source, filename=filename, label=Path(name).name)
        cols = detect_columns(df)
        if cols.lon is None or cols.lat is None:
            raise RecommendError(f"{Path(name).name}: no coordinate columns (lon/lat, x/y, 经度/纬度) in the candidate file")
        x = pd.to_numeric(df[cols.lon], errors="coerce").to_numpy(float)
        y = pd.to_numeric(df[cols.lat], errors="coerce").to_numpy(float)
        name_col = next((c for c in df.columns if str(c).strip().lower() in ("name", "名称", "站名")), None)
        names = (df[name_col].astype(str).tolist() if name_col is not None
                 else [f"#{i + 1}" for i in range(len(df))])
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 2
            raise RecommendError(f"{Path(name).name}: row {row} has no numeric coordinates")
    if len(x) == 0:
        raise RecommendError(f"{Path(name).name}: the candidate file has no points")
    try:
        lon, lat = to_wgs84(x, y, crs)
    except CRSError as exc:
        raise RecommendError(f"unknown CRS {crs!r} for the candidate file: {exc.message}") from None
    pts = pd.Series(shapely.points(np.column_stack([lon, lat])))
    import geopandas as gpd

    xy = shapely.get_coordinates(gpd.GeoSeries(pts.values, crs="EPSG:4326").to_crs(city.crs).values)
    return xy, names


def _geojson_points(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Coordinates and names of the Point features of a GeoJSON document."""
    try:
        doc = json.load(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError):
        raise RecommendError(f"{Path(name).name}: not a GeoJSON file") from None
    feats = doc.get("features", []) if isinstance(doc, dict) else []
    xs, ys, names = [], [], []
    for i, f in enumerate(feats if isinstance(feats, list) else []):
        geom = (f or {}).get("geometry") or {}
        if geom.get("type") != "Point":
            continue
        try:
            x, y = (float(v) for v in geom["coordinates"][:2])
        except (TypeError, ValueError, KeyError):
            raise RecommendError(f"{Path(name).name}: feature {i + 1} has no numeric coordinates") from None
        props = f.get("properties") or {}
        xs.append(x)
        ys.append(y)
        names.append(str(props.get("name") or props.get("名称") or f"#{i + 1}"))
    return np.array(xs, dtype=float), np.array(ys, dtype=float), names


def pairs_within(city: City, demand_xy: np.ndarray, cand_xy: np.ndarray, radius: float,
                 mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (demand point, candidate) pair within ``radius``, with its distance.

    Straight mode measures in the metric CRS; walk mode along the road network with the
    snapping rule of :class:`app.geo.network.WalkNetwork` (a Dijkstra from each candidate's
    segment ends, cut off at ``radius``).

    Returns
    -------
    tuple of ndarray
        ``(demand index, candidate index, metres)``.
    """
    if len(demand_xy) == 0 or len(cand_xy) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    if mode == "straight":
        tree = shapely.STRtree(shapely.points(cand_xy))
        d_pts = shapely.points(demand_xy)
        di, ci = tree.query(d_pts, predicate="dwithin", distance=radius)
        dist = np.hypot(*(demand_xy[di] - cand_xy[ci]).T)
        ok = dist <= radius
        return di[ok], ci[ok], dist[ok]
    return _walk_pairs(city, demand_xy, cand_xy, radius)


def _walk_pairs(city: City, demand_xy: np.ndarray, cand_xy: np.ndarray,
                radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    net = walk_network(city)
    graph = city.memoised(("recommend_graph",), lambda: sp.coo_matrix(
        (np.r_[net.seg_len, net.seg_len], (np.r_[net.seg_u, net.seg_v], np.r_[net.seg_v, net.seg_u])),
        shape=(net.node_count, net.node_count)).tocsr())
    ds_ = net.snap(demand_xy)
    cs = net.snap(cand_xy)
    du, dv = net.seg_u[ds_.seg], net.seg_v[ds_.seg]
    d_lu, d_lv = ds_.t, net.seg_len[ds_.seg] - ds_.t
    out_d, out_c, out_m = [], [], []
    for lo in range(0, len(cand_xy), _WALK_CHUNK):
        idx = np.arange(lo, min(lo + _WALK_CHUNK, len(cand_xy)))
        cu, cv = net.seg_u[cs.seg[idx]], net.seg_v[cs.seg[idx]]
        src = np.unique(np.r_[cu, cv])
        nd = dijkstra(graph, directed=False, indices=src, limit=radius)
        row = {n: i for i, n in enumerate(src.tolist())}
        ru = np.array([row[n] for n in cu.tolist()])
        rv = np.array([row[n] for n in cv.tolist()])
        start_u = (cs.access[idx] + cs.t[idx])[:, None]
        start_v = (cs.access[idx] + net.seg_len[cs.seg[idx]] - cs.t[idx])[:, None]
        node_d = np.minimum(start_u + nd[ru], start_v + nd[rv])  # (chunk, nodes)
        dd = np.minimum(node_d[:, du] + d_lu, node_d[:, dv] + d_lv)
        same = cs.seg[idx][:, None] == ds_.seg[None, :]
        if same.any():
            direct = cs.access[idx][:, None] + np.abs(cs.t[idx][:, None] - ds_.t[None, :])
            dd = np.where(same, np.minimum(dd, direct), dd)
        dd = dd + ds_.access[None, :]
        cc, ii = np.nonzero(dd <= radius)
        out_d.append(ii)
        out_c.append(idx[cc])
        out_m.append(dd[cc, ii])
    return np.concatenate(out_d), np.concatenate(out_c), np.concatenate(out_m)
