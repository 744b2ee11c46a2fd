"""A city built with `gridmap init-city`, served by the real `gridmap serve` and used in headless Debian Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.geo.crs import gcj02_to_wgs84
from tests import cities, helpers
from tests.web.browsing import CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser


if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class City:
    """The generated city, its grids (WGS84) and standard addresses, and the base URL of its server."""

    source: Path
    grids: gpd.GeoDataFrame
    addresses: pd.DataFrame
    base: str


def _serve(root: Path, source: Path, *args: str) -> helpers.Server:
    """Build a store from ``source`` with the real `gridmap init-city`; return (unstarted) its server and admin."""
    store, instance = root / "store", root / "inst"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    proc = subprocess.run([str(Path(sys.executable).with_name("gridmap")), "init-city", str(source), "--store",
                           str(store), *args], env={**env, "GRIDMAP_INSTANCE_DIR": str(instance)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helpers.add_cheap_accounts(instance)
    return helpers.Server(instance, STORE_URL=str(store), LANGUAGE="zh")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """河湾市 built by the real command line, then served with GRIDMAP_STORE_URL, with an admin account."""
    root = tmp_path_factory.mktemp("hewan")
    source = cities.make_cn_city(root / cities.CN_NAME)
    addresses = pd.read_excel(source / "标准地址.xlsx", engine="openpyxl")
    addresses["lon"], addresses["lat"] = gcj02_to_wgs84(addresses["经度"].to_numpy(float),
                                                        addresses["纬度"].to_numpy(float))
    with _serve(root, source, "--table-crs", "gcj02") as srv:
        yield City(source, cities.grids_of(source), addresses, srv.base)


@pytest.fixture(scope="module", params=["utm", "lanzhou"])
def other(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, City]]:
    """Fjordvik (UTM 32N, English fields) and Lanzhou (from its district outlines), each built and served."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "utm":
        name, source = cities.UTM_NAME, cities.make_utm_city(root / cities.UTM_NAME)
        addresses = pd.read_csv(source / "addresses.csv")
    else:
        name, source = "兰州", cities.make_lanzhou(root / "兰州市")
        if source is None:
            pytest.skip(f"the reference data is absent ({helpers.LANZHOU})")
        addresses = pd.read_csv(source / "地址.csv", encoding="gb18030").rename(
            columns={"标准地址": "address", "经度": "lon", "纬度": "lat"})
    with _serve(root, source) as srv:
        yield name, City(source, cities.grids_of(source), addresses, srv.base)


@pytest.fixture
def page(browser: object, city: City) -> Iterator[_Page]:
    p = _Page(browser, city.base)
    yield p
    p.close()


def _grid_of(city: City, lon: float, lat: float) -> str:
    import shapely

    return str(city.grids[city.grids.contains(shapely.Point(lon, lat))]["code"].iloc[0])


def test_home_map_draws_the_grids_under_the_citys_name(page: _Page, city: City) -> None:
    page.open_map("/")
    n_paths = page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane path').length")
    codes = page.page.evaluate("window.gridmap.gridLayers.map(l => l.gridCode)")
    page.page.wait_for_timeout(300)
    page.shot("city-home.png")
    assert n_paths == len(city.grids)
    assert sorted(codes) == sorted(city.grids["code"].astype(str))
    assert "河湾" in page.page.title()
    assert "嘉峪关" not in page.page.content()
    assert page.errors == []
    assert page.off_host() == []


def test_clicking_a_grid_shows_its_code(page: _Page, city: City) -> None:
    page.open_map("/")
    code = str(city.grids["code"].iloc[10])
    page.page.evaluate("""(code) => {
        const layer = window.gridmap.gridLayers.find(l => l.gridCode === code);
        window.gridmap.map.fitBounds(layer.getBounds());
        layer.openPopup(layer.getBounds().getCenter());
    }""", code)
    popup = page.page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert code in popup.inner_text()
    assert page.errors == []


