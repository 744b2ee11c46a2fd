"""Coverage views: the JSON API under /api/v1/coverage, file downloads and the /coverage page."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, send_file

from app.geo import coverage, export
from app.geo.schema import CATEGORIES
from app.web import dataset, i18n
from app.web.errors import ApiError
from app.web.openapi import error_responses

bp = Blueprint("coverage", __name__)

#: Most underserved grids one JSON answer lists (``limit`` can lower it).
MAX_UNDERSERVED = 1000

i18n.register({
    "coverage.title": ("覆盖分析", "Coverage analysis"),
    "coverage.preset": ("预设标准", "Preset"),
    "coverage.custom": ("自定义", "Custom"),
    "coverage.categories": ("设施类别", "Facility categories"),
    "coverage.radius": ("服务半径（米）", "Radius (m)"),
    "coverage.mode": ("距离模式", "Distance mode"),
    "coverage.mode.straight": ("直线距离", "Straight line"),
    "coverage.mode.walk": ("步行路网距离", "Walking along roads"),
    "coverage.target": ("目标居民覆盖率（%）", "Target residents share (%)"),
    "coverage.run": ("分析", "Analyse"),
    "coverage.summary": ("全市概况", "City summary"),
    "coverage.residents": ("居民覆盖率", "Residents within reach"),
    "coverage.area": ("面积覆盖率", "Area within reach"),
    "coverage.distance": ("平均/P90距离", "Mean / p90 distance"),
    "coverage.facilities": ("设施数", "Facilities"),
    "coverage.underserved": ("未达标网格", "Grids below target"),
    "coverage.uncovered": ("未覆盖居民", "Residents not covered"),
    "coverage.none": ("无", "None"),
    "coverage.download": ("下载", "Download"),
    "coverage.service_area": ("服务范围", "Service area"),
    "coverage.working": ("计算中…", "Working…"),
    "coverage.grid": ("网格", "Grid"),
})

_PARAMS = [
    {"name": "category", "in": "query", "required": True, "style": "form", "explode": True,
     "description": "Facility categories (repeat or comma-separate), e.g. bus_stop",
     "schema": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}, "minItems": 1}},
    {"name": "radius", "in": "query", "required": True, "description": "Distance in metres",
     "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": coverage.MAX_RADIUS_M}},
    {"name": "mode", "in": "query", "required": False,
     "schema": {"type": "string", "enum": list(coverage.MODES), "default": "straight"}},
    {"name": "level", "in": "query", "required": False,
     "schema": {"type": "string", "enum": list(coverage.LEVELS), "default": "grid"}},
    {"name": "target", "in": "query", "required": False,
     "description": "Target share of residents in percent, or none", "schema": {"type": "string"}},
]

OPENAPI_PATHS = {
    "/api/v1/coverage/presets": {"get": {
        "summary": "Planning presets, categories, levels, modes and export formats", "operationId": "coveragePresets",
        "responses": {"200": {"description": "presets"}}}},
    "/api/v1/coverage": {"get": {
        "summary": "Coverage of facilities by grid, committee, division or city", "operationId": "coverage",
        "parameters": [*_PARAMS, {"name": "limit", "in": "query", "required": False,
                                  "schema": {"type": "integer", "minimum": 0, "maximum": MAX_UNDERSERVED}}],
        "responses": {"200": {"description": "tables, summary and underserved grids"}, **error_responses(400)}}},
    "/api/v1/coverage/map": {"get": {
        "summary": "Coverage as GeoJSON for a map", "operationId": "coverageMap", "parameters": _PARAMS,
        "responses": {"200": {"description": "GeoJSON layers"}, **error_responses(400)}}},
    "/api/v1/coverage/export.{fmt}": {"get": {
        "summary": "Coverage as a file", "operationId": "coverageExport",
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(export.MEDIA_TYPES)}}, *_PARAMS],
        "responses": {"200": {"description": "the file"}, **error_responses(400, 404)}}},
}


def _params() -> dict[str, Any]:
    """Coverage parameters from the query string (categories repeated or comma-separated)."""
    args = request.args
    cats: list[str] = []
    for value in args.getlist("category") + args.getlist("categories"):
        cats.extend(v for v in value.split(",") if v.strip())
    if not cats:
        raise ApiError("category is missing: give one or more facility categories, e.g. category=bus_stop",
                       categories=list(CATEGORIES))
    if "radius" not in args:
        raise ApiError("radius is missing: give a distance in metres, e.g. radius=500")
    out: dict[str, Any] = {"categories": cats, "radius_m": args["radius"], "mode": args.get("mode", "straight")}
    if "target" in args:
        raw = args["target"].strip().lower()
        out["target_pct"] = None if raw in ("", "none", "null") else raw
    return out


def _level(default: str = "grid") -> str:
    level = request.args.get("level", default)
    if level not in coverage.LEVELS:
        raise ApiError(f"unknown level {level!r}; expected one of {', '.join(coverage.LEVELS)}")
    return level


def _analyse(level: str = "grid") -> coverage.CoverageResult:
    return coverage.analyse(dataset(), level=level, **_params())


def _limit() -> int:
    raw = request.args.get("limit", str(MAX_UNDERSERVED))
    try:
        n = int(raw)
    except ValueError:
        raise ApiError(f"limit must be a whole number, got {raw!r}") from None
    if not 0 <= n <= MAX_UNDERSERVED:
        raise ApiError(f"limit must be from 0 to {MAX_UNDERSERVED}, got {n}")
    return n


def _underserved(result: coverage.CoverageResult, limit: int) -> list[dict[str, Any]]:
    cols = ["code", "name", "committee_name", "division_name", "residents", "residents_uncovered",
            "residents_pct", "area_pct", "dist_mean_m", "dist_p90_m"]
    return coverage.records_of(result.underserved()[cols].head(limit))


@bp.get("/api/v1/coverage/presets")
def presets():
    """Presets from planning standards, the categories, levels, modes and export formats."""
    return jsonify({
        "presets": [p.to_dict() for p in coverage.PRESETS.values()],
        "categories": [{"key": c.key, "zh": c.zh, "en": c.en, "has_capacity": c.has_capacity}
                       for c in CATEGORIES.values()],
        "levels": list(coverage.LEVELS),
        "modes": list(coverage.MODES),
        "formats": list(export.FORMATS.values()),
        "max_radius_m": coverage.MAX_RADIUS_M,
    })


@bp.get("/api/v1/coverage")
def analyse():
    """Coverage metrics of one level, the city summary and the underserved grids."""
    level = _level()
    limit = _limit()
    result = _analyse(level)
    return jsonify({
        "parameters": result.parameters(),
        "data_version": result.data_version,
        "level": level,
        "summary": result.summary(),
        "rows": result.records(level),
        "underserved": _underserved(result, limit),
        "underserved_count": int(result.grids["below_target"].sum()),
    })


@bp.get("/api/v1/coverage/map")
def map_layers():
    """GeoJSON for the page: the level's units with metrics, the service area and the underserved grids."""
    level = _level()
    limit = _limit()
    result = _analyse(level)
    return Response(result.map_json(level, limit), mimetype="application/json")


