"""Coverage results as files: CSV, Excel, GeoJSON, GeoPackage, zipped shapefile and PDF."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.geo._coverage_params import check_level
from app.geo._export_columns import COLUMN_LABELS
from app.geo.coverage import LEVELS, CoverageError, CoverageResult
from app.geo.schema import PERSONAL_FIELDS, STORAGE_CRS

#: Output formats by file extension.
FORMATS: dict[str, str] = {
    ".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".gpkg": "gpkg", ".zip": "zip", ".pdf": "pdf",
}
#: Media type of each format, for downloads.
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "zip": "application/zip",
    "pdf": "application/pdf",
}
#: File extension of each format.
_EXTENSIONS: dict[str, str] = {fmt: ext for ext, fmt in FORMATS.items()}

#: Shapefile field names (at most 10 characters) for the table columns.
SHAPEFILE_FIELDS: dict[str, str] = {
    "code": "code", "name": "name", "committee_code": "comm_code", "committee_name": "comm_name",
    "division_code": "div_code", "division_name": "div_name", "grids": "grids", "residents": "residents",
    "households": "households", "residents_covered": "res_cov", "residents_uncovered": "res_uncov",
    "residents_pct": "res_pct", "area_m2": "area_m2", "area_covered_m2": "area_cov", "area_pct": "area_pct",
    "dist_mean_m": "d_mean", "dist_median_m": "d_median", "dist_p90_m": "d_p90", "dist_max_m": "d_max",
    "residents_unreachable": "res_unrch", "facilities": "facilities", "capacity": "capacity",
    "spaces_per_100_households": "sp_per_100", "below_target": "below_tgt", "missing": "missing",
}


def format_of(path: str | Path) -> str:
    """Return the export format named by a file's extension.

    Parameters
    ----------
    path : str or Path
        Output file name.

    Returns
    -------
    str
        One of ``csv``, ``xlsx``, ``geojson``, ``gpkg``, ``zip``, ``pdf``.

    Raises
    ------
    CoverageError
        For any other extension.
    """
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise CoverageError(f"cannot write {Path(path).name!r}: the extension must be one of {', '.join(FORMATS)}")
    return FORMATS[ext]


def public_table(result: CoverageResult, level: str) -> pd.DataFrame:
    """One level's table without any personal field (a guard: coverage tables hold none)."""
    return _without_personal(result.table(level))


def _without_personal(df: pd.DataFrame) -> pd.DataFrame:
    return _flat(df.drop(columns=[c for c in df.columns if c in PERSONAL_FIELDS]))


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """List cells (such as ``missing``) joined with commas, so that CSV, GeoPackage and shapefiles can hold them."""
    lists = [c for c in df.columns if df[c].dtype == object
             and df[c].map(lambda v: isinstance(v, (list, tuple, set))).any()]
    if not lists:
        return df
    df = df.copy()
    for c in lists:
        df[c] = df[c].map(lambda v: ",".join(map(str, v)) if isinstance(v, (list, tuple, set)) else v)
    return df


