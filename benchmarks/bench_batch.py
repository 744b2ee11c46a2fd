"""Benchmark: `gridmap locate-batch` end to end (pyarrow, streamed) against the ten-line geopandas script; memory; Dask.

Three measurements, each side a fresh child process timed by ``/usr/bin/time -v`` (wall seconds and peak
RSS), on uniform random points over the grids' bounding box of the data (the demo city by default),
generated in a temporary folder:

1. ``--n`` rows (1,000,000) of CSV: ``gridmap locate-batch in.csv --out out.csv -q`` against the geopandas
   script (``read_csv``, ``points_from_xy``, ``sjoin(how="left")``, ``to_csv``), ``--repeat`` (3) times each;
   prints wall time, CPU time and peak RSS of both (best and median), the speed-up, and fails unless every row
   off a border (more than 5 cm from one, where gridmap's lowest-code rule applies) has the same grid.
2. ``--big`` rows (10,000,000) of CSV through ``gridmap locate-batch``: wall time and peak RSS.
3. ``--dask-rows`` points (20,000,000) in ``--parts`` Parquet partitions: ``gridmap locate-batch PARTS --out DIR``
   in one process against ``--engine dask --workers 2`` (a LocalCluster of 2 processes); prints both times,
   the overhead, and whether every result file is byte-identical.

The batch limits (GRIDMAP_BATCH_MAX_ROWS, GRIDMAP_MAX_UPLOAD_MB, GRIDMAP_BATCH_MAX_RESPONSE_MB) are raised
for the child processes. ``--big 0`` or ``--dask-rows 0`` skips a part. A table of every figure ends the run.

usage: .venv/bin/python benchmarks/bench_batch.py [--n 1000000] [--repeat 3] [--big 10000000]
       [--dask-rows 20000000] [--parts 8] [--data-dir geodata] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
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


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` under /usr/bin/time -v: wall seconds, CPU seconds (user + system) and peak RSS in MB."""
    full = ["/usr/bin/time", "-v", *cmd]
    proc = subprocess.run(full, capture_output=True, text=True, env={**os.environ, **LIMITS, **(env or {})})
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall and rss, proc.stderr[-2000:]
    hours, minutes, seconds = wall.groups()
    cpu = sum(float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr))
    return {"wall": int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), "cpu": cpu,
            "rss": int(rss.group(1)) / 1024}


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _summary(runs: list[dict[str, float]], key: str) -> tuple[float, float]:
    """(best, median) of one figure over repeated runs."""
    values = [r[key] for r in runs]
    return min(values), statistics.median(values)


