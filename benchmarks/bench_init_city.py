"""`gridmap init-city` on a generated city of about 600 grids and 10,000 addresses, against layer-by-layer `gridmap import` of an earlier commit.

Run: .venv/bin/python benchmarks/bench_init_city.py [--sections 9] [--addresses 10000] [--base d875069]
     [--timeout 900]

The city is ``tests/cities.make_cn_city`` with ``--sections`` sub-district/town pairs (about 65 grids
each): one zipped GBK Shapefile of grids with Chinese field names in EPSG:4546 and no .cpg, an XLSX of
facilities and an XLSX standard-address list, both in GCJ-02. This tree runs ``init-city --dry-run`` and
``init-city`` into a new store. The earlier commit (exported with ``git archive``) has no init-city: its
peer is importing the same three files one by one with ``gridmap import LAYER FILE`` (``--crs gcj02`` for
the tables) into a store seeded from its demo city. When it refuses a file (its importer knows neither
the Chinese field names nor a code scheme other than Jiayuguan's), the table says so and names the
problems; only this tree's time is then a measurement of the whole job. Every run is a fresh process:
wall time and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import cities, helpers  # noqa: E402

_CLI = "import sys; from app.cli import main; sys.argv[0] = 'gridmap'; main()"


def _run(tree: Path, instance: Path, args: list[str], timeout: float) -> dict:
    """Run ``gridmap ARGS`` from ``tree``; return seconds, peak MiB, exit code and the output's last lines."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")},
           "PYTHONPATH": str(tree), "GRIDMAP_INSTANCE_DIR": str(instance)}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], cwd=tree, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"seconds": None, "mib": None, "exit": None, "text": f"stopped after {timeout:.0f} s"}
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {"seconds": seconds, "mib": usage.ru_maxrss / 1024, "exit": proc.returncode, "text": text}


def _problems(text: str) -> str:
    """The distinct problem keys a refusal names (``duplicate_code``, ``missing_field`` ...), briefly."""
    keys = sorted(set(re.findall(r"\b(?:ERROR|error)\b[^a-z]*([a-z]+(?:_[a-z]+)+)", text)))
    if keys:
        return "refused: " + ", ".join(keys[:6])
    last = [line for line in text.strip().splitlines() if line.strip()]
    return ("refused: " + last[-1][:70]) if last else "refused"


def _row(side: str, step: str, r: dict) -> str:
    secs = "–" if r["seconds"] is None else f"{r['seconds']:.1f}"
    mib = "–" if r["mib"] is None else f"{r['mib']:.0f}"
    note = "ok" if r["exit"] == 0 else (r["text"] if r["exit"] is None else _problems(r["text"]))
    return f"{side:5} {step:44} {secs:>7} {mib:>6} {str(r['exit']):>4}  {note}"


def main() -> None:
    """Generate the city, run both sides, print one row per step and the totals."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", type=int, default=9, help="sub-district/town pairs (about 65 grids each)")
    ap.add_argument("--addresses", type=int, default=10_000)
    ap.add_argument("--facilities", type=int, default=320)
    ap.add_argument("--base", default="d875069", help="the earlier commit ('' for none)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a run is stopped")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gm-bench-city-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        source = cities.make_cn_city(root / "河湾市网格办", sections=args.sections, addresses=args.addresses,
                                     facilities=args.facilities)
        n_grids = len(cities.grids_of(source))
        print(f"city: {n_grids} grids, {args.addresses} addresses, {args.facilities} facilities "
              f"(generated in {time.perf_counter() - start:.1f} s)")
        print(f"{'side':5} {'step':44} {'s':>7} {'MiB':>6} {'exit':>4}  result")
        this_inst = root / "inst-this"
        dry = _run(REPO, this_inst, ["init-city", str(source), "--store", str(root / "dry"), "--table-crs", "gcj02",
                                     "--dry-run"], args.timeout)
        print(_row("this", "init-city --table-crs gcj02 --dry-run", dry), flush=True)
        built = _run(REPO, this_inst, ["init-city", str(source), "--store", str(root / "store"), "--table-crs",
                                       "gcj02"], args.timeout)
        print(_row("this", "init-city --table-crs gcj02", built), flush=True)
        if not args.base:
            return
        base = helpers.export_commit(args.base, root)
        base_inst = root / "inst-base"
        _run(base, base_inst, ["versions"], args.timeout)  # seeds its store from its demo city; not timed
        total, refused = 0.0, []
        for layer, name, extra in (("grids", "网格.zip", []), ("facilities", "设施.xlsx", ["--crs", "gcj02"]),
                                   ("addresses", "标准地址.xlsx", ["--crs", "gcj02"])):
            r = _run(base, base_inst, ["import", layer, str(source / name), *extra], args.timeout)
            print(_row("base", f"import {layer} {name} {' '.join(extra)}".strip(), r), flush=True)
            total += r["seconds"] or 0.0
            if r["exit"] != 0:
                refused.append(name)
        print()
        if built["exit"] == 0:
            print(f"this: the whole city in one command, {built['seconds']:.1f} s")
        else:
            print("this: init-city refused the city (see above)")
        if refused:
            print(f"base: refused {', '.join(refused)}; it cannot take these files at all, so there is no time "
                  f"to compare with (its {len(refused)} refusals took {total:.1f} s)")
        elif built["exit"] == 0:
            print(f"base: {total:.1f} s for the three imports; init-city is {total / built['seconds']:.1f}x that")


if __name__ == "__main__":
    main()
