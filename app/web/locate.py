"""Locate views: the JSON API under /api/v1/locate and the /locate page."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file, url_for
from shapely.geometry import mapping

from app import messages as _messages
from app.geo import mapdata, tabular
from app.geo.crs import wgs84_to_gcj02
from app.geo.dataset import Dataset
from app.geo.locate import locate_address, locate_frame, locate_point, parse_crs, reverse_lookup, summarize
from app.web import _locate_batch, assets, auth, dataset, i18n
from app.web._locate_json import json_bytes
from app.web.errors import ApiError, json_lang, message_of
from app.web.openapi import CRS_PARAM, ERROR, error_responses

bp = Blueprint("locate", __name__)

#: Output formats of the batch endpoint and their MIME types.
BATCH_FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
#: Room left in a batch request's body for the form around the file (boundaries, other fields).
_FORM_SLACK = 64 * 1024

#: The query parameters of a single coordinate: lon/lat (or x/y in a projected CRS) and its CRS.
_POINT_PARAMS = (
    {"name": "lon", "in": "query", "required": True, "description": "Longitude, or x in a projected CRS",
     "schema": {"type": "number"}},
    {"name": "lat", "in": "query", "required": True, "description": "Latitude, or y in a projected CRS",
     "schema": {"type": "number"}},
    CRS_PARAM,
)

OPENAPI_PATHS = {
    "/api/v1/locate/point": {"get": {
        "summary": "Which grid a coordinate falls in", "operationId": "locatePoint",
        "parameters": [
            *_POINT_PARAMS,
        ],
        "responses": {"200": {"description": "the grid (grid.code is null outside every grid)",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PointAnswer"}}}},
                      **error_responses(400)},
    }},
    "/api/v1/locate/address": {"get": {
        "summary": "Which grid an address falls in, with ranked candidates", "operationId": "locateAddress",
        "parameters": [
            {"name": "q", "in": "query", "required": True, "description": "The address, e.g. 嘉峪关市新华路12号",
             "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                           "maximum": 20, "default": 5}},
        ],
        "responses": {"200": {"description": "the matched standard address, how it was matched and ranked candidates; "
                                             "an ambiguous answer lists the candidates and picks no grid",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AddressAnswer"}}}},
                      **error_responses(400)},
    }},
    "/api/v1/locate/reverse": {"get": {
        "summary": "The standard address nearest a coordinate, with its distance in metres", "operationId": "locateReverse",
        "parameters": [
            *_POINT_PARAMS,
        ],
        "responses": {"200": {"description": "the nearest address (status not_found and address null when none is "
                                             "within max_distance_m); distances in the city's metric CRS",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReverseAnswer"}}}},
                      **error_responses(400)},
    }},
    "/api/v1/locate/batch": {"post": {
        "summary": "Assign every row of a CSV/XLSX file to a grid", "operationId": "locateBatch",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "CSV (UTF-8, UTF-8 BOM or GB18030) or XLSX with lon/lat or address columns"},
                "crs": {"type": "string"},
                "format": {"type": "string", "enum": ["json", "csv", "xlsx", "geojson"], "default": "json"},
            }}}}},
        "responses": {"200": {"description": "rows with grid, status and score (JSON or a file)"},
                      **error_responses(400, 413),
                      "401": {"description": "sign-in needed (GRIDMAP_BATCH_REQUIRE_SIGN_IN)",
                              "content": {"application/json": {"schema": ERROR}}}},
    }},
    "/api/v1/locate/batch/preview": {"post": {
        "summary": "Hold an uploaded CSV/XLSX file for its column mapping; answer its columns and first rows",
        "operationId": "locateBatchPreview",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": {"description": "job id, columns, detected lon/lat/address columns (null when not "
                                             "recognised), the first rows and the row count"},
                      **error_responses(400, 413)},
    }},
    "/api/v1/locate/batch/run": {"post": {
        "summary": "Start locating a previewed file with the chosen columns and CRS", "operationId": "locateBatchRun",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["job"],
            "properties": {"job": {"type": "string"}, "lon_col": {"type": "string"}, "lat_col": {"type": "string"},
                           "address_col": {"type": "string"}, "crs": {"type": "string"}}}}}},
        "responses": {"202": {"description": "started; poll status_url"}, **error_responses(400, 404, 429)},
    }},
    "/api/v1/locate/jobs/{job}": {"get": {
        "summary": "A batch job's progress; when done its summary and first problem rows", "operationId": "locateJob",
        "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "state (running, done or failed), done and total rows, summary, "
                                             "problems, download_url"}, **error_responses(404)},
    }},
    "/api/v1/locate/jobs/{job}/download": {"get": {
        "summary": "A finished batch job's rows as a file", "operationId": "locateJobDownload",
        "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "format", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": list(BATCH_FORMATS), "default": "csv"}}],
        "responses": {"200": {"description": "CSV, XLSX or GeoJSON"}, **error_responses(404, 413),
                      "409": {"description": "the job is not finished", "content": {"application/json": {"schema": ERROR}}}},
    }},
}

_NEAREST_ADDRESS = {"$ref": "#/components/schemas/NearestAddress"}
OPENAPI_SCHEMAS = {
    "NearestAddress": {"type": "object", "required": ["address", "distance_m"], "properties": {
        "address": {"type": "string"}, "id": {"type": "string"}, "grid_code": {"type": "string"},
        "lon": {"type": "number"}, "lat": {"type": "number"},
        "distance_m": {"type": "number", "description": "metres, in the city's metric CRS"}}},
    "AddressCandidate": {"type": "object", "properties": {
        "address": {"type": "string"}, "score": {"type": "number"}, "grid_code": {"type": "string"},
        "grid_name": {"type": ["string", "null"]}, "lon": {"type": "number"}, "lat": {"type": "number"}}},
    "AddressAnswer": {"type": "object",
                      "required": ["status", "matched_address", "match_kind", "score", "candidates", "grid"],
                      "properties": {
        "status": {"type": "string", "enum": ["ok", "ambiguous", "not_found"]},
        "normalized": {"type": "string"},
        "matched_address": {"type": ["string", "null"], "description": "the standard address matched (null unless ok)"},
        "match_kind": {"type": "string", "enum": ["exact", "normalised", "fuzzy", "ambiguous", "not_found"]},
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "candidates": {"type": "array", "items": {"$ref": "#/components/schemas/AddressCandidate"}},
        "grid": {"$ref": "#/components/schemas/Grid"}, "data_version": {"type": "string"}}},
    "ReverseAnswer": {"type": "object", "required": ["status", "address"], "properties": {
        "status": {"type": "string", "enum": ["ok", "not_found"]},
        "address": {"oneOf": [_NEAREST_ADDRESS, {"type": "null"}]},
        "wgs84": {"type": "object"}, "max_distance_m": {"type": "number"}, "data_version": {"type": "string"}}},
}


def _personal() -> bool:
    """Whether the caller may see staff contacts."""
    check = current_app.extensions.get("gridmap.can_see_personal")
    return bool(check and check())


def _args() -> dict:
    """Query-string parameters merged with a JSON body, if any."""
    params = dict(request.args)
    if request.environ.get("CONTENT_TYPE") and request.is_json:  # a GET without a body has no Content-Type
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("the JSON body must be an object")
        params.update(body)
    return params


def _coordinates(params: dict) -> tuple[Any, Any]:
    """The raw lon/lat (or x/y) of a request's parameters; a 400 when either is missing."""
    x = params.get("lon", params.get("x"))
    y = params.get("lat", params.get("y"))
    if x is None or y is None:
        raise ApiError("give lon and lat (or x and y)")
    return x, y


