"""Admin pages over HTTP: import (accepted, dry run, refused corpus), versions, rollback, users, audit."""

from __future__ import annotations

import io

import geopandas as gpd
import pytest

from app.geo import audit, users
from app.geo.geojson import dump_geojson
from tests.helpers import CORPUS_LIMITS, LANZHOU, MINI, csrf_token, hostile_corpus, tree_digest

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


def test_admin_page_lists_versions(admin):
    html = admin.get("/admin").get_data(as_text=True)
    assert "0001-" in html and 'enctype="multipart/form-data"' in html
    body = admin.get("/api/v1/versions").get_json()
    assert body["writable"] and body["versions"][0]["current"]


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
    r = admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1"})
    assert r.status_code == 303
    assert admin.get("/healthz").get_json()["data_version"] == before
    actions = [e.action for e in audit.entries(users.db_path(tmp_path / "inst"))]
    assert actions[:3] == ["rollback", "import", "sign_in"]


def test_dry_run_stores_nothing(app, admin, tmp_path):
    before = tree_digest(tmp_path / "store")
    r = _upload(admin, "grids", (MINI / "grids.geojson").read_bytes(), "g.geojson", dry_run="1")
    assert r.status_code == 200 and r.get_json()["version"] is None
    assert tree_digest(tmp_path / "store") == before


def test_html_report_escapes_hostile_names(app, admin):
    g = gpd.read_file(MINI / "grids.geojson")
    g.loc[0, "name"] = '<script>alert("x")</script>'
    g.loc[1, "code"] = g.loc[0, "code"]
    r = admin.post("/admin/import", data={"csrf_token": csrf_token(admin), "layer": "grids",
                                          "file": (io.BytesIO(dump_geojson(g)), "<b>x</b>.geojson")})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "duplicate_code" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "<b>x</b>" not in html


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_hostile_upload_is_refused_and_nothing_changes(case, app, admin, tmp_path):
    data = corpus._MAKERS[case.name]()
    before = tree_digest(tmp_path / "store")
    form = {"crs": case.crs} if case.crs else {}
    r = _upload(admin, case.layer, data, case.name, **form)
    assert r.status_code in (400, 413), (case.name, r.status_code)
    body = r.get_json()
    assert body["error"]
    if r.status_code == 400:
        assert case.problem in {f["problem"] for f in body["report"]["findings"] if f["severity"] == "error"}
    assert tree_digest(tmp_path / "store") == before


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
    db = users.db_path(tmp_path / "inst")
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
    admin.post("/admin/rollback", data={"csrf_token": csrf_token(admin), "version": "1"})
    back = admin.get("/api/v1/locate/point", query_string={"lon": chengguan.x, "lat": chengguan.y}).get_json()
    assert back["status"] == "outside"


def test_an_identical_reimport_says_no_change(app, admin, tmp_path):
    g = gpd.read_file(MINI / "grids.geojson").iloc[:8]
    first = _upload(admin, "grids", dump_geojson(g), "grids.geojson").get_json()
    before = tree_digest(tmp_path / "store")
    again = _upload(admin, "grids", dump_geojson(g), "grids.geojson")
    body = again.get_json()
    assert again.status_code == 200 and body["unchanged"] and body["version"] == first["version"]
    assert body["message"].startswith("no change: identical to the current version") and body["summary"] is None
    assert tree_digest(tmp_path / "store") == before
    html = admin.post("/admin/import", data={"csrf_token": csrf_token(admin), "layer": "grids",
                                             "file": (io.BytesIO(dump_geojson(g)), "grids.geojson")})
    text = html.get_data(as_text=True)
    assert html.status_code == 200 and "未改动" in text and first["version"] in text  # zh, the default language
    actions = [e.action for e in audit.entries(users.db_path(tmp_path / "inst"))]
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
