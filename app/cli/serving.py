"""`gridmap serve`, `gridmap settings` and `gridmap assets`: running the service and what it serves."""

from __future__ import annotations

from pathlib import Path

import click

from app import settings
from app.cli._base import echo, is_zh, main, progress


@main.command()
@click.option("--host", default=None, help=f"Address to listen on {settings.describe('HOST')}.")
@click.option("--port", type=int, default=None, help=f"Port to listen on {settings.describe('PORT')}.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Geodata folder to serve {settings.describe('DATA_DIR')}.")
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the web service: GRIDMAP_WORKERS processes (one per core) under granian, or one waitress process.

    With several workers the data, its index and the address matcher are loaded once before the
    workers are forked and shared by all of them; every worker picks up a new data version within
    GRIDMAP_VERSION_CHECK_MS milliseconds (at once after an import through that worker).

    Idle and slow clients cannot lock others out: up to GRIDMAP_CONNECTION_LIMIT connections,
    silent ones closed after GRIDMAP_CHANNEL_TIMEOUT s, and each request must arrive within
    GRIDMAP_REQUEST_TIMEOUT s. Data that cannot be served (a missing layer or field, repeated
    codes, codes that name no parent) stops it at start, with the list of problems and exit 1.
    """
    import os

    from app.geo.dataset import limit_arenas

    limit_arenas()  # before any thread: threads' own malloc heaps would keep what they freed
    from app.geo import _geojson_child

    _geojson_child.enable()  # a large city's files are parsed in a child: GDAL and its peak stay out of the server
    from app import create_app
    from app.web.server import make_server

    if data_dir is not None:
        os.environ[settings.SETTINGS_BY_NAME["DATA_DIR"].env] = str(data_dir)
    app = create_app()
    config: settings.Config = app.extensions["gridmap.config"]
    host = host or config.HOST
    port = port or config.PORT
    ds = app.extensions["gridmap.data"].current()
    counts = ds.counts()
    city = ds.city.title() or ds.metadata.get("name", "")
    echo(f"gridmap: {city} · {app.extensions['gridmap.data'].store.location} (version {ds.version}): "
         + ", ".join(f"{n} {k}" for k, n in counts.items()))
    from app.geo.checkup import format_findings

    for line in format_findings(app.extensions.get("gridmap.checkup", [])):  # errors stopped create_app already
        click.echo(f"gridmap: {line}", err=True)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    from app.web.server import cut_ahead, fork_available, throttle_version_checks, warm

    workers = config.WORKERS or os.cpu_count() or 1
    throttle_version_checks(app, config.VERSION_CHECK_MS)
    try:
        if workers > 1 and fork_available():
            _check_free(host, port)
            config = settings.replace(config, WORKERS=workers)
            kind = "granian" if config.WORKER_CLASS == "granian" else f"gunicorn, {config.WORKER_CLASS}"
            echo(f"gridmap: serving on http://{shown}:{port}/ with {workers} worker processes ({kind})"
                 "  (Ctrl+C to stop)")
            if config.WORKER_CLASS == "granian":
                from app.web import _granian

                _granian.serve(app, config, host, port)
            else:
                from app.web import _gunicorn

                _gunicorn.serve(app, config, host, port)
            return
        server = make_server(app, config, host, port)
        warm(app)  # the first requests need not wait for the index and the matcher
        cut_ahead(app)  # a tiled city's tiles, in a child process at the lowest priority
    except OSError as exc:  # the address is taken (another gridmap?) or not ours to bind
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}; "
                                   "stop the other server or choose another --port") from None
    echo(f"gridmap: serving on http://{shown}:{port}/ with 1 process (waitress)  (Ctrl+C to stop)")
    server.run()


def _check_free(host: str, port: int) -> None:
    """Raise OSError when ``host:port`` cannot be bound (gunicorn would retry, then exit with a log line)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))


@main.command("settings")
def show_settings() -> None:
    """List every setting with its environment variable, default and help (secrets are never shown)."""
    given = settings.from_environ()
    config = settings.resolve()
    zh = is_zh()
    for s in settings.SETTINGS:
        value = getattr(config, s.name)
        shown = ("(set)" if s.name in given else "(unset)") if s.secret else value
        if zh and s.secret:
            shown = "（已设置）" if s.name in given else "（未设置）"
        if s.name == "STORE_URL" and value:
            from app.geo.db import redact

            shown = redact(value)  # a database URL's password is never printed
        click.echo(f"{s.env}={shown}\n    {s.help_zh if zh else s.help}")


@main.group()
def assets() -> None:
    """Third-party front-end files (Leaflet, plugins, Bootstrap, Font Awesome), served by the app itself."""


@assets.command("install")
@click.option("--force", is_flag=True, help="Reinstall every asset even if already installed.")
def assets_install(force: bool) -> None:
    """Install the pinned assets into app/web/static/vendor/ (XStatic from PyPI, the rest via npm pack)."""
    from app.web import assets as web_assets

    done = web_assets.install(force=force, progress=progress())
    echo(f"installed {len(done)} asset(s) into {web_assets.VENDOR_DIR}" if done
         else f"all {len(web_assets.MANIFEST)} assets already installed in {web_assets.VENDOR_DIR}")


@assets.command("list")
def assets_list() -> None:
    """List the pinned assets: name, version, licence, source and whether each is installed."""
    from app.web import assets as web_assets

    for a in web_assets.MANIFEST:
        state = "installed" if web_assets.is_installed(a) else "MISSING"
        echo(f"{a.name:26} {a.version:9} {a.licence:30} {a.source}:{a.package:30} {state}")


