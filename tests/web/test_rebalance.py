"""The rebalancing API and page over HTTP: staff only, bad input as JSON 4xx, downloads, and the admin re-import."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from app.geo.validate import validate_folder
from tests.conftest import AuthActions
from tests.helpers import csrf_token

BIG = "620201001001"
Q = f"committee={BIG}&households=100-200"


@pytest.fixture
def staff(versioned_app):
    client = versioned_app.test_client()
    assert AuthActions(client).login("staff").status_code == 302
    return client


def test_public_is_asked_to_sign_in(versioned_app):
    client = versioned_app.test_client()
    r = client.get(f"/api/v1/rebalance?{Q}", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.get_json()["status"] == 401
    assert client.get("/rebalance").status_code == 302
    assert "/rebalance" not in client.get("/coverage").get_data(as_text=True)


def test_proposal_json(staff):
    r = staff.get(f"/api/v1/rebalance?{Q}")
    assert r.status_code == 200
    body = r.get_json()
    s = body["summary"]
    assert s["met"] and s["band"] == [100, 200] and s["before"]["grids"] == 4
    assert s["after"]["in_band"] == s["after"]["grids"] >= 2
    assert len(body["map"]["after"]["features"]) == s["after"]["grids"]
    assert all(f["properties"]["in_band"] for f in body["map"]["after"]["features"])
    assert {row["code"] for row in body["rows"]} >= {f["properties"]["code"] for f in body["map"]["before"]["features"]}
    small = staff.get("/api/v1/rebalance?committee=620201102200").get_json()
    assert not small["summary"]["met"]
    reason = small["committees"][0]["reasons"][0]
    assert reason["code"] == "below_floor" and "53" in reason["text"] and "户" in reason["text"]


@pytest.mark.parametrize(("query", "status", "words"), [
    (f"committee={BIG}&households=500-300", 400, "下限不能大于上限"),
    (f"committee={BIG}&households=abc", 400, "300-500"),
    ("committee=999", 404, "999"),
    ("households=300-500", 400, "编码"),
    ("division=nope", 404, "nope"),
])
def test_bad_input(staff, query, status, words):
    r = staff.get(f"/api/v1/rebalance?{query}", headers={"Accept": "application/json", "Accept-Language": "zh-CN"})
    assert r.status_code == status
    body = r.get_json()
    assert body["code"] == "rebalance" and words in body["error"]


def test_downloads(staff):
    r = staff.get(f"/api/v1/rebalance/export.xlsx?{Q}")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    r = staff.get(f"/api/v1/rebalance/export.pdf?{Q}")
    assert r.status_code == 200 and r.data[:5] == b"%PDF-"
    grids = staff.get(f"/api/v1/rebalance/export.geojson?{Q}")
    assert grids.status_code == 200 and b"worker_name" in grids.data  # staff keep the grid staff fields
    assert staff.get(f"/api/v1/rebalance/export.docx?{Q}").status_code == 404


def test_bundle_imports_through_the_admin_upload(versioned_app, staff, tmp_path):
    bundle = staff.get(f"/api/v1/rebalance/export.zip?{Q}")
    assert bundle.status_code == 200
    admin = versioned_app.test_client()
    assert AuthActions(admin).login("admin").status_code == 302
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as zf:
        for layer in ("grids", "addresses", "facilities"):
            r = admin.post("/admin/import", data={"csrf_token": csrf_token(admin), "layer": layer,
                                                  "file": (io.BytesIO(zf.read(f"{layer}.geojson")), f"{layer}.geojson")},
                           headers={"Accept": "application/json"})
            assert r.status_code in (200, 201), r.get_data(as_text=True)[:500]
    store = versioned_app.extensions["gridmap.workspace"].store
    report = validate_folder(_export(store.snapshot(), tmp_path / "current"), expected_grids=None)
    assert report.ok, report.format_text()
    after = staff.get(f"/api/v1/rebalance?{Q}").get_json()["summary"]
    assert after["before"]["in_band"] == after["before"]["grids"]  # the proposal is now the data


def _export(snapshot, folder: Path) -> Path:
    """Write a store snapshot (either backend) as a GeoJSON folder with its metadata, for the validator."""
    folder.mkdir(parents=True)
    for layer in snapshot.layer_names():
        snapshot.read(layer).to_file(folder / f"{layer}.geojson", driver="GeoJSON")
    (folder / "metadata.json").write_text(json.dumps(snapshot.metadata(), ensure_ascii=False), encoding="utf-8")
    return folder


def test_page(staff):
    html = staff.get("/rebalance").get_data(as_text=True)
    assert 'href="/rebalance"' in html and "gm-rb-map" in html and "rebalance.js" in html
    assert f'value="committee:{BIG}"' in html
