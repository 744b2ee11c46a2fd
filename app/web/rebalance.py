"""Grid rebalancing views for staff: the JSON API under /api/v1/rebalance, its file downloads and the /rebalance page."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, send_file

from app.geo import rebalance as rb
from app.geo import rebalance_export as rx
from app.web import dataset, i18n
from app.web.auth import can_see_personal, role_required
from app.web.errors import ApiError
from app.web.openapi import error_responses

bp = Blueprint("rebalance", __name__)

i18n.register({
    "nav.rebalance": ("网格调整", "Rebalance"),
    "rebalance.title": ("网格调整（均衡工作量）", "Grid rebalancing (fair workloads)"),
    "rebalance.scope": ("范围", "Scope"),
    "rebalance.committee": ("社区（村）", "Committee"),
    "rebalance.division_all": ("整个街道（镇）", "whole division"),
    "rebalance.households": ("每个网格户数", "Households per grid"),
    "rebalance.run": ("生成方案", "Propose"),
    "rebalance.working": ("计算中…", "Working…"),
    "rebalance.error": ("未能生成方案", "No proposal could be made"),
    "rebalance.before": ("现有网格", "Current grids"),
    "rebalance.after": ("调整方案", "Proposal"),
    "rebalance.summary": ("前后对比", "Before and after"),
    "rebalance.item": ("项目", "Item"),
    "rebalance.grids": ("网格数", "Grids"),
    "rebalance.in_band": ("户数在范围内", "In band"),
    "rebalance.min": ("最少户数", "Fewest households"),
    "rebalance.max": ("最多户数", "Most households"),
    "rebalance.std": ("户数标准差", "Std of households"),
    "rebalance.miss": ("超出范围户数", "Households outside band"),
    "rebalance.moved": ("改变所属网格的地址", "Addresses changing grid"),
    "rebalance.met": ("全部新网格户数在范围内。", "Every new grid lies in the band."),
    "rebalance.not_met": ("未能使全部网格落在范围内，下面是找到的最好方案及原因。",
                          "The band cannot be met for every grid; shown is the best found, and why."),
    "rebalance.table": ("各网格户数（调整前 → 调整后）", "Households per grid (before → after)"),
    "rebalance.code": ("网格编码", "Grid code"),
    "rebalance.col_before": ("调整前", "Before"),
    "rebalance.col_after": ("调整后", "After"),
    "rebalance.residents": ("人口", "Residents"),
    "rebalance.download": ("下载", "Download"),
    "rebalance.fmt.geojson": ("网格图层 GeoJSON", "Grids layer GeoJSON"),
    "rebalance.fmt.zip": ("导入包（网格+地址+设施）", "Import bundle (grids+addresses+facilities)"),
    "rebalance.fmt.xlsx": ("Excel 表格", "Excel table"),
    "rebalance.fmt.pdf": ("PDF 报告", "PDF report"),
    "rebalance.import_hint": ("导入包内含三个图层及导入步骤：先导入网格，再导入地址和设施；每次导入都经校验，可回滚。",
                              "The bundle holds three layers and the steps: import the grids, then the addresses and "
                              "facilities; each import is checked and can be rolled back."),
    "rebalance.legend_in": ("户数在范围内", "In band"),
    "rebalance.legend_low": ("户数不足", "Below band"),
    "rebalance.legend_high": ("户数超出", "Above band"),
    "rebalance.seconds": ("用时（秒）", "Time (s)"),
    "rebalance.renumber": ("重新编号（自西向东、自北向南）", "Renumber (west→east, north→south)"),
    "rebalance.units": ("新边界沿道路划分（整街块）。", "New borders follow roads (whole blocks)."),
})

_SCOPE = [
    {"name": "committee", "in": "query", "required": False, "description": "Committee code (give this or division)",
     "schema": {"type": "string"}},
    {"name": "division", "in": "query", "required": False,
     "description": "Division code: each of its committees on its own", "schema": {"type": "string"}},
    {"name": "households", "in": "query", "required": False, "description": "Band of households per grid, LOW-HIGH",
     "schema": {"type": "string", "default": "300-500", "pattern": "^[0-9]+-[0-9]+$"}},
    {"name": "renumber", "in": "query", "required": False,
     "description": "1: number the new grids 001... west→east, north→south instead of keeping old codes",
     "schema": {"type": "string", "enum": ["0", "1"], "default": "0"}},
]

_ERRORS = {**error_responses(400, 404), "401": {"description": "sign in as staff first",
                                              "content": error_responses(400)["400"]["content"]}}

OPENAPI_PATHS = {
    "/api/v1/rebalance": {"get": {
        "summary": "Propose new grids inside a committee (or each committee of a division) with households in a band",
        "operationId": "rebalance", "parameters": _SCOPE,
        "responses": {"200": {"description": "summary, per-committee outcome with reasons, the table and "
                                             "GeoJSON of the grids before and after"},
                      **_ERRORS}}},
    "/api/v1/rebalance/export.{fmt}": {"get": {
        "summary": "The proposal as a file: the grids layer, an import bundle, a workbook or a report",
        "operationId": "rebalanceExport",
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(rx.FORMATS)}}, *_SCOPE],
        "responses": {"200": {"description": "the file"}, **_ERRORS}}},
}


def _result() -> rb.RebalanceResult:
    """The proposal for the query's scope and band, computed once per data version."""
    args = request.args
    committee = args.get("committee", "").strip() or None
    division = args.get("division", "").strip() or None
    if bool(committee) == bool(division):
        raise rb.RebalanceError("give one committee code or one division code")
    band = rb.parse_band(args.get("households"))
    ds = dataset()
    limit = float(current_app.config["OPTIMISE_TIME_LIMIT"])
    # one slot per data version: the page's downloads reuse the proposal it shows, and other
    # scopes or bands replace it rather than pile up (a result holds copies of the address layer)
    renumber = args.get("renumber", "").strip().lower() in ("1", "true", "yes", "on")
    key = (committee, division, band, limit, renumber)
    last = ds.cache.get("rebalance.last")
    if last is not None and last[0] == key:
        return last[1]
    result = rb.rebalance(ds, committee=committee, division=division, band=band, time_limit=limit,
                          renumber=renumber)
    ds.cache["rebalance.last"] = (key, result)
    return result


