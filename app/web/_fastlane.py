"""A fast lane for plain point lookups: the same answer as the Flask view, without Flask's per-request plumbing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, signals

from app.web import auth, locate, security
from app.web._locate_json import json_bytes

#: The one path the lane answers.
PATH = "/api/v1/locate/point"
#: One query parameter the lane takes as it is: a documented name and a value that needs no decoding
#: (no ``%``, no ``+``, which means a space); any other query string goes to Flask.
_PARAM = re.compile(r"(lon|lat|crs)=([A-Za-z0-9._:-]{1,64})")
#: A ``Host`` header whose name IDNA-encodes as it is (labels of 1-63 letters, digits or hyphens) and an optional
#: port; any other (IPv6, an odd name that Flask refuses or encodes) goes to Flask.
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::[0-9]{1,5})?")
#: What Flask's hooks leave in ``Vary`` of a small JSON answer to a caller without a session cookie: the
#: compression hook's ``Accept-Encoding``, then the session's ``Cookie`` (it was read to decide on staff fields).
_VARY = ("Vary", "Accept-Encoding, Cookie")
#: Flask's signals around a request: with a receiver connected the request goes through Flask.
_SIGNALS = (signals.request_started, signals.request_finished, signals.got_request_exception,
            signals.request_tearing_down, signals.appcontext_pushed, signals.appcontext_popped,
            signals.appcontext_tearing_down)
#: Hook registries of the app whose contents the lane reproduces (checked on every request).
_HOOKS = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs", "url_value_preprocessors",
          "teardown_appcontext_funcs")


def _hooks(app: Flask) -> tuple[Any, ...]:
    """The hooks registered on ``app`` now (the app's own, and the locate blueprint's)."""
    out: list[Any] = []
    for name in _HOOKS:
        funcs = getattr(app, name)
        if isinstance(funcs, dict):
            out += [tuple(funcs.get(None, ())), tuple(funcs.get("locate", ()))]
        else:
            out.append(tuple(funcs))
    return tuple(out)


def params(query: str) -> dict[str, str] | None:
    """The parameters of a query string the lane may answer (``lon=98.29&lat=39.77[&crs=gcj02]``), else None.

    Parameters
    ----------
    query : str
        The WSGI ``QUERY_STRING``.

    Returns
    -------
    dict or None
        Each of ``lon``, ``lat``, ``crs`` given at most once with a plain value (what ``request.args``
        gives for it); None for anything else: other names, repeated names, empty values or values
        that need decoding.
    """
    out: dict[str, str] = {}
    for part in query.split("&"):
        m = _PARAM.fullmatch(part)
        if m is None or m.group(1) in out:
            return None
        out[m.group(1)] = m.group(2)
    return out


def install(app: Flask) -> bool:
    """Answer plain ``GET /api/v1/locate/point`` requests of ``app`` in the lane; everything else goes to Flask.

    A request takes the lane when it is a GET of exactly that path with only ``lon``, ``lat`` and
    ``crs`` in plain characters, no cookie, no ``Authorization``, no body, plain HTTP and an
    ordinary ``Host``, and the app is as :func:`app.create_app` made it (the view is not wrapped,
    no further hook or signal receiver, no ``SERVER_NAME``/``TRUSTED_HOSTS``, not in debug mode).
    The lane calls the view's own :func:`app.web.locate.point_answer` and
    :func:`app.web._locate_json.json_bytes` and sends the headers Flask's hooks would add (the
    security headers and ``Vary``). A refusal (a bad number, a missing parameter), an answer only
    ``jsonify`` writes alike and an answer of 1,000 bytes or more (the compression hook's
    business) are handed to Flask, which answers them as always.

    Parameters
    ----------
    app : Flask
        The app, with every blueprint and hook registered (call last in the factory).

    Returns
    -------
    bool
        Whether the lane was installed (``FAST_LANE`` on and the view is Flask's plain one).
    """
    view = app.view_functions.get("locate.api_point")
    if not app.config.get("FAST_LANE") or view is not locate.api_point:
        return False
    inner: Callable[..., Iterable[bytes]] = app.wsgi_app
    extensions, config = app.extensions, app.config
    hooks = _hooks(app)
    headers_of: dict[str, tuple[tuple[str, str], ...]] = {}

    def ready() -> bool:
        """Whether the app is still as the lane knows it."""
        return (app.view_functions.get("locate.api_point") is view and not app.debug
                and extensions.get("gridmap.can_see_personal") is auth.can_see_personal
                and config["SERVER_NAME"] is None and config.get("TRUSTED_HOSTS") is None
                and not any(s.receivers for s in _SIGNALS) and _hooks(app) == hooks)

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "GET"
                or environ.get("HTTP_COOKIE") or environ.get("HTTP_AUTHORIZATION") or environ.get("CONTENT_TYPE")
                or environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get("HTTP_TRANSFER_ENCODING")
                or environ.get("SCRIPT_NAME") or environ.get("wsgi.url_scheme") != "http"
                or _HOST.fullmatch(environ.get("HTTP_HOST") or "") is None):
            return inner(environ, start_response)
        found = params(environ.get("QUERY_STRING") or "")
        if found is None or not ready():
            return inner(environ, start_response)
        try:
            answer = locate.point_answer(extensions["gridmap.data"].current(), found, False)
        except Exception:  # noqa: BLE001 - a refusal: Flask answers it (its language, its error body)
            return inner(environ, start_response)
        provider = app.json
        body = json_bytes(answer, provider, False)
        if body is None or len(body) >= 1000:  # jsonify's own output, or a body the compression hook weighs
            return inner(environ, start_response)
        basemap = config["BASEMAP"]
        fixed = headers_of.get(basemap)
        if fixed is None:
            fixed = headers_of[basemap] = security.plain_headers(basemap)
        start_response("200 OK", [("Content-Type", provider.mimetype), ("Content-Length", str(len(body))),
                                  *fixed, _VARY])
        return [body]

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    return True
