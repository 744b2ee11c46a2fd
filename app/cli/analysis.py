"""`gridmap locate`, `locate-batch` and `coverage`: finding grids and measuring how well facilities serve them."""

from __future__ import annotations

from pathlib import Path

import click

from app import settings
from app.cli._base import DATA_DIR_OPTION, dataset, main, progress, report_lang
from app.geo.schema import DISTANCE_MODES, LEVELS


@main.command()
@click.option("--lon", "x", help="Longitude (or easting / x in a projected --crs).")
@click.option("--lat", "y", help="Latitude (or northing / y in a projected --crs).")
@click.option("--crs", default="EPSG:4326", show_default=True,
              help="CRS of --lon/--lat: an EPSG code (4326, 4490, 4542 ...), gcj02 (AMap, Tencent) or bd09 (Baidu).")
@click.option("--address", help="A Chinese address, e.g. 嘉峪关市新华路12号.")
@click.option("--limit", type=click.IntRange(1, 20), default=5, show_default=True,
              help="Address candidates to list.")
@DATA_DIR_OPTION
def locate(x: str | None, y: str | None, crs: str, address: str | None, limit: int,
           data_dir: Path | None) -> None:
    """Print, as JSON, the grid a coordinate or an address falls in (grid.code is null outside).

    A coordinate's answer names its nearest standard address (nearest_address, with distance_m
    in the city's metric CRS). An address's answer names the standard address matched
    (matched_address), how (match_kind: exact, normalised, fuzzy, ambiguous, not_found) and its
    score; an ambiguous answer lists the candidates and picks no grid.

    \b
    Examples:
      gridmap locate --lon 98.29 --lat 39.77
      gridmap locate --lon 98.2951 --lat 39.7760 --crs gcj02
      gridmap locate --address 甘肃省嘉峪关市新华路十二号2单元301室
    """
    import json

    from app.geo.locate import locate_address, locate_point

    if address is None and (x is None or y is None):
        raise click.UsageError("give --lon and --lat, or --address")
    if address is not None and (x is not None or y is not None):
        raise click.UsageError("give either --lon/--lat or --address, not both")
    ds = dataset(data_dir)
    if address is not None:
        answer = locate_address(ds, address, limit=limit, personal=True)
    else:
        answer = locate_point(ds, x, y, crs, personal=True)
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))


@main.command("locate-batch")
@click.argument("inputs", metavar="IN...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "outfile", type=click.Path(path_type=Path), required=True,
              help="Result file: .csv (UTF-8 with BOM, opens in Excel), .xlsx, .geojson, .parquet (lon/lat columns) "
              "or .geoparquet (a point geometry); with --engine dask or a folder IN, a folder.")
@click.option("--crs", default=None,
              help="CRS of the coordinate columns: EPSG code, gcj02 or bd09 [default: EPSG:4326, or a GeoParquet "
              "file's own CRS].")
@click.option("--grids", "grids_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Locate in this grid GeoJSON/GeoPackage instead of the served data.")
@click.option("--lon-col", default=None, help="Longitude column (default: found by name: lon, lng, 经度 ...).")
@click.option("--lat-col", default=None, help="Latitude column (default: found by name: lat, 纬度 ...).")
@click.option("--address-col", default=None, help="Address column (default: found by name: address, 地址 ...).")
@click.option("--geoparquet", is_flag=True, help="Write GeoParquet (WKB point geometry and geo metadata) to .parquet.")
@click.option("--chunk-rows", type=click.IntRange(1), default=None,
              help="Rows read, located and written at a time; memory grows with it, not with the file "
              "[default: 50000].")
@click.option("--engine", default="local", show_default=True,
              help="local: this process; dask: the partitions of IN on a dask.distributed cluster.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="--engine dask: a running scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="--engine dask: worker processes of the local cluster, one thread each [default: 2].")
