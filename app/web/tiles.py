"""Vector tiles of the home map's layers, a grid's popup record, and search for everything (thin views)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.geo import map_records, mapdata, search, tiles
from app.web import dataset, i18n
from app.web.errors import ApiError
from app.web.maps import show_personal
from app.web.openapi import error_responses

bp = Blueprint("tiles", __name__)

#: MIME type of Mapbox Vector Tiles.
MVT_MIMETYPE = "application/vnd.mapbox-vector-tile"


def _versioned(resp: Response, version: str, current: str) -> Response:
    """Cache for a year when the URL names the current version (its data never changes), else not at all."""
    if version == current:
        resp.cache_control.public = True
        resp.cache_control.max_age = 31536000
        resp.cache_control.immutable = True
    else:  # an old version's URL: answer with the current data, but do not let it be cached
        resp.cache_control.no_cache = True
    return resp


def tile_cache_dir() -> Path:
    """Return the folder the tiles of every data version are cached in: ``INSTANCE_DIR/cache/tiles``."""
    return Path(current_app.instance_path) / "cache" / "tiles"


@bp.get("/tiles/<version>/<datum>/<layer>/<int:z>/<int:x>/<int:y>.pbf")
def tile(version: str, datum: str, layer: str, z: int, x: int, y: int) -> Any:
    """One Mapbox Vector Tile of a layer (grids, committees, divisions, roads, or all); immutable per version, gzip."""
    if datum not in mapdata.DATUMS:
        raise tiles.TileError(f"unknown datum {datum!r}; expected one of {', '.join(mapdata.DATUMS)}")
    ds = dataset()
    body = tiles.tile_gz(ds, layer, z, x, y, datum, tile_cache_dir(),
                         current_app.extensions["gridmap.activity"].wait_quiet)
    etag = f"{ds.version}-{datum}-{layer}-{z}-{x}-{y}"
    vary = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    resp = Response(body if vary else gzip.decompress(body), mimetype=MVT_MIMETYPE)
    resp.vary.add("Accept-Encoding")
    if vary:
        resp.headers["Content-Encoding"] = "gzip"
        resp.set_etag(etag, weak=True)
    else:
        resp.set_etag(etag)
    return _versioned(resp, version, ds.version).make_conditional(request)


@bp.get("/map/grid/<version>/<path:code>.json")
def grid_record(version: str, code: str) -> Any:
    """What a grid's popup shows (tiled home map); personal fields for signed-in staff only."""
    ds = dataset()
    rec = map_records.grid_record(ds, code, show_personal()) if len(code) <= 64 else None
    if rec is None:
        raise tiles.TileError(f"no grid has the code {code!r}")
    resp = jsonify(rec)
    resp.cache_control.private = True
    resp.cache_control.no_cache = True
    return resp


@bp.get("/api/v1/search")
def api_search() -> Any:
    """Search grids, committees, divisions, facilities and addresses by name, code or pinyin initials."""
    q = request.args.get("q", "")
    raw = request.args.get("limit", "10")
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(f"limit must be an integer, not {raw!r}") from None
    datum = request.args.get("datum", "wgs84")
    if datum not in mapdata.DATUMS:
        raise ApiError(f"unknown datum {datum!r}; expected one of {', '.join(mapdata.DATUMS)}")
    results = search.search(dataset(), q, limit, datum)
    lang = i18n.current_lang()
    for r in results:
        r["kind_label"] = i18n.t(f"search.kind.{r['kind']}", lang=lang)
    return jsonify({"query": q, "results": results})


i18n.register({
    "search.kind.grid": ("网格", "Grid"),
    "search.kind.committee": ("社区", "Committee"),
    "search.kind.division": ("街道", "Division"),
    "search.kind.facility": ("设施", "Facility"),
    "search.kind.address": ("地址", "Address"),
    "search.everything": ("搜索网格、社区、街道、设施或地址…", "Search grids, committees, divisions, facilities, addresses…"),
    "search.empty": ("无结果", "No results"),
    "layer.roads": ("道路（离线）", "Roads (offline)"),
})

OPENAPI_PATHS = {
    "/api/v1/search": {"get": {
        "summary": "Search grids, committees, divisions, facilities and addresses", "operationId": "search",
        "description": "Ranked by how the name, code or pinyin initials (xgsq finds 雄关社区) meet the query; "
                       "Chinese queries also go to the address matcher.",
        "parameters": [
            {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1,
                                                                       "maxLength": search.MAX_QUERY}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": search.MAX_LIMIT, "default": 10}},
            {"name": "datum", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(mapdata.DATUMS), "default": "wgs84"}},
        ],
        "responses": {"200": {"description": "results, best first: kind, kind_label, code, name, detail, lon, lat, "
                                             "bbox (areas) and score",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      **error_responses(400)},
    }},
    "/tiles/{version}/{datum}/{layer}/{z}/{x}/{y}.pbf": {"get": {
        "summary": "A Mapbox Vector Tile of the grids, committees, divisions or roads, or of all of them",
        "operationId": "tile",
        "description": f"`{tiles.ALL}` gives one tile with a layer for each layer shown at its zoom (bottom first: "
                       f"{', '.join(tiles.DRAW_ORDER)}). Tiles are cut once per data version and kept in "
                       "INSTANCE_DIR/cache/tiles.",
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": s} for n, s in (
                ("version", {"type": "string"}), ("datum", {"type": "string", "enum": list(mapdata.DATUMS)}),
                ("layer", {"type": "string", "enum": [*tiles.TILE_LAYERS, tiles.ALL]}),
                ("z", {"type": "integer", "minimum": 0, "maximum": tiles.MAX_ZOOM}),
                ("x", {"type": "integer", "minimum": 0}), ("y", {"type": "integer", "minimum": 0}))],
        "responses": {"200": {"description": "the tile (immutable when the version is the current one)",
                              "content": {MVT_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}},
                      **error_responses(400, 404)},
    }},
}


@bp.get("/map/roads/<version>.<datum>.json")
def road_labels(version: str, datum: str) -> Any:
    """Where the road names go on the home map (immutable per data version)."""
    if datum not in mapdata.DATUMS:
        raise tiles.TileError(f"unknown datum {datum!r}; expected one of {', '.join(mapdata.DATUMS)}")
    ds = dataset()
    resp = jsonify(map_records.road_labels(ds, datum))
    return _versioned(resp, version, ds.version)
