"""Coverage results as files: CSV, Excel, GeoJSON, GeoPackage, zipped shapefile and PDF."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from app.geo._coverage_params import check_level
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

#: Every table column: its label in Simplified Chinese and its shapefile field name (at most 10 characters).
_COLUMNS: dict[str, tuple[str, str]] = {
    "code": ("编码", "code"), "name": ("名称", "name"),
    "committee_code": ("社区/村编码", "comm_code"), "committee_name": ("社区/村", "comm_name"),
    "division_code": ("街道/镇编码", "div_code"), "division_name": ("街道/镇", "div_name"),
    "grids": ("网格数", "grids"), "residents": ("居民数", "residents"), "households": ("户数", "households"),
    "residents_covered": ("覆盖居民", "res_cov"), "residents_uncovered": ("未覆盖居民", "res_uncov"),
    "residents_pct": ("居民覆盖率%", "res_pct"), "area_m2": ("面积m²", "area_m2"),
    "area_covered_m2": ("覆盖面积m²", "area_cov"), "area_pct": ("面积覆盖率%", "area_pct"),
    "dist_mean_m": ("平均距离m", "d_mean"), "dist_median_m": ("距离中位数m", "d_median"),
    "dist_p90_m": ("90%距离m", "d_p90"), "dist_max_m": ("最大距离m", "d_max"),
    "residents_unreachable": ("不可达居民", "res_unrch"), "facilities": ("设施数", "facilities"),
    "capacity": ("车位数", "capacity"), "spaces_per_100_households": ("每百户车位", "sp_per_100"),
    "below_target": ("低于目标", "below_tgt"),
}
#: Column labels in Simplified Chinese (Excel headers and the report).
COLUMN_LABELS: dict[str, str] = {column: label for column, (label, _) in _COLUMNS.items()}
#: Shapefile field names (at most 10 characters) for the table columns.
SHAPEFILE_FIELDS: dict[str, str] = {column: short for column, (_, short) in _COLUMNS.items()}


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
    return df.drop(columns=[c for c in df.columns if c in PERSONAL_FIELDS])


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
          progress: Callable[[str], None] | None = None) -> Path:
    """Write a coverage result to a file whose extension names the format.

    - ``.csv``: the ``level`` table, UTF-8 with a BOM (opens in Excel);
    - ``.xlsx``: one sheet per level, the underserved grids and a parameters sheet
      (parameters, data version, time);
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
        _write_xlsx(result, path)
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

        report.write_pdf(result, path, progress=say)
    return path


def to_bytes(result: CoverageResult, fmt: str, level: str | None = None) -> bytes:
    """Return the bytes of an export, for a download.

    Parameters
    ----------
    result : CoverageResult
        What to export.
    fmt : str
        A format name (``csv``, ``xlsx`` ...).
    level : str, optional
        Level for single-table formats.

    Returns
    -------
    bytes
        The file's content.
    """
    ext = _EXTENSIONS.get(fmt)
    if ext is None:
        raise CoverageError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS.values())}")
    with tempfile.TemporaryDirectory(prefix="gridmap-export-") as tmp:
        out = write(result, Path(tmp) / f"coverage{ext}", level)
        return out.read_bytes()


def file_name(result: CoverageResult, fmt: str, level: str | None = None) -> str:
    """A download file name such as ``coverage_bus_stop_500m_straight_grid.csv``."""
    p = result.params
    ext = _EXTENSIONS[fmt]
    return f"coverage_{'+'.join(p.categories)}_{p.radius_m:g}m_{p.mode}_{level or result.level}{ext}"


def _geo(result: CoverageResult, level: str) -> gpd.GeoDataFrame:
    return _without_personal(result.geodataframe(level))


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: f"{COLUMN_LABELS[c]} {c}" if c in COLUMN_LABELS else c for c in df.columns})


def _write_xlsx(result: CoverageResult, path: Path) -> None:
    sheets = {"grid 网格": "grid", "committee 社区村": "committee", "division 街道镇": "division", "city 全市": "city"}
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for sheet, level in sheets.items():
            _labelled(public_table(result, level)).to_excel(xw, sheet_name=sheet, index=False)
        _labelled(_without_personal(result.underserved())).to_excel(xw, sheet_name="underserved 未达标网格",
                                                                     index=False)
        pd.DataFrame(parameters_rows(result), columns=["参数 parameter", "值 value"]).to_excel(
            xw, sheet_name="parameters 参数", index=False)
        for ws in xw.book.worksheets:
            ws.freeze_panes = "A2"
            for col in ws.columns:
                width = max(len(str(c.value or "")) for c in col[:50])
                ws.column_dimensions[col[0].column_letter].width = min(40, max(8, width * 1.3))


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
