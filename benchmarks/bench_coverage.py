"""Benchmark coverage analysis: demo city cold/repeated/walk, and a 10x city against the plain geopandas approach.

Run: .venv/bin/python benchmarks/bench_coverage.py [--data-dir geodata] [--skip-naive-10x]
Prints raw seconds and the ratios against the targets of issue 5, from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo import coverage
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from app.geo.schema import METRIC_CRS

CATEGORIES = ("bus_stop", "park", "parking")
RADII = (300.0, 500.0)


class _LayerStore:
    """Layers held in memory under a fixed version (no hashing, so timings are of the analysis)."""

    def __init__(self, layers: dict[str, gpd.GeoDataFrame], version: str) -> None:
        self.layers, self._version = layers, version

    def version(self) -> str:
        return self._version

    def read(self, layer: str) -> gpd.GeoDataFrame:
        return self.layers[layer]

    def layer_names(self) -> list[str]:
        return list(self.layers)

    def metadata(self) -> dict[str, object]:
        """No metadata: the whole-city row is named 全市."""
        return {}


def scaled_city(layers: dict[str, gpd.GeoDataFrame], copies: int = 10, cols: int = 5) -> dict[str, gpd.GeoDataFrame]:
    """Tile ``copies`` translated copies of a city (metric CRS) side by side; codes get a copy suffix."""
    metric = {k: v.to_crs(METRIC_CRS) for k, v in layers.items()}
    x0, y0, x1, y1 = metric["grids"].total_bounds
    dx, dy = (x1 - x0) * 1.05, (y1 - y0) * 1.05
    out: dict[str, list[gpd.GeoDataFrame]] = {k: [] for k in metric}
    for k in range(copies):
        ox, oy = (k % cols) * dx, (k // cols) * dy
        for name, gdf in metric.items():
            g = gdf.copy()
            g["geometry"] = g.geometry.translate(ox, oy)
            for col in ("code", "committee_code", "division_code", "grid_code", "id"):
                if col in g:
                    g[col] = g[col].astype(str) + f"-{k}"
            out[name].append(g)
    return {k: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), crs=METRIC_CRS) for k, v in out.items()}


def naive_area(grids: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, cat: str, radius: float) -> np.ndarray:
    """The straightforward approach: buffer every facility, union_all, overlay with every grid."""
    f = facilities[facilities["category"] == cat]
    union = shapely.union_all(f.geometry.buffer(radius).values)
    g = grids[["code", "geometry"]]
    inter = gpd.overlay(g, gpd.GeoDataFrame(geometry=[union], crs=grids.crs), how="intersection")
    covered = inter.set_index("code").area.groupby(level=0).sum()
    return (covered.reindex(g["code"]).fillna(0).to_numpy() / g.area.to_numpy()) * 100


def run_all(ds: Dataset, mode: str = "straight") -> list[coverage.CoverageResult]:
    return [coverage.analyse(ds, [c], r, mode=mode) for c in CATEGORIES for r in RADII]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parent.parent / "geodata"))
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--skip-naive-10x", action="store_true", help="skip the slow naive run on the big city")
    args = ap.parse_args()
    folder = Path(args.data_dir)
    if not (folder / "grids.geojson").exists():
        print(f"no geodata in {folder}; run `gridmap demo-data --out {folder}` first", file=sys.stderr)
        return 1
    rows: list[tuple[str, float, float | None, str]] = []

    # 1. demo city, straight line, cold: reading the files + everything
    t0 = time.perf_counter()
    ds = Dataset(FolderStore(folder))
    for layer in ("grids", "addresses", "facilities", "committees", "divisions"):
        ds.layer(layer)
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = run_all(ds)
    t_cold = time.perf_counter() - t1
    n_grids = len(results[0].grids)
    rows.append((f"demo straight {n_grids} grids x3 cats x2 radii, cold (compute)", t_cold, 1.0, "<= 1 s"))
    rows.append(("demo straight, cold incl. reading GeoJSON", t_read + t_cold, 1.0, "(info)"))

    # 2. repeated query: the web page's common case (analyse + map JSON)
    def page_query() -> str:
        return coverage.analyse(ds, ["bus_stop"], 500).map_json("grid")

    page_query()  # first: builds the map geometries of this version
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        page_query()
    t_rep = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        coverage.analyse(ds, ["park"], 300)
    t_rep_core = (time.perf_counter() - t) / reps
    rows.append(("demo repeated query (analyse + map JSON), mean of 20", t_rep, 0.050, "<= 50 ms"))
    rows.append(("demo repeated query (analyse only), mean of 20", t_rep_core, 0.050, "<= 50 ms"))

    # 3. walking mode on the demo city, cold network
    ds.layer("roads")
    t = time.perf_counter()
    run_all(ds, "walk")
    t_walk = time.perf_counter() - t
    rows.append(("demo walk x3 cats x2 radii, cold (network + samples)", t_walk, 10.0, "<= 10 s"))

    # 4. the 10x city against the naive approach, on the same in-memory layers
    base = {k: ds.layer(k) for k in ("grids", "addresses", "facilities", "committees", "divisions")}
    big = scaled_city(base, args.copies)
    t = time.perf_counter()
    ds_big = Dataset(_LayerStore(big, f"bench-{args.copies}x"))
    big_results = run_all(ds_big)
    t_ours_big = time.perf_counter() - t
    # small city from the same in-memory path, for the growth ratio
    small = {k: v.to_crs(METRIC_CRS) for k, v in base.items()}
    t = time.perf_counter()
    run_all(Dataset(_LayerStore(small, "bench-1x")))
    t_ours_small = time.perf_counter() - t
    t = time.perf_counter()
    naive_small = {(c, r): naive_area(small["grids"], small["facilities"], c, r) for c in CATEGORIES for r in RADII}
    t_naive_small = time.perf_counter() - t
    n_big = len(big_results[0].grids)
    rows.append((f"1x: ours (all metrics) {n_grids} grids", t_ours_small, None, ""))
    rows.append(("1x: naive buffer+union_all+overlay (area only)", t_naive_small, None, ""))
    rows.append((f"{args.copies}x: ours (all metrics) {n_big} grids", t_ours_big, None, ""))
    err = max(float(np.nanmax(np.abs(res.grids["area_pct"].to_numpy() - naive_small[(res.params.categories[0],
                                                                                       res.params.radius_m)])))
              for res in run_all(Dataset(_LayerStore(small, "bench-1x"))))
    print(f"max |area_pct ours - naive| on the demo city: {err:.3f} percentage points", flush=True)
    print("\n".join(f"{name:62s} {sec:9.4f} s" for name, sec, _, _ in rows), flush=True)
    if not args.skip_naive_10x:
        print(f"running the naive approach on the {args.copies}x city (slow) ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        for c in CATEGORIES:
            for r in RADII:
                naive_area(big["grids"], big["facilities"], c, r)
        t_naive_big = time.perf_counter() - t
        rows.append((f"{args.copies}x: naive buffer+union_all+overlay (area only)", t_naive_big, None, ""))

    print("\n== coverage benchmark (one run) ==")
    for name, sec, target, note in rows:
        ratio = f"  ratio to target {sec / target:5.2f} ({note})" if target else ""
        print(f"{name:62s} {sec:9.4f} s{ratio}")
    print(f"{'growth: ours ' + str(args.copies) + 'x / 1x':62s} {t_ours_big / t_ours_small:9.2f} x  (linear = {args.copies})")
    print(f"{'growth: naive ' + str(args.copies) + 'x / 1x':62s} "
          + (f"{t_naive_big / t_naive_small:9.2f} x" if not args.skip_naive_10x else "  (skipped)"))
    if not args.skip_naive_10x:
        print(f"{'speed-up on the ' + str(args.copies) + 'x city: naive / ours':62s} {t_naive_big / t_ours_big:9.2f} x"
              "  (target >= 5x)")
    print(f"{'speed-up on the demo city: naive / ours':62s} {t_naive_small / t_ours_small:9.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
