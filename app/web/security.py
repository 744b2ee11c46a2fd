"""Hardening: a strict CSP and headers, CSRF tokens and origin checks on forms, rate limits, safe cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.settings import SettingError
from app.web._ratelimit import rate_limits
from app.web.errors import ApiError

#: Tile hosts each basemap setting loads images from.
TILE_HOSTS: dict[str, tuple[str, ...]] = {
    "none": (),
    "osm": ("https://tile.openstreetmap.org", "https://*.tile.openstreetmap.org"),
    "tianditu": ("http://*.tianditu.gov.cn", "https://*.tianditu.gov.cn"),
    "amap": ("http://*.is.autonavi.com", "https://*.is.autonavi.com"),
}
#: Form field and header that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style\s*>", re.S | re.I)


# --------------------------------------------------------------------------- CSRF


def csrf_token() -> str:
    """Return this session's CSRF token, making one on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    """Return the hidden form input that carries the CSRF token (use it in every form)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def _csrf_applies() -> bool:
    """Every form post needs the token; JSON APIs only when they change data (admin)."""
    if request.method not in _UNSAFE:
        return False
    path = request.path
    return not path.startswith("/api/") or path.startswith("/api/v1/admin")


def _check_csrf() -> None:
    if not _csrf_applies():
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = session.get("csrf")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise ApiError("the form has expired or did not come from this site (missing or wrong CSRF token); "
                       "reload the page and try again", 400)


# --------------------------------------------------------------------------- origins