def point_answer(ds: Dataset, params: Mapping[str, Any], personal: bool) -> dict[str, Any]:
    """The answer of one point lookup for a request's parameters (the view's and the fast lane's).

    Parameters
    ----------
    ds : Dataset
        The data version the request works on.
    params : mapping
        The request's parameters: ``lon``/``lat`` (or ``x``/``y``), ``crs`` and ``display``.
    personal : bool
        Whether the caller may see staff contacts.

    Returns
    -------
    dict
        :func:`app.geo.locate.locate_point`'s answer, with GCJ-02 ``display`` points when asked.

    Raises
    ------
    app.errors.GridmapError
        A missing or bad coordinate or CRS (400).
    """
    x, y = _coordinates(params)
    answer = locate_point(ds, x, y, params.get("crs"), personal=personal)
    if params.get("display") == "gcj02":  # the page draws on GCJ-02 tiles (AMap)
        answer["display"] = _gcj02(answer["wgs84"])
        if answer.get("nearest_address"):
            answer["nearest_address"]["display"] = _gcj02(answer["nearest_address"])
    return answer


@bp.route("/api/v1/locate/point", methods=["GET", "POST"])
def api_point():
    """Locate one coordinate: lon/lat (or x/y) and an optional crs."""
    return _json(point_answer(dataset(), _args(), _personal()))


