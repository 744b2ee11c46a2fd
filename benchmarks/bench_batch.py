"""Benchmark: `gridmap locate-batch` end to end (pyarrow, streamed) against the ten-line geopandas script; memory; Dask.

Three measurements, each side a fresh child process timed by ``/usr/bin/time -v`` (wall seconds and peak
RSS), on uniform random points over the grids' bounding box of the data (the demo city by default),
generated in a temporary folder:

1. ``--n`` rows (1,000,000) of CSV: ``gridmap locate-batch in.csv --out out.csv -q`` against the geopandas
   script (``read_csv``, ``points_from_xy``, ``sjoin(how="left")``, ``to_csv``); prints both times and peak
   RSS, the speed-up, and how many rows got the same grid on both sides.
2. ``--big`` rows (10,000,000) of CSV through ``gridmap locate-batch``: wall time and peak RSS.
3. ``--dask`` points (20,000,000) in ``--parts`` Parquet partitions: ``gridmap locate-batch PARTS --out DIR``
   in one process against ``--engine dask --workers 2`` (a LocalCluster of 2 processes); prints both times,
   the overhead, and whether every result file is byte-identical.

The batch limits (GRIDMAP_BATCH_MAX_ROWS, GRIDMAP_MAX_UPLOAD_MB, GRIDMAP_BATCH_MAX_RESPONSE_MB) are raised
for the child processes. ``--big 0`` or ``--dask 0`` skips a part.

usage: .venv/bin/python benchmarks/bench_batch.py [--n 1000000] [--big 10000000] [--dask 20000000]
       [--parts 8] [--data-dir geodata] [--keep]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python")
GRIDMAP = str(REPO / ".venv" / "bin" / "gridmap")
LIMITS = {"GRIDMAP_BATCH_MAX_ROWS": "1000000000", "GRIDMAP_MAX_UPLOAD_MB": "1000000",
          "GRIDMAP_BATCH_MAX_RESPONSE_MB": "1000000"}

#: The geopandas script of issue 12, as a user writes it.
GEOPANDAS_SCRIPT = textwrap.dedent("""
    import sys
    import geopandas as gpd
    import pandas as pd
    src, grids_file, out = sys.argv[1:4]
    df = pd.read_csv(src)
    grids = gpd.read_file(grids_file)[["code", "name", "geometry"]]
    points = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    joined = gpd.sjoin(points, grids.to_crs("EPSG:4326"), how="left", predicate="within")
    joined.drop(columns="geometry").to_csv(out, index=False)
""")


def _points(n: int, bounds: tuple[float, float, float, float], seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    lon = np.round(rng.uniform(x0, x1, n), 6)
    lat = np.round(rng.uniform(y0, y1, n), 6)
    return pa.table({"id": np.arange(n, dtype=np.int64), "lon": lon, "lat": lat})


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` under /usr/bin/time -v; return (wall seconds, peak RSS in MB); print its CPU seconds."""
    import os

    full = ["/usr/bin/time", "-v", *cmd]
    proc = subprocess.run(full, capture_output=True, text=True, env={**os.environ, **LIMITS, **(env or {})})
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall and rss, proc.stderr[-2000:]
    hours, minutes, seconds = wall.groups()
    cpu = sum(float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr))
    print(f"   ({Path(cmd[0]).name} {' '.join(cmd[1:3])}: {cpu:.1f} CPU s)")
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), int(rss.group(1)) / 1024


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--dask", type=int, default=20_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--data-dir", type=Path, default=REPO / "geodata")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    grids_file = args.data_dir / "grids.geojson"
    bounds = tuple(gpd.read_file(grids_file).to_crs("EPSG:4326").total_bounds)
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    data = ["--data-dir", str(args.data_dir)]
    try:
        print(f"data: {args.data_dir}; load average {_load()} on {__import__('os').cpu_count()} cores")
        src = tmp / "in.csv"
        pacsv.write_csv(_points(args.n, bounds, 1), src)
        t_gm, m_gm = _timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gm.csv"), "-q", *data])
        script = tmp / "gp.py"
        script.write_text(GEOPANDAS_SCRIPT)
        t_gp, m_gp = _timed([PY, str(script), str(src), str(grids_file), str(tmp / "gp.csv")])
        gm = pd.read_csv(tmp / "gm.csv", usecols=["id", "grid_code"], dtype={"grid_code": str})
        gp = pd.read_csv(tmp / "gp.csv", usecols=["id", "code"], dtype={"code": str})
        gp = gp.drop_duplicates("id").set_index("id")["code"].reindex(gm["id"]).to_numpy()
        same = int((gm["grid_code"].fillna("").to_numpy() == pd.Series(gp).fillna("").to_numpy()).sum())
        print(f"\n1. {args.n:,} rows CSV end to end (load {_load()})")
        print(f"   gridmap locate-batch : {t_gm:7.1f} s  peak RSS {m_gm:6.0f} MB")
        print(f"   geopandas script     : {t_gp:7.1f} s  peak RSS {m_gp:6.0f} MB")
        print(f"   speed-up {t_gp / t_gm:.1f}x; same grid on {same:,} of {args.n:,} rows "
              f"({100 * same / args.n:.4f}%)")
        if args.big:
            big = tmp / "big.csv"
            pacsv.write_csv(_points(args.big, bounds, 2), big)
            t, m = _timed([GRIDMAP, "locate-batch", str(big), "--out", str(tmp / "big_out.csv"), "-q", *data])
            print(f"\n2. {args.big:,} rows CSV, gridmap locate-batch (load {_load()}): {t:.1f} s, "
                  f"peak RSS {m:.0f} MB ({args.big / t:,.0f} rows/s)")
            big.unlink()
            (tmp / "big_out.csv").unlink()
        if args.dask:
            parts = tmp / "parts"
            parts.mkdir()
            per = -(-args.dask // args.parts)
            for i in range(args.parts):
                table = _points(min(per, args.dask - i * per), bounds, 10 + i)
                pq.write_table(table, parts / f"part-{i:03d}.parquet")
            t1, m1 = _timed([GRIDMAP, "locate-batch", str(parts), "--out", str(tmp / "one"), "-q", *data])
            t2, m2 = _timed([GRIDMAP, "locate-batch", str(parts), "--engine", "dask", "--workers", "2",
                             "--out", str(tmp / "dask"), "-q", *data])
            same = all((tmp / "one" / p.name).read_bytes() == (tmp / "dask" / p.name).read_bytes()
                       for p in sorted(parts.iterdir()))
            print(f"\n3. {args.dask:,} points in {args.parts} Parquet partitions (load {_load()})")
            print(f"   one process          : {t1:7.1f} s  peak RSS {m1:6.0f} MB")
            print(f"   dask, 2-worker local : {t2:7.1f} s  (peak RSS of the client process {m2:.0f} MB)")
            print(f"   dask/single = {t2 / t1:.2f}; overhead {t2 - t1:+.1f} s; result files byte-identical: {same}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
