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
@click.option("--expected-grids", type=click.IntRange(min=0), default=613, show_default=True,
              help="How many grids the city must have (Jiayuguan: 613); 0 skips the count.")
def validate(folder: Path, expected_grids: int) -> None:
    """Check a geodata FOLDER (default: geodata) and print a report; exit 1 unless it is clean."""
    from app.geo import validate as validation

    if not folder.is_dir():
        raise click.ClickException(f"{folder} is not a folder")
    report = validation.validate_folder(folder, expected_grids=expected_grids or None)
    click.echo(report.format_text())
    sys.exit(0 if report.ok else 1)


def _dataset(data_dir: Path | None):
    """Open the configured data (or ``data_dir``) the way the service does, without building the web app."""
    from app.geo.versions import StoreError, open_data

    config = settings.resolve({"DATA_DIR": str(data_dir)} if data_dir else None)
    try:
        manager = open_data(config["DATA_DIR"], config.get("STORE_DIR"), settings.DEMO_DATA_DIR,
                            settings.instance_dir(config))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    return manager.current()


_DATA_DIR_OPTION = click.option(
    "--data-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    help="Geodata folder [env GRIDMAP_DATA_DIR, default geodata/].")


@main.command()
@click.option("--lon", "x", help="Longitude (or easting / x in a projected --crs).")
@click.option("--lat", "y", help="Latitude (or northing / y in a projected --crs).")
@click.option("--crs", default="EPSG:4326", show_default=True,
              help="CRS of --lon/--lat: an EPSG code (4326, 4490, 4542 ...), gcj02 (AMap, Tencent) or bd09 (Baidu).")
@click.option("--address", help="A Chinese address, e.g. 嘉峪关市新华路12号.")
@click.option("--limit", type=click.IntRange(1, 20), default=5, show_default=True,
              help="Address candidates to list.")
@_DATA_DIR_OPTION
def locate(x: str | None, y: str | None, crs: str, address: str | None, limit: int,
           data_dir: Path | None) -> None:
    """Print, as JSON, the grid a coordinate or an address falls in (grid.code is null outside).

    \b
    Examples:
      gridmap locate --lon 98.29 --lat 39.77
      gridmap locate --lon 98.2951 --lat 39.7760 --crs gcj02
      gridmap locate --address 甘肃省嘉峪关市新华路十二号2单元301室
    """
    import json

    from app.geo.locate import LocateError, locate_address, locate_point

    if address is None and (x is None or y is None):
        raise click.UsageError("give --lon and --lat, or --address")
    if address is not None and (x is not None or y is not None):
        raise click.UsageError("give either --lon/--lat or --address, not both")
    ds = _dataset(data_dir)
    try:
        if address is not None:
            answer = locate_address(ds, address, limit=limit, personal=True)
        else:
            answer = locate_point(ds, x, y, crs, personal=True)
    except LocateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))


@main.command("locate-batch")
@click.argument("infile", metavar="IN", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", "outfile", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Result file: .csv (UTF-8 with BOM, opens in Excel), .xlsx or .geojson.")
@click.option("--crs", default="EPSG:4326", show_default=True,
              help="CRS of the coordinate columns: EPSG code, gcj02 or bd09.")
@click.option("--grids", "grids_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Locate in this grid GeoJSON/GeoPackage instead of the served data.")
@click.option("--lon-col", default=None, help="Longitude column (default: found by name: lon, lng, 经度 ...).")
@click.option("--lat-col", default=None, help="Latitude column (default: found by name: lat, 纬度 ...).")
@click.option("--address-col", default=None, help="Address column (default: found by name: address, 地址 ...).")
@_DATA_DIR_OPTION
def locate_batch(infile: Path, outfile: Path, crs: str, grids_file: Path | None, lon_col: str | None,
                 lat_col: str | None, address_col: str | None, data_dir: Path | None) -> None:
    """Assign every row of a CSV/XLSX file IN to a grid and write the result to --out.

    IN has lon/lat columns or an address column; CSV may be UTF-8, UTF-8 with BOM or
    GB18030 (Excel on Chinese Windows). Every row is kept, with its grid, status
    (ok, outside, not_found, invalid), match score and a message for bad rows.
    """
    import time

    from app.geo import tabular
    from app.geo.locate import LocateError, locate_frame, summarize

    started = time.perf_counter()
    try:
        df = tabular.read_table(infile)
    except tabular.TableError as exc:
        raise click.ClickException(f"{infile}: {exc}") from None
    click.echo(f"read {len(df)} rows from {infile}", err=True)
    ds = _dataset(data_dir)
    if grids_file is not None:
        from app.geo.locate import with_grids

        try:
            ds = with_grids(ds, grids_file)
        except (ValueError, OSError) as exc:
            raise click.ClickException(f"{grids_file}: {exc}") from None

    def progress(done: int, total: int) -> None:
        click.echo(f"  located {done}/{total} rows", err=True)

    try:
        result = locate_frame(ds, df, crs=crs, lon_col=lon_col, lat_col=lat_col, address_col=address_col,
                              progress=progress)
        tabular.write_table(result, outfile, lon="lon_wgs84", lat="lat_wgs84")
    except (LocateError, tabular.TableError) as exc:
        raise click.ClickException(str(exc)) from None
    counts = summarize(result)
    for _, row in result[result["status"] == "invalid"].head(20).iterrows():
        click.echo(f"  row {int(row.name) + 2}: invalid: {row['message']}", err=True)
    click.echo(f"wrote {outfile}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
               + f" in {time.perf_counter() - started:.1f} s")


