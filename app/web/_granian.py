"""Several worker processes under granian (a Rust HTTP server): the app loaded, warmed and frozen once, then forked."""

from __future__ import annotations

import gc
import logging
from typing import Any

from app.settings import Config
from app.web.server import cut_ahead, raise_fd_limit, tune_interpreter, warm

#: Longest header-read timeout granian accepts, in milliseconds.
_MAX_HEADER_MS = 60_000


def options(config: Config, host: str, port: int) -> dict[str, Any]:
    """granian's server options for gridmap's settings.

    * ``WORKERS`` processes, each running the WSGI app on ``WORKER_THREADS`` threads; HTTP/1.1 with
      keep-alive (the Rust side parses and writes HTTP; Python sees only the WSGI call);
    * a client that has not sent a whole request head within ``min(CHANNEL_TIMEOUT,
      REQUEST_TIMEOUT)`` seconds (at most 60) is cut off: an idle keep-alive connection and a
      slowloris alike;
    * at most ``CONNECTION_LIMIT`` requests in hand per worker; more wait in the listen backlog.

    Parameters
    ----------
    config : app.settings.Config
        The settings above.
    host, port : str, int
        Where to listen.

    Returns
    -------
    dict
        Keyword arguments of ``granian.server.Server``.
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    header_ms = max(1000, min(config.CHANNEL_TIMEOUT, config.REQUEST_TIMEOUT) * 1000)
    return {
        "target": "gridmap", "address": host, "port": port, "interface": Interfaces.WSGI, "http": HTTPModes.http1,
        "workers": config.WORKERS, "blocking_threads": max(1, config.WORKER_THREADS), "runtime_threads": 1,
        "backlog": 2048, "backpressure": max(1, config.CONNECTION_LIMIT),
        "http1_settings": HTTP1Settings(header_read_timeout=min(_MAX_HEADER_MS, header_ms), keep_alive=True),
        "websockets": False, "log_enabled": True, "log_level": LogLevels.warning, "log_access": False,
        "respawn_failed_workers": True, "workers_kill_timeout": 30, "process_name": None,
    }


def serve(app: Any, config: Config, host: str, port: int) -> None:
    """Run ``app`` under granian with ``config.WORKERS`` processes until SIGTERM or SIGINT.

    The master warms the app (data, grid index, address matcher), moves it out of the collector's
    reach (``gc.freeze``) and forks the workers, which share those pages copy-on-write; each
    worker calls the same app object (granian's loader hands it over, nothing is imported again).
    On SIGTERM or SIGINT the workers finish the requests in hand and exit, then the master.

    Raises
    ------
    OSError
        When the address cannot be bound.
    """
    import multiprocessing

    from granian.server import Server

    raise_fd_limit(config.CONNECTION_LIMIT)
    warm(app)
    cut_ahead(app)  # a tiled city's tiles, in a child process at the lowest priority
    tune_interpreter(config)  # inherited by every worker
    server = Server(**options(config, host, port))
    logging.getLogger("_granian").setLevel(logging.WARNING)
    if multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("fork")  # the workers are forks of this warmed process, not fresh imports
    gc.collect()
    gc.freeze()  # nothing the master holds is scanned (and so written) by a worker's collector
    server.serve(target_loader=lambda: app, wrap_loader=False)
