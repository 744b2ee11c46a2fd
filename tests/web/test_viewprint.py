"""The print endpoints: PNG and PDF downloads, 400s naming the parameter in both languages, OpenAPI."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def _bbox(client: FlaskClient) -> str:
    from app.web import dataset

    with client.application.app_context():
        b = dataset().layer("grids").total_bounds
    return ",".join(f"{v:.6f}" for v in b)


def test_png_and_pdf(client: FlaskClient) -> None:
    box = _bbox(client)
    r = client.get(f"/export/view.png?bbox={box}&size=500x300&layers=grids,divisions")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:4] == b"\x89PNG"
    assert "attachment" in r.headers["Content-Disposition"]
    r = client.get(f"/export/view.pdf?bbox={box}&size=500x300&lang=en")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")


@pytest.mark.parametrize(("query", "param"), [
    ("", "bbox"), ("bbox=x", "bbox"), ("view=40/1/1", "view"), ("view=12/39/98&size=axb", "size"),
    ("view=12/39/98&layers=x", "layers"), ("view=12/39/98&attr=x", "attr"), ("view=12/39/98&sel=grid", "sel"),
])
def test_bad_parameters_are_400_json(client: FlaskClient, query: str, param: str) -> None:
    r = client.get(f"/export/view.png?{query}", headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.is_json
    body = r.get_json()
    assert body["code"] == "viewprint" and body["parameter"] == param


def test_unknown_selection_is_400_in_chinese(client: FlaskClient) -> None:
    r = client.get(f"/export/view.pdf?bbox={_bbox(client)}&sel=grid:nope&lang=zh",
                   headers={"Accept": "application/json", "Accept-Language": "zh-CN"})
    assert r.status_code == 400 and r.get_json()["parameter"] == "sel"


def test_openapi_documents_both(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/export/view.png" in paths and "/export/view.pdf" in paths
