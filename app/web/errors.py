"""JSON errors for the API and clean error pages: never a stack trace to a client."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError


class ApiError(Exception):
    """A client error with an HTTP status and a message that names the problem."""

    def __init__(self, message: str, status: int = 400, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        body = {"error": err.message, "status": err.status, **err.detail}
        return jsonify(body), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if _wants_json():
            return jsonify({"error": err.description, "status": err.code}), err.code
        return err

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        if isinstance(err, HTTPException):
            return _http_error(err)
        if _wants_json():
            return jsonify({"error": "internal error; it has been logged", "status": 500}), 500
        return InternalServerError()
