"""`gridmap rebalance`: propose new grid boundaries inside a committee so each worker has households within a band."""

from __future__ import annotations

from pathlib import Path

import click

from app import settings
from app.cli._base import DATA_DIR_OPTION, dataset, main, report_lang


@main.command()
@click.option("--committee", default=None, metavar="CODE", help="The committee to redraw, e.g. 620201002004.")
@click.option("--division", default=None, metavar="CODE",
              help="Instead of --committee: redraw each committee of this division (each on its own).")
@click.option("--households", "band", default="300-500", show_default=True, metavar="LOW-HIGH",
              help="Households per grid to aim at (the commonly cited urban guideline is 300-500).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the proposal: .geojson (the whole grids layer, plus <stem>.addresses.geojson and "
                   "<stem>.facilities.geojson with re-assigned grid codes, to import), .zip (the three layers "
                   "and the steps), .xlsx (the table) or .pdf (the report with maps).")
@click.option("--time-limit", type=float, default=None,
              help=f"Seconds the solver may take {settings.describe('OPTIMISE_TIME_LIMIT')}.")
@click.option("--renumber", is_flag=True,
              help="Number the new grids 001, 002 ... west→east, north→south instead of keeping the codes of the "
                   "old grids they mostly cover (staff still follow those).")
@click.option("--lang", type=click.Choice(("zh", "en")), default=None,
              help="Language of the XLSX workbook, the PDF report and the notes printed "
                   "(default: the group's `gridmap --lang`, else zh).")
@DATA_DIR_OPTION
def rebalance(committee: str | None, division: str | None, band: str, out: Path | None, time_limit: float | None,
              renumber: bool, lang: str | None, data_dir: Path | None) -> None:
    """Propose new grids whose households lie within a band, inside one committee (or each of a division).

    The committee is cut along its roads into blocks; contiguous groups of blocks become the new
    grids (blocks are cut into address cells only when whole blocks cannot meet the band). A new
    grid keeps the code of the old grid it mostly covers. When no split meets the band, the best
    one found is shown with the households each grid misses by, and the reason.

    \b
    Examples:
      gridmap rebalance --committee 620201002004
      gridmap rebalance --committee 620201002004 --households 300-500 --out proposal.geojson
      gridmap rebalance --division 620201002 --out division.pdf
    """
    lang = report_lang(lang)
    from app.geo import rebalance as rb
    from app.geo import rebalance_export as rx

    if bool(committee) == bool(division):
        raise click.UsageError("give --committee CODE or --division CODE (one of them)")
    parsed = rb.parse_band(band)
    if out is not None and out.suffix.lower().lstrip(".") not in (*rx.FORMATS, "json"):
        raise click.ClickException(f"unknown format {out.suffix or out.name!r}; use .geojson, .zip, .xlsx or .pdf")
    config = settings.resolve()
    limit = config.OPTIMISE_TIME_LIMIT if time_limit is None else time_limit
    result = rb.rebalance(dataset(data_dir), committee=committee, division=division, band=parsed,
                          time_limit=limit, renumber=renumber)
    _print_table(result, lang)
    if out is not None:
        files = rx.write(result, out, lang=lang, tz=config.TIMEZONE)
        click.echo(("已写入 " if lang == "zh" else "wrote ") + ", ".join(str(f) for f in files))
        if len(files) == 3:
            click.echo("导入为新的数据版本（每步都经校验，可回滚）：" if lang == "zh" else
                       "To make it a data version (each step is checked and can be rolled back):")
            for step in rx.import_steps(*(str(f) for f in files)):
                click.echo(f"  {step}")


def _print_table(result: object, lang: str) -> None:
    """Per grid before and after, the summary, and the reasons the band is missed."""
    from app.geo import rebalance_export as rx
    from app.geo.rebalance import RebalanceResult, band_text

    assert isinstance(result, RebalanceResult)
    zh = lang == "zh"
    click.echo("网格编码           调整前户数 人口   达标  调整后户数 人口   达标  超出" if zh else
                "grid code          before hh  res.   band  after hh   res.   band  miss")
    for r in result.records():
        def cell(v: object, w: int) -> str:
            if v is None:
                return "-".rjust(w)
            if isinstance(v, bool):
                return ("是" if v else "否").rjust(w - 1) if zh else ("yes" if v else "no").rjust(w)
            return str(v).rjust(w)

        click.echo(f"{r['code']:<18} {cell(r['households_before'], 9)} {cell(r['residents_before'], 6)} "
                   f"{cell(r['in_band_before'], 5)} {cell(r['households_after'], 9)} {cell(r['residents_after'], 6)} "
                   f"{cell(r['in_band_after'], 5)} {cell(r['miss_after'], 5)}")
    s = result.summary()
    b, a = s["before"], s["after"]
    if zh:
        click.echo(f"{result.scope_name}：目标 {band_text(result.band)} 户/网格；网格 {b['grids']} → {a['grids']}，"
                   f"在范围内 {b['in_band']} → {a['in_band']}；户数 最少 {b['min']} → {a['min']}，最多 {b['max']} → "
                   f"{a['max']}，标准差 {b['std']} → {a['std']}；{s['moved_addresses']} 个地址改变所属网格；"
                   f"用时 {s['seconds']:.1f} 秒")
        click.echo("全部新网格在范围内。" if result.met else f"未能全部达标：超出范围 {a['miss']} 户。")
    else:
        click.echo(f"{result.scope_name}: aim {band_text(result.band)} households per grid; grids {b['grids']} → "
                   f"{a['grids']}, in band {b['in_band']} → {a['in_band']}; households min {b['min']} → {a['min']}, "
                   f"max {b['max']} → {a['max']}, std {b['std']} → {a['std']}; {s['moved_addresses']} addresses "
                   f"change grid; {s['seconds']:.1f} s")
        click.echo("Every new grid lies in the band." if result.met else
                   f"The band is not met: {a['miss']} households outside it.")
    for reason in result.reasons():
        click.echo("  " + rx.reason_text(reason, lang))
