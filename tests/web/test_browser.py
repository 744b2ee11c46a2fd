"""The real server (`gridmap serve`) driven by headless Debian Chromium through Playwright."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.web.browsing import ARTIFACTS, CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__xss=1">'

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def hostile_code(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the demo city whose first grid is named with markup."""
    data = tmp_path_factory.mktemp("demo") / "geodata"
    shutil.copytree(helpers.DEMO, data)
    path = data / "grids.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["name"] = HOSTILE
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return data, str(doc["features"][0]["properties"]["code"])


@pytest.fixture(scope="module")
def server(hostile_code: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` on a free port over the copy, with the offline basemap."""
    data, _ = hostile_code
    with helpers.Server(tmp_path_factory.mktemp("instance"), data, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    yield p
    p.close()


def test_home_loads_offline_and_draws_every_grid(page: _Page) -> None:
    page.open_map("/")
    n_paths = page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane path').length")
    n_layers = page.page.evaluate("window.gridmap.gridLayers.length")
    timings = page.page.evaluate("window.gridmap.timings")
    nav = page.page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
    page.page.wait_for_timeout(300)
    page.shot("home.png")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps(
        {"first_grids_drawn_ms": timings.get("gridsDrawnMs"), "data_ms": timings.get("dataMs"),
         "ready_ms": timings.get("readyMs"), "dom_content_loaded_ms": nav.get("domContentLoadedEventEnd"),
         "requests": len(page.requests)}, indent=2))
    print(f"first grid polygons drawn at {timings.get('gridsDrawnMs'):.0f} ms; ready at {timings.get('readyMs'):.0f} ms")
    assert n_layers == 613
    assert n_paths == 613
    assert page.errors == []
    assert page.off_host() == []
    assert page.page.evaluate("window.__xss") is None


def test_clicking_a_grid_opens_its_popup(page: _Page) -> None:
    page.open_map("/")
    page.page.evaluate("window.gridmap.map.setZoom(15)")
    page.page.wait_for_timeout(400)
    target = page.page.evaluate("""() => {
        const found = [];
        for (const el of document.querySelectorAll('.leaflet-grids-pane path[data-code]')) {
            const r = el.getBoundingClientRect();
            if (r.width < 30 || r.height < 30) continue;
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            if (x < 80 || y < 120 || x > 1100 || y > 800) continue;
            if (document.elementFromPoint(x, y) === el) found.push({code: el.getAttribute('data-code'), x, y});
        }
        found.sort((a, b) => Math.hypot(a.x - 700, a.y - 560) - Math.hypot(b.x - 700, b.y - 560));
        return found[0] || null;
    }""")
    assert target, "no clickable grid in view"
    page.page.mouse.click(target["x"], target["y"])
    popup = page.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    text = popup.inner_text()
    page.page.wait_for_timeout(700)  # let the popup fade in and the map pan
    page.shot("home-popup.png")
    assert target["code"] in text
    assert "人口" in text and "网格长" in text
    assert page.errors == []


def test_language_switch(page: _Page) -> None:
    page.open_map("/")
    page.page.click("a[data-lang=en]")
    page.page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=15000)
    nav = page.page.inner_text("nav")
    assert "Map" in nav and "Locate" in nav and "Coverage" in nav
    assert "Legend" in page.page.inner_text(".gm-legend")
    page.open_map("/")  # the cookie keeps English
    assert "Coverage" in page.page.inner_text("nav")
    page.shot("home-en.png")
    page.page.click("a[data-lang=zh]")
    page.page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=15000)
    assert "覆盖分析" in page.page.inner_text("nav")
    assert page.errors == []


def test_hostile_grid_name_does_not_execute(page: _Page, hostile_code: tuple[Path, str]) -> None:
    _, code = hostile_code
    page.open_map("/")
    page.page.evaluate("""(code) => {
        const layer = window.gridmap.gridLayers.find(l => l.gridCode === code);
        window.gridmap.map.fitBounds(layer.getBounds());
        layer.openTooltip(layer.getBounds().getCenter());
        layer.openPopup(layer.getBounds().getCenter());
    }""", code)
    popup = page.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    page.page.wait_for_timeout(300)
    assert "<img src=x" in popup.inner_text()  # shown as text
    assert page.page.evaluate("window.__xss") is None
    assert page.page.evaluate("document.querySelectorAll('.leaflet-popup-content img').length") == 0
    page.page.goto(f"{page.base}/grids/{code}")
    page.page.wait_for_timeout(500)
    assert page.page.evaluate("window.__xss") is None
    assert "<img src=x" in page.page.inner_text("h1")


def test_grid_and_committee_pages_render(page: _Page, hostile_code: tuple[Path, str]) -> None:
    data, _ = hostile_code
    grids = json.loads((data / "grids.geojson").read_text(encoding="utf-8"))["features"]
    props = grids[300]["properties"]
    page.page.goto(f"{page.base}/grids/{props['code']}")
    page.page.wait_for_selector(".gm-detail-map .leaflet-interactive", state="attached", timeout=10000)
    page.page.wait_for_timeout(800)  # let fitBounds' zoom animation finish before the screenshot
    page.shot("grid.png")
    page.page.goto(f"{page.base}/committees/{props['committee_code']}")
    page.page.wait_for_selector(".gm-detail-map .leaflet-interactive", state="attached", timeout=10000)
    page.page.wait_for_timeout(800)
    page.shot("committee.png")
    page.page.goto(f"{page.base}/grids/999999999999999")
    assert "404" in page.page.inner_text("main")
    page.shot("not-found.png")
    assert [e for e in page.errors if "404" not in e] == []
    assert page.off_host() == []


def test_export_works_from_a_file_with_no_network(page: _Page, tmp_path: Path) -> None:
    with urllib.request.urlopen(page.base + "/export/map.html") as resp:
        html = resp.read()
    out = tmp_path / "map.html"
    out.write_bytes(html)
    page.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=15000)
    assert page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane path').length") == 613
    page.shot("export.png")
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []
    assert page.errors == []


# --- locate and coverage pages -----------------------------------------------------------------------


def _open_locate(p: _Page) -> None:
    p.page.goto(p.base + "/locate")
    p.until("document.querySelectorAll('.leaflet-overlay-pane path').length >= 613")


def test_locate_page_finds_an_address_and_a_clicked_point(page: _Page, hostile_code: tuple[Path, str]) -> None:
    data, _ = hostile_code
    addresses = json.loads((data / "addresses.geojson").read_text(encoding="utf-8"))["features"]
    target = addresses[700]["properties"]
    _open_locate(page)
    # the way residents say it: province and city prefix, 栋 for 号楼, a unit and room
    page.page.fill("#gm-q", "甘肃省嘉峪关市" + target["address"].replace("号楼", "栋") + "2单元301室")
    page.page.click("#gm-locate-submit")
    page.page.wait_for_selector("#gm-result:not(.d-none) dl", timeout=10000)
    assert target["grid_code"] in page.page.inner_text("#gm-result")
    page.shot("locate-address.png")
    # click the middle of the map: the answer names a grid (or the nearest one) and marks the point
    box = page.page.locator("#gm-locate-map").bounding_box()
    page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.until("document.querySelector('#gm-result').innerText.includes('WGS84')")
    assert page.page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length") >= 614
    page.page.fill("#gm-q", "abc, 39.7")  # not a coordinate pair: searched as an address, not found
    page.page.click("#gm-locate-submit")
    page.page.wait_for_timeout(500)
    page.page.fill("#gm-q", "98.3, 95")  # out of range: the error is shown, nothing breaks
    page.page.click("#gm-locate-submit")
    page.page.wait_for_selector("#gm-result .alert-danger", timeout=10000)
    assert "坐标超出范围" in page.page.inner_text("#gm-result")  # the zh page words the refusal in Chinese
    assert [e for e in page.errors if "400" not in e] == []
    assert page.off_host() == []


def test_locate_page_shows_hostile_names_as_text(page: _Page, hostile_code: tuple[Path, str]) -> None:
    data, code = hostile_code
    addresses = json.loads((data / "addresses.geojson").read_text(encoding="utf-8"))["features"]
    target = next(a["properties"] for a in addresses if a["properties"]["grid_code"] == code)
    _open_locate(page)
    page.page.fill("#gm-q", target["address"])
    page.page.click("#gm-locate-submit")
    page.page.wait_for_selector("#gm-result:not(.d-none) dl", timeout=10000)
    assert "<img src=x" in page.page.inner_text("#gm-result")
    assert page.page.evaluate("window.__xss") is None
    assert page.page.evaluate("document.querySelectorAll('#gm-result img').length") == 0


def test_coverage_page_runs_an_analysis(page: _Page) -> None:
    page.page.goto(page.base + "/coverage")
    page.page.click("#gm-cov-run")
    page.page.wait_for_selector("#gm-cov-summary:not(.d-none)", timeout=30000)
    page.page.wait_for_timeout(500)
    assert "%" in page.page.inner_text("#kpi-res")
    page.shot("coverage.png")
    assert page.page.evaluate("document.querySelectorAll('#gm-cov-under tr').length") > 0
    assert page.page.evaluate("!!document.querySelector('#gm-cov-map canvas, #gm-cov-map svg')")
    assert page.page.evaluate("document.querySelectorAll('#gm-cov-downloads a').length") >= 6
    assert page.errors == []
    assert page.off_host() == []


def test_search_control_finds_a_grid_by_name(page: _Page, hostile_code: tuple[Path, str]) -> None:
    data, _ = hostile_code
    grid = json.loads((data / "grids.geojson").read_text(encoding="utf-8"))["features"][40]["properties"]
    page.open_map("/")
    page.page.fill(".gm-search-input", grid["name"])
    page.page.wait_for_selector(".gm-search-item", timeout=10000)
    page.page.keyboard.press("Enter")
    popup = page.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert grid["code"] in popup.inner_text()
    assert page.errors == []
