"""Grid events on the maps and in reports over HTTP: public points coarsened and without people, staff scoped, stats."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from app.geo import events as ev
from app.geo import users
from app.geo._events_access import grid_point
from tests import helpers

GRID1, GRID2 = "620201001001001", "620201001001002"
IN_GRID1 = (98.284742, 39.77249)
PASSWORD = "Orchid-Harbour-93"
PHONE = "13912345678"
SECRET = "张三家门口 3 号楼 <script>alert(1)</script>"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The mini city with wang on grid 1, li on grid 2, roads1 in 市政局; four events: one closed, one escalated."""
    app = make_app()
    target = helpers.app_db(app)
    for name, role in (("wang", "staff"), ("li", "staff"), ("roads1", "department")):
        users.add_user(target, name, PASSWORD, role, min_length=8)
    ev.assign(target, "wang", "grid", GRID1)
    ev.assign(target, "li", "grid", GRID2)
    ev.assign(target, "roads1", "department", "市政局")
    with app.test_request_context():
        from app.web import dataset

        ds = dataset()
        p2 = grid_point(ds, GRID2)
        wang, li = ev.Who("wang", "staff"), ev.Who("li", "staff")
        a = ev.report(target, ds, ev.ANONYMOUS, report_key="map-key-0001", category="roads", description=SECRET,
                      x=IN_GRID1[0], y=IN_GRID1[1], phone=PHONE, now=T0)
        b = ev.report(target, ds, ev.ANONYMOUS, report_key="map-key-0002", category="service",
                      description="这里需要一个公交站", x=IN_GRID1[0], y=IN_GRID1[1], now=T0 + timedelta(hours=1))
        ev.report(target, ds, ev.ANONYMOUS, report_key="map-key-0003", category="parking", description="乱停车",
                  x=p2[0], y=p2[1], now=T0 + timedelta(hours=2))
        for step in ("accept", "escalate"):
            ev.transition(target, b["id"], step, wang, department="市政局", ds=ds, now=T0 + timedelta(hours=3))
        for step, who in (("accept", wang), ("handle", wang), ("verify", wang), ("close", wang)):
            ev.transition(target, a["id"], step, who, ds=ds, now=T0 + timedelta(hours=5))
        del li
    app.config["EV_IDS"] = (a["id"], b["id"])
    return app


def _login(client: FlaskClient, name: str) -> None:
    password = helpers.PASSWORDS.get(name, PASSWORD)  # make_app made admin and staff
    assert helpers.login(client, name, password).status_code == 302


def test_public_points_are_the_grids_points_without_people(app: Flask) -> None:
    client = app.test_client()
    res = client.get("/map/events")
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    body = res.get_json()
    assert body["exact"] is False and body["total"] == 3
    text = res.get_data(as_text=True)
    for leak in (PHONE, "张三", "script", "公交站", "reporter", "description", "photo", "address", "handler", "url"):
        assert leak not in text
    with app.test_request_context():
        from app.web import dataset

        snapped = {c: grid_point(dataset(), c) for c in (GRID1, GRID2)}
    for p in body["events"]:
        assert (p["lon"], p["lat"]) == snapped[p["grid_code"]]
        assert (p["lon"], p["lat"]) != IN_GRID1
    requests = client.get("/map/events/requests").get_json()
    assert [p["category"] for p in requests["events"]] == ["service"] and requests["exact"] is False
    assert client.get("/map/events?datum=mars").status_code == 400
    gcj = client.get("/map/events?datum=gcj02").get_json()["events"][0]
    assert (gcj["lon"], gcj["lat"]) != snapped[gcj["grid_code"]]  # shifted to the basemap's datum


def test_staff_points_are_exact_and_scoped(app: Flask) -> None:
    client = app.test_client()
    _login(client, "wang")
    body = client.get("/map/events").get_json()
    assert body["exact"] is True
    assert {p["grid_code"] for p in body["events"]} == {GRID1}
    assert all(abs(p["lon"] - IN_GRID1[0]) < 1e-5 and abs(p["lat"] - IN_GRID1[1]) < 1e-5 for p in body["events"])
    assert all(p["url"].startswith("/events/") for p in body["events"])
    assert PHONE not in client.get("/map/events").get_data(as_text=True)
    helpers.logout(client)
    _login(client, "li")
    assert {p["grid_code"] for p in client.get("/map/events").get_json()["events"]} == {GRID2}
    helpers.logout(client)
    _login(client, "roads1")  # a department sees what was escalated to it
    dept = client.get("/map/events").get_json()["events"]
    assert [p["id"] for p in dept] == [app.config["EV_IDS"][1]]


def test_shares_per_grid_and_committee(app: Flask) -> None:
    client = app.test_client()
    body = client.get("/map/events/shares?level=grid").get_json()
    i = body["codes"].index(GRID1)
    assert body["values"]["total"][i] == 2 and body["values"]["closed_share"][i] == 50.0
    assert body["values"]["mean_hours_to_close"][i] == 5.0
    assert set(body["classes"]) == set(body["values"]) and body["labels"]["open_share"] == "待办比例"
    assert len(body["values"]["open_share"]) == len(body["codes"])
    com = client.get("/map/events/shares?level=committee").get_json()
    assert sum(v for v in com["values"]["total"] if v) == 3
    bad = client.get("/map/events/shares?level=street")
    assert bad.status_code == 400 and bad.get_json()["error"]


def test_statistics_json_xlsx_pdf_and_page(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/v1/events/stats").status_code == 401
    _login(client, "admin")
    rows = client.get("/api/v1/events/stats?by=grid").get_json()["rows"]
    total = rows[-1]
    assert total["code"] == "*" and total["total"] == 3 and total["closed"] == 1
    assert total["on_time_rate"] == 0.0  # accepted after 5 h; roads must be accepted within 4 h
    by_cat = client.get("/api/v1/events/stats?by=category&period=month").get_json()["rows"]
    assert {r["period"] for r in by_cat} == {"2026-11"}
    bad = client.get("/api/v1/events/stats?by=street&lang=zh")
    assert bad.status_code == 400 and bad.get_json()["code"] == "events"
    assert client.get("/api/v1/events/stats?since=yesterday").status_code == 400
    xlsx = client.get("/api/v1/events/stats/report.xlsx?by=committee")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    assert "网格事件统计报告" in ws["A1"].value and ws.freeze_panes == "C4" and ws["C3"].value == "事件数"
    pdf = client.get("/api/v1/events/stats/report.pdf?by=division")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    assert client.get("/api/v1/events/stats/report.docx").status_code == 400
    page = client.get("/events/stats?by=department")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "市政局" in html and 'id="gm-evstats-pdf"' in html
    helpers.logout(client)
    _login(client, "li")  # a grid worker's statistics count only the worker's grid
    assert client.get("/api/v1/events/stats").get_json()["rows"][-1]["total"] == 1


def test_home_and_coverage_pages_load_the_scripts(app: Flask) -> None:
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "gridmap/events-layer.js" in home and "leaflet_heat.min.js" in home and "gm-events-layer-config" in home
    cov = client.get("/coverage").get_data(as_text=True)
    assert "gridmap/requests-overlay.js" in cov
