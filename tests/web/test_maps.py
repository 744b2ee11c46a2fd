"""Map pages, layer payload, export, assets and escaping, through the Flask test client on the mini city."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.geo import mapdata
from app.geo.dataset import Dataset
from app.geo.schema import PERSONAL_FIELDS
from app.web import assets
from tests import helpers

HOSTILE = '<img src=x onerror="window.__xss=1">'

needs_assets = pytest.mark.skipif(bool(assets.missing()), reason="vendor assets not installed (gridmap assets install)")


def _grids(data_dir: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(data_dir / "grids.geojson")


def _data_url(html: str) -> str:
    return re.search(r'rel="preload" href="([^"]+)"', html).group(1)


def _personal_values(data_dir: Path) -> list[str]:
    g = _grids(data_dir)
    return [str(v) for f in PERSONAL_FIELDS if f in g for v in g[f].dropna().tolist() if len(str(v)) >= 2]


# --- core (framework-free) -----------------------------------------------------------------------


def test_simplified_grids_keep_shared_borders(data_dir: Path) -> None:
    simple = mapdata.simplify_coverage(_grids(data_dir).geometry.values)
    # neighbouring simplified grids still touch without overlapping
    assert shapely.coverage_is_valid(simple)


def test_classify_gives_ascending_breaks() -> None:
    breaks = mapdata.classify(np.arange(1000))
    assert breaks[0] == 0 and breaks[-1] == 999
    assert breaks == sorted(breaks)
    assert 3 <= len(breaks) - 1 <= mapdata.N_CLASSES
    assert mapdata.classify([0, 0, 1, 2]) == [0.0, 1.0, 2.0, 2.0]


def test_payload_has_every_grid_and_no_personal_data(ds: Dataset, data_dir: Path) -> None:
    body, etag = mapdata.payload_bytes(ds)
    payload = json.loads(body)
    assert all(len(col) == len(_grids(data_dir)) for col in payload["grids"]["columns"])
    topo = mapdata.decode_topology(payload["grids"]["topology"])
    assert len(mapdata.assemble_rings(topo, np.arange(len(_grids(data_dir))))) == len(_grids(data_dir))
    assert set(payload["classes"]) == set(mapdata.ATTRIBUTES)
    text = body.decode("utf-8")
    for value in _personal_values(data_dir):
        assert value not in text
    assert "personal" not in payload["grids"]
    assert mapdata.payload_bytes(ds)[1] == etag  # cached per data version


def test_gcj02_payload_is_shifted_about_100_m(ds: Dataset) -> None:
    wgs = mapdata.home_payload(ds, "wgs84")
    gcj = mapdata.home_payload(ds, "gcj02")
    (x0, y0), (x1, y1) = ([cols[-2][0], cols[-1][0]] for cols in (wgs["facilities"]["columns"],
                                                               gcj["facilities"]["columns"]))
    lon0, lat0 = wgs["origin"][0] + x0 * 1e-5, wgs["origin"][1] + y0 * 1e-5
    lon1, lat1 = gcj["origin"][0] + x1 * 1e-5, gcj["origin"][1] + y1 * 1e-5
    metres = np.hypot((lon1 - lon0) * 85_000, (lat1 - lat0) * 111_000)
    assert 60 < metres < 160


def test_grid_detail_neighbours_and_nearby_facilities(ds: Dataset, data_dir: Path) -> None:
    code = str(_grids(data_dir)["code"].iloc[0])
    d = mapdata.grid_detail(ds, code)
    assert d is not None and d["record"]["code"] == code
    assert code not in [n["code"] for n in d["neighbours"]]
    assert d["neighbours"], "the first mini grid has neighbours"
    assert all(f["distance_m"] <= mapdata.NEARBY_M + 1e-6 for f in d["facilities"])
    assert not PERSONAL_FIELDS & set(d["record"])
    assert mapdata.grid_detail(ds, "999999999999999") is None


# --- views ---------------------------------------------------------------------------------------


@needs_assets
def test_home_page_is_offline_and_chinese_by_default(client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "地图" in html and "定位" in html and "覆盖分析" in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and not [u for u in urls if re.match(r"^(https?:)?//", u)], "no off-host URLs"
    for u in urls:
        if u.startswith("/static/"):
            assert client.get(u).status_code == 200, u
    assert "cdn." not in html and "cdnjs" not in html and "code.jquery" not in html


def test_language_switch_sets_cookie(client) -> None:
    r = client.get("/?lang=en")
    assert "Map" in r.get_data(as_text=True) and "Coverage" in r.get_data(as_text=True)
    assert "gridmap_lang=en" in r.headers.get("Set-Cookie", "")
    r2 = client.get("/grids/000000000000000")  # the cookie now keeps English
    assert "Not found" in r2.get_data(as_text=True)


def test_payload_is_cached_gzip_and_conditional(client) -> None:
    url = _data_url(client.get("/").get_data(as_text=True))
    plain = client.get(url)
    assert plain.status_code == 200 and plain.headers["Content-Type"].startswith("application/json")
    assert "immutable" in plain.headers["Cache-Control"]
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 2
    again = client.get(url, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_codes_get_a_friendly_404(client) -> None:
    for path in ("/grids/999999999999999", "/grids/not-a-code", "/committees/999999999999"):
        r = client.get(path)
        assert r.status_code == 404
        body = r.get_data(as_text=True)
        assert "未找到" in body and "Traceback" not in body


def test_bad_attribute_is_a_clear_400(client) -> None:
    r = client.get("/?attr=nonsense")
    assert r.status_code == 400 and "nonsense" in r.get_data(as_text=True)


def test_grid_and_committee_pages(client, data_dir: Path) -> None:
    g = _grids(data_dir).iloc[0]
    r = client.get(f"/grids/{g['code']}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert g["code"] in html and "500" in html
    r = client.get(f"/committees/{g['committee_code']}")
    assert r.status_code == 200 and g["code"] in r.get_data(as_text=True)


def test_no_personal_fields_on_public_pages(client, data_dir: Path) -> None:
    g = _grids(data_dir).iloc[0]
    home = client.get("/").get_data(as_text=True)
    pages = [home, client.get(_data_url(home)).get_data(as_text=True),
             client.get(f"/grids/{g['code']}").get_data(as_text=True),
             client.get(f"/committees/{g['committee_code']}").get_data(as_text=True)]
    for value in _personal_values(data_dir):
        for page in pages:
            assert value not in page


def _rename_first(path: Path, name: str) -> dict:
    """Rename the first feature of a GeoJSON layer file in place; return its properties."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["name"] = name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return doc["features"][0]["properties"]


