"""Shared fixtures in the flaskr style: ``app``, ``client``, ``runner`` and ``auth``, plus versioned-store apps."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.geo import users
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests import helpers, pg


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the mini city that a test may change freely."""
    return helpers.copy_mini(tmp_path / "geodata")


def _on_postgis(request: pytest.FixtureRequest) -> bool:
    """Whether the test's read-only city goes in PostGIS (CI's second pass, unless marked ``geojson_store``)."""
    return helpers.default_store_backend() == "postgresql" and not request.node.get_closest_marker("geojson_store")


@pytest.fixture
def app(data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Flask:
    """The application serving the private mini city (a plain folder, read-only).

    Under ``GRIDMAP_TEST_STORE=postgresql`` (CI's second pass) the same city is served from a fresh
    PostGIS database seeded from ``data_dir`` instead, unless the test is marked ``geojson_store``.
    """
    if _on_postgis(request):
        return helpers.folder_app(data_dir, STORE_URL=request.getfixturevalue("pg_url"),
                                  INSTANCE_DIR=str(tmp_path / "inst"))
    return helpers.folder_app(data_dir)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client of ``app``."""
    return app.test_client()


class _Runner(CliRunner):
    """A click runner whose commands keep their caches and stores out of the repository's ``instance/``."""

    def __init__(self, instance: Path) -> None:
        super().__init__()
        self.instance = instance

    def make_env(self, overrides: Mapping[str, str | None] | None = None) -> Mapping[str, str | None]:
        env = dict(super().make_env(overrides))
        if "GRIDMAP_INSTANCE_DIR" not in env and "GRIDMAP_INSTANCE_DIR" not in os.environ:
            env["GRIDMAP_INSTANCE_DIR"] = str(self.instance)
        return env


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    """A click runner for `gridmap` commands (a private instance folder unless the test names one)."""
    return _Runner(tmp_path / "cli-instance")


@pytest.fixture
def ds(data_dir: Path, request: pytest.FixtureRequest) -> Dataset:
    """The private mini city opened as a dataset (the same files ``app`` serves).

    Under ``GRIDMAP_TEST_STORE=postgresql`` it is the PostGIS database ``app`` serves (the test's
    ``pg_url``), seeded from ``data_dir``, unless the test is marked ``geojson_store``.
    """
    if _on_postgis(request):
        from app.geo.store import open_store

        store = open_store(request.getfixturevalue("pg_url"))
        store.seed_from(data_dir)
        return Dataset(store)
    return Dataset(FolderStore(data_dir))


@pytest.fixture(scope="module")
def cheap_hashes() -> Iterator[None]:
    """Cheap argon2 parameters for one module, so that making and checking accounts is fast."""
    users.set_hash_cost(1, 1024)
    yield
    users.set_hash_cost()


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``both_stores`` marker."""
    config.addinivalue_line("markers", "both_stores: run the test once per store backend (GeoJSON and PostGIS); "
                                       "it applies to tests that use store_url, make_app or versioned_app")
    config.addinivalue_line("markers", "geojson_store: the test looks inside the GeoJSON store's folder, so its "
                                       "store is always one (whatever both_stores or GRIDMAP_TEST_STORE say)")
    config.addinivalue_line("markers", "store: the test makes a writable store itself (helpers.make_app, "
                                       "helpers.store_settings or helpers.new_store_url), so GRIDMAP_TEST_STORE "
                                       "picks its backend; --store-tests-only keeps it")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--store-tests-only``: keep the tests whose outcome depends on the store backend (CI's second pass)."""
    parser.addoption("--store-tests-only", action="store_true",
                     help="run only the tests that use a writable store (store_backend, make_app, versioned_app or "
                          "the 'store' marker) and are not already run on both backends; CI runs these again "
                          "with GRIDMAP_TEST_STORE=postgresql")


def _uses_store(item: pytest.Item) -> bool:
    """Whether ``item``'s outcome depends on the store backend that ``GRIDMAP_TEST_STORE`` picks."""
    if item.get_closest_marker("geojson_store"):
        return False
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "store_backend" in callspec.params:
        return False  # a both_stores test: it already ran on each backend
    names = getattr(item, "fixturenames", ())
    return bool({"store_backend", "app", "ds"} & set(names)) or item.get_closest_marker("store") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--store-tests-only``, deselect the tests that never touch a writable store."""
    if not config.getoption("store_tests_only"):
        return
    kept = [item for item in items if _uses_store(item)]
    config.hook.pytest_deselected(items=[item for item in items if not _uses_store(item)])
    items[:] = kept


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a ``both_stores`` test on each backend: ``test[geojson]`` and ``test[postgis]``."""
    marked = metafunc.definition.get_closest_marker
    if marked("both_stores") and not marked("geojson_store") and "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", list(helpers.STORE_BACKENDS), indirect=True,
                             ids=list(helpers.STORE_BACKENDS.values()))


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the test's writable store: the ``both_stores`` parameter, else ``GRIDMAP_TEST_STORE``."""
    if request.node.get_closest_marker("geojson_store"):
        return "geojson"
    return getattr(request, "param", None) or helpers.default_store_backend()


