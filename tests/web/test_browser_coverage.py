"""The coverage page in headless Chromium over the real server: verdicts, markers, selection and the A/B comparison."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.web.browsing import CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1366, "height": 850}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` on a free port over the demo city."""
    with helpers.Server(tmp_path_factory.mktemp("instance"), helpers.DEMO, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    p.page.set_viewport_size(DESKTOP)
    yield p
    p.close()


def _runs(page: _Page) -> int:
    return int(page.page.evaluate("Number(document.body.getAttribute('data-coverage-runs') || 0)"))


def _open(page: _Page) -> None:
    page.page.goto(page.base + "/coverage")
    page.until("Number(document.body.getAttribute('data-coverage-runs') || 0) >= 1", timeout=60)


def _run(page: _Page) -> None:
    before = _runs(page)
    page.page.click("#gm-cov-run")
    page.until(f"Number(document.body.getAttribute('data-coverage-runs') || 0) > {before}", timeout=60)
    page.page.wait_for_timeout(300)


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("m", "").strip() or "nan")


def _preset(page: _Page, key: str) -> None:
    before = _runs(page)
    page.page.select_option("#gm-cov-preset", key)
    page.until(f"Number(document.body.getAttribute('data-coverage-runs') || 0) > {before}", timeout=90)
    page.page.wait_for_timeout(300)


def test_fifteen_minute_circle_names_underserved_grids(page: _Page) -> None:
    _open(page)
    _preset(page, "circle_15min")
    uncovered = _number(page.page.inner_text("#kpi-unc"))
    count = int(page.page.inner_text("#gm-cov-ucount"))
    rows = page.page.evaluate("document.querySelectorAll('#gm-cov-under tr[data-code]').length")
    page.shot("coverage-15min.png")
    assert page.page.evaluate("document.querySelectorAll('#gm-cov-reqs input').length") >= 3
    assert uncovered > 0
    assert count > 0 and rows > 0, "residents are uncovered, yet no grid is named below standard"
    missing = page.page.evaluate("[...document.querySelectorAll('#gm-cov-under .gm-cov-missing')].map(e => e.textContent)")
    assert len(missing) == rows and all(any(k in m for k in ("图书馆", "老年大学", "中医馆")) for m in missing)
    lacking = page.page.evaluate("[...document.querySelectorAll('#gm-cov-kinds-body tr')].map(r => r.cells[3].textContent)")
    assert len(lacking) == 3 and all(_number(v) > 0 for v in lacking)
    kinds = page.page.evaluate(
        "[...new Set(window.gridmapCoverage.state.facilities.getLayers().map(l => l.feature.properties.category))].sort()")
    assert kinds == ["library", "senior_university", "tcm_clinic"]
    assert page.errors == []
    assert page.off_host() == []


def test_fifteen_minute_circle_now_and_with_more_reach(page: _Page) -> None:
    _open(page)
    _preset(page, "circle_15min")
    page.page.click("#gm-cov-under tr[data-code]")
    page.page.wait_for_timeout(500)
    assert page.page.evaluate("window.gridmapCoverage.state.selected")
    page.page.click("#gm-cov-pin")
    page.page.fill("#gm-req-library", "3000")
    page.page.fill("#gm-req-senior_university", "3000")
    page.page.fill("#gm-req-tcm_clinic", "3000")
    _run(page)
    assert page.page.evaluate("window.gridmapCoverage.state.selected") is None
    assert not page.page.evaluate("!!document.querySelector('.leaflet-popup')")
    a, b = page.page.inner_text("#gm-cov-cmp-a"), page.page.inner_text("#gm-cov-cmp-b")
    assert "15分钟生活圈" in a and "3000" in b
    under = page.page.evaluate("[...[...document.querySelectorAll('#gm-cov-cmp-body tr')].pop().cells].map(c => c.textContent)")
    assert under[0] == "未达标网格" and _number(under[2]) < _number(under[1])
    assert int(page.page.inner_text("#gm-cov-changed-count")) > 0
    page.page.evaluate("document.getElementById('gm-cov-compare').scrollIntoView()")
    page.page.wait_for_timeout(200)
    page.shot("coverage-15min-compare.png")
    assert page.errors == []