@bp.route("/api/v1/locate/reverse", methods=["GET", "POST"])
def api_reverse():
    """The standard address nearest one coordinate: lon/lat (or x/y) and an optional crs."""
    p = _args()
    x, y = _coordinates(p)
    answer = reverse_lookup(dataset(), x, y, p.get("crs"))
    if p.get("display") == "gcj02" and answer["address"]:
        answer["address"]["display"] = _gcj02(answer["address"])
    return _json(answer)


@bp.route("/api/v1/locate/address", methods=["GET", "POST"])
def api_address():
    """Locate one address through the gazetteer: q (the address) and an optional limit."""
    p = _args()
    text = p.get("q", p.get("address"))
    try:
        limit = int(p.get("limit", 5))
    except (TypeError, ValueError):
        raise ApiError("limit must be a whole number") from None
    if not 1 <= limit <= 20:
        raise ApiError("limit must be between 1 and 20")
    answer = locate_address(dataset(), text, limit=limit, personal=_personal())
    if p.get("display") == "gcj02":
        for cand in answer["candidates"]:
            cand["display"] = _gcj02(cand)
    return _json(answer)


def _json(answer: dict) -> Response:
    """``jsonify(answer)`` for one lookup's answer, with the same bytes, serialised by orjson (about 10x cheaper).

    Flask's compact form sorts the keys, keeps Chinese as UTF-8 and ends with a newline; so does
    this. An answer orjson cannot write alike (a number in exponent form, a type it does not know,
    debug mode's indented output) goes through ``jsonify``.
    """
    provider = current_app.json
    body = json_bytes(answer, provider, current_app.debug)
    if body is None:
        return jsonify(answer)
    return current_app.response_class(body, mimetype=provider.mimetype)


def _gcj02(point: dict) -> dict:
    """A WGS84 ``{"lon", "lat"}`` as GCJ-02, for drawing on AMap tiles."""
    lon, lat = wgs84_to_gcj02(point["lon"], point["lat"])
    return {"lon": round(float(lon), 7), "lat": round(float(lat), 7)}


def _read_upload() -> tuple[pd.DataFrame, str, tabular.TableLimits]:
    """The uploaded table of a batch request, held to the caller's limits: (table, file name, limits).

    The upload is held to :class:`~app.geo.tabular.TableLimits`: the staff's, or the lower ones
    of the public; with ``BATCH_REQUIRE_SIGN_IN`` the public get 401.
    """
    config = current_app.extensions["gridmap.config"]
    signed_in = auth.has_role("staff")
    if config.BATCH_REQUIRE_SIGN_IN and not signed_in:
        raise ApiError("sign in as staff to use batch jobs (GRIDMAP_BATCH_REQUIRE_SIGN_IN)", 401)
    limits = tabular.TableLimits.from_config(config, signed_in)
    # Refuse an oversized body before reading it; a chunked one is cut off while it is read.
    if request.content_length is not None:
        limits.check_file(request.content_length, "the upload", allowance=_FORM_SLACK)
    ceiling = limits.max_file_bytes + _FORM_SLACK
    request.max_content_length = min(ceiling, request.max_content_length or ceiling)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError("upload a CSV or XLSX file in the form field 'file'")
    df = tabular.read_table(upload.stream, filename=upload.filename, label=upload.filename, limits=limits)
    return df, upload.filename, limits


