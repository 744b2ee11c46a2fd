"""Sign-in, sessions that end, lock-outs, password rules, roles on every endpoint, personal data, CSRF and origins."""

from __future__ import annotations

import json
import re

import pytest

from app.geo import audit, users
from app.geo.schema import PERSONAL_FIELDS
from app.web.auth import db_file
from tests.helpers import MIN_PASSWORD, MINI, PASSWORDS, csrf_token, json_error, login, logout


@pytest.fixture
def app(versioned_app):
    """Every test here runs on the versioned store with an admin and a staff account."""
    return versioned_app


# --------------------------------------------------------------------------- sign-in


def test_login_logout_and_audit(app, client, auth):
    r = client.get("/login")
    assert r.status_code == 200 and 'name="csrf_token"' in r.get_data(as_text=True)
    r = auth.login("staff")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/api/v1/me").get_json() == {"role": "staff", "user": "staff"}
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    auth.logout()
    assert client.get("/api/v1/me").get_json()["role"] == "public"
    bad = auth.login("staff", "nope-nope")
    assert bad.status_code == 401 and "staff" not in bad.get_data(as_text=True).split("<main")[1][:0] + "x"
    actions = [e.action for e in audit.entries(db_file(app))]
    assert actions[:3] == ["sign_in_failed", "sign_out", "sign_in"]


def test_secure_cookie_by_default(make_app):
    from app import settings

    assert settings.defaults().COOKIE_SECURE is True
    app = make_app(COOKIE_SECURE=True)
    c = app.test_client()
    r = login(c, "admin")
    assert "Secure" in r.headers["Set-Cookie"]


def test_next_must_stay_on_site(auth):
    assert auth.login("admin", next="//evil.example/x").headers["Location"] == "/"


def test_password_change_ends_sessions(app, client, auth):
    auth.login("staff")
    assert client.get("/api/v1/me").get_json()["role"] == "staff"
    users.set_password(db_file(app), "staff", "Harbor-Violet-93", min_length=MIN_PASSWORD)
    assert client.get("/api/v1/me").get_json()["role"] == "public"
    assert auth.login("staff", "Harbor-Violet-93").status_code == 302


def test_role_change_ends_sessions(app, client, auth):
    auth.login("staff")
    users.set_role(db_file(app), "staff", "admin")
    assert client.get("/api/v1/me").get_json()["role"] == "public"
    auth.login("staff")
    assert client.get("/api/v1/me").get_json()["role"] == "admin"


def test_signing_out_ends_a_replayed_cookie(app, client, auth):
    # the attack: sign out, then send the session cookie saved before; it was still signed in as admin
    auth.login("admin")
    saved = client.get_cookie("gridmap_session").value
    elsewhere = app.test_client()  # the same account signed in on another device
    login(elsewhere, "admin")
    assert elsewhere.get("/api/v1/me").get_json()["role"] == "admin"
    auth.logout()
    replay = app.test_client()
    replay.set_cookie("gridmap_session", saved)
    assert replay.get("/api/v1/me").get_json() == {"role": "public", "user": None}
    assert replay.get("/api/v1/versions").status_code == 401
    assert replay.get("/admin").status_code == 302
    assert elsewhere.get("/api/v1/me").get_json()["role"] == "public"  # every session of the account ends
    assert auth.login("admin").status_code == 302  # signing in again works


def test_forged_session_role_is_ignored(app):
    c = app.test_client()
    with c.session_transaction() as s:
        s["uid"], s["gen"], s["role"] = "admin", -1, "admin"
    assert c.get("/api/v1/me").get_json()["role"] == "public"
    assert c.get("/api/v1/versions").status_code == 401


# --------------------------------------------------------------------------- lock-out


def _locked_app(make_app, **settings):
    return make_app(RATELIMIT_ENABLED=False, LOCKOUT_ATTEMPTS=3, LOCKOUT_SECONDS=60, **settings)


