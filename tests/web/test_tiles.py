"""The tile, grid-record, road-label and search endpoints, and the home map choosing tiles by city size."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import mapbox_vector_tile
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.geo import tiles
from tests import helpers


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)


@pytest.fixture
def tiled_app(data_dir: Path) -> Flask:
    """The mini city above the tile threshold (1 grid)."""
    return helpers.folder_app(data_dir, VECTOR_TILES_MIN_GRIDS=1)


def _grid_tile_url(client: FlaskClient, app: Flask) -> tuple[str, str, str]:
    ds = app.extensions["gridmap.data"].current()
    grid = ds.grids.iloc[0]
    pt = grid.geometry.representative_point()
    z = tiles.zooms(ds)["grids"]
    x, y = _tile_of(pt.x, pt.y, z)
    return f"/tiles/{ds.version}/wgs84/grids/{z}/{x}/{y}.pbf", ds.version, grid["code"]


def test_tile_endpoint_serves_cached_gzip_mvt(app: Flask, client: FlaskClient) -> None:
    url, version, code = _grid_tile_url(client, app)
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.mimetype == "application/vnd.mapbox-vector-tile"
    assert r.headers["Content-Encoding"] == "gzip"
    assert "immutable" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
    doc = mapbox_vector_tile.decode(gzip.decompress(r.data))
    assert code in {f["properties"]["code"] for f in doc["grids"]["features"]}
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers and mapbox_vector_tile.decode(plain.data)["grids"]["features"]
    # an old version's URL gets the current data, never cached
    old = client.get(url.replace(f"/tiles/{version}/", "/tiles/old-version/"))
    assert old.status_code == 200 and "no-cache" in old.headers["Cache-Control"]


@pytest.mark.parametrize(("path", "status"), [
    ("grids/17/0/0.pbf", 400), ("grids/3/8/0.pbf", 400), ("nope/3/0/0.pbf", 404)])
def test_bad_tiles_are_refused_with_json(client: FlaskClient, path: str, status: int) -> None:
    r = client.get(f"/tiles/v/wgs84/{path}")
    assert r.status_code == status
    assert r.get_json()["code"] == "tiles"
    assert client.get("/tiles/v/nad27/grids/3/0/0.pbf").get_json()["code"] == "tiles"
    zh = client.get(f"/tiles/v/wgs84/{path}", headers={"Accept-Language": "zh-CN"}).get_json()
    assert re.search(r"[\u4e00-\u9fff]", zh["error"]) or zh["status"] == status


def test_grid_record_and_road_labels(app: Flask, client: FlaskClient, auth: object) -> None:
    ds = app.extensions["gridmap.data"].current()
    code = ds.grids.iloc[0]["code"]
    rec = client.get(f"/map/grid/{ds.version}/{code}.json").get_json()
    assert rec["code"] == code and rec["personal"] is None
    assert client.get(f"/map/grid/{ds.version}/nope.json").status_code == 404
    labels = client.get(f"/map/roads/{ds.version}.wgs84.json").get_json()
    assert {r[0] for r in labels} == set(ds.layer("roads")["name"])


def test_search_endpoint(client: FlaskClient) -> None:
    r = client.get("/api/v1/search", query_string={"q": "jssq", "limit": 3})
    assert r.status_code == 200
    body = r.get_json()
    assert body["results"][0]["name"] == "建设社区" and body["results"][0]["kind"] == "committee"
    assert all(k in body["results"][0] for k in ("kind_label", "code", "lon", "lat", "bbox", "score"))
    en = client.get("/api/v1/search", query_string={"q": "建设社区", "lang": "en"}).get_json()["results"]
    assert "Committee" in {r["kind_label"] for r in en}
    assert not any(re.search(r"[\u4e00-\u9fff]", r["kind_label"]) for r in en)
    for qs in ({"q": ""}, {}, {"q": "x", "limit": "many"}, {"q": "x", "limit": 0}, {"q": "x", "datum": "bd09"}):
        bad = client.get("/api/v1/search", query_string=qs)
        assert bad.status_code == 400 and bad.is_json, qs
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/search" in paths and "/tiles/{version}/{datum}/{layer}/{z}/{x}/{y}.pbf" in paths


def test_home_map_chooses_tiles_by_size(app: Flask, client: FlaskClient, tiled_app: Flask) -> None:
    small = client.get("/").get_data(as_text=True)
    assert "/map/data/" in small and "Leaflet.VectorGrid" in small and '"tiled":false' in small
    big = tiled_app.test_client()
    html = big.get("/").get_data(as_text=True)
    assert '"tiled":true' in html and "/map/tiled/" in html and "leaflet-search" not in html
    url = re.search(r'rel="preload" href="([^"]+)"', html).group(1)
    payload = big.get(url).get_json()
    assert payload["tiled"] is True and "grids" not in payload and payload["classes"]
    # the standalone export keeps the whole payload: no tiles, no server to ask
    export = big.get("/export/map.html").get_data(as_text=True)
    assert '"live":null' in export and '"topology"' in export


def test_all_tile_carries_every_layer_and_lands_in_the_instance_cache(data_dir: Path, tmp_path: Path) -> None:
    app = helpers.folder_app(data_dir, INSTANCE_DIR=str(tmp_path / "inst"))
    client = app.test_client()
    ds = app.extensions["gridmap.data"].current()
    pt = ds.grids.iloc[0].geometry.representative_point()
    z = tiles.zooms(ds)["grids"] - tiles.ZOOM_OFFSET
    x, y = _tile_of(pt.x, pt.y, z)
    url = f"/tiles/{ds.version}/wgs84/all/{z}/{x}/{y}.pbf"
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    doc = mapbox_vector_tile.decode(gzip.decompress(r.data))
    assert list(doc)[0] == "grids" and {"committees", "divisions", "roads"} <= set(doc)
    assert ds.grids.iloc[0]["code"] in {f["properties"]["code"] for f in doc["grids"]["features"]}
    files = list((tmp_path / "inst" / "cache" / "tiles").rglob(f"all/{z}/{x}/{y}.pbf.gz"))
    assert len(files) == 1
    # a restarted app (another worker) answers the same bytes from the file
    again = helpers.folder_app(data_dir, INSTANCE_DIR=str(tmp_path / "inst")).test_client()
    assert again.get(url).data == gzip.decompress(r.data)
    assert "all" in client.get("/api/v1/openapi.json").get_json()["paths"][
        "/tiles/{version}/{datum}/{layer}/{z}/{x}/{y}.pbf"]["get"]["parameters"][2]["schema"]["enum"]