def _row_lang() -> str | None:
    """The language of batch row messages: the request's, when it names one (see :func:`errors.json_lang`)."""
    return json_lang()


def _file_response(result: pd.DataFrame, fmt: str, filename: str, limits: tabular.TableLimits):
    """``result`` as a download in ``fmt`` (csv, xlsx or geojson), refused (413) past BATCH_MAX_RESPONSE_MB."""
    chunks = tabular.table_chunks(result, fmt, lon="lon_wgs84", lat="lat_wgs84")
    body = b"".join(tabular.collect(chunks, limits))
    resp = send_file(io.BytesIO(body), mimetype=BATCH_FORMATS[fmt], as_attachment=True,
                     download_name=f"{Path(filename).stem or 'located'}_grids.{fmt}")
    resp.cache_control.no_cache = True
    return resp


def _format(default: str = "json") -> str:
    fmt = (request.form.get("format") or request.args.get("format") or default).lower()
    allowed = (["json"] if default == "json" else []) + list(BATCH_FORMATS)
    if fmt not in allowed:
        raise ApiError(f"unknown format {fmt!r}; use {', '.join(allowed)}")
    return fmt


@bp.post("/api/v1/locate/batch")
def api_batch():
    """Locate every row of an uploaded CSV/XLSX file; answer JSON or a file in ``format``.

    The upload is held to :class:`~app.geo.tabular.TableLimits`: the staff's, or the lower ones
    of the public; with ``BATCH_REQUIRE_SIGN_IN`` the public get 401.
    """
    fmt = _format()
    df, filename, limits = _read_upload()
    form = {**request.args, **request.form}
    ds = dataset()
    result = locate_frame(ds, df, crs=form.get("crs"), lon_col=form.get("lon_col"),
                          lat_col=form.get("lat_col"), address_col=form.get("address_col"))
    lang = _row_lang()
    if lang == "zh":
        result = _locate_batch.translated(result, _messages.row_translator(lang))
    if fmt != "json":
        return _file_response(result, fmt, filename, limits)
    head = {"summary": summarize(result), "data_version": ds.version}
    chunks = tabular.json_document(head, "rows", result, current_app.json.dumps)
    body = b"".join(tabular.collect(chunks, limits))  # refused (413) once it passes BATCH_MAX_RESPONSE_MB
    return current_app.response_class(body, mimetype="application/json")


def _jobs() -> _locate_batch.JobStore:
    store = current_app.extensions.get("gridmap.batch_jobs")
    if store is None:
        store = current_app.extensions.setdefault("gridmap.batch_jobs", _locate_batch.JobStore())
    return store


@bp.post("/api/v1/locate/batch/preview")
def api_batch_preview():
    """Hold an uploaded table for its column mapping: its columns, the detected ones and its first rows."""
    df, filename, limits = _read_upload()
    job = _jobs().add(filename, df, limits)
    return jsonify(_locate_batch.preview(job))


def _column(params: dict, name: str) -> str | None:
    value = params.get(name)
    return str(value) if value not in (None, "") else None