@main.group()
def assets() -> None:
    """Third-party front-end files (Leaflet, plugins, Bootstrap, Font Awesome), served by the app itself."""


@assets.command("install")
@click.option("--force", is_flag=True, help="Reinstall every asset even if already installed.")
def assets_install(force: bool) -> None:
    """Install the pinned assets into app/web/static/vendor/ (XStatic from PyPI, the rest via npm pack)."""
    from app.web import assets as web_assets

    try:
        done = web_assets.install(force=force, progress=lambda msg: click.echo(f"  {msg}", err=True))
    except web_assets.OfflineAssetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"installed {len(done)} asset(s) into {web_assets.VENDOR_DIR}" if done
               else f"all {len(web_assets.MANIFEST)} assets already installed in {web_assets.VENDOR_DIR}")


@assets.command("list")
def assets_list() -> None:
    """List the pinned assets: name, version, licence, source and whether each is installed."""
    from app.web import assets as web_assets

    for a in web_assets.MANIFEST:
        state = "installed" if web_assets.is_installed(a) else "MISSING"
        click.echo(f"{a.name:26} {a.version:9} {a.licence:30} {a.source}:{a.package:30} {state}")


@main.command()
@click.option("--category", "categories", multiple=True,
              help="Facility category (repeat for several; their facilities are pooled), e.g. bus_stop.")
@click.option("--preset", default=None, help="Planning preset: bus_stop, park, circle_5min, circle_10min, circle_15min.")
@click.option("--radius", type=float, default=None, help="Distance in metres (default: the preset's largest).")
@click.option("--mode", type=click.Choice(["straight", "walk"]), default="straight", show_default=True,
              help="Straight line in the data's metric CRS (EPSG:4542 for Jiayuguan), or walking along the road network.")
@click.option("--by", "level", type=click.Choice(["grid", "committee", "division", "city"]), default="grid",
              show_default=True, help="Level of the table in csv, geojson and zip outputs.")
@click.option("--target", default=None, help="Target residents share in percent ('none' for no target; "
              "default: the preset's).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file; the extension sets the format: .csv .xlsx .geojson .gpkg .zip (shapefile) .pdf")
