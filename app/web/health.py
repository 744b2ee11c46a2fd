"""Liveness and the list of layers with their feature counts and the data version."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.web import dataset

bp = Blueprint("health", __name__)

OPENAPI_PATHS = {
    "/healthz": {"get": {"summary": "Liveness and data version", "operationId": "healthz",
                         "responses": {"200": {"description": "ok"}}}},
    "/api/v1/layers": {"get": {"summary": "Layers with feature counts and the data version", "operationId": "layers",
                               "responses": {"200": {"description": "layers"}}}},
}


@bp.get("/healthz")
def healthz():
    """Answer ``ok`` with the data version once the data can be read."""
    return jsonify({"status": "ok", "data_version": dataset().version})


@bp.get("/api/v1/layers")
def layers():
    """List the layers with their feature counts and the data version."""
    ds = dataset()
    counts = ds.counts()
    return jsonify(
        {
            "data_version": ds.version,
            "layers": [{"name": name, "count": n} for name, n in counts.items()],
        }
    )
