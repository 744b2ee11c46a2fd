"""`gridmap store migrate`: a GeoJSON store into PostGIS and back, with its versions, and clear refusals."""

from __future__ import annotations

import json

import pytest
from geopandas.testing import assert_geodataframe_equal

from app.cli import main
from app.geo import audit, users
from app.geo.geojson_store import VersionedStore
from app.geo.migrate import MigrateError, copy_store
from app.geo.store import open_store
from tests import helpers


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An instance folder for the audit log, and no store settings from the caller's environment."""
    for name in ("STORE_URL", "STORE_DIR", "DATA_DIR", "DATABASE_URL"):
        monkeypatch.delenv(f"GRIDMAP_{name}", raising=False)
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    return tmp_path


def _three_versions(root) -> VersionedStore:
    """A GeoJSON store with versions 1 (seed), 2 (roads cut) and 3 (a grid renamed), serving 2."""
    store = VersionedStore(root)
    store.seed_from(helpers.MINI)
    store.commit({"roads": store.read("roads").iloc[2:]}, author="wang", message="roads cut")
    grids = store.read("grids")
    grids.loc[0, "name"] = "新城社区第1网格"
    store.commit({"grids": grids}, author="li", message="rename a grid")
    store.rollback("2", author="wang")
    return store


def _same_versions(a, b) -> None:
    va, vb = a.list_versions(), b.list_versions()
    assert [(v.author, v.message, v.source, v.counts) for v in va] == \
        [(v.author, v.message, v.source, v.counts) for v in vb]
    for x, y in zip(va, vb, strict=True):
        sa, sb = a.snapshot(x.id), b.snapshot(y.id)
        assert sorted(sa.layer_names()) == sorted(sb.layer_names())
        assert sa.metadata() == sb.metadata()
        for layer in sa.layer_names():
            assert_geodataframe_equal(sa.read(layer), sb.read(layer), check_like=True)
    assert a.info().seq == b.info().seq  # the same version is current


def test_geojson_to_postgis_and_back_keeps_every_version(tmp_path, pg_url):
    source = _three_versions(tmp_path / "src")
    steps: list[str] = []
    there = copy_store(source, open_store(pg_url), progress=steps.append)
    assert len(there.versions) == 3 and len(steps) == 4  # three versions, then the current one
    pg = open_store(pg_url)
    _same_versions(source, pg)
    back = copy_store(pg, open_store(tmp_path / "back"))
    again = VersionedStore(tmp_path / "back")
    _same_versions(source, again)
    assert back.current == again.version() and again.verify() == []
    assert [h.action for h in again.history()][-1] == "rollback"


def test_current_only_copies_one_version(tmp_path):
    source = _three_versions(tmp_path / "src")
    result = copy_store(source, open_store(tmp_path / "one"), all_versions=False)
    one = VersionedStore(tmp_path / "one")
    assert list(result.versions) == [source.version()] and len(one.list_versions()) == 1
    assert_geodataframe_equal(one.read("roads"), source.read("roads"), check_like=True)


def test_cli_migrates_and_records_it(env, runner, pg_url):
    source = _three_versions(env / "src")
    r = runner.invoke(main, ["store", "migrate", str(env / "src"), pg_url, "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert len(result["versions"]) == 3 and "[3/3]" in r.stderr
    assert open_store(pg_url).info().message == source.info().message == "roads cut"
    # accounts and audit live in the store's database when it is PostgreSQL, else in the instance folder
    entries = [e for t in (users.db_path(env / "inst"), pg_url) for e in audit.entries(t)
               if e.action == "store_migrate"]
    assert len(entries) == 1 and entries[0].detail["versions"] == 3
    again = runner.invoke(main, ["store", "migrate", str(env / "src"), pg_url])
    assert again.exit_code == 1 and "already holds data" in again.output and "Traceback" not in again.output
    forced = runner.invoke(main, ["store", "migrate", str(env / "src"), pg_url, "--force", "--current-only"])
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(("source", "target", "message"), [
    ("{tmp}/nothing", "{tmp}/t", "not a folder or a store URL"),
    ("{tmp}/empty", "{tmp}/t", "holds no data version"),
    ("{tmp}/src", "ftp://example.org/x", "no store backend for ftp://"),
    ("{tmp}/src", "{tmp}/src", "the same store"),
    ("{tmp}/src", "postgresql://nobody:secret@127.0.0.1:1/none", "127.0.0.1"),
])
def test_cli_refusals_exit_1_without_a_traceback(env, runner, source, target, message):
    (env / "empty").mkdir()
    VersionedStore(env / "src").seed_from(helpers.MINI)
    r = runner.invoke(main, ["store", "migrate", source.format(tmp=env), target.format(tmp=env)])
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output and "secret" not in r.output
    assert not (env / "t").exists() or not any((env / "t").iterdir())


def test_copy_store_refuses_a_read_only_target(tmp_path):
    source = VersionedStore(tmp_path / "src")
    source.seed_from(helpers.MINI)
    with pytest.raises(MigrateError, match="read-only"):
        copy_store(source, open_store(helpers.MINI))


def test_the_former_store_dir_variable_still_works(tmp_path, runner, monkeypatch):
    from app import settings

    monkeypatch.delenv("GRIDMAP_STORE_URL", raising=False)
    assert settings.resolve(environ={"GRIDMAP_STORE_DIR": "old/store"}).STORE_URL == "old/store"
    assert settings.resolve(environ={"GRIDMAP_STORE_DIR": "old", "GRIDMAP_STORE_URL": "new"}).STORE_URL == "new"
    assert settings.resolve({"STORE_DIR": "given"}, environ={}).STORE_URL == "given"
    monkeypatch.setenv("GRIDMAP_STORE_URL", "postgresql://gridmap:s3cret@db.example/gridmap")
    shown = runner.invoke(main, ["settings"]).output
    assert "GRIDMAP_STORE_URL=postgresql://gridmap:***@db.example/gridmap" in shown and "s3cret" not in shown


def test_init_city_builds_a_city_in_an_empty_postgis_database(env, runner, pg_url):
    from tests.test_cli_initcity import make_office

    office = make_office(env / "河湾市")
    r = runner.invoke(main, ["init-city", str(office), "--store", pg_url, "--table-crs", "4326"])
    assert r.exit_code == 0, r.output
    assert "9 grids" in r.output and "GRIDMAP_STORE_URL=" in r.output
    store = open_store(pg_url)
    assert store.info().source == "init-city" and len(store.read("grids")) == 9
    again = runner.invoke(main, ["init-city", str(office), "--store", pg_url, "--table-crs", "4326"])
    assert again.exit_code == 1 and "already holds data" in again.output


def test_settings_never_print_a_store_url_password(runner, monkeypatch):
    monkeypatch.setenv("GRIDMAP_STORE_URL", "postgresql://grid:s3cret-pw@db.example/gridmap")
    r = runner.invoke(main, ["settings"])
    assert r.exit_code == 0 and "s3cret-pw" not in r.output and "postgresql://grid:***@db.example/gridmap" in r.output