@bp.post("/api/v1/locate/batch/run")
def api_batch_run():
    """Start locating a previewed table with the chosen columns and CRS; poll its status URL."""
    p = {**request.args, **request.form}
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("the JSON body must be an object")
        p.update(body)
    job = _jobs().get(str(p.get("job") or ""))
    spec = tabular.detect_columns(job.table, lon=_column(p, "lon_col"), lat=_column(p, "lat_col"),
                                  address=_column(p, "address_col"))
    if spec.mode == "none":
        raise ApiError("choose the lon and lat columns, or the address column")
    crs = _column(p, "crs")
    parse_crs(crs)  # refuse a bad CRS now, not in the thread
    _jobs().start(job, dataset(), spec, crs)
    answer = {"job": job.id, "state": job.state, "done": job.done, "total": job.total,
              "status_url": url_for("locate.api_job", job=job.id)}
    return jsonify(answer), 202


@bp.get("/api/v1/locate/jobs/<job>")
def api_job(job: str):
    """A batch job's progress; once done, its summary (counts by status) and its first problem rows."""
    found = _jobs().get(job)
    lang = _row_lang()
    answer = _locate_batch.status(found, _messages.row_translator(lang), lambda e: message_of(e, lang))
    if found.state == "done":
        answer["download_url"] = url_for("locate.api_job_download", job=found.id)
    return jsonify(answer)


@bp.get("/api/v1/locate/jobs/<job>/download")
def api_job_download(job: str):
    """A finished batch job's rows as a file: ``format`` csv (default), xlsx or geojson."""
    found = _jobs().get(job)
    fmt = _format("csv")
    if found.state != "done" or found.result is None:
        raise ApiError(f"the batch job {job} is not finished yet", 409)
    result = found.result
    lang = _row_lang()
    if lang == "zh":
        result = _locate_batch.translated(result, _messages.row_translator(lang))
    return _file_response(result, fmt, found.filename, found.limits)


