"""The service layer: each use case writes its audit record and keeps its rules, whoever calls it."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from app import settings
from app.cli import main
from app.geo import audit, operations, users
from app.geo.geojson import dump_geojson
from app.geo.store import ReadOnlyStore, StoreError
from tests import helpers

CLI = operations.Actor("cli:test")


#: Every test on a workspace runs on the GeoJSON and the PostGIS store.
pytestmark = pytest.mark.both_stores


@pytest.fixture
def ws(tmp_path: Path, store_url: str, cheap_hashes: None) -> operations.Workspace:
    """A workspace on a versioned store (a folder or a PostGIS database) seeded from the mini city, with one admin."""
    config = settings.resolve({"DATA_DIR": str(helpers.copy_mini(tmp_path / "geodata")),
                               "STORE_URL": store_url, "INSTANCE_DIR": str(tmp_path / "inst")},
                              environ={})
    workspace = operations.open_workspace(config)
    operations.add_user(workspace, CLI, "boss", "Tundra-Marble-88", "admin")
    return workspace


def _actions(ws: operations.Workspace) -> list[str]:
    return [e.action for e in audit.entries(ws.db)]


def test_import_and_rollback_write_their_audit_records(ws, tmp_path):
    grids = gpd.read_file(helpers.MINI / "grids.geojson")
    path = tmp_path / "grids.geojson"
    path.write_bytes(dump_geojson(grids.iloc[:8]))
    outcome = operations.import_layer(ws, CLI, "grids", path)
    assert outcome.report.ok and outcome.version.id.startswith("0002-")
    info, summary = operations.rollback(ws, CLI, "1")
    assert info.id.startswith("0001-") and len(summary["grids"]["added"]) == 2
    assert _actions(ws)[:3] == ["rollback", "import", "user_add"]
    versions = operations.list_versions(ws.store)
    assert [v["current"] for v in versions] == [False, True] and "hashes" not in versions[0]


def test_a_refused_import_is_audited_and_changes_nothing(ws, tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', encoding="utf-8")
    before = helpers.store_state(ws.store)
    outcome = operations.import_layer(ws, CLI, "grids", path)
    assert not outcome.report.ok and outcome.version is None
    assert _actions(ws)[0] == "import_refused"
    assert helpers.store_state(ws.store) == before


def test_unknown_layer_is_refused_before_reading(ws, tmp_path):
    with pytest.raises(operations.OperationError, match="unknown layer 'parks'") as err:
        operations.import_layer(ws, CLI, "parks", tmp_path / "nothing.geojson")
    assert err.value.status == 400 and err.value.key == "import.layer"


def test_the_last_admin_can_be_neither_removed_nor_demoted(ws):
    with pytest.raises(operations.OperationError, match="cannot remove the last admin"):
        operations.remove_user(ws, CLI, "boss")
    with pytest.raises(operations.OperationError, match="cannot demote the last admin"):
        operations.set_role(ws, CLI, "boss", "staff")
    operations.add_user(ws, CLI, "deputy", "Juniper-Rocket-51", "admin")
    operations.set_role(ws, CLI, "boss", "staff")  # another admin is left
    assert users.get_user(ws.db, "boss").role == "staff"
    assert _actions(ws)[:2] == ["user_role", "user_add"]


def test_no_one_changes_their_own_account_from_the_web(ws):
    me = operations.Actor("boss", ip="127.0.0.1", account="boss")
    operations.add_user(ws, me, "deputy", "Juniper-Rocket-51", "admin")
    with pytest.raises(operations.OperationError, match="your own account"):
        operations.remove_user(ws, me, "boss")
    with pytest.raises(operations.OperationError, match="your own role"):
        operations.set_role(ws, me, "boss", "staff")
    entry = audit.entries(ws.db)[0]
    assert (entry.actor, entry.action, entry.target, entry.ip) == ("boss", "user_add", "deputy", "127.0.0.1")


def test_the_cli_keeps_the_last_admin_too(ws, runner, monkeypatch):
    for name in ("DATA_DIR", "STORE_URL", "INSTANCE_DIR"):
        monkeypatch.setenv(f"GRIDMAP_{name}", str(getattr(ws.config, name)))
    r = runner.invoke(main, ["users", "remove", "boss"])
    assert r.exit_code == 1 and "cannot remove the last admin" in r.output
    r = runner.invoke(main, ["users", "role", "boss", "staff"])
    assert r.exit_code == 1 and "cannot demote the last admin" in r.output
    assert users.get_user(ws.db, "boss").role == "admin"


def test_a_plain_folder_is_read_only_for_every_use_case(tmp_path, cheap_hashes):
    config = settings.resolve({"DATA_DIR": str(helpers.copy_mini(tmp_path / "plain")),
                               "INSTANCE_DIR": str(tmp_path / "inst")}, environ={})
    ws = operations.open_workspace(config)
    assert not ws.store.writable and operations.list_versions(ws.store) == []
    with pytest.raises(ReadOnlyStore):
        operations.rollback(ws, CLI, "1")
    with pytest.raises(StoreError, match="read-only"):
        operations.import_layer(ws, CLI, "grids", helpers.MINI / "grids.geojson")


# --------------------------------------------------------------------------- changes and their audit entries


def _entries(ws: operations.Workspace, action: str) -> list[audit.Entry]:
    return audit.entries(ws.db, action=action)


def test_every_change_has_one_audit_entry_named_by_its_history_entry(ws, tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_bytes(dump_geojson(gpd.read_file(helpers.MINI / "grids.geojson").iloc[:8]))
    version = operations.import_layer(ws, CLI, "grids", path).version
    info, _ = operations.rollback(ws, CLI, "1")
    history = ws.store.history()
    assert [e.action for e in history] == ["commit", "commit", "rollback"]
    assert audit.changes_recorded(ws.db) == {e.id for e in history}
    (seed,) = _entries(ws, "seed")
    assert seed.actor == "system" and seed.target == history[0].version and "recovered" not in seed.detail
    assert _entries(ws, "import")[0].detail["change"] == version.id
    assert operations.reconcile(ws) == []  # nothing is missing
    operations.open_workspace(ws.config)
    assert _actions(ws) == ["rollback", "import", "user_add", "seed"]


def test_a_change_killed_before_its_audit_entry_is_recorded_when_a_workspace_opens(ws):
    """As if the process died between the version change and the audit write."""
    g = gpd.read_file(helpers.MINI / "grids.geojson")
    g["name"] = g["name"] + "·新"
    v2 = ws.store.commit({"grids": g}, author="zhang", message="import grids from g.geojson")
    ws.store.rollback("1", author="li", change_id="lost-rollback")
    assert "import" not in _actions(ws) and "rollback" not in _actions(ws)
    operations.open_workspace(ws.config)  # as at the next start of the service or the next command
    (imported,) = _entries(ws, "import")
    assert (imported.actor, imported.target, imported.ip) == ("zhang", "grids", "")
    assert imported.detail["recovered"] is True and imported.detail["change"] == v2.id
    assert imported.detail["version"] == v2.id and imported.detail["message"] == "import grids from g.geojson"
    assert imported.detail["summary"] == v2.summary
    (back,) = _entries(ws, "rollback")
    assert (back.actor, back.detail["change"], back.detail["recovered"]) == ("li", "lost-rollback", True)
    assert back.target.startswith("0001-")
    operations.open_workspace(ws.config)
    assert len(_entries(ws, "import")) == 1 and len(_entries(ws, "rollback")) == 1
    for v in ws.store.list_versions():  # every version has its entry
        assert v.id in audit.changes_recorded(ws.db)


@pytest.mark.geojson_store  # it makes the GeoJSON store's history name another process
def test_a_change_of_a_writer_that_still_runs_is_left_to_it(ws, monkeypatch):
    import dataclasses
    import subprocess
    import sys

    from app.geo import geojson_store

    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        real = geojson_store.new_entry
        monkeypatch.setattr(geojson_store, "new_entry",
                            lambda *a, **k: dataclasses.replace(real(*a, **k), pid=writer.pid))
        ws.store.commit({"grids": gpd.read_file(helpers.MINI / "grids.geojson").iloc[:9]}, author="web",
                        message="m")
        assert operations.reconcile(ws) == []  # its writer is about to record it
    finally:
        writer.kill()
        writer.wait()
    (recovered,) = operations.reconcile(ws)
    assert recovered.author == "web" and _entries(ws, "import")[0].detail["recovered"] is True


def test_an_audit_entry_for_a_change_is_written_once(ws):
    assert audit.record(ws.db, "a", "import", target="grids", detail={"version": "x"}, change="0009-abcdef1")
    assert not audit.record(ws.db, "b", "import", target="grids", change="0009-abcdef1")
    assert audit.record(ws.db, "c", "import", target="grids", change="0009-abcdef")  # a prefix is another id
    assert audit.changes_recorded(ws.db) >= {"0009-abcdef1", "0009-abcdef"}
    assert [e.actor for e in _entries(ws, "import")] == ["c", "a"]


def test_an_identical_reimport_makes_no_version_and_says_so(ws, tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_bytes(dump_geojson(gpd.read_file(helpers.MINI / "grids.geojson").iloc[:8]))
    first = operations.import_layer(ws, CLI, "grids", path)
    again = operations.import_layer(ws, CLI, "grids", path)
    assert again.unchanged and again.version.id == first.version.id
    assert len(ws.store.list_versions()) == 2
    assert _actions(ws)[:2] == ["import_unchanged", "import"]
    entry = _entries(ws, "import_unchanged")[0]
    assert entry.target == "grids" and entry.detail == {"file": "grids.geojson", "version": first.version.id}
