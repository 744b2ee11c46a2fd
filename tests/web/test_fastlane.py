"""The point lookup's fast lane answers exactly as Flask does: status, body and every header, request by request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from flask import Flask

from app.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from app.web import _fastlane
from app.web._ratelimit import rate_limits
from tests import helpers

Request = tuple[str, str, dict[str, Any]]  # (method, URL, test-client keywords)


@pytest.fixture
def apps(data_dir: Path) -> tuple[Flask, Flask]:
    """The same city served twice: with the fast lane (the default) and with FAST_LANE off."""
    return helpers.folder_app(data_dir), helpers.folder_app(data_dir, FAST_LANE=False)


def _points(data_dir: Path) -> Iterator[tuple[float, float]]:
    """Points inside grids, on their borders and corners, just outside and far outside the city, rounded as typed."""
    import geopandas as gpd

    grids = gpd.read_file(data_dir / "grids.geojson").to_crs(4326)
    rng = np.random.default_rng(5)
    for geom in grids.geometry.iloc[:12]:
        p = geom.representative_point()
        yield round(p.x, 6), round(p.y, 6)
        ring = np.asarray(shapely.get_exterior_ring(geom if geom.geom_type == "Polygon" else geom.geoms[0]).coords)
        yield float(ring[0][0]), float(ring[0][1])  # a corner: on the border of two or more grids
        mid = (ring[0] + ring[1]) / 2
        yield float(mid[0]), float(mid[1])  # an edge's midpoint
    x0, y0, x1, y1 = grids.total_bounds
    for x, y in zip(rng.uniform(x0 - 0.05, x1 + 0.05, 40), rng.uniform(y0 - 0.05, y1 + 0.05, 40), strict=True):
        yield round(float(x), 5), round(float(y), 5)
    yield 116.4, 39.9  # far outside: Beijing
    yield round(x1 + 0.001, 6), round(y1 + 0.001, 6)  # just outside the corner of the extent


def _requests(data_dir: Path) -> list[Request]:
    """A few hundred point lookups: plain ones (the lane's) and every kind the lane must hand to Flask."""
    pts = list(_points(data_dir))
    metric = pyproj.Transformer.from_crs(4326, "EPSG:4542", always_xy=True)
    url = _fastlane.PATH
    out: list[Request] = []
    for i, (lon, lat) in enumerate(pts):
        out.append(("GET", f"{url}?lon={lon}&lat={lat}", {}))
        out.append(("GET", f"{url}?lat={lat}&lon={lon}&crs=EPSG:4326", {}))
        if i % 3 == 0:
            gx, gy = wgs84_to_gcj02(lon, lat)
            bx, by = wgs84_to_bd09(lon, lat)
            mx, my = metric.transform(lon, lat)
            out += [("GET", f"{url}?lon={gx:.7f}&lat={gy:.7f}&crs=gcj02", {}),
                    ("GET", f"{url}?lon={bx:.7f}&lat={by:.7f}&crs=bd09", {}),
                    ("GET", f"{url}?lon={lon}&lat={lat}&crs=4490", {}),
                    ("GET", f"{url}?lon={mx:.2f}&lat={my:.2f}&crs=EPSG:4542", {})]
    lon, lat = pts[0]
    plain = f"{url}?lon={lon}&lat={lat}"
    bad = ["lon=abc&lat=39.7", "lon=98.3&lat=100", "lon=98.3", "lat=39.7", "", "lon=&lat=", "lon=98.3&lat=39.7&crs=EPSG:0",
           "lon=98.3&lat=39.7&crs=nonsense", "lon=nan&lat=39.7", "lon=inf&lat=39.7", "lon=1e400&lat=39.7",
           "lon=-0&lat=0", f"lon={lon}&lat={lat}&lon=1", f"lon={lon}&&lat={lat}", f"lon={lon}&lat={lat}&",
           f"lon=9.83e1&lat={lat}", f"lon={lon}&lat=0.00001", f"lon={lon}&lat={lat}&crs=", f"lon={lon}&lat",
           f"lon=%2B{lon}&lat={lat}", f"lon=+{lon}&lat={lat}", f"lon={lon}&lat={lat}&display=gcj02",
           f"lon={lon}&lat={lat}&lang=en", f"lon={lon}&lat={lat}&lang=zh", f"x={lon}&y={lat}",
           f"lon={lon}&lat={lat}&crs=EPSG%3A4326", f"lon={lon}&lat={lat}&unknown=1", f"lon={lon};lat={lat}",
           "lon=abc&lat=39.7&lang=en", "lon=98.3&lang=zh"]
    for query in bad:
        out.append(("GET", f"{url}?{query}", {}))
        out.append(("GET", f"{url}?{query}", {"headers": {"Accept-Language": "zh-CN,zh;q=0.9"}}))
    headers: list[dict[str, str]] = [
        {"Accept-Language": "en-US,en;q=0.8"}, {"Accept-Language": "zh-CN"}, {"Sec-Fetch-Site": "same-origin"},
        {"Accept-Encoding": "gzip, br"}, {"If-None-Match": '"x"'}, {"Accept": "text/html"},
        {"Cookie": "gridmap_lang=en"}, {"Cookie": "gridmap_session=garbage"}, {"Authorization": "Basic eDp5"},
        {"Host": "grid.example:8443"}, {"Host": "a..b"}, {"Host": "x" * 70}, {"Host": "[::1]:5000"},
        {"X-Forwarded-Proto": "https"}, {"Content-Type": "application/json"}, {"Origin": "https://evil.example"},
    ]
    for h in headers:
        out.append(("GET", plain, {"headers": h}))
        out.append(("GET", f"{url}?lon=abc&lat=1", {"headers": h}))
    out += [("HEAD", plain, {}), ("POST", url, {"json": {"lon": lon, "lat": lat}}), ("OPTIONS", plain, {}),
            ("GET", plain, {"base_url": "https://localhost"}), ("GET", url + "/", {}), ("GET", url.upper(), {}),
            ("GET", plain, {"data": b"lon=1", "content_type": "text/plain"})]
    return out


def _timeless(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the rate limit's clock readings (its window's end, the seconds to wait) blanked."""
    return [(k, "" if k in ("X-RateLimit-Reset", "Retry-After") else v) for k, v in headers]


def _reset(headers: list[tuple[str, str]]) -> int:
    return int(dict(headers)["X-RateLimit-Reset"])


def _answer(app: Flask, method: str, url: str, kw: dict[str, Any]) -> tuple[str, bytes, list[tuple[str, str]]]:
    """Status, body and headers; not ``Date``, and a cookie's ``Expires`` (now + its Max-Age) left out."""
    r = app.test_client(use_cookies=False).open(url, method=method, **kw)
    return r.status, r.data, [(k, re.sub(r"Expires=[^;]*; ", "", v) if k == "Set-Cookie" else v)
                              for k, v in r.headers.items() if k != "Date"]


def test_lane_answers_as_flask(apps: tuple[Flask, Flask], data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lane, plain = apps
    through_flask = []
    flask_context = lane.request_context
    monkeypatch.setattr(lane, "request_context", lambda environ: through_flask.append(1) or flask_context(environ))
    requests = _requests(data_dir)
    assert len(requests) > 300
    for method, url, kw in requests:
        assert _answer(lane, method, url, kw) == _answer(plain, method, url, kw), (method, url, kw)
    served = len(requests) - len(through_flask)
    assert served > 200  # the plain lookups took the lane...
    assert len(through_flask) > 60  # ...and the odd ones (refusals, cookies, other parameters...) went to Flask


def test_lane_answers_carry_flask_headers(apps: tuple[Flask, Flask], ds: Any) -> None:
    lon, lat = helpers.inside_point(ds.grids, 1)
    status, body, headers = _answer(apps[0], "GET", f"{_fastlane.PATH}?lon={lon}&lat={lat}", {})
    names = [k for k, _ in headers]
    assert status == "200 OK" and b'"status":"ok"' in body
    assert names == ["Content-Type", "Content-Length", "Content-Security-Policy", "X-Content-Type-Options",
                     "X-Frame-Options", "Referrer-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy", "Vary"]


@pytest.mark.parametrize("settings", [{"BASEMAP": "osm"}, {"LANGUAGE": "en"}, {"COOKIE_SECURE": False}])
def test_lane_answers_as_flask_under_other_settings(data_dir: Path, ds: Any, settings: dict[str, Any]) -> None:
    lane, plain = helpers.folder_app(data_dir, **settings), helpers.folder_app(data_dir, FAST_LANE=False, **settings)
    for i in range(3):
        lon, lat = helpers.inside_point(ds.grids, i)
        for url in (f"{_fastlane.PATH}?lon={lon}&lat={lat}", f"{_fastlane.PATH}?lon={lon}&lat=x"):
            assert _answer(lane, "GET", url, {}) == _answer(plain, "GET", url, {})


def test_lane_steps_aside_for_a_rate_limited_view(apps: tuple[Flask, Flask], ds: Any) -> None:
    lon, lat = helpers.inside_point(ds.grids, 0)
    url = f"{_fastlane.PATH}?lon={lon}&lat={lat}"
    for app in apps:  # a rate limit put on the view later: the lane must not bypass it
        view = app.view_functions["locate.api_point"]
        app.view_functions["locate.api_point"] = rate_limits(app).wrap(view, "3 per minute", "locate.api_point")
    answers = [[_answer(app, "GET", url, {}) for _ in range(5)] for app in apps]
    assert [a[0] for a in answers[0]] == ["200 OK"] * 3 + ["429 TOO MANY REQUESTS"] * 2
    for lane, plain in zip(*answers, strict=True):  # each app's window started at its own first request
        assert lane[:2] == plain[:2] and _timeless(lane[2]) == _timeless(plain[2])
        assert abs(_reset(lane[2]) - _reset(plain[2])) <= 1


def test_lane_steps_aside_for_a_hook_added_after_the_factory(apps: tuple[Flask, Flask], ds: Any) -> None:
    for app in apps:
        app.after_request(lambda r: (r.headers.__setitem__("X-Extra", "1"), r)[1])
    lon, lat = helpers.inside_point(ds.grids, 0)
    answers = [_answer(app, "GET", f"{_fastlane.PATH}?lon={lon}&lat={lat}", {}) for app in apps]
    assert answers[0] == answers[1] and ("X-Extra", "1") in answers[0][2]


def test_lane_is_a_setting() -> None:
    # under the request stamp (app.web._activity): the lane, not Flask's bound method
    assert not hasattr(helpers.folder_app(helpers.MINI).wsgi_app.__wrapped__, "__self__")
    off = helpers.folder_app(helpers.MINI, FAST_LANE=False)
    assert off.wsgi_app.__wrapped__.__self__ is off and _fastlane.install(off) is False


def test_params_take_only_plain_documented_values() -> None:
    assert _fastlane.params("lon=98.2&lat=39.7&crs=EPSG:4326") == {"lon": "98.2", "lat": "39.7", "crs": "EPSG:4326"}
    for query in ("lon=98.2&lon=1", "lon=98.2&x=1", "lon=%39", "lon=+1", "lon=", "lon", "", "lon=1&"):
        assert _fastlane.params(query) is None, query


@pytest.mark.store
def test_lane_serves_a_new_version_at_once(tmp_path: Path, cheap_hashes: None) -> None:
    import json

    from app.geo import operations

    app = helpers.make_app(tmp_path, STORE_URL=str(tmp_path / "store"))
    ws = app.extensions["gridmap.workspace"]
    lon, lat = helpers.inside_point(ws.data.current().grids, 0)
    url = f"{_fastlane.PATH}?lon={lon}&lat={lat}"
    client = app.test_client(use_cookies=False)
    first = client.get(url).get_json()["data_version"]
    facilities = json.loads((tmp_path / "geodata" / "facilities.geojson").read_text())
    facilities["features"] = facilities["features"][:-1]
    changed = tmp_path / "facilities.geojson"
    changed.write_text(json.dumps(facilities))
    operations.import_layer(ws, operations.Actor("test"), "facilities", changed)
    second = client.get(url).get_json()["data_version"]
    assert second != first and second == ws.data.current().version