def test_markers_metrics_and_labelled_columns(page: _Page) -> None:
    _open(page)
    page.page.uncheck("#gm-cat-bus_stop")
    page.page.check("#gm-cat-parking")
    page.page.fill("#gm-cov-radius", "300")
    _run(page)
    markers = page.page.evaluate("window.gridmapCoverage.state.facilities.getLayers().length")
    assert markers > 0
    kinds = page.page.evaluate(
        "[...new Set(window.gridmapCoverage.state.facilities.getLayers().map(l => l.feature.properties.category))]")
    assert kinds == ["parking"]
    assert "停车场" in page.page.inner_text(".gm-cov-legend")
    assert page.page.inner_text("#kpi-spaces").strip() not in ("", "–")
    head = page.page.inner_text(".gm-cov-under thead")
    assert "覆盖率" in head and "未覆盖居民" in head and "%" not in head.replace("覆盖率", "")
    first = page.page.evaluate("[...document.querySelectorAll('#gm-cov-under tr[data-code]')[0].cells].map(c => c.textContent)")
    assert len(first) == 4
    assert first[3].endswith("%") and not first[2].endswith("%")
    page.shot("coverage-parking.png")
    assert page.errors == []


def test_selection_does_not_leak_and_runs_compare(page: _Page) -> None:
    _open(page)
    whole = page.page.evaluate("window.gridmapCoverage.map.getZoom()")
    page.page.click("#gm-cov-under tr[data-code]")
    page.page.wait_for_timeout(500)
    code = page.page.evaluate("window.gridmapCoverage.state.selected")
    assert code and page.page.evaluate("window.gridmapCoverage.map.getZoom()") > whole
    assert page.page.evaluate("!!document.querySelector('.leaflet-popup')")
    page.page.click("#gm-cov-pin")
    page.page.fill("#gm-cov-radius", "800")
    _run(page)
    # the next run starts clean: no selection, no popup, the whole city in view
    assert page.page.evaluate("window.gridmapCoverage.state.selected") is None
    assert not page.page.evaluate("!!document.querySelector('.leaflet-popup')")
    assert page.page.evaluate("window.gridmapCoverage.map.getZoom()") == whole
    assert page.page.evaluate("document.querySelectorAll('#gm-cov-under tr.table-active').length") == 0
    # A (500 m) and B (800 m) side by side, and the grids that now meet the target
    assert not page.page.evaluate("document.getElementById('gm-cov-compare').classList.contains('d-none')")
    a = page.page.inner_text("#gm-cov-cmp-a")
    b = page.page.inner_text("#gm-cov-cmp-b")
    assert "方案A" in a and "500" in a and "方案B" in b and "800" in b
    cells = page.page.evaluate("[...document.querySelectorAll('#gm-cov-cmp-body tr')[0].cells].map(c => c.textContent)")
    assert len(cells) == 4 and _number(cells[2]) > _number(cells[1])
    changed = int(page.page.inner_text("#gm-cov-changed-count"))
    assert changed > 0 and "转为达标" in page.page.inner_text("#gm-cov-changed")
    page.page.wait_for_timeout(300)
    page.shot("coverage-compare.png")
    page.page.click("#gm-cov-unpin")
    assert page.page.evaluate("document.getElementById('gm-cov-compare').classList.contains('d-none')")
    assert page.errors == []
    assert page.off_host() == []