@_DATA_DIR_OPTION
def coverage(categories: tuple[str, ...], preset: str | None, radius: float | None, mode: str, level: str,
             target: str | None, out: Path, data_dir: Path | None) -> None:
    """Analyse how many residents and how much area lie within reach of facilities, and write a file."""
    from app.geo import coverage as cov
    from app.geo import export
    from app.geo.report import ReportError

    cats = list(categories)
    if preset is not None:
        if preset not in cov.PRESETS:
            raise click.ClickException(f"unknown preset {preset!r}; expected one of {', '.join(cov.PRESETS)}")
        cats = cats or list(cov.PRESETS[preset].categories)
        radius = radius if radius is not None else cov.PRESETS[preset].radii[-1]
    if not cats:
        raise click.ClickException("give --category (one or more) or --preset")
    if radius is None:
        raise click.ClickException("give --radius in metres (or --preset)")
    kwargs: dict[str, object] = {}
    if target is not None:
        kwargs["target_pct"] = None if target.strip().lower() in ("", "none") else target

    def say(msg: str) -> None:
        click.echo(f"  {msg}", err=True)

    try:
        export.format_of(out)
        result = cov.analyse(_dataset(data_dir), cats, radius, mode=mode, level=level, progress=say, **kwargs)
        export.write(result, out, level, progress=say)
    except (cov.CoverageError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None
    s = result.summary()
    under = len(result.underserved())
    click.echo(f"{result.params.label('zh')}: residents {s['residents_pct']}% / area {s['area_pct']}% within reach; "
               f"{under} grids below target; wrote {out}")


def _data_app():
    """The app as `gridmap serve` would build it (settings, store, instance folder)."""
    from app import create_app
    from app.geo.versions import StoreError

    try:
        return create_app()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _cli_actor() -> str:
    """Who runs a CLI command, for the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _audit(app, action: str, target: str = "", detail: dict | None = None) -> None:
    from app.geo import audit
    from app.web.auth import db_file

    audit.record(db_file(app), _cli_actor(), action, target=target, detail=detail)


@main.command("import")
@click.argument("layer", type=click.Choice(["divisions", "committees", "grids", "facilities", "addresses", "roads"]))
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--crs", default=None,
              help="CRS of FILE when it names none (or a wrong one): EPSG code (4326, 4490, 4542 ...), gcj02 or bd09.")
@click.option("--dry-run", is_flag=True, help="Check and report only; store nothing.")
@click.option("--repair", is_flag=True, help="Repair invalid geometry (self-intersections, unclosed rings) instead of refusing it.")
def import_layer(layer: str, file: Path, crs: str | None, dry_run: bool, repair: bool) -> None:
    """Check FILE and store it as LAYER in a new data version (exit 1 and change nothing if refused).

    FILE is GeoJSON, GeoPackage, a zipped Shapefile (.prj read; GBK/GB18030 .dbf detected),
    or CSV/XLSX with lon/lat (经度/纬度) or WKT columns. The report names every problem with
    the feature and the place.
    """
    from app.geo import importer
    from app.geo.versions import StoreError, format_summary

    app = _data_app()
    store = app.extensions["gridmap.data"].store
    try:
        outcome = importer.run_import(store, layer, file, author=_cli_actor(), crs=crs, repair=repair,
                                      dry_run=dry_run, limits=importer.Limits.from_config(app.config))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    report = outcome.report
    click.echo(report.format_text())
    if not report.ok:
        _audit(app, "import_refused", layer, {"file": str(file), "errors": len(report.errors),
                                              "problems": sorted(report.problems())})
        click.echo(f"import refused: {len(report.errors)} errors; nothing was changed", err=True)
        sys.exit(1)
    if outcome.version is None:
        click.echo("dry run: the file passes the checks; nothing was stored")
        return
    v = outcome.version
    _audit(app, "import", layer, {"file": str(file), "version": v.id, "summary": v.summary})
    click.echo(f"stored as version {v.id}: {format_summary(v.summary)}")


@main.command("versions")
def list_versions() -> None:
    """List the stored data versions, newest first (* marks the one served)."""
    from app.geo.versions import VersionedStore, format_summary

    store = _data_app().extensions["gridmap.data"].store
    if not isinstance(store, VersionedStore):
        raise click.ClickException(f"{store.folder} is a plain GeoJSON folder without versions")
    current = store.version()
    for v in reversed(store.list_versions()):
        mark = "*" if v.id == current else " "
        click.echo(f"{mark} {v.id}  {v.created}  {v.author:14}  {v.message}\n      {format_summary(v.summary)}")


@main.command("rollback")
@click.argument("version")
def rollback(version: str) -> None:
    """Serve an earlier stored VERSION again (its id, its number or a unique prefix)."""
    from app.geo.versions import StoreError, VersionedStore, format_summary

    app = _data_app()
    store = app.extensions["gridmap.data"].store
    if not isinstance(store, VersionedStore):
        raise click.ClickException(f"{store.folder} is a plain GeoJSON folder without versions")
    try:
        info, summary = store.rollback(version)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(app, "rollback", info.id, {"summary": summary})
    click.echo(f"now serving version {info.id}: {format_summary(summary)}")


@main.group("users")
def users_group() -> None:
    """Sign-in accounts: staff see grid workers' contacts; admins import, roll back and manage users."""


def _users_db():
    from app.web.auth import db_file

    return db_file(_data_app())


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.password_option(help="Password (prompted, hidden, if not given; at least 8 characters).")
def users_add(name: str, role: str, password: str) -> None:
    """Create account NAME."""
    from app.geo import audit, users

    db = _users_db()
    try:
        users.add_user(db, name, password, role)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(db, _cli_actor(), "user_add", target=name, detail={"role": role})
    click.echo(f"added {role} {name}")


@users_group.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete account NAME."""
    from app.geo import audit, users

    db = _users_db()
    try:
        users.remove_user(db, name)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(db, _cli_actor(), "user_remove", target=name)
    click.echo(f"removed {name}")


@users_group.command("passwd")
@click.argument("name")
@click.password_option(help="New password (prompted, hidden, if not given).")
def users_passwd(name: str, password: str) -> None:
    """Set the password of account NAME (signs out its sessions)."""
    from app.geo import audit, users

    db = _users_db()
    try:
        users.set_password(db, name, password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(db, _cli_actor(), "user_passwd", target=name)
    click.echo(f"password of {name} changed")


@users_group.command("list")
def users_list() -> None:
    """List the accounts."""
    from app.geo import users

    for u in users.list_users(_users_db()):
        click.echo(f"{u.name:20} {u.role:6} created {u.created}  updated {u.updated}")


if __name__ == "__main__":  # pragma: no cover
    main()
