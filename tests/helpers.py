"""Helpers the test modules share: paths, the hostile corpus, tree digests, test apps, sign-in and sample points."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import secrets
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app, settings
from app.geo import users

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
#: The committed ten-grid city every test runs on (read it; copy it before changing anything).
MINI = DATA / "mini"
#: The demo city of the repository (absent until generated).
DEMO = REPO / "geodata"
#: Real district outlines next to the repository, when the reference data folder is there.
LANZHOU = REPO.parent / "shared" / "reference" / "data" / "lanzhou_districts.geojson"

#: The accounts :func:`make_app` creates: name (= role) -> password (they pass the password rules).
PASSWORDS: dict[str, str] = {"admin": "Kestrel-Quartz-27", "staff": "Meadow-Lantern-58"}
#: The shortest password the default settings accept.
MIN_PASSWORD = settings.defaults().PASSWORD_MIN_LENGTH
#: Import limits the hostile corpus is built against (``make_corpus.LIMITS``, as settings).
CORPUS_LIMITS: dict[str, int] = {"IMPORT_MAX_MB": 1, "IMPORT_MAX_UNPACKED_MB": 4, "IMPORT_MAX_FEATURES": 2000}

_TOKEN_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def hostile_corpus() -> ModuleType:
    """Return ``tests/data/hostile/make_corpus.py`` as a module, imported once per session.

    It is not importable by name (``tests/data`` is no package), and every test module must
    share one copy so that its case objects are the same.

    Returns
    -------
    module
        ``make_corpus`` with ``CASES``, ``LIMITS`` and the ``_MAKERS`` of every hostile file.
    """
    module = sys.modules.get("make_corpus")
    if module is None:
        spec = importlib.util.spec_from_file_location("make_corpus", DATA / "hostile" / "make_corpus.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["make_corpus"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["make_corpus"]
            raise
    return module


def tree_digest(root: Path) -> str:
    """Return a SHA-256 over every path and file content under ``root``: equal digests mean nothing changed."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def copy_mini(dest: Path) -> Path:
    """Copy the mini city to ``dest`` unless it is there already; return ``dest``."""
    if not dest.exists():
        shutil.copytree(MINI, dest)
    return dest


def folder_app(data_dir: Path, **settings: Any) -> Flask:
    """Return the app serving the plain folder ``data_dir`` read-only.

    Parameters
    ----------
    data_dir : Path
        A folder of GeoJSON layers (``MINI`` itself when the test changes no data).
    **settings
        Further settings (``LANGUAGE="en"``) or Flask keys (``TESTING=False``).
    """
    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), "SECRET_KEY": "test", **settings})


#: Environment variable that picks the backend of the writable test stores: ``geojson`` (default) or
#: ``postgresql`` (every test on :func:`store_settings`/:func:`make_app` then runs on PostGIS).
STORE_ENV = "GRIDMAP_TEST_STORE"
#: The store backends the storage tests run on, with their test ids.
STORE_BACKENDS: dict[str, str] = {"geojson": "geojson", "postgresql": "postgis"}


def default_store_backend() -> str:
    """Return the backend of the writable test stores: ``GRIDMAP_TEST_STORE``, else ``geojson``."""
    import os

    name = os.environ.get(STORE_ENV, "").strip().lower() or "geojson"
    name = {"postgis": "postgresql", "postgres": "postgresql"}.get(name, name)
    if name not in STORE_BACKENDS:
        raise ValueError(f"{STORE_ENV} must be one of {', '.join(STORE_BACKENDS)}, got {name!r}")
    return name


def new_store_url(root: Path, backend: str | None = None) -> str:
    """Return where a new, empty writable store goes: ``root/store``, or a fresh PostGIS database.

    Parameters
    ----------
    root : Path
        A private folder (``tmp_path``).
    backend : str, optional
        ``geojson`` or ``postgresql``; :func:`default_store_backend` by default. A PostGIS database
        is made on the session's cluster (:mod:`tests.pg`), which must be running.
    """
    if (backend or default_store_backend()) == "geojson":
        return str(root / "store")
    from tests import pg

    found = pg.cluster()
    if found is None:
        raise RuntimeError(f"{STORE_ENV}=postgresql needs PostgreSQL/PostGIS: {pg.why()}")
    url = found.new_database()
    PG_DATABASES.append(url)
    return url


#: PostgreSQL databases made for the running test; dropped (their connections ended) when it ends.
PG_DATABASES: list[str] = []


