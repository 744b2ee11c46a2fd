"""app.web._ratelimit: limits counted inside the limited views only, with the same 429s and headers as before."""

from __future__ import annotations

from flask import Flask

from app import settings
from app.web import errors, security


def _app(**overrides) -> Flask:
    config = settings.resolve(overrides, environ={})
    app = Flask(__name__)
    app.config.update(config.as_dict())
    app.config.update(TESTING=True, SECRET_KEY="test")
    app.extensions["gridmap.config"] = config
    errors.register(app)
    app.add_url_rule("/api/v1/x/batch", "x_batch", lambda: {"ok": True}, methods=["GET", "POST"])
    app.add_url_rule("/api/v1/x", "x", lambda: {"ok": True})
    security.init_app(app)
    return app


def test_limited_answers_carry_the_limit_and_the_refusal_says_when_to_retry():
    c = _app(RATE_LIMIT_BATCH="2 per minute;5 per hour").test_client()
    first = c.get("/api/v1/x/batch")
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    assert c.get("/api/v1/x/batch").headers["X-RateLimit-Remaining"] == "0"
    refused = c.get("/api/v1/x/batch", headers={"Accept": "application/json"})
    assert refused.status_code == 429
    assert refused.get_json()["status"] == 429 and refused.get_json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    zh = c.get("/api/v1/x/batch", headers={"Accept": "application/json", "Accept-Language": "zh-CN"})
    assert zh.status_code == 429 and zh.get_json()["error"] == "请求过于频繁，请稍后再试。"


def test_the_smallest_window_refuses_first_and_every_limit_counts():
    app = _app(RATE_LIMIT_BATCH="3 per hour;1 per minute")
    c = app.test_client()
    assert [c.post("/api/v1/x/batch").status_code for _ in range(2)] == [200, 429]
    assert c.post("/api/v1/x/batch").headers["X-RateLimit-Limit"] == "1"


def test_clients_are_counted_apart_and_methods_filter():
    app = _app(RATE_LIMIT_BATCH="1 per minute", RATE_LIMIT_LOGIN="1 per minute")
    c = app.test_client()
    assert [c.get("/api/v1/x/batch").status_code for _ in range(2)] == [200, 429]
    assert c.get("/api/v1/x/batch", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_unlimited_requests_run_no_limiter_hook():
    app = _app()
    hooks = [*app.before_request_funcs.get(None, ()), *app.after_request_funcs.get(None, ()),
             *app.teardown_request_funcs.get(None, ())]
    assert not any("limit" in repr(h).lower() for h in hooks)
    r = app.test_client().get("/api/v1/x")
    assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers


def test_switched_off_counts_nothing():
    c = _app(RATE_LIMIT_BATCH="1 per minute", RATELIMIT_ENABLED=False).test_client()
    assert {c.get("/api/v1/x/batch").status_code for _ in range(3)} == {200}
