"""Requests served while 1,000 idle and 100 slowloris connections are open: this tree against an earlier commit.

Run: .venv/bin/python benchmarks/bench_connections.py [--base d875069] [--idle 1000] [--slow 100] [--n 200]

Both sides run the real `gridmap serve` on a free loopback port over the mini city. The script opens
the idle connections (connect, send nothing) and the slow ones (a request line, then one header byte
a second), then times ``--n`` requests to /healthz with a 5 s timeout each, and reads the server's
resident memory from /proc before and after. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import helpers  # noqa: E402


def _measure(srv: helpers.Server, idle: int, slow: int, n: int) -> dict[str, float]:
    rss0 = srv.rss_kib()
    times, failed = [], 0
    with helpers.HoggedConnections(srv.port, idle, slow):
        for _ in range(n):
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(srv.base + "/healthz", timeout=5) as r:
                    r.read()
                times.append((time.perf_counter() - t) * 1000)
            except OSError:
                failed += 1
                if failed >= 3 and not times:
                    break  # the server is locked up; do not wait 5 s for every request
        rss1 = srv.rss_kib()
    q = statistics.quantiles(times, n=100) if len(times) > 1 else [float("nan")] * 99
    return {"ok": len(times), "failed": failed, "p50": q[49], "p99": q[98], "rss0": rss0 / 1024, "rss1": rss1 / 1024}


def main() -> None:
    """Run both sides and print one row each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="d875069")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=100)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gm-bench-conn-") as tmp:
        root = Path(tmp)
        data = helpers.copy_mini(root / "geodata")
        base_tree = helpers.export_commit(args.base, root)
        print(f"{args.idle} idle + {args.slow} slowloris connections, {args.n} GET /healthz (5 s timeout each)")
        print(f"{'side':6} {'served':>7} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB before':>15} {'after':>7}")
        for side in ("base", "this"):
            srv = helpers.Server(root / f"inst-{side}", data)
            if side == "base":
                srv.args = [sys.executable, "-c", "import sys; from app.cli import main; sys.argv[0]='gridmap'; main()",
                            *srv.args[1:]]
                srv.env["PYTHONPATH"] = str(base_tree)
                srv.cwd = base_tree
            with srv:
                r = _measure(srv, args.idle, args.slow, args.n)
            print(f"{side:6} {r['ok']:7} {r['failed']:7} {r['p50']:8.1f} {r['p99']:8.1f} "
                  f"{r['rss0']:15.0f} {r['rss1']:7.0f}")


if __name__ == "__main__":
    main()
