"""Errors mapped once to responses: a JSON body for the API, a page for a browser, never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app import messages as _messages
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


def json_lang() -> str | None:
    """Return the language a JSON answer's ``error`` is written in, or None for the core's own text.

    A request that names its language (``?lang=``, the language cookie), a browser's fetch from one
    of this site's pages (``Sec-Fetch-Site: same-origin``: the page's language) and a request with
    ``Accept-Language`` get that language. Scripts that say nothing keep the core's (English)
    messages, as before.

    Returns
    -------
    str or None
        ``"zh"``, ``"en"`` or None.
    """
    from app.web import i18n

    if request.args.get("lang") in i18n.LANGUAGES or request.cookies.get(i18n.COOKIE) in i18n.LANGUAGES:
        return i18n.current_lang()
    if request.headers.get("Sec-Fetch-Site") == "same-origin":
        return i18n.current_lang()
    if request.headers.get("Accept-Language"):
        return request.accept_languages.best_match(i18n.LANGUAGES)
    return None


def page_lang() -> str:
    """Return the language of an error page: the request's UI language."""
    from app.web import i18n

    return i18n.current_lang()


def message_of(err: GridmapError, lang: str | None) -> str:
    """Return ``err``'s message in ``lang`` (Chinese from :mod:`app.messages` for ``"zh"``)."""
    return _messages.translate(err.key, err.message, lang)


def error_page(status: int, message: str, code: str | None = None) -> tuple[str, int]:
    """Render the error page with ``status`` and ``message`` in the page's language (a 404 says "not found").

    Parameters
    ----------
    status : int
        The HTTP status.
    message : str
        The text; a core refusal's English message is said in Chinese on Chinese pages.
    code : str, optional
        The refusal's key (``GridmapError.key``); when omitted, any known pattern may translate it.
    """
    lang = page_lang()
    text = _messages.translate(code, message, lang) if code else _messages.translate_any(message, lang)
    return render_template("error.html", message=text, status=status), status


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(GridmapError)
    def _gridmap_error(err: GridmapError):
        if wants_json():
            return jsonify({**err.to_dict(), "error": message_of(err, json_lang())}), err.status
        return error_page(err.status, err.message, err.key)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if wants_json():
            text = _messages.http_message(err.code or 500, err.description, json_lang()) or err.description
            return jsonify({"error": text, "status": err.code}), err.code
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