def test_locate_page_finds_an_address_and_a_point(page: _Page, city: City) -> None:
    row = city.addresses.iloc[len(city.addresses) // 3]
    page.page.goto(page.base + "/locate")
    page.until(f"document.querySelectorAll('.leaflet-overlay-pane path').length >= {len(city.grids)}")
    page.page.fill("#gm-q", str(row["标准地址"]))
    page.page.click("#gm-locate-submit")
    page.page.wait_for_selector("#gm-result:not(.d-none) dl", timeout=10000)
    assert _grid_of(city, row["lon"], row["lat"]) in page.page.inner_text("#gm-result")
    page.shot("city-locate.png")
    lon, lat = helpers.inside_point(city.grids, 20)
    page.page.fill("#gm-q", f"{lon:.6f}, {lat:.6f}")
    page.page.click("#gm-locate-submit")
    page.until(f"document.querySelector('#gm-result').innerText.includes('{city.grids['code'].iloc[20]}')")
    assert page.errors == []
    assert page.off_host() == []


def test_coverage_page_runs_and_offers_downloads(page: _Page, city: City) -> None:
    page.page.goto(page.base + "/coverage")
    page.page.click("#gm-cov-run")
    page.page.wait_for_selector("#gm-cov-summary:not(.d-none)", timeout=30000)
    page.page.wait_for_timeout(500)
    assert "%" in page.page.inner_text("#kpi-res")
    page.shot("city-coverage.png")
    links = page.page.evaluate("[...document.querySelectorAll('#gm-cov-downloads a')].map(a => a.href)")
    assert len(links) >= 3
    for url in links:
        if any(url.split("?")[0].endswith(ext) for ext in (".xlsx", ".geojson", ".gpkg")):
            with urllib.request.urlopen(url, timeout=60) as resp:
                assert resp.status == 200 and len(resp.read()) > 100, url
    assert page.errors == []
    assert page.off_host() == []


def test_exported_map_opens_from_a_file(page: _Page, city: City, tmp_path: Path) -> None:
    with urllib.request.urlopen(page.base + "/export/map.html") as resp:
        html = resp.read()
    out = tmp_path / "map.html"
    out.write_bytes(html)
    page.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else route.abort())
    page.page.goto(out.as_uri())
    page.page.wait_for_selector("body[data-gridmap-ready]", state="attached", timeout=15000)
    assert page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane path').length") == len(city.grids)
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []


def test_admin_signs_in_and_sees_the_version(page: _Page, city: City) -> None:
    page.page.goto(page.base + "/login?next=/admin")
    page.page.fill("#name", "admin")
    page.page.fill("#password", helpers.PASSWORDS["admin"])
    page.page.click("form[action$='/login'] button[type=submit]")
    page.page.wait_for_load_state()
    page.page.goto(page.base + "/admin")
    text = page.page.inner_text("main")
    page.shot("city-admin.png")
    assert "0001" in text
    assert "layer." not in text
    assert page.off_host() == []


def test_other_city_map_and_locate(browser: object, other: tuple[str, City]) -> None:
    name, city = other
    page = _Page(browser, city.base)
    try:
        page.open_map("/")
        assert page.page.evaluate("document.querySelectorAll('.leaflet-grids-pane path').length") == len(city.grids)
        assert name in page.page.title()
        page.shot(f"city-{city.source.name}-home.png")
        row = city.addresses.iloc[len(city.addresses) // 2]
        page.page.goto(page.base + "/locate")
        page.until(f"document.querySelectorAll('.leaflet-overlay-pane path').length >= {len(city.grids)}")
        page.page.fill("#gm-q", str(row["address"]))
        page.page.click("#gm-locate-submit")
        page.page.wait_for_selector("#gm-result:not(.d-none) dl", timeout=10000)
        assert _grid_of(city, row["lon"], row["lat"]) in page.page.inner_text("#gm-result")
        page.page.goto(page.base + "/coverage")
        page.page.click("#gm-cov-run")
        page.page.wait_for_selector("#gm-cov-summary:not(.d-none)", timeout=30000)
        assert "%" in page.page.inner_text("#kpi-res")
        assert page.errors == []
        assert page.off_host() == []
    finally:
        page.close()
