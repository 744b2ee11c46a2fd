"""Tests for the coverage JSON API, downloads and page."""

from __future__ import annotations

import pytest

from app.geo.schema import PERSONAL_FIELDS
from tests.helpers import json_error


def test_presets(client):
    body = client.get("/api/v1/coverage/presets").get_json()
    keys = {p["key"] for p in body["presets"]}
    assert {"bus_stop", "park", "circle_5min", "circle_10min", "circle_15min"} <= keys
    assert "pdf" in body["formats"] and "grid" in body["levels"]


def test_analyse(client):
    r = client.get("/api/v1/coverage?category=bus_stop&radius=500&level=committee")
    assert r.status_code == 200
    body = r.get_json()
    assert body["parameters"]["target_pct"] == 90.0
    assert body["level"] == "committee" and len(body["rows"]) == 3
    assert 0 <= body["summary"]["residents_pct"] <= 100
    assert body["underserved_count"] == len(body["underserved"])
    for row in body["rows"] + body["underserved"]:
        assert not PERSONAL_FIELDS & set(row)


def test_several_categories_and_walk(client):
    r = client.get("/api/v1/coverage?category=park,fitness&category=parking&radius=300&mode=walk&target=none")
    body = r.get_json()
    assert r.status_code == 200
    assert body["parameters"]["categories"] == ["fitness", "park", "parking"]
    assert body["parameters"]["target_pct"] is None and body["underserved"] == []


def test_map_layers(client):
    body = client.get("/api/v1/coverage/map?category=bus_stop&radius=300").get_json()
    feats = body["units"]["features"]
    assert len(feats) == 10
    assert {"code", "residents_pct", "below_target"} <= set(feats[0]["properties"])
    assert not PERSONAL_FIELDS & set(feats[0]["properties"])
    assert body["service_area"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize("query,message", [
    ("radius=300", "category"),
    ("category=bus_stop", "radius"),
    ("category=zoo&radius=300", "unknown category"),
    ("category=bus_stop&radius=-1", "radius"),
    ("category=bus_stop&radius=abc", "number"),
    ("category=bus_stop&radius=300&mode=fly", "mode"),
    ("category=bus_stop&radius=300&level=street", "level"),
    ("category=bus_stop&radius=300&target=200", "target"),
    ("category=bus_stop&radius=300&limit=x", "limit"),
    ("require=library", "kind:metres"),
    ("require=library:-5", "distance"),
    ("require=zoo:300", "unknown category"),
    ("preset=circle_99min", "preset"),
])
def test_bad_requests(client, query, message):
    assert message in json_error(client.get(f"/api/v1/coverage?{query}"), 400)


@pytest.mark.parametrize("fmt,magic", [("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK"), ("geojson", b"{"),
                                       ("gpkg", b"SQLite format 3"), ("zip", b"PK"), ("pdf", b"%PDF")])
def test_downloads(client, fmt, magic):
    r = client.get(f"/api/v1/coverage/export.{fmt}?category=bus_stop&radius=500&level=grid")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.data.startswith(magic)
    assert "attachment" in r.headers["Content-Disposition"]


def test_the_pdf_of_one_area_and_in_english(client, app):
    import subprocess

    division = str(app.extensions["gridmap.data"].current().layer("divisions")["code"].iloc[0])
    r = client.get(f"/api/v1/coverage/export.pdf?preset=bus_stop&unit=division:{division}&lang=en")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True).stdout.decode()
    assert "Coverage" in text and "覆盖分析报告" not in text
    assert "committee:CODE" in json_error(client.get("/api/v1/coverage/export.pdf?preset=bus_stop&unit=x"), 400)


def test_unknown_format(client):
    assert "format" in json_error(client.get("/api/v1/coverage/export.doc?category=bus_stop&radius=500"), 404)


def test_living_circle_names_what_each_grid_lacks(client):
    body = client.get("/api/v1/coverage?preset=circle_15min").get_json()
    assert body["parameters"]["rule"] == "all"
    assert {r["category"] for r in body["parameters"]["requirements"]} == {"library", "senior_university", "tcm_clinic"}
    assert body["summary"]["residents_uncovered"] > 0 and body["underserved_count"] > 0
    kinds = {k["category"]: k for k in body["kinds"]}
    assert set(kinds) == {"library", "senior_university", "tcm_clinic"}
    assert all(k["distance_m"] == 1000 and k["units_missing"] > 0 for k in kinds.values())
    for g in body["underserved"]:
        assert g["missing"] and set(g["missing"]) <= set(kinds)
        assert {"pct_library", "pct_tcm_clinic"} <= set(g)


def test_requirements_with_their_own_distances(client):
    near = client.get("/api/v1/coverage?require=library:500,tcm_clinic:500&target=90").get_json()
    far = client.get("/api/v1/coverage?require=library:2000&require=tcm_clinic:2000&target=90").get_json()
    assert [r["distance_m"] for r in near["parameters"]["requirements"]] == [500, 500]
    assert far["summary"]["residents_pct"] >= near["summary"]["residents_pct"]
    assert far["underserved_count"] <= near["underserved_count"]
    edited = client.get("/api/v1/coverage?preset=circle_15min&require=library:1500").get_json()
    assert edited["parameters"]["requirements"] == [{"category": "library", "distance_m": 1500}]


def test_map_has_the_analysed_facilities(client):
    body = client.get("/api/v1/coverage/map?category=parking&radius=300").get_json()
    feats = body["facilities"]["features"]
    assert feats and {f["properties"]["category"] for f in feats} == {"parking"}
    assert all(f["geometry"]["type"] == "Point" and isinstance(f["properties"]["capacity"], int) for f in feats)
    assert body["summary"]["spaces_per_100_households"] is not None
    circle = client.get("/api/v1/coverage/map?preset=circle_15min").get_json()
    assert {f["properties"]["category"] for f in circle["facilities"]["features"]} == {
        "library", "senior_university", "tcm_clinic"}
    assert all("missing" in f["properties"] for f in circle["units"]["features"])


@pytest.mark.parametrize("lang,words", [
    ("zh", ["覆盖率", "未覆盖居民（人）", "方案对比", "缺该类网格"]),
    ("en", ["Covered share", "Residents not covered", "Comparison", "Grids lacking it"]),
])
def test_page(client, lang, words):
    r = client.get(f"/coverage?lang={lang}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "/static/vendor/leaflet/leaflet.js" in html and "/static/gridmap/coverage.js" in html
    assert not any(cdn in html for cdn in ("cdn.", "unpkg.com", "jsdelivr", "cdnjs"))
    assert ("公交站" if lang == "zh" else "Bus stop") in html
    for word in words:
        assert word in html
    assert "coverage." not in html.replace("gridmap/coverage.js", "")  # no untranslated key


def test_page_script_calls_the_api(client):
    js = client.get("/static/gridmap/coverage.js").get_data(as_text=True)
    assert "/api/v1/coverage/map?" in js and "/api/v1/coverage/export." in js
