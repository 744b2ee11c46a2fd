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
    assert body["summary"] == {"ok": 2, "ambiguous": 0, "outside": 0, "not_found": 0, "invalid": 1, "total": 3}
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


# --------------------------------------------------------------------------- the page's batch steps


def _unusual_csv(ds: Dataset) -> bytes:
    """Headers no detector knows (东经/北纬), one good row, one outside every grid, one bad."""
    lon, lat = inside_point(ds.grids, 0)
    return f"序号,东经,北纬\n1,{lon},{lat}\n2,10.0,10.0\n3,abc,\n".encode()


def _preview(client, data: bytes, name: str = "点位.csv", **query: str) -> dict:
    r = client.post("/api/v1/locate/batch/preview", query_string=query,
                    data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _wait(client, url: str, **query: str) -> dict:
    import time

    for _ in range(200):
        body = client.get(url, query_string=query).get_json()
        if body["state"] != "running":
            return body
        time.sleep(0.05)
    raise AssertionError("the batch job did not finish")


def test_batch_preview_of_unrecognised_headers_asks_for_the_columns(client, ds):
    p = _preview(client, _unusual_csv(ds))
    assert p["mode"] == "none" and p["detected"] == {"lon": None, "lat": None, "address": None}
    assert p["columns"] == ["序号", "东经", "北纬"] and p["total"] == 3
    assert p["rows"][0][0] == "1" and len(p["rows"]) == 3 and p["job"]


def test_batch_preview_detects_known_headers(client, ds):
    p = _preview(client, _csv(ds, "gb18030"))
    assert p["mode"] == "coords" and p["detected"] == {"lon": "经度", "lat": "纬度", "address": "地址"}


def test_batch_run_with_chosen_columns_reports_progress_summary_and_problems(client, ds):
    p = _preview(client, _unusual_csv(ds))
    r = client.post("/api/v1/locate/batch/run", json={"job": p["job"], "lon_col": "东经", "lat_col": "北纬",
                                                      "crs": "4326"})
    assert r.status_code == 202, r.get_json()
    st = _wait(client, r.get_json()["status_url"], lang="zh")
    assert st["state"] == "done" and st["done"] == st["total"] == 3
    assert st["summary"] == {"ok": 1, "ambiguous": 0, "outside": 1, "not_found": 0, "invalid": 1, "total": 3}
    assert [(x["row"], x["status"]) for x in st["problems"]] == [(3, "outside"), (4, "invalid")]
    assert st["problems"][1]["message"] == "坐标缺失或不是数字"
    assert st["problems"][0]["values"] == {"东经": "10.0", "北纬": "10.0"}
    csv = client.get(st["download_url"], query_string={"lang": "zh"})
    assert csv.status_code == 200 and csv.data.startswith(b"\xef\xbb\xbf")
    assert "坐标缺失或不是数字" in csv.data.decode("utf-8-sig")
    xlsx = client.get(st["download_url"], query_string={"format": "xlsx", "lang": "en"})
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    header = [c.value for c in ws[1]]
    assert ws.max_row == 4 and "missing or non-numeric coordinates" in [c.value for c in ws[4]]
    assert "grid_code" in header


@pytest.mark.parametrize(
    ("body", "zh", "en"),
    [
        ({}, "请同时选择经度列和纬度列", "choose the lon and lat columns"),
        ({"lon_col": "东经"}, "请同时选择经度列和纬度列，或都不选", "give both the lon and the lat column"),
        ({"lon_col": "东经", "lat_col": "纬"}, "找不到纬度列", "lat column '纬' not found"),
        ({"lon_col": "东经", "lat_col": "北纬", "crs": "EPSG:0"}, "坐标系", "EPSG:0"),
    ],
)
def test_batch_run_refusals_speak_the_pages_language(client, ds, body, zh, en):
    p = _preview(client, _unusual_csv(ds))
    for lang, needle in (("zh", zh), ("en", en)):
        r = client.post("/api/v1/locate/batch/run", query_string={"lang": lang}, json={"job": p["job"], **body})
        assert r.status_code == 400 and needle in r.get_json()["error"], r.get_json()
        assert r.get_json()["code"]


def test_batch_unknown_job_is_404(client):
    r = client.post("/api/v1/locate/batch/run", json={"job": "nope"})
    assert r.status_code == 404 and "upload the file again" in r.get_json()["error"]
    r = client.get("/api/v1/locate/jobs/nope", query_string={"lang": "zh"})
    assert r.status_code == 404 and "重新上传" in r.get_json()["error"]


def test_batch_preview_refusals_are_translated(client):
    r = client.post("/api/v1/locate/batch/preview", query_string={"lang": "zh"},
                    data={"file": (io.BytesIO(b""), "空.csv")}, content_type="multipart/form-data")
    assert r.status_code == 400 and r.get_json()["error"] == "空.csv：文件是空的。"
    assert r.get_json()["code"] == "table"


def test_json_errors_keep_english_for_scripts_and_follow_the_page(client):
    r = client.get("/api/v1/locate/point?lon=abc&lat=1")
    assert "must be a number" in r.get_json()["error"]  # a script that names no language
    r = client.get("/api/v1/locate/point?lon=abc&lat=1", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.get_json()["error"].startswith("经度必须是数字")  # the page's default language (zh)
    r = client.get("/api/v1/locate/point?lon=abc&lat=1&lang=en", headers={"Sec-Fetch-Site": "same-origin"})
    assert "must be a number" in r.get_json()["error"]


def test_batch_api_rows_in_chinese_when_asked(client, ds):
    data = {"file": (io.BytesIO(_csv(ds, "utf-8")), "points.csv")}
    r = client.post("/api/v1/locate/batch", data=data, content_type="multipart/form-data")
    assert r.get_json()["rows"][2]["message"] == "missing or non-numeric coordinates"  # scripts: as before
    data = {"file": (io.BytesIO(_csv(ds, "utf-8")), "points.csv")}
    r = client.post("/api/v1/locate/batch?lang=zh", data=data, content_type="multipart/form-data")
    assert r.get_json()["rows"][2]["message"] == "坐标缺失或不是数字"


def test_batch_job_is_chunked(client, ds, monkeypatch):
    from app.web import _locate_batch

    monkeypatch.setattr(_locate_batch, "CHUNK_ROWS", 2)
    lon, lat = inside_point(ds.grids, 0)
    text = "lon,lat\n" + "".join(f"{lon},{lat}\n" for _ in range(7))
    p = _preview(client, text.encode())
    r = client.post("/api/v1/locate/batch/run", json={"job": p["job"], "lon_col": "lon", "lat_col": "lat"})
    st = _wait(client, r.get_json()["status_url"])
    assert st["summary"]["ok"] == 7 and st["done"] == 7 and st["problems"] == []


def test_locate_page_has_the_batch_steps(client):
    html = client.get("/locate").get_data(as_text=True)
    for marker in ("gm-batch-mapping", "gm-batch-progress", "gm-batch-summary", "第 2 步：确认列"):
        assert marker in html


def test_address_answer_carries_matched_address_kind_and_score(client, ds):
    addr = ds.layer("addresses").iloc[3]
    body = client.get("/api/v1/locate/address", query_string={"q": "甘肃省嘉峪关市" + addr["address"] + "2单元301室"}).get_json()
    assert body["status"] == "ok" and body["matched_address"] == addr["address"]
    assert body["match_kind"] == "normalised" and body["score"] == 100
    assert body["candidates"][0]["grid_code"] == addr["grid_code"] and body["candidates"][0]["grid_name"]
    nothing = client.get("/api/v1/locate/address", query_string={"q": "不详"}).get_json()
    assert nothing["status"] == "not_found" and nothing["candidates"] == [] and nothing["match_kind"] == "not_found"


def test_reverse_lookup_api(client, ds):
    addr = ds.layer("addresses").iloc[5]
    p = addr.geometry
    r = client.get("/api/v1/locate/reverse", query_string={"lon": p.x, "lat": p.y + 0.0001})
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["address"]["address"] == addr["address"] and 10 < body["address"]["distance_m"] < 12.5
    far = client.get("/api/v1/locate/reverse", query_string={"lon": p.x + 1, "lat": p.y}).get_json()
    assert far["status"] == "not_found" and far["address"] is None
    for lon, lat in ((-179, 0), (179.9, -89.9)):  # beyond what the city's metric CRS can project
        r = client.get("/api/v1/locate/reverse", query_string={"lon": lon, "lat": lat})
        assert r.status_code == 200 and r.get_json()["address"] is None
        assert client.get("/api/v1/locate/point", query_string={"lon": lon, "lat": lat}).status_code == 200
    assert "out of range" in json_error(client.get("/api/v1/locate/reverse?lon=98.3&lat=100"), 400)
    assert "纬度" in json_error(client.get("/api/v1/locate/reverse?lon=98.3&lat=100&lang=zh"), 400)
    point = client.get("/api/v1/locate/point", query_string={"lon": p.x, "lat": p.y, "display": "gcj02"}).get_json()
    assert point["nearest_address"]["address"] == addr["address"] and "display" in point["nearest_address"]


def test_openapi_documents_reverse_and_the_explained_address(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/locate/reverse" in doc["paths"]
    answer = doc["components"]["schemas"]["AddressAnswer"]["properties"]
    assert {"matched_address", "match_kind", "score"} <= set(answer)
    assert "ambiguous" in answer["status"]["enum"]


def test_batch_rows_flag_swaps_and_carry_the_new_columns(client, ds):
    lon, lat = inside_point(ds.grids, 0)
    addr = ds.layer("addresses").iloc[3]["address"]
    text = f"名称,经度,纬度,地址\n甲,{lat},{lon},\n乙,,,{addr}\n丙,99.9,39.77,\n"
    data = {"file": (io.BytesIO(text.encode()), "points.csv")}
    body = client.post("/api/v1/locate/batch?lang=zh", data=data, content_type="multipart/form-data").get_json()
    rows = body["rows"]
    assert [r["status"] for r in rows] == ["ok", "ok", "outside"]
    assert rows[0]["message"] == "经纬度顺序颠倒，已按 纬度,经度 解读" and rows[0]["nearest_address"]
    assert rows[1]["matched_address"] == addr and rows[1]["match_kind"] == "exact"
    assert rows[2]["message"].startswith("不在任何网格内，最近网格 ")
    p = _preview(client, text.encode())
    r = client.post("/api/v1/locate/batch/run", json={"job": p["job"]})
    st = _wait(client, r.get_json()["status_url"], lang="zh")
    assert [(x["row"], x["status"]) for x in st["problems"]] == [(2, "ok"), (4, "outside")]
    assert st["problems"][0]["message"].startswith("经纬度顺序颠倒")
    csv = client.get(st["download_url"], query_string={"lang": "zh"}).data.decode("utf-8-sig")
    header = csv.splitlines()[0].split(",")
    assert {"matched_address", "match_kind", "nearest_address", "nearest_address_m"} <= set(header)
    assert "不在任何网格内" in csv


@pytest.mark.parametrize(("lang", "needles"), [
    ("zh", ["模糊匹配：您输入的是", "匹配地址", "最近地址", "地址有歧义"]),
    ("en", ["Fuzzy match: you typed", "Matched address", "Nearest address", "Ambiguous address"]),
])
def test_locate_page_carries_the_new_words_in_both_languages(client, lang, needles):
    import html

    page = html.unescape(client.get(f"/locate?lang={lang}").get_data(as_text=True))
    for needle in needles:
        assert needle in page, needle
