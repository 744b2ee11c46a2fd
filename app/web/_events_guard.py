"""Abuse guard of the public event report: a server-drawn arithmetic captcha and a per-address rate limit, offline."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import random
import secrets
import threading
import time
from typing import Any

from flask import Flask, current_app, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.errors import GridmapError

#: Seconds a captcha may be answered in.
CAPTCHA_SECONDS = 600
_SALT = "gridmap.events.captcha"
_USED: dict[str, float] = {}
_USED_LOCK = threading.Lock()


class CaptchaError(GridmapError):
    """The captcha answer is missing, wrong, expired or already used (400)."""

    default_status = 400
    default_key = "events.captcha"


class ReportRateError(GridmapError):
    """Too many reports from one client address (429; ``retry_after`` seconds in the detail)."""

    default_status = 429
    default_key = "events.rate"


def _serializer(secret: str | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret or current_app.config["SECRET_KEY"], salt=_SALT)


def _question(nonce: str, secret: str | None = None) -> tuple[int, str, int]:
    """The sum or difference a nonce stands for: (a, op, b); derived with the secret, so the token hides it."""
    key = str(secret or current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    a, b = 2 + digest[0] % 18, 1 + digest[1] % 9
    op = "+" if digest[2] % 2 == 0 else "-"
    if op == "-" and b > a:
        a, b = b, a  # never a negative answer
    return a, op, b


def _answer(nonce: str, secret: str | None = None) -> int:
    a, op, b = _question(nonce, secret)
    return a + b if op == "+" else a - b


def _image(nonce: str) -> bytes:
    """Draw ``a op b = ?`` as a small noisy PNG (Pillow's built-in font: nothing from the network or the system)."""
    from PIL import Image, ImageDraw, ImageFont

    a, op, b = _question(nonce)
    rnd = random.Random(nonce)
    img = Image.new("RGB", (180, 56), (245, 247, 250))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        draw.line([(rnd.randint(0, 180), rnd.randint(0, 56)), (rnd.randint(0, 180), rnd.randint(0, 56))],
                  fill=(rnd.randint(140, 200), rnd.randint(140, 200), rnd.randint(140, 200)), width=1)
    font = ImageFont.load_default(size=30)
    x = 10
    for ch in f"{a} {'+' if op == '+' else '−'} {b} = ?".replace("−", "-"):
        draw.text((x, 10 + rnd.randint(-4, 4)), ch, font=font,
                  fill=(rnd.randint(10, 70), rnd.randint(20, 80), rnd.randint(60, 120)))
        x += 15 if ch == " " else 19
    for _ in range(80):
        draw.point((rnd.randint(0, 179), rnd.randint(0, 55)), fill=(rnd.randint(100, 180),) * 3)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def new_captcha() -> dict[str, Any]:
    """Return a fresh captcha: a signed, time-limited ``token`` and its ``image`` as a data URL.

    The token carries only a random nonce; the question is derived from it with the secret key,
    so neither the token nor the page tells the answer.
    """
    nonce = secrets.token_urlsafe(12)
    token = _serializer().dumps({"n": nonce})
    image = "data:image/png;base64," + base64.b64encode(_image(nonce)).decode()
    return {"token": token, "image": image, "expires_in": CAPTCHA_SECONDS}


def check_captcha(token: Any, answer: Any) -> None:
    """Accept a captcha answer once, or raise :class:`CaptchaError`.

    A token is good for one accepted report within :data:`CAPTCHA_SECONDS` (remembered per process).
    """
    if not token or not str(answer or "").strip():
        raise CaptchaError("answer the captcha (the sum in the picture)")
    try:
        nonce = _serializer().loads(str(token), max_age=CAPTCHA_SECONDS)["n"]
    except SignatureExpired:
        raise CaptchaError("the captcha has expired; take a new one") from None
    except (BadSignature, KeyError, TypeError):
        raise CaptchaError("the captcha is not valid; take a new one") from None
    try:
        given = int(str(answer).strip())
    except ValueError:
        raise CaptchaError("the captcha answer is wrong") from None
    now = time.monotonic()
    with _USED_LOCK:
        for key in [k for k, t in _USED.items() if t < now]:
            del _USED[key]
        if nonce in _USED:
            raise CaptchaError("the captcha was used already; take a new one")
        if given != _answer(nonce):
            raise CaptchaError("the captcha answer is wrong")
        _USED[nonce] = now + CAPTCHA_SECONDS


def solve_for_tests(token: str, secret: str | None = None) -> int:
    """Return a token's answer: only with the app's secret key (the current app's, or ``secret``), as tests have it."""
    return _answer(_serializer(secret).loads(token)["n"], secret)


def _limiter(app: Flask) -> tuple[MovingWindowRateLimiter, list[Any]]:
    found = app.extensions.get("gridmap.events.limiter")
    if found is None:
        found = (MovingWindowRateLimiter(MemoryStorage()), list(parse_many(app.config["RATE_LIMIT_REPORT"])))
        app.extensions["gridmap.events.limiter"] = found
    return found


def check_rate() -> None:
    """Count one report from the client's address against ``RATE_LIMIT_REPORT``; raise 429 past it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    limiter, items = _limiter(app)
    who = request.remote_addr or "?"
    for item in items:
        if not limiter.hit(item, "events.report", who):
            reset, _left = limiter.get_window_stats(item, "events.report", who)
            wait = max(1, int(reset - time.time()))
            raise ReportRateError(f"too many reports from this address (at most {item}); try again in {wait} s",
                                  retry_after=wait)