@click.option("--columns", type=click.Choice(("full", "basic")), default="full", show_default=True,
              help="full: every result column. basic: the input columns, grid_code, grid_name, committee_code, "
              "division_code, status and message only (same values as full), several times faster: it leaves out "
              "committee/division names, the nearest grid of rows outside every grid (their message is just "
              "'outside every grid'), the nearest standard address, the GCJ-02/BD-09 datum checks, on_border, "
              "distance_m, the address match columns and lon_wgs84/lat_wgs84; writes .csv, .parquet or .xlsx, "
              "one file (no --engine dask).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@DATA_DIR_OPTION
def locate_batch(inputs: tuple[Path, ...], outfile: Path, crs: str | None, grids_file: Path | None,
                 lon_col: str | None, lat_col: str | None, address_col: str | None, geoparquet: bool,
                 chunk_rows: int | None, engine: str, scheduler: str | None, workers: int | None, columns: str,
                 quiet: bool, data_dir: Path | None) -> None:
    """Assign every row of a CSV/XLSX/Parquet/GeoParquet file IN to a grid and write the result to --out.

    IN has lon/lat columns, a point geometry (GeoParquet) or an address column; CSV may be UTF-8,
    UTF-8 with BOM or GB18030 (Excel on Chinese Windows). CSV and Parquet are streamed in chunks
    (--chunk-rows), so memory stays flat for any file size; progress goes to stderr (--quiet for
    none). Every row is kept, with its grid, status (ok, ambiguous, outside, not_found, invalid),
    the matched standard address, match kind and score of address rows, the nearest standard
    address of coordinate rows, and a message for rows that need a look (swapped lat/lon, another
    datum, fuzzy matches, bad rows); `gridmap --lang zh locate-batch …` writes those messages in Chinese.

    With --engine dask, IN is a folder (or several files) of CSV/Parquet partitions with the same
    columns, and --out a folder that gets one result per partition, with the partition's name
    (and the extension of --geoparquet, else the partition's own). The partitions are located on a
    local cluster of --workers processes, or on the cluster of --scheduler: its workers need
    the same gridmap installed and must reach IN and --out at the same paths (a shared disk); the
    data version is sent to each worker once.

    IN and the result are held to the limits of signed-in staff on the web (GRIDMAP_MAX_UPLOAD_MB,
    GRIDMAP_BATCH_MAX_ROWS, GRIDMAP_BATCH_MAX_COLUMNS, GRIDMAP_BATCH_MAX_CELL_CHARS,
    GRIDMAP_BATCH_MAX_UNPACKED_MB, GRIDMAP_BATCH_MAX_RESPONSE_MB), per partition with --engine dask.

    \b
    Examples:
      gridmap locate-batch people.csv --out people-grids.csv
      gridmap locate-batch points.csv --out points-grids.csv --columns basic
      gridmap locate-batch points.parquet --out points.geoparquet --chunk-rows 500000
      gridmap locate-batch parts/ --engine dask --workers 2 --out results/
      gridmap locate-batch parts/ --engine dask --scheduler tcp://10.0.0.5:8786 --out results/
    """
    import time

    from app.geo import batch, tabular

    started = time.perf_counter()
    import pyarrow

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())  # freed chunks go back to the system: a flat RSS
    if engine not in batch.ENGINES:
        raise batch.BatchError(f"unknown engine {engine!r}; use one of {', '.join(batch.ENGINES)}")
    if engine != "dask" and (scheduler is not None or workers is not None):
        raise batch.BatchError("--scheduler and --workers go with --engine dask")
    if scheduler is not None and workers is not None:
        raise batch.BatchError("give --scheduler or --workers, not both")
    limits = tabular.TableLimits.from_config(settings.resolve(), signed_in=True)
    lang = click.get_current_context().find_root().params.get("lang")
    zh = lang == "zh"
    rows_of = chunk_rows or batch.DEFAULT_CHUNK_ROWS
    folder = engine == "dask" or len(inputs) > 1 or any(p.is_dir() for p in inputs)
    if folder and columns != "full":
        raise batch.BatchError("--columns basic locates one file; give one IN file and no --engine dask")
    if folder:
        parts = batch.partitions(list(inputs))
        if outfile.exists() and not outfile.is_dir():
            raise batch.BatchError(f"--out {outfile} is a file; give a folder for partitions")
        suffix = ".geoparquet" if geoparquet else None
    else:
        batch.output_format(outfile, geoparquet, columns)
    ds = dataset(data_dir)
    if grids_file is not None:
        from app.geo.locate import with_grids

        ds = with_grids(ds, grids_file)

    def show_progress(done: int, total: int | None, seconds: float) -> None:
        click.echo(batch.format_progress(done, total, seconds, lang), err=True)

    if folder:
        def partition_done(i: int, n: int, res: batch.BatchResult, seconds: float, rows: int) -> None:
            if quiet:
                return
            rate = rows / max(seconds, 1e-9)
            if zh:
                click.echo(f"  分区 {i}/{n} {res.out.name}：{res.counts['total']:,} 行；"
                           f"{seconds:.1f} 秒内 {rows:,} 行（每秒 {rate:,.0f} 行）", err=True)
            else:
                click.echo(f"  partition {i}/{n} {res.out.name}: {res.counts['total']:,} rows; "
                           f"{rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)", err=True)

        results = batch.locate_partitions(ds, parts, outfile, engine=engine, scheduler=scheduler, workers=workers or 2,
                                    suffix=suffix, crs=crs, lon_col=lon_col, lat_col=lat_col,
                                    address_col=address_col, limits=limits, chunk_rows=rows_of, lang=lang,
                                    done=partition_done, cache_dir=settings.instance_dir(settings.resolve()) / "cache")
        counts: dict[str, int] = {}
        for res in results:
            for k, v in res.counts.items():
                counts[k] = counts.get(k, 0) + v
        click.echo(_wrote(outfile, counts, time.perf_counter() - started, lang, files=len(results)))
        return
    translate = None
    if lang == "zh":  # gridmap --lang zh locate-batch …: row messages in Chinese, in the file and here
        from app import messages

        translate = messages.row_translator(lang)
    res = batch.locate_file(ds, inputs[0], outfile, crs=crs, lon_col=lon_col, lat_col=lat_col,
                            address_col=address_col, limits=limits, chunk_rows=rows_of, geoparquet=geoparquet,
                            translate=translate, progress=None if quiet else show_progress, columns=columns,
                            cache_dir=settings.instance_dir(settings.resolve()) / "cache")
    for line, status, message in res.noted:
        if zh:
            from app import messages

            click.echo(f"  第 {line} 行（{messages.row_status(status, lang)}）：{message}", err=True)
        else:
            click.echo(f"  row {line}: {status}: {message}", err=True)
    click.echo(_wrote(outfile, res.counts, time.perf_counter() - started, lang))


