"""`gridmap events …`: list and export grid events, their statistics, and who handles which grid, area or department."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli._base import DATA_DIR_OPTION, main, workspace
from app.geo import events as ev
from app.geo._events_model import STATES
from app.geo._events_stats import FORMATS

_STATUS_CHOICES = ("open", *STATES)
_HEAD = {
    "en": ("id", "status", "category", "grid", "created (UTC)", "due (UTC)", "overdue"),
    "zh": ("编号", "状态", "类别", "网格", "上报时间（UTC）", "时限（UTC）", "超时"),
}


def _lang() -> str:
    root = click.get_current_context().find_root()
    return "zh" if root.params.get("lang") == "zh" else "en"


def _admin() -> ev.Who:
    from app.geo.operations import cli_actor

    return ev.Who(cli_actor(), "admin")


@main.group("events")
def events_group() -> None:
    """Grid events (网格事件): the reports, their workflow, statistics and handler scopes."""


@events_group.command("list")
@click.option("--status", "status", multiple=True, type=click.Choice(_STATUS_CHOICES),
              help="Keep these states (repeatable); open = every state but closed and rejected.")
@click.option("--grid", default=None, help="Keep one grid's events (its code).")
@click.option("--overdue", is_flag=True, help="Only open events past their step's time limit.")
@click.option("--since", default=None, help="Created on or after this date (YYYY-MM-DD, UTC).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@DATA_DIR_OPTION
def events_list(status: tuple[str, ...], grid: str | None, overdue: bool, since: str | None, limit: int,
                data_dir: Path | None) -> None:
    """List events, newest first (all of them: the command runs as an administrator)."""
    ws = workspace(data_dir)
    ds = ws.data.current()
    found = ev.list_events(ev.database(ws.config), _admin(), status=status or None, grid=grid,
                           since=ev.utc(since), overdue=True if overdue else None, limit=limit, ds=ds)
    lang = _lang()
    yes = "是" if lang == "zh" else "yes"
    click.echo("\t".join(_HEAD[lang]))
    for e in found["events"]:
        click.echo("\t".join((e["id"], e["status_name"][lang], e["category_name"][lang], e["grid_code"],
                              e["created"][:16].replace("T", " "), (e["due"] or "")[:16].replace("T", " "),
                              yes if e["overdue"] else "")))
    shown = len(found["events"])
    click.echo(f"共 {found['total']} 件，显示 {shown} 件" if lang == "zh" else f"{found['total']} events, {shown} shown")


@events_group.command("export")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="File format; by default from OUT's suffix (.csv, .xlsx, .geojson).")
@click.option("--status", "status", multiple=True, type=click.Choice(_STATUS_CHOICES),
              help="Keep these states (repeatable); open = every state but closed and rejected.")
@click.option("--since", default=None, help="Created on or after this date (YYYY-MM-DD, UTC).")
@click.option("--until", default=None, help="Created before this date (YYYY-MM-DD, UTC).")
@DATA_DIR_OPTION
def events_export(out: Path, fmt: str | None, status: tuple[str, ...], since: str | None, until: str | None,
                  data_dir: Path | None) -> None:
    """Write events to OUT: one row per event with its grid, times, overdue flag and hours to close.

    Reporters, their phones and photos are never exported.
    """
    ws = workspace(data_dir)
    ds = ws.data.current()
    table = ev.frame(ev.database(ws.config), _admin(), since=ev.utc(since), until=ev.utc(until),
                     status=status or None, ds=ds)
    path = ev.export(table, out, fmt)
    click.echo(f"已导出 {len(table)} 件事件：{path}" if _lang() == "zh" else f"wrote {len(table)} events to {path}")


@events_group.command("stats")
@click.option("--by", type=click.Choice(tuple(ev.GROUPS)), default="grid", show_default=True)
@click.option("--period", type=click.Choice(tuple(ev.PERIODS)), default=None, help="One row per period too.")
@click.option("--since", default=None, help="Created on or after this date (YYYY-MM-DD, UTC).")
@click.option("--until", default=None, help="Created before this date (YYYY-MM-DD, UTC).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the table as CSV here instead of printing it.")
@DATA_DIR_OPTION
def events_stats(by: str, period: str | None, since: str | None, until: str | None, out: Path | None,
                 data_dir: Path | None) -> None:
    """Counts by state, on-time rate, mean and p90 hours to close, per area, department or category."""
    ws = workspace(data_dir)
    table = ev.statistics(ev.frame(ev.database(ws.config), _admin(), since=ev.utc(since), until=ev.utc(until),
                                   ds=ws.data.current()), by, period)
    if out is not None:
        table.to_csv(out, index=False, encoding="utf-8-sig")
        click.echo(f"已写入 {out}" if _lang() == "zh" else f"wrote {out}")
        return
    click.echo(table.to_string(index=False) if len(table) else ("没有事件" if _lang() == "zh" else "no events"))


#: Scope kinds as `events assign` and `events scopes` print them.
_SCOPE_NAMES: dict[str, dict[str, str]] = {
    "zh": {"grid": "网格", "committee": "社区/村", "division": "街道/镇", "department": "部门"},
    "en": {"grid": "grid", "committee": "committee", "division": "division", "department": "department"},
}


@events_group.command("assign")
@click.argument("account")
@click.option("--grid", "grid", default=None, help="The account is this grid's worker (first handler).")
@click.option("--committee", default=None, help="The account leads this committee (sees its events).")
@click.option("--division", default=None, help="The account leads this division (sees its events).")
@click.option("--department", default=None, help="The account belongs to this department (by name).")
@click.option("--remove", is_flag=True, help="Take the scope back instead.")
@DATA_DIR_OPTION
def events_assign(account: str, grid: str | None, committee: str | None, division: str | None,
                  department: str | None, remove: bool, data_dir: Path | None) -> None:
    """Give ACCOUNT a handler scope: exactly one of --grid, --committee, --division, --department."""
    given = [(k, v) for k, v in (("grid", grid), ("committee", committee), ("division", division),
                                 ("department", department)) if v]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --grid, --committee, --division, --department"
                               if _lang() != "zh" else "请指定且只指定一项：--grid、--committee、--division 或 --department")
    kind, code = given[0]
    ws = workspace(data_dir)
    result = ev.assign(ev.database(ws.config), account, kind, code, remove=remove, ds=ws.data.current())
    names = _SCOPE_NAMES[_lang()]
    scopes = "; ".join(f"{names.get(k, k)}: {', '.join(v)}" for k, v in result["scopes"].items() if v) or "-"
    click.echo(f"{result['account']} → {scopes}")


@events_group.command("scopes")
@click.argument("account", required=False)
@DATA_DIR_OPTION
def events_scopes(account: str | None, data_dir: Path | None) -> None:
    """List handler scopes (of ACCOUNT, or everyone's)."""
    ws = workspace(data_dir)
    names = _SCOPE_NAMES[_lang()]
    for row in ev.assignments(ev.database(ws.config), account):
        click.echo(f"{row['account']}\t{names.get(row['kind'], row['kind'])}\t{row['code']}")


@events_group.command("report")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(("xlsx", "pdf")), default=None,
              help="File format; by default from OUT's suffix (.xlsx, .pdf).")
