"""Coverage views: the JSON API under /api/v1/coverage, file downloads and the /coverage page."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file

from app.geo import coverage, export, mapdata
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
        "summary": "Coverage as GeoJSON for a map", "operationId": "coverageMap", "parameters": [
            *_PARAMS, {"name": "units", "in": "query", "required": False,
                       "description": "geojson: the units with their polygons; table: their values only "
                                      "(fields and rows keyed by code), to join to the vector tiles of the "
                                      "layer units.layer (/tiles/...), each underserved grid with its bbox",
                       "schema": {"type": "string", "enum": ["geojson", "table"], "default": "geojson"}}],
        "responses": {"200": {"description": "GeoJSON layers, or the units as a table"}, **error_responses(400)}}},
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
    units = request.args.get("units", "geojson")
    if units not in ("geojson", "table"):
        raise ApiError(f"units must be geojson or table, not {units[:20]!r}")
    result = _analyse(level)
    body = result.map_json(level, limit) if units == "geojson" else mapdata.coverage_map_table(
        dataset(), result, level, limit)
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
    from urllib.parse import quote

    from app.web.assets import vendor_url
    from app.web.maps import tiled

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
        "rec": {k: i18n.t(f"recommend.{k}") for k in (
            "working", "site", "new_res", "coverage", "dist", "below", "newly", "status.optimal", "status.time_limit",
            "status.greedy", "status.empty", "sites")},
    }
    if tiled(ds):  # the units are drawn from vector tiles, styled by the result's values per code
        from app.geo import tiles

        config["tiles"] = {"url": f"/tiles/{quote(ds.version, safe='')}/wgs84/{{layer}}/{{z}}/{{x}}/{{y}}.pbf",
                           "script": vendor_url("leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
                           **tiles.tile_info(ds)}
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


# -- site recommendation ----------------------------------------------------------------------

i18n.register({
    "recommend.title": ("推荐新增站点/选址", "Recommend new sites"),
    "recommend.category": ("设施类别", "Facility kind"),
    "recommend.preset": ("或按预设逐类推荐", "Or per kind of a preset"),
    "recommend.radius": ("服务半径（米）", "Radius (m)"),
    "recommend.add": ("新增数量", "Sites to add"),
    "recommend.objective": ("优化目标", "Objective"),
    "recommend.objective.mclp": ("最大覆盖（MCLP）", "Max coverage (MCLP)"),
    "recommend.objective.lscp": ("最少站点全覆盖（LSCP）", "Fewest sites for all (LSCP)"),
    "recommend.objective.pmedian": ("最短平均距离（p-中位）", "Shortest mean distance (p-median)"),
    "recommend.candidates": ("候选点", "Candidates"),
    "recommend.candidates.roads": ("沿道路", "Along roads"),
    "recommend.candidates.addresses": ("地址点", "Address points"),
    "recommend.candidates.file": ("上传文件", "Upload a file"),
    "recommend.spacing": ("间距（米）", "Spacing (m)"),
    "recommend.file": ("候选点文件（CSV/XLSX/GeoJSON）", "Candidates file (CSV/XLSX/GeoJSON)"),
    "recommend.crs": ("坐标系", "CRS"),
    "recommend.run": ("推荐", "Recommend"),
    "recommend.working": ("正在优化…", "Optimising…"),
    "recommend.sites": ("推荐站点", "Recommended sites"),
    "recommend.site": ("站点", "Site"),
    "recommend.new_res": ("新增覆盖居民", "Residents newly covered"),
    "recommend.before": ("原", "Before"),
    "recommend.after": ("新", "After"),
    "recommend.coverage": ("居民覆盖率", "Residents within reach"),
    "recommend.dist": ("平均距离（米）", "Mean distance (m)"),
    "recommend.below": ("未达标网格", "Grids below target"),
    "recommend.committee": ("社区", "Committee"),
    "recommend.by_committee": ("受益社区（前后对比）", "Committees that gain (before/after)"),
    "recommend.newly": ("新增覆盖的居民点", "Residents newly covered"),
    "recommend.status.optimal": ("最优解", "optimal"),
    "recommend.status.time_limit": ("达到时限，已找到的最优解", "time limit: best found"),
    "recommend.status.greedy": ("求解器超时，贪心结果", "solver timed out: greedy answer"),
    "recommend.status.empty": ("无需新增", "nothing to add"),
})

_RECOMMEND_FIELDS = {
    "category": {"type": "string", "enum": list(CATEGORIES)},
    "preset": {"type": "string", "enum": list(coverage.PRESETS)},
    "radius": {"type": "number", "exclusiveMinimum": 0, "maximum": coverage.MAX_RADIUS_M},
    "add": {"type": "integer", "minimum": 1, "default": 5},
    "mode": {"type": "string", "enum": list(coverage.MODES), "default": "straight"},
    "objective": {"type": "string", "enum": ["mclp", "lscp", "pmedian"], "default": "mclp"},
    "candidates": {"type": "string", "enum": ["roads", "addresses", "file"], "default": "roads"},
    "spacing": {"type": "number", "minimum": 10, "default": 100},
    "crs": {"type": "string", "default": "EPSG:4326", "description": "CRS of the candidates file, e.g. gcj02"},
    "file": {"type": "string", "format": "binary", "description": "CSV/XLSX/GeoJSON of candidate points"},
}
_RECOMMEND_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "properties": {
        k: v for k, v in _RECOMMEND_FIELDS.items() if k != "file"}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": _RECOMMEND_FIELDS}}}}

OPENAPI_PATHS.update({
    "/api/v1/coverage/recommend": {"post": {
        "summary": "Recommend new facility sites (MCLP, LSCP or p-median with spopt and HiGHS)",
        "operationId": "coverageRecommend", "requestBody": _RECOMMEND_BODY,
        "parameters": [{"name": "async", "in": "query", "required": False,
                        "description": "1: answer 202 with a job id at once and work in the background",
                        "schema": {"type": "string", "enum": ["0", "1"]}}],
        "responses": {"200": {"description": "sites, per-kind before/after figures, committee table and GeoJSON"},
                      **error_responses(400)}}},
    "/api/v1/coverage/recommend/jobs/{job_id}": {"get": {
        "summary": "A background recommendation (POST ...?async=1): its stage, then the answer",
        "operationId": "coverageRecommendJob",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "stage, or the answer when done"}, **error_responses(400, 404)}}},
    "/api/v1/coverage/recommend/export.{fmt}": {"post": {
        "summary": "The recommendation as a file", "operationId": "coverageRecommendExport",
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": ["geojson", "xlsx", "pdf"]}}],
        "requestBody": _RECOMMEND_BODY,
        "responses": {"200": {"description": "the file"}, **error_responses(400, 404)}}},
})

#: Recommendations kept per data version, so a download after a run is not solved again.
_RECOMMEND_CACHE = 8


#: Background recommendations (``?async=1``) kept for polling (least recently used dropped first), and
#: how many may run at once; kept in files under the instance folder, so every server process sees them.
_JOBS_KEPT = 32
_JOBS_RUNNING = 4


def _jobs() -> Any:
    from pathlib import Path

    from app.geo.jobs import JobFolder

    return JobFolder(Path(current_app.instance_path) / "jobs" / "recommend", _JOBS_KEPT, _JOBS_RUNNING,
                     noun="recommendation job")

#: The core's progress messages (by their first words) as the page shows them.
_STAGES = {
    "preparing": ("准备网格、地址和设施", "Preparing grids, addresses and facilities"),
    "candidate": ("生成候选点", "Candidate sites"),
    "demand": ("计算居民到现有设施的距离", "Distances from residents to existing facilities"),
    "pairs": ("计算各候选点的覆盖范围", "Who each candidate reaches"),
    "solving": ("HiGHS 求解中", "Solving with HiGHS"),
    "coverage": ("统计新增前后的覆盖", "Coverage before and after"),
}


def _stage(message: str, lang: str) -> str:
    """A core progress message in the page's language (the message itself when unknown)."""
    words = _STAGES.get(message.split(" ", 1)[0])
    return message if words is None else words[lang == "en"]


