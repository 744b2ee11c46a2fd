"""Batch lookups (`locate_frame`) of this tree against an earlier commit, in one run: coordinate rows and address rows.

Each side runs in a fresh process on the same generated table: ``--n`` coordinate rows (uniform over the
grids, 2% written lat,lon and 1% outside the city) and ``--n`` address rows (the demo addresses with
city prefixes, unit/room tails and a few typing slips). Prints seconds, rows/s and the status counts of
both sides; the new side also does swapped-row detection, datum warnings and nearest addresses.

usage: python benchmarks/bench_locate_batch.py [--n 100000] [--base 282cf12] [--data-dir geodata]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time
import pandas as pd
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from app.geo.locate import locate_frame, summarize

data_dir, coords, addresses = sys.argv[1:4]
ds = Dataset(FolderStore(data_dir))
ds.grid_index; ds.address_matcher.match("warm up")
locate_frame(ds, pd.read_csv(coords, dtype=str).head(100))
out = {}
for name, path in (("coordinates", coords), ("addresses", addresses)):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    t0 = time.perf_counter()
    res = locate_frame(ds, df)
    out[name] = {"seconds": time.perf_counter() - t0, "counts": summarize(res)}
print(json.dumps(out))
"""


def _tables(data_dir: Path, n: int, folder: Path, seed: int) -> tuple[Path, Path]:
    """The two input CSVs: coordinate rows and address rows."""
    rng = np.random.default_rng(seed)
    grids = gpd.read_file(data_dir / "grids.geojson")
    w, s, e, nb = grids.total_bounds
    lon, lat = rng.uniform(w, e, n), rng.uniform(s, nb, n)
    lon[: n // 100] += 0.5  # outside the city
    swap = rng.random(n) < 0.02
    x, y = np.where(swap, lat, lon), np.where(swap, lon, lat)
    coords = folder / "coords.csv"
    pd.DataFrame({"lon": np.round(x, 6), "lat": np.round(y, 6)}).to_csv(coords, index=False)
    texts = gpd.read_file(data_dir / "addresses.geojson")["address"].to_numpy(str)
    picks = texts[rng.integers(0, len(texts), n)]
    city = json.loads((data_dir / "metadata.json").read_text(encoding="utf-8")).get("city", {}).get("name", "")
    variants = []
    for i, t in enumerate(picks):
        kind = i % 4
        if kind == 1:
            t = city + t
        elif kind == 2:
            t = t + "2单元301室"
        elif kind == 3 and len(t) > 3:
            t = t[:1] + t[2] + t[1] + t[3:]  # two characters swapped
        variants.append(t)
    addresses = folder / "addresses.csv"
    pd.DataFrame({"address": variants}).to_csv(addresses, index=False)
    return coords, addresses


def _export(rev: str, dest: Path) -> Path:
    archive = dest / "base.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    return dest / "tree"


def _side(tree: Path, data_dir: Path, coords: Path, addresses: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(data_dir), str(coords), str(addresses)],
                         cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="rows per table")
    ap.add_argument("--base", default="282cf12", help="the earlier commit to compare with")
    ap.add_argument("--data-dir", type=Path, default=REPO / "geodata")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        coords, addresses = _tables(args.data_dir.resolve(), args.n, folder, args.seed)
        sides = {f"base {args.base}": _side(_export(args.base, folder), args.data_dir.resolve(), coords, addresses),
                 "this tree": _side(REPO, args.data_dir.resolve(), coords, addresses)}
    print(f"locate_frame on {args.n} rows per table, data {args.data_dir}")
    print(f"{'side':18} {'table':12} {'seconds':>8} {'rows/s':>9}  counts")
    for side, res in sides.items():
        for table, r in res.items():
            counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if k != "total")
            print(f"{side:18} {table:12} {r['seconds']:8.2f} {args.n / r['seconds']:9.0f}  {counts}")


if __name__ == "__main__":
    main()
