"""`gridmap events …`: assign scopes, list, stats and export through the same core, refusals in Chinese."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import settings
from app.cli import main
from app.geo import events as ev
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests.helpers import copy_mini

GRID1 = "620201001001001"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Dataset]:
    """A plain mini-city folder and an instance folder; returns the events database and the dataset."""
    data = copy_mini(tmp_path / "geodata")
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    for name in ("GRIDMAP_STORE_URL", "GRIDMAP_STORE_DIR", "GRIDMAP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return str(ev.database(settings.resolve())), Dataset(FolderStore(data))


def test_assign_list_stats_export(env: tuple[str, Dataset], runner: CliRunner, tmp_path: Path) -> None:
    target, ds = env
    r = runner.invoke(main, ["events", "assign", "wang", "--grid", GRID1])
    assert r.exit_code == 0, r.output
    assert f"grid: {GRID1}" in r.output
    assert runner.invoke(main, ["events", "assign", "roads1", "--department", "市政局"]).exit_code == 0
    assert "wang\tgrid\t" + GRID1 in runner.invoke(main, ["events", "scopes"]).output
    zh = runner.invoke(main, ["--lang", "zh", "events", "assign", "wang", "--grid", GRID1])
    assert f"网格: {GRID1}" in zh.output, zh.output  # the scope's kind in the chosen language
    assert "wang\t网格\t" + GRID1 in runner.invoke(main, ["--lang", "zh", "events", "scopes"]).output
    event = ev.report(target, ds, ev.ANONYMOUS, report_key="cli-key-0001", category="parking",
                      description="占道停车", x=98.284742, y=39.77249, phone="13900001234")
    assert event["handler"] == "wang"
    r = runner.invoke(main, ["--lang", "zh", "events", "list", "--status", "open"])
    assert r.exit_code == 0, r.output
    assert event["id"] in r.output and "已上报" in r.output and "停车" in r.output and "共 1 件" in r.output
    r = runner.invoke(main, ["events", "list", "--status", "closed"])
    assert event["id"] not in r.output and "0 events" in r.output
    r = runner.invoke(main, ["events", "stats", "--by", "category"])
    assert r.exit_code == 0 and "parking" in r.output
    out = tmp_path / "events.geojson"
    r = runner.invoke(main, ["events", "export", str(out)])
    assert r.exit_code == 0, r.output
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["id"] for f in features] == [event["id"]]
    assert "13900001234" not in out.read_text(encoding="utf-8")
    csv = tmp_path / "events.txt"
    assert runner.invoke(main, ["events", "export", "--format", "csv", "--since", "2000-01-01", str(csv)]).exit_code == 0
    assert event["id"] in csv.read_text(encoding="utf-8-sig")


def test_refusals_exit_1_in_chinese(env: tuple[str, Dataset], runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(main, ["--lang", "zh", "events", "assign", "wang", "--grid", "999"])
    assert r.exit_code == 1 and "当前数据中没有网格 '999'" in r.output
    r = runner.invoke(main, ["events", "assign", "wang"])
    assert r.exit_code == 2 and "exactly one" in r.output
    r = runner.invoke(main, ["--lang", "zh", "events", "export", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "不支持的导出格式" in r.output
    r = runner.invoke(main, ["--lang", "zh", "events", "list", "--since", "yesterday"])
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.output and "Traceback" not in r.output
