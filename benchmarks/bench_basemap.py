"""The local basemap (BASEMAP=local): tiles served per second from an MBTiles file and from a PMTiles archive, in one run.

Run: .venv/bin/python benchmarks/bench_basemap.py [--zoom 6] [--requests 2000]

Both files hold the same generated PNG tiles of zooms 0..--zoom (every tile; 5,461 at zoom 6); the app is
built on the mini test city with each file and asked for --requests random tiles through the Flask test
client (the view, the file read and the caching headers; no network). Prints tiles per second, the median
and 99th percentile time per tile, the file sizes and the time to open and check each file at start-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoom", type=int, default=6)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    from app.geo.mbtiles import open_tile_file
    from tests import helpers
    from tests.web.test_basemap import make_mbtiles, make_pmtiles

    rng = random.Random(13)
    asks = []
    for _ in range(args.requests):
        z = rng.randint(0, args.zoom)
        asks.append((z, rng.randrange(2 ** z), rng.randrange(2 ** z)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = {"MBTiles": make_mbtiles(Path(tmp) / "b.mbtiles", maxzoom=args.zoom),
                 "PMTiles": make_pmtiles(Path(tmp) / "b.pmtiles", maxzoom=args.zoom)}
        print(f"generated {sum(4 ** z for z in range(args.zoom + 1)):,} tiles per file in {time.perf_counter() - t0:.1f} s")
        print(f"{'file':<8} {'size':>9} {'open+check':>11} {'tiles/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for kind, path in files.items():
            t0 = time.perf_counter()
            open_tile_file(path)
            opened = time.perf_counter() - t0
            client = helpers.folder_app(helpers.MINI, BASEMAP="local", BASEMAP_FILE=str(path)).test_client()
            client.get("/basemap/0/0/0.png")
            times = []
            start = time.perf_counter()
            for z, x, y in asks:
                t = time.perf_counter()
                resp = client.get(f"/basemap/{z}/{x}/{y}.png")
                times.append(time.perf_counter() - t)
                assert resp.status_code == 200
            total = time.perf_counter() - start
            times.sort()
            print(f"{kind:<8} {path.stat().st_size / 1e6:>7.1f}MB {opened * 1000:>9.1f}ms {len(asks) / total:>9.0f}"
                  f" {statistics.median(times) * 1000:>7.2f} {times[int(len(times) * 0.99)] * 1000:>7.2f}")


if __name__ == "__main__":
    main()
