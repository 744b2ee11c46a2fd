"""The events on the home map in headless Chromium: after the whole loop (report → close), the public map's events
layer shows the event as closed at its grid, the choropleth offers the event attributes, and the statistics count it.

The loop itself is helper G's ``closed_event`` fixture (tests/web/test_browser_events.py), run once here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.web.browsing import CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
if not (helpers.DEMO / "grids.geojson").exists():
    pytest.skip("demo data geodata/ is missing (gridmap demo-data --out geodata)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from tests.web.test_browser_events import PASSWORD, SHOTS, city, closed_event  # noqa: E402,F401,F811 - the loop fixtures


def test_closed_event_shows_on_the_map_and_in_the_statistics(browser: Any, closed_event: tuple[str, str, str]) -> None:  # noqa: F811
    base, event_id, grid = closed_event
    public = _Page(browser, base)
    try:
        p = public.page
        public.open_map("/")
        public.until("document.body.getAttribute('data-events-attributes') === '1'")
        layers = p.inner_text(".leaflet-control-layers")
        assert "事件（聚合）" in layers and "事件热力图" in layers
        p.hover(".leaflet-control-layers")
        p.locator(".leaflet-control-layers-overlays label", has_text="事件（聚合）").locator("input").check()
        public.until("document.body.getAttribute('data-events-loaded') === '1'")
        marker = p.evaluate("""() => {
            const m = window.gridmap.events.cluster.getLayers()[0], pts = window.gridmap.events.points;
            return {kind: m.evKind, id: m.evId, exact: pts.exact, grid: pts.events[0].grid_code,
                    keys: Object.keys(pts.events[0]).sort()};
        }""")
        assert marker["id"] == event_id and marker["kind"] == "closed" and marker["grid"] == grid
        assert marker["exact"] is False and "url" not in marker["keys"]  # the public sees the grid's point only
        p.hover(".leaflet-control-layers")
        p.locator(".leaflet-control-layers-overlays label", has_text="事件热力图").locator("input").check()
        options = p.locator("#gm-attr option").all_inner_texts()
        assert "结案比例（按网格）" in options and "待办比例（按社区）" in options
        p.select_option("#gm-attr", "ev_closed_share")
        colour = p.evaluate(f"""() => {{
            const gm = window.gridmap, cls = gm.data.classes.ev_closed_share;
            return [gm.gridLayerByCode['{grid}'].options.fillColor, cls.colors[cls.colors.length - 1], gm.attr,
                    new URL(location.href).searchParams.get('evattr')];
        }}""")
        assert colour[0] == colour[1] and colour[2] == "ev_closed_share" and colour[3] == "ev_closed_share"
        assert "结案比例" in p.inner_text(".gm-legend")
        p.wait_for_timeout(300)
        p.screenshot(path=str(SHOTS / "H-events-map-public.png"))
        assert public.errors == [], public.errors
        assert public.off_host() == []
    finally:
        public.close()

    staff = _Page(browser, base)
    try:
        p = staff.page
        p.goto(f"{base}/login?next=/events/stats%3Fby%3Dgrid")
        p.fill("#name", "wang")
        p.fill("#password", PASSWORD)
        with p.expect_navigation():
            p.click("form[action$='/login'] button[type=submit]")
        row = p.locator(f"#gm-evstats-table tr[data-code='{grid}']")
        assert row.locator("td[data-col=closed]").inner_text() == "1"
        assert p.locator("#gm-evstats-table tr[data-code='*'] td[data-col=closed]").inner_text() == "1"
        p.screenshot(path=str(SHOTS / "H-events-stats-page.png"), full_page=True)
        staff.open_map("/?events=1")
        staff.until("document.body.getAttribute('data-events-loaded') === '1'")
        exact = p.evaluate("() => window.gridmap.events.points.exact")
        assert exact is True  # the grid worker sees the reported point
        assert staff.errors == [], staff.errors
    finally:
        staff.close()
