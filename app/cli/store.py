"""`gridmap store migrate`: copy a versioned store between backends (GeoJSON folder ↔ PostGIS)."""

from __future__ import annotations

import json

import click

from app import settings
from app.cli._base import actor, echo, main, progress


@main.group("store")
def store_group() -> None:
    """The versioned data store itself: copy it between a folder and a PostGIS database."""


@store_group.command("migrate")
@click.argument("source")
@click.argument("target")
@click.option("--current-only", is_flag=True, help="Copy only the current version (default: every stored version).")
@click.option("--force", is_flag=True, help="Copy into a target that already holds versions (the copies come after them).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (version ids source -> target).")
def migrate(source: str, target: str, current_only: bool, force: bool, as_json: bool) -> None:
    """Copy the store SOURCE into TARGET, version by version (数据迁移).

    SOURCE and TARGET are folders (the GeoJSON store) or postgresql://user@host/db URLs (a PostGIS
    database; the password from the URL, PGPASSWORD or ~/.pgpass). Each version keeps its
    layers, metadata, author, message and counts; the target's current version is the copy of
    the source's. The target must be empty unless --force. Progress goes to stderr; the
    migration is recorded in the audit log.

    \b
    Example:
      gridmap store migrate instance/store postgresql://gridmap@localhost/gridmap
      GRIDMAP_STORE_URL=postgresql://gridmap@localhost/gridmap gridmap serve
      gridmap store migrate postgresql://gridmap@localhost/gridmap backup/store --current-only
    """
    from app.geo import db
    from app.geo import migrate as migration

    config = settings.resolve()
    result = migration.migrate(source, target, actor=actor().name, all_versions=not current_only, force=force,
                               audit_db=db.target_for(config, settings.instance_dir(config)),
                               progress=progress())
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
        return
    echo(f"已迁移 / copied {len(result.versions)} version(s) from {result.source} to {result.target}; "
               f"current version {result.current}")