def _inject_hostile_name(data_dir: Path) -> str:
    code = _rename_first(data_dir / "grids.geojson", HOSTILE)["code"]
    _rename_first(data_dir / "facilities.geojson", "<script>window.__xss=2</script>")
    return code


@pytest.mark.geojson_store  # writes the hostile name into the plain folder under the running app
def test_hostile_names_are_escaped_everywhere(client, data_dir: Path) -> None:
    code = _inject_hostile_name(data_dir)
    home = client.get("/").get_data(as_text=True)
    payload = client.get(_data_url(home)).get_data(as_text=True)
    assert "<img" not in payload and "<script" not in payload and "&lt;img src=x" in payload
    page = client.get(f"/grids/{code}").get_data(as_text=True)
    assert "<img src=x" not in page and "<script>window.__xss" not in page
    assert "&lt;img src=x" in page


@needs_assets
def test_export_is_standalone(client) -> None:
    r = client.get("/export/map.html?attr=density")
    assert r.status_code == 200
    assert "attachment" in r.headers["Content-Disposition"]
    html = r.get_data(as_text=True)
    assert "window.GRIDMAP_DATA" in html
    assert not re.findall(r'<script[^>]+src=', html), "every script is inlined"
    assert not re.findall(r'<link[^>]+stylesheet', html), "every stylesheet is inlined"
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # links inside inlined JS are text
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', markup)
    assert '"attr":"density"' in html


def test_assets_cli_list(runner) -> None:
    from app.cli import main

    result = runner.invoke(main, ["assets", "list"])
    assert result.exit_code == 0
    assert "leaflet" in result.output and "BSD-2-Clause" in result.output


def test_hostile_names_never_reach_a_page_as_markup(app, client, data_dir):
    """Leaflet inserts layer names, tooltips and popups as HTML: markup must arrive escaped, even inside JSON."""
    props = _rename_first(data_dir / "grids.geojson", HOSTILE)
    for url in ("/", f"/grids/{props['code']}", f"/committees/{props['committee_code']}", "/locate", "/coverage"):
        html = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in html, url
        assert "\\u003cimg src=x" not in html, url


def test_unknown_url_gets_the_error_page_in_a_browser_and_json_for_scripts(client) -> None:
    r = client.get("/admin/", headers={"Accept": "text/html"})
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert "页面不存在" in body and "gm-notfound" in body and "Traceback" not in body
    r = client.get("/nope", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["status"] == 404


def test_a_free_scheme_code_has_its_page(tmp_path) -> None:
    """Grid and committee pages look a code up whatever its scheme; only absurdly long codes are not."""
    from tests.geo.test_checkup import write_city

    app = helpers.folder_app(write_city(tmp_path / "city"), INSTANCE_DIR=str(tmp_path / "inst"))
    client = app.test_client()
    code = str(app.extensions["gridmap.data"].current().grids["code"].iloc[0])
    assert client.get(f"/grids/{code}").status_code == 200
    assert client.get("/grids/" + "x" * 65).status_code == 404
