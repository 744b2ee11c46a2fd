"""The city profile (app.geo.city) and what a Dataset takes from it: names, title, metric CRS."""

from __future__ import annotations

import json

import pytest

from app.geo.city import DEFAULT_TITLE, City, short_form, title_name
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests import helpers
from tests.geo.test_checkup import write_city


@pytest.mark.parametrize(("name", "short"), [
    ("嘉峪关市", "嘉峪关"), ("兰州市", "兰州"), ("阿里地区", "阿里"), ("阿拉善盟", "阿拉善"),
    ("临夏回族自治州", "临夏"), ("海西蒙古族藏族自治州", "海西"), ("巴音郭楞蒙古自治州", "巴音郭楞"),
    ("伊犁哈萨克自治州", "伊犁"), ("甘肃省", "甘肃"), ("新疆维吾尔自治区", "新疆"), ("内蒙古自治区", "内蒙古"),
    ("广西壮族自治区", "广西"), ("香港特别行政区", "香港"), ("北京市", "北京"), ("沙市", "沙市"),
    ("Riverton", "Riverton"), ("", ""), (" 兰州市 ", "兰州"),
])
def test_short_form(name, short):
    assert short_form(name) == short


def test_defaults_know_nothing():
    city = City()
    assert (city.name, city.short_name, city.province, city.districts) == ("", "", "", ())
    assert city.code_scheme == "free" and city.metric_crs == "" and not city.synthetic
    assert City.from_metadata({}) == city and City.from_metadata({"city": "nonsense"}) == city


def test_metadata_round_trip():
    city = City(name="兰州市", name_en="Lanzhou", province="甘肃省", districts=("城关区", "七里河区"),
                code_scheme="cn-9-12-15", metric_crs="EPSG:4544")
    meta = city.to_metadata()
    assert json.loads(json.dumps(meta, ensure_ascii=False)) == meta
    assert meta["districts"] == ["城关区", "七里河区"]
    assert City.from_metadata({"name": "兰州网格", "city": meta}) == city


def test_older_metadata_and_bad_values():
    old = {"name": "嘉峪关市（合成演示数据）", "synthetic": True, "metric_crs": "EPSG:4542"}
    city = City.from_metadata(old)
    assert city.metric_crs == "EPSG:4542" and city.synthetic and city.name == ""
    odd = City.from_metadata({"city": {"name": 12, "districts": "城关区", "synthetic": "yes", "code_scheme": None}})
    assert odd.name == "" and odd.districts == ("城关区",) and not odd.synthetic and odd.code_scheme == "free"
    assert City.from_metadata({"city": {"districts": ["城关区", "", None, " 西固区 "]}}).districts == ("城关区", "西固区")


def test_title_name():
    jyg = {"name": "嘉峪关市（合成演示数据）", "city": City(name="嘉峪关市", name_en="Jiayuguan").to_metadata()}
    assert (title_name(jyg, "zh"), title_name(jyg, "en")) == ("嘉峪关", "Jiayuguan")
    assert title_name(jyg, "zh", override="兰州") == "兰州"
    en_only = {"city": {"name_en": "Riverton"}}
    assert (title_name(en_only, "zh"), title_name(en_only, "en")) == ("Riverton", "Riverton")
    zh_only = {"city": {"name": "河湾市"}}
    assert title_name(zh_only, "en") == "河湾"
    assert title_name({"name": "某某网格数据"}, "en") == "某某网格数据"
    assert title_name({}, "zh") == DEFAULT_TITLE == "gridmap"


def test_dataset_city_and_declared_metric_crs(tmp_path):
    ds = Dataset(FolderStore(helpers.MINI))
    assert ds.city.name == "嘉峪关市" and ds.city.code_scheme == "cn-9-12-15" and ds.metric_crs == "EPSG:4542"
    # a city may declare its CRS: used when it covers the data ...
    lanzhou = write_city(tmp_path / "lz", lon=103.8, lat=36.05,
                         city=City(name="兰州市", province="甘肃省", metric_crs="EPSG:32648").to_metadata())
    assert Dataset(FolderStore(lanzhou)).metric_crs == "EPSG:32648"  # UTM 48N: 102-108°E
    # ... and the data's own Gauss-Kruger zone otherwise (CM 105E for 103.8°E)
    for declared in ("", "EPSG:4542", "EPSG:4326", "not a crs"):
        meta = json.loads((lanzhou / "metadata.json").read_text(encoding="utf-8"))
        meta["city"]["metric_crs"] = declared
        (lanzhou / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        assert Dataset(FolderStore(lanzhou)).metric_crs == "EPSG:4544", declared


def test_a_chinese_city_serves_its_own_words(tmp_path):
    from app import create_app

    folder = write_city(tmp_path / "lz", lon=103.8, lat=36.05,
                        city=City(name="兰州市", name_en="Lanzhou", province="甘肃省",
                                  districts=("城关区",)).to_metadata())
    app = create_app({"DATA_DIR": str(folder), "TESTING": True})
    c = app.test_client()
    assert c.get("/").status_code == 200
    page = c.get("/locate").get_data(as_text=True)
    assert "兰州网格地图" in page and "EPSG:4544" in page and "CM 105E" in page
    assert "Lanzhou Grid Map" in c.get("/locate?lang=en").get_data(as_text=True)
    body = c.get("/api/v1/locate/address?q=甘肃省兰州市城关区Main Street 2").get_json()
    assert body["status"] == "ok" and body["candidates"][0]["grid_code"] == "G-02"


def test_pinyin_name_is_the_default_english_name():
    from app.geo.city import pinyin_name

    assert pinyin_name("河湾市") == "Hewan"
    assert pinyin_name("兰州市") == "Lanzhou"
    assert pinyin_name("Fjordvik") == "Fjordvik"