def _alert(response) -> str:
    found = re.search(r'<div class="alert[^"]*" role="alert"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)
    assert found, response.get_data(as_text=True)[:500]
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip()


def test_an_account_locks_after_failures_in_a_row(make_app):
    app = _locked_app(make_app, LANGUAGE="en")
    c = app.test_client()
    assert [login(c, "staff", "wrong-password").status_code for _ in range(2)] == [401, 401]
    r = login(c, "staff", "wrong-password")
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    text = _alert(r)
    assert "Account locked for now" in text and "at most 3" in text and "try again in 60 seconds" in text
    r = login(c, "staff")  # the right password does not open a locked account, and doubles the lock
    assert r.status_code == 429 and r.headers["Retry-After"] == "120" and "2 minutes" in _alert(r)
    assert c.get("/api/v1/me").get_json()["role"] == "public"
    assert login(c, "admin").status_code == 302  # other accounts are not locked
    db = db_file(app)
    locked = audit.entries(db, action="sign_in_locked")
    assert [(e.actor, e.detail["seconds"], e.detail["failures"]) for e in locked] == [("staff", 120, 4),
                                                                                       ("staff", 60, 3)]
    assert [e.detail["failures"] for e in audit.entries(db, action="sign_in_failed")] == [2, 1]


def test_the_lock_message_is_in_chinese_too(make_app):
    c = _locked_app(make_app).test_client()
    for _ in range(2):
        assert "用户名或密码错误" in _alert(login(c, "staff", "wrong-password"))
    text = _alert(login(c, "staff", "wrong-password"))
    assert "账户已暂时锁定" in text and "上限 3 次" in text and "60 秒" in text


def test_an_unknown_name_fails_and_locks_like_a_wrong_password(make_app):
    c = _locked_app(make_app, LANGUAGE="en").test_client()
    known = [login(c, "staff", "wrong-password") for _ in range(4)]
    unknown = [login(c, "nobody", "wrong-password") for _ in range(4)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401, 401, 429, 429]
    assert [_alert(r) for r in known] == [_alert(r) for r in unknown]
    assert [r.headers.get("Retry-After") for r in known] == [r.headers.get("Retry-After") for r in unknown]


def test_a_successful_sign_in_resets_the_count(make_app):
    c = _locked_app(make_app).test_client()
    for _ in range(3):
        assert [login(c, "staff", "wrong-password").status_code for _ in range(2)] == [401, 401]
        assert login(c, "staff").status_code == 302
        logout(c)


def test_a_new_password_from_an_admin_lifts_the_lock(make_app):
    app = _locked_app(make_app)
    c = app.test_client()
    for _ in range(3):
        login(c, "staff", "wrong-password")
    admin = app.test_client()
    login(admin, "admin")
    r = admin.post("/admin/users/staff/password", data={"csrf_token": csrf_token(admin), "password": "Harbor-Violet-93"})
    assert r.status_code == 303
    assert login(c, "staff", "Harbor-Violet-93").status_code == 302


# --------------------------------------------------------------------------- password rules


@pytest.mark.parametrize(("password", "rule"), [
    ("password", "at least 10 characters"),  # the attack: `password` was accepted
    ("password1234", "most common passwords"),
    ("li-Kestrel-Quartz", "must not contain the user name"),
    ("aaaaaaaaaaaa", "too easy to guess"),
])
def test_weak_passwords_are_refused(app, client, auth, password, rule):
    auth.login("admin")
    form = {"csrf_token": auth.csrf(), "name": "li", "password": password, "role": "staff"}
    r = client.post("/admin/users", data=form, headers={"Accept": "application/json"})
    assert rule in json_error(r, 400)
    r = client.post("/admin/users/staff/password", headers={"Accept": "application/json"},
                    data={"csrf_token": auth.csrf(), "password": password.replace("li-", "Staff-")})
    assert rule in json_error(r, 400)
    db = db_file(app)
    assert users.get_user(db, "li") is None and users.verify(db, "staff", PASSWORDS["staff"]) is not None


def test_the_users_page_states_the_password_rule(client, auth):
    auth.login("admin")
    html = client.get("/admin/users?lang=en").get_data(as_text=True)
    assert "at least 10 characters" in html and 'minlength="10"' in html and 'minlength="8"' not in html
    assert "至少 10 个字符" in client.get("/admin/users?lang=zh").get_data(as_text=True)


# --------------------------------------------------------------------------- origins


def test_a_valid_token_from_another_origin_is_refused(app, client, auth):
    # the attack: a valid CSRF token sent with Origin: http://evil.example was accepted
    auth.login("admin")
    form = {"csrf_token": auth.csrf(), "name": "li", "password": "Orchid-Ferry-35", "role": "staff"}
    r = client.post("/admin/users", data=form, headers={"Origin": "http://evil.example"})
    assert "http://evil.example" in json_error(r, 403)
    assert r.get_json()["origin"] == "http://evil.example" and r.get_json()["code"] == "origin"
    r = client.post("/admin/users", data=form, headers={"Referer": "http://evil.example/page?x=1"})
    assert "http://evil.example" in json_error(r, 403)
    r = client.post("/logout", data={"csrf_token": auth.csrf()}, headers={"Origin": "http://evil.example"})
    json_error(r, 403)
    assert client.get("/api/v1/me").get_json()["role"] == "admin"
    db = db_file(app)
    assert users.get_user(db, "li") is None
    r = client.post("/admin/users", data=form, headers={"Origin": "http://localhost"})
    assert r.status_code == 303 and users.get_user(db, "li") is not None


def test_sign_in_from_another_origin_is_refused(app):
    c = app.test_client()
    r = c.post("/login", data={"name": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf_token(c)},
               headers={"Origin": "https://evil.example"})
    json_error(r, 403)
    assert c.get("/api/v1/me").get_json()["role"] == "public"


def test_trusted_origins_are_accepted(make_app, tmp_path):
    app = make_app(RATELIMIT_ENABLED=False, TRUSTED_ORIGINS="https://grid.example.gov.cn, https://ops.example:8443")
    c = app.test_client()
    login(c, "admin")
    for origin, status in (("https://grid.example.gov.cn", 303), ("https://ops.example:8443", 303),
                           ("https://ops.example", 403), ("http://grid.example.gov.cn", 403)):
        r = c.post("/admin/users", headers={"Origin": origin},
                   data={"csrf_token": csrf_token(c), "name": f"u{status}{len(origin)}", "role": "staff",
                         "password": "Orchid-Ferry-35"})
        assert r.status_code == status, origin


# --------------------------------------------------------------------------- CSRF


def test_every_form_post_needs_the_csrf_token(client, auth):
    r = client.post("/login", data={"name": "admin", "password": PASSWORDS["admin"]})
    assert "CSRF" in json_error(r, 400)
    auth.login("admin")
    for path in ("/admin/import", "/admin/rollback", "/admin/users", "/logout"):
        r = client.post(path, data={"csrf_token": "wrong"})
        assert r.status_code == 400, path
    assert client.get("/api/v1/me").get_json()["role"] == "admin"  # logout without token did nothing


def test_rendered_forms_carry_the_token(client, auth):
    auth.login("admin")
    for path in ("/admin", "/admin/users"):
        html = client.get(path).get_data(as_text=True)
        forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S)
        assert forms and all('name="csrf_token"' in f for f in forms), path


