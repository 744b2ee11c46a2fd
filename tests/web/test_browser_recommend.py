"""The coverage page's recommendation panel in headless Chromium: run it, see the sites on the map and the tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.web.browsing import CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

#: Set GRIDMAP_SHOTS=/some/dir to also save the screenshots of the panel there.
SHOTS = os.environ.get("GRIDMAP_SHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the demo city when asked for screenshots, else over the mini city."""
    data = helpers.DEMO if SHOTS else Path(__file__).resolve().parents[1] / "data" / "mini"
    with helpers.Server(tmp_path_factory.mktemp("instance"), data, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.mark.parametrize("size", [{"width": 1366, "height": 850}, {"width": 390, "height": 844}])
def test_recommend_panel(browser, server, size):
    page = _Page(browser, server)
    try:
        page.page.set_viewport_size(size)
        page.page.goto(server + "/coverage")
        page.until("Number(document.body.getAttribute('data-coverage-runs') || 0) >= 1", timeout=60)
        if not SHOTS:
            page.page.fill("#gm-rec-radius", "300")
            page.page.fill("#gm-rec-add", "2")
            page.page.fill("#gm-rec-spacing", "50")
        page.page.click("#gm-rec-run")
        page.until("!document.getElementById('gm-rec-result').classList.contains('d-none')"
                   " || !document.getElementById('gm-rec-error').classList.contains('d-none')", timeout=90)
        assert page.page.is_hidden("#gm-rec-error")
        pins = page.page.locator(".gm-rec-pin").count()
        assert pins >= 1 and page.page.locator("#gm-rec-sites tr").count() == pins
        assert "%" in page.page.inner_text("#gm-rec-kpis")
        page.page.locator("#gm-rec-sites tr").first.click()
        page.until("document.querySelector('.leaflet-popup-content') !== null")
        assert "新增覆盖居民" in page.page.inner_text(".leaflet-popup-content")
        assert not page.errors, page.errors
        assert not page.off_host()
        if SHOTS:
            name = f"recommend-{size['width']}x{size['height']}"
            page.page.evaluate("document.getElementById('gm-cov-map').scrollIntoView({block: 'start'})")
            page.page.wait_for_timeout(300)
            page.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))
            page.page.evaluate("document.querySelector('.gm-cov-side').scrollTop = 0; window.scrollTo(0, 0)")
            page.page.locator("#gm-rec").scroll_into_view_if_needed()
            page.page.screenshot(path=str(Path(SHOTS) / f"{name}-panel.png"))
    finally:
        page.close()
