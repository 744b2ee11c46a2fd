"""gridmap: grid mapping for community governance (网格化治理), served by Flask."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask

from app import settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Settings come from the declared defaults, then ``GRIDMAP_*`` environment variables,
    then ``test_config``.

    Parameters
    ----------
    test_config : dict, optional
        Settings that override everything else, for tests.

    Returns
    -------
    Flask
        The configured application with every blueprint registered.
    """
    app = Flask(__name__, instance_relative_config=True, static_folder="web/static",
                template_folder="web/templates")
    app.config.update(settings.defaults())
    app.config.update(settings.from_environ())
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses

    from app.geo.store import DataManager, FolderStore

    app.extensions["gridmap.data"] = DataManager(FolderStore(app.config["DATA_DIR"]))

    from app.web import coverage, errors, health, locate, maps, openapi

    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(locate.bp)
    app.register_blueprint(coverage.bp)
    return app
