"""Per-client rate limits checked only inside the views they wrap, so unlimited requests pay nothing for them."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, after_this_request, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests


class RateLimits:
    """Fixed-window limits per client address (``request.remote_addr``) and scope, counted in this process.

    The same strategy flask-limiter used by default: every limit of a view is counted, the
    smallest first, and the first one exceeded refuses the request with 429. Answers of a limited
    view carry ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and, when
    refused, ``Retry-After`` in seconds. ``RATELIMIT_ENABLED`` off switches the counting off.
    """

    def __init__(self) -> None:
        self._strategy: FixedWindowRateLimiter | None = None
        self._lock = threading.Lock()

    @property
    def strategy(self) -> FixedWindowRateLimiter:
        """The counters, made on the first limited request: in the worker process, not in the master before the fork
        (the memory storage starts a timer thread)."""
        if self._strategy is None:
            with self._lock:
                if self._strategy is None:
                    self._strategy = FixedWindowRateLimiter(MemoryStorage())
        return self._strategy

    def wrap(self, view: Callable[..., Any], limit: str, scope: str,
             methods: Iterable[str] | None = None) -> Callable[..., Any]:
        """Return ``view`` limited to ``limit`` (``"10 per minute;100 per day"``) per client, under ``scope``.

        Parameters
        ----------
        view : callable
            The Flask view function.
        limit : str
            One or more limits in the ``limits`` notation, separated by ``;``.
        scope : str
            Counters are kept per scope and client address (the endpoint name).
        methods : iterable of str, optional
            Only these HTTP methods are counted (all when None).

        Returns
        -------
        callable
            The wrapped view.
        """
        items = sorted(parse_many(limit))
        counted = frozenset(m.upper() for m in methods) if methods else None

        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            if (counted is None or request.method in counted) and current_app.config.get("RATELIMIT_ENABLED", True):
                self.check(items, scope, request.remote_addr or "127.0.0.1")
            return view(*args, **kwargs)

        return limited

    def check(self, items: list[RateLimitItem], scope: str, who: str) -> None:
        """Count one request of ``who`` against ``items``; raise 429 at the first one exceeded.

        Raises
        ------
        werkzeug.exceptions.TooManyRequests
            With the limit in its description; the answer gets ``Retry-After``.
        """
        if not items:
            return
        shown, refused = items[0], False  # the headers show the smallest limit, or the one exceeded
        for item in items:
            if not self.strategy.hit(item, scope, who):
                shown, refused = item, True
                break
        reset, remaining = self.strategy.get_window_stats(shown, scope, who)
        headers = {"X-RateLimit-Limit": str(shown.amount), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset": str(int(reset))}
        if refused:
            headers["Retry-After"] = str(max(1, int(reset - time.time())))

        @after_this_request
        def _add_headers(response: Response) -> Response:
            for key, value in headers.items():
                response.headers[key] = value
            return response

        if refused:
            raise TooManyRequests(str(shown))


def rate_limits(app: Flask) -> RateLimits:
    """The app's :class:`RateLimits`, made on first use."""
    found = app.extensions.get("gridmap.rate_limits")
    if found is None:
        found = app.extensions["gridmap.rate_limits"] = RateLimits()
    return found
