"""The locate page's batch steps in headless Chromium: upload, column mapping, progress, summary, download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` over the demo city, Chinese by default, with the offline basemap."""
    with helpers.Server(tmp_path_factory.mktemp("instance"), helpers.DEMO, LANGUAGE="zh") as srv:
        yield srv.base


@pytest.fixture
def page(browser: object, server: str) -> Iterator[_Page]:
    p = _Page(browser, server)
    yield p
    p.close()


@pytest.fixture(scope="module")
def unusual_csv() -> bytes:
    """A GB18030 CSV whose coordinate headers no detector knows (X坐标/Y坐标): 1200 rows, 3 of them problems."""
    grids = gpd.read_file(helpers.DEMO / "grids.geojson")
    lines = ["编号,名称,X坐标,Y坐标"]
    for i in range(1200):
        lon, lat = helpers.inside_point(grids, i % len(grids))
        lines.append(f"{i + 1},住户{i + 1},{lon},{lat}")
    lines[5] = "5,住户5,abc,"
    lines[9] = "9,住户9,10.0,10.0"
    lines[12] = "12,住户12,,"
    return ("\n".join(lines) + "\n").encode("gb18030")


def _upload(page: _Page, name: str, data: bytes) -> None:
    page.page.set_input_files("#gm-batch-file", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    page.page.click("#gm-batch-upload")


def test_mapping_step_for_unusual_headers_then_summary_and_download(page: _Page, unusual_csv: bytes) -> None:
    page.page.goto(page.base + "/locate")
    _upload(page, "住户坐标.csv", unusual_csv)
    page.until("!document.getElementById('gm-batch-mapping').classList.contains('d-none')")
    hint = page.page.text_content("#gm-batch-hint")
    assert "未能识别经纬度列或地址列" in hint
    assert "共 1200 行" in page.page.text_content("#gm-batch-rows")
    headers = page.page.eval_on_selector_all("#gm-batch-preview th", "els => els.map(e => e.textContent)")
    assert headers == ["编号", "名称", "X坐标", "Y坐标"]
    assert page.page.eval_on_selector_all("#gm-batch-preview tbody tr", "els => els.length") == 8
    # running without columns is refused in the page, in Chinese
    page.page.click("#gm-batch-run")
    assert "请选择经度列和纬度列" in page.page.text_content("#gm-batch-alert")
    page.page.select_option("#gm-batch-lon", "X坐标")
    page.page.select_option("#gm-batch-lat", "Y坐标")
    page.page.evaluate("document.querySelector('.gm-locate-side').scrollTop = 400")
    page.shot("batch-mapping.png")
    page.page.click("#gm-batch-run")
    page.until("!document.getElementById('gm-batch-summary').classList.contains('d-none')", timeout=60)
    counts = dict(page.page.eval_on_selector_all(
        "#gm-batch-counts li", "els => els.map(e => [e.dataset.status, e.querySelector('.gm-batch-count').textContent])"))
    assert counts == {"ok": "1197", "ambiguous": "0", "outside": "1", "not_found": "0", "invalid": "2"}
    rows = page.page.eval_on_selector_all("#gm-batch-problem-table tbody tr",
                                          "els => els.map(e => Array.from(e.cells).map(c => c.textContent))")
    assert [r[0] for r in rows] == ["6", "10", "13"]
    assert rows[0][1] == "无效" and rows[0][2] == "坐标缺失或不是数字"
    assert rows[1][1] == "不在网格内" and rows[1][2].startswith("不在任何网格内，最近网格 ")
    page.page.evaluate("document.querySelector('.gm-locate-side').scrollTop = 10000")
    page.shot("batch-summary.png")
    page.page.select_option("#gm-batch-format", "csv")
    with page.page.expect_download() as info:
        page.page.click("#gm-batch-download")
    download = info.value
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert download.suggested_filename == "住户坐标_grids.csv"
    assert text.count("\n") == 1201 and "坐标缺失或不是数字" in text and "X坐标" in text.splitlines()[0]
    assert page.errors == []
    assert page.off_host() == []


def test_refusals_stay_in_the_page_in_its_language(page: _Page) -> None:
    page.page.goto(page.base + "/locate?lang=en")
    _upload(page, "empty.csv", b"")
    page.until("!document.getElementById('gm-batch-alert').classList.contains('d-none')")
    assert page.page.text_content("#gm-batch-alert") == "empty.csv: the file is empty"
    assert page.page.query_selector("#gm-locate-map") is not None  # the page, not a JSON document
    page.shot("batch-refusal-en.png")
    page.page.goto(page.base + "/locate?lang=zh")
    _upload(page, "表.csv", b"a,b\n1,2\n")
    page.until("!document.getElementById('gm-batch-mapping').classList.contains('d-none')")
    page.page.select_option("#gm-batch-address", "a")
    page.page.select_option("#gm-batch-lon", "a")
    page.page.click("#gm-batch-run")
    page.until("!document.getElementById('gm-batch-alert').classList.contains('d-none')")
    alert = page.page.text_content("#gm-batch-alert")
    assert "请同时选择经度列和纬度列，或都不选" in alert, alert
    page.shot("batch-refusal-zh.png")
    assert [e for e in page.errors if "400" not in e] == []