# --------------------------------------------------------------------------- rate limits


def test_login_is_rate_limited(make_app):
    app = make_app(RATE_LIMIT_LOGIN="3 per minute")
    c = app.test_client()
    codes = [c.post("/login", data={"name": "x", "password": "yyyyyyyy", "csrf_token": csrf_token(c)}).status_code
             for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert c.get("/login").status_code == 200  # showing the form is not limited


def test_batch_endpoints_are_rate_limited(make_app):
    app = make_app(RATE_LIMIT_BATCH="2 per minute")
    batch = [r.rule for r in app.url_map.iter_rules() if "batch" in r.rule]
    assert batch
    c = app.test_client()
    codes = [c.post(batch[0]).status_code for _ in range(3)]
    assert codes[:2] != [429, 429] and codes[2] == 429
    assert c.post(batch[0]).get_json()["status"] == 429


# --------------------------------------------------------------------------- roles on every endpoint

SAMPLE_ARGS = {"code": "620201001001001", "name": "nobody", "fmt": "csv", "datum": "wgs84",
               "filename": "gridmap/app.css"}


def _urls(app) -> list[tuple[str, str, str, str]]:
    """(method, url, endpoint, required role) for every rule of the app."""
    out = []
    with app.app_context():
        version = app.extensions["gridmap.data"].current().version
    for rule in app.url_map.iter_rules():
        args = {a: SAMPLE_ARGS.get(a, version if a == "version" else "x") for a in rule.arguments}
        url = rule.rule
        for a, v in args.items():
            url = re.sub(rf"<(?:[^:<>]+:)?{a}>", v, url)
        view = app.view_functions[rule.endpoint]
        role = getattr(view, "required_role", "public")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint == "auth.logout":
                continue
            out.append((method, url, rule.endpoint, role))
    return out


def _personal_values() -> set[str]:
    doc = json.loads((MINI / "grids.geojson").read_text(encoding="utf-8"))
    return {str(f["properties"][k]) for f in doc["features"] for k in PERSONAL_FIELDS
            if f["properties"].get(k)}


@pytest.mark.parametrize("role", ["public", "department", "staff", "admin"])
def test_every_endpoint_enforces_its_role(app, client, auth, role):
    if role == "department":  # a department account (issue 15) opens no staff or admin page
        users.add_user(db_file(app), "城管局", "Kestrel-Quartz-27", "department", min_length=MIN_PASSWORD)
        assert auth.login("城管局", "Kestrel-Quartz-27").status_code == 302
        assert client.get("/api/v1/me").get_json() == {"role": "department", "user": "城管局"}
    elif role != "public":
        auth.login(role)
    rank = users.role_rank(role)
    checked = 0
    for method, url, endpoint, needed in _urls(app):
        kwargs = {"data": {"csrf_token": csrf_token(client)}} if method == "POST" else {}
        r = client.open(url, method=method, **kwargs)
        assert r.status_code < 500, (method, url, r.status_code)
        if rank < users.role_rank(needed):
            expect = (401, 302) if role == "public" else (403,)
            assert r.status_code in expect, (method, url, role, r.status_code)
            if r.status_code == 302:
                assert "/login" in r.headers["Location"]
        elif endpoint != "auth.login":  # there 401 means a wrong password
            assert r.status_code not in (401, 403), (method, url, role, r.status_code)
        checked += 1
    assert checked >= 25


def test_no_personal_field_reaches_the_public(app):
    c = app.test_client()
    values = _personal_values()
    assert values
    seen = 0
    for method, url, endpoint, _needed in _urls(app):
        if method != "GET" or endpoint == "static":
            continue
        r = c.get(url)
        body = r.get_data(as_text=True)
        for field in PERSONAL_FIELDS:
            assert f'"{field}"' not in body, (url, field)
        leaked = [v for v in values if v in body]
        assert not leaked, (url, leaked[:3])
        seen += 1
    for q in ({"lon": 98.287, "lat": 39.772}, {"q": "新华路12号"}):
        path = "/api/v1/locate/point" if "lon" in q else "/api/v1/locate/address"
        body = c.get(path, query_string=q).get_data(as_text=True)
        assert not [v for v in values if v in body] and "leader_phone" not in body
    assert seen >= 10


def test_staff_see_contacts_where_the_public_do_not(app):
    pub = app.test_client()
    staff = app.test_client()
    login(staff, "staff")
    q = {"lon": 98.287, "lat": 39.772}
    a = pub.get("/api/v1/locate/point", query_string=q).get_data(as_text=True)
    b = staff.get("/api/v1/locate/point", query_string=q).get_data(as_text=True)
    values = _personal_values()
    assert not [v for v in values if v in a]
    assert [v for v in values if v in b], "staff should see the grid's contacts"


def test_exports_carry_no_personal_data_even_for_staff(app):
    staff = app.test_client()
    login(staff, "staff")
    values = _personal_values()
    for url in ("/export/map.html", "/api/v1/coverage/export.csv?category=bus_stop&radius=500",
                "/api/v1/coverage/export.geojson?category=park&radius=300"):
        r = staff.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True)
        assert not [v for v in values if v in body], url


