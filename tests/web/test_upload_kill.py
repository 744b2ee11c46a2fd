"""A real server killed (SIGKILL) during an admin upload leaves no upload behind and no version without its audit entry."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import requests

from app import settings
from app.geo import audit, db
from app.geo.geojson import dump_geojson
from app.geo.store import Store, open_store
from tests import helpers

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cheap_hashes")]

#: Features of the uploaded address layer: about 10 MB of GeoJSON, several seconds to check.
FEATURES = 40_000
#: Features on PostGIS, where storing takes longer than checking: a quarter is enough to land kills
#: in both, and keeps the test's time near the GeoJSON one's.
FEATURES_POSTGIS = 10_000


def _addresses(variant: int, features: int = FEATURES) -> bytes:
    """A big address layer on the mini city; each variant differs (so each import makes a version)."""
    small = gpd.read_file(helpers.MINI / "addresses.geojson")
    rng = np.random.default_rng(variant)
    big = small.iloc[rng.integers(0, len(small), features)].reset_index(drop=True)
    big["id"] = [f"B{i:07d}" for i in range(features)]
    big["number"] = np.arange(features)
    big["residents"] = big["residents"] + variant
    xy = np.c_[big.geometry.x, big.geometry.y] + rng.normal(0, 2e-5, (features, 2))
    return dump_geojson(big.set_geometry(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326))


class Site:
    """The store, instance and system temp folder of one service, started and killed as often as a test likes."""

    def __init__(self, root: Path, store_url: str) -> None:
        self.settings = helpers.store_settings(root, store_url)
        self.instance = Path(self.settings["INSTANCE_DIR"])
        config = settings.resolve(self.settings, environ={})
        #: Where the service keeps accounts and audit: the instance's SQLite file, or the store's database.
        self.db = db.target_for(config, settings.instance_dir(config))
        self.uploads = self.instance / "tmp" / "uploads"
        self.system_tmp = root / "system-tmp"
        self.system_tmp.mkdir()
        helpers.add_accounts(self.instance, self.db)
        self.server: helpers.Server | None = None

    def start(self) -> requests.Session:
        """Start the service and return a session signed in as admin."""
        env = {k: v for k, v in self.settings.items() if k != "INSTANCE_DIR"}
        # one process: a SIGKILL of gunicorn's master would leave its worker to finish the upload
        self.server = helpers.Server(self.instance, COOKIE_SECURE="0", MAX_UPLOAD_MB="32", WORKERS="1", **env)
        self.server.env["TMPDIR"] = str(self.system_tmp)  # where the system temp files of the server go
        self.server.start()
        session = requests.Session()
        token = helpers.page_token(session.get(self.url("/login"), timeout=30).text)
        r = session.post(self.url("/login"), data={"name": "admin", "password": helpers.PASSWORDS["admin"],
                                                    "csrf_token": token}, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        return session

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.base + path

    def upload(self, session: requests.Session, data: bytes, out: dict) -> None:
        """Post ``data`` as the address layer through the admin form; put the answer (or the error) in ``out``."""
        token = helpers.page_token(session.get(self.url("/admin"), timeout=30).text)
        try:
            out["response"] = session.post(self.url("/admin/import"), timeout=300,
                                           data={"csrf_token": token, "layer": "addresses"},
                                           files={"file": ("addresses.geojson", data, "application/geo+json")},
                                           headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            out["error"] = exc

    def store(self) -> Store:
        """The service's store, opened afresh (a folder or a PostGIS database)."""
        return open_store(self.settings["STORE_URL"])

    def uploading(self) -> bool:
        """True while an upload sits in the service's upload folder."""
        return self.uploads.is_dir() and any(p.name != ".lock" for p in self.uploads.iterdir())

    def check(self) -> None:
        """Nothing half-done: no upload left anywhere, and every version with its audit entry."""
        assert not self.uploading(), list(self.uploads.iterdir())
        assert list(self.system_tmp.iterdir()) == []
        store = self.store()
        assert store.verify() == []
        recorded = audit.changes_recorded(self.db)
        for v in store.list_versions():
            assert v.id in recorded, f"version {v.id} has no audit entry"
        for e in store.history():
            assert e.id in recorded, f"change {e.action} {e.id} has no audit entry"


@pytest.fixture
def site(tmp_path, store_url):
    """The service's folders and store; its server is stopped at the end, however the test ends."""
    s = Site(tmp_path, store_url)
    yield s
    if s.server is not None:
        s.server.stop()


@pytest.mark.both_stores
def test_sigkill_during_an_admin_upload_leaves_nothing_half_done(site, store_backend, capsys):
    rng = random.Random(18)
    features = FEATURES if store_backend == "geojson" else FEATURES_POSTGIS
    session = site.start()
    # one import to the end: how long the service checks and stores this file here and now
    out: dict = {}
    worker = threading.Thread(target=site.upload, args=(session, _addresses(0, features), out))
    worker.start()
    while not site.uploading() and worker.is_alive():
        time.sleep(0.01)
    began = time.monotonic()
    worker.join()
    took = time.monotonic() - began
    assert out["response"].status_code == 200, out["response"].text[:500]
    assert out["response"].json()["version"].startswith("0002-")
    site.check()

    landed = []
    for round_ in range(1, 4):
        before = len(site.store().list_versions())
        out = {}
        worker = threading.Thread(target=site.upload, args=(session, _addresses(round_, features), out))
        worker.start()
        while not site.uploading() and worker.is_alive():
            time.sleep(0.005)
        # the first kill while the file is being checked, the others anywhere until it is stored
        time.sleep(0.0 if round_ == 1 else rng.uniform(0.0, 1.2 * took))
        assert site.server is not None
        site.server.proc.kill()
        site.server.proc.wait()
        worker.join()
        if round_ == 1:
            assert "error" in out  # killed mid-request
            assert site.uploading()  # ...with its file on disk, as the attack left it
        session = site.start()  # the restart cleans up
        site.check()
        landed.append("after the commit" if len(site.store().list_versions()) > before
                      else "before the commit")

    entries = audit.entries(site.db)
    assert {e.action for e in entries} <= {"seed", "import", "sign_in"}
    assert all(e.detail.get("recovered") for e in entries if e.action == "import" and not e.ip)
    with capsys.disabled():
        recovered = sum(bool(e.detail.get("recovered")) for e in entries)
        print(f"\n[upload kill, {store_backend}] import took {took:.1f} s; kills landed {', '.join(landed)}; "
              f"{recovered} audit entries recovered")
