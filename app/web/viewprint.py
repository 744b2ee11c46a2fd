"""Print and share the home map's current view: ``/export/view.png`` and ``/export/view.pdf`` (thin views)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from app.geo import viewprint
from app.web import dataset, i18n
from app.web.openapi import error_responses

bp = Blueprint("viewprint", __name__)

_MIME = {"png": "image/png", "pdf": "application/pdf"}

i18n.register({
    "viewprint.control": ("打印与分享", "Print and share"),
    "viewprint.png": ("下载图片 PNG", "Download image (PNG)"),
    "viewprint.pdf": ("下载 PDF", "Download PDF"),
    "viewprint.link": ("复制链接", "Copy link"),
    "viewprint.copied": ("链接已复制", "Link copied"),
    "viewprint.copy_failed": ("无法自动复制，请手动复制此链接：", "Could not copy; copy this link:"),
    "viewprint.working": ("正在生成…", "Preparing…"),
    "viewprint.failed": ("生成失败", "Could not make the file"),
})


def _export(fmt: str) -> Any:
    args = dict(request.args.items())
    args.setdefault("lang", i18n.current_lang())
    view = viewprint.parse_view(args)
    ds = dataset()
    tz = str(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    body = viewprint.render_png(ds, view, tz) if fmt == "png" else viewprint.render_pdf(ds, view, tz)
    resp = Response(body, mimetype=_MIME[fmt])
    name = f"gridmap-view-{ds.version}.{fmt}"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.cache_control.private = True
    resp.cache_control.no_cache = True
    return resp


@bp.get("/export/view.png")
def view_png() -> Any:
    """The current view of the home map as a PNG (title, legend, scale bar, north arrow, selection)."""
    return _export("png")


@bp.get("/export/view.pdf")
def view_pdf() -> Any:
    """The current view of the home map on an A4 landscape PDF page."""
    return _export("pdf")


def _params() -> list[dict[str, Any]]:
    def q(name: str, desc: str, example: str) -> dict[str, Any]:
        # the example goes in the text, not in "example": the API fuzzer would print it 80 times over
        return {"name": name, "in": "query", "required": False, "description": f"{desc} (e.g. {example})",
                "schema": {"type": "string"}}

    return [
        q("bbox", "min_lon,min_lat,max_lon,max_lat in WGS84 (or give view)", "98.2,39.7,98.4,39.9"),
        q("view", "zoom/lat/lon, as the share link's view (used when bbox is absent)", "14/39.78/98.29"),
        q("size", f"map width x height in pixels; each side capped to {viewprint.MIN_SIDE}-{viewprint.MAX_SIDE}",
          "1200x800"),
        q("layers", "comma list of " + ", ".join(viewprint.LAYERS)
          + "; facilities:cat1:cat2 limits the categories", "grids,committees,facilities:bus_stop"),
        q("attr", "the choropleth attribute (as the home map's attr)", "population"),
        q("sel", "selected feature, kind:code with kind " + ", ".join(viewprint.SELECT_KINDS), "grid:620201001001001"),
        q("lang", "zh (default from the request) or en", "zh"),
        q("datum", "wgs84 (default) or gcj02: the datum of bbox/view (the basemap's)", "wgs84"),
    ]


OPENAPI_PATHS = {
    f"/export/view.{fmt}": {"get": {
        "summary": f"The home map's current view as a {fmt.upper()} (title, legend, scale bar, north arrow)",
        "operationId": f"exportView{fmt.capitalize()}",
        "description": "Drawn on the server from the stored data (no personal fields). A bad parameter gives 400 "
                       "with `parameter` naming it.",
        "parameters": _params(),
        "responses": {"200": {"description": f"the {fmt.upper()} file (attachment)", "content": {_MIME[fmt]: {}}},
                      **error_responses(400)},
    }}
    for fmt in ("png", "pdf")
}