def _wrote(out: Path, counts: dict[str, int], seconds: float, lang: str | None, files: int | None = None) -> str:
    """The closing line of `gridmap locate-batch`: where the answers went and the row count of each status."""
    if lang == "zh":
        from app import messages

        tally = "，".join(f"{messages.row_status(k, lang)} {v:,}" for k, v in counts.items())
        where = f"{files} 个文件写入 {out}" if files is not None else f"已写入 {out}"
        return f"{where}：{tally}，用时 {seconds:.1f} 秒"
    where = f"wrote {files} files to {out}" if files is not None else f"wrote {out}"
    return f"{where}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" in {seconds:.1f} s"


@main.command()
@click.option("--category", "categories", multiple=True,
              help="Facility category (repeat for several; their facilities are pooled), e.g. bus_stop.")
@click.option("--preset", default=None, help="Planning preset: bus_stop, park, circle_5min, circle_10min, circle_15min; "
              "each required kind within its own distance (with --category/--radius: pooled instead).")
@click.option("--require", "requirements", multiple=True, metavar="KIND:METRES",
              help="A required kind with its own distance, e.g. library:1000 (repeat; every kind must be within reach).")
@click.option("--radius", type=float, default=None, help="Distance in metres for --category "
              "(with --preset: pool the preset's categories at this radius).")
@click.option("--mode", type=click.Choice(DISTANCE_MODES), default="straight", show_default=True,
              help="Straight line in the data's metric CRS (EPSG:4542 for Jiayuguan), or walking along the road network.")
