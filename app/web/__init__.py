"""Flask layer of gridmap: thin blueprints over app.geo, plus templates and static assets."""

from __future__ import annotations

from flask import current_app

from app.geo.dataset import Dataset


def dataset() -> Dataset:
    """Return the data version this request works on."""
    return current_app.extensions["gridmap.data"].current()