def _recommend_request() -> tuple[Any, Any, bytes | None, tuple]:
    """The data version, the validated parameters, the candidate file and the cache key of this request."""
    import hashlib

    from app.geo import recommend as rec

    body = request.get_json(silent=True) if request.is_json else None
    if request.is_json and not isinstance(body, dict):
        raise ApiError("the JSON body must be an object")
    args = body if body is not None else {**request.args.to_dict(), **request.form.to_dict()}
    upload = request.files.get("file")
    candidates = str(args.get("candidates") or "roads")
    data = upload.read() if upload is not None and candidates == "file" else None
    if candidates == "file" and not data:
        raise ApiError("candidates from a file need the file", key="recommend")
    params = rec.make_params(args.get("category") or None, args.get("radius"), args.get("add", 5),
                             str(args.get("mode") or "straight"), str(args.get("objective") or "mclp"), candidates,
                             args.get("spacing") or 100, current_app.config["OPTIMISE_TIME_LIMIT"],
                             args.get("preset") or None, upload.filename if data else None,
                             str(args.get("crs") or "EPSG:4326"))
    return dataset(), params, data, (params, hashlib.sha256(data).hexdigest() if data else None)


def _solve(ds: Any, params: Any, data: bytes | None, key: tuple, say: Any = None) -> Any:
    """The recommendation, from the data version's cache or solved now (and cached)."""
    from collections import OrderedDict

    from app.geo import recommend as rec

    cache: OrderedDict = ds.cache.setdefault("recommend.results", OrderedDict())
    if key in cache:
        return cache[key]
    result = rec.recommend(ds, params, data, progress=say)
    cache[key] = result
    while len(cache) > _RECOMMEND_CACHE:
        cache.popitem(last=False)
    return result


