"""The OpenAPI 3 document of the JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

import sys
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
CRS_PARAM = {
    "name": "crs", "in": "query", "required": False,
    "description": "CRS of the coordinates: an EPSG code (4326, 4490, 4542 ...), gcj02 (AMap, Tencent) or bd09 (Baidu).",
    "schema": {"type": "string", "default": "EPSG:4326", "maxLength": 64},
}


def error_responses(*codes: int) -> dict[str, Any]:
    """Return OpenAPI responses for the given error statuses, each a JSON Error."""
    text = {400: "bad request: the message names the problem", 404: "not found",
            413: "upload too large", 429: "too many requests"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "status"],
              "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
    "Grid": {"type": "object", "properties": {
        "code": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
        "committee": {"type": ["object", "null"]}, "division": {"type": ["object", "null"]}}},
    "PointAnswer": {"type": "object", "required": ["status", "grid", "on_border"], "properties": {
        "status": {"type": "string", "enum": ["ok", "outside"]},
        "grid": {"$ref": "#/components/schemas/Grid"},
        "on_border": {"type": "boolean"},
        "nearest": {"type": ["object", "null"]},
        "nearest_address": {"oneOf": [{"$ref": "#/components/schemas/NearestAddress"}, {"type": "null"}]},
        "wgs84": {"type": "object"}, "data_version": {"type": "string"}}},
}


def document(app: Flask) -> dict[str, Any]:
    """Return the whole OpenAPI document, gathered from every registered blueprint's module.

    A blueprint's module documents its own endpoints in a module-level ``OPENAPI_PATHS`` dict
    (and optional ``OPENAPI_SCHEMAS``), next to the views they describe.

    Parameters
    ----------
    app : Flask
        The application.

    Returns
    -------
    dict
        The OpenAPI 3.1 document.
    """
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(SCHEMAS)
    for blueprint in app.blueprints.values():
        module = sys.modules.get(blueprint.import_name)
        paths.update(getattr(module, "OPENAPI_PATHS", {}))
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "gridmap API", "version": "1",
                 "description": "Grids, facilities, locate and coverage for community governance (网格化治理)."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    return jsonify(document(current_app))
