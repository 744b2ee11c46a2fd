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


def test_unknown_format(client):
    assert "format" in json_error(client.get("/api/v1/coverage/export.doc?category=bus_stop&radius=500"), 404)


def test_page(client):
    r = client.get("/coverage")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "/api/v1/coverage/map" in html and "export." in html
    assert not any(cdn in html for cdn in ("cdn.", "unpkg.com", "jsdelivr", "cdnjs"))
    assert "公交站" in html
