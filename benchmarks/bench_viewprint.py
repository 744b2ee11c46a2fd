"""Printing the home map's view (PNG and PDF): the view clipped before drawing against drawing every feature.

Run: .venv/bin/python benchmarks/bench_viewprint.py [--copies 1 10] [--out /tmp/gridmap-bench-cities]

Each city is the demo tiled ``copies`` times (``bench_tiles.make_city``). For the whole city and for a zoom-16
view around one grid (with that grid selected), it times ``viewprint.render_png`` and ``render_pdf`` at
1366x760 pixels twice: as shipped (each layer clipped to the view before matplotlib draws it) and the naive
baseline (every feature handed to matplotlib, which then crops). The first call of each city also pays for
reprojecting the layers to Web Mercator (cached per data version); it is printed apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tiles import make_city  # noqa: E402

from app.geo import viewprint  # noqa: E402
from app.geo.dataset import Dataset  # noqa: E402
from app.geo.geojson_store import FolderStore  # noqa: E402
from app.geo.report import find_cjk_font  # noqa: E402


def _time(fn: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    """Print seconds per print, clipped and unclipped, for each city and view."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--out", type=Path, default=Path("/tmp/gridmap-bench-cities"))
    args = ap.parse_args()
    font = find_cjk_font()
    clip = viewprint._clip
    print(f"{'grids':>7} {'view':<6} {'fmt':<4} {'clipped s':>10} {'all s':>8} {'speed-up':>9}")
    for copies in args.copies:
        ds = Dataset(FolderStore(make_city(copies, args.out)))
        grids = ds.layer("grids")
        t = time.perf_counter()
        for name in ("grids", "committees", "divisions", "facilities", "roads"):
            viewprint._layer(ds, name)
        print(f"{len(grids):>7} (reprojecting the layers once: {time.perf_counter() - t:.2f} s)")
        g = grids.iloc[len(grids) // 2]
        pt = g.geometry.representative_point()
        views = {
            "city": {"bbox": ",".join(f"{v:.6f}" for v in grids.total_bounds)},
            "z16": {"view": f"16/{pt.y:.6f}/{pt.x:.6f}", "sel": f"grid:{g['code']}"},
        }
        for vname, extra in views.items():
            view = viewprint.parse_view({"size": "1366x760", "layers": "divisions,committees,grids,roads,facilities",
                                         **extra})
            for fmt, fn in (("png", viewprint.render_png), ("pdf", viewprint.render_pdf)):
                viewprint._clip = clip
                ours = _time(lambda fn=fn, view=view, ds=ds: fn(ds, view, font=font))
                viewprint._clip = lambda gdf, ext: gdf
                naive = _time(lambda fn=fn, view=view, ds=ds: fn(ds, view, font=font), runs=1 if len(grids) > 5000 else 3)
                viewprint._clip = clip
                print(f"{len(grids):>7} {vname:<6} {fmt:<4} {ours:>10.2f} {naive:>8.2f} {naive / ours:>8.1f}x")


if __name__ == "__main__":
    main()