# --------------------------------------------------------------------------- hardening


def test_security_headers_and_csp(make_app):
    app = make_app(BASEMAP="osm")
    c = app.test_client()
    r = c.get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert "https://tile.openstreetmap.org" in csp and "autonavi" not in csp and "*" not in csp.replace("*.tile", "")
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    home = c.get("/")
    html = home.get_data(as_text=True)
    if "<script>" in html:  # inline scripts are allowed by hash, nothing else
        assert "'sha256-" in home.headers["Content-Security-Policy"]


def test_signed_in_pages_are_not_cached(client, auth):
    auth.login("staff")
    assert "no-store" in client.get("/api/v1/me").headers["Cache-Control"]


def test_no_stack_trace_reaches_a_client(make_app):
    app = make_app(TESTING=False, RATELIMIT_ENABLED=False)

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/boom")
    def boom_page():
        raise RuntimeError("secret internals /etc/passwd")

    c = app.test_client()
    for path in ("/api/v1/boom", "/boom"):
        r = c.get(path)
        body = r.get_data(as_text=True)
        assert r.status_code == 500
        assert "Traceback" not in body and "secret internals" not in body and "RuntimeError" not in body


def test_oversized_upload_is_413(make_app):
    app = make_app(MAX_UPLOAD_MB=1, RATELIMIT_ENABLED=False)
    c = app.test_client()
    login(c, "admin")
    r = c.post("/admin/import", data={"csrf_token": csrf_token(c), "layer": "grids",
                                      "file": (__import__("io").BytesIO(b"x" * (1024 * 1024 + 10)), "g.geojson")},
               headers={"Accept": "application/json"})
    assert r.status_code == 413