def _compare(gm_csv: Path, gp_csv: Path) -> tuple[int, int, int]:
    """Rows, rows on a border (within 5 cm: gridmap's lowest-code rule), and rows off the border with another grid."""
    gm = pd.read_csv(gm_csv, usecols=["id", "grid_code", "on_border"], dtype={"grid_code": str})
    gp = pd.read_csv(gp_csv, usecols=["id", "code"], dtype={"code": str})
    gp_code = gp.drop_duplicates("id").set_index("id")["code"].reindex(gm["id"]).fillna("").to_numpy()
    border = gm["on_border"].astype(str).eq("True").to_numpy()
    other = gm["grid_code"].fillna("").to_numpy() != gp_code
    return len(gm), int(border.sum()), int((other & ~border).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side of the headline comparison")
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--dask-rows", "--dask", dest="dask", type=int, default=20_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--data-dir", type=Path, default=REPO / "geodata")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    grids_file = args.data_dir / "grids.geojson"
    bounds = tuple(gpd.read_file(grids_file).to_crs("EPSG:4326").total_bounds)
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    data = ["--data-dir", str(args.data_dir)]
    table: list[tuple[str, str, str, str, str]] = []
    try:
        print(f"data: {args.data_dir}; {os.cpu_count()} cores; {_uptime()}")
        src = tmp / "in.csv"
        pacsv.write_csv(_points(args.n, bounds, 1), src)
        script = tmp / "gp.py"
        script.write_text(GEOPANDAS_SCRIPT)
        gm_runs, gp_runs = [], []
        for i in range(args.repeat):
            gm_runs.append(_timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gm.csv"), "-q", *data]))
            gp_runs.append(_timed([PY, str(script), str(src), str(grids_file), str(tmp / "gp.csv")]))
            print(f"   run {i + 1} (load {_load()}): gridmap {gm_runs[-1]['wall']:.1f} s wall "
                  f"{gm_runs[-1]['cpu']:.1f} CPU s; geopandas {gp_runs[-1]['wall']:.1f} s wall "
                  f"{gp_runs[-1]['cpu']:.1f} CPU s")
        rows, border, other = _compare(tmp / "gm.csv", tmp / "gp.csv")
        print(f"\n1. {args.n:,} rows CSV end to end, {args.repeat} runs each (best / median)")
        for name, runs in (("gridmap locate-batch", gm_runs), ("geopandas script", gp_runs)):
            (wb, wm), (cb, cm), (rb, rm) = (_summary(runs, k) for k in ("wall", "cpu", "rss"))
            print(f"   {name:22s}: wall {wb:6.1f} / {wm:6.1f} s   CPU {cb:6.1f} / {cm:6.1f} s   "
                  f"peak RSS {rb:5.0f} / {rm:5.0f} MB")
            table.append((f"{args.n:,} CSV", name, f"{wb:.1f} / {wm:.1f}", f"{cb:.1f} / {cm:.1f}", f"{rm:.0f}"))
        wall_x = _summary(gp_runs, "wall")[1] / _summary(gm_runs, "wall")[1]
        cpu_x = _summary(gp_runs, "cpu")[1] / _summary(gm_runs, "cpu")[1]
        print(f"   speed-up (medians): {wall_x:.2f}x wall, {cpu_x:.2f}x CPU")
        print(f"   same grid on every row off a border: {other == 0} ({other} differ; {border} of {rows:,} rows are "
              "within 5 cm of a border, where gridmap takes the lowest code and sjoin the row order)")
        if other:
            sys.exit("the grid codes differ off the borders")
        if args.big:
            big = tmp / "big.csv"
            pacsv.write_csv(_points(args.big, bounds, 2), big)
            r = _timed([GRIDMAP, "locate-batch", str(big), "--out", str(tmp / "big_out.csv"), "-q", *data])
            print(f"\n2. {args.big:,} rows CSV, gridmap locate-batch (load {_load()}): {r['wall']:.1f} s wall, "
                  f"{r['cpu']:.1f} CPU s, peak RSS {r['rss']:.0f} MB ({args.big / r['wall']:,.0f} rows/s)")
            table.append((f"{args.big:,} CSV", "gridmap locate-batch", f"{r['wall']:.1f}", f"{r['cpu']:.1f}",
                          f"{r['rss']:.0f}"))
            big.unlink()
            (tmp / "big_out.csv").unlink()
        if args.dask:
            parts = tmp / "parts"
            parts.mkdir()
            per = -(-args.dask // args.parts)
            for i in range(args.parts):
                part = _points(min(per, args.dask - i * per), bounds, 10 + i)
                pq.write_table(part, parts / f"part-{i:03d}.parquet")
                del part
            one = _timed([GRIDMAP, "locate-batch", str(parts), "--out", str(tmp / "one"), "-q", *data])
            dask = _timed([GRIDMAP, "locate-batch", str(parts), "--engine", "dask", "--workers", "2",
                           "--out", str(tmp / "dask"), "-q", *data])
            same = all((tmp / "one" / p.name).read_bytes() == (tmp / "dask" / p.name).read_bytes()
                       for p in sorted(parts.iterdir()))
            print(f"\n3. {args.dask:,} points in {args.parts} Parquet partitions (load {_load()})")
            print(f"   one process          : {one['wall']:7.1f} s wall  peak RSS {one['rss']:6.0f} MB")
            print(f"   dask, 2-worker local : {dask['wall']:7.1f} s wall  (client process peak RSS {dask['rss']:.0f} MB)")
            print(f"   dask/single = {dask['wall'] / one['wall']:.2f}; overhead {dask['wall'] - one['wall']:+.1f} s; "
                  f"result files byte-identical: {same}")
            table.append((f"{args.dask:,} Parquet", "one process", f"{one['wall']:.1f}", f"{one['cpu']:.1f}",
                          f"{one['rss']:.0f}"))
            table.append((f"{args.dask:,} Parquet", "dask 2 workers", f"{dask['wall']:.1f}", "(workers)",
                          f"{dask['rss']:.0f} (client)"))
            if not same:
                sys.exit("the Dask results differ from the single process's")
        print(f"\n{'input':>20s} | {'run':22s} | {'wall s (best / median)':>22s} | {'CPU s':>13s} | peak RSS MB")
        for row in table:
            print(f"{row[0]:>20s} | {row[1]:22s} | {row[2]:>22s} | {row[3]:>13s} | {row[4]}")
        print(f"\n{_uptime()}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