@click.option("--by", "level", type=click.Choice(LEVELS), default="grid",
              show_default=True, help="Level of the table in csv, geojson and zip outputs.")
@click.option("--target", default=None, help="Target residents share in percent, per required kind "
              "('none' for no target; default: the preset's).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file; the extension sets the format: .csv .xlsx .geojson .gpkg .zip (shapefile) .pdf")
@click.option("--lang", type=click.Choice(("zh", "en")), default=None,
              help="Language of the XLSX workbook, the PDF report and this command's summary line "
                   "(default: the group's `gridmap --lang`, else zh).")
@click.option("--unit", default=None, metavar="LEVEL:CODE",
              help="PDF only: the report of one area, committee:CODE or division:CODE, instead of the city.")
@DATA_DIR_OPTION
def coverage(categories: tuple[str, ...], preset: str | None, requirements: tuple[str, ...], radius: float | None,
             mode: str, level: str, target: str | None, out: Path, lang: str | None, unit: str | None,
             data_dir: Path | None) -> None:
    """Analyse how many residents and how much area lie within reach of facilities, and write a file.

    \b
    Examples:
      gridmap coverage --preset circle_15min --out circle15.xlsx
      gridmap coverage --require library:1000 --require tcm_clinic:800 --out two.csv
      gridmap coverage --category bus_stop --radius 300 --out bus300.geojson
    """
    lang = report_lang(lang)
    from app.geo import coverage as cov
    from app.geo import export

    if preset is not None and preset not in cov.PRESETS:
        raise click.ClickException(f"unknown preset {preset!r}; expected one of {', '.join(cov.PRESETS)}")
    kwargs: dict[str, object] = {}
    if target is not None:
        kwargs["target_pct"] = None if target.strip().lower() in ("", "none") else target
    if requirements:
        if categories or radius is not None:
            raise click.UsageError("give --require, or --category with --radius, not both")
        kwargs["requirements"] = ",".join(requirements)
        kwargs["preset"] = preset
    elif preset is not None and not categories and radius is None:
        kwargs["preset"] = preset
    else:
        cats = list(categories) or (list(cov.PRESETS[preset].categories) if preset is not None else [])
        if not cats:
            raise click.ClickException("give --category (one or more), --require or --preset")
        if radius is None and preset is not None:
            radius = cov.PRESETS[preset].radii[-1]
        if radius is None:
            raise click.ClickException("give --radius in metres (or --preset)")
        kwargs["categories"], kwargs["radius_m"] = cats, radius

    say = progress()
    export.format_of(out)
    result = cov.analyse(dataset(data_dir), mode=mode, level=level, progress=say, **kwargs)
    config = settings.resolve()
    export.write(result, out, level, progress=say, lang=lang, tz=config.TIMEZONE,
                 unit=_unit_option(unit) if unit else None)
    s = result.summary()
    under = len(result.underserved())
    if lang == "en":
        lacking = "".join(f"; {k['en']} ≤ {k['distance_m']:g} m: residents {k['residents_pct']}%, "
                          f"{k['units_missing']} grids lacking" for k in result.kinds())
        click.echo(f"{result.params.label('en')}: residents {s['residents_pct']}% / area {s['area_pct']}% within "
                   f"reach; {under} grids below target{lacking}; wrote {out}")
    else:
        lacking = "".join(f"；{k['zh']} ≤ {k['distance_m']:g} 米：居民 {k['residents_pct']}%，{k['units_missing']} 个网格缺少"
                          for k in result.kinds())
        click.echo(f"{result.params.label('zh')}：居民覆盖率 {s['residents_pct']}%，面积覆盖率 {s['area_pct']}%；"
                   f"{under} 个网格未达标{lacking}；已写入 {out}")


def _unit_option(value: str) -> tuple[str, str]:
    """``committee:CODE`` or ``division:CODE`` as (level, code); a usage error otherwise."""
    level, _, code = value.partition(":")
    if level not in ("committee", "division") or not code:
        raise click.BadParameter("give committee:CODE or division:CODE", param_hint="--unit")
    return level, code