# --------------------------------------------------------------------------- accounts in PostgreSQL


def test_accounts_and_audit_live_in_postgresql_with_database_url(make_app, pg_url, tmp_path):
    app = make_app(DATABASE_URL=pg_url, RATELIMIT_ENABLED=False)
    assert db_file(app) == pg_url
    users.add_user(pg_url, "pg-admin", "Meadow-Lantern-58", "admin", min_length=MIN_PASSWORD)
    c = app.test_client()
    assert login(c, "pg-admin", "Meadow-Lantern-58").status_code == 302
    assert c.get("/api/v1/me").get_json() == {"role": "admin", "user": "pg-admin"}
    r = c.post("/admin/users", data={"csrf_token": csrf_token(c), "name": "城管局", "password": "Copper-Tundra-64",
                                     "role": "department"}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert users.get_user(pg_url, "城管局").role == "department"
    entries = audit.entries(pg_url)
    assert [(e.action, e.actor, e.target) for e in entries[:2]] == [("user_add", "pg-admin", "城管局"),
                                                                     ("sign_in", "pg-admin", "")]
    assert "城管局" in c.get("/admin/audit").get_data(as_text=True)
    sqlite = users.db_path(tmp_path / "inst")  # nothing of this reached the instance's SQLite file
    assert users.get_user(sqlite, "pg-admin") is None
    assert not {e.actor for e in audit.entries(sqlite)} & {"pg-admin"}



def test_the_cli_keeps_accounts_in_postgresql_with_database_url(pg_url, tmp_path, monkeypatch, runner, cheap_hashes):
    from app.cli import main
    from tests.helpers import store_settings

    for name, value in {**store_settings(tmp_path), "DATABASE_URL": pg_url}.items():
        monkeypatch.setenv(f"GRIDMAP_{name}", str(value))
    r = runner.invoke(main, ["users", "add", "城管局", "--role", "department", "--password", "Copper-Tundra-64"])
    assert r.exit_code == 0, r.output
    assert users.get_user(pg_url, "城管局").role == "department"
    assert [e.action for e in audit.entries(pg_url)] == ["user_add", "seed"]  # the seeded store audits there too
    r = runner.invoke(main, ["users", "list"])
    assert r.exit_code == 0 and "城管局" in r.output and "department" in r.output
    assert "--role [department|staff|admin]" in runner.invoke(main, ["users", "add", "--help"]).output
    assert "部门 department" in runner.invoke(main, ["users", "add", "--help"]).output
    assert runner.invoke(main, ["settings"]).output.count("GRIDMAP_DATABASE_URL=(set)") == 1
