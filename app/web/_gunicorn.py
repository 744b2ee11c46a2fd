"""Several worker processes under gunicorn: the app preloaded and frozen once, then forked and shared copy-on-write."""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker

from app.settings import Config
from app.web.server import cut_ahead, tune_interpreter, warm

#: Worker classes ``WORKER_CLASS`` may name for gunicorn: waitress in each process, or gunicorn's own
#: (``granian``, the default, is served by :mod:`app.web._granian` instead).
WORKER_CLASSES = {"waitress": "app.web._gunicorn.WaitressWorker", "gthread": "gthread", "sync": "sync"}


class GunicornServer(BaseApplication):
    """gunicorn run from code, serving an app made (and checked) already.

    Parameters
    ----------
    app : flask.Flask
        The application; preloaded, so the master builds it once and every worker shares it.
    config : app.settings.Config
        ``WORKERS``, ``WORKER_CLASS``, ``THREADS`` and the connection settings.
    host, port : str, int
        Where to listen.
    """

    def __init__(self, app: Any, config: Config, host: str, port: int) -> None:
        self.application, self.gridmap_config = app, config
        self.bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__()

    def load_config(self) -> None:
        """Hand gridmap's settings to gunicorn."""
        c = self.gridmap_config
        long_work = max(c.REQUEST_TIMEOUT, c.OPTIMISE_TIME_LIMIT) + 60
        options = {
            "bind": [self.bind], "workers": c.WORKERS, "worker_class": WORKER_CLASSES[c.WORKER_CLASS],
            "threads": 1 if c.WORKER_CLASS == "sync" else c.THREADS, "preload_app": True, "backlog": 2048,
            "worker_connections": c.CONNECTION_LIMIT, "keepalive": c.CHANNEL_TIMEOUT,
            # gthread/sync kill a worker whose request runs longer; waitress workers beat every second
            "timeout": 30 if c.WORKER_CLASS == "waitress" else long_work, "graceful_timeout": 30,
            "limit_request_line": 8190, "accesslog": None, "errorlog": "-", "loglevel": "warning",
            "proc_name": "gridmap", "pre_fork": _pre_fork, "post_fork": _post_fork,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The app, warmed: built once in the master before the workers are forked."""
        warm(self.application)
        cut_ahead(self.application)  # a tiled city's tiles, in a child process at the lowest priority
        tune_interpreter(self.gridmap_config)  # inherited by every worker, whatever its class
        gc.collect()
        return self.application


def _pre_fork(server: Any, worker: Any) -> None:
    """Move everything the master holds out of the collector's reach, so no worker's GC writes to shared pages."""
    gc.freeze()


def _post_fork(server: Any, worker: Any) -> None:
    """Nothing to reopen: database pools are per process already (app.geo.db keys them by pid)."""


class WaitressWorker(Worker):
    """A gunicorn worker that serves its share of the listening socket with gridmap's waitress server.

    gunicorn starts, watches and restarts the processes; inside each, waitress keeps its
    protections (``CONNECTION_LIMIT`` connections on ``poll()``, ``CHANNEL_TIMEOUT`` for silent
    clients, ``REQUEST_TIMEOUT`` for slow ones) with ``THREADS`` threads. The loop beats the
    master's heartbeat every second and stops on SIGTERM after the requests in hand are answered.
    """

    def run(self) -> None:
        """Serve until told to stop, then finish what is in hand (at most ``graceful_timeout`` s)."""
        from waitress import wasyncore

        from app.web.server import make_server

        config: Config = self.wsgi.extensions["gridmap.config"]
        server = make_server(self.wsgi, config, "", 0, sockets=[s.sock for s in self.sockets])
        socket_map = server._map if hasattr(server, "_map") else server.map
        beat = 0.0
        while self.alive:
            now = time.monotonic()
            if now - beat >= 1.0:
                self.notify()
                beat = now
                if self.ppid != os.getppid():  # the master is gone
                    break
            wasyncore.loop(timeout=1.0, map=socket_map, use_poll=True, count=1)
        listeners = [s for s in list(socket_map.values()) if getattr(s, "accepting", False)]
        for listener in listeners:
            listener.del_channel()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and any(
                getattr(ch, "requests", None) or getattr(ch, "total_outbufs_len", 0)
                for ch in list(socket_map.values())):
            self.notify()
            wasyncore.loop(timeout=0.2, map=socket_map, use_poll=True, count=1)
        dispatcher = getattr(listeners[0], "task_dispatcher", None) if listeners else None
        if dispatcher is not None:
            dispatcher.shutdown(cancel_pending=True, timeout=1)


def serve(app: Any, config: Config, host: str, port: int) -> None:
    """Run ``app`` under gunicorn with ``config.WORKERS`` processes until SIGTERM or SIGINT.

    Raises
    ------
    OSError
        When the address cannot be bound.
    """
    from app.web.server import raise_fd_limit

    raise_fd_limit(config.CONNECTION_LIMIT)
    GunicornServer(app, config, host, port).run()
