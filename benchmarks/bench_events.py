"""Grid event reports and transitions per second on SQLite and on PostgreSQL, one client and several threads."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.geo import db  # noqa: E402
from app.geo import events as ev  # noqa: E402
from app.geo.dataset import Dataset  # noqa: E402
from app.geo.geojson_store import FolderStore  # noqa: E402
from tests import helpers, pg  # noqa: E402

POINT = (98.284742, 39.77249)
WORKER = ev.Who("bench-worker", "staff")


def _one(target: str, ds: Dataset, key: str) -> float:
    start = time.perf_counter()
    ev.report(target, ds, ev.ANONYMOUS, report_key=key, category="sanitation", description="垃圾未清运",
              x=POINT[0], y=POINT[1], phone="13900001234")
    return time.perf_counter() - start


def _run(label: str, target: str, ds: Dataset, n: int, threads: int) -> None:
    ev.assign(target, WORKER.name, "grid", "620201001001001")
    _one(target, ds, f"{label}-warm-0")
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(lambda i: _one(target, ds, f"{label}-t{threads}-{i:06d}"), range(n)))
    wall = time.perf_counter() - start
    ms = sorted(t * 1000 for t in times)
    print(f"{label:<11} report   threads={threads}: {n / wall:7.1f}/s  p50 {statistics.median(ms):6.1f} ms  "
          f"p90 {ms[int(len(ms) * 0.9) - 1]:6.1f} ms")
    ids = [e["id"] for e in ev.list_events(target, WORKER, status="reported", limit=min(n, 200))["events"]]
    start = time.perf_counter()
    for event_id in ids:
        ev.transition(target, event_id, "accept", WORKER)
    print(f"{label:<11} accept   threads=1: {len(ids) / (time.perf_counter() - start):7.1f}/s")


def main() -> None:
    """Run the benchmark and print reports/s and latency on both databases."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=300, help="reports per run")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ds = Dataset(FolderStore(helpers.copy_mini(Path(tmp) / "geodata")))
        ds.grid_index  # noqa: B018  (built before timing)
        cluster = pg.start_cluster()
        try:
            for threads in args.threads:
                _run("sqlite", str(Path(tmp) / f"events-{threads}.sqlite3"), ds, args.n, threads)
                _run("postgresql", cluster.new_database("bench"), ds, args.n, threads)
        finally:
            db.close_pools()
            cluster.stop()


if __name__ == "__main__":
    main()
