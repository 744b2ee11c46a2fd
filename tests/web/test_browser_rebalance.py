"""The rebalancing page in headless Chromium over the real server: the densest demo committee, desktop and phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.web.browsing import ARTIFACTS, CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` on a versioned store seeded with the demo city, with a staff account."""
    root = tmp_path_factory.mktemp("rebalance")
    helpers.add_cheap_accounts(root / "inst")
    with helpers.Server(root / "inst", helpers.DEMO, STORE_URL=str(root / "store"), LANGUAGE="zh") as srv:
        yield srv.base


def _shot(page: _Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / name))


def test_densest_committee_on_desktop_and_phone(browser: object, server: str) -> None:
    page = _Page(browser, server)
    try:
        p = page.page
        p.set_viewport_size({"width": 1366, "height": 850})
        p.goto(server + "/login?next=/rebalance")
        p.fill("#name", "staff")
        p.fill("#password", helpers.PASSWORDS["staff"])
        p.click("form[action$='/login'] button[type=submit]")
        p.wait_for_load_state()
        page.until("document.body.getAttribute('data-rebalanced') === '1'", timeout=90)
        assert p.input_value("#gm-rb-scope") == "committee:620201002004"  # the densest is preselected
        assert "全部新网格户数在范围内" in p.inner_text("#gm-rb-verdict")
        summary = p.inner_text("#gm-rb-summary")
        assert "网格数" in summary and "25" in summary
        rows = p.locator("#gm-rb-rows tr").count()
        assert rows >= 25
        assert p.locator(".leaflet-control-layers-base input").count() == 2
        assert p.locator("#gm-rb-downloads a[href*='export.zip']").count() == 1
        _shot(page, "rebalance-desktop.png")
        p.locator(".leaflet-control-layers-base label").first.click()  # the current grids
        p.wait_for_timeout(300)
        _shot(page, "rebalance-desktop-before.png")
        p.set_viewport_size({"width": 390, "height": 844})
        p.wait_for_timeout(500)
        _shot(page, "rebalance-phone.png")
        p.fill("#gm-rb-band", "500-300")
        p.click("#gm-rb-run")
        page.until("document.getElementById('gm-rb-status').textContent.indexOf('下限') >= 0", timeout=30)
        assert page.off_host() == []
        assert [e for e in page.errors if "400" not in e] == []  # the refused band is a 400, nothing else
    finally:
        page.close()
