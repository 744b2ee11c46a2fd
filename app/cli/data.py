"""`gridmap demo-data`, `validate`, `import`, `versions` and `rollback`: the city's data and its versions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli._base import actor, echo, is_zh, main, progress, workspace
from app.geo.schema import LAYERS


@main.command("demo-data")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the GeoJSON layers into (created if missing).")
@click.option("--seed", type=int, default=None, help="Random seed; the same seed gives byte-identical files.")
def demo_data(out: Path, seed: int | None) -> None:
    """Generate the synthetic Jiayuguan demo city (613 grids, facilities, addresses, roads)."""
    from app.geo import demo

    kwargs = {} if seed is None else {"seed": seed}
    counts = demo.generate(out, progress=progress(), **kwargs)
    if click.get_current_context().find_root().params.get("lang") == "zh":
        click.echo(f"已写入 {out}：" + "，".join(f"{k} {n}" for k, n in counts.items()))
    else:
        click.echo(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@main.command()
@click.argument("folder", type=click.Path(path_type=Path), default=Path("geodata"), required=False)
@click.option("--expected-grids", type=click.IntRange(min=0), default=None,
              help="How many grids the city must have; 0 skips the count. Default: the grid count recorded "
                   "in the folder's metadata.json (none recorded: no count check).")
def validate(folder: Path, expected_grids: int | None) -> None:
    """Check a geodata FOLDER (default: geodata) and print a report; exit 1 unless it is clean.

    The code scheme is the one the folder's metadata.json declares (city.code_scheme): the
    9/12/15-digit rules and the grid numbering only under cn-9-12-15; otherwise codes must be
    unique and their parents must exist.
    """
    from app.geo import validate as validation

    if not folder.is_dir():
        raise click.ClickException(f"{folder} is not a folder")
    expected = "metadata" if expected_grids is None else (expected_grids or None)
    report = validation.validate_folder(folder, expected_grids=expected)
    click.echo(report.format_text(lang="zh" if is_zh() else "en"))
    sys.exit(0 if report.ok else 1)


@main.command("import")
@click.argument("layer", type=click.Choice(LAYERS))
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--crs", default=None,
              help="CRS of FILE when it names none (or a wrong one): EPSG code (4326, 4490, 4542 ...), gcj02 or bd09.")
@click.option("--dry-run", is_flag=True, help="Check and report only; store nothing.")
@click.option("--repair", is_flag=True, help="Repair invalid geometry (self-intersections, unclosed rings) instead of refusing it.")
@click.option("--field", "fields", multiple=True, metavar="TARGET=SOURCE",
              help="Read field TARGET from column SOURCE of FILE (repeatable), e.g. --field code=网格号; "
                   "wins over the names found.")
@click.option("--aliases", "aliases", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Addresses only: a CSV/XLSX of aliases (old names, abbreviations) with a standard-name column "
                   "(标准名称) and an alias column (别名), one alias per row.")
def import_layer(layer: str, file: Path, crs: str | None, dry_run: bool, repair: bool,
                 fields: tuple[str, ...], aliases: Path | None) -> None:
    """Check FILE and store it as LAYER in a new data version (exit 1 and change nothing if refused).

    A FILE identical to what is served makes no version. Old versions beyond GRIDMAP_KEEP_VERSIONS
    are removed after the import (those rolled back to are kept).

    FILE is GeoJSON, GeoPackage, a zipped Shapefile (.prj read; GBK/GB18030 .dbf detected),
    or CSV/XLSX with lon/lat (经度/纬度, or 经度(GCJ-02) naming the CRS) or WKT columns. Columns
    are found by their Chinese or English names (网格编码, 所属社区, 户数 ...); other columns are
    kept as extra attributes. The report names every problem with the feature and the place.

    An addresses FILE may be a standard-address list (标准地址库) without a full-address column:
    the address is composed from its parts (道路/小区, 门牌号, 楼栋), the kind derived, the grid
    found from the point, and 街道/社区 checked against the grid's; rows per unit (单元) are
    merged into their building. Aliases come from an alias column (别名, 曾用名, 简称), a
    workbook sheet named 别名, and/or --aliases FILE.
    """
    from app.geo import operations
    from app.geo.changes import format_summary

    mapping = _field_options(fields)
    extra = {"fields": mapping} if mapping else {}
    if aliases is not None:
        extra["aliases"] = aliases
    outcome = operations.import_layer(workspace(), actor(), layer, file, crs=crs, repair=repair,
                                      dry_run=dry_run, **extra)
    report = outcome.report
    click.echo(report.format_text(lang="zh" if is_zh() else "en"))
    if not report.ok:
        echo(f"import refused: {len(report.errors)} errors; nothing was changed", err=True)
        sys.exit(1)
    if outcome.version is None:
        echo("dry run: the file passes the checks; nothing was stored")
        return
    v = outcome.version
    if outcome.unchanged:
        echo(f"{operations.UNCHANGED} ({v.id}); nothing was stored")
        return
    echo(f"stored as version {v.id}: {format_summary(v.summary)}")


def _field_options(options: tuple[str, ...]) -> dict[str, str]:
    """``--field TARGET=SOURCE`` options as target -> source."""
    out: dict[str, str] = {}
    for opt in options:
        target, sep, source = opt.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise click.BadParameter(f"{opt!r} is not TARGET=SOURCE (e.g. code=网格号)", param_hint="--field")
        out[target.strip()] = source.strip()
    return out


@main.command("versions")
def list_versions() -> None:
    """List the stored data versions, newest first (* marks the one served)."""
    from app.geo import operations
    from app.geo.audit import format_time

    ws = workspace()
    store = ws.store
    if not store.writable:
        raise click.ClickException(f"{store.location} is a plain GeoJSON folder without versions")
    for v in operations.list_versions(store):
        mark = "*" if v["current"] else " "
        when = format_time(v["created"], ws.config.TIMEZONE)
        click.echo(f"{mark} {v['id']}  {when}  {v['author']:14}  {v['message']}\n      {v['summary_text']}")


@main.command("rollback")
@click.argument("version")
def rollback(version: str) -> None:
    """Serve an earlier stored VERSION again (its id, its number or a unique prefix)."""
    from app.geo import operations
    from app.geo.changes import format_summary

    info, summary = operations.rollback(workspace(), actor(), version)
    echo(f"now serving version {info.id}: {format_summary(summary)}")


