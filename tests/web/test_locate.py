"""The locate JSON API, the batch upload and the locate page, through the Flask test client."""

from __future__ import annotations

import io

import openpyxl
import pytest

from app.geo.dataset import Dataset
from tests.helpers import inside_point, json_error


def test_point_ok(client, ds):
    lon, lat = inside_point(ds.grids, 1)
    r = client.get(f"/api/v1/locate/point?lon={lon}&lat={lat}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["grid"]["code"] == ds.grids["code"].iloc[1]
    assert "staff" not in body["grid"]  # public caller: no staff contacts


def test_point_post_json_with_crs(client, ds):
    from app.geo.crs import wgs84_to_bd09

    lon, lat = inside_point(ds.grids, 2)
    x, y = wgs84_to_bd09(lon, lat)
    r = client.post("/api/v1/locate/point", json={"lon": x, "lat": y, "crs": "bd09"})
    assert r.status_code == 200 and r.get_json()["grid"]["code"] == ds.grids["code"].iloc[2]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("lon=abc&lat=39.7", "must be a number"),
        ("lon=98.3&lat=100", "out of range"),
        ("lon=98.3", "give lon and lat"),
        ("lon=98.3&lat=39.7&crs=EPSG:0", "EPSG:0"),
        ("lon=98.3&lat=39.7&crs=nonsense", "nonsense"),
    ],
)
def test_point_errors_are_json_400(client, query, needle):
    assert needle in json_error(client.get(f"/api/v1/locate/point?{query}"), 400)


def test_point_bad_json_body(client):
    r = client.post("/api/v1/locate/point", data="[1,2", content_type="application/json")
    assert r.status_code == 400


def test_address_ok_and_not_found(client, ds):
    addr = ds.layer("addresses").iloc[3]
    body = client.get("/api/v1/locate/address", query_string={"q": "嘉峪关市" + addr["address"]}).get_json()
    assert body["status"] == "ok" and body["grid"]["code"] == addr["grid_code"]
    body = client.get("/api/v1/locate/address", query_string={"q": "不存在路1号"}).get_json()
    assert body["status"] == "not_found" and body["grid"]["code"] is None


@pytest.mark.parametrize("q", ["", "   "])
def test_empty_address_is_400(client, q):
    assert "empty" in json_error(client.get("/api/v1/locate/address", query_string={"q": q}), 400)


def test_address_bad_limit(client):
    r = client.get("/api/v1/locate/address", query_string={"q": "新华路1号", "limit": "x"})
    assert r.status_code == 400


def _csv(ds: Dataset, encoding: str) -> bytes:
    lon, lat = inside_point(ds.grids, 0)
    addr = ds.layer("addresses").iloc[0]["address"]
    text = f"名称,经度,纬度,地址\n甲,{lon},{lat},\n乙,,,{addr}\n丙,abc,1,\n"
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_batch_csv_encodings(client, ds, encoding):
    data = {"file": (io.BytesIO(_csv(ds, encoding)), "points.csv")}
    r = client.post("/api/v1/locate/batch", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["summary"] == {"ok": 2, "outside": 0, "not_found": 0, "invalid": 1, "total": 3}
    assert [row["名称"] for row in body["rows"]] == ["甲", "乙", "丙"]


def test_batch_returns_xlsx(client, ds):
    data = {"file": (io.BytesIO(_csv(ds, "gb18030")), "points.csv"), "format": "xlsx"}
    r = client.post("/api/v1/locate/batch", data=data, content_type="multipart/form-data")
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in ws[1]]
    assert "grid_code" in header and "status" in header and ws.max_row == 4


def test_batch_returns_csv_with_bom(client, ds):
    data = {"file": (io.BytesIO(_csv(ds, "utf-8")), "points.csv"), "format": "csv"}
    r = client.post("/api/v1/locate/batch", data=data, content_type="multipart/form-data")
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({}, "upload a CSV"),
        ({"file": (io.BytesIO(b""), "empty.csv")}, "empty"),
        ({"file": (io.BytesIO(b"\x00\x01\x02\xff" * 50), "junk.csv")}, "junk.csv"),
        ({"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}, "no lon/lat"),
        ({"file": (io.BytesIO(b"a,b\n1,2\n"), "x.pdf")}, "x.pdf"),
        ({"file": (io.BytesIO(b"lon,lat\n1,2\n"), "x.csv"), "format": "docx"}, "unknown format"),
        ({"file": (io.BytesIO(b"lon,lat\n1,2\n"), "x.csv"), "lon_col": "nope"}, "nope"),
    ],
)
def test_batch_bad_uploads_are_400(client, payload, needle):
    r = client.post("/api/v1/locate/batch", data=payload, content_type="multipart/form-data")
    assert needle in json_error(r, 400)


def test_batch_oversized_upload_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = b"lon,lat\n" + b"98.3,39.7\n" * 500
    r = client.post("/api/v1/locate/batch", data={"file": (io.BytesIO(big), "big.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 413
    assert r.get_json()["status"] == 413


def test_openapi_documents_locate(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/locate/point", "/api/v1/locate/address", "/api/v1/locate/batch", "/healthz"):
        assert path in doc["paths"]


def test_locate_page_renders_in_both_languages(client):
    r = client.get("/locate")
    assert r.status_code == 200 and "定位" in r.get_data(as_text=True)
    r = client.get("/locate?lang=en")
    assert r.status_code == 200 and "Locate" in r.get_data(as_text=True)
