"""Print and share in Chromium: a share link restores zoom, layers and the selection's popup; PNG/PDF download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests import helpers
from tests.web.browsing import CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module", params=["geojson", "tiled"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the mini city, drawing grids as GeoJSON or as vector tiles."""
    extra = {"VECTOR_TILES_MIN_GRIDS": "1"} if request.param == "tiled" else {}
    with helpers.Server(tmp_path_factory.mktemp("instance"), helpers.MINI, LANGUAGE="zh", **extra) as srv:
        yield srv.base


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    yield p
    p.close()


def test_share_link_restores_the_view_and_prints(page: _Page, request: pytest.FixtureRequest) -> None:
    mini = Dataset(FolderStore(helpers.MINI))
    grid = mini.grids.iloc[3]
    pt = grid.geometry.representative_point()
    page.open_map(f"/?view=16/{pt.y:.5f}/{pt.x:.5f}&layers=grids,divisions,facilities:bus_stop&attr=households"
                  f"&sel=grid:{grid['code']}")
    page.until("document.querySelector('.leaflet-popup-content .gm-popup-title') !== null")
    assert grid["name"] in page.page.inner_text(".leaflet-popup-content")
    assert page.page.evaluate("gridmap.map.getZoom()") == 16
    shown = page.page.evaluate("""(() => { const m = gridmap.map, f = gridmap.facilityGroups;
        return [m.hasLayer(gridmap.gridGroup), m.hasLayer(gridmap.committeeGroup || gridmap.committeeTiles),
                m.hasLayer(f.bus_stop), Object.keys(f).filter(k => k !== 'bus_stop').some(k => m.hasLayer(f[k]))]; })()""")
    assert shown == [True, False, True, False]
    assert page.page.evaluate("gridmap.attr") == "households"
    url = page.page.evaluate("gridmap.viewshare.shareUrl()")
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    assert query["sel"] == f"grid:{grid['code']}" and query["view"].startswith("16/")
    assert set(query["layers"].split(",")) == {"grids", "divisions", "facilities:bus_stop"}
    page.page.click(".gm-viewshare-toggle")
    mode = request.node.callspec.id.split("-")[-1] if hasattr(request.node, "callspec") else "x"
    page.shot(f"print-control-{mode}.png")
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        with page.page.expect_download(timeout=30000) as got:
            page.page.click(f".gm-viewshare-{fmt}")
        dl = got.value
        assert dl.suggested_filename.endswith(f".{fmt}")
        assert Path(dl.path()).read_bytes()[:4] == magic
    page.page.click(".gm-viewshare-link")
    assert "sel=grid" in page.page.evaluate("window.location.search")
    assert page.off_host() == []
    assert page.errors == []
