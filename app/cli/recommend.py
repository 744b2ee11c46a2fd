"""`gridmap recommend`: where new facilities would serve the most residents not yet within reach."""

from __future__ import annotations

from pathlib import Path

import click

from app import settings
from app.cli._base import DATA_DIR_OPTION, dataset, main, progress, report_lang
from app.geo.schema import DISTANCE_MODES


@main.command()
@click.option("--category", default=None, help="Facility category to add, e.g. bus_stop.")
@click.option("--preset", default=None, help="A coverage preset (e.g. circle_15min): recommend sites for each required kind.")
@click.option("--radius", type=float, default=None, help="Service radius in metres (with --preset: overrides each kind's).")
@click.option("--add", type=int, default=5, show_default=True, help="Sites to add (per kind); not used by lscp.")
@click.option("--mode", type=click.Choice(DISTANCE_MODES), default="straight", show_default=True,
              help="Straight line in the data's metric CRS, or walking along the road network.")
@click.option("--candidates", default="roads", show_default=True, metavar="roads|addresses|FILE",
              help="Candidate sites: points along the roads, the address points, or a CSV/XLSX/GeoJSON file of points.")
@click.option("--spacing", type=float, default=100.0, show_default=True, help="Spacing of road candidates, metres.")
@click.option("--crs", default="EPSG:4326", show_default=True, help="CRS of the candidate file (e.g. gcj02, bd09, EPSG:4542).")
@click.option("--objective", type=click.Choice(("mclp", "lscp", "pmedian")), default="mclp", show_default=True,
              help="mclp: most residents newly covered; lscp: fewest sites covering all; pmedian: shortest mean distance.")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds (default: OPTIMISE_TIME_LIMIT).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file: .geojson (the sites), .xlsx or .pdf.")
@click.option("--lang", type=click.Choice(("zh", "en")), default=None,
              help="Language of the workbook, the report and the summary (default: the group's `gridmap --lang`, else zh).")
@DATA_DIR_OPTION
def recommend(category: str | None, preset: str | None, radius: float | None, add: int, mode: str, candidates: str,
              spacing: float, crs: str, objective: str, time_limit: float | None, out: Path, lang: str | None,
              data_dir: Path | None) -> None:
    """Recommend new facility sites (MCLP, LSCP or p-median, solved by HiGHS) and write a file.

    \b
    Examples:
      gridmap recommend --category bus_stop --radius 500 --add 5 --out bus.geojson
      gridmap recommend --category park --radius 500 --objective lscp --out parks.xlsx
      gridmap recommend --preset circle_15min --add 3 --out circle15.pdf
    """
    lang = report_lang(lang)
    from app.geo import _recommend_export as rx
    from app.geo import recommend as rec

    rx.format_of(out)
    source, file = (candidates, None) if candidates in ("roads", "addresses") else ("file", Path(candidates))
    if file is not None and not file.is_file():
        raise click.ClickException(f"candidate file {file} not found")
    params = rec.make_params(category, radius, add, mode, objective, source, spacing,
                             time_limit if time_limit is not None else settings.resolve().OPTIMISE_TIME_LIMIT,
                             preset, file.name if file else None, crs)

    say = progress()
    result = rec.recommend(dataset(data_dir), params, file, progress=say)
    rx.write(result, out, lang)
    for k in result.kinds():
        if lang == "en":
            click.echo(f"{k['en']} {k['radius_m']:g} m: {k['sites']} new sites, residents within reach "
                       f"{k['pct_before']}% → {k['pct_after']}% (+{k['newly_covered']}), mean distance "
                       f"{k['dist_mean_before_m']} → {k['dist_mean_after_m']} m [{k['status']}]")
        else:
            click.echo(f"{k['zh']} {k['radius_m']:g} 米：新增 {k['sites']} 处，覆盖率 {k['pct_before']}% → "
                       f"{k['pct_after']}%（新增 {k['newly_covered']} 人），平均距离 {k['dist_mean_before_m']} → "
                       f"{k['dist_mean_after_m']} 米 [{k['status']}]")
    for note in rx.notes(result, lang):
        click.echo(note)
    click.echo(f"wrote {out}" if lang == "en" else f"已写入 {out}")