@bp.get("/api/v1/coverage/export.<fmt>")
def download(fmt: str):
    """The result as a file: csv, xlsx, geojson, gpkg, zip (shapefile) or pdf."""
    if fmt not in export.MEDIA_TYPES:
        raise ApiError(f"unknown format {fmt!r}; expected one of {', '.join(export.MEDIA_TYPES)}", status=404)
    level = _level()
    result = _analyse(level)
    data = export.to_bytes(result, fmt, level)
    return send_file(io.BytesIO(data), mimetype=export.MEDIA_TYPES[fmt], as_attachment=True,
                     download_name=export.file_name(result, fmt, level))


@bp.get("/coverage")
def page():
    """The coverage page: pick categories, radius and mode; see the map, the list and downloads."""
    from app.web.assets import vendor_url

    ds = dataset()
    west, south, east, north = (round(float(v), 6) for v in ds.grids.total_bounds)
    return render_template(
        "coverage.html",
        start_bounds=[[south, west], [north, east]],
        presets=[p.to_dict() for p in coverage.PRESETS.values()],
        categories=list(CATEGORIES.values()),
        formats=list(export.FORMATS.values()),
        max_radius=coverage.MAX_RADIUS_M,
        leaflet_js=vendor_url("leaflet/leaflet.js"),
        leaflet_css=vendor_url("leaflet/leaflet.css"),
        data_version=ds.version,
    )
