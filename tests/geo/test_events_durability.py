"""A burst of 200 reports SIGKILLed at a random moment, then retried: each report exactly once, none acknowledged lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.geo import db
from app.geo import events as ev
from app.geo._events_model import SCHEMA
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests import helpers

BURST = 200
ROOT = Path(__file__).resolve().parents[2]
#: Points in the mini city's grids, used in turn.
POINTS = ((98.284742, 39.77249), (98.2862, 39.7741), (98.2876, 39.7728))

#: The reporting process: one report per key, each acknowledged (fsynced to a file) after its commit.
WORKER = f"""
import os, sys
from app.geo import events as ev
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
target, data, acks, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
points = {POINTS!r}
ds = Dataset(FolderStore(data))
with open(acks, "a", encoding="utf-8") as log:
    for i in range(count):
        key = f"burst-{{i:04d}}"
        x, y = points[i % len(points)]
        ev.report(target, ds, ev.ANONYMOUS, report_key=key, category="sanitation", description=f"第 {{i}} 件",
                  x=x, y=y)
        log.write(key + "\\n")
        log.flush()
        os.fsync(log.fileno())
"""


def _acked(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("burst-")]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_burst_survives_sigkill(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    target = str(tmp_path / "events.sqlite3") if dialect == "sqlite" else request.getfixturevalue("pg_url")
    data = helpers.copy_mini(tmp_path / "geodata")
    acks = tmp_path / "acks.txt"
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randint(1, BURST - 20)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, target, str(data), str(acks), str(BURST)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # a guard against a hung worker, not a pass/fail timing
        while proc.poll() is None and len(_acked(acks)) < kill_after and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"worker ended before the kill: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    acked = _acked(acks)
    assert len(acked) >= kill_after and proc.returncode == -signal.SIGKILL
    with db.connect(target, SCHEMA) as conn:
        before = {k for (k,) in conn.execute("SELECT report_key FROM events")}
    assert set(acked) <= before, f"acknowledged reports lost (seed {seed})"
    ds = Dataset(FolderStore(data))
    replayed = [ev.report(target, ds, ev.ANONYMOUS, report_key=f"burst-{i:04d}", category="sanitation",
                          description=f"第 {i} 件", x=POINTS[i % 3][0], y=POINTS[i % 3][1]) for i in range(BURST)]
    assert sum(not r["new"] for r in replayed) == len(before)
    with db.connect(target, SCHEMA) as conn:
        keys = [k for (k,) in conn.execute("SELECT report_key FROM events")]
        ids = [i for (i,) in conn.execute("SELECT id FROM events")]
        (history,) = conn.execute("SELECT COUNT(*) FROM event_history WHERE action = 'report'").fetchone()
        (orphans,) = conn.execute("SELECT COUNT(*) FROM event_history h WHERE NOT EXISTS "
                                  "(SELECT 1 FROM events e WHERE e.id = h.event_id)").fetchone()
    assert sorted(keys) == [f"burst-{i:04d}" for i in range(BURST)], f"seed {seed}"
    assert len(set(ids)) == BURST and history == BURST and orphans == 0
    for i, r in enumerate(replayed):
        assert r["description"] == f"第 {i} 件"
