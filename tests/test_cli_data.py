"""`gridmap import`, `versions`, `rollback` and `users`: exit codes, reports, and nothing changed on refusal."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pytest

from app.cli import main
from app.geo import audit, users
from app.geo.versions import dump_geojson

TESTS = Path(__file__).resolve().parent
MINI = TESTS / "data" / "mini"
_spec = importlib.util.spec_from_file_location("make_corpus", TESTS / "data" / "hostile" / "make_corpus.py")
corpus = sys.modules.setdefault("make_corpus", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(corpus)


@pytest.fixture(autouse=True, scope="module")
def _cheap_hashes():
    users.set_hash_cost(1, 1024)
    yield
    users.set_hash_cost()


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "geodata"
    shutil.copytree(MINI, data)
    values = {"GRIDMAP_DATA_DIR": str(data), "GRIDMAP_STORE_DIR": str(tmp_path / "store"),
              "GRIDMAP_INSTANCE_DIR": str(tmp_path / "inst"), "GRIDMAP_IMPORT_MAX_MB": "1",
              "GRIDMAP_IMPORT_MAX_UNPACKED_MB": "4", "GRIDMAP_IMPORT_MAX_FEATURES": "2000"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_import_versions_rollback(env, runner):
    g = gpd.read_file(MINI / "grids.geojson").to_crs("EPSG:4542")
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
    actions = [e.action for e in audit.entries(users.db_path(env / "inst"))]
    assert actions == ["rollback", "import"]


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
    data = tmp_path / "plain"
    shutil.copytree(MINI, data)
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    monkeypatch.delenv("GRIDMAP_STORE_DIR", raising=False)
    r = runner.invoke(main, ["import", "grids", str(MINI / "grids.geojson")])
    assert r.exit_code == 1 and "read-only" in r.output
    assert runner.invoke(main, ["versions"]).exit_code == 1


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_hostile_file_exits_nonzero_with_its_message(case, env, runner, tmp_path_factory):
    folder = tmp_path_factory.mktemp("h")
    path = folder / case.name
    path.write_bytes(corpus._MAKERS[case.name]())
    runner.invoke(main, ["versions"])  # seed the store first
    before = _digest(env / "store")
    args = ["import", case.layer, str(path)] + (["--crs", case.crs] if case.crs else [])
    r = runner.invoke(main, args)
    assert r.exit_code == 1, r.output
    assert case.problem in r.output and "nothing was changed" in r.output
    assert _digest(env / "store") == before


def test_users_commands(env, runner):
    r = runner.invoke(main, ["users", "add", "wang", "--role", "admin"], input="wang-pass-1\nwang-pass-1\n")
    assert r.exit_code == 0, r.output
    assert "wang" in runner.invoke(main, ["users", "list"]).output
    assert runner.invoke(main, ["users", "add", "wang"], input="wang-pass-2\nwang-pass-2\n").exit_code == 1
    r = runner.invoke(main, ["users", "passwd", "wang"], input="wang-pass-3\nwang-pass-3\n")
    assert r.exit_code == 0
    db = users.db_path(env / "inst")
    assert users.verify(db, "wang", "wang-pass-3") is not None
    assert runner.invoke(main, ["users", "add", "li", "--password", "short"]).exit_code == 1
    assert runner.invoke(main, ["users", "remove", "wang"]).exit_code == 0
    assert runner.invoke(main, ["users", "remove", "wang"]).exit_code == 1
    assert [e.action for e in audit.entries(db)] == ["user_remove", "user_passwd", "user_add"]
