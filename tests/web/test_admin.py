"""Admin pages over HTTP: import (accepted, dry run, refused corpus), versions, rollback, users, audit."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pytest

from app.geo import audit, users
from app.geo.geojson import dump_geojson
from tests.helpers import CORPUS_LIMITS, LANZHOU, MINI, app_db, csrf_token, hostile_corpus, login, store_state

corpus = hostile_corpus()


@pytest.fixture
def app(make_app):
    """The versioned store with accounts, under the import limits the hostile corpus is built for."""
    return make_app(RATELIMIT_ENABLED=False, MAX_UPLOAD_MB=1, **CORPUS_LIMITS)


@pytest.fixture
def admin(client, auth):
    """A client signed in as admin."""
    assert auth.login("admin").status_code == 302
    return client


def _upload(client, layer: str, data: bytes, name: str, **form):
    return client.post("/admin/import", data={"csrf_token": csrf_token(client), "layer": layer,
                                              "file": (io.BytesIO(data), name), **form},
                       headers={"Accept": "application/json"})


@pytest.mark.both_stores
def test_admin_page_lists_versions(admin):
    html = admin.get("/admin").get_data(as_text=True)
    assert "0001-" in html and 'enctype="multipart/form-data"' in html
    body = admin.get("/api/v1/versions").get_json()
    assert body["writable"] and body["versions"][0]["current"]


@pytest.mark.both_stores
def test_import_switches_the_running_service_and_rollback_restores(app, admin, tmp_path):
    before = admin.get("/healthz").get_json()["data_version"]
    g = gpd.read_file(MINI / "grids.geojson")
    g = g[g["committee_code"] != "620201102200"]  # drop the village grids
    r = _upload(admin, "grids", dump_geojson(g), "grids.geojson")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["version"].startswith("0002-") and len(body["summary"]["grids"]["removed"]) == 2
    assert admin.get("/healthz").get_json()["data_version"] == body["version"]
    layers = {x["name"]: x["count"] for x in admin.get("/api/v1/layers").get_json()["layers"]}
    assert layers["grids"] == 8
    r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1", "confirm": "1"})
    assert r.status_code == 303
    assert admin.get("/healthz").get_json()["data_version"] == before
    assert "已回滚" in admin.get("/admin").get_data(as_text=True)
    actions = [e.action for e in audit.entries(app_db(app))]
    assert actions[:3] == ["rollback", "import", "sign_in"]


def _grids_without_villages(admin) -> str:
    g = gpd.read_file(MINI / "grids.geojson")
    r = _upload(admin, "grids", dump_geojson(g[g["committee_code"] != "620201102200"]), "grids.geojson")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["version"]


@pytest.mark.both_stores
def test_rollback_asks_for_confirmation_and_changes_nothing_until_confirmed(app, admin, tmp_path):
    new = _grids_without_villages(admin)
    index = admin.get("/admin").get_data(as_text=True)
    assert "/admin/rollback?version=0001-" in index  # the button leads to the confirmation step
    page = admin.get("/admin/rollback", query_string={"version": "1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "确认回滚" in html and "0001-" in html and new in html
    assert "网格：新增 2 个" in html  # going back brings the two village grids back
    form = re.search(r'<form method="post" action="/admin/rollback".*?</form>', html, re.S)[0]
    assert 'name="csrf_token"' in form and 'name="confirm" value="1"' in form
    # a browser's post without the confirmation gets the page, a script's a 400 naming the change
    r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1"})
    assert r.status_code == 200 and "确认回滚" in r.get_data(as_text=True)
    r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1"},
                   headers={"Accept": "application/json"})
    body = r.get_json()
    assert r.status_code == 400 and body["code"] == "rollback.confirm" and body["version"].startswith("0001-")
    assert len(body["summary"]["grids"]["added"]) == 2 and "grids: 2 added" in body["summary_text"]
    assert admin.get("/healthz").get_json()["data_version"] == new
    assert "rollback" not in {e.action for e in audit.entries(app_db(app))}
    # the token is still required with the confirmation
    r = admin.post("/admin/rollback", data={"csrf_token": "wrong", "version": "1", "confirm": "1"})
    assert r.status_code == 400 and admin.get("/healthz").get_json()["data_version"] == new
    r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1", "confirm": "1"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 200 and "0001-" in r.get_json()["message"]
    assert admin.get("/healthz").get_json()["data_version"].startswith("0001-")
    # the version served now cannot be rolled back to; an unknown one is named
    assert admin.get("/admin/rollback", query_string={"version": "1"}).status_code == 409
    assert admin.get("/admin/rollback", query_string={"version": "99"},
                     headers={"Accept": "application/json"}).status_code in (404, 409)


def test_admin_pages_speak_chinese_and_english_in_local_time(app, make_app, admin, tmp_path):
    _grids_without_villages(admin)
    admin.post("/admin/users", data={"csrf_token": csrf_token(admin), "name": "li",
                                     "password": "Orchid-Ferry-35", "role": "staff"})
    stamp = re.compile(r">20\d\d-\d\d-\d\d \d\d:\d\d<")
    for lang, words in (("zh", ("设施 (facilities)", "道路 (roads)", "网格：新增 0 个", "导入", "添加用户", "网格 (grids)",
                                "更改角色")),
                        ("en", ("<option value=\"facilities\">facilities</option>", "sub-districts and towns (divisions)", "grids: 0 added", "import", "user added",
                                "Change role"))):
        pages = "".join(admin.get(path, query_string={"lang": lang}).get_data(as_text=True)
                        for path in ("/admin", "/admin/audit", "/admin/users"))
        shown = re.sub(r'datetime="[^"]*"', "", pages)  # the machine-readable stamp of <time> may be ISO
        assert "layer." not in shown and not re.search(r"\d\dT\d\d:\d\d", shown)  # no raw keys, no ISO stamps
        assert len(stamp.findall(pages)) >= 3
        for word in words:
            assert word in pages, (lang, word)
    # times are shown in the TIMEZONE setting's zone
    entry = audit.entries(app_db(app), limit=1)[0]
    shown = audit.format_time(entry.ts, "Asia/Shanghai")
    assert shown in admin.get("/admin/audit").get_data(as_text=True)
    helsinki = make_app(RATELIMIT_ENABLED=False, TIMEZONE="Europe/Helsinki").test_client()
    assert login(helsinki, "admin").status_code == 302
    html = helsinki.get("/admin/audit").get_data(as_text=True)
    assert audit.format_time(entry.ts, "Europe/Helsinki") in html


@pytest.mark.both_stores
def test_dry_run_stores_nothing(app, admin, tmp_path):
    before = store_state(app)
    r = _upload(admin, "grids", (MINI / "grids.geojson").read_bytes(), "g.geojson", dry_run="1")
    assert r.status_code == 200 and r.get_json()["version"] is None
    assert store_state(app) == before


def test_html_report_escapes_hostile_names(app, admin):
    g = gpd.read_file(MINI / "grids.geojson")
    g.loc[0, "name"] = '<script>alert("x")</script>'
    g.loc[1, "code"] = g.loc[0, "code"]
    r = admin.post("/admin/import", data={"csrf_token": csrf_token(admin), "layer": "grids",
                                          "file": (io.BytesIO(dump_geojson(g)), "<b>x</b>.geojson")})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "duplicate_code" in html and "重复编码" in html and "错误" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "<b>x</b>" not in html


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_hostile_upload_is_refused_and_nothing_changes(case, app, admin, tmp_path):
    data = corpus._MAKERS[case.name]()
    before = store_state(app)
    form = {"crs": case.crs} if case.crs else {}
    r = _upload(admin, case.layer, data, case.name, **form)
    assert r.status_code in (400, 413), (case.name, r.status_code)
    body = r.get_json()
    assert body["error"]
    if r.status_code == 400:
        assert case.problem in {f["problem"] for f in body["report"]["findings"] if f["severity"] == "error"}
    assert store_state(app) == before


@pytest.mark.both_stores
def test_user_management(app, admin, tmp_path):
    r = admin.post("/admin/users", data={"csrf_token": csrf_token(admin), "name": "li", "password": "Orchid-Ferry-35",
                                         "role": "staff"})
    assert r.status_code == 303
    assert "li" in admin.get("/admin/users").get_data(as_text=True)
    r = admin.post("/admin/users", data={"csrf_token": csrf_token(admin), "name": "li", "password": "short", "role": "staff"})
    assert r.status_code == 303 and "at least 10" in admin.get("/admin/users").get_data(as_text=True)
    assert admin.post("/admin/users/li/password", data={"csrf_token": csrf_token(admin), "password": "Granite-Pixel-72"}
                      ).status_code == 303
    assert admin.post("/admin/users/admin/remove", data={"csrf_token": csrf_token(admin)},
                      headers={"Accept": "application/json"}).status_code == 400
    assert admin.post("/admin/users/li/remove", data={"csrf_token": csrf_token(admin)}).status_code == 303
    db = app_db(app)
    assert [u.name for u in users.list_users(db)] == ["admin", "staff"]
    assert {"user_add", "user_passwd", "user_remove"} <= {e.action for e in audit.entries(db)}
    assert "user_add" in admin.get("/admin/audit").get_data(as_text=True)


@pytest.mark.skipif(not LANZHOU.exists(), reason="reference data folder absent")
def test_replace_demo_with_real_grids_in_another_crs_locate_and_roll_back(app, admin, tmp_path):
    src = gpd.read_file(LANZHOU)
    com = src.assign(code=[f"620102001{i:03d}" for i in range(1, len(src) + 1)], division_code="620102001")
    r = _upload(admin, "committees", dump_geojson(com), "committees.geojson")
    assert r.status_code == 200, r.get_json()["report"]
    grids = com[["code", "name", "geometry"]].assign(committee_code=com["code"], code=com["code"] + "001")
    path = tmp_path / "grids.gpkg"
    grids.to_crs("EPSG:4542").to_file(path, engine="pyogrio")
    r = _upload(admin, "grids", path.read_bytes(), "grids.gpkg")
    assert r.status_code == 200, r.get_json()["report"]
    chengguan = src[src["name"] == "城关区"].geometry.iloc[0].representative_point()
    hit = admin.get("/api/v1/locate/point", query_string={"lon": chengguan.x, "lat": chengguan.y}).get_json()
    assert hit["status"] == "ok" and hit["grid"]["code"].startswith("620102001")
    assert admin.get("/").status_code == 200
    admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1", "confirm": "1"})
    back = admin.get("/api/v1/locate/point", query_string={"lon": chengguan.x, "lat": chengguan.y}).get_json()
    assert back["status"] == "outside"


@pytest.mark.both_stores
def test_an_identical_reimport_says_no_change(app, admin, tmp_path):
    g = gpd.read_file(MINI / "grids.geojson").iloc[:8]
    first = _upload(admin, "grids", dump_geojson(g), "grids.geojson").get_json()
    before = store_state(app)
    again = _upload(admin, "grids", dump_geojson(g), "grids.geojson")
    body = again.get_json()
    assert again.status_code == 200 and body["unchanged"] and body["version"] == first["version"]
    assert body["message"].startswith("no change: identical to the current version") and body["summary"] is None
    assert store_state(app) == before
    html = admin.post("/admin/import", data={"csrf_token": csrf_token(admin), "layer": "grids",
                                             "file": (io.BytesIO(dump_geojson(g)), "grids.geojson")})
    text = html.get_data(as_text=True)
    assert html.status_code == 200 and "未改动" in text and first["version"] in text  # zh, the default language
    actions = [e.action for e in audit.entries(app_db(app))]
    assert actions[:3] == ["import_unchanged", "import_unchanged", "import"]


def test_uploads_stay_in_the_instance_and_leave_nothing(make_app, admin, tmp_path):
    uploads = tmp_path / "inst" / "tmp" / "uploads"
    gpkg = tmp_path / "g.gpkg"
    gpd.read_file(MINI / "grids.geojson").iloc[:8].to_file(gpkg, engine="pyogrio")
    assert _upload(admin, "grids", gpkg.read_bytes(), "g.gpkg").status_code == 200
    assert _upload(admin, "grids", b"not a zip", "g.zip").status_code == 400
    assert uploads.stat().st_mode & 0o777 == 0o700 and uploads.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in uploads.iterdir()] == [".lock"]
    # what a killed server left goes when the service starts again
    (uploads / "upload-left").mkdir()
    (uploads / "upload-left" / "upload.geojson").write_bytes(b"x" * 1000)
    (uploads / "stray.bin").write_bytes(b"x")
    make_app(RATELIMIT_ENABLED=False)
    assert [p.name for p in uploads.iterdir()] == [".lock"]


def test_a_rollback_without_a_version_is_a_400_that_says_so(app, admin):
    before = admin.get("/healthz").get_json()["data_version"]
    for confirm in ({"confirm": "1"}, {}):
        r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), **confirm},
                       headers={"Accept": "application/json"})
        body = r.get_json()
        assert r.status_code == 400 and body["code"] == "rollback.version", body
        assert "请指定要回滚到的版本" in body["error"] and "?version=" in body["error"]
    page = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "confirm": "1"},
                      headers={"Accept": "text/html"})
    assert page.status_code == 400 and "请指定要回滚到的版本" in page.get_data(as_text=True)
    assert admin.get("/admin/rollback", headers={"Accept": "text/html"}).status_code == 400
    r = admin.post("/admin/rollback?lang=en", data={"csrf_token": csrf_token(admin), "version": " ", "confirm": "1"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 400 and "Name the version to roll back to" in r.get_json()["error"]
    assert admin.get("/healthz").get_json()["data_version"] == before
    # the version may come as a query parameter too
    r = admin.post("/admin/rollback?version=99", data={"csrf_token": csrf_token(admin), "confirm": "1"},
                   headers={"Accept": "application/json"})
    assert r.status_code in (404, 409) and r.get_json()["code"] != "rollback.version"