@bp.get("/api/v1/rebalance")
@role_required("staff")
def propose():
    """The proposal as JSON: summary, committees with reasons (zh/en), the table and the maps."""
    result = _result()
    body: dict[str, Any] = result.to_dict()
    lang = i18n.current_lang()
    for com in body["committees"]:
        for reason in com["reasons"]:
            reason["text"] = rx.reason_text(reason, lang)
    body["map"] = result.map_json()
    return jsonify(body)


@bp.get("/api/v1/rebalance/export.<fmt>")
@role_required("staff")
def download(fmt: str):
    """The proposal as geojson (grids layer), zip (import bundle), xlsx or pdf."""
    if fmt not in rx.FORMATS:
        raise ApiError(f"unknown format {fmt!r}; expected one of {', '.join(rx.FORMATS)}", status=404)
    result = _result()
    data = rx.to_bytes(result, fmt, lang=i18n.current_lang(), tz=current_app.config["TIMEZONE"],
                       personal=can_see_personal())
    return send_file(io.BytesIO(data), mimetype=rx.MEDIA_TYPES[fmt], as_attachment=True,
                     download_name=rx.file_name(result, fmt))


_PAGE_TEXT = ("working", "error", "before", "after", "grids", "in_band", "min", "max", "std", "miss", "moved",
              "met", "not_met", "item", "col_before", "col_after", "legend_in", "legend_low", "legend_high",
              "seconds", "units")


@bp.get("/rebalance")
@role_required("staff")
def page():
    """The rebalancing page: pick a committee (or division) and a band; see both maps, the table, the files."""
    from app.web.assets import vendor_url

    ds = dataset()
    com = ds.layer("committees")
    div = ds.layer("divisions")
    div_names = dict(zip(div["code"].astype(str), div["name"].astype(str), strict=True))
    grids = ds.grids
    per = grids.groupby(grids["committee_code"].astype(str))["households"].agg(["sum", "size"])
    groups: dict[str, list[dict[str, Any]]] = {}
    for code, name, dcode in sorted(zip(com["code"].astype(str), com["name"].astype(str),
                                        com["division_code"].astype(str), strict=True)):
        hh, n = (int(per.loc[code, "sum"]), int(per.loc[code, "size"])) if code in per.index else (0, 0)
        groups.setdefault(dcode, []).append({"code": code, "name": name, "households": hh, "grids": n})
    densest = max(((c["households"] / max(c["grids"], 1), c["code"]) for cs in groups.values() for c in cs),
                  default=(0, ""))[1]
    west, south, east, north = (round(float(v), 6) for v in grids.total_bounds)
    lang = i18n.current_lang()
    config = {
        "bounds": [[south, west], [north, east]] if len(grids) else None,
        "lang": lang, "locale": "en-GB" if lang == "en" else "zh-CN",
        "text": {k: i18n.t(f"rebalance.{k}") for k in _PAGE_TEXT},
        "formats": list(rx.FORMATS),
    }
    return render_template(
        "rebalance.html", config=config,
        divisions=[(d, div_names.get(d, d), cs) for d, cs in sorted(groups.items())],
        densest=densest, band=rb.band_text(rb.DEFAULT_BAND), formats=list(rx.FORMATS),
        leaflet_js=vendor_url("leaflet/leaflet.js"), leaflet_css=vendor_url("leaflet/leaflet.css"),
        data_version=ds.version,
    )