i18n.register({
    "locate.title": ("网格定位", "Find a grid"),
    "locate.intro": ("输入地址或坐标，或在地图上点击，查询所在网格及网格员。",
                     "Type an address or coordinates, or click the map, to find the grid and its workers."),
    "locate.query": ("地址或坐标", "Address or coordinates"),
    "locate.placeholder": ("如：{address} 或 {lon}, {lat}", "e.g. {address} or {lon}, {lat}"),
    "locate.placeholder_point": ("如：{lon}, {lat}", "e.g. {lon}, {lat}"),
    "locate.crs": ("坐标系", "Coordinate system"),
    "locate.crs.4326": ("WGS84 / GPS (EPSG:4326)", "WGS84 / GPS (EPSG:4326)"),
    "locate.crs.4490": ("CGCS2000 (EPSG:4490)", "CGCS2000 (EPSG:4490)"),
    "locate.crs.gcj02": ("GCJ-02（高德、腾讯地图）", "GCJ-02 (AMap, Tencent)"),
    "locate.crs.bd09": ("BD-09（百度地图）", "BD-09 (Baidu)"),
    "locate.crs.metric": ("{name} ({crs}, 米)", "{name} ({crs}, metres)"),
    "locate.submit": ("查询", "Find"),
    "locate.click_hint": ("提示：点击地图任意位置即可查询该点所在网格。", "Tip: click anywhere on the map to look up that point."),
    "locate.result": ("查询结果", "Result"),
    "locate.grid": ("所在网格", "Grid"),
    "locate.address": ("地址", "Address"),
    "locate.on_border": ("该点位于网格边界上，按编码最小的网格计。", "The point lies on a grid border; the lowest code is given."),
    "locate.outside": ("该点不在任何网格内。", "The point is outside every grid."),
    "locate.nearest": ("最近网格", "Nearest grid"),
    "locate.not_found": ("未找到该地址。", "Address not found."),
    "locate.suggestions": ("相近地址", "Closest addresses"),
    "locate.candidates": ("候选地址", "Candidates"),
    "locate.score": ("匹配度", "Score"),
    "locate.normalized": ("规范化地址", "Normalised address"),
    "locate.wgs84": ("WGS84 坐标", "WGS84 coordinates"),
    "locate.matched": ("匹配地址", "Matched address"),
    "locate.kind.exact": ("精确匹配", "exact"),
    "locate.kind.normalised": ("规范化后一致", "same after normalising"),
    "locate.kind.fuzzy": ("模糊匹配", "fuzzy"),
    "locate.fuzzy_note": ("模糊匹配：您输入的是“{typed}”，匹配到“{matched}”，得分 {score}。请核对。",
                          "Fuzzy match: you typed “{typed}”, matched “{matched}”, score {score}. Please check."),
    "locate.ambiguous": ("地址有歧义：“{typed}”与下列几个标准地址同样接近，无法确定网格。请点击选择。",
                         "Ambiguous: “{typed}” is as close to each of these standard addresses; no grid is chosen. "
                         "Click one to see its grid."),
    "locate.not_found_typed": ("未找到“{typed}”对应的标准地址。", "No standard address found for “{typed}”."),
    "locate.choose_candidate": ("请选择候选地址", "Choose a candidate"),
    "locate.chosen": ("已选择", "Chosen"),
    "locate.nearest_address": ("最近地址", "Nearest address"),
    "locate.nearest_address_none": ("附近 2 公里内没有标准地址。", "No standard address within 2 km."),
    "locate.distance": ("（相距 {m} 米）", "({m} m away)"),
    "locate.error": ("查询失败", "Lookup failed"),
    "locate.details": ("网格详情", "Grid page"),
    "locate.batch": ("批量定位", "Batch lookup"),
    "locate.batch_intro": ("上传 CSV 或 Excel 文件（含经纬度列或地址列，支持 GB18030 编码），为每一行分配网格。",
                           "Upload a CSV or Excel file (lon/lat or address columns; GB18030 is fine) to assign every row to a grid."),
    "locate.batch_format": ("结果格式", "Result format"),
    "locate.batch_submit": ("上传并预览", "Upload and preview"),
    "locate.batch_reading": ("正在读取文件…", "Reading the file…"),
    "locate.batch_mapping": ("第 2 步：确认列", "Step 2: confirm the columns"),
    "locate.batch_rows": ("{name}：共 {total} 行，以下为前 {shown} 行。", "{name}: {total} rows; the first {shown} are shown."),
    "locate.batch_detected": ("已自动识别下列列，请确认或修改。", "These columns were recognised; confirm or change them."),
    "locate.batch_unrecognised": ("未能识别经纬度列或地址列，请在下面选择对应的列。",
                                  "No lon/lat or address column was recognised; choose them below."),
    "locate.batch_lon": ("经度（X）列", "Longitude (x) column"),
    "locate.batch_lat": ("纬度（Y）列", "Latitude (y) column"),
    "locate.batch_address": ("地址列", "Address column"),
    "locate.batch_none": ("（不使用）", "(none)"),
    "locate.batch_run": ("开始定位", "Locate the rows"),
    "locate.batch_restart": ("换一个文件", "Another file"),
    "locate.batch_need_columns": ("请选择经度列和纬度列，或选择地址列。", "Choose the lon and lat columns, or the address column."),
    "locate.batch_progress": ("正在定位：{done} / {total} 行", "Locating: {done} / {total} rows"),
    "locate.batch_summary": ("定位结果", "Result"),
    "locate.batch_total": ("共 {total} 行", "{total} rows"),
    "locate.batch_status.ok": ("已定位", "Located"),
    "locate.batch_status.ambiguous": ("地址有歧义", "Ambiguous address"),
    "locate.batch_status.outside": ("不在网格内", "Outside every grid"),
    "locate.batch_status.not_found": ("未找到地址", "Address not found"),
    "locate.batch_status.invalid": ("无效", "Invalid"),
    "locate.batch_problems": ("前 {n} 条问题行", "First {n} problem rows"),
    "locate.batch_row": ("行号", "Row"),
    "locate.batch_status": ("状态", "Status"),
    "locate.batch_message": ("说明", "Note"),
    "locate.batch_values": ("内容", "Values"),
    "locate.batch_download": ("下载结果", "Download the result"),
    "locate.batch_no_problems": ("所有行都已定位。", "Every row was located."),
    "locate.batch_failed": ("批量定位失败", "Batch lookup failed"),
    "locate.batch_choose_file": ("请先选择 CSV 或 Excel 文件。", "Choose a CSV or Excel file first."),
})


