"""The locate page in headless Chromium: a fuzzy match says so, an ambiguous one offers its candidates, a map click names the nearest address."""

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
sync_api = pytest.importorskip("playwright.sync_api")

#: The mini city's 光华路1号 with one character of the street typed as a homophone (华 -> 化).
FUZZY = "光化路1号"
#: Half of 雄关路 and half of 峪泉路: their 1号 are too close to call, so no grid is chosen.
AMBIGUOUS = "雄泉路1号"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the mini city, Chinese by default, with no basemap tiles."""
    with helpers.Server(tmp_path_factory.mktemp("instance"), helpers.MINI, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    yield p
    p.close()


def _settled_shot(page: _Page, name: str) -> None:
    """A screenshot once the map has finished zooming and panning."""
    page.until("!document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim')")
    page.page.wait_for_timeout(300)
    page.shot(name)


def _search(page: _Page, text: str, marker: str) -> str:
    page.page.fill("#gm-q", text)
    page.page.click("#gm-locate-submit")
    page.until(f"!!document.getElementById('{marker}')")
    return page.page.inner_text("#gm-result-body")


@pytest.mark.parametrize("size", [(1366, 850), (390, 844)], ids=["desktop", "phone"])
def test_fuzzy_ambiguous_and_map_click(page: _Page, size: tuple[int, int]) -> None:
    page.page.set_viewport_size({"width": size[0], "height": size[1]})
    tag = f"{size[0]}x{size[1]}"
    page.page.goto(page.base + "/locate")
    page.page.wait_for_selector("#gm-locate-map .leaflet-interactive", timeout=15000)  # the outlines are drawn

    text = _search(page, FUZZY, "gm-fuzzy")
    assert page.page.inner_text("#gm-matched").startswith("匹配地址：光华路1号")  # the standard address, not the echo
    assert "规范化地址" not in text
    fuzzy = page.page.inner_text("#gm-fuzzy")
    assert fuzzy.startswith("模糊匹配：您输入的是“光化路1号”，匹配到“光华路1号”，得分 ")
    assert "网格" in text and page.page.locator("#gm-result-body dl").count() == 1
    _settled_shot(page, f"locate-fuzzy-{tag}.png")

    text = _search(page, AMBIGUOUS, "gm-ambiguous")
    assert "无法确定网格" in text and page.page.locator("#gm-result-body dl").count() == 0  # no grid picked
    rows = page.page.locator("#gm-candidates tbody tr")
    assert rows.count() >= 2
    _settled_shot(page, f"locate-ambiguous-{tag}.png")
    chosen = rows.nth(1).locator("td").first.inner_text()
    rows.nth(1).click()
    page.until("!!document.querySelector('#gm-choice dl')")
    assert chosen in page.page.inner_text("#gm-choice")
    _settled_shot(page, f"locate-ambiguous-chosen-{tag}.png")

    # the last search centred the map on the chosen address: a click there names it as the nearest address
    page.page.click("#gm-locate-map")
    page.until("!!document.getElementById('gm-nearest-address')")
    near = page.page.inner_text("#gm-nearest-address")
    assert near.startswith("最近地址：" + chosen) and "米" in near
    assert page.page.locator("#gm-result-body dl").count() == 1  # and the grid of the point
    _settled_shot(page, f"locate-click-{tag}.png")
    assert page.errors == [] and page.off_host() == []
