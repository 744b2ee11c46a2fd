"""app.web.security on its own: the CSP and its script hashes, CSRF, origin checks, headers, rate limits, cookies."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from flask import Blueprint, Flask, render_template_string, session

from app import settings
from app.web import errors, security
from tests.helpers import csrf_token, json_error

INLINE = b"var answer = 42;"
PAGE = (b"<!doctype html><title>x</title><script>" + INLINE + b"</script>"
        b'<script src="/static/gridmap/map.js"></script><script>' + INLINE + b"</script>")


def _sha256(body: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"


def bare_app(**overrides) -> Flask:
    """A Flask app with only the error handlers and security installed, plus a few routes to probe."""
    config = settings.resolve(overrides, environ={})
    app = Flask(__name__)
    app.config.update(config.as_dict())
    app.config["TESTING"] = True
    app.config["SECRET_KEY"] = "test"
    app.extensions["gridmap.config"] = config
    errors.register(app)
    auth = Blueprint("auth", __name__)

    @auth.route("/login", methods=["GET", "POST"])
    def login():
        return "login"

    app.register_blueprint(auth)

    @app.post("/form")
    def form():
        return "posted"

    @app.post("/api/v1/thing")
    def api_thing():
        return {"ok": True}

    @app.post("/api/v1/admin/thing")
    def api_admin_thing():
        return {"ok": True}

    @app.post("/api/v1/things/batch")
    def things_batch():
        return {"ok": True}

    @app.get("/page")
    def page():
        return PAGE

    @app.get("/nonce")
    def nonce():
        return render_template_string('<script nonce="{{ csp_nonce() }}">x()</script>{{ csrf_field() }}')

    @app.get("/token")
    def token():
        return security.csrf_token()

    @app.get("/signed-in")
    def signed_in():
        session["uid"] = "someone"
        return "yes"

    @app.get("/admin/x")
    def admin_page():
        return "admin"

    @app.get("/data.json")
    def data():
        return {"a": 1}

    security.init_app(app)
    return app


@pytest.fixture
def app() -> Flask:
    return bare_app()


# --------------------------------------------------------------------------- content_security_policy


def _directives(csp: str) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in csp.split("; ")}


def test_policy_without_basemap_is_self_only():
    d = _directives(security.content_security_policy({"BASEMAP": "none"}))
    assert d["default-src"] == "'self'" and d["script-src"] == "'self'"
    assert d["img-src"] == "'self' data: blob:"
    assert d["object-src"] == "'none'" and d["frame-ancestors"] == "'self'" and d["form-action"] == "'self'"
    assert d["connect-src"] == "'self'" and d["base-uri"] == "'self'"


@pytest.mark.parametrize("basemap", ["osm", "tianditu", "amap"])
def test_policy_allows_images_from_the_basemap_hosts_only(basemap):
    hosts = security.TILE_HOSTS[basemap]
    d = _directives(security.content_security_policy({"BASEMAP": basemap}))
    assert d["img-src"] == "'self' data: blob: " + " ".join(hosts)
    others = {h for name, hs in security.TILE_HOSTS.items() if name != basemap for h in hs}
    assert not [h for h in others if h in d["img-src"]]
    assert all(h not in d["script-src"] + d["connect-src"] for h in hosts)


def test_unknown_basemap_loads_no_tiles():
    assert security.tile_hosts({"BASEMAP": "mars"}) == ()
    assert security.tile_hosts({"BASEMAP": "osm"}) == security.TILE_HOSTS["osm"]


def test_script_hashes_and_nonce_go_into_script_src_only():
    csp = security.content_security_policy({"BASEMAP": "none"}, ["'sha256-abc'", "'sha256-def'"], nonce="n0nce")
    d = _directives(csp)
    assert d["script-src"] == "'self' 'sha256-abc' 'sha256-def' 'nonce-n0nce'"
    assert "sha256" not in d["style-src"] and "'unsafe-inline'" not in d["script-src"]


# --------------------------------------------------------------------------- headers


def test_inline_scripts_are_allowed_by_their_hash(client):
    r = client.get("/page")
    script_src = _directives(r.headers["Content-Security-Policy"])["script-src"]
    assert script_src == "'self' " + _sha256(INLINE)  # one hash for two identical blocks; src= scripts none


def test_nonce_used_by_a_page_is_in_its_policy(client):
    r = client.get("/nonce")
    html = r.get_data(as_text=True)
    nonce = html.split('nonce="', 1)[1].split('"', 1)[0]
    assert len(nonce) >= 16
    script_src = _directives(r.headers["Content-Security-Policy"])["script-src"]
    assert f"'nonce-{nonce}'" in script_src and _sha256(b"x()") in script_src
    assert client.get("/nonce").get_data(as_text=True) != html  # a fresh nonce per response


def test_json_responses_get_no_script_hashes(client):
    r = client.get("/data.json")
    assert _directives(r.headers["Content-Security-Policy"])["script-src"] == "'self'"


def test_hardening_headers_on_every_response(client):
    h = client.get("/page").headers
    assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "SAMEORIGIN"
    assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert h["Cross-Origin-Opener-Policy"] == "same-origin" and "camera=()" in h["Permissions-Policy"]
    assert "Strict-Transport-Security" not in h and "no-store" not in h.get("Cache-Control", "")
    assert "Strict-Transport-Security" in client.get("/page", base_url="https://localhost").headers


def test_a_view_may_set_its_own_policy():
    app = bare_app()

    @app.get("/own")
    def own():
        return "x", 200, {"Content-Security-Policy": "default-src 'none'"}

    assert app.test_client().get("/own").headers["Content-Security-Policy"] == "default-src 'none'"


def test_signed_in_and_admin_pages_are_not_cached(client):
    assert client.get("/admin/x").headers["Cache-Control"] == "private, no-store"
    client.get("/signed-in")
    r = client.get("/page")
    assert r.headers["Cache-Control"] == "private, no-store" and "Cookie" in r.headers["Vary"]


# --------------------------------------------------------------------------- CSRF


def test_token_is_made_once_per_session(app, client):
    first = client.get("/token").get_data(as_text=True)
    assert len(first) >= 32 and client.get("/token").get_data(as_text=True) == first
    with client.session_transaction() as s:
        assert s["csrf"] == first
        s["csrf"] = "short"
    assert client.get("/token").get_data(as_text=True) not in ("short", first)
    assert app.test_client().get("/token").get_data(as_text=True) != first


def test_csrf_field_carries_the_session_token(client):
    html = client.get("/nonce").get_data(as_text=True)
    with client.session_transaction() as s:
        token = s["csrf"]
    assert f'<input type="hidden" name="{security.CSRF_FIELD}" value="{token}">' in html


def test_form_post_without_a_token_is_refused(client):
    assert "CSRF" in json_error(client.post("/form"), 400)
    csrf_token(client)
    assert "CSRF" in json_error(client.post("/form", data={"csrf_token": "wrong"}), 400)


def test_form_post_with_the_token_in_the_form_or_header_passes(client):
    token = csrf_token(client)
    assert client.post("/form", data={"csrf_token": token}).get_data(as_text=True) == "posted"
    assert client.post("/form", headers={security.CSRF_HEADER: token}).status_code == 200


def test_token_of_another_session_is_refused(app, client):
    other = app.test_client()
    csrf_token(client)
    assert other.post("/form", data={"csrf_token": csrf_token(client)}).status_code == 400


def test_json_api_needs_no_token_but_admin_api_does(client):
    assert client.post("/api/v1/thing", json={}).status_code == 200
    assert client.post("/api/v1/admin/thing", json={}).status_code == 400
    assert client.post("/api/v1/admin/thing", json={}, headers={security.CSRF_HEADER: csrf_token(client)}
                       ).status_code == 200


def test_safe_methods_are_not_checked(client):
    assert client.get("/login").status_code == 200


# --------------------------------------------------------------------------- origins

EVIL = "http://evil.example"


@pytest.mark.parametrize(("value", "origin"), [
    ("https://Grid.Example", "https://grid.example"),
    ("https://grid.example:443", "https://grid.example"),
    ("http://grid.example:80/any/path?q=1", "http://grid.example"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("https://grid.example:8443/", "https://grid.example:8443"),
    ("http://[::1]:5000/x", "http://[::1]:5000"),
    ("null", None),
    ("file:///etc/passwd", None),
    ("http://grid.example:99999", None),
    ("", None),
])
def test_normalise_origin(value, origin):
    assert security.normalise_origin(value) == origin


def test_trusted_origins_setting():
    assert security.trusted_origins("") == frozenset()
    assert security.trusted_origins(" https://a.example , http://b.example:8080/,") == {
        "https://a.example", "http://b.example:8080"}
    for bad in ("a.example", "https://a.example/path", "ftp://a.example"):
        with pytest.raises(settings.SettingError, match="GRIDMAP_TRUSTED_ORIGINS"):
            security.trusted_origins(bad)
    with pytest.raises(settings.SettingError):
        bare_app(TRUSTED_ORIGINS="a.example")


def _post(client, path="/form", **headers):
    return client.post(path, data={"csrf_token": csrf_token(client)}, headers=headers)


def test_own_origin_passes_and_a_foreign_one_is_refused_despite_the_token(client):
    assert _post(client, Origin="http://localhost").get_data(as_text=True) == "posted"
    assert _post(client, Origin="http://localhost:80").status_code == 200
    r = _post(client, Origin=EVIL)
    message = json_error(r, 403)
    assert EVIL in message and "http://localhost" in message and "GRIDMAP_TRUSTED_ORIGINS" in message
    assert r.get_json()["code"] == "origin" and r.get_json()["origin"] == EVIL
    for other in ("http://localhost:5001", "https://localhost.evil.example", "null"):
        assert _post(client, Origin=other).status_code == 403, other


def test_referer_decides_when_there_is_no_origin(client):
    assert _post(client, Referer="http://localhost/login?next=/admin").status_code == 200
    assert EVIL in json_error(_post(client, Referer=EVIL + "/page"), 403)
    assert _post(client, Origin="http://localhost", Referer=EVIL + "/page").status_code == 200  # Origin wins


def test_without_origin_or_referer_the_token_decides(client):
    assert _post(client).status_code == 200
    assert "CSRF" in json_error(client.post("/form"), 400)
    assert "CSRF" in json_error(client.post("/form", headers={"Origin": "http://localhost"}), 400)


def test_origin_follows_the_host_header(client):
    site = "http://grid.example:8080"
    token = client.get("/token", base_url=site).get_data(as_text=True)  # a session on that host
    for origin, status in ((site, 200), ("http://localhost", 403), ("http://grid.example", 403)):
        r = client.post("/form", data={"csrf_token": token}, headers={"Origin": origin}, base_url=site)
        assert r.status_code == status, origin


def test_https_origin_passes_behind_a_tls_proxy_but_not_the_other_way(client):
    assert _post(client, Origin="https://localhost").status_code == 200  # TLS ended by a proxy in front
    r = client.post("/form", data={"csrf_token": csrf_token(client)}, headers={"Origin": "http://localhost"},
                    base_url="https://localhost")
    assert r.status_code == 403  # a plain-HTTP page may not post to the HTTPS site


def test_trusted_origins_pass():
    c = bare_app(TRUSTED_ORIGINS="https://grid.example.gov.cn,http://10.0.0.5:8080").test_client()
    assert _post(c, Origin="https://grid.example.gov.cn").status_code == 200
    assert _post(c, Origin="http://10.0.0.5:8080").status_code == 200
    assert _post(c, Referer="https://grid.example.gov.cn/admin").status_code == 200
    assert _post(c, Origin="http://10.0.0.5").status_code == 403
    assert _post(c, Origin=EVIL).status_code == 403


def test_json_apis_without_csrf_stay_open_to_any_client(client):
    assert client.post("/api/v1/thing", json={}).status_code == 200  # a script sends no Origin
    assert client.post("/api/v1/thing", json={}, headers={"Origin": EVIL}).status_code == 200
    token = {security.CSRF_HEADER: csrf_token(client)}
    assert client.post("/api/v1/admin/thing", json={}, headers=token).status_code == 200
    r = client.post("/api/v1/admin/thing", json={}, headers={**token, "Origin": EVIL})
    assert EVIL in json_error(r, 403)


def test_reading_is_not_origin_checked(client):
    assert client.get("/page", headers={"Origin": EVIL, "Referer": EVIL}).status_code == 200


# --------------------------------------------------------------------------- rate limits


def test_limit_endpoints_wraps_login_and_batch_endpoints():
    app = Flask(__name__)
    app.config.update(settings.defaults().as_dict())
    app.extensions["gridmap.config"] = settings.defaults()
    auth = Blueprint("auth", __name__)
    auth.add_url_rule("/login", "login", lambda: "x", methods=["GET", "POST"])
    app.register_blueprint(auth)
    app.add_url_rule("/api/v1/locate/batch", "locate_batch", lambda: "x", methods=["POST"])
    app.add_url_rule("/api/v1/locate/point", "locate_point", lambda: "x")
    assert sorted(security.limit_endpoints(app)) == ["auth.login", "locate_batch"]


def test_batch_endpoints_are_limited_per_client():
    app = bare_app(RATE_LIMIT_BATCH="2 per minute")
    c = app.test_client()
    codes = [c.post("/api/v1/things/batch").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert c.post("/api/v1/things/batch").get_json()["status"] == 429
    assert c.post("/api/v1/thing").status_code == 200  # other endpoints are not limited
    other = app.test_client()
    assert other.post("/api/v1/things/batch", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_only_posting_to_login_is_limited():
    c = bare_app(RATE_LIMIT_LOGIN="2 per minute").test_client()
    token = csrf_token(c)
    codes = [c.post("/login", data={"csrf_token": token}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert c.get("/login").status_code == 200


def test_limits_can_be_switched_off():
    c = bare_app(RATE_LIMIT_BATCH="1 per minute", RATELIMIT_ENABLED=False).test_client()
    assert [c.post("/api/v1/things/batch").status_code for _ in range(3)] == [200, 200, 200]


# --------------------------------------------------------------------------- cookies


def test_cookie_settings_by_default(app, client):
    cfg = app.config
    assert cfg["SESSION_COOKIE_NAME"] == "gridmap_session" and cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax" and cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
    cookie = client.get("/token", base_url="https://localhost").headers["Set-Cookie"]
    assert cookie.startswith("gridmap_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_cookie_settings_follow_the_settings():
    app = bare_app(COOKIE_SECURE=False, SESSION_HOURS=2)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=2)
    assert "Secure" not in app.test_client().get("/token").headers["Set-Cookie"]


def test_templates_get_the_helpers(app):
    assert {"csrf_token", "csrf_field", "csp_nonce"} <= set(app.jinja_env.globals)
