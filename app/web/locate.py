"""Locate views: the JSON API under /api/v1/locate and the /locate page."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request, send_file

from app.geo import tabular
from app.geo.locate import LocateError, locate_address, locate_frame, locate_point, summarize
from app.web import dataset
from app.web.errors import ApiError
from app.web.openapi import CRS_PARAM, error_responses

bp = Blueprint("locate", __name__)

#: Output formats of the batch endpoint and their MIME types.
BATCH_FORMATS = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
#: Most rows one batch upload may hold.
MAX_BATCH_ROWS = 200_000

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
                      **error_responses(400, 413)},
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
    try:
        return jsonify(locate_point(dataset(), x, y, p.get("crs"), personal=_personal()))
    except LocateError as exc:
        raise ApiError(str(exc)) from None


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
    try:
        return jsonify(locate_address(dataset(), text, limit=limit, personal=_personal()))
    except LocateError as exc:
        raise ApiError(str(exc)) from None


@bp.post("/api/v1/locate/batch")
def api_batch():
    """Locate every row of an uploaded CSV/XLSX file; answer JSON or a file in ``format``."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError("upload a CSV or XLSX file in the form field 'file'")
    fmt = (request.form.get("format") or request.args.get("format") or "json").lower()
    if fmt not in {"json", *BATCH_FORMATS}:
        raise ApiError(f"unknown format {fmt!r}; use json, csv, xlsx or geojson")
    data = upload.read()
    try:
        df = tabular.read_table(data, filename=upload.filename)
    except tabular.TableError as exc:
        raise ApiError(f"{upload.filename}: {exc}") from None
    if len(df) > MAX_BATCH_ROWS:
        raise ApiError(f"the file has {len(df)} rows; at most {MAX_BATCH_ROWS} are accepted", 413)
    form = {**request.args, **request.form}
    try:
        result = locate_frame(dataset(), df, crs=form.get("crs"), lon_col=form.get("lon_col"),
                              lat_col=form.get("lat_col"), address_col=form.get("address_col"))
    except (LocateError, tabular.TableError) as exc:
        raise ApiError(str(exc)) from None
    if fmt == "json":
        rows = result.astype(object).where(result.notna(), None).to_dict(orient="records")
        return jsonify({"summary": summarize(result), "data_version": dataset().version, "rows": rows})
    stem = Path(upload.filename).stem or "located"
    buf = io.BytesIO()
    tabular.write_table(result, buf, fmt=fmt, lon="lon_wgs84", lat="lat_wgs84")
    buf.seek(0)
    return send_file(buf, mimetype=BATCH_FORMATS[fmt], as_attachment=True,
                     download_name=f"{stem}_grids.{fmt}")


@bp.get("/locate")
def page():
    """The locate page: search box for an address or coordinates, and click-on-map."""
    return render_template("locate.html")
