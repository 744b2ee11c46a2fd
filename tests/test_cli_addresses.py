"""`gridmap import addresses` of a standard-address list (标准地址库): stored, validated, served, rolled back."""

from __future__ import annotations

import geopandas as gpd
import pytest

from app.cli import main
from app.geo.geojson_store import VersionedStore
from tests.address_lists import address_list, mini_addresses, write_aliases, write_list
from tests.helpers import make_app, store_settings, tree_digest

pytestmark = pytest.mark.usefixtures("cheap_hashes")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """GRIDMAP_* variables for a versioned store under tmp_path (seeded with the mini city)."""
    for name, value in store_settings(tmp_path).items():
        monkeypatch.setenv(f"GRIDMAP_{name}", str(value))
    return tmp_path


def _current_addresses(root) -> gpd.GeoDataFrame:
    return VersionedStore(root / "store").read("addresses")


def test_import_a_gcj02_list_with_aliases_then_roll_back(env, runner, tmp_path):
    sheet = write_list(address_list(gcj02=True), env / "标准地址库.xlsx")
    aliases = write_aliases(env / "别名.csv")
    r = runner.invoke(main, ["import", "addresses", str(sheet), "--aliases", str(aliases), "--dry-run"])
    assert r.exit_code == 0 and "dry run" in r.output, r.output
    r = runner.invoke(main, ["import", "addresses", str(sheet), "--aliases", str(aliases)])
    assert r.exit_code == 0, r.output
    assert "stored as version 0002-" in r.output and "GCJ-02" in r.output and "没有这条路" in r.output
    stored = _current_addresses(env)
    want = mini_addresses()
    assert list(stored["address"]) == list(want["address"]) and list(stored["grid_code"]) == list(want["grid_code"])
    assert set(stored.loc[stored["street"] == "光华路", "aliases"]) == {"光华大道"}
    # the stored version is a valid city
    current = (env / "store" / "CURRENT").read_text().strip()
    r = runner.invoke(main, ["validate", str(env / "store" / "versions" / current)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["rollback", "1"])
    assert r.exit_code == 0, r.output
    back = _current_addresses(env)
    assert "aliases" not in back.columns and list(back["address"]) == list(want["address"])


def test_the_locate_api_finds_an_address_by_its_alias(env, runner):
    """Needs helper A's matcher (app.geo.address honours ``aliases``) as well as this import."""
    sheet = write_list(address_list(), env / "a.csv")
    r = runner.invoke(main, ["import", "addresses", str(sheet), "--aliases", str(write_aliases(env / "别名.xlsx"))])
    assert r.exit_code == 0, r.output
    client = make_app(env, RATELIMIT_ENABLED=False).test_client()
    want = mini_addresses().set_index("address")
    for q, address in (("光华大道1号", "光华路1号"), ("嘉和苑2号楼", "嘉和小区2号楼")):
        body = client.get("/api/v1/locate/address", query_string={"q": q}).get_json()
        assert body["status"] == "ok", body
        assert body["matched_address"] == address and body["grid"]["code"] == want.loc[address, "grid_code"]


def test_refusals_leave_the_store_unchanged(env, runner):
    runner.invoke(main, ["versions"])  # opens (and seeds) the store
    before = tree_digest(env / "store")
    df = address_list()
    df.loc[2, "楼栋"] = "3-1"
    bad = write_list(df, env / "bad.csv")
    r = runner.invoke(main, ["import", "addresses", str(bad)])
    assert r.exit_code == 1 and "row 4" in r.output and "楼栋" in r.output and "nothing was changed" in r.output
    good = write_list(address_list(), env / "good.csv")
    broken = env / "别名.csv"
    broken.write_text("只有一列\n甲\n", encoding="utf-8")
    r = runner.invoke(main, ["import", "addresses", str(good), "--aliases", str(broken)])
    assert r.exit_code == 1 and "alias" in r.output
    r = runner.invoke(main, ["import", "facilities", str(good), "--aliases", str(write_aliases(env / "a.csv"))])
    assert r.exit_code == 1
    assert tree_digest(env / "store") == before
