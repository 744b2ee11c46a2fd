"""`gridmap init-city`: a real city's files, as its grid office has them, into a new versioned store."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from app import settings
from app.cli._base import actor, echo, is_zh, main, progress


@main.command("init-city")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--store", "store_dir", required=True,
              help="New folder for the city's versioned store (must not exist, or be empty), or the "
                   "postgresql:// URL of an empty PostGIS database.")
@click.option("--name", default=None, help="The city's name as addresses write it, e.g. 河湾市 "
              "(default: the mapping file's [city] name, metadata.json's name, or SOURCE's name).")
@click.option("--table-crs", default=None,
              help="CRS of the coordinates in CSV/XLSX tables when their headers do not say it: "
                   "gcj02, bd09, 4326 (WGS84), 4490 (CGCS2000) or any EPSG code.")
@click.option("--mapping", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Mapping file (TOML or JSON): [city], [files.\"NAME\"] layer/crs, [fields.LAYER] target = \"column\".")
@click.option("--field", "fields", multiple=True, metavar="TARGET=SOURCE",
              help="Take field TARGET from column SOURCE, e.g. code=网格号 or grids.code=网格号 (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print what was detected and every problem; write nothing.")
@click.option("--repair", is_flag=True, help="Repair invalid geometry and small slivers instead of refusing them.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON instead of text.")
def init_city(source: Path, store_dir: str, name: str | None, table_crs: str | None, mapping: Path | None,
              fields: tuple[str, ...], dry_run: bool, repair: bool, as_json: bool) -> None:
    """Build a new city store from SOURCE, a folder or .zip of a grid office's files (建立城市数据).

    Each file's layer is recognised from its name (网格/grid, 社区/村/committee, 街道/镇/division,
    设施/facility, 地址/address, 道路/road) or its content; fields from their Chinese or English
    names. Committees and divisions missing as files are made from the grids' 所属社区/所属街道
    columns. Every check of `gridmap import` applies; a refusal lists each problem (file, feature,
    field) and writes nothing.

    \b
    Example:
      gridmap init-city office/ --store stores/hewan --table-crs gcj02 --dry-run
      gridmap init-city office/ --store stores/hewan --table-crs gcj02
      GRIDMAP_STORE_URL=stores/hewan gridmap serve
    """
    from app.geo import importer, initcity
    from app.geo.db import redact, target_for

    config = settings.resolve()
    plan = initcity.plan_city(source, name=name, table_crs=table_crs, mapping=mapping, fields=fields, repair=repair,
                              limits=importer.Limits.from_config(config),
                              progress=progress())
    click.echo(json.dumps(plan.to_dict(), ensure_ascii=False, indent=1) if as_json
               else plan.format_text(lang="zh" if is_zh() else "en"))
    if not plan.ok:
        echo("init-city 已拒绝 refused: 未写入任何内容 nothing was written", err=True)
        sys.exit(1)
    if dry_run:
        echo("试运行 dry run: 检查通过，未写入任何内容 the files pass the checks; nothing was written")
        return
    info = initcity.build_city(plan, store_dir, author=actor().name,
                               audit_db=target_for(config, settings.instance_dir(config)))
    if is_zh():
        from app.geo.findings import layer_title

        counts = "，".join(f"{layer_title(k)} {n}" for k, n in plan.counts.items())
    else:
        counts = ", ".join(f"{n} {k}" for k, n in plan.counts.items())
    shown = redact(store_dir)  # a database URL's password is never printed
    echo(f"已建立 / built store {shown}: {counts} (version {info.id})")
    echo(f"下一步 next: GRIDMAP_STORE_URL={shlex.quote(shown)} gridmap serve")
