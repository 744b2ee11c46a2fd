"""Benchmark: GridIndex.locate against geopandas.sjoin(predicate="within") on random points over the grids."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from app.geo.gridindex import GridIndex

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GRIDS = REPO / "geodata" / "grids.geojson"


def synthetic_grids(n: int = 613, seed: int = 0) -> gpd.GeoDataFrame:
    """A Voronoi tiling of ``n`` cells over Jiayuguan's urban core, edges densified every ~50 m.

    Parameters
    ----------
    n : int
        Number of grids.
    seed : int
        Random seed for the generator points.

    Returns
    -------
    geopandas.GeoDataFrame
        Grids with a 15-digit ``code`` column, in EPSG:4326.
    """
    rng = np.random.default_rng(seed)
    env = shapely.box(98.20, 39.74, 98.35, 39.84)
    pts = shapely.multipoints(np.column_stack([rng.uniform(98.20, 98.35, n), rng.uniform(39.74, 39.84, n)]))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=env)), env)
    cells = shapely.segmentize(cells, 0.0005)
    codes = [f"620201001{k:06d}" for k in range(len(cells))]
    return gpd.GeoDataFrame({"code": codes}, geometry=cells, crs="EPSG:4326")


def best_of(repeat: int, fn):
    """Run ``fn`` ``repeat`` times; return (fastest seconds, last result)."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table; return a process exit code (1 when answers differ)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="number of random points (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--grids", type=Path, default=DEFAULT_GRIDS, help="grid file (default geodata/grids.geojson)")
    ap.add_argument("--synthetic", action="store_true", help="use a synthetic 613-grid tiling instead of a file")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per step; the fastest counts (default 3)")
    args = ap.parse_args(argv)

    if args.synthetic or not args.grids.exists():
        if not args.synthetic:
            print(f"note: {args.grids} not found; using a synthetic 613-grid tiling", file=sys.stderr)
        grids = synthetic_grids()
        source = "synthetic Voronoi tiling"
    else:
        grids = gpd.read_file(args.grids, engine="pyogrio")
        source = str(args.grids.relative_to(REPO) if args.grids.is_relative_to(REPO) else args.grids)
    grids = grids.reset_index(drop=True)

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = grids.total_bounds
    lon = rng.uniform(minx, maxx, args.n)
    lat = rng.uniform(miny, maxy, args.n)

    t_build, gi = best_of(args.repeat, lambda: GridIndex(grids))
    t_query, res = best_of(args.repeat, lambda: gi.locate(lon, lat, nearest=False))
    t_nearest, res_n = best_of(1, lambda: gi.locate(lon, lat, nearest=True))
    sample = rng.integers(0, args.n, 2000)
    t_one, _ = best_of(args.repeat, lambda: [gi.locate_one(lon[k], lat[k]) for k in sample])
    t_one /= len(sample)

    def sjoin_points():
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=grids.crs)

    t_points, points = best_of(args.repeat, sjoin_points)
    t_sjoin, joined = best_of(max(1, args.repeat - 1), lambda: gpd.sjoin(points, grids, predicate="within"))
    t_sjoin_total = t_points + t_sjoin

    # sjoin's answer per point: the grid when exactly one holds it, -1 for none; count multiples.
    hits = np.bincount(joined.index.to_numpy(), minlength=args.n)
    expected = np.full(args.n, -1, dtype=np.int64)
    single = hits[joined.index.to_numpy()] == 1
    expected[joined.index.to_numpy()[single]] = joined["index_right"].to_numpy()[single]
    strict = ~res.on_border
    mismatches = int((expected[strict] != res.index[strict]).sum())
    border = res.on_border
    agree_nearest = bool((res_n.index == res.index).all())

    rows = [
        ("GridIndex build (once per data version)", t_build, None),
        ("GridIndex.locate, nearest=False", t_query, None),
        ("GridIndex.locate, nearest=True", t_nearest, None),
        ("points GeoDataFrame construction", t_points, None),
        ("sjoin within alone", t_sjoin, t_sjoin / t_query),
        ("sjoin within incl. GeoDataFrame construction", t_sjoin_total, t_sjoin_total / t_query),
        ("GridIndex build + locate vs sjoin incl. construction", t_build + t_query, t_sjoin_total / (t_build + t_query)),
    ]
    print(f"grids: {len(grids)} ({source}); points: {args.n:,} uniform over the bbox, seed {args.seed}; "
          f"fastest of {args.repeat}")
    print(repr(gi))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'seconds':>9}  {'sjoin / GridIndex':>17}")
    for name, secs, ratio in rows:
        print(f"{name:<{width}}  {secs:9.3f}  {'' if ratio is None else f'{ratio:16.1f}x':>17}")
    print(f"{'GridIndex.locate_one, per call':<{width}}  {t_one * 1e6:7.1f}us")
    inside = int((res.index >= 0).sum())
    outside = args.n - inside
    per_outside = f"{(t_nearest - t_query) / outside * 1e6:.2f} us each" if outside else "none outside"
    print(f"inside {inside:,}, outside {outside:,}; {t_query / args.n * 1e9:.0f} ns per point "
          f"(nearest for outside points: {per_outside})")
    print(f"on_border (within {gi.border_tol_m} m of a boundary): {int(border.sum())} points; "
          f"sjoin gave them none: {int((hits[border] == 0).sum())}, one: {int((hits[border] == 1).sum())}, "
          f"several: {int((hits[border] > 1).sum())}")
    print(f"points sjoin matched to several grids: {int((hits > 1).sum())}")
    status = "IDENTICAL" if mismatches == 0 else f"{mismatches} DIFFERENT"
    print(f"answers for the {int(strict.sum()):,} points off the borders: {status}; "
          f"nearest=True keeps the same answers: {agree_nearest}")
    return 0 if mismatches == 0 and agree_nearest else 1


if __name__ == "__main__":
    sys.exit(main())
