"""The production server: waitress tuned so idle, slow and half-sent connections cannot lock other clients out."""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from waitress.server import BaseWSGIServer, create_server

from app.settings import Config

#: File descriptors kept free for the data files, the database, logs and the listening sockets.
SPARE_FDS = 256


def raise_fd_limit(connections: int) -> int:
    """Raise this process's open-file limit so ``connections`` sockets fit; return the soft limit now in force.

    Parameters
    ----------
    connections : int
        How many client connections the server may keep open at once.

    Returns
    -------
    int
        The soft ``RLIMIT_NOFILE`` after the change (capped by the hard limit).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + SPARE_FDS
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


class _Sparse(logging.Filter):
    """Let one record through per ``seconds`` and drop the rest (waitress warns on every queued request under load)."""

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self.seconds, self.next = seconds, 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is the first in its interval."""
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.seconds
        return True


def quiet_queue_warnings() -> None:
    """Keep waitress's "Task queue depth is N" warning to one a minute.

    waitress logs it for every request that finds no idle thread, so a busy server spent CPU
    and log writes on each request; one line a minute still tells an operator it is saturated.
    """
    queue_logger = logging.getLogger("waitress.queue")
    if not any(isinstance(f, _Sparse) for f in queue_logger.filters):
        queue_logger.addFilter(_Sparse())


def tune_interpreter(config: Config) -> None:
    """Set this process's GIL switch interval from ``GIL_SWITCH_US`` (0 keeps Python's 5 ms).

    Threads that serve requests run Python in turn; with Python's default a request that just
    arrived can wait several 5 ms slices behind busy threads before it is even read. A shorter
    slice trims that tail latency for a little CPU.
    """
    if config.GIL_SWITCH_US > 0:
        sys.setswitchinterval(config.GIL_SWITCH_US / 1e6)


def _deadline_maintenance(server: BaseWSGIServer, request_timeout: float) -> Callable[[float], None]:
    """Wrap ``server.maintenance`` so a request still being received after ``request_timeout`` s is dropped.

    waitress closes a connection only after ``channel_timeout`` seconds with no bytes at all, so a
    client that sends one header byte every few seconds (slowloris) would hold its connection for
    ever. Each maintenance pass notes when it first saw a channel's current, unfinished request, and
    closes the channel once that request has been arriving for longer than ``request_timeout``.
    """
    inner = server.maintenance
    first_seen: dict[int, tuple[int, float]] = {}

    def maintenance(now: float) -> None:
        inner(now)
        alive: dict[int, tuple[int, float]] = {}
        for fd, channel in list(server.active_channels.items()):
            request = channel.request  # set while a request is being read, None between requests
            if request is None or channel.requests:
                continue
            seen = first_seen.get(fd)
            since = seen[1] if seen is not None and seen[0] == id(request) else now
            if now - since > request_timeout:
                channel.will_close = True
            else:
                alive[fd] = (id(request), since)
        first_seen.clear()
        first_seen.update(alive)

    return maintenance


