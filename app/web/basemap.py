"""The local basemap: the BASEMAP_FILE (MBTiles/PMTiles) checked at start-up and served at /basemap/<z>/<x>/<y>.<ext>."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from markupsafe import Markup, escape

from app.errors import GridmapError
from app.geo.mbtiles import TileFile, TileMissing, open_tile_file
from app.web import i18n
from app.web.errors import json_lang, message_of
from app.web.i18n import t
from app.web.openapi import error_responses

bp = Blueprint("basemap", __name__)

#: Where the app keeps the opened file.
_EXT = "gridmap.basemap_file"
#: Zoom the map may be magnified to past the file's deepest level (its tiles are stretched).
MAX_ZOOM = 19

i18n.register({
    "basemap.local": ("本地底图", "Local basemap"),
})


@bp.record_once
def _open(state: Any) -> None:
    """Open and check the file when BASEMAP=local, so that a bad file stops the start with its name."""
    app = state.app
    if app.config.get("BASEMAP") == "local":
        app.extensions[_EXT] = open_tile_file(app.config.get("BASEMAP_FILE") or "")


def tile_file() -> TileFile | None:
    """Return the opened local basemap file, or None when BASEMAP is not ``local``."""
    return current_app.extensions.get(_EXT)


def tile_spec() -> dict[str, Any]:
    """Return the tile layer of the local basemap, in the form ``maps._add_tiles`` takes.

    Returns
    -------
    dict
        ``url``, ``name``, ``attr``, ``subdomains``, ``max_zoom`` and Leaflet ``options``
        (the file's deepest zoom as ``max_native_zoom``, its ``bounds`` so that no tile outside is asked for).
    """
    tf = tile_file()
    if tf is None:
        raise RuntimeError("tile_spec() needs BASEMAP=local")
    options: dict[str, Any] = {"max_native_zoom": tf.maxzoom, "min_native_zoom": tf.minzoom}
    if tf.bounds:
        w, s, e, n = tf.bounds
        options["bounds"] = [[s, w], [n, e]]
    return {"url": f"/basemap/{{z}}/{{x}}/{{y}}.{tf.format}", "name": t("basemap.local"),
            "attr": str(escape(Markup(tf.attribution or tf.name).striptags() or t("basemap.local"))), "subdomains": "abc",
            "max_zoom": MAX_ZOOM, "options": options}


@bp.errorhandler(GridmapError)
def _tile_error(err: GridmapError) -> Any:
    """A tile URL is never a page: its refusals are JSON (a missing tile is a 404)."""
    return jsonify({**err.to_dict(), "error": message_of(err, json_lang())}), err.status


@bp.get("/basemap/<int:z>/<int:x>/<int:y>.<ext>")
def tile(z: int, x: int, y: int, ext: str) -> Any:
    """One tile of the local basemap file (XYZ numbering), cached by the browser for a day."""
    tf = tile_file()
    if tf is None:
        raise TileMissing("no local basemap is configured (BASEMAP=local with BASEMAP_FILE)")
    if ext.lower() not in (tf.format, "jpeg" if tf.format == "jpg" else tf.format):
        raise TileMissing(f"the basemap's tiles are .{tf.format}, not .{ext}")
    body = tf.tile(z, x, y)
    resp = Response(body, mimetype=tf.mimetype)
    resp.set_etag(f"{tf.etag}-{z}-{x}-{y}")
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp.make_conditional(request)


OPENAPI_PATHS = {
    "/basemap/{z}/{x}/{y}.{ext}": {"get": {
        "summary": "A tile of the local basemap file (BASEMAP=local, BASEMAP_FILE)", "operationId": "basemapTile",
        "description": "XYZ tile numbering (y from the north; MBTiles rows are flipped on reading). "
                       "ext is the file's tile format: png, jpg or webp.",
        "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                       for n in ("z", "x", "y")]
                      + [{"name": "ext", "in": "path", "required": True,
                          "schema": {"type": "string", "enum": ["png", "jpg", "webp"]}}],
        "responses": {"200": {"description": "the tile image; Cache-Control public, max-age one day; ETag",
                              "content": {m: {} for m in ("image/png", "image/jpeg", "image/webp")}},
                      **error_responses(404)},
    }},
}
