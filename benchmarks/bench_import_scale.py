"""`importer.prepare` on generated grid tilings of 5k, 20k and 200k squares: time and peak memory, this tree and an old one.

Run: .venv/bin/python benchmarks/bench_import_scale.py [--sizes 5000,20000,200000] [--base d875069]
     [--base-sizes 5000,20000] [--timeout 600]

Each size is a regular tiling of squares (about 110 m) near Jiayuguan with valid 15-digit grid codes in
blocks of 20 x 25 grids per committee, checked against a committee layer that the benchmark also writes.
Two scenarios per size: ``clean`` (every grid lies in its committee: no findings but the defaults) and
``outside`` (the committees are moved one block east, so every grid lies outside the committee it names:
one finding per grid, which is where a per-finding scan over all features shows). Every run is a fresh
process: the time is that of ``prepare`` alone, the memory the process's peak RSS (max RSS, imports
and the committees included) and how much it grew during ``prepare`` (``+MiB``). The base commit (exported with ``git archive``) runs only for
``--base-sizes``; a run over ``--timeout`` seconds is stopped and shown as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import helpers  # noqa: E402

SIZE = 0.001  # degrees per square side
BLOCK = (25, 20)  # rows x columns of grids per committee
SHAPES = {5000: (50, 100), 20000: (100, 200), 200000: (400, 500)}

_RUNNER = """
import json, os, resource, sys, time
import geopandas as gpd
from app.geo import importer

class Layers:  # the two calls the importer makes of its context store
    def __init__(self, layers):
        self._layers = layers
    def layer_names(self):
        return list(self._layers)
    def read(self, name):
        return self._layers[name]

def rss_mib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024

grids, committees = sys.argv[1], sys.argv[2]
context = Layers({"committees": gpd.read_file(committees)})
limits = importer.Limits(max_file_bytes=1 << 31, max_unpacked_bytes=1 << 31, max_features=10 ** 6)
before = rss_mib()
start = time.perf_counter()
plan = importer.prepare(grids, "grids", limits=limits, context=context)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_before": before, "peak_mib": peak, "findings": len(plan.report.findings),
                  "errors": len(plan.report.errors), "ok": plan.report.ok}))
"""


def tiling(rows: int, cols: int, *, lon0: float = 98.1, lat0: float = 39.6,
           shift_blocks: int = 0) -> tuple[dict, dict]:
    """Return a grid tiling and its committees as GeoJSON documents.

    Parameters
    ----------
    rows, cols : int
        Squares north-south and west-east.
    lon0, lat0 : float
        South-west corner.
    shift_blocks : int
        Move the committees this many blocks east (1: every grid lies outside its committee).

    Returns
    -------
    (dict, dict)
        The grids (``code``, ``name``, ``committee_code``) and the committees (``code``, ``name``,
        ``kind``, ``division_code``), one committee per block of ``BLOCK`` grids, 199 per division.
    """
    br, bc = BLOCK
    per_row = -(-cols // bc)

    def committee(r: int, c: int) -> str:
        div, k = divmod((r // br) * per_row + c // bc, 199)
        return f"620201{div + 1:03d}{k + 1:03d}"

    def box(i0: int, j0: int, i1: int, j1: int) -> dict:
        """A rectangle on the lines of the tiling, with a vertex at every line it crosses (as a dissolve gives)."""
        x = [round(lon0 + i * SIZE, 6) for i in range(i0, i1 + 1)]
        y = [round(lat0 + j * SIZE, 6) for j in range(j0, j1 + 1)]
        ring = ([[v, y[0]] for v in x] + [[x[-1], v] for v in y[1:]] + [[v, y[-1]] for v in x[-2::-1]]
                + [[x[0], v] for v in y[-2::-1]])
        return {"type": "Polygon", "coordinates": [ring]}

    grids = []
    for r in range(rows):
        for c in range(cols):
            com = committee(r, c)
            seq = (r % br) * bc + c % bc + 1
            grids.append({"type": "Feature", "geometry": box(c, rows - r - 1, c + 1, rows - r),
                          "properties": {"code": f"{com}{seq:03d}", "name": f"{com}第{seq}网格",
                                         "committee_code": com}})
    committees = []
    for r in range(0, rows, br):
        for c in range(0, cols, bc):
            com = committee(r, c)
            i0 = c + shift_blocks * bc
            geom = box(i0, rows - min(r + br, rows), i0 + min(bc, cols - c), rows - r)
            committees.append({"type": "Feature", "geometry": geom,
                               "properties": {"code": com, "name": f"社区{com[-3:]}", "kind": "community",
                                              "division_code": com[:9]}})
    return ({"type": "FeatureCollection", "features": grids},
            {"type": "FeatureCollection", "features": committees})


def _run(tree: Path, grids: Path, committees: Path, timeout: float) -> dict | None:
    """Run ``prepare`` from ``tree`` in a fresh process; None when it ran out of time."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(grids), str(committees)], cwd=tree, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed in {tree} (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


_COLUMNS = f"{'s':>7} {'peak MiB':>8} {'+MiB':>5} {'findings':>8}"


def _cell(result: dict | None, timeout: float | None) -> str:
    """Seconds, peak RSS, its growth during ``prepare`` and the findings; a dash when not run."""
    if result is None:
        return f"{'>' + format(timeout, '.0f') if timeout else '–':>7} {'':>8} {'':>5} {'':>8}"
    grown = result["peak_mib"] - result["rss_before"]
    return f"{result['seconds']:7.1f} {result['peak_mib']:8.0f} {grown:5.0f} {result['findings']:8d}"


def main() -> None:
    """Write the tilings, run each size and scenario on both sides, print one row per run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,20000,200000", help="grid counts (5000, 20000, 200000)")
    ap.add_argument("--base", default="d875069", help="the old commit to compare with ('' for none)")
    ap.add_argument("--base-sizes", default="5000,20000", help="sizes the old commit runs for")
    ap.add_argument("--scenarios", default="clean,outside")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is stopped")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base_sizes = {int(s) for s in args.base_sizes.split(",") if s} if args.base else set()
    with tempfile.TemporaryDirectory(prefix="gm-bench-import-") as tmp:
        root = Path(tmp)
        base = helpers.export_commit(args.base, root) if base_sizes & set(sizes) else None
        print(f"{'grids':>7} {'scenario':8} | this {_COLUMNS} | base {_COLUMNS} | faster")
        for n in sizes:
            rows, cols = SHAPES.get(n, (int(n ** 0.5), -(-n // int(n ** 0.5))))
            for scenario in args.scenarios.split(","):
                grids_doc, com_doc = tiling(rows, cols, shift_blocks=1 if scenario == "outside" else 0)
                grids, committees = root / f"grids-{n}.geojson", root / f"committees-{n}-{scenario}.geojson"
                grids.write_text(json.dumps(grids_doc))
                committees.write_text(json.dumps(com_doc))
                this = _run(REPO, grids, committees, args.timeout)
                compared = base is not None and n in base_sizes
                old = _run(base, grids, committees, args.timeout) if compared else None
                if not compared or this is None:
                    ratio = "–"
                elif old is None:
                    ratio = f">{args.timeout / this['seconds']:.0f}x"
                else:
                    ratio = f"{old['seconds'] / this['seconds']:.1f}x"
                print(f"{n:7d} {scenario:8} | this {_cell(this, args.timeout)} | "
                      f"base {_cell(old, args.timeout if compared else None)} | {ratio:>6}", flush=True)

if __name__ == "__main__":
    main()
