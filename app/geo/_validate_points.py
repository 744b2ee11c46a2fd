"""The validator's checks of points against areas and roads: grid membership, population sums, road reach."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._validate_base import ROAD_DISTANCE_M, _ids, _in_metric, _issue, _str_col
from app.geo.findings import Finding


def _present(geoms: np.ndarray) -> np.ndarray:
    """Mask of the geometries that exist and are not empty."""
    return np.array([g is not None and not shapely.is_empty(g) for g in geoms], bool)


def check_points_in_grids(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, layer: str) -> list[Finding]:
    """Check that each point's ``grid_code`` names a grid that actually contains the point.

    Parameters
    ----------
    points : GeoDataFrame
        Addresses or facilities (lon/lat points with ``grid_code``).
    grids : GeoDataFrame
        Grids in lon/lat.
    layer : str
        Layer name of ``points`` for the messages.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    ids = _ids(points, layer)
    gcodes = _str_col(grids, "code").to_numpy()
    known = set(c for c in gcodes if c)
    geoms = np.asarray(grids.geometry.values, dtype=object)
    good = np.array([g is not None and shapely.is_valid(g) for g in geoms], bool)
    tree = shapely.STRtree(geoms[good])
    gcodes = gcodes[good]
    pts = np.asarray(points.geometry.values, dtype=object)
    ok_pts = _present(pts)
    src, dst = tree.query(pts[ok_pts], predicate="intersects")
    pos = np.nonzero(ok_pts)[0]
    inside: dict[int, list[str]] = {}
    for s, d in zip(src, dst, strict=True):
        inside.setdefault(int(pos[s]), []).append(gcodes[d])
    for k, code in enumerate(_str_col(points, "grid_code")):
        if not ok_pts[k]:
            continue
        where = f"{pts[k].x:.6f},{pts[k].y:.6f}"
        found = inside.get(k, [])
        if code is not None and code not in known:
            issues.append(_issue("error", layer, ids[k], f"grid_code {code} is not in the grids layer",
                                 where))
        elif not found:
            issues.append(_issue("error", layer, ids[k], "lies outside every grid", where))
        elif code is not None and code not in found:
            issues.append(_issue("error", layer, ids[k], f"grid_code is {code} but it lies in {found[0]}",
                                 where))
    return issues


def check_address_sums(grids: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> list[Finding]:
    """Check that each grid's population and households equal the sums over its addresses.

    A figure no address carries (every address 0 or empty, as in a standard-address list without
    a residents' register) is not checked: the grids' own numbers are all there is.

    Parameters
    ----------
    grids, addresses : GeoDataFrame
        The grid and address layers.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    if "grid_code" not in addresses.columns:
        return issues
    sums = pd.DataFrame({
        "grid_code": _str_col(addresses, "grid_code"),
        "residents": pd.to_numeric(addresses.get("residents"), errors="coerce"),
        "households": pd.to_numeric(addresses.get("households"), errors="coerce"),
    }).groupby("grid_code").sum(min_count=1)
    for field_g, field_a in (("population", "residents"), ("households", "households")):
        if field_g not in grids.columns or not sums[field_a].fillna(0).any():
            continue
        values = pd.to_numeric(grids[field_g], errors="coerce")
        for code, v in zip(_str_col(grids, "code"), values, strict=True):
            total = sums[field_a].get(code, 0) if code in sums.index else 0
            total = 0 if pd.isna(total) else total
            if pd.isna(v) or int(total) != int(v):
                issues.append(_issue("error", "grids", code,
                                     f"{field_g} is {v if not pd.isna(v) else 'empty'} but its addresses' "
                                     f"{field_a} sum to {int(total)}"))
    return issues


def check_near_roads(points: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, layer: str,
                     max_distance: float = ROAD_DISTANCE_M, crs: str | None = None) -> list[Finding]:
    """Warn about points farther than ``max_distance`` metres from every road (unreachable on foot).

    Parameters
    ----------
    points, roads : GeoDataFrame
        Points (addresses or facilities) and roads, in lon/lat.
    layer : str
        Layer name of ``points``.
    max_distance : float
        Distance in metres.
    crs : str, optional
        As for :func:`app.geo.validate.check_nesting`.

    Returns
    -------
    list of Finding
    """
    issues: list[Finding] = []
    rm, pm = _in_metric(crs, roads, points)
    lines = np.asarray(rm.geometry.values, dtype=object)
    lines = lines[_present(lines)]
    if not len(lines) or not len(points):
        return issues
    pts = np.asarray(pm.geometry.values, dtype=object)
    tree = shapely.STRtree(lines)
    ok = _present(pts)
    near = tree.query(pts[ok], predicate="dwithin", distance=max_distance)
    close = set(np.nonzero(ok)[0][np.unique(near[0])].tolist())
    ids = _ids(points, layer)
    for k in np.nonzero(ok)[0]:
        if int(k) not in close:
            p = points.geometry.values[k]
            issues.append(_issue("warning", layer, ids[k], f"more than {max_distance:.0f} m from any road",
                                 f"{p.x:.6f},{p.y:.6f}"))
    return issues