def normalise_origin(url: str) -> str | None:
    """Return the origin ``scheme://host[:port]`` of an Origin or Referer value, or None when it has none.

    The scheme and host are lower-cased and a default port (80 for http, 443 for https) is
    dropped, as browsers do in the Origin header. ``null`` and anything but http(s) give None.

    Parameters
    ----------
    url : str
        An origin (``https://grid.example``) or a whole URL (a Referer).

    Returns
    -------
    str or None
        E.g. ``"https://grid.example"`` or ``"http://127.0.0.1:5000"``.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != (80 if scheme == "http" else 443):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def trusted_origins(value: str) -> frozenset[str]:
    """Return the origins of the ``TRUSTED_ORIGINS`` setting (comma-separated).

    Raises
    ------
    app.settings.SettingError
        For an entry that is not an origin such as ``https://grid.example``.
    """
    out = set()
    for entry in (e.strip() for e in (value or "").split(",")):
        if not entry:
            continue
        origin = normalise_origin(entry)
        if origin is None or urlsplit(entry).path not in ("", "/") or urlsplit(entry).query:
            raise SettingError(f"GRIDMAP_TRUSTED_ORIGINS: {entry!r} is not an origin "
                               "like https://grid.example")
        out.add(origin)
    return frozenset(out)


def own_origins() -> set[str]:
    """Return the origins this request may come from: the service's own (scheme and Host as Flask sees them).

    Over plain HTTP the ``https://`` origin of the same host counts too: a proxy that ends TLS in
    front of the service forwards plain HTTP, and an https page on the same host is no stranger.
    """
    own = normalise_origin(f"{request.scheme}://{request.host}")
    if own is None:
        return set()
    return {own, "https://" + own.split("://", 1)[1]} if own.startswith("http://") else {own}


def _check_origin() -> None:
    """Refuse a form post (or admin API call) that a browser says comes from another site."""
    if not _csrf_applies():
        return
    header, sent = "Origin", request.headers.get("Origin")
    if not sent:
        header, sent = "Referer", request.headers.get("Referer")
        if not sent:
            return  # some clients send neither; the CSRF token decides
    origin = normalise_origin(sent)
    allowed = own_origins() | current_app.extensions["gridmap.trusted_origins"]
    if origin is not None and origin in allowed:
        return
    shown = origin or sent[:200]
    site = normalise_origin(f"{request.scheme}://{request.host}") or request.host
    raise ApiError(f"refused: this request comes from {shown} (its {header} header), not from this site "
                   f"({site}); an origin of your own can be added to GRIDMAP_TRUSTED_ORIGINS", 403,
                   key="origin", origin=shown)


def _check_forms() -> None:
    """The origin check, then the CSRF token, for requests that change something; reads return at once."""
    if request.method in _UNSAFE:
        _check_origin()
        _check_csrf()


# --------------------------------------------------------------------------- headers


def tile_hosts(config: Any) -> tuple[str, ...]:
    """Return the hosts map tiles may be loaded from under the configured basemap.

    Parameters
    ----------
    config : Mapping
        The app config (``BASEMAP``).

    Returns
    -------
    tuple of str
        CSP source expressions, e.g. ``("https://tile.openstreetmap.org", ...)``.
    """
    return TILE_HOSTS.get(config["BASEMAP"], ())


def _hashes(body: bytes, pattern: re.Pattern[bytes]) -> list[str]:
    out = []
    for m in pattern.finditer(body):
        digest = base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return list(dict.fromkeys(out))


def csp_nonce() -> str:
    """Return this response's CSP nonce (``<script nonce="{{ csp_nonce() }}">`` may run inline)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(config: Any, script_hashes: list[str] | tuple[str, ...] = (),
                            nonce: str | None = None) -> str:
    """Build the CSP: only the app's own assets, plus the configured tile host for images.

    Inline ``<script>`` blocks of a page are allowed by their SHA-256 hashes (computed per
    response), so no ``'unsafe-inline'`` is needed for scripts.

    Parameters
    ----------
    config : Mapping
        The app config.
    script_hashes : sequence of str
        ``'sha256-…'`` sources of the page's inline scripts.
    nonce : str, optional
        A nonce used by the page.

    Returns
    -------
    str
        The header value.
    """
    tiles = " ".join(tile_hosts(config))
    script = " ".join(["'self'", *script_hashes, *([f"'nonce-{nonce}'"] if nonce else [])])
    return "; ".join([
        "default-src 'self'",
        f"script-src {script}",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{' ' + tiles if tiles else ''}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


#: The headers every answer carries besides its Content-Security-Policy (set unless a view set them).
_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "geolocation=(self), camera=(), microphone=(), payment=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)

_FIXED = tuple((key.lower(), key, value) for key, value in _FIXED_HEADERS)


@lru_cache(maxsize=16)
def _plain_csp(basemap: str) -> str:
    """The Content-Security-Policy of an answer without inline scripts or nonce, once per basemap."""
    return content_security_policy({"BASEMAP": basemap}, ())


def plain_headers(basemap: str) -> tuple[tuple[str, str], ...]:
    """The headers :func:`_headers` adds to an answer without inline scripts, over plain HTTP, for the public.

    The Content-Security-Policy of ``basemap`` and the fixed headers, in the order they are added
    (the fast lane of :mod:`app.web._fastlane` sends these).
    """
    return (("Content-Security-Policy", _plain_csp(basemap)), *_FIXED_HEADERS)


def _headers(response: Response) -> Response:
    cfg = current_app.config
    hashes: list[str] = []
    if response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed:
        hashes = _hashes(response.get_data(), _INLINE_SCRIPT)
    nonce = g.get("csp_nonce")
    h = response.headers
    present = {key.lower() for key, _ in h.items()}  # one pass: a setdefault per header costs a lookup each
    if "content-security-policy" not in present:
        csp = content_security_policy(cfg, hashes, nonce) if hashes or nonce else _plain_csp(cfg["BASEMAP"])
        h.add("Content-Security-Policy", csp)
    for lower, key, value in _FIXED:
        if lower not in present:
            h.add(key, value)
    if request.is_secure and "strict-transport-security" not in present:
        h.add("Strict-Transport-Security", "max-age=31536000")
    if session.get("uid") or request.path.startswith("/admin"):
        h["Cache-Control"] = "private, no-store"
        h.add("Vary", "Cookie")
    return response


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set, not per request."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer of ``app``'s current secret key and fallbacks (the same answer as Flask's)."""
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        found = self._serializers.get(key)
        if found is None:
            found = super().get_signing_serializer(app)
            if found is not None:
                self._serializers = {key: found}  # one key set at a time: a rotated key replaces it
        return found

    def open_session(self, app: Flask, request: Any) -> Any:
        """Flask's, minus parsing cookies for a request that sent none (most API calls): an empty session."""
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Flask's, minus the cookie settings it reads for an empty session that was never changed (most API calls)."""
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


# --------------------------------------------------------------------------- rate limits


def limit_endpoints(app: Flask) -> list[str]:
    """Rate-limit sign-in and every batch endpoint (a path containing ``batch``) per client address.

    Call after every blueprint is registered, so endpoints added later by other modules are
    covered without touching them. Only these views count requests (:mod:`app.web._ratelimit`):
    no hook runs on other requests.

    Returns
    -------
    list of str
        The endpoints now limited.
    """
    limiter = rate_limits(app)
    done = []
    login_limit = app.config["RATE_LIMIT_LOGIN"]
    batch_limit = app.config["RATE_LIMIT_BATCH"]
    for rule in app.url_map.iter_rules():
        ep = rule.endpoint
        if ep in done or ep not in app.view_functions:
            continue
        if ep == "auth.login":
            limit, methods = login_limit, ["POST"]
        elif "batch" in rule.rule:
            limit, methods = batch_limit, None
        else:
            continue
        view = app.view_functions[ep]
        app.view_functions[ep] = limiter.wrap(view, limit, ep, methods)
        done.append(ep)
    return done


# --------------------------------------------------------------------------- wiring


def init_app(app: Flask) -> None:
    """Install cookies, origin checks, CSRF, headers and rate limits on ``app`` (call last in the factory)."""
    cfg = app.config
    cfg.setdefault("SESSION_COOKIE_HTTPONLY", True)
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = cfg["COOKIE_SECURE"]
    cfg["SESSION_COOKIE_NAME"] = "gridmap_session"
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=cfg["SESSION_HOURS"])
    cfg.setdefault("PROPAGATE_EXCEPTIONS", None)
    app.extensions["gridmap.trusted_origins"] = trusted_origins(cfg["TRUSTED_ORIGINS"])
    app.before_request(_check_forms)
    app.after_request(_headers)
    if type(app.session_interface) is SecureCookieSessionInterface:  # keep any other interface set before
        app.session_interface = _SessionInterface()
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field, csp_nonce=csp_nonce)
    limit_endpoints(app)