def drop_test_databases() -> None:
    """Drop the databases of :data:`PG_DATABASES`, ending the connections left to them.

    Each store on PostgreSQL holds a small pool and a listening connection until it is collected;
    a suite that makes hundreds of apps would otherwise run the cluster out of connections.
    """
    if not PG_DATABASES:
        return
    import gc
    from urllib.parse import urlsplit

    from tests import pg

    gc.collect()  # closes the pools and listeners of stores nobody holds any more
    found = pg.cluster()
    for url in PG_DATABASES:
        name = urlsplit(url).path.lstrip("/")
        if found is not None and name:
            # FORCE ends the connections and drops in one statement: a pool that reconnected between a
            # separate pg_terminate_backend and the DROP made it fail under load ("being accessed by other users")
            found.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    PG_DATABASES.clear()


def store_settings(root: Path, store_url: str | None = None) -> dict[str, str]:
    """Return DATA_DIR, STORE_URL and INSTANCE_DIR of a writable versioned store under ``root``.

    DATA_DIR is a copy of the mini city (made here) that seeds the store; accounts and the
    audit log go to ``root/inst`` (or the store's database, as the app decides).

    Parameters
    ----------
    root : Path
        A private folder (``tmp_path``); calling again with the same root reuses its data.
    store_url : str, optional
        The store: a folder or a ``postgresql://`` URL. By default ``root/store``, or (under
        ``GRIDMAP_TEST_STORE=postgresql``) one PostGIS database per ``root``, made on first call.
    """
    if store_url is None and default_store_backend() == "geojson":
        store_url = str(root / "store")
    elif store_url is None:
        marker = root / "store.url"  # the same root must give the same database on every call
        if marker.exists():
            store_url = marker.read_text()
        else:
            store_url = new_store_url(root)
            root.mkdir(parents=True, exist_ok=True)
            marker.write_text(store_url)
    return {"DATA_DIR": str(copy_mini(root / "geodata")), "STORE_URL": store_url,
            "INSTANCE_DIR": str(root / "inst")}


def add_accounts(instance_dir: Path, target: str | Path | None = None) -> str | Path:
    """Create the :data:`PASSWORDS` accounts (one per role) that do not exist yet; return the database.

    ``target`` is the accounts database (a SQLite file or a PostgreSQL URL; an app's is
    ``app.extensions["gridmap.workspace"].db``); by default the instance folder's SQLite file.
    """
    db = users.db_path(instance_dir) if target is None else target
    for name, password in PASSWORDS.items():
        if users.get_user(db, name) is None:
            users.add_user(db, name, password, name, min_length=MIN_PASSWORD)
    return db


def app_db(app: Flask) -> str | Path:
    """Return the accounts and audit database an app uses (a SQLite file, or the store's PostgreSQL URL)."""
    return app.extensions["gridmap.workspace"].db


def store_state(app_or_store: Any) -> tuple[str, list[str], int]:
    """Return what a change of a store (or an app's) would move, on any backend: current version, versions, history length.

    Equal states before and after a refused import mean the store was not changed.
    """
    store = app_or_store.extensions["gridmap.data"].store if isinstance(app_or_store, Flask) else app_or_store
    return store.version(), [v.id for v in store.list_versions()], len(store.history())


def add_cheap_accounts(instance_dir: Path) -> Path:
    """:func:`add_accounts` with cheap argon2 parameters, for a real server that tests sign in to."""
    users.set_hash_cost(1, 1024)
    try:
        return add_accounts(instance_dir)
    finally:
        users.set_hash_cost()


def make_app(root: Path, **settings: Any) -> Flask:
    """Return the app on a writable versioned store under ``root``, with an admin and a staff account.

    Cookies are sent over plain HTTP (``COOKIE_SECURE`` off) so the test client keeps them.
    Use with cheap password hashes (the ``cheap_hashes`` fixture), or account creation is slow.

    Parameters
    ----------
    root : Path
        A private folder (``tmp_path``); calling again with the same root reuses its data.
    **settings
        Settings over those (``RATELIMIT_ENABLED=False``, ``MAX_UPLOAD_MB=1``); ``STORE_URL`` picks
        the store (see :func:`store_settings`).
    """
    store_url = settings.pop("STORE_URL", None)
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "COOKIE_SECURE": False,
                      **store_settings(root, store_url), **settings})
    add_accounts(root / "inst", app.extensions["gridmap.workspace"].db)
    return app


def csrf_token(client: FlaskClient) -> str:
    """Return the CSRF token of the client's session, making one as the app does when there is none."""
    with client.session_transaction() as s:
        token = s.get("csrf")
        if not isinstance(token, str) or len(token) < 32:
            token = s["csrf"] = secrets.token_urlsafe(32)
        return token


def page_token(page: str) -> str:
    """Return the CSRF token of the first form in an HTML page (for a client other than Flask's)."""
    found = _TOKEN_INPUT.search(page)
    assert found, "the page's form carries no CSRF token"
    return found.group(1)


