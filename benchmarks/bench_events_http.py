"""Event reports through the HTTP API at a fixed rate (default 50/s for 60 s) on SQLite and on PostgreSQL.

A real `gridmap serve` on the demo city (the mini city with --mini); a signed-in staff session (no
captcha, not rate-limited) posts JSON reports, each with its own report_key, on an open-loop
schedule: request i is due at start + i/rate whatever the earlier ones took. Printed per database:
the rate achieved, errors, late starts, latency p50/p90/p99/max, and the events stored (which must
equal the reports answered 201; a retry of 20 keys must give 200 and store nothing new).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.geo import db, users  # noqa: E402
from app.geo import events as ev  # noqa: E402
from tests import helpers, pg  # noqa: E402

PASSWORD = "Orchid-Harbour-93"
_local = threading.local()


def _conn(base: str) -> http.client.HTTPConnection:
    c = getattr(_local, "conn", None)
    if c is None:
        u = urllib.parse.urlsplit(base)
        c = _local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    return c


def _request(base: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    for attempt in (0, 1):
        c = _conn(base)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), r
        except (ConnectionError, http.client.HTTPException):
            c.close()
            _local.conn = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def _sign_in(base: str) -> str:
    """Sign in as the staff account through the form; return the Cookie header."""
    status, page, r = _request(base, "GET", "/login")
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"name": "bench", "password": PASSWORD, "csrf_token": token}).encode()
    status, _, r = _request(base, "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded",
                                                          "Cookie": cookie})
    if status != 302:
        raise SystemExit(f"sign-in failed: HTTP {status}")
    return r.getheader("Set-Cookie", "").split(";")[0]


def _run(label: str, base: str, points: list[tuple[float, float]], rate: float, seconds: float,
         threads: int, target: Any) -> None:
    cookie = _sign_in(base)
    headers = {"Content-Type": "application/json", "Cookie": cookie, "Accept": "application/json"}
    n = int(rate * seconds)
    times: list[float] = [0.0] * n
    codes: list[int] = [0] * n
    late: list[float] = [0.0] * n

    def one(i: int) -> None:
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        late[i] = max(0.0, time.perf_counter() - due)
        lon, lat = points[i % len(points)]
        body = json.dumps({"report_key": f"{label}-{i:07d}", "category": "sanitation", "description": "垃圾未清运",
                           "lon": lon, "lat": lat}).encode()
        t0 = time.perf_counter()
        try:
            codes[i], _, _ = _request(base, "POST", "/api/v1/events", body, headers)
        except OSError:
            codes[i] = -1
        times[i] = time.perf_counter() - t0

    _request(base, "POST", "/api/v1/events", json.dumps({
        "report_key": f"{label}-warm", "category": "sanitation", "description": "warm", "lon": points[0][0],
        "lat": points[0][1]}).encode(), headers)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    ok = sum(c == 201 for c in codes)
    errors = n - ok
    retry = [_request(base, "POST", "/api/v1/events", json.dumps({
        "report_key": f"{label}-{i:07d}", "category": "sanitation", "description": "retry",
        "lon": points[0][0], "lat": points[0][1]}).encode(), headers)[0] for i in range(0, n, max(1, n // 20))]
    stored = ev.list_events(target, ev.Who("bench-admin", "admin"), limit=1)["total"] - 1  # minus the warm-up
    ms = sorted(t * 1000 for t in times)
    q = lambda f: ms[min(len(ms) - 1, int(len(ms) * f))]  # noqa: E731
    print(f"{label:<11} {n} reports due at {rate:g}/s over {seconds:g} s: done in {wall:5.1f} s "
          f"({n / wall:5.1f}/s), 201: {ok}, errors: {errors} {sorted(set(codes) - {201}) or ''}")
    print(f"{'':<11} latency ms p50 {statistics.median(ms):6.1f}  p90 {q(0.9):6.1f}  p99 {q(0.99):6.1f}  "
          f"max {ms[-1]:6.1f}; started >100 ms late: {sum(x > 0.1 for x in late)}")
    print(f"{'':<11} stored events: {stored} (= 201 answers: {stored == ok}); retries of {len(retry)} keys: "
          f"all 200 {all(c == 200 for c in retry)}")


def main() -> None:
    """Start a server per database, sign in as staff and post reports at the rate for the duration."""
    import geopandas as gpd

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=50.0, help="reports per second")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=48, help="client threads (enough to keep the schedule when answers are slow)")
    ap.add_argument("--mini", action="store_true", help="the mini city instead of the demo city")
    ap.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = ap.parse_args()
    data = helpers.MINI if args.mini else helpers.DEMO
    grids = gpd.read_file(data / "grids.geojson")
    points = [helpers.inside_point(grids, i) for i in range(0, len(grids), max(1, len(grids) // 50))]
    with tempfile.TemporaryDirectory() as tmp:
        cluster = pg.start_cluster() if args.only != "sqlite" else None
        try:
            for label in ("sqlite", "postgresql"):
                if args.only and label != args.only:
                    continue
                inst = Path(tmp) / label / "inst"
                env: dict[str, str] = {"STORE_URL": str(Path(tmp) / label / "store")}
                target: Any = users.db_path(inst)
                if label == "postgresql":
                    target = env["DATABASE_URL"] = cluster.new_database("benchhttp")
                users.set_hash_cost(1, 1024)
                try:
                    users.add_user(target, "bench", PASSWORD, "staff", min_length=8)
                finally:
                    users.set_hash_cost()
                with helpers.Server(inst, data, **env) as srv:
                    _run(label, srv.base, points, args.rate, args.seconds, args.threads, target)
        finally:
            db.close_pools()
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
