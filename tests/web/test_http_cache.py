"""Static files and big data answers: strong ETags, 304 on If-None-Match, gzip and Brotli compressed once."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import brotli
import pytest
from flask.testing import FlaskClient

from app.geo import operations
from app.web import _http_cache
from tests import helpers


def _strong(etag: str) -> str:
    assert etag and not etag.startswith("W/"), etag
    return etag


def _data_url(client: FlaskClient) -> str:
    version = client.get("/healthz").get_json()["data_version"]
    return f"/map/data/{version}.wgs84.json"


@pytest.mark.parametrize("encoding, decode", [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_map_data_is_compressed_once_with_its_own_strong_etag(client, encoding, decode) -> None:
    url = _data_url(client)
    plain = client.get(url)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    packed = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    assert decode(packed.data) == plain.data and len(packed.data) < len(plain.data) / 2
    assert _strong(packed.headers["ETag"]) != _strong(plain.headers["ETag"])
    before = _http_cache.stats()["entries"]
    again = client.get(url, headers={"Accept-Encoding": encoding})
    assert again.data == packed.data and _http_cache.stats()["entries"] == before  # from the cache
    for tag in (packed.headers["ETag"], plain.headers["ETag"]):
        r = client.get(url, headers={"Accept-Encoding": encoding, "If-None-Match": tag})
        assert r.status_code == 304 and r.data == b"" and r.headers["ETag"] in (tag, packed.headers["ETag"])


def test_static_files_get_etags_304_and_compression(client) -> None:
    static = Path(client.application.static_folder)
    url = "/static/" + max(static.rglob("*.js"), key=lambda p: p.stat().st_size).relative_to(static).as_posix()
    plain = client.get(url)
    assert plain.status_code == 200
    tag = _strong(plain.headers["ETag"])
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    if len(plain.data) >= _http_cache.MIN_BYTES:
        assert packed.headers["Content-Encoding"] == "gzip" and gzip.decompress(packed.data) == plain.data
        assert client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
                          ).status_code == 304


def test_static_files_are_compressed_ahead_and_served_from_their_sidecars(app, tmp_path) -> None:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    script = static / "js" / "big.js"
    script.write_text("var gridmap = 1;\n" * 400)
    (static / "js" / "tiny.js").write_text("var a;\n")
    (static / "font.woff2").write_bytes(b"\0" * 4000)
    assert _http_cache.write_sidecars(static) == 2
    assert sorted(p.name for p in static.rglob("*")) == ["big.js", "big.js.br", "big.js.gz", "font.woff2", "js",
                                                           "tiny.js"]
    assert brotli.decompress((static / "js" / "big.js.br").read_bytes()) == script.read_bytes()
    assert gzip.decompress((static / "js" / "big.js.gz").read_bytes()) == script.read_bytes()
    assert _http_cache.write_sidecars(static) == 0  # current sidecars are left alone

    # a sidecar compressed otherwise than on a request proves it is what is sent
    side = brotli.compress(script.read_bytes(), quality=1)
    (static / "js" / "big.js.br").write_bytes(side)
    stamp = script.stat().st_mtime_ns
    os.utime(static / "js" / "big.js.br", ns=(stamp, stamp))
    app.static_folder = str(static)
    r = app.test_client().get("/static/js/big.js", headers={"Accept-Encoding": "br"})
    assert r.headers["Content-Encoding"] == "br" and r.data == side

    # an edited file no longer matches its sidecar's time: it is compressed on the request
    script.write_text("var gridmap = 2;\n" * 400)
    os.utime(script, ns=(stamp + 10**9, stamp + 10**9))
    r = app.test_client().get("/static/js/big.js", headers={"Accept-Encoding": "br"})
    assert brotli.decompress(r.data) == script.read_bytes()
    assert _http_cache.write_sidecars(static) == 2  # and the next install writes both again


def test_tiles_and_ogc_downloads_carry_strong_etags(client) -> None:
    r = client.get("/ogcapi/collections/grids/items?f=json&limit=50", headers={"Accept-Encoding": "br"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "br"
    assert json.loads(brotli.decompress(r.data))["features"]
    assert client.get("/ogcapi/collections/grids/items?f=json&limit=50",
                      headers={"Accept-Encoding": "br", "If-None-Match": _strong(r.headers["ETag"])}).status_code == 304


def test_html_pages_and_api_answers_are_left_alone(client) -> None:
    r = client.get("/api/v1/locate/point?lon=98.2745&lat=39.7862", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in r.headers


def test_a_new_version_changes_the_etag(tmp_path, cheap_hashes) -> None:
    app = helpers.make_app(tmp_path, STORE_URL=str(tmp_path / "store"))
    client = app.test_client()
    url = _data_url(client)
    first = client.get(url, headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    facilities = json.loads((tmp_path / "geodata" / "facilities.geojson").read_text())
    facilities["features"] = facilities["features"][:-1]
    changed = tmp_path / "facilities.geojson"
    changed.write_text(json.dumps(facilities))
    operations.import_layer(app.extensions["gridmap.workspace"], operations.Actor("test"), "facilities", changed)
    second = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert second.status_code == 200 and second.headers["ETag"] != first
    assert client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": first}).status_code == 200


def test_single_lookup_answers_are_jsonifys_bytes_with_the_same_headers(client) -> None:
    from flask import jsonify

    from app.geo.locate import locate_point, reverse_lookup
    from app.web import dataset

    points = [(98.2745 + i * 3e-4, 39.7862 + i * 2e-4) for i in range(12)] + [(0.0, 0.0), (98.2, 39.0)]
    app = client.application
    for path, core in (("/api/v1/locate/point", locate_point), ("/api/v1/locate/reverse", reverse_lookup)):
        for lon, lat in points:
            r = client.get(path, query_string={"lon": lon, "lat": lat}, headers={"Accept-Encoding": "gzip, br"})
            assert r.status_code == 200
            with app.test_request_context(path, query_string={"lon": lon, "lat": lat}):
                kwargs = {"personal": False} if core is locate_point else {}
                expected = jsonify(core(dataset(), str(lon), str(lat), None, **kwargs)).get_data()
            assert r.get_data() == expected
            assert r.headers["Content-Type"] == "application/json"
            assert r.headers["Vary"] == "Accept-Encoding, Cookie"  # as the gzip and session hooks set it before
            assert "Content-Encoding" not in r.headers and "ETag" not in r.headers


def test_exotic_numbers_fall_back_to_jsonify(app) -> None:
    from flask import jsonify

    from app.web.locate import _json

    odd = {"tiny": 1e-05, "small": 0.0001, "big": 1e16, "text": "0001-2e85c11", "neg": -2.5e-7, "zh": "网格",
           "nested": [{"b": 1, "a": 0.00001}]}
    with app.test_request_context("/"):
        assert _json(odd).get_data() == jsonify(odd).get_data()
        assert _json({"v": "0001-2e85c11"}).get_data() == jsonify({"v": "0001-2e85c11"}).get_data()
