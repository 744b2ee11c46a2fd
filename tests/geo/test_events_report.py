"""Event statistics reports: the table per area/category/period, the XLSX's look, the PDF, map shares, the CLI."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from app import settings
from app.cli import main
from app.geo import events as ev
from app.geo import events_report as rep
from app.geo._events_access import grid_point
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests.helpers import copy_mini

GRID1, GRID2 = "620201001001001", "620201001001002"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ADMIN = ev.Who("boss", "admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset, pd.DataFrame]:
    """The mini city with five events in two grids and two months: two closed (one late), one rejected."""
    root = tmp_path_factory.mktemp("evrep")
    data = copy_mini(root / "geodata")
    ds = Dataset(FolderStore(data))
    target = root / "events.sqlite3"
    worker = ev.Who("wang", "staff")
    ev.assign(target, "wang", "grid", GRID1, ds=ds)
    ev.assign(target, "wang", "grid", GRID2, ds=ds)
    ids = []
    for i, (grid, cat, days) in enumerate(((GRID1, "parking", 0), (GRID1, "roads", 1), (GRID2, "parking", 2),
                                           (GRID2, "service", 35), (GRID1, "safety", 36))):
        x, y = grid_point(ds, grid)
        ids.append(ev.report(target, ds, ev.ANONYMOUS, report_key=f"rep-key-{i:04d}", category=cat,
                             description="问题", x=x, y=y, now=T0 + timedelta(days=days))["id"])
    steps = ("accept", "handle", "verify", "close")
    for n, step in enumerate(steps):  # on time: each step within an hour
        ev.transition(target, ids[0], step, worker, ds=ds, now=T0 + timedelta(hours=n + 1))
    for n, step in enumerate(steps):  # late: accepted after 10 hours (roads: 4)
        ev.transition(target, ids[1], step, worker, ds=ds, now=T0 + timedelta(days=1, hours=10 + n))
    ev.transition(target, ids[2], "reject", worker, reason="duplicate", ds=ds, now=T0 + timedelta(days=2, hours=1))
    frame = ev.frame(target, ADMIN, ds=ds, now=T0 + timedelta(days=40))
    return target, ds, frame


def test_report_table_by_grid_and_period(world: tuple[Path, Dataset, pd.DataFrame]) -> None:
    _, ds, frame = world
    rows = rep.report_table(frame, rep.ReportSpec(by="grid"), ds)
    assert list(rows.columns) == ["code", "name", "period", *rep.METRICS]
    g1 = rows[rows["code"] == GRID1].iloc[0]
    assert (g1["total"], g1["closed"], g1["open"]) == (3, 2, 1)
    assert g1["on_time_rate"] == 0.5 and g1["mean_hours_to_close"] == pytest.approx((4 + 13) / 2)
    assert g1["name"] != GRID1  # the grid's name from the layer
    total = rows.iloc[-1]
    assert total["code"] == "*" and total["name"] == "合计" and total["total"] == 5 and total["rejected"] == 1
    monthly = rep.report_table(frame, rep.ReportSpec(by="category", period="month", lang="en"), ds)
    assert set(monthly["period"]) == {"2026-11", "2026-12"} and "Parking" in set(monthly["name"])
    assert monthly.iloc[-1]["name"] == "Total"
    with pytest.raises(ev.EventError):
        rep.report_table(frame, rep.ReportSpec(by="street"), ds)
    with pytest.raises(ev.EventError):
        rep.report_table(frame, rep.ReportSpec(period="fortnight"), ds)


def test_xlsx_looks_like_the_coverage_workbook(world: tuple[Path, Dataset, pd.DataFrame], tmp_path: Path) -> None:
    _, ds, frame = world
    spec = rep.ReportSpec(by="committee", period="month", since=T0, until=T0 + timedelta(days=60))
    path = rep.write_report(frame, tmp_path / "stats.xlsx", spec, ds)
    wb = load_workbook(path)
    ws = wb.active
    assert ws.title == "事件统计" and wb.sheetnames == ["事件统计", "参数", "说明"]
    assert ws["A1"].value.endswith("网格事件统计报告") and ws["A1"].font.bold
    assert "按月" in ws["A2"].value and "2026-11-02" in ws["A2"].value
    heads = [c.value for c in ws[3]]
    assert heads[:4] == ["编码", "名称", "周期", "事件数"] and "按期率" in heads
    assert ws.freeze_panes == "C4" and ws.auto_filter.ref.startswith("A3:")
    rate = heads.index("按期率") + 1
    assert ws.cell(row=4, column=rate).number_format == "0.0%"
    assert ws.cell(row=4, column=4).number_format == "#,##0"
    assert all(ws.column_dimensions[col].width and ws.column_dimensions[col].width > 4 for col in "ABCD")
    last = ws.max_row
    totals = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == "*"]
    assert [r[2] for r in totals] == ["2026-11", "2026-12"] and sum(r[3] for r in totals) == 5
    assert ws.cell(row=last, column=2).value == "合计" and ws.cell(row=last, column=4).font.bold
    params = dict(wb["参数"].iter_rows(min_row=2, values_only=True))
    assert params["统计单位"] == "社区（村）" and params["时区"] == "Asia/Shanghai"
    text = " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)
    assert "问题" not in text  # descriptions never leave the database in a report


def test_pdf_has_the_font_the_map_and_the_table(world: tuple[Path, Dataset, pd.DataFrame], tmp_path: Path) -> None:
    _, ds, frame = world
    pdf = rep.build_pdf(frame, rep.ReportSpec(by="grid"), ds)
    assert pdf.startswith(b"%PDF") and b"NotoSansCJK" in pdf and b"/Image" in pdf
    if shutil.which("pdftotext"):
        out = tmp_path / "r.pdf"
        out.write_bytes(pdf)
        text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "网格事件统计报告" in text and "合计" in text and "按期率" in text and "各网格待办与超期比例" in text
    with pytest.raises(ev.EventError):
        rep.write_report(frame, tmp_path / "x.docx", rep.ReportSpec(), ds)
    empty = rep.build_pdf(frame.iloc[0:0], rep.ReportSpec(by="department", lang="en"), ds)
    assert empty.startswith(b"%PDF")


def test_map_shares_have_a_value_per_unit_and_classes(world: tuple[Path, Dataset, pd.DataFrame]) -> None:
    _, ds, frame = world
    body = rep.shares_table(frame, ds, "grid")
    assert len(body["codes"]) == len(ds.grids)
    i = body["codes"].index(GRID1)
    assert body["values"]["total"][i] == 3 and body["values"]["closed_share"][i] == pytest.approx(66.7)
    j = body["codes"].index(GRID2)
    assert body["values"]["total"][j] == 1  # the rejected event is not counted on the map
    assert body["classes"]["open_share"]["breaks"] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert len(body["classes"]["open_share"]["colors"]) == 5
    for attr in rep.MAP_ATTRIBUTES:
        assert len(body["classes"][attr]["colors"]) == len(body["classes"][attr]["breaks"]) - 1


def test_cli_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    data = copy_mini(tmp_path / "geodata")
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    for name in ("GRIDMAP_STORE_URL", "GRIDMAP_STORE_DIR", "GRIDMAP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    ds = Dataset(FolderStore(data))
    x, y = grid_point(ds, GRID1)
    ev.report(ev.database(settings.resolve()), ds, ev.ANONYMOUS, report_key="cli-rep-0001", category="parking",
              description="占道", x=x, y=y)
    out = tmp_path / "s.xlsx"
    r = runner.invoke(main, ["--lang", "zh", "events", "report", "--by", "division", str(out)])
    assert r.exit_code == 0, r.output
    assert "1 件事件" in r.output
    assert load_workbook(io.BytesIO(out.read_bytes())).active.max_row == 5  # title, subtitle, header, 1 + total
    pdf = tmp_path / "s.bin"
    assert runner.invoke(main, ["events", "report", "--format", "pdf", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    bad = runner.invoke(main, ["--lang", "zh", "events", "report", str(tmp_path / "s.docx")])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    bad = runner.invoke(main, ["events", "report", "--since", "soon", str(out)])
    assert bad.exit_code == 1
