"""Every page on phones (390×844 and 360×640) in headless Chromium: no sideways overflow, the menu, full-height maps, the drawer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.web.browsing import ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

#: The two phone viewports, each with the language it is checked in (both languages get both layouts' checks).
PHONES = {"390x844": ({"width": 390, "height": 844}, "zh"), "360x640": ({"width": 360, "height": 640}, "en")}
#: Page name → (path, account to sign in as or None, is a full-height map page).
PAGES: dict[str, tuple[str, str | None, bool]] = {
    "home": ("/", None, True),
    "grid": ("/grids/620201001001001", None, False),
    "committee": ("/committees/620201001001", None, False),
    "locate": ("/locate", None, False),
    "coverage": ("/coverage", None, True),
    "login": ("/login", None, False),
    "error": ("/grids/no-such-grid", None, False),
    "ogcapi": ("/ogcapi/collections/grids/items?f=html&limit=5", None, False),
    "rebalance": ("/rebalance", "staff", True),
    "admin": ("/admin", "admin", False),
    "admin-users": ("/admin/users", "admin", False),
    "admin-audit": ("/admin/audit", "admin", False),
    "admin-rollback-refused": ("/admin/rollback", "admin", False),  # no version given: the 409 page
}
_OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the demo city, with an admin and a staff account."""
    root = tmp_path_factory.mktemp("phone")
    helpers.add_cheap_accounts(root / "inst")
    with helpers.Server(root / "inst", helpers.DEMO, STORE_URL=str(root / "store"), LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture(scope="module")
def sessions(browser: Any, server: str) -> dict[str, Any]:
    """The signed-in browser state of each account, made once."""
    states: dict[str, Any] = {}
    for name in ("admin", "staff"):
        ctx = browser.new_context()
        p = ctx.new_page()
        p.goto(server + "/login")
        p.fill("#name", name)
        p.fill("#password", helpers.PASSWORDS[name])
        p.click("form[action$='/login'] button[type=submit]")
        p.wait_for_load_state()
        states[name] = ctx.storage_state()
        ctx.close()
    return states


def _open(browser: Any, server: str, sessions: dict[str, Any], size: dict[str, int], account: str | None) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport=size, locale="zh-CN", storage_state=sessions[account] if account else None)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _settle(page: Any, path: str) -> None:
    if path == "/":
        page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=30000)
    elif path.startswith("/coverage"):
        page.wait_for_selector("body[data-coverage-runs]", state="attached", timeout=60000)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize("name", PAGES)
def test_page_fits_the_phone(browser: Any, server: str, sessions: dict[str, Any], name: str, phone: str) -> None:
    size, lang = PHONES[phone]
    path, account, is_map = PAGES[name]
    ctx, page, errors = _open(browser, server, sessions, size, account)
    try:
        page.goto(server + path + ("&" if "?" in path else "?") + f"lang={lang}")
        _settle(page, path)
        assert page.evaluate(_OVERFLOW) <= 1, f"{name} is wider than the {phone} screen"
        toggle = page.locator(".gm-nav-toggle")
        assert toggle.is_visible() and page.locator("#gm-nav").is_hidden()
        if is_map:
            box = page.evaluate("(() => { const m = document.querySelector('.folium-map, #gm-cov-map, #gm-rb-map');"
                                " const r = m.getBoundingClientRect(); return [r.width, r.height]; })()")
            assert box[0] >= size["width"] - 1 and box[1] >= 0.8 * (size["height"] - 52), box
        _shot(page, f"phone-{name}-{phone}.png")
        if name == "home":  # the layer switcher and the legend start folded and open with a tap
            layers = page.locator(".leaflet-control-layers").first
            assert "leaflet-control-layers-expanded" not in (layers.get_attribute("class") or "")
            page.click(".leaflet-control-layers-toggle")
            assert "leaflet-control-layers-expanded" in (layers.get_attribute("class") or "")
            page.click(".gm-legend-title")
            assert "gm-folded" not in (page.get_attribute(".gm-legend", "class") or "")
            assert page.evaluate(_OVERFLOW) <= 1
            _shot(page, f"phone-{name}-{phone}-controls.png")
            page.click(".gm-legend-title")
            assert "gm-folded" in (page.get_attribute(".gm-legend", "class") or "")
        toggle.click()
        assert page.locator("#gm-nav").is_visible()
        assert page.locator(".gm-lang a[data-lang=zh]").is_visible() and page.locator(".gm-lang a[data-lang=en]").is_visible()
        sign = page.locator("#gm-nav a[href^='/login']")
        assert sign.count() >= 1 and sign.first.is_visible()
        assert page.evaluate(_OVERFLOW) <= 1
        if name in ("home", "coverage"):
            _shot(page, f"phone-{name}-{phone}-menu.png")
        page.keyboard.press("Escape")
        assert page.locator("#gm-nav").is_hidden()
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("phone", PHONES)
def test_coverage_drawer(browser: Any, server: str, sessions: dict[str, Any], phone: str) -> None:
    size, lang = PHONES[phone]
    ctx, page, errors = _open(browser, server, sessions, size, None)
    try:
        page.goto(f"{server}/coverage?lang={lang}")
        _settle(page, "/coverage")
        top = "document.querySelector('.gm-drawer').getBoundingClientRect().top"
        assert page.evaluate(top) > size["height"] - 60  # closed: only its handle shows
        page.click(".gm-drawer-toggle")
        page.wait_for_timeout(400)
        assert page.evaluate(top) < size["height"] * 0.5
        assert page.get_attribute(".gm-drawer-toggle", "aria-expanded") == "true"
        _shot(page, f"phone-coverage-{phone}-drawer.png")
        page.click(".gm-drawer-toggle")
        page.wait_for_timeout(400)
        assert page.evaluate(top) > size["height"] - 60
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["home", "coverage"])
def test_desktop_unchanged(browser: Any, server: str, sessions: dict[str, Any], name: str) -> None:
    path = PAGES[name][0]
    ctx, page, errors = _open(browser, server, sessions, {"width": 1366, "height": 850}, None)
    try:
        page.goto(server + path)
        _settle(page, path)
        assert page.locator(".gm-nav-toggle").is_hidden() and page.locator("#gm-nav").is_visible()
        assert page.locator(".gm-drawer-toggle").count() == 0 or page.locator(".gm-drawer-toggle").is_hidden()
        assert page.evaluate(_OVERFLOW) <= 1
        _shot(page, f"phone-{name}-desktop-1366x850.png")
        assert errors == []
    finally:
        ctx.close()
