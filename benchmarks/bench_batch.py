"""Benchmark: `gridmap locate-batch` end to end (pyarrow, streamed) against the ten-line geopandas script; memory; Dask.

Three measurements, each side a fresh child process timed by ``/usr/bin/time -v`` (wall seconds and peak
RSS), on uniform random points over the grids' bounding box of the data (the demo city by default),
generated in a temporary folder:

1. ``--n`` rows (1,000,000) of CSV: ``gridmap locate-batch in.csv --out out.csv -q`` (``--columns full``, every
   column, the default) warm and cold, and ``--columns basic`` (grid, status and message only, warm) against the
   geopandas script (``read_csv``, ``points_from_xy``, ``sjoin(how="left")``, ``to_csv``), ``--repeat`` (3) times
   each. gridmap keeps a batch index per data version in ``INSTANCE_DIR/cache`` (a temporary instance folder
   here, prepared by one untimed run): *warm* runs find it, *cold* runs start with the cache folder removed and
   build and save it. Prints wall time, CPU time and peak RSS (best and median), the speed-ups over the script,
   and fails unless every row off a border (more than 5 cm from one, where gridmap's lowest-code rule applies)
   has the same grid in gridmap and the script, cold and warm wrote the same bytes, and basic has full's grid
   and status on every row.
2. ``--big`` rows (10,000,000) of CSV through ``gridmap locate-batch``: wall time and peak RSS.
3. ``--dask-rows`` points (20,000,000) in ``--parts`` Parquet partitions: ``gridmap locate-batch PARTS --out DIR``
   in one process against ``--engine dask --workers 2`` (a LocalCluster of 2 processes); prints both times,
   the overhead, and whether every result file is byte-identical.

The batch limits (GRIDMAP_BATCH_MAX_ROWS, GRIDMAP_MAX_UPLOAD_MB, GRIDMAP_BATCH_MAX_RESPONSE_MB) are raised
for the child processes. ``app/`` is compiled to byte-code first, as an installed package is (a checkout run with
PYTHONDONTWRITEBYTECODE=1 compiles every changed module again in each run: ~0.4 s of the gridmap side). ``--big 0`` or ``--dask-rows 0`` skips a part. A table of every figure ends the run.

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


def _compare_basic(full_csv: Path, basic_csv: Path) -> int:
    """Rows where ``--columns basic`` gives another grid code or status than ``--columns full``."""
    cols = ["id", "grid_code", "status"]
    full = pd.read_csv(full_csv, usecols=cols, dtype=str, keep_default_na=False)
    basic = pd.read_csv(basic_csv, usecols=cols, dtype=str, keep_default_na=False)
    if len(full) != len(basic):
        return max(len(full), len(basic))
    return int((full.to_numpy() != basic.to_numpy()).any(axis=1).sum())


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
        subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "app")], check=True, capture_output=True)
        src = tmp / "in.csv"
        pacsv.write_csv(_points(args.n, bounds, 1), src)
        script = tmp / "gp.py"
        script.write_text(GEOPANDAS_SCRIPT)
        instance = {"GRIDMAP_INSTANCE_DIR": str(tmp / "instance")}
        _timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gm.csv"), "-q", *data], env=instance)
        gm_runs, gc_runs, gb_runs, gp_runs = [], [], [], []
        same_cold = True
        for i in range(args.repeat):
            shutil.rmtree(tmp / "instance" / "cache", ignore_errors=True)
            gc_runs.append(_timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gc.csv"), "-q", *data],
                                  env=instance))
            gm_runs.append(_timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gm.csv"), "-q", *data],
                                  env=instance))
            same_cold &= (tmp / "gc.csv").read_bytes() == (tmp / "gm.csv").read_bytes()
            gb_runs.append(_timed([GRIDMAP, "locate-batch", str(src), "--out", str(tmp / "gb.csv"), "-q",
                                   "--columns", "basic", *data], env=instance))
            gp_runs.append(_timed([PY, str(script), str(src), str(grids_file), str(tmp / "gp.csv")]))
            print(f"   run {i + 1} (load {_load()}): full warm {gm_runs[-1]['wall']:.1f} s wall "
                  f"{gm_runs[-1]['cpu']:.1f} CPU s; full cold {gc_runs[-1]['wall']:.1f} s wall "
                  f"{gc_runs[-1]['cpu']:.1f} CPU s; basic {gb_runs[-1]['wall']:.1f} s wall "
                  f"{gb_runs[-1]['cpu']:.1f} CPU s; geopandas {gp_runs[-1]['wall']:.1f} s wall "
                  f"{gp_runs[-1]['cpu']:.1f} CPU s")
        rows, border, other = _compare(tmp / "gm.csv", tmp / "gp.csv")
        basic_other = _compare_basic(tmp / "gm.csv", tmp / "gb.csv")
        # basic has no on_border column: full's (same points, same index answers) marks the border rows
        gb_as_full = pd.read_csv(tmp / "gb.csv", usecols=["id", "grid_code"], dtype={"grid_code": str})
        gb_as_full["on_border"] = pd.read_csv(tmp / "gm.csv", usecols=["on_border"])["on_border"].to_numpy()
        gb_as_full.to_csv(tmp / "gb_border.csv", index=False)
        _, _, basic_gp_other = _compare(tmp / "gb_border.csv", tmp / "gp.csv")
        print(f"\n1. {args.n:,} rows CSV end to end, {args.repeat} runs each (best / median)")
        for name, runs in (("locate-batch full warm", gm_runs), ("locate-batch full cold", gc_runs),
                           ("locate-batch basic", gb_runs), ("geopandas script", gp_runs)):
            (wb, wm), (cb, cm), (rb, rm) = (_summary(runs, k) for k in ("wall", "cpu", "rss"))
            print(f"   {name:22s}: wall {wb:6.1f} / {wm:6.1f} s   CPU {cb:6.1f} / {cm:6.1f} s   "
                  f"peak RSS {rb:5.0f} / {rm:5.0f} MB")
            table.append((f"{args.n:,} CSV", name, f"{wb:.1f} / {wm:.1f}", f"{cb:.1f} / {cm:.1f}", f"{rm:.0f}"))
        for name, runs in (("full warm", gm_runs), ("full cold", gc_runs), ("basic", gb_runs)):
            wall_x = _summary(gp_runs, "wall")[1] / _summary(runs, "wall")[1]
            cpu_x = _summary(gp_runs, "cpu")[1] / _summary(runs, "cpu")[1]
            rss_x = _summary(runs, "rss")[1] / _summary(gp_runs, "rss")[1]
            print(f"   {name} vs geopandas (medians): {wall_x:.2f}x faster wall, {cpu_x:.2f}x less CPU, "
                  f"{rss_x:.2f}x the peak RSS")
        print(f"   same grid on every row off a border: full {other == 0} ({other} differ), basic "
              f"{basic_gp_other == 0} ({basic_gp_other} differ); {border} of {rows:,} rows are within 5 cm of a "
              "border, where gridmap takes the lowest code and sjoin the row order")
        print(f"   basic has full's grid code and status on every row: {basic_other == 0} ({basic_other} differ)")
        print(f"   full cold (index built) and warm (index loaded) wrote the same bytes: {same_cold}")
        if not same_cold:
            sys.exit("the cold and warm results differ")
        if other or basic_gp_other:
            sys.exit("the grid codes differ off the borders")
        if basic_other:
            sys.exit("--columns basic differs from --columns full")
        if args.big:
            big = tmp / "big.csv"
            pacsv.write_csv(_points(args.big, bounds, 2), big)
            r = _timed([GRIDMAP, "locate-batch", str(big), "--out", str(tmp / "big_out.csv"), "-q", *data],
                       env=instance)
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
            one = _timed([GRIDMAP, "locate-batch", str(parts), "--out", str(tmp / "one"), "-q", *data], env=instance)
            dask = _timed([GRIDMAP, "locate-batch", str(parts), "--engine", "dask", "--workers", "2",
                           "--out", str(tmp / "dask"), "-q", *data], env=instance)
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
