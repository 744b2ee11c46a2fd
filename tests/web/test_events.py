"""Grid events over HTTP: the anonymous report with captcha and rate limit, retries, scopes, 409s, photos, escaping."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.geo import events as ev
from app.geo import users
from app.web import _events_guard as guard
from tests import helpers

GRID1, GRID2 = "620201001001001", "620201001001002"
IN_GRID1 = (98.284742, 39.77249)
PASSWORD = "Orchid-Harbour-93"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The mini city with accounts: wang works grid 1, li grid 2, roads1 is in 市政局; reports limited to 5 a minute."""
    app = make_app(RATE_LIMIT_REPORT="5 per minute")
    target = helpers.app_db(app)
    for name, role in (("wang", "staff"), ("li", "staff"), ("roads1", "department"), ("water1", "department")):
        users.add_user(target, name, PASSWORD, role, min_length=8)
    ev.assign(target, "wang", "grid", GRID1)
    ev.assign(target, "li", "grid", GRID2)
    ev.assign(target, "roads1", "department", "市政局")
    ev.assign(target, "water1", "department", "水务局")
    return app


def _solve(app: Flask, client: FlaskClient) -> dict[str, str]:
    token = client.get("/api/v1/events/captcha").get_json()["token"]
    with app.test_request_context():
        return {"captcha_token": token, "captcha_answer": str(guard.solve_for_tests(token))}


def _report(app: Flask, client: FlaskClient, key: str = "key-00000001", **kw: Any) -> Any:
    body: dict[str, Any] = {"report_key": key, "category": "roads", "description": "路灯不亮",
                            "lon": IN_GRID1[0], "lat": IN_GRID1[1], **_solve(app, client), **kw}
    return client.post("/api/v1/events", json=body)