def _recommendation() -> Any:
    """Solve (or reuse) the recommendation the request's JSON body or form asks for."""
    return _solve(*_recommend_request())


def _answer(result: Any) -> Response:
    return _answer_body(_answer_parts(result))


def _answer_parts(result: Any) -> dict[str, Any]:
    """What the answer needs of a recommendation, JSON-ready (a background job keeps this, not the result)."""
    from app.geo import _recommend_export as rx

    return {"body": result.to_json("committee"), "categories": [r.category for r in result.runs],
            "notes": {lang: rx.notes(result, lang) for lang in ("zh", "en")}}


def _answer_body(parts: dict[str, Any]) -> Response:
    body = dict(parts["body"])
    body["existing"] = _facilities(parts["categories"])
    body["notes"] = parts["notes"][i18n.current_lang()]
    body["done"] = True
    return jsonify(body)


@bp.post("/api/v1/coverage/recommend")
def recommend_api():
    """Recommended sites with the residents they newly cover and before/after figures.

    With ``?async=1`` the work runs in the background: the answer is ``202`` with a job id to
    poll at ``/api/v1/coverage/recommend/jobs/<id>``, which tells the stage until it is done.
    """
    if request.args.get("async") not in ("1", "true"):
        return _answer(_recommendation())
    from app.geo import jobs

    ds, params, data, key = _recommend_request()
    folder = _jobs()
    job_id = folder.create({"stage": "preparing", "started": time.time()})
    folder.claim(job_id)

    def run() -> None:
        try:
            result = _solve(ds, params, data, key, lambda m: folder.update(job_id, stage=m))
            folder.put(job_id, "answer", _answer_parts(result))
            folder.update(job_id, state="done")
        except jobs.GridmapError as exc:  # handed to the poll, which raises it for the error handlers
            folder.update(job_id, state="failed", error=jobs.error_state(exc))
        except Exception:  # a bug: logged, and the poll answers 500
            current_log.exception("recommendation job %s failed", job_id)
            folder.update(job_id, state="failed",
                          error=jobs.error_state(jobs.GridmapError("internal error; it has been logged", 500)))

    current_log = current_app.logger
    threading.Thread(target=run, name=f"recommend-{job_id[:6]}", daemon=True).start()
    return jsonify({"job": job_id, "done": False}), 202


@bp.get("/api/v1/coverage/recommend/jobs/<job_id>")
def recommend_job(job_id: str):
    """A background recommendation: its stage while it runs, then the same answer as the POST."""
    from app.geo import jobs

    folder = _jobs()
    job = folder.state(job_id)
    if job.get("error"):
        raise jobs.error_of(job["error"])
    if job["state"] == "done":
        return _answer_body(folder.get(job_id, "answer"))
    lang = i18n.current_lang()
    return jsonify({"job": job_id, "done": False, "stage": _stage(str(job["stage"]), lang),
                    "elapsed_s": round(time.time() - job["started"], 1)})


@bp.post("/api/v1/coverage/recommend/export.<fmt>")
def recommend_download(fmt: str):
    """The recommendation as GeoJSON, XLSX or PDF."""
    from app.geo import _recommend_export as rx

    if fmt not in rx.MEDIA_TYPES:
        raise ApiError(f"unknown format {fmt!r}; expected one of {', '.join(rx.MEDIA_TYPES)}", status=404)
    result = _recommendation()
    data = rx.to_bytes(result, fmt, i18n.current_lang())
    name = f"recommend-{'-'.join(r.category for r in result.runs)}.{fmt}"
    return send_file(io.BytesIO(data), mimetype=rx.MEDIA_TYPES[fmt], as_attachment=True, download_name=name)
