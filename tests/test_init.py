"""The application factory: settings order, blueprints, health and layers."""

from __future__ import annotations

import dataclasses

import pytest

from app import create_app, settings
from app.geo.checkup import DataCheckError
from tests import helpers
from tests.geo.test_checkup import write_city


def test_defaults_then_env(monkeypatch, data_dir, tmp_path):
    monkeypatch.setenv("GRIDMAP_PORT", "8123")
    monkeypatch.setenv("GRIDMAP_BASEMAP", "osm")
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    app = create_app()
    assert app.config["PORT"] == 8123  # env over default, coerced to int
    assert app.config["BASEMAP"] == "osm"
    assert app.config["LANGUAGE"] == "zh"  # default
    config = app.extensions["gridmap.config"]
    assert config.PORT == 8123 and isinstance(config, settings.Config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.PORT = 1


def test_test_config_is_not_mixed_with_the_environment(monkeypatch, data_dir):
    monkeypatch.setenv("GRIDMAP_PORT", "8123")
    monkeypatch.setenv("GRIDMAP_CITY_NAME", "兰州")
    app = create_app({"DATA_DIR": str(data_dir), "BASEMAP": "none", "TESTING": True})
    assert app.config["PORT"] == 5000 and app.config["CITY_NAME"] == ""  # defaults, not the env
    assert app.config["BASEMAP"] == "none" and app.config["TESTING"] is True


def test_a_bad_setting_names_its_variable(monkeypatch, data_dir):
    monkeypatch.setenv("GRIDMAP_PORT", "eighty")
    with pytest.raises(settings.SettingError, match="GRIDMAP_PORT must be a whole number"):
        settings.resolve()
    with pytest.raises(settings.SettingError, match="GRIDMAP_BASEMAP must be one of"):
        create_app({"DATA_DIR": str(data_dir), "BASEMAP": "google"})


def test_secret_key_generated_when_unset(data_dir):
    a = create_app({"DATA_DIR": str(data_dir)})
    b = create_app({"DATA_DIR": str(data_dir)})
    assert a.config["SECRET_KEY"] and a.config["SECRET_KEY"] != b.config["SECRET_KEY"]


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and len(body["data_version"]) == 12


def test_layers_lists_counts_and_version(client):
    body = client.get("/api/v1/layers").get_json()
    names = {layer["name"]: layer["count"] for layer in body["layers"]}
    assert {"grids", "committees", "divisions", "facilities", "addresses", "roads"} <= set(names)
    assert all(n > 0 for n in names.values())
    assert body["data_version"]


@pytest.mark.geojson_store  # edits a layer file of the plain folder under the running app
def test_data_version_changes_when_a_layer_changes(client, data_dir):
    before = client.get("/healthz").get_json()["data_version"]
    p = data_dir / "roads.geojson"
    p.write_bytes(p.read_bytes().replace(b'"name"', b'"name"', 1) + b"\n")
    after = client.get("/healthz").get_json()["data_version"]
    assert before != after


def test_unknown_api_route_is_json_404(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.get_json()["status"] == 404


def test_city_name_is_a_setting(data_dir):
    app = create_app({"DATA_DIR": str(data_dir), "CITY_NAME": "兰州", "CITY_NAME_EN": "Lanzhou"})
    c = app.test_client()
    assert "兰州网格地图" in c.get("/locate").get_data(as_text=True)
    assert "Lanzhou Grid Map" in c.get("/locate?lang=en").get_data(as_text=True)


def test_city_name_comes_from_the_stored_city(data_dir, tmp_path):
    c = create_app({"DATA_DIR": str(data_dir)}).test_client()
    assert "嘉峪关网格地图" in c.get("/locate").get_data(as_text=True)  # the mini city's metadata: 嘉峪关市
    assert "Jiayuguan Grid Map" in c.get("/locate?lang=en").get_data(as_text=True)
    other = write_city(tmp_path / "riverton")  # only an English name
    c = create_app({"DATA_DIR": str(other)}).test_client()
    assert "Riverton网格地图" in c.get("/locate").get_data(as_text=True)
    assert "Riverton Grid Map" in c.get("/locate?lang=en").get_data(as_text=True)
    (other / "metadata.json").write_text('{"name": "河湾市"}', encoding="utf-8")  # no city: the metadata's name
    c = create_app({"DATA_DIR": str(other)}).test_client()
    assert "河湾市网格地图" in c.get("/locate").get_data(as_text=True)
    (other / "metadata.json").unlink()
    c = create_app({"DATA_DIR": str(other)}).test_client()
    assert "gridmap Grid Map" in c.get("/locate?lang=en").get_data(as_text=True)


def test_another_city_without_area_serves_every_map(tmp_path):
    folder = write_city(tmp_path / "riverton")  # grids and facilities only, no area_m2, outside China
    app = create_app({"DATA_DIR": str(folder), "TESTING": True})
    assert app.extensions["gridmap.checkup"] == []
    c = app.test_client()
    home = c.get("/")
    assert home.status_code == 200, home.get_data(as_text=True)[:2000]
    ds = app.extensions["gridmap.data"].current()
    data = c.get(f"/map/data/{ds.version}.wgs84.json")
    assert data.status_code == 200 and data.get_json()
    page = c.get("/locate").get_data(as_text=True)
    assert "EPSG:32635" in page and "4542" not in page  # the city's metric CRS, not Jiayuguan's
    assert "24.93" in page  # the start view and the hint come from the grids
    assert c.get("/api/v1/locate/point?lon=24.935&lat=60.172").get_json()["grid"]["code"] == "G-01"


def test_a_folder_without_a_needed_field_stops_at_start(tmp_path, runner, monkeypatch):
    folder = write_city(tmp_path / "broken", drop=("name",))
    with pytest.raises(DataCheckError) as info:
        create_app({"DATA_DIR": str(folder)})
    assert "grids" in info.value.message and "name" in info.value.message
    assert str(folder) in info.value.message
    from app.cli import main

    monkeypatch.setenv("GRIDMAP_INSTANCE_DIR", str(tmp_path / "inst"))
    result = runner.invoke(main, ["serve", "--data-dir", str(folder)])
    assert result.exit_code == 1
    assert "缺少字段 missing_field [grids] 字段 field name" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, DataCheckError)


@pytest.mark.store
def test_a_store_of_the_mini_city_passes_the_check(tmp_path):
    app = create_app({"TESTING": True, **helpers.store_settings(tmp_path)})
    assert app.extensions["gridmap.checkup"] == []
