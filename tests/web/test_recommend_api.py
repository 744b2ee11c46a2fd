"""Tests for the site recommendation API under /api/v1/coverage/recommend."""

from __future__ import annotations

import io

import pytest

from tests.helpers import json_error


def test_recommend_json(client):
    r = client.post("/api/v1/coverage/recommend",
                    json={"category": "bus_stop", "radius": 300, "add": 2, "spacing": 50})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    body = r.get_json()
    k = body["kinds"][0]
    assert k["category"] == "bus_stop" and k["sites"] == len(body["sites"]) <= 2
    assert sum(s["residents_new"] for s in body["sites"]) == k["newly_covered"]
    assert body["level"] == "committee" and body["rows"]
    assert body["geojson"]["type"] == "FeatureCollection"
    assert body["existing"]["type"] == "FeatureCollection"


def test_recommend_form_with_file(client):
    data = {"category": "park", "radius": "400", "add": "1", "candidates": "file",
            "file": (io.BytesIO(b"name,lon,lat\nA,98.29,39.77\nB,98.30,39.77\n"), "c.csv")}
    r = client.post("/api/v1/coverage/recommend", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.get_json()["parameters"]["candidates_count"] == 2


@pytest.mark.parametrize("fmt, magic", [("geojson", b"{"), ("xlsx", b"PK"), ("pdf", b"%PDF")])
def test_export(client, fmt, magic):
    r = client.post(f"/api/v1/coverage/recommend/export.{fmt}",
                    json={"category": "bus_stop", "radius": 300, "add": 1, "spacing": 50})
    assert r.status_code == 200
    assert r.data.startswith(magic)


@pytest.mark.parametrize("body, word", [
    ({"category": "nope", "radius": 500}, "unknown category"),
    ({"category": "bus_stop", "radius": -1}, "radius must be"),
    ({"category": "bus_stop", "radius": 500, "add": 0}, "add must be"),
    ({"category": "bus_stop", "radius": 500, "add": 10 ** 6}, "add must be"),
    ({"category": "bus_stop", "radius": 500, "candidates": "file"}, "need the file"),
])
def test_bad_input_is_400(client, body, word):
    assert word in json_error(client.post("/api/v1/coverage/recommend", json=body), 400)


def test_chinese_message(client):
    r = client.post("/api/v1/coverage/recommend?lang=zh", json={"category": "nope", "radius": 500},
                    headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 400 and r.get_json()["code"] == "recommend"


def test_empty_candidate_file_is_400(client):
    data = {"category": "park", "radius": "400", "candidates": "file",
            "file": (io.BytesIO(b"lon,lat\n"), "c.csv")}
    r = client.post("/api/v1/coverage/recommend", data=data, content_type="multipart/form-data")
    assert "no points" in json_error(r, 400)


def test_bad_format_is_404(client):
    r = client.post("/api/v1/coverage/recommend/export.txt", json={"category": "bus_stop", "radius": 300})
    assert r.status_code == 404


def test_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/coverage/recommend" in paths


def test_background_job(client):
    import time

    r = client.post("/api/v1/coverage/recommend?async=1", json={"category": "bus_stop", "radius": 300, "add": 1,
                                                                 "spacing": 50})
    assert r.status_code == 202
    job = r.get_json()["job"]
    for _ in range(200):
        body = client.get(f"/api/v1/coverage/recommend/jobs/{job}").get_json()
        if body["done"]:
            break
        assert body["stage"]
        time.sleep(0.05)
    assert body["done"] and body["kinds"][0]["category"] == "bus_stop"
    assert client.get("/api/v1/coverage/recommend/jobs/nope").status_code == 404


def test_background_job_errors(client):
    import time

    r = client.post("/api/v1/coverage/recommend?async=1", json={"category": "nope", "radius": 300})
    assert "unknown category" in json_error(r, 400)  # refused before any job starts
    data = {"category": "park", "radius": "400", "add": "3", "candidates": "file",
            "file": (io.BytesIO(b"lon,lat\n98.29,39.77\n"), "c.csv")}
    r = client.post("/api/v1/coverage/recommend?async=1", data=data, content_type="multipart/form-data")
    job = r.get_json()["job"]
    for _ in range(200):  # the job fails while it runs: the poll answers the error
        r = client.get(f"/api/v1/coverage/recommend/jobs/{job}")
        if r.status_code != 200:
            break
        time.sleep(0.05)
    assert "at most the number of candidate" in json_error(r, 400)
