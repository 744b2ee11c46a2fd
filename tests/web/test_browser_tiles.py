"""The tiled home map in Chromium: the mini city above the tile threshold draws tiles, opens popups, searches."""

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the mini city with tiles from 1 grid up, offline basemap."""
    with helpers.Server(tmp_path_factory.mktemp("instance"), helpers.MINI, LANGUAGE="zh",
                        VECTOR_TILES_MIN_GRIDS="1") as srv:
        yield srv.base


@pytest.fixture(scope="module")
def mini() -> Dataset:
    return Dataset(FolderStore(helpers.MINI))


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    yield p
    p.close()


_LOADED = ("[gridmap.tiles, gridmap.gridTiles, gridmap.committeeTiles, gridmap.divisionTiles]"
           ".every(l => !gridmap.map.hasLayer(l) || !l._loading)")
#: Which layers the drawn tiles hold features of (one tile per address carries them all).
_DRAWN = ("[...new Set(Object.values(gridmap.tiles._vectorTiles).flatMap(t => Object.values(t._features)"
          ".map(f => f.layerName)))].sort()")


def test_tiled_map_draws_opens_a_popup_and_stays_on_the_host(page: _Page, mini: Dataset) -> None:
    page.open_map("/")
    page.until("document.body.hasAttribute('data-gridmap-tiles')")
    assert page.page.evaluate("gridmap.data.tiled") is True
    assert page.page.evaluate("gridmap.gridLayers") is None  # no grid was sent as a payload polygon
    grid = mini.grids.iloc[4]
    pt = grid.geometry.representative_point()
    page.page.evaluate(f"gridmap.map.setView([{pt.y}, {pt.x}], gridmap.cfg.live.zooms.grids + 2, {{animate: false}})")
    page.until(_LOADED)
    page.page.wait_for_timeout(300)
    tiles = page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane canvas').length")
    assert tiles > 0
    xy = page.page.evaluate(f"(() => {{ const p = gridmap.map.latLngToContainerPoint([{pt.y}, {pt.x}]);"
                            "const r = gridmap.map.getContainer().getBoundingClientRect();"
                            "return [r.left + p.x, r.top + p.y]; })()")
    page.page.mouse.move(xy[0], xy[1])
    page.page.mouse.click(xy[0], xy[1])
    page.until("document.querySelector('.leaflet-popup-content .gm-popup-title') !== null")
    text = page.page.inner_text(".leaflet-popup-content")
    assert grid["code"] in text and grid["name"] in text
    page.shot("home-tiled-popup.png")
    # one tile per address carries every layer; the layer switcher turns a layer off and on again in them
    assert page.page.evaluate("document.querySelectorAll('.leaflet-boundaries-pane canvas').length") == 0
    assert page.page.evaluate(_DRAWN) == ["committees", "divisions", "grids", "roads"]
    name = page.page.evaluate("gridmap.cfg.strings.layerCommittees")
    box = page.page.locator(".leaflet-control-layers label", has_text=name).locator("input")
    box.click()
    page.until(f"!gridmap.tiles._loading && !({_DRAWN}).includes('committees')")
    assert page.page.evaluate(_DRAWN) == ["divisions", "grids", "roads"]
    box.click()
    page.until(f"!gridmap.tiles._loading && ({_DRAWN}).includes('committees')")
    assert page.off_host() == []
    assert page.errors == []


@pytest.mark.parametrize("kind", ["grid", "committee", "division", "facility", "address"])
def test_search_finds_each_kind_and_opens_its_popup(page: _Page, mini: Dataset, kind: str) -> None:
    table = {"grid": ("grids", "name"), "committee": ("committees", "name"), "division": ("divisions", "name"),
             "facility": ("facilities", "name"), "address": ("addresses", "address")}[kind]
    name = str(mini.layer(table[0]).iloc[1][table[1]])
    page.open_map("/")
    page.page.fill(".gm-search-input", name)
    page.page.wait_for_selector(f".gm-search-item .gm-kind-{kind}", timeout=15000)
    items = page.page.query_selector_all(".gm-search-item")
    idx = next(i for i, li in enumerate(items) if li.query_selector(f".gm-kind-{kind}")
               and name in li.inner_text())
    items[idx].click()
    page.until("document.querySelector('.leaflet-popup-content .gm-popup-title') !== null")
    assert name in page.page.inner_text(".leaflet-popup-content .gm-popup-title")
    centre = page.page.evaluate("[gridmap.map.getCenter().lng, gridmap.map.getCenter().lat]")
    geom = mini.layer(table[0]).iloc[1].geometry
    box = geom.envelope.buffer(0.01).bounds
    assert box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]
    if kind == "grid":
        page.shot("home-tiled-search.png")
    assert page.off_host() == []
    assert page.errors == []
