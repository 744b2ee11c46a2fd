"""The application factory: settings order, blueprints, health and layers."""

from __future__ import annotations

import dataclasses

import pytest

from app import create_app, settings


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
    assert app.config["PORT"] == 5000 and app.config["CITY_NAME"] == "嘉峪关"  # defaults, not the env
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
