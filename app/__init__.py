"""gridmap: grid mapping for community governance (网格化治理), served by Flask."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app import settings

if TYPE_CHECKING:
    from flask import Flask

    from app.geo.dataset import Dataset
    from app.geo.findings import Finding


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Settings come from the declared defaults, then ``GRIDMAP_*`` environment variables. A test
    passes ``test_config`` instead: then only the defaults and ``test_config`` count, so the
    developer's environment never leaks into a test. Keys of ``test_config`` that are not
    gridmap settings (``TESTING``) go to Flask as they are.

    Parameters
    ----------
    test_config : mapping, optional
        Settings for a test, over the defaults.

    Returns
    -------
    Flask
        The configured application with every blueprint registered; its
        ``extensions["gridmap.checkup"]`` lists the warnings of the start-up check.

    Raises
    ------
    app.geo.checkup.DataCheckError
        When the current data cannot be served (a missing layer or field, repeated codes, codes
        that name no parent): the message lists every problem with its layer and field.
    """
    from flask import Flask  # here, not at import: `gridmap locate-batch` and the core never load Flask

    config = settings.resolve(test_config, environ={} if test_config is not None else None)
    if not config.SECRET_KEY:
        config = settings.replace(config, SECRET_KEY=secrets.token_hex(32))
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates",
                instance_path=str(settings.instance_dir(config)))
    app.config.update(config.as_dict())
    app.config.update({k: v for k, v in (test_config or {}).items() if k not in settings.SETTINGS_BY_NAME})
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_UPLOAD_MB * 1024 * 1024
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses
    app.extensions["gridmap.config"] = config

    from app.geo.operations import open_workspace

    workspace = open_workspace(config)
    app.extensions["gridmap.workspace"] = workspace
    app.extensions["gridmap.data"] = workspace.data
    app.extensions["gridmap.checkup"] = _check_data(workspace.data.current(), config)

    from app.web import _http_cache as http_cache
    from app.web import admin, auth, coverage, errors, health, locate, maps, ogcapi, openapi, security
    from app.web import basemap as basemap_web
    from app.web import events as events_web
    from app.web import events_map as events_map_web
    from app.web import rebalance as rebalance_web
    from app.web import tiles as tiles_web
    from app.web import viewprint as viewprint_web

    admin.clean_uploads(config)  # uploads a killed server left; safe while another one uploads
    errors.register(app)
    auth.init_app(app)
    # One blueprint per concern. maps comes before security: security hashes the inline scripts
    # of a page and must see the body before maps' after-request gzip compresses it.
    for blueprint in (health.bp, maps.bp, openapi.bp, locate.bp, coverage.bp, rebalance_web.bp, admin.bp, ogcapi.bp,
                      tiles_web.bp, basemap_web.bp, viewprint_web.bp, events_web.bp,
                      events_map_web.bp):
        app.register_blueprint(blueprint)
    http_cache.init_app(app)  # ETags, 304 and gzip/br once; before security, so it sees the uncompressed body first
    security.init_app(app)  # last: its rate limits wrap every batch endpoint registered above
    _quick_ensure_sync(app)
    from app.web import _fastlane

    _fastlane.install(app)  # after every hook: plain point lookups skip them, with the same answer (FAST_LANE)
    from app.web import _activity

    _activity.init_app(app)  # outermost: every request, fast lane included, tells background work to wait
    return app


def _quick_ensure_sync(app: Flask) -> None:
    """Skip Flask's ``inspect.iscoroutinefunction`` for plain functions: it ran for every hook of every request.

    Flask asks ``ensure_sync(f)`` before calling each view and hook; for a plain (not ``async``)
    function the answer is ``f`` itself, which one flag of its code object tells.
    """
    from inspect import CO_COROUTINE
    from types import FunctionType

    flask_ensure_sync = app.ensure_sync

    def ensure_sync(func: Any) -> Any:
        if type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE:
            return func
        return flask_ensure_sync(func)

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


def _check_data(ds: Dataset, config: settings.Config) -> list[Finding]:
    """Run the start-up check on the data about to be served; raise on an error, return the warnings."""
    from app.geo.checkup import check_dataset, require_servable
    from app.geo.db import redact

    return require_servable(check_dataset(ds), f"{redact(config.STORE_URL or config.DATA_DIR)}, version {ds.version}")
