"""`gridmap serve` with several worker processes: versions switch together, jobs are seen by every worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import helpers

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn needs fork")


def _workers(pid: int, n: int = 2) -> list[int]:
    """The ``n`` worker processes of the server ``pid`` (gunicorn forks them one after the other)."""
    deadline = time.monotonic() + 30
    while len(found := _children(pid)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    env = helpers.store_settings(root)
    instance = Path(env.pop("INSTANCE_DIR"))
    helpers.add_accounts(instance)
    with helpers.Server(instance, WORKERS="2", RATELIMIT_ENABLED="0", COOKIE_SECURE="0", **env) as srv:
        yield srv


def _fresh_get(url: str) -> requests.Response:
    """GET on a new connection (so the kernel may hand it to either worker)."""
    return requests.get(url, headers={"Connection": "close"}, timeout=30)


@pytest.mark.both_stores
def test_two_workers_serve_and_switch_to_an_import_together(tmp_path, store_url):
    env = helpers.store_settings(tmp_path, store_url)
    instance = Path(env.pop("INSTANCE_DIR"))
    with helpers.Server(instance, WORKERS="2", **env) as server:
        workers = _workers(server.proc.pid)
        assert len(workers) == 2, workers
        before = {_fresh_get(server.base + "/healthz").json()["data_version"] for _ in range(10)}
        assert len(before) == 1
        facilities = json.loads((tmp_path / "geodata" / "facilities.geojson").read_text())
        facilities["features"] = facilities["features"][:-1]
        changed = tmp_path / "facilities.geojson"
        changed.write_text(json.dumps(facilities))
        cli = subprocess.run([str(Path(sys.executable).with_name("gridmap")), "import", "facilities", str(changed)],
                             env=server.env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        after = {_fresh_get(server.base + "/healthz").json()["data_version"] for _ in range(30)}
        assert len(after) == 1 and after != before, (before, after)
        assert sorted(_children(server.proc.pid)) == sorted(workers)  # no restart needed


def test_a_batch_job_made_through_one_worker_is_polled_through_any(server):
    rows = "name,lon,lat\n" + "".join(f"p{i},{98.2745 + i * 1e-4:.4f},39.7862\n" for i in range(30))
    r = requests.post(server.base + "/api/v1/locate/batch/preview", files={"file": ("rows.csv", rows)}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    job = r.json()["job"]
    r = requests.post(server.base + "/api/v1/locate/batch/run", json={"job": job, "lon_col": "lon", "lat_col": "lat"},
                      timeout=30)
    assert r.status_code == 202, r.text[:300]
    states = []
    for _ in range(200):
        r = _fresh_get(f"{server.base}/api/v1/locate/jobs/{job}")
        assert r.status_code == 200, r.text[:300]
        states.append(r.json()["state"])
        if states[-1] == "done" and len(states) >= 20:
            break
        time.sleep(0.05)
    assert states[-1] == "done" and r.json()["summary"]
    downloads = {_fresh_get(f"{server.base}/api/v1/locate/jobs/{job}/download").status_code for _ in range(10)}
    assert downloads == {200}


def test_a_sign_in_made_through_one_worker_holds_in_every_worker(server):
    session = requests.Session()
    token = helpers.page_token(session.get(server.base + "/login", timeout=30).text)
    r = session.post(server.base + "/login", data={"name": "admin", "password": helpers.PASSWORDS["admin"],
                                                    "csrf_token": token}, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    cookies = session.cookies.get_dict()
    # every worker verifies the session cookie with the same key (made once, before the fork)
    statuses = {requests.get(server.base + "/admin", cookies=cookies, headers={"Connection": "close"},
                             allow_redirects=False, timeout=30).status_code for _ in range(20)}
    assert statuses == {200}


@pytest.mark.store
def test_sigterm_stops_every_worker(tmp_path):
    env = helpers.store_settings(tmp_path)
    instance = Path(env.pop("INSTANCE_DIR"))
    with helpers.Server(instance, WORKERS="2", **env) as srv:
        workers = _workers(srv.proc.pid)
        assert len(workers) == 2
        srv.proc.terminate()
        assert srv.proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{p}").exists() for p in workers)


def test_the_gil_switch_interval_follows_the_setting():
    from app import settings
    from app.web.server import tune_interpreter

    before = sys.getswitchinterval()
    try:
        tune_interpreter(settings.resolve({"GIL_SWITCH_US": 250}, environ={}))
        assert sys.getswitchinterval() == pytest.approx(0.00025)
        tune_interpreter(settings.resolve({"GIL_SWITCH_US": 0}, environ={}))
        assert sys.getswitchinterval() == pytest.approx(0.00025)  # 0 leaves it as it is
    finally:
        sys.setswitchinterval(before)


def test_waitress_queue_warnings_are_kept_to_one_a_minute(caplog):
    import logging

    from app.web.server import quiet_queue_warnings

    quiet_queue_warnings()
    quiet_queue_warnings()  # once only
    queue_logger = logging.getLogger("waitress.queue")
    assert len(queue_logger.filters) == 1
    queue_logger.filters[0].next = 0.0
    with caplog.at_level(logging.WARNING, logger="waitress.queue"):
        for depth in range(50):
            queue_logger.warning("Task queue depth is %d", depth)
    assert [r.getMessage() for r in caplog.records if r.name == "waitress.queue"] == ["Task queue depth is 0"]


class _CountingData:
    """A DataManager stand-in that counts how often the store is asked."""

    def __init__(self) -> None:
        self.asked, self.version, self.store = 0, "v1", "the store"

    def current(self) -> str:
        self.asked += 1
        return self.version


def test_a_worker_asks_for_the_version_at_most_every_interval_and_at_once_after_a_write(app, monkeypatch):
    from app.web import server

    clock = [1000.0]
    monkeypatch.setattr(server.time, "monotonic", lambda: clock[0])
    inner = _CountingData()
    app.extensions["gridmap.data"] = inner
    server.throttle_version_checks(app, 200)
    throttled = app.extensions["gridmap.data"]
    assert throttled.store == "the store"  # everything else is the manager's
    assert [throttled.current() for _ in range(5)] == ["v1"] * 5 and inner.asked == 1
    inner.version = "v2"  # another process imported
    clock[0] += 0.15
    assert throttled.current() == "v1" and inner.asked == 1  # within the bound
    clock[0] += 0.06
    assert throttled.current() == "v2" and inner.asked == 2  # 200 ms after the last question
    client = app.test_client()
    inner.version = "v3"  # a write through this worker (any unsafe method, even a refused one)
    client.post("/api/v1/locate/point", json={"lon": "x"})
    assert throttled.current() == "v3" and inner.asked == 3
    client.get("/healthz")  # a read does not reset it
    inner.version = "v4"
    assert throttled.current() == "v3"
    server.throttle_version_checks(app, 200)  # once only
    assert app.extensions["gridmap.data"] is throttled


def test_gunicorn_with_waitress_workers_still_serves_the_same_answers(tmp_path):
    data = helpers.copy_mini(tmp_path / "geodata")
    url = "/api/v1/locate/point?lon=98.2745&lat=39.7862"
    bodies = {}
    for kind in ("granian", "waitress"):
        with helpers.Server(tmp_path / f"inst-{kind}", data, WORKERS="2", WORKER_CLASS=kind) as srv:
            assert len(_workers(srv.proc.pid)) == 2
            r = _fresh_get(srv.base + url)
            assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"
            bodies[kind] = r.content
            bad = _fresh_get(srv.base + "/api/v1/locate/point?lon=abc&lat=1")
            assert bad.status_code == 400 and bad.json()["code"]
    assert bodies["granian"] == bodies["waitress"]


def test_warming_makes_the_home_page_and_its_payload_compressed_both_ways(app, monkeypatch):
    from collections import OrderedDict

    from app.web import _http_cache, server

    monkeypatch.setattr(_http_cache, "_cache", OrderedDict())  # nothing an earlier test compressed
    monkeypatch.setattr(_http_cache, "_cache_size", 0)
    server.warm(app)

    def refuse(data: bytes, encoding: str) -> bytes:
        raise AssertionError(f"compressed on a request ({encoding}): warm() should have done it")

    monkeypatch.setattr(_http_cache, "_compress", refuse)  # what the workers forked next find made
    client = app.test_client()
    page = client.get("/")
    data_url = page.get_data(as_text=True).split('<link rel="preload" href="', 1)[1].split('"', 1)[0]
    for encoding in ("br", "gzip"):
        r = client.get(data_url, headers={"Accept-Encoding": encoding})
        assert r.status_code == 200 and r.headers["Content-Encoding"] == encoding


def test_warming_a_tiled_city_cuts_its_opening_tiles(tmp_path):
    from app.geo import tiles
    from app.web import server

    app = helpers.folder_app(helpers.MINI, VECTOR_TILES_MIN_GRIDS=0, INSTANCE_DIR=str(tmp_path))
    server.warm(app)
    ds = app.extensions["gridmap.data"].current()
    mem = ds.cached("tiles.memory", lambda: None)
    assert mem is not None
    assert all(mem.get((layer, "wgs84", z, x, y)) for layer, z, x, y in tiles.warm_tiles(ds, tiles.OPENING_TILES))


def test_a_tiled_city_is_cut_ahead_by_a_child_at_the_lowest_priority(tmp_path):
    instance = tmp_path / "instance"
    with helpers.Server(instance, helpers.MINI, WORKERS="2", VECTOR_TILES_MIN_GRIDS="0") as srv:
        nice = {}
        for pid in _workers(srv.proc.pid, 3):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            nice[pid] = int(fields[16])
        assert sorted(nice.values()) == [0, 0, 19], nice  # two workers, and the cutter at nice 19
        cutter = next(pid for pid, n in nice.items() if n == 19)
        done = list((instance / "cache" / "tiles").glob("*/*/.warm-wgs84.done"))
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:  # it cuts once nobody has asked for a second
            time.sleep(0.2)
            done = list((instance / "cache" / "tiles").glob("*/*/.warm-wgs84.done"))
        assert done, "the cutter never finished"
        assert list(done[0].parent.rglob("*.pbf.gz"))
    deadline = time.monotonic() + 30
    while Path(f"/proc/{cutter}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{cutter}").exists() or "Z" in Path(f"/proc/{cutter}/stat").read_text().split()[2]
