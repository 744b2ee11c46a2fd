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
    config = settings.resolve(test_config)
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates",
                instance_path=str(settings.instance_dir(config)))
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses

    from app.geo.versions import open_data

    app.extensions["gridmap.data"] = open_data(app.config["DATA_DIR"], app.config.get("STORE_DIR"),
                                               settings.DEMO_DATA_DIR, app.instance_path)

    from app.web import admin, auth, coverage, errors, health, locate, maps, openapi, security

    errors.register(app)
    auth.init_app(app)
    # One blueprint per concern. maps comes before security: security hashes the inline scripts
    # of a page and must see the body before maps' after-request gzip compresses it.
    for blueprint in (health.bp, maps.bp, openapi.bp, locate.bp, coverage.bp, admin.bp):
        app.register_blueprint(blueprint)
    security.init_app(app)  # last: its rate limits wrap every batch endpoint registered above
    return app