def login(client: FlaskClient, name: str, password: str | None = None, **form: str) -> TestResponse:
    """Sign in through the real form: GET /login for its CSRF token, then POST it back.

    Parameters
    ----------
    client : FlaskClient
        The client whose session signs in.
    name : str
        The user name.
    password : str, optional
        Its password; that of :data:`PASSWORDS` by default.
    **form
        Further form fields (``next="/admin"``).

    Returns
    -------
    TestResponse
        The answer to the POST (302 on success, 401 for a wrong password).
    """
    token = page_token(client.get("/login").get_data(as_text=True))
    password = PASSWORDS.get(name, "") if password is None else password
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, **form})


def logout(client: FlaskClient) -> TestResponse:
    """Sign out with the session's CSRF token."""
    return client.post("/logout", data={"csrf_token": csrf_token(client)})


def json_error(response: TestResponse, status: int) -> str:
    """Assert ``response`` is a JSON error with ``status``; return its message."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:300]
    return body["error"]


def inside_point(grids: gpd.GeoDataFrame, i: int = 0) -> tuple[float, float]:
    """Return a point (x, y) certainly inside grid ``i`` of ``grids``."""
    p = grids.geometry.iloc[i].representative_point()
    return p.x, p.y


def shifted_mini(dlon: float) -> dict[str, gpd.GeoDataFrame]:
    """Return the mini city's layers with every geometry moved ``dlon`` degrees east (another city, same shapes)."""
    import shapely

    out = {}
    for path in sorted(MINI.glob("*.geojson")):
        gdf = gpd.read_file(path, engine="pyogrio")
        gdf.geometry = shapely.transform(gdf.geometry.values, lambda xy: xy + [dlon, 0.0])
        out[path.stem] = gdf
    return out


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `gridmap serve` process on a free loopback port (use as a context manager).

    Parameters
    ----------
    instance : Path
        The instance folder (accounts, audit, store unless GRIDMAP_STORE_URL is given).
    data_dir : Path, optional
        ``--data-dir`` to serve.
    **env : str
        Further ``GRIDMAP_<NAME>`` settings by name, e.g. ``CHANNEL_TIMEOUT="2"``.
    """

    def __init__(self, instance: Path, data_dir: Path | None = None, **env: str) -> None:
        import os

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [str(Path(sys.executable).with_name("gridmap")), "serve", "--port", str(self.port)]
        if data_dir is not None:
            self.args += ["--data-dir", str(data_dir)]
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")},
                    "GRIDMAP_BASEMAP": "none", "GRIDMAP_INSTANCE_DIR": str(instance),
                    **{f"GRIDMAP_{k}": str(v) for k, v in env.items()}}
        self.proc: Any = None
        self.log: Any = None
        #: Folder the process starts in (a ``python -c`` server imports ``app`` from there first).
        self.cwd: Path | None = None

    def start(self, timeout: float = 60) -> Server:
        """Start the process and wait until /healthz answers."""
        import subprocess
        import tempfile
        import time
        import urllib.request

        # its output goes to a file, not a pipe: a pipe nobody reads fills up under load and blocks the server
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open while the server runs; read by output())
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    out = self.output()
                    raise RuntimeError(f"gridmap serve did not start: {out[-2000:]}") from None
                time.sleep(0.2)

    def output(self) -> str:
        """Return what the server has printed so far (stdout and stderr)."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Return the server process's resident memory (or ``VmHWM``, its peak) in KiB, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HoggedConnections:
    """Open ``idle`` silent connections and ``slow`` slowloris ones (one header byte a second) to a port.

    Use as a context manager; all sockets are closed on exit. Loopback only.
    """

    def __init__(self, port: int, idle: int, slow: int) -> None:
        import threading

        self.port, self.n_idle, self.n_slow = port, idle, slow
        self.idle: list[Any] = []
        self.slow: list[Any] = []
        self._stop = threading.Event()
        self._feeder = threading.Thread(target=self._trickle, daemon=True)

    def _trickle(self) -> None:
        import contextlib

        while not self._stop.is_set():
            for s in self.slow:
                with contextlib.suppress(OSError):
                    s.sendall(b"X")
            self._stop.wait(1.0)

    def __enter__(self) -> HoggedConnections:
        import socket

        def connect() -> socket.socket:
            return socket.create_connection(("127.0.0.1", self.port), timeout=10)

        self.idle = [connect() for _ in range(self.n_idle)]
        self.slow = [connect() for _ in range(self.n_slow)]
        for s in self.slow:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self._feeder.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._feeder.join(timeout=5)
        for s in self.idle + self.slow:
            s.close()


def export_commit(rev: str, dest: Path) -> Path:
    """Write the tree of commit ``rev`` (``git archive``) into ``dest/tree`` and return that folder.

    Benchmarks run an earlier gridmap from there, beside this one, to measure both in one run.
    """
    import subprocess
    import tarfile

    archive = dest / "base.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "tree", filter="data")
    return dest / "tree"
