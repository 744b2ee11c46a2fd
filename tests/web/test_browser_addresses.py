"""The admin page imports a standard-address list (标准地址库) and shows its findings, in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers
from tests.address_lists import address_list, write_workbook
from tests.web.browsing import ARTIFACTS, CHROMIUM
from tests.web.browsing import Page as _Page

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gridmap serve` on a versioned store seeded with the mini city, with an admin account."""
    root = tmp_path_factory.mktemp("addresses")
    settings = helpers.store_settings(root)
    helpers.add_cheap_accounts(Path(settings["INSTANCE_DIR"]))
    with helpers.Server(Path(settings["INSTANCE_DIR"]), Path(settings["DATA_DIR"]), STORE_URL=settings["STORE_URL"],
                        LANGUAGE="zh") as srv:
        yield srv.base


def test_admin_uploads_a_list_and_sees_its_findings(browser: object, server: str, tmp_path: Path) -> None:
    df = address_list(gcj02=True, alias_column=True, residents=False)
    df.loc[4, "社区"] = "朝晖社区"  # row 6: another committee than its grid's
    sheet = write_workbook(df, tmp_path / "标准地址库.xlsx")  # with a sheet 别名 of aliases
    page = _Page(browser, server)
    try:
        p = page.page
        p.goto(server + "/login?next=/admin")
        p.fill("#name", "admin")
        p.fill("#password", helpers.PASSWORDS["admin"])
        p.click("form[action$='/login'] button[type=submit]")
        p.wait_for_load_state()
        p.goto(server + "/admin")
        p.select_option("#layer", "addresses")
        p.set_input_files("#file", str(sheet))
        p.click("form[action$='/admin/import'] button[type=submit]")
        p.wait_for_load_state()
        text = p.inner_text("main")
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / "admin-address-list.png"), full_page=True)  # every finding
        assert "地址由各部分组成" in text and "街道或社区与网格不符" in text and "row 6" in text
        assert "缺少人口或户数" in text and "GCJ-02" in text and "标准地址库.xlsx:别名 row 5" in text
        assert "0002" in text  # stored as a new version
        assert page.errors == [] and page.off_host() == []
    finally:
        page.close()
