"""Data commands (`gridmap versions`, `gridmap locate`) of this tree against an earlier commit, both run here.

Run: .venv/bin/python benchmarks/bench_cli_data.py [--base d875069] [--repeat 5]

The earlier side is exported with ``git archive`` into a temporary folder and run with the same
interpreter and packages, each side on its own instance folder (seeded from its own geodata/ on the
first, untimed run). Each run is a fresh process, as a user's command is: wall time and peak memory
(max RSS) are the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import helpers  # noqa: E402

COMMANDS = (("versions",), ("locate", "--lon", "98.2745", "--lat", "39.7862"))


def _run(tree: Path, instance: Path, args: tuple[str, ...]) -> tuple[float, float]:
    """Run ``gridmap ARGS`` from ``tree`` in a fresh process; return (seconds, peak MiB)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")},
           "PYTHONPATH": str(tree), "GRIDMAP_INSTANCE_DIR": str(instance)}
    code = "import sys; from app.cli import main; sys.argv[0] = 'gridmap'; main()"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"gridmap {' '.join(args)} failed in {tree} (exit {proc.returncode})")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    """Time both sides and print one row per command."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="d875069", help="the earlier commit to compare with")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gm-bench-cli-") as tmp:
        root = Path(tmp)
        helpers.export_commit(args.base, root)
        sides = {"base": (root / "tree", root / "inst-base"), "this": (REPO, root / "inst-this")}
        print(f"{'command':44} {'base s':>7} {'this s':>7} {'faster':>6} {'base MiB':>8} {'this MiB':>8}")
        for cmd in COMMANDS:
            secs, mib = {}, {}
            for name, (tree, instance) in sides.items():
                _run(tree, instance, cmd)  # the first run seeds the store; not timed
                runs = [_run(tree, instance, cmd) for _ in range(args.repeat)]
                secs[name] = statistics.median(r[0] for r in runs)
                mib[name] = statistics.median(r[1] for r in runs)
            print(f"{' '.join(cmd):44} {secs['base']:7.2f} {secs['this']:7.2f} {secs['base'] / secs['this']:5.1f}x "
                  f"{mib['base']:8.0f} {mib['this']:8.0f}")


if __name__ == "__main__":
    main()
