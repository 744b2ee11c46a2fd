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


@pytest.fixture
def ws(tmp_path: Path, cheap_hashes: None) -> operations.Workspace:
    """A workspace on a versioned store seeded from the mini city, with one admin."""
    config = settings.resolve({"DATA_DIR": str(helpers.copy_mini(tmp_path / "geodata")),
                               "STORE_DIR": str(tmp_path / "store"), "INSTANCE_DIR": str(tmp_path / "inst")},
                              environ={})
    workspace = operations.open_workspace(config)
    operations.add_user(workspace, CLI, "boss", "boss-pass-1", "admin")
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
    before = helpers.tree_digest(Path(ws.store.location))
    outcome = operations.import_layer(ws, CLI, "grids", path)
    assert not outcome.report.ok and outcome.version is None
    assert _actions(ws)[0] == "import_refused"
    assert helpers.tree_digest(Path(ws.store.location)) == before


def test_unknown_layer_is_refused_before_reading(ws, tmp_path):
    with pytest.raises(operations.OperationError, match="unknown layer 'parks'") as err:
        operations.import_layer(ws, CLI, "parks", tmp_path / "nothing.geojson")
    assert err.value.status == 400 and err.value.key == "import.layer"


def test_the_last_admin_can_be_neither_removed_nor_demoted(ws):
    with pytest.raises(operations.OperationError, match="cannot remove the last admin"):
        operations.remove_user(ws, CLI, "boss")
    with pytest.raises(operations.OperationError, match="cannot demote the last admin"):
        operations.set_role(ws, CLI, "boss", "staff")
    operations.add_user(ws, CLI, "deputy", "deputy-pass-1", "admin")
    operations.set_role(ws, CLI, "boss", "staff")  # another admin is left
    assert users.get_user(ws.db, "boss").role == "staff"
    assert _actions(ws)[:2] == ["user_role", "user_add"]


def test_no_one_changes_their_own_account_from_the_web(ws):
    me = operations.Actor("boss", ip="127.0.0.1", account="boss")
    operations.add_user(ws, me, "deputy", "deputy-pass-1", "admin")
    with pytest.raises(operations.OperationError, match="your own account"):
        operations.remove_user(ws, me, "boss")
    with pytest.raises(operations.OperationError, match="your own role"):
        operations.set_role(ws, me, "boss", "staff")
    entry = audit.entries(ws.db)[0]
    assert (entry.actor, entry.action, entry.target, entry.ip) == ("boss", "user_add", "deputy", "127.0.0.1")


def test_the_cli_keeps_the_last_admin_too(ws, runner, monkeypatch):
    for name in ("DATA_DIR", "STORE_DIR", "INSTANCE_DIR"):
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
