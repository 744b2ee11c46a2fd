"""Locate views: the JSON API under /api/v1/locate and the /locate page."""

from __future__ import annotations

import io
from pathlib import Path

import shapely
from flask import Blueprint, current_app, jsonify, render_template, request, send_file
from shapely.geometry import mapping

from app.geo import mapdata, tabular
from app.geo.crs import wgs84_to_gcj02
from app.geo.locate import locate_address, locate_frame, locate_point, summarize
from app.web import assets, auth, dataset, i18n
from app.web.errors import ApiError
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

OPENAPI_PATHS = {
    "/api/v1/locate/point": {"get": {
        "summary": "Which grid a coordinate falls in", "operationId": "locatePoint",
        "parameters": [
            {"name": "lon", "in": "query", "required": True, "description": "Longitude, or x in a projected CRS",
             "schema": {"type": "number"}},
            {"name": "lat", "in": "query", "required": True, "description": "Latitude, or y in a projected CRS",
             "schema": {"type": "number"}},
            CRS_PARAM,
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
        "responses": {"200": {"description": "ranked candidates; status ok or not_found"}, **error_responses(400)},
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
}


def _personal() -> bool:
    """Whether the caller may see staff contacts."""
    check = current_app.extensions.get("gridmap.can_see_personal")
    return bool(check and check())


def _args() -> dict:
    """Query-string parameters merged with a JSON body, if any."""
    params = dict(request.args)
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("the JSON body must be an object")
        params.update(body)
    return params


@bp.route("/api/v1/locate/point", methods=["GET", "POST"])
def api_point():
    """Locate one coordinate: lon/lat (or x/y) and an optional crs."""
    p = _args()
    x = p.get("lon", p.get("x"))
    y = p.get("lat", p.get("y"))
    if x is None or y is None:
        raise ApiError("give lon and lat (or x and y)")
    answer = locate_point(dataset(), x, y, p.get("crs"), personal=_personal())
    if p.get("display") == "gcj02":  # the page draws on GCJ-02 tiles (AMap)
        answer["display"] = _gcj02(answer["wgs84"])
    return jsonify(answer)


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
    return jsonify(answer)


def _gcj02(point: dict) -> dict:
    """A WGS84 ``{"lon", "lat"}`` as GCJ-02, for drawing on AMap tiles."""
    lon, lat = wgs84_to_gcj02(point["lon"], point["lat"])
    return {"lon": round(float(lon), 7), "lat": round(float(lat), 7)}


@bp.post("/api/v1/locate/batch")
def api_batch():
    """Locate every row of an uploaded CSV/XLSX file; answer JSON or a file in ``format``.

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
    fmt = (request.form.get("format") or request.args.get("format") or "json").lower()
    if fmt not in {"json", *BATCH_FORMATS}:
        raise ApiError(f"unknown format {fmt!r}; use json, csv, xlsx or geojson")
    df = tabular.read_table(upload.stream, filename=upload.filename, label=upload.filename, limits=limits)
    form = {**request.args, **request.form}
    ds = dataset()
    result = locate_frame(ds, df, crs=form.get("crs"), lon_col=form.get("lon_col"),
                          lat_col=form.get("lat_col"), address_col=form.get("address_col"))
    if fmt == "json":
        head = {"summary": summarize(result), "data_version": ds.version}
        chunks = tabular.json_document(head, "rows", result, current_app.json.dumps)
    else:
        chunks = tabular.table_chunks(result, fmt, lon="lon_wgs84", lat="lat_wgs84")
    body = b"".join(tabular.collect(chunks, limits))  # refused (413) once it passes BATCH_MAX_RESPONSE_MB
    if fmt == "json":
        return current_app.response_class(body, mimetype="application/json")
    resp = send_file(io.BytesIO(body), mimetype=BATCH_FORMATS[fmt], as_attachment=True,
                     download_name=f"{Path(upload.filename).stem or 'located'}_grids.{fmt}")
    resp.cache_control.no_cache = True
    return resp


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
    "locate.error": ("查询失败", "Lookup failed"),
    "locate.details": ("网格详情", "Grid page"),
    "locate.batch": ("批量定位", "Batch lookup"),
    "locate.batch_intro": ("上传 CSV 或 Excel 文件（含经纬度列或地址列，支持 GB18030 编码），为每一行分配网格。",
                           "Upload a CSV or Excel file (lon/lat or address columns; GB18030 is fine) to assign every row to a grid."),
    "locate.batch_format": ("结果格式", "Result format"),
    "locate.batch_submit": ("上传并定位", "Upload and locate"),
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
