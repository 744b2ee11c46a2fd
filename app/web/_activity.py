"""When the server last took a request, in any of its worker processes: background work waits for a quiet moment."""

from __future__ import annotations

import mmap
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

#: Seconds without a request, in any worker, before work done ahead (tiles cut ahead) goes on.
QUIET_S = 1.0
#: Longest pause between two checks while waiting for quiet, in seconds.
_POLL_S = 0.25


class Activity:
    """The time of the server's last request, in memory shared by the processes forked after it was made.

    The stamp lives in an anonymous shared mapping: made in the master (the app is built before
    granian or gunicorn fork), it is one and the same 8 bytes in every worker, and the monotonic
    clock is the machine's, so each worker sees when any of them last took a request.
    """

    def __init__(self) -> None:
        self._stamp = mmap.mmap(-1, 8)  # MAP_SHARED | MAP_ANONYMOUS on POSIX: kept across fork
        self.touch()

    def touch(self) -> None:
        """Record that a request arrived now."""
        struct.pack_into("d", self._stamp, 0, time.monotonic())

    def quiet_for(self) -> float:
        """Seconds since the last request arrived (in any worker)."""
        return time.monotonic() - struct.unpack_from("d", self._stamp, 0)[0]

    def wait_quiet(self, seconds: float = QUIET_S) -> None:
        """Return once no request has arrived for ``seconds`` (at once if none has).

        Parameters
        ----------
        seconds : float
            Quiet needed before returning.
        """
        while (gap := seconds - self.quiet_for()) > 0:
            time.sleep(min(gap, _POLL_S))


def init_app(app: Flask) -> Activity:
    """Stamp every request ``app`` takes (fast lane included: call after every other WSGI wrapper).

    Returns
    -------
    Activity
        The stamp, also kept as ``app.extensions["gridmap.activity"]``.
    """
    activity = Activity()
    inner = app.wsgi_app
    touch = activity.touch

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        touch()
        return inner(environ, start_response)

    wsgi_app.__wrapped__ = inner  # type: ignore[attr-defined]  # what it stamps for (tests look inside)
    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    app.extensions["gridmap.activity"] = activity
    return activity