def parameters_rows(result: CoverageResult) -> list[tuple[str, str]]:
    """Parameters, data version and times as (name, value) rows."""
    p = result.parameters()
    rows = [
        ("分析 analysis", p["label_zh"] + " / " + p["label_en"]),
        ("设施类别 categories", ", ".join(p["categories"])),
        ("距离 radius (m)", f"{p['radius_m']:g}"),
        ("模式 mode", p["mode"]),
        ("度量坐标系 metric CRS", p["metric_crs"]),
        ("目标 target (% residents)", "" if p["target_pct"] is None else f"{p['target_rule']} {p['target_pct']:g}"),
        ("数据版本 data version", p["data_version"]),
        ("计算时间 computed at (UTC)", p["computed_at"]),
        ("导出时间 exported at (UTC)", pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")),
    ]
    return rows


def write(result: CoverageResult, path: str | Path, level: str | None = None,
          progress: Callable[[str], None] | None = None, lang: str = "zh", tz: str = "Asia/Shanghai",
          unit: tuple[str, str] | None = None) -> Path:
    """Write a coverage result to a file whose extension names the format.

    - ``.csv``: the ``level`` table, UTF-8 with a BOM (opens in Excel);
    - ``.xlsx``: one formatted sheet per level, the underserved grids, a parameters sheet
      and a notes sheet, all in ``lang`` (:func:`app.geo._export_xlsx.write_workbook`);
    - ``.geojson``: the ``level`` table with polygons, WGS84;
    - ``.gpkg``: every level as a layer, plus the service area and a parameters table;
    - ``.zip``: the ``level`` table as a shapefile (``.shp .shx .dbf .prj .cpg``, UTF-8,
      field names shortened per :data:`SHAPEFILE_FIELDS`) plus ``fields.txt``;
    - ``.pdf``: the report of :mod:`app.geo.report`.

    Parameters
    ----------
    result : CoverageResult
        What to write.
    path : str or Path
        Output file; its folder must exist.
    level : str, optional
        Level for single-table formats (default: the result's level).
    progress : callable, optional
        Called with short progress messages.
    lang : str
        ``zh`` or ``en``: the language of the workbook's headers, sheet names and values.
    tz : str
        IANA time zone the workbook and the PDF show times in (the TIMEZONE setting).
    unit : (level, code), optional
        For a PDF: the report of one committee or division instead of the whole city.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    fmt = format_of(path)
    level = check_level(level or result.level)
    if not path.parent.exists():
        raise CoverageError(f"folder {path.parent} does not exist")
    say = progress or (lambda msg: None)
    say(f"writing {fmt} to {path}")
    if fmt == "csv":
        public_table(result, level).to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        from app.geo._export_xlsx import write_workbook  # openpyxl loads on the first workbook only

        write_workbook(result, path, lang=lang, tz=tz)
    elif fmt == "geojson":
        if path.exists():
            path.unlink()
        _geo(result, level).to_file(path, driver="GeoJSON", engine="pyogrio", RFC7946="YES")
    elif fmt == "gpkg":
        _write_gpkg(result, path)
    elif fmt == "zip":
        _write_shapefile_zip(result, path, level)
    else:
        from app.geo import report

        report.write_pdf(result, path, progress=say, lang=lang, tz=tz, unit=unit)
    return path


def to_bytes(result: CoverageResult, fmt: str, level: str | None = None, lang: str = "zh",
             tz: str = "Asia/Shanghai", unit: tuple[str, str] | None = None) -> bytes:
    """Return the bytes of an export, for a download.

    Parameters
    ----------
    result : CoverageResult
        What to export.
    fmt : str
        A format name (``csv``, ``xlsx`` ...).
    level : str, optional
        Level for single-table formats.
    lang : str
        ``zh`` or ``en`` (the XLSX workbook's language).
    tz : str
        IANA time zone for the times the XLSX workbook and the PDF show.
    unit : (level, code), optional
        For a PDF: the report of one committee or division (``("committee", code)``) instead of the city.

    Returns
    -------
    bytes
        The file's content.
    """
    ext = _EXTENSIONS.get(fmt)
    if ext is None:
        raise CoverageError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS.values())}")
    with tempfile.TemporaryDirectory(prefix="gridmap-export-") as tmp:
        out = write(result, Path(tmp) / f"coverage{ext}", level, lang=lang, tz=tz, unit=unit)
        return out.read_bytes()


def file_name(result: CoverageResult, fmt: str, level: str | None = None) -> str:
    """A download file name such as ``coverage_bus_stop_500m_straight_grid.csv``."""
    p = result.params
    ext = _EXTENSIONS[fmt]
    return f"coverage_{'+'.join(p.categories)}_{p.radius_m:g}m_{p.mode}_{level or result.level}{ext}"


def _geo(result: CoverageResult, level: str) -> gpd.GeoDataFrame:
    return _without_personal(result.geodataframe(level))


def _write_gpkg(result: CoverageResult, path: Path) -> None:
    if path.exists():
        path.unlink()
    for level in LEVELS:
        _geo(result, level).to_file(path, layer=f"coverage_{level}", driver="GPKG", engine="pyogrio")
    area = result.service_area()
    if not area.is_empty:
        gpd.GeoDataFrame({"radius_m": [result.params.radius_m], "mode": [result.params.mode]},
                         geometry=[area], crs=STORAGE_CRS).to_file(path, layer="service_area", driver="GPKG",
                                                                    engine="pyogrio")
    params = pd.DataFrame(parameters_rows(result), columns=["parameter", "value"])
    import pyogrio  # GDAL is loaded on a file's first write, not by a server that never writes one

    pyogrio.write_dataframe(params, path, layer="parameters", driver="GPKG")


def _write_shapefile_zip(result: CoverageResult, path: Path, level: str) -> None:
    gdf = _geo(result, level)
    fields = {c: SHAPEFILE_FIELDS.get(c, c[:10]) for c in gdf.columns if c != "geometry"}
    gdf = gdf.rename(columns=fields)
    for c in gdf.columns:
        if gdf[c].dtype == bool:
            gdf[c] = gdf[c].astype(int)
    stem = f"coverage_{level}"
    with tempfile.TemporaryDirectory(prefix="gridmap-shp-") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        gdf.to_file(shp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        cpg = shp.with_suffix(".cpg")
        if not cpg.exists() or cpg.read_text().strip().upper() not in ("UTF-8", "UTF8"):
            cpg.write_text("UTF-8", encoding="ascii")
        notes = ["fields (shapefile name <- column):"] + [f"  {short} <- {long} ({COLUMN_LABELS.get(long, '')})"
                                                          for long, short in fields.items()]
        notes += ["", "parameters:"] + [f"  {k}: {v}" for k, v in parameters_rows(result)]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).iterdir()):
                zf.write(f, f.name)
            zf.writestr("fields.txt", "\n".join(notes) + "\n")
            zf.writestr("parameters.json", json.dumps(result.parameters(), ensure_ascii=False, indent=2))