def _login(client: FlaskClient, name: str) -> None:
    helpers.logout(client)
    assert helpers.login(client, name, PASSWORD if name not in helpers.PASSWORDS else None).status_code == 302


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_anonymous_report_needs_the_captcha_and_a_retry_gives_the_same_event(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/events/report")
    assert page.status_code == 200 and "上报问题" in page.get_data(as_text=True)
    english = client.get("/events/report?lang=en").get_data(as_text=True)
    assert "Report a problem" in english and "Roads and facilities" in english
    cap = client.get("/api/v1/events/captcha").get_json()
    assert cap["required"] is True and cap["image"].startswith("data:image/png;base64,")
    assert str(guard.solve_for_tests.__name__) and "answer" not in cap  # the answer never leaves the server
    no = client.post("/api/v1/events", json={"report_key": "key-00000009", "category": "roads", "description": "x",
                                             "lon": IN_GRID1[0], "lat": IN_GRID1[1], "captcha_token": cap["token"],
                                             "captcha_answer": "-99"})
    assert no.status_code == 400 and no.get_json()["code"] == "events.captcha"
    zh = client.post("/api/v1/events?lang=zh", json={"report_key": "key-00000009", "category": "roads",
                                                      "description": "x", "lon": 1, "lat": 1})
    assert zh.status_code == 400 and "验证码" in zh.get_json()["error"]
    first = _report(app, client)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["new"] is True and body["status_url"] == f"/events/status/{body['id']}"
    assert "event" not in body and "reporter_phone" not in body["public"]
    again = _report(app, client, description="different text on retry")
    assert again.status_code == 200 and again.get_json()["id"] == body["id"] and again.get_json()["new"] is False
    status = client.get(body["status_url"]).get_data(as_text=True)
    assert body["id"] in status and "路灯不亮" not in status  # the public page never shows the description
    with app.app_context():
        assert ev.list_events(helpers.app_db(app), ev.Who("root", "admin"))["total"] == 1


def test_a_used_captcha_is_refused(app: Flask) -> None:
    client = app.test_client()
    solved = _solve(app, client)
    ok = client.post("/api/v1/events", json={"report_key": "key-0000000a", "category": "roads", "description": "a",
                                             "lon": IN_GRID1[0], "lat": IN_GRID1[1], **solved})
    assert ok.status_code == 201
    reused = client.post("/api/v1/events", json={"report_key": "key-0000000b", "category": "roads",
                                                 "description": "b", "lon": IN_GRID1[0], "lat": IN_GRID1[1], **solved})
    assert reused.status_code == 400 and "used already" in reused.get_json()["error"]


def test_rate_limit_gives_429_json_and_staff_are_not_limited(app: Flask) -> None:
    client = app.test_client()
    codes = [_report(app, client, key=f"key-rate-{i:04d}").status_code for i in range(6)]
    assert codes == [201] * 5 + [429]
    refused = _report(app, client, key="key-rate-9999")
    assert refused.status_code == 429 and refused.get_json()["code"] == "events.rate"
    assert refused.get_json()["retry_after"] >= 1
    _login(client, "wang")
    for i in range(4):  # signed in: no captcha, no report limit
        r = client.post("/api/v1/events", json={"report_key": f"key-staff-{i:04d}", "category": "parking",
                                                 "description": "乱停车", "lon": IN_GRID1[0], "lat": IN_GRID1[1]})
        assert r.status_code == 201 and r.get_json()["event"]["reporter"] == "wang"


def test_form_post_without_script_records_and_redirects(app: Flask) -> None:
    client = app.test_client()
    token = helpers.csrf_token(client)
    data = {"csrf_token": token, "report_key": "key-form-0001", "category": "sanitation", "description": "垃圾满了",
            "lon": str(IN_GRID1[0]), "lat": str(IN_GRID1[1]), **_solve(app, client),
            "photos": (io.BytesIO(_jpeg()), "p.jpg")}
    r = client.post("/events/report", data=data, content_type="multipart/form-data")
    assert r.status_code == 303 and re.search(r"/events/status/E\d{8}-\d{4}\?new=1$", r.headers["Location"])
    assert "上报成功" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_scopes_actions_409_and_escaping(app: Flask) -> None:
    client = app.test_client()
    xss = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    r = client.post("/api/v1/events", data={"report_key": "key-flow-0001", "category": "roads", "description": xss,
                                            "lon": str(IN_GRID1[0]), "lat": str(IN_GRID1[1]), "phone": "13800138000",
                                            "photos": (io.BytesIO(_jpeg()), "a.jpg"), **_solve(app, client)},
                    content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    eid = r.get_json()["id"]
    assert client.get("/api/v1/events").status_code == 401  # anonymous: the public view only
    assert client.get(f"/api/v1/events/{eid}").status_code == 401
    assert client.get(f"/events/{eid}/photos/1").status_code == 302  # to the sign-in page
    public = client.get("/api/v1/events/public").get_json()["events"]
    assert [e["id"] for e in public] == [eid] and "13800138000" not in str(public) and "description" not in public[0]

    _login(client, "li")  # another grid's worker sees nothing of it
    assert client.get("/api/v1/events").get_json()["total"] == 0
    assert client.get(f"/api/v1/events/{eid}").status_code == 404
    assert client.get(f"/events/{eid}/photos/1").status_code == 404

    _login(client, "wang")
    assert [e["id"] for e in client.get("/api/v1/events").get_json()["events"]] == [eid]
    page = client.get(f"/events/{eid}").get_data(as_text=True)
    assert xss not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "13800138000" in page
    assert client.get("/events").status_code == 200 and eid in client.get("/events").get_data(as_text=True)
    photo = client.get(f"/events/{eid}/photos/1")
    assert photo.status_code == 200 and photo.data[:2] == b"\xff\xd8"
    assert photo.headers["Content-Type"] == "image/jpeg"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    assert photo.headers["Content-Disposition"].startswith("inline; filename=")
    assert "private" in photo.headers["Cache-Control"]
    wrong = client.post(f"/api/v1/events/{eid}/actions", json={"action": "verify"})
    assert wrong.status_code == 409
    before = client.get(f"/api/v1/events/{eid}").get_json()
    assert before["status"] == "reported" and len(before["history"]) == 1  # nothing changed
    assert client.post(f"/api/v1/events/{eid}/actions", json={"action": "accept"}).status_code == 200
    token = helpers.csrf_token(client)
    assert client.post(f"/events/{eid}/action", data={"action": "escalate"}).status_code == 400  # no CSRF token
    form = client.post(f"/events/{eid}/action", data={"action": "escalate", "department": "市政局",
                                                      "csrf_token": token})
    assert form.status_code == 303

    _login(client, "water1")  # another department: not sent to it
    assert client.get(f"/api/v1/events/{eid}").status_code == 404
    _login(client, "roads1")
    seen = client.get("/api/v1/events").get_json()["events"]
    assert [e["id"] for e in seen] == [eid]
    detail = client.get(f"/api/v1/events/{eid}").get_json()
    assert detail["actions"] == ["decline", "handle"]
    assert client.post(f"/api/v1/events/{eid}/actions", json={"action": "close"}).status_code == 409
    assert client.post(f"/api/v1/events/{eid}/actions", json={"action": "handle", "note": "已修"}).status_code == 200

    _login(client, "wang")
    assert client.post(f"/api/v1/events/{eid}/actions", json={"action": "verify"}).status_code == 200
    done = client.post(f"/api/v1/events/{eid}/actions", json={"action": "close"}).get_json()
    assert done["status"] == "closed" and [h["action"] for h in done["history"]] == [
        "report", "accept", "escalate", "handle", "verify", "close"]
    helpers.logout(client)
    assert client.get(f"/api/v1/events/public/{eid}").get_json()["status"] == "closed"

    _login(client, "admin")  # admins see everything
    assert client.get("/api/v1/events?status=closed").get_json()["total"] == 1


def test_bad_input_is_4xx_json(app: Flask) -> None:
    client = app.test_client()
    _login(client, "wang")
    for body in ({}, {"report_key": "short"}, {"report_key": "key-bad-0001", "category": "nope"},
                 {"report_key": "key-bad-0002", "category": "roads", "description": "x", "lon": "a", "lat": 1},
                 {"report_key": "key-bad-0003", "category": "roads", "description": "x", "lon": 0, "lat": 0},
                 {"report_key": "key-bad-0004", "category": "roads", "description": "x"}):
        r = client.post("/api/v1/events", json=body)
        assert 400 <= r.status_code < 500 and "error" in r.get_json(), (body, r.status_code)
    assert client.post("/api/v1/events", data="[1]", content_type="application/json").status_code == 400
    assert client.get("/api/v1/events/E20261207-9999").status_code == 404
    assert client.get("/api/v1/events/nonsense").status_code == 404
    assert client.post("/api/v1/events/E20261207-9999/actions", json={"action": "accept"}).status_code == 404
    assert client.get("/api/v1/events?limit=0").status_code == 400
    assert client.get("/api/v1/events?status=bogus").status_code == 400
    assert client.get("/events/E20261207-9999").status_code == 404


def test_openapi_documents_the_events_api(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/events", "/api/v1/events/{event_id}/actions", "/api/v1/events/public",
                 "/api/v1/events/captcha"):
        assert path in doc["paths"]
