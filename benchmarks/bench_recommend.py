"""Benchmark site recommendation: demo city and a 10x city (bus stops, 500 m, add 5), and MCLP against random and greedy.

Run: .venv/bin/python benchmarks/bench_recommend.py [--data-dir geodata] [--copies 10] [--skip-dense] [--skip-10x]
Prints seconds against the targets of issue 16 (demo ≤ 10 s, 10x ≤ 60 s), the residents newly covered by MCLP,
by the best of 1,000 random 5-site choices and by the greedy heuristic, and (unless --skip-dense) the time of
spopt's own MCLP.from_cost_matrix on the same pruned problem with a dense cost matrix, from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pulp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_coverage import _LayerStore, scaled_city  # noqa: E402

from app.geo import recommend as rec  # noqa: E402
from app.geo._coverage_sources import prepared_city  # noqa: E402
from app.geo._recommend_candidates import road_candidates  # noqa: E402
from app.geo._recommend_solve import greedy_mclp  # noqa: E402
from app.geo.dataset import Dataset  # noqa: E402
from app.geo.geojson_store import FolderStore  # noqa: E402

LAYERS = ("grids", "addresses", "facilities", "committees", "divisions", "roads")


def newly(weight: np.ndarray, di: np.ndarray, ci: np.ndarray, chosen) -> float:
    """Residents newly covered by the candidates ``chosen``."""
    hit = np.isin(ci, np.asarray(list(chosen)))
    return float(weight[np.unique(di[hit])].sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("geodata"))
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--random", type=int, default=1000, help="random 5-site choices to compare with")
    ap.add_argument("--skip-dense", action="store_true", help="skip spopt's dense from_cost_matrix baseline")
    ap.add_argument("--skip-10x", action="store_true")
    args = ap.parse_args()
    params = rec.make_params("bus_stop", 500, 5, "straight", "mclp", "roads", 100, time_limit_s=60)
    rows: list[tuple[str, float, float | None]] = []

    # 1. demo city, cold: reading the layers, preparing the city, candidates, pairs, solving, tables
    t = time.perf_counter()
    ds = Dataset(FolderStore(args.data_dir))
    result = rec.recommend(ds, params)
    t_cold = time.perf_counter() - t
    k = result.kinds()[0]
    n_addr = int((prepared_city(ds).addr_res > 0).sum())
    rows.append((f"demo cold: {n_addr} addresses, {result.candidates_count} road candidates (100 m)", t_cold, 10.0))
    t = time.perf_counter()
    rec.recommend(ds, params)
    rows.append(("demo again (city prepared)", time.perf_counter() - t, None))

    # 2. quality: MCLP against random choices and greedy, on the same pairs
    city = prepared_city(ds)
    cand = road_candidates(city, 100.0)
    dem, sol, di, ci, _ = rec.solve_kind(city, params, "bus_stop", 500.0, cand, lambda m: None)
    ours = newly(dem.weight, di, ci, sol.chosen)
    useful = np.unique(ci)
    rng = np.random.default_rng(16)
    t = time.perf_counter()
    best_random = max(newly(dem.weight, di, ci, rng.choice(useful, 5, replace=False)) for _ in range(args.random))
    t_random = time.perf_counter() - t
    t = time.perf_counter()
    greedy = newly(dem.weight, di, ci, greedy_mclp(dem.weight, di, ci, len(cand), 5))
    t_greedy = time.perf_counter() - t

    # 3. spopt's own dense from_cost_matrix on the same pruned problem (uncovered demand × useful candidates)
    t_dense = None
    if not args.skip_dense:
        from spopt.locate import MCLP

        rows_d = np.unique(di)
        cost = np.full((len(rows_d), len(useful)), 1000.0)
        cost[np.searchsorted(rows_d, di), np.searchsorted(useful, ci)] = 0.0
        t = time.perf_counter()
        m = MCLP.from_cost_matrix(cost, dem.weight[rows_d], service_radius=500, p_facilities=5)
        m.solve(pulp.HiGHS(msg=False, timeLimit=600), results=False)
        t_dense = time.perf_counter() - t
        dense = float(pulp.value(m.problem.objective))
        rows.append((f"spopt MCLP.from_cost_matrix, dense {cost.shape[0]}x{cost.shape[1]} (same demand)", t_dense, None))

    # 4. the 10x city
    if not args.skip_10x:
        big = scaled_city({k2: ds.layer(k2) for k2 in LAYERS}, args.copies)
        t = time.perf_counter()
        big_result = rec.recommend(Dataset(_LayerStore(big, f"bench-{args.copies}x")), params)
        t_big = time.perf_counter() - t
        kb = big_result.kinds()[0]
        rows.append((f"{args.copies}x cold: {len(big['addresses'])} addresses, {big_result.candidates_count} candidates",
                     t_big, 60.0))

    print(f"{'case':78s} {'seconds':>9s} {'target':>8s}")
    for name, sec, target in rows:
        verdict = "" if target is None else ("  ok" if sec <= target else "  OVER")
        print(f"{name:78s} {sec:9.2f} {'' if target is None else f'{target:6.0f} s':>8s}{verdict}")
    print()
    print(f"demo MCLP: {k['newly_covered']:,} residents newly covered by 5 sites ({k['pct_before']}% → {k['pct_after']}%), "
          f"status {k['status']}, model {k['model']}")
    print(f"  MCLP (HiGHS)                        {ours:12,.0f}")
    print(f"  best of {args.random} random 5-site choices {best_random:12,.0f}  ({t_random:.1f} s; among "
          f"{len(useful)} candidates that reach someone uncovered)")
    print(f"  greedy heuristic                    {greedy:12,.0f}  ({t_greedy:.2f} s)")
    if t_dense is not None:
        print(f"  spopt dense from_cost_matrix        {dense:12,.0f}  ({t_dense:.1f} s, "
              f"{t_dense / rows[0][1]:.1f}x our cold time)")
    print(f"  MCLP ≥ random: {ours >= best_random - 1e-6}; MCLP ≥ greedy: {ours >= greedy - 1e-6}")
    if not args.skip_10x:
        print(f"{args.copies}x MCLP: {kb['newly_covered']:,} newly covered, status {kb['status']}, gap {kb['gap_pct']}, "
              f"model {kb['model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
