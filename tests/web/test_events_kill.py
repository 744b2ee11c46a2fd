"""The real server SIGKILLed at random moments during a burst of 200 reports: nothing lost, nothing twice."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from app.geo import db
from app.geo._events_model import SCHEMA
from tests import helpers

pytestmark = pytest.mark.slow

BURST = 200
#: Points inside the mini city's grids, used in turn.
POINTS = ((98.284742, 39.77249), (98.2862, 39.7741), (98.2876, 39.7728))


def _tree(pid: int) -> list[int]:
    """Return ``pid`` and every process descended from it (the gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _crash(server: helpers.Server) -> None:
    """SIGKILL the whole service at once, as a power cut or the OOM killer would."""
    for pid in _tree(server.proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.proc.wait()


def _sign_in(base: str) -> str:
    jar = urllib.request.HTTPCookieProcessor()
    opener = urllib.request.build_opener(jar)
    page = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"name": "staff", "password": helpers.PASSWORDS["staff"],
                                   "csrf_token": token}).encode()
    opener.open(urllib.request.Request(base + "/login", data=form, headers={"Origin": base}), timeout=30)
    return "; ".join(f"{c.name}={c.value}" for c in jar.cookiejar)


def _report(base: str, cookie: str, i: int) -> int:
    lon, lat = POINTS[i % len(POINTS)]
    body = json.dumps({"report_key": f"burst-{i:04d}", "category": "sanitation", "description": f"第 {i} 件",
                       "lon": lon, "lat": lat}).encode()
    req = urllib.request.Request(base + "/api/v1/events", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Cookie": cookie, "Origin": base})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_server_killed_during_a_burst_loses_and_doubles_nothing(dialect: str, tmp_path: Path,
                                                                 request: pytest.FixtureRequest,
                                                                 cheap_hashes: None) -> None:
    target = str(tmp_path / "inst" / "gridmap.sqlite3") if dialect == "sqlite" else request.getfixturevalue("pg_url")
    data = helpers.copy_mini(tmp_path / "geodata")
    helpers.add_accounts(tmp_path / "inst", target)
    settings = {"SECRET_KEY": "kill-test", "RATELIMIT_ENABLED": "0", "COOKIE_SECURE": "0", "WORKERS": "2"}
    if dialect == "postgresql":
        settings["DATABASE_URL"] = target
    server = helpers.Server(tmp_path / "inst", data, **settings)
    acked: set[str] = set()
    landed: list[int] = []  # how many reports had been sent when each kill landed
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    try:
        server.start(timeout=120)
        cookie = _sign_in(server.base)
        i = 0
        for _kill in range(2):
            # reports go one after another from this thread; another pulls the plug at a random moment
            # after a random number of them (a moment drawn in seconds could fall after the whole burst
            # when the server answers fast), a few milliseconds in, so it lands while one is in flight
            # it is drawn with 40 reports left, and the burst waits for it 10 reports on: on a loaded machine the
            # timer's thread may run late (a CI run's second kill landed only after the last of 200 reports)
            at, plug = min(i + rng.randrange(5, 60), BURST - 40), None
            while server.proc.poll() is None and i < BURST:
                if i == at:
                    plug = threading.Timer(rng.uniform(0.0, 0.02), _crash, args=(server,))
                    plug.start()
                elif plug is not None and i >= at + 10:
                    plug.join()
                    break
                if _report(server.base, cookie, i) in (200, 201):
                    acked.add(f"burst-{i:04d}")
                i += 1
            assert plug is not None
            plug.join()
            landed.append(i)
            server.start(timeout=120)  # the same session key: the cookie still signs in
        while i < BURST:
            if _report(server.base, cookie, i) in (200, 201):
                acked.add(f"burst-{i:04d}")
            i += 1
        # the client retries everything it sent; a retry of a stored report answers 200 with the same event
        statuses = [_report(server.base, cookie, k) for k in range(BURST)]
        assert all(s in (200, 201) for s in statuses), f"retries failed (seed {seed}): {set(statuses)}"
    finally:
        server.stop()
    assert landed[-1] < BURST, f"the kills came after the burst (at {landed}); nothing was tested"
    with db.connect(target, SCHEMA) as conn:
        keys = [k for (k,) in conn.execute("SELECT report_key FROM events")]
        history = conn.execute("SELECT COUNT(*) FROM event_history WHERE action = 'report'").fetchone()[0]
    assert acked <= set(keys), f"acknowledged reports lost (seed {seed})"
    assert sorted(keys) == [f"burst-{k:04d}" for k in range(BURST)], f"a report is missing or doubled (seed {seed})"
    assert history == BURST