def _outlines(datum: str) -> dict:
    """Grid outlines (code and name only) for the locate map, simplified and cached per data version."""
    ds = dataset()

    def build() -> dict:
        grids = ds.grids
        geoms = mapdata.shift_geometries(mapdata.simplify_coverage(grids.geometry.values), datum)
        geoms = shapely.set_precision(geoms, 1e-5)  # about 1 m
        feats = [
            {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": mapping(geom)}
            for code, name, geom in zip(grids["code"], grids["name"], geoms, strict=True)
        ]
        return {"type": "FeatureCollection", "features": feats}

    return ds.cached(f"locate.outlines.{datum}", build)


@bp.get("/locate/outlines.json")
def outlines():
    """Simplified grid outlines for the locate map, in the basemap's datum."""
    from app.web.maps import basemap

    resp = jsonify(_outlines(basemap().datum))
    resp.cache_control.max_age = 300
    return resp


def _metric_choice(crs: str) -> tuple[str, str]:
    """The coordinate-system choice of the data's metric CRS: (form value, label), e.g. ("4542", "CGCS2000 高斯-克吕格 CM 99E ...")."""
    import pyproj

    try:
        name = pyproj.CRS.from_user_input(crs).name
    except pyproj.exceptions.CRSError:
        name = crs
    name = name.replace(" / 3-degree Gauss-Kruger ", " 高斯-克吕格 " if i18n.current_lang() == "zh" else " GK ")
    value = crs.split(":", 1)[1] if crs.upper().startswith("EPSG:") else crs
    return value, i18n.t("locate.crs.metric", name=name, crs=crs)


def _example() -> dict[str, str]:
    """An address and a coordinate of this city for the search box's hint, cached per data version."""
    ds = dataset()

    def build() -> dict[str, str]:
        out: dict[str, str] = {}
        grids = ds.grids
        if len(grids):
            p = grids.geometry.iloc[0].representative_point()
            out.update(lon=f"{p.x:.4f}", lat=f"{p.y:.4f}")
        if "addresses" in ds.store.layer_names():
            texts = [a for a in ds.layer("addresses").get("address", []) if isinstance(a, str) and a]
            if texts:
                out["address"] = texts[0]
        return out

    return ds.cached("locate.example", build)


def _start_bounds(datum: str) -> list[list[float]] | None:
    """The grids' extent in the basemap's datum as Leaflet bounds [[south, west], [north, east]], or None."""
    import numpy as np

    grids = dataset().grids
    if not len(grids):
        return None
    box = mapdata.shift_geometries(np.asarray([shapely.box(*grids.total_bounds)]), datum)[0]
    w, s, e, n = (round(float(v), 6) for v in box.bounds)
    return [[s, w], [n, e]]


@bp.get("/locate")
def page():
    """The locate page: search box for an address or coordinates, click-on-map, and batch upload."""
    from app.web.maps import basemap

    bm = basemap()
    metric = _metric_choice(dataset().metric_crs)
    example = _example()
    if "lon" not in example:
        placeholder = ""
    elif "address" in example:
        placeholder = i18n.t("locate.placeholder", **example)
    else:
        placeholder = i18n.t("locate.placeholder_point", **example)
    return render_template(
        "locate.html",
        leaflet_js=assets.vendor_url("leaflet/leaflet.js"),
        leaflet_css=assets.vendor_url("leaflet/leaflet.css"),
        basemap=bm,
        crs_choices=[(c, i18n.t("locate.crs." + c)) for c in ("4326", "4490", "gcj02", "bd09")] + [metric],
        metric_value=metric[0],
        placeholder=placeholder,
        start_bounds=_start_bounds(bm.datum),
        batch_formats=list(BATCH_FORMATS),
    )
