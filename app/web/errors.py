"""Errors mapped once to responses: a JSON body for the API, a page for a browser, never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app.errors import GridmapError


class ApiError(GridmapError):
    """A request the web layer refuses before it reaches the core (missing field, bad parameter)."""

    default_key = "request"


def wants_json(default: bool = True) -> bool:
    """Return True when the client should get JSON rather than a page.

    Parameters
    ----------
    default : bool
        The answer when the client names no preference (no ``Accept`` header): errors answer
        JSON to scripts, while a form's success page stays HTML.

    Returns
    -------
    bool
        True for ``/api/`` paths and ``?format=json``; otherwise what ``Accept`` prefers.
    """
    if request.path.startswith("/api/") or request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best
    if best is None or best == "*/*":
        return default
    return best == "application/json"


def error_page(status: int, message: str) -> tuple[str, int]:
    """Render the error page with ``status`` and ``message`` (a 404 says "not found")."""
    return render_template("error.html", message=message, status=status), status


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(GridmapError)
    def _gridmap_error(err: GridmapError):
        if wants_json():
            return jsonify(err.to_dict()), err.status
        return error_page(err.status, err.message)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if wants_json():
            return jsonify({"error": err.description, "status": err.code}), err.code
        if err.code is None or err.code < 400:
            return err  # a redirect raised as an exception
        from app.web.i18n import t

        message = t("notfound.page") if err.code == 404 else t("error.http", status=err.code)
        body, status = error_page(err.code, message)
        return body, status, err.get_headers() if err.code == 405 else {}

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        if isinstance(err, HTTPException):
            return _http_error(err)
        if wants_json():
            return jsonify({"error": "internal error; it has been logged", "status": 500}), 500
        return InternalServerError()
