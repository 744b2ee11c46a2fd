"""Coverage views: the JSON API under /api/v1/coverage, file downloads and the /coverage page."""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file

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
    "coverage.dist_mean": ("平均距离", "Mean distance"),
    "coverage.facilities": ("设施数", "Facilities"),
    "coverage.underserved": ("未达标网格", "Grids below target"),
    "coverage.uncovered": ("未覆盖居民（人）", "Residents not covered"),
    "coverage.col.residents": ("居民（人）", "Residents"),
    "coverage.col.coverage": ("覆盖率", "Covered share"),
    "coverage.spaces": ("每百户停车位", "Parking spaces per 100 households"),
    "coverage.capacity": ("停车位", "Parking spaces"),
    "coverage.missing": ("缺少", "Missing"),
    "coverage.by_kind": ("分类覆盖", "By facility kind"),
    "coverage.kind_missing": ("缺该类网格", "Grids lacking it"),
    "coverage.kind": ("设施类别", "Facility kind"),
    "coverage.kind_radius": ("步行距离（米）", "Distance (m)"),
    "coverage.rule": ("任一类设施超出距离，即为未达标网格。", "A grid is below standard when any kind is out of reach."),
    "coverage.none": ("无", "None"),
    "coverage.download": ("下载", "Download"),
    "coverage.service_area": ("服务范围", "Service area"),
    "coverage.working": ("计算中…", "Working…"),
    "coverage.error": ("分析失败", "The analysis failed"),
    "coverage.grid": ("网格", "Grid"),
    "coverage.pin": ("固定为方案A，用于对比", "Pin as run A to compare"),
    "coverage.unpin": ("取消对比", "Stop comparing"),
    "coverage.compare": ("方案对比", "Comparison"),
    "coverage.run_a": ("方案A", "Run A"),
    "coverage.run_b": ("方案B", "Run B"),
    "coverage.metric": ("指标", "Metric"),
    "coverage.change": ("变化（B−A）", "Change (B−A)"),
    "coverage.changed": ("结论改变的网格", "Grids whose verdict changed"),
    "coverage.now_met": ("转为达标", "now meets"),
    "coverage.now_below": ("转为未达标", "now below"),
    "coverage.no_change": ("没有网格改变结论", "No grid changed its verdict"),
    "coverage.list_sep": ("、", ", "),
    "coverage.was_missing": ("原缺少", "lacked"),
    "coverage.standards": ("依据标准", "Standards"),
    "coverage.gridmap_choice": ("gridmap 取值", "gridmap's choice"),
})

_PARAMS = [
    {"name": "category", "in": "query", "required": False, "style": "form", "explode": True,
     "description": "Facility categories pooled as any of (repeat or comma-separate), e.g. bus_stop; "
                    "needs radius. Give this, require or preset.",
     "schema": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}, "minItems": 1}},
    {"name": "radius", "in": "query", "required": False, "description": "Distance in metres, with category",
     "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": coverage.MAX_RADIUS_M}},
    {"name": "require", "in": "query", "required": False, "style": "form", "explode": True,
     "description": "Required kinds, each within its own distance (all of): kind:metres, repeat or "
                    "comma-separate, e.g. library:1000,tcm_clinic:1000",
     "schema": {"type": "array", "items": {"type": "string"}}},
    {"name": "preset", "in": "query", "required": False,
     "description": "A planning preset: its requirements (unless require is given), target and rule",
     "schema": {"type": "string", "enum": list(coverage.PRESETS)}},
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
                        "schema": {"type": "string", "enum": list(export.MEDIA_TYPES)}}, *_PARAMS,
                       {"name": "unit", "in": "query", "required": False,
                        "description": "PDF only: the report of one area, committee:CODE or division:CODE",
                        "schema": {"type": "string", "pattern": "^(committee|division):.+$"}}],
        "responses": {"200": {"description": "the file"}, **error_responses(400, 404)}}},
}


def _requirements() -> dict[str, str]:
    """``require=kind:metres`` pairs (repeated or comma-separated) as a kind → metres mapping."""
    out: dict[str, str] = {}
    for value in request.args.getlist("require"):
        for part in (v.strip() for v in value.split(",")):
            if not part:
                continue
            kind, sep, metres = part.partition(":")
            if not sep or not kind.strip() or not metres.strip():
                raise ApiError(f"require must be kind:metres, e.g. require=library:1000, got {part!r}")
            out[kind.strip()] = metres.strip()
    return out


def _params() -> dict[str, Any]:
    """Coverage parameters from the query string (categories repeated or comma-separated, or requirements)."""
    args = request.args
    out: dict[str, Any] = {"mode": args.get("mode", "straight")}
    if "target" in args:
        raw = args["target"].strip().lower()
        out["target_pct"] = None if raw in ("", "none", "null") else raw
    required = _requirements()
    preset = args.get("preset", "").strip()
    if preset:
        out["preset"] = preset
    if required or preset:
        if required:
            out["requirements"] = required
        return out
    cats: list[str] = []
    for value in args.getlist("category") + args.getlist("categories"):
        cats.extend(v for v in value.split(",") if v.strip())
    if not cats:
        raise ApiError("category is missing: give one or more facility categories, e.g. category=bus_stop",
                       categories=list(CATEGORIES))
    if "radius" not in args:
        raise ApiError("radius is missing: give a distance in metres, e.g. radius=500")
    out.update(categories=cats, radius_m=args["radius"])
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
    under = result.underserved()
    cols = [c for c in ("code", "name", "committee_name", "division_name", "residents", "residents_uncovered",
                        "residents_pct", "area_pct", "dist_mean_m", "dist_p90_m", "missing",
                        *result.kind_columns) if c in under]
    return coverage.records_of(under[cols].head(limit))