@click.option("--by", type=click.Choice(("grid", "committee", "division", "department", "category")),
              default="grid", show_default=True, help="One row per grid, committee, division, department or category.")
@click.option("--period", type=click.Choice(tuple(ev.PERIODS)), default=None, help="One row per period too.")
@click.option("--since", default=None, help="Created on or after this date (YYYY-MM-DD, UTC).")
@click.option("--until", default=None, help="Created before this date (YYYY-MM-DD, UTC).")
@DATA_DIR_OPTION
def events_report(out: Path, fmt: str | None, by: str, period: str | None, since: str | None, until: str | None,
                  data_dir: Path | None) -> None:
    """Write the statistics report (counts, on-time rate, mean and P90 time to close) as XLSX or PDF."""
    from app.geo import events_report as rep

    ws = workspace(data_dir)
    ds = ws.data.current()
    spec = rep.ReportSpec(by=by, period=period, since=ev.utc(since), until=ev.utc(until), lang=_lang(),
                          tz=ws.config.TIMEZONE)
    table = ev.frame(ev.database(ws.config), _admin(), since=spec.since, until=spec.until, ds=ds)
    path = rep.write_report(table, out, spec, ds, fmt)
    click.echo(f"已写入 {path}（{len(table)} 件事件）" if _lang() == "zh" else f"wrote {path} ({len(table)} events)")