@pytest.fixture
def store_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the test's writable store goes: ``tmp_path/store``, or a fresh PostGIS database (``pg_url``)."""
    if store_backend == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "store")


@pytest.fixture
def make_app(tmp_path: Path, store_url: str, cheap_hashes: None) -> Callable[..., Flask]:
    """Return a factory: ``make_app(**settings)`` builds the app on a writable versioned store
    (``store_url``: in ``tmp_path``, or a PostGIS database) with the ``admin`` and ``staff``
    accounts of ``helpers.PASSWORDS``.

    Calls within one test share the store, the accounts and the audit log.
    """

    def make(**settings: Any) -> Flask:
        return helpers.make_app(tmp_path, **{"STORE_URL": store_url, **settings})

    return make


@pytest.fixture
def versioned_app(make_app: Callable[..., Flask]) -> Flask:
    """The app on a writable versioned store with admin and staff accounts, rate limits off."""
    return make_app(RATELIMIT_ENABLED=False)


class AuthActions:
    """Sign a test client in and out through the real forms (as in the flaskr tutorial's tests)."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, name: str = "admin", password: str | None = None, **form: str) -> TestResponse:
        """Sign in as ``name`` (password from ``helpers.PASSWORDS`` unless given)."""
        return helpers.login(self._client, name, password, **form)

    def logout(self) -> TestResponse:
        """Sign out."""
        return helpers.logout(self._client)

    def csrf(self) -> str:
        """Return the session's CSRF token, for a form the test posts."""
        return helpers.csrf_token(self._client)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Sign-in actions on ``client``: ``auth.login("staff")``, ``auth.logout()``, ``auth.csrf()``."""
    return AuthActions(client)


@pytest.fixture(scope="session")
def pg_cluster() -> pg.Cluster:
    """The session's throw-away PostgreSQL/PostGIS cluster (skips, or fails under ``make test``, without one)."""
    found = pg.cluster()
    if found is None:
        if pg.required():
            pytest.fail(f"PostgreSQL/PostGIS is required here ({pg.REQUIRE_ENV}=1): {pg.why()}")
        pytest.skip(f"no PostgreSQL/PostGIS: {pg.why()}")
    return found


@pytest.fixture
def pg_url(pg_cluster: pg.Cluster) -> str:
    """The URL of a fresh, empty database with PostGIS, private to one test (dropped after it)."""
    url = pg_cluster.new_database()
    helpers.PG_DATABASES.append(url)
    return url


@pytest.fixture(autouse=True)
def _drop_pg_databases() -> Iterator[None]:
    """After each test, drop the PostgreSQL databases it made and end the connections left to them."""
    yield
    helpers.drop_test_databases()
