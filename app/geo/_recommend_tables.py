"""Site recommendation results: the chosen sites, who they newly reach, and before/after tables by grid and committee."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely

from app.geo._coverage_params import KIND_TARGET_PCT, MAX_RADIUS_M, default_target
from app.geo._coverage_results import _level_ids
from app.geo._coverage_sources import City
from app.geo._recommend_candidates import pairs_within
from app.geo.recommend import KindRun, RecommendParams, dist_stats, solve_kind, storage_xy


def _per_hundred(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, 100.0 * part / np.where(whole > 0, whole, 1), np.nan)


def kind_run(city: City, params: RecommendParams, cat: str, radius: float, cand_xy: np.ndarray,
             names: list[str] | None, say: Callable[[str], None]) -> KindRun:
    """Solve one kind and measure its effect: sites, newly reached residents, tables and summary."""
    dem, sol, di, ci, _ = solve_kind(city, params, cat, radius, cand_xy, say)
    chosen = np.asarray(sol.chosen, dtype=np.int64)
    site_xy = cand_xy[chosen] if len(chosen) else np.empty((0, 2))
    say("coverage before and after")
    d_new = np.full(len(dem.xy), np.inf)
    nearest = np.full(len(dem.xy), -1, dtype=np.int64)
    if len(chosen):
        pd_, pc, pm = pairs_within(city, dem.xy, site_xy, 2 * MAX_RADIUS_M, params.mode)
        order = np.argsort(-pm)  # the nearest written last wins
        d_new[pd_[order]] = pm[order]
        nearest[pd_[order]] = pc[order]
    before = dem.d_exist <= radius
    d_after = np.minimum(dem.d_exist, d_new)
    after = d_after <= radius
    newly = after & ~before
    unc = ~before
    reachable = np.zeros(len(dem.xy), dtype=bool)
    reachable[di] = True
    # per address (rows of the City with residents)
    a = dem.addr
    res = city.addr_res[dem.addr_rows].astype(float)
    grid = city.addr_grid[dem.addr_rows]
    target, _ = default_target((cat,), radius)
    if target is None:
        target = KIND_TARGET_PCT if params.preset else None
    site_grid = _grid_of(city, site_xy)
    tables = {}
    for level, groups, n in (("grid", np.arange(city.n_grids), city.n_grids),
                             ("committee", city.grid_com, len(city.committees))):
        g = np.where(grid >= 0, groups[np.maximum(grid, 0)], -1)
        ok = g >= 0
        gg = g[ok]
        r = res[ok]
        residents = np.bincount(gg, weights=r, minlength=n)
        cb = np.bincount(gg, weights=r * before[a][ok], minlength=n)
        ca = np.bincount(gg, weights=r * after[a][ok], minlength=n)
        df = _level_ids(city, level)
        keep = [c for c in ("code", "name", "committee_name", "division_name") if c in df]
        df = df[keep].copy()
        sg = np.where(site_grid >= 0, groups[np.maximum(site_grid, 0)], -1)
        df["new_sites"] = np.bincount(sg[sg >= 0], minlength=n).astype(np.int64)
        df["residents"] = residents.astype(np.int64)
        df["covered_before"] = cb.astype(np.int64)
        df["covered_after"] = ca.astype(np.int64)
        df["newly_covered"] = (ca - cb).astype(np.int64)
        df["pct_before"] = np.round(_per_hundred(cb, residents), 2)
        df["pct_after"] = np.round(_per_hundred(ca, residents), 2)
        df["dist_mean_before_m"] = np.round(dist_stats(g, dem.d_exist[a], res, n), 1)
        df["dist_mean_after_m"] = np.round(dist_stats(g, d_after[a], res, n), 1)
        tables[level] = df
    grid_t = tables["grid"]
    has = grid_t["residents"] > 0
    below = (lambda col: int((has & (grid_t[col] < target - 1e-9)).sum())) if target is not None else (lambda col: None)
    # sites, each newly reached point counted once at its nearest new site
    gain = np.bincount(nearest[newly], weights=dem.weight[newly], minlength=len(chosen)) if len(chosen) else np.zeros(0)
    lonlat = storage_xy(site_xy, city.crs)
    sites = pd.DataFrame({
        "candidate": chosen,
        "name": [names[j] if names is not None else f"#{j + 1}" for j in chosen],
        "lon": np.round(lonlat[:, 0], 6) if len(chosen) else [], "lat": np.round(lonlat[:, 1], 6) if len(chosen) else [],
        "x": site_xy[:, 0], "y": site_xy[:, 1],
        "grid_code": [city.grids["code"].iat[k] if k >= 0 else "" for k in site_grid],
        "grid_name": [city.grids["name"].iat[k] if k >= 0 else "" for k in site_grid],
        "committee_name": [city.com_names.get(city.grids["committee_code"].iat[k], "") if k >= 0 else ""
                           for k in site_grid],
        "residents_new": gain.astype(np.int64),
    })
    order = np.lexsort((sites["candidate"].to_numpy(), -sites["residents_new"].to_numpy()))
    sites = sites.iloc[order].reset_index(drop=True)
    rank_of = {int(c): i + 1 for i, c in enumerate(sites["candidate"])}
    sites.insert(0, "rank", np.arange(1, len(sites) + 1))
    n_lonlat = storage_xy(dem.xy[newly], city.crs)
    newly_df = pd.DataFrame({
        "lon": np.round(n_lonlat[:, 0], 6), "lat": np.round(n_lonlat[:, 1], 6),
        "residents": dem.weight[newly].astype(np.int64),
        "site": [rank_of[int(chosen[k])] for k in nearest[newly]],
    })
    total = float(dem.weight.sum())
    w_unc = float(dem.weight[unc].sum())
    unreach = unc & ~reachable if params.objective != "pmedian" else np.zeros(len(dem.xy), dtype=bool)
    fin_b, fin_a = np.isfinite(dem.d_exist), np.isfinite(d_after)
    summary = {
        "residents": int(total),
        "covered_before": int(dem.weight[before].sum()), "covered_after": int(dem.weight[after].sum()),
        "newly_covered": int(dem.weight[newly].sum()),
        "pct_before": round(100 * float(dem.weight[before].sum()) / total, 2) if total else None,
        "pct_after": round(100 * float(dem.weight[after].sum()) / total, 2) if total else None,
        "uncovered_before": int(w_unc),
        "unreachable_points": int(unreach.sum()), "unreachable_residents": int(dem.weight[unreach].sum()),
        "dist_mean_before_m": _wmean(dem.d_exist[fin_b], dem.weight[fin_b]),
        "dist_mean_after_m": _wmean(d_after[fin_a], dem.weight[fin_a]),
        "sites": len(chosen), "target_pct": target,
        "grids_below_before": below("pct_before"), "grids_below_after": below("pct_after"),
        "status": sol.status, "gap_pct": sol.gap_pct, "solve_s": round(sol.elapsed_s, 3),
        "model": sol.size, "nothing_uncovered": bool(w_unc == 0),
    }
    return KindRun(cat, radius, sites, tables, summary, newly_df)


def _wmean(v: np.ndarray, w: np.ndarray) -> float | None:
    return round(float((v * w).sum() / w.sum()), 1) if w.sum() > 0 else None


def _grid_of(city: City, xy: np.ndarray) -> np.ndarray:
    """Grid row containing each point (the nearest grid when outside every grid)."""
    out = np.full(len(xy), -1, dtype=np.int64)
    if len(xy) == 0:
        return out
    pts = shapely.points(xy)
    hit = city.grid_tree.query(pts, predicate="within")
    out[hit[0][::-1]] = hit[1][::-1]
    miss = np.flatnonzero(out < 0)
    if len(miss):
        near = city.grid_tree.query_nearest(pts[miss], all_matches=False)
        out[miss[near[0]]] = near[1]
    return out