def make_server(app: Any, config: Config, host: str, port: int, sockets: list[Any] | None = None) -> Any:
    """Build the waitress server for ``app`` with gridmap's connection settings.

    * ``CONNECTION_LIMIT`` open connections (idle ones included), watched with ``poll()``
      rather than ``select()``, which cannot see past descriptor 1023;
    * ``CHANNEL_TIMEOUT`` seconds of silence close a connection;
    * ``REQUEST_TIMEOUT`` seconds to send a whole request (headers and body);
    * request bodies no larger than ``MAX_UPLOAD_MB``.

    Parameters
    ----------
    app : WSGI application
        The Flask app.
    config : app.settings.Config
        The settings above, and ``THREADS``.
    host, port : str, int
        Where to listen.
    sockets : list of socket.socket, optional
        Listening sockets bound already (a gunicorn worker's, shared by every worker); then
        ``host`` and ``port`` are not used.

    Returns
    -------
    waitress server
        Call ``.run()`` to serve.
    """
    raise_fd_limit(config.CONNECTION_LIMIT)
    tune_interpreter(config)
    quiet_queue_warnings()
    cleanup = max(1, min(config.CHANNEL_TIMEOUT, config.REQUEST_TIMEOUT) // 4)
    where: dict[str, Any] = {"sockets": sockets} if sockets else {"host": host, "port": port}
    server = create_server(
        app, **where, threads=config.THREADS, ident="gridmap",
        connection_limit=config.CONNECTION_LIMIT, channel_timeout=config.CHANNEL_TIMEOUT,
        cleanup_interval=cleanup, asyncore_use_poll=True, backlog=2048,
        max_request_body_size=config.MAX_UPLOAD_MB * 1024 * 1024 + 64 * 1024,
    )
    servers = [server] if isinstance(server, BaseWSGIServer) else \
        [s for s in server.map.values() if isinstance(s, BaseWSGIServer)]
    for s in servers:
        s.maintenance = _deadline_maintenance(s, config.REQUEST_TIMEOUT)
        s.next_channel_cleanup = time.time() + cleanup
    return server


#: Methods that cannot change data: after any other request a worker asks the store at once.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ThrottledData:
    """A :class:`~app.geo.dataset.DataManager` that asks its store for the current version at most every ``seconds``.

    ``store.version()`` runs on every request otherwise (a ``stat`` and its Python around it for the
    GeoJSON store). Each worker keeps the answer for ``seconds``, so a version imported by another
    process is served by every worker within that bound. After a request that may have changed
    data (any method but GET, HEAD, OPTIONS) through this process, the next request asks at once:
    an import or rollback made through a worker is served by that worker immediately.
    Everything else is the manager's own (``store``, ...).

    Parameters
    ----------
    data : DataManager
        The manager to wrap.
    seconds : float
        How long an answer is reused.
    """

    def __init__(self, data: Any, seconds: float) -> None:
        self._data, self._seconds = data, seconds
        self._ds: Any = None
        self._until = 0.0

    def current(self) -> Any:
        """The current :class:`~app.geo.dataset.Dataset`, at most ``seconds`` old."""
        now = time.monotonic()
        ds = self._ds
        if ds is not None and now < self._until:
            return ds
        ds = self._ds = self._data.current()
        self._until = now + self._seconds
        return ds

    def refresh(self) -> None:
        """Ask the store again on the next request."""
        self._until = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)


def throttle_version_checks(app: Any, milliseconds: int) -> None:
    """Make ``app`` ask its store for the current version at most every ``milliseconds`` (0: leave it as it is).

    Only ``gridmap serve`` does this; the app's own ``DataManager`` (the workspace's) is untouched,
    and a request that may change data makes the next one ask at once (:class:`ThrottledData`).
    """
    if milliseconds <= 0 or isinstance(app.extensions["gridmap.data"], ThrottledData):
        return
    throttled = ThrottledData(app.extensions["gridmap.data"], milliseconds / 1000)
    app.extensions["gridmap.data"] = throttled
    inner = app.wsgi_app

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return inner(environ, start_response)
        finally:
            if environ.get("REQUEST_METHOD") not in _SAFE_METHODS:
                throttled.refresh()

    app.wsgi_app = wsgi_app


def fork_available() -> bool:
    """Whether this platform can run gunicorn (it needs ``os.fork``; Windows has none)."""
    return hasattr(os, "fork") and os.name == "posix"


def _warm_home(app: Any) -> None:
    """Ask for the home map and its payload (Brotli and gzip) once, so the first visitor of each worker does not wait.

    The page's Folium skeleton takes ~0.3 s to render and a large city's payload ~0.2 s to
    compress at Brotli's best level; a tiled city's opening tiles take ~0.5 s to cut. Made here,
    before the fork, every worker has them.
    """
    from app.geo import tiles
    from app.web import maps

    client = app.test_client()
    client.get("/", headers={"Accept-Encoding": "gzip"})  # the page, as browsers take it
    with app.test_request_context("/"):
        ds, bm = app.extensions["gridmap.data"].current(), maps.basemap()
        data_url = maps.home_data_url(ds, bm)
        tiled = _tile_target(ds, bm)
    for encoding in ("br", "gzip"):
        client.get(data_url, headers={"Accept-Encoding": encoding})
    if tiled is not None:  # the opening view's tiles: the first visitor need not wait for them to be cut
        tiles.cut_opening(ds, *tiled)


