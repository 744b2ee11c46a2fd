"""`gridmap import`, `versions`, `rollback` and `users`: exit codes, reports, and nothing changed on refusal."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest

from app.cli import main
from app.geo import audit, users
from app.geo.geojson import dump_geojson
from tests.helpers import CORPUS_LIMITS, MINI, copy_mini, hostile_corpus, store_settings, tree_digest

corpus = hostile_corpus()
pytestmark = pytest.mark.usefixtures("cheap_hashes")


@pytest.fixture
def env(tmp_path, monkeypatch, store_url):
    """GRIDMAP_* variables for a versioned store (under tmp_path, or a PostGIS database), with the corpus's import limits."""
    monkeypatch.delenv("GRIDMAP_STORE_DIR", raising=False)
    for name, value in {**store_settings(tmp_path, store_url), **CORPUS_LIMITS}.items():
        monkeypatch.setenv(f"GRIDMAP_{name}", str(value))
    return tmp_path


def _audit_db():
    """The accounts and audit database the commands use, wherever the settings put it."""
    from app import settings
    from app.geo import db

    config = settings.resolve()
    return db.target_for(config, settings.instance_dir(config))


@pytest.mark.both_stores
def test_import_versions_rollback(env, runner):
    g = gpd.read_file(MINI / "grids.geojson").to_crs("EPSG:4542")
    g.loc[0, "name"] = "新城社区第1网格"  # a real change: an identical file would store nothing
    path = env / "grids.gpkg"
    g.to_file(path, engine="pyogrio")
    dry = runner.invoke(main, ["import", "grids", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "dry run" in dry.output
    r = runner.invoke(main, ["import", "grids", str(path)])
    assert r.exit_code == 0, r.output
    assert "stored as version 0002-" in r.output and "EPSG:4542" in r.output
    out = runner.invoke(main, ["versions"]).output
    assert out.splitlines()[0].startswith("* 0002-") and "0001-" in out
    r = runner.invoke(main, ["rollback", "1"])
    assert r.exit_code == 0 and "now serving version 0001-" in r.output
    assert runner.invoke(main, ["rollback", "99"]).exit_code == 1
    actions = [e.action for e in audit.entries(_audit_db())]
    assert actions == ["rollback", "import", "seed"]


def test_import_with_crs_and_repair(env, runner):
    src = corpus._MAKERS["unclosed_ring.geojson"]()
    path = env / "u.geojson"
    path.write_bytes(src)
    assert runner.invoke(main, ["import", "grids", str(path)]).exit_code == 1
    r = runner.invoke(main, ["import", "grids", str(path), "--repair"])
    assert r.exit_code == 0, r.output
    g = gpd.read_file(MINI / "grids.geojson")
    p2 = env / "g.geojson"
    p2.write_bytes(dump_geojson(g))
    r = runner.invoke(main, ["import", "grids", str(p2), "--crs", "nonsense"])
    assert r.exit_code == 1 and "unknown CRS" in r.output


def test_read_only_folder_cannot_import(tmp_path, runner, monkeypatch):
    data = copy_mini(tmp_path / "plain")
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    monkeypatch.delenv("GRIDMAP_STORE_URL", raising=False)
    r = runner.invoke(main, ["import", "grids", str(MINI / "grids.geojson")])
    assert r.exit_code == 1 and "read-only" in r.output
    assert runner.invoke(main, ["versions"]).exit_code == 1


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_hostile_file_exits_nonzero_with_its_message(case, env, runner, tmp_path_factory):
    folder = tmp_path_factory.mktemp("h")
    path = folder / case.name
    path.write_bytes(corpus._MAKERS[case.name]())
    runner.invoke(main, ["versions"])  # seed the store first
    before = tree_digest(env / "store")
    args = ["import", case.layer, str(path)] + (["--crs", case.crs] if case.crs else [])
    r = runner.invoke(main, args)
    assert r.exit_code == 1, r.output
    assert case.problem in r.output and "nothing was changed" in r.output
    assert tree_digest(env / "store") == before


def test_users_commands(env, runner):
    r = runner.invoke(main, ["users", "add", "wang", "--role", "admin"], input="Harbor-Violet-93\nHarbor-Violet-93\n")
    assert r.exit_code == 0, r.output
    assert "wang" in runner.invoke(main, ["users", "list"]).output
    assert runner.invoke(main, ["users", "add", "wang"], input="Copper-Tundra-64\nCopper-Tundra-64\n").exit_code == 1
    r = runner.invoke(main, ["users", "passwd", "wang"], input="Saffron-Anvil-19\nSaffron-Anvil-19\n")
    assert r.exit_code == 0
    db = _audit_db()
    assert users.verify(db, "wang", "Saffron-Anvil-19") is not None
    assert runner.invoke(main, ["users", "add", "li", "--password", "short"]).exit_code == 1
    r = runner.invoke(main, ["users", "remove", "wang"])
    assert r.exit_code == 1 and "cannot remove the last admin" in r.output
    assert runner.invoke(main, ["users", "add", "li", "--role", "admin", "--password", "Cobalt-Heron-46"]).exit_code == 0
    assert runner.invoke(main, ["users", "role", "li", "staff"]).exit_code == 0
    assert runner.invoke(main, ["users", "role", "li", "admin"]).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "wang"]).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "wang"]).exit_code == 1
    assert [e.action for e in audit.entries(db)] == ["user_remove", "user_role", "user_role", "user_add",
                                                     "user_passwd", "user_add", "seed"]


@pytest.mark.both_stores
def test_identical_reimport_and_keep_versions(env, runner, monkeypatch):
    monkeypatch.setenv("GRIDMAP_KEEP_VERSIONS", "2")
    g = gpd.read_file(MINI / "grids.geojson")
    paths = []
    for k in range(4):
        g["name"] = g["name"] + str(k)
        paths.append(env / f"g{k}.geojson")
        paths[-1].write_bytes(dump_geojson(g))
    assert "stored as version 0002-" in runner.invoke(main, ["import", "grids", str(paths[0])]).output
    again = runner.invoke(main, ["import", "grids", str(paths[0])])
    assert again.exit_code == 0 and "no change: identical to the current version (0002-" in again.output
    assert runner.invoke(main, ["rollback", "1"]).exit_code == 0
    for path in paths[1:]:
        assert runner.invoke(main, ["import", "grids", str(path)]).exit_code == 0
    listed = re.findall(r"^[* ] (\d{4})-", runner.invoke(main, ["versions"]).output, re.M)
    assert listed == ["0005", "0004", "0001"]  # the newest two, and 1 (rolled back to)
    actions = [e.action for e in audit.entries(_audit_db())]
    assert actions == ["import", "import", "import", "rollback", "import_unchanged", "import", "seed"]
