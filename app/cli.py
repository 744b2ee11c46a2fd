"""The `gridmap` command line: one entry point for serving, data and analysis."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app import settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gridmap")
def main() -> None:
    """gridmap: grid mapping for community governance (网格化治理).

    Serve the map and APIs, build and validate geodata, locate addresses and
    coordinates in grids, and analyse facility coverage.
    """


@main.command()
@click.option("--host", default=None, help="Address to listen on [env GRIDMAP_HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [env GRIDMAP_PORT, default 5000].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Geodata folder to serve [env GRIDMAP_DATA_DIR, default geodata/].")
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the web service under the production WSGI server (waitress)."""
    from waitress import serve as waitress_serve

    from app import create_app

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["DATA_DIR"] = str(data_dir)
    app = create_app(overrides or None)
    host = host or app.config["HOST"]
    port = port or int(app.config["PORT"])
    ds = app.extensions["gridmap.data"].current()
    counts = ds.counts()
    click.echo(f"gridmap: data {app.config['DATA_DIR']} (version {ds.version}): "
               + ", ".join(f"{n} {k}" for k, n in counts.items()))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"gridmap: serving on http://{shown}:{port}/  (Ctrl+C to stop)")
    waitress_serve(app, host=host, port=port, threads=int(app.config["THREADS"]), ident="gridmap",
                   _quiet=True)


@main.command("settings")
def show_settings() -> None:
    """List every setting with its environment variable, default and help (secrets are never shown)."""
    current = settings.from_environ()
    for s in settings.SETTINGS:
        value = current.get(s.name, s.default)
        shown = ("(set)" if s.name in current else "(unset)") if s.secret else value
        click.echo(f"{s.env}={shown}\n    {s.help}")


@main.command("demo-data")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the GeoJSON layers into (created if missing).")
@click.option("--seed", type=int, default=None, help="Random seed; the same seed gives byte-identical files.")
def demo_data(out: Path, seed: int | None) -> None:
    """Generate the synthetic Jiayuguan demo city (613 grids, facilities, addresses, roads)."""
    from app.geo import demo

    kwargs = {} if seed is None else {"seed": seed}
    counts = demo.generate(out, progress=lambda msg: click.echo(f"  {msg}", err=True), **kwargs)
    click.echo(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@main.command()
@click.argument("folder", type=click.Path(path_type=Path), default=Path("geodata"), required=False)
def validate(folder: Path) -> None:
    """Check a geodata FOLDER (default: geodata) and print a report; exit 1 unless it is clean."""
    from app.geo import validate as validation

    if not folder.is_dir():
        raise click.ClickException(f"{folder} is not a folder")
    report = validation.validate_folder(folder)
    click.echo(report.format_text())
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
