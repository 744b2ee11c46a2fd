"""The coverage answer for a tiled map: the units' values by code (no geometry), joined to the vector tiles."""

from __future__ import annotations

from pathlib import Path

from tests import helpers


def test_units_as_a_table_match_the_geojson_answer(data_dir: Path) -> None:
    client = helpers.folder_app(data_dir, VECTOR_TILES_MIN_GRIDS=0).test_client()
    q = "/api/v1/coverage/map?category=bus_stop&radius=500"
    full = client.get(q).get_json()
    resp = client.get(q + "&units=table")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["tiled"] is True and body["units"]["layer"] == "grids" and body["overview"]["layer"] == "committees"
    fields = body["units"]["fields"]
    rows = {r[0]: dict(zip(fields, r, strict=True)) for r in body["units"]["rows"]}
    features = {f["properties"]["code"]: f["properties"] for f in full["units"]["features"]}
    assert rows.keys() == features.keys()
    for code, props in features.items():
        assert {k: props[k] for k in fields} == rows[code]
    assert set(body["units"]) == {"layer", "fields", "rows"}  # no polygon: the tiles draw them
    assert body["summary"] == full["summary"] and body["underserved_count"] == full["underserved_count"]
    for g in body["underserved"]:
        west, south, east, north = g["bbox"]
        assert west < east and south < north
    assert body["facilities"]["features"]


def test_the_page_names_its_tiles_only_above_the_threshold(data_dir: Path) -> None:
    tiled = helpers.folder_app(data_dir, VECTOR_TILES_MIN_GRIDS=0).test_client().get("/coverage").get_data(as_text=True)
    plain = helpers.folder_app(data_dir).test_client().get("/coverage").get_data(as_text=True)
    assert '"tiles":' in tiled and "Leaflet.VectorGrid" in tiled and "/grids/" not in plain
    assert '"tiles":' not in plain


def test_an_unknown_units_form_is_refused(data_dir: Path) -> None:
    client = helpers.folder_app(data_dir).test_client()
    resp = client.get("/api/v1/coverage/map?category=bus_stop&radius=500&units=svg")
    assert resp.status_code == 400 and "units" in resp.get_json()["error"]