def test_phone_layout(page: _Page) -> None:
    page.page.set_viewport_size(PHONE)
    _open(page)
    box = page.page.evaluate("(() => { const r = document.getElementById('gm-cov-map').getBoundingClientRect();"
                             " return [r.width, r.height]; })()")
    assert box[0] >= 380 and box[1] >= 300
    page.shot("coverage-phone.png")
    page.page.evaluate("document.getElementById('gm-cov-summary').scrollIntoView()")
    page.page.wait_for_timeout(200)
    page.shot("coverage-phone-summary.png")
    page.page.click("#gm-cov-under tr[data-code]")
    # the selected grid's map scrolls onto the screen (smoothly: wait for it to settle, not a fixed time)
    page.until("(() => { const t = document.getElementById('gm-cov-map').getBoundingClientRect().top;"
               " return t > -20 && t < 200; })()")
    page.shot("coverage-phone-selected.png")
    assert page.errors == []


def test_english_page(page: _Page) -> None:
    page.page.goto(page.base + "/coverage?lang=en")
    page.until("Number(document.body.getAttribute('data-coverage-runs') || 0) >= 1", timeout=60)
    text = page.page.inner_text("main")
    assert "Covered share" in text and "Residents not covered" in text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in page.page.inner_text(".gm-cov-under thead"))
    assert page.errors == []


@pytest.fixture(scope="module")
def tiled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo city served as if it were large: every polygon layer as vector tiles."""
    with helpers.Server(tmp_path_factory.mktemp("instance-tiled"), helpers.DEMO, LANGUAGE="zh",
                        VECTOR_TILES_MIN_GRIDS="0") as srv:
        yield srv.base


def test_tiled_city_draws_the_result_on_vector_tiles(browser: object, tiled_server: str) -> None:
    """Above the tile threshold the result comes as values by code, drawn on the grid and committee tiles:
    the choropleth, popups, the legend and selection from the list keep working, and no GeoJSON unit is sent."""
    page = _Page(browser, tiled_server)
    page.page.set_viewport_size(DESKTOP)
    answers: list[str] = []
    page.page.on("response", lambda r: answers.append(r.url) if "/api/v1/coverage/map" in r.url else None)
    try:
        _open(page)
        page.until("Number(document.body.getAttribute('data-coverage-tiles') || 0) >= 1", timeout=60)
        state = "window.gridmapCoverage.state"
        assert page.page.evaluate(f"{state}.tiled") is True
        assert answers and all("units=table" in u for u in answers)
        assert page.page.evaluate(f"Object.keys({state}.props).length") == 613
        assert page.page.evaluate(f"{state}.units instanceof L.VectorGrid")
        # below the zoom the grids are legible from, the committees carry the result
        zoom = page.page.evaluate("window.gridmapCoverage.map.getZoom()")
        assert page.page.evaluate(f"{state}.overview.options.maxZoom") < page.page.evaluate(
            "JSON.parse(document.getElementById('gm-cov-config').textContent).tiles.zooms.grids")
        assert "居民覆盖率" in page.page.inner_text(".gm-cov-legend")
        box = page.page.locator("#gm-cov-map").bounding_box()
        page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.until("!!document.querySelector('.leaflet-popup-content')", timeout=15)
        assert "覆盖率" in page.page.inner_text(".leaflet-popup-content")
        page.shot("coverage-tiled.png")
        # a grid from the list: zoomed to, outlined and its popup open, its tiles loaded
        loads = page.page.evaluate("Number(document.body.getAttribute('data-coverage-tiles'))")
        row = page.page.locator("#gm-cov-under tr[data-code]").first
        code = row.get_attribute("data-code")
        row.click()
        page.until(f"Number(document.body.getAttribute('data-coverage-tiles')) > {loads}", timeout=60)
        page.page.wait_for_timeout(300)
        assert page.page.evaluate(f"{state}.selected") == code
        assert page.page.evaluate("window.gridmapCoverage.map.getZoom()") > zoom
        assert code in page.page.inner_text(".leaflet-popup-content")
        page.shot("coverage-tiled-selected.png")
        assert page.errors == []
        assert page.off_host() == []
    finally:
        page.close()