def _tile_target(ds: Any, bm: Any) -> tuple[str, Any] | None:
    """``(datum, cache folder)`` of the home map's tiles when this version is drawn as tiles, else None."""
    from app.web import maps
    from app.web import tiles as tiles_web

    return (bm.datum, tiles_web.tile_cache_dir()) if maps.tiled(ds) else None


def warm(app: Any) -> None:
    """Build what the hot paths build lazily, so it is made once before the fork and shared by every worker.

    The current :class:`~app.geo.dataset.Dataset`'s layers, grid index, address matcher and the
    nearest-address structures: one point lookup and one address lookup build them. The home map's
    page and its payload, compressed both ways, are made too (:func:`_warm_home`).
    """
    from app.geo import search, users
    from app.geo.locate import locate_address, locate_point, reverse_lookup

    users.dummy_hash()
    ds = app.extensions["gridmap.data"].current()
    ds.counts()
    steps: list[Any] = [lambda: ds.address_matcher, lambda: search.search(ds, "1", limit=1)]
    if len(ds.grids):
        c = ds.grids.geometry.iloc[0].representative_point()
        steps += [lambda: locate_point(ds, c.x, c.y), lambda: reverse_lookup(ds, c.x, c.y)]
    addresses = ds.attributes("addresses")  # no points made for the one address it needs
    if len(addresses) and "address" in addresses.columns:
        first = str(addresses["address"].iloc[0])
        steps.append(lambda: locate_address(ds, first))
    steps.append(lambda: _warm_home(app))
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001, S112 - warming only; the request that needs it reports any refusal
            continue
    del addresses  # the address layer is rebuilt on demand; the warm-up must not keep it alive
    from app.geo import _geojson_child
    from app.geo.dataset import release_memory

    _geojson_child.close()  # the layers are read: the child that read a large city's files may go (a later read starts one)
    release_memory()  # hand the builds' freed heap back before the fork (30,650 grids: 691 -> ~633 MiB at start)


def cut_ahead(app: Any) -> Any:
    """Start cutting a tiled city's tiles ahead in a child process at the lowest CPU priority (nice 19).

    Call it in the master after :func:`warm`, before the workers are forked. The child is a fork of
    the warmed app: it claims the current version's cutting (``tiles.warm``), so no worker cuts
    ahead in a thread beside its requests, and it waits for a quiet server before each tile, as
    the thread would. Being its own process at nice 19, a tile it is cutting when a visitor comes
    holds no worker's interpreter and takes only the CPU nobody else wants. A version imported
    later is cut ahead by the worker that first serves one of its tiles, in a thread, as before.

    Returns
    -------
    multiprocessing.Process or None
        The child (a daemon: it ends with the server, and on its own if the server is killed); None
        when the city is drawn without tiles or this platform cannot fork.
    """
    if not fork_available():
        return None
    import multiprocessing

    from app.web import maps

    with app.test_request_context("/"):
        ds = app.extensions["gridmap.data"].current()
        tiled = _tile_target(ds, maps.basemap())
    if tiled is None:
        return None
    datum, cache_dir = tiled
    proc = multiprocessing.get_context("fork").Process(
        target=_cut_ahead_child, args=(ds, datum, cache_dir, app.extensions["gridmap.activity"], os.getpid()),
        name="gridmap-tiles-ahead", daemon=True)
    proc.start()
    return proc


def _cut_ahead_child(ds: Any, datum: str, cache_dir: Any, activity: Any, parent: int) -> None:
    """The body of :func:`cut_ahead`'s child: lowest priority, then ``tiles.warm`` to the end."""
    from app.geo import tiles

    os.nice(19)  # the workers, and whatever else runs on the machine, go first

    def pause() -> None:
        if os.getppid() != parent:  # the server is gone: so is the reason to cut
            os._exit(0)
        activity.wait_quiet()

    thread = tiles.warm(ds, datum, delay=0, cache_dir=cache_dir, pause=pause)
    if thread is not None:
        thread.join()