def _facilities(categories: list[str]) -> dict[str, Any]:
    """The facilities of ``categories`` as a GeoJSON FeatureCollection of points (WGS84), cached per version."""
    ds = dataset()
    key = ("coverage.page_facilities", tuple(sorted(categories)))
    if key not in ds.cache:
        fac = ds.layer("facilities")
        fac = fac[fac["category"].astype(str).isin(categories).to_numpy(dtype=bool)]
        caps = fac["capacity"].tolist() if "capacity" in fac else [None] * len(fac)
        ds.cache[key] = {"type": "FeatureCollection", "features": [
            {"type": "Feature",
             "properties": {"id": str(i), "name": str(n), "category": str(c),
                            "capacity": None if cap is None or cap != cap else int(cap)},
             "geometry": {"type": "Point", "coordinates": [round(float(x), 6), round(float(y), 6)]}}
            for i, n, c, cap, x, y in zip(fac["id"], fac["name"], fac["category"], caps,
                                          fac.geometry.x, fac.geometry.y, strict=True)]}
    return ds.cache[key]


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
        "kinds": result.kinds(),
    })


@bp.get("/api/v1/coverage/map")
def map_layers():
    """GeoJSON for the page: the level's units with metrics, the service area and the underserved grids."""
    level = _level()
    limit = _limit()
    result = _analyse(level)
    body = result.map_json(level, limit)
    # the analysed kinds' facilities, for markers: spliced into the cached answer rather than re-serialised
    facilities = json.dumps(_facilities(list(result.params.categories)), ensure_ascii=False, separators=(",", ":"))
    return Response(body[:-1] + ',"facilities":' + facilities + "}", mimetype="application/json")


def _unit() -> tuple[str, str] | None:
    """``?unit=committee:CODE`` or ``division:CODE``: the PDF report of one area instead of the city."""
    raw = request.args.get("unit")
    if not raw:
        return None
    level, _, code = raw.partition(":")
    if level not in ("committee", "division") or not code:
        raise ApiError(f"unit must be committee:CODE or division:CODE, not {raw[:60]!r}")
    return level, code


@bp.get("/api/v1/coverage/export.<fmt>")
def download(fmt: str):
    """The result as a file: csv, xlsx, geojson, gpkg, zip (shapefile) or pdf."""
    if fmt not in export.MEDIA_TYPES:
        raise ApiError(f"unknown format {fmt!r}; expected one of {', '.join(export.MEDIA_TYPES)}", status=404)
    level = _level()
    result = _analyse(level)
    unit = _unit() if fmt == "pdf" else None
    data = export.to_bytes(result, fmt, level, lang=i18n.current_lang(), tz=current_app.config["TIMEZONE"],
                           unit=unit)
    return send_file(io.BytesIO(data), mimetype=export.MEDIA_TYPES[fmt], as_attachment=True,
                     download_name=export.file_name(result, fmt, level))


#: Strings the page's script shows: its name → the i18n key after ``coverage.``.
_PAGE_TEXT = {
    "service": "service_area", "working": "working", "none": "none", "error": "error",
    "legend_residents": "residents", "coverage_pct": "col.coverage", "uncovered": "uncovered", "area": "area",
    "distance": "distance", "dist_mean": "dist_mean", "facilities": "facilities", "underserved": "underserved",
    "spaces": "spaces", "capacity": "capacity", "missing": "missing", "run_a": "run_a", "run_b": "run_b",
    "now_met": "now_met", "now_below": "now_below", "no_change": "no_change", "list_sep": "list_sep", "was_missing": "was_missing",
    "standards": "standards", "gridmap_choice": "gridmap_choice",
}


@bp.get("/coverage")
def page():
    """The coverage page: pick categories, radius and mode; see the map, the list and downloads."""
    from app.web.assets import vendor_url

    ds = dataset()
    west, south, east, north = (round(float(v), 6) for v in ds.grids.total_bounds)
    lang = i18n.current_lang()
    presets = [p.to_dict() for p in coverage.PRESETS.values()]
    config = {
        "bounds": [[south, west], [north, east]] if len(ds.grids) else None,
        "presets": presets,
        "categories": {c.key: {"label": i18n.label(c.zh, c.en), "color": c.color} for c in CATEGORIES.values()},
        "max_radius": coverage.MAX_RADIUS_M,
        "lang": lang,
        "locale": "en-GB" if lang == "en" else "zh-CN",
        "text": {k: i18n.t(f"coverage.{v}") for k, v in _PAGE_TEXT.items()},
    }
    return render_template(
        "coverage.html",
        config=config,
        presets=presets,
        categories=list(CATEGORIES.values()),
        formats=list(export.FORMATS.values()),
        max_radius=coverage.MAX_RADIUS_M,
        leaflet_js=vendor_url("leaflet/leaflet.js"),
        leaflet_css=vendor_url("leaflet/leaflet.css"),
        data_version=ds.version,
    )
