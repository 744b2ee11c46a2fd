"""The importer's readers: GeoPackage and Shapefile (by GDAL), CSV/XLSX, and the format dispatch (GeoJSON apart)."""

from __future__ import annotations

import codecs
import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely

from app.geo import crs as crsmod
from app.geo import tabular
from app.geo._import_archive import _extract, check_archive
from app.geo._import_base import _label, _norm_key, _Raw, _safe_text, _Stop
from app.geo._import_geojson import _read_geojson
from app.geo.fieldnames import coordinate_columns
from app.geo.findings import Report

if TYPE_CHECKING:
    from app.geo.importer import Limits

#: File extensions understood, by format.
FORMATS: dict[str, tuple[str, ...]] = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "zip": (".zip",),
    "table": (".csv", ".tsv", ".txt", ".xlsx", ".xlsm"),
}

_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZIP_MAGIC = b"PK\x03\x04"


def _dbf_encoding(files: dict[str, Path], stem: str, report: Report) -> str:
    """Choose the encoding of a shapefile's .dbf: from its .cpg, else from its content."""
    cpg = files.get(f"{stem}.cpg")
    if cpg is not None:
        name = cpg.read_bytes()[:64].decode("ascii", "replace").strip().upper()
        table = {"UTF-8": "utf-8", "UTF8": "utf-8", "65001": "utf-8", "GBK": "gb18030", "CP936": "gb18030",
                 "936": "gb18030", "GB2312": "gb18030", "GB18030": "gb18030", "54936": "gb18030",
                 "ANSI 936": "gb18030", "CP1252": "cp1252", "1252": "cp1252", "LATIN1": "latin-1"}
        if name in table:
            return table[name]
        with contextlib.suppress(LookupError):
            return codecs.lookup(name.lower()).name
        report.warning("encoding", f"the .cpg names an unknown encoding {name!r}; detecting it from the .dbf")
    dbf = files.get(f"{stem}.dbf")
    if dbf is None:
        return "utf-8"
    data = dbf.read_bytes()
    header_len = int.from_bytes(data[8:10], "little") if len(data) >= 32 else 0
    body = data[header_len:] if header_len else data
    # field names live in the header; decode them too
    sample = data[32:header_len] + body
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("gb18030")
    except UnicodeDecodeError:
        report.warning("encoding", "the .dbf is neither UTF-8 nor GB18030; read it as Latin-1")
        return "latin-1"
    if len(data) > 29 and data[29] not in (0x4D, 0x7A, 0x00):
        report.warning("encoding", "the .dbf code page byte does not say GBK, but the text decodes as GB18030")
    return "gb18030"


def _read_ogr(path: Path, report: Report, layer_name: str | None, encoding: str | None,
              limits: Limits, want: str) -> _Raw:
    import pyogrio
    import pyogrio.raw

    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - GDAL raises many types for hostile files
        report.error("unreadable", f"GDAL cannot open the file ({_safe_text(exc)})")
        raise _Stop from None
    names = [str(n) for n, gtype in layers if gtype is not None] or [str(n) for n, _ in layers]
    if layer_name is not None and layer_name not in names:
        report.error("ambiguous_layer", f"the file has no layer {_safe_text(layer_name, 60)!r}; its layers are "
                     f"{_safe_text(', '.join(names[:20]), 300) or '(none)'}")
        raise _Stop
    if layer_name is None:
        if not names:
            report.error("unreadable", "the file holds no layers")
            raise _Stop
        if want in names:
            layer_name = want
        elif len(names) == 1:
            layer_name = names[0]
        else:
            report.error("ambiguous_layer", f"the file holds several layers ({', '.join(names[:10])}); "
                         f"name one of them {want!r}")
            raise _Stop
    try:
        info = pyogrio.read_info(path, layer=layer_name, encoding=encoding)
        if int(info.get("features") or 0) > limits.max_features:
            report.error("too_many_features", f"{info['features']} features; at most {limits.max_features} allowed")
            raise _Stop
        meta, _fids, wkb, field_data = pyogrio.raw.read(path, layer=layer_name, encoding=encoding, force_2d=True)
    except _Stop:
        raise
    except Exception as exc:  # noqa: BLE001
        report.error("unreadable", f"GDAL cannot read layer {layer_name!r} ({_safe_text(exc)})")
        raise _Stop from None
    fields = [str(f) for f in meta["fields"]]
    n = len(wkb) if wkb is not None else (len(field_data[0]) if field_data else 0)
    spec = None
    if meta.get("crs"):
        try:
            epsg = pyproj.CRS.from_user_input(meta["crs"]).to_epsg(min_confidence=70)
        except pyproj.exceptions.CRSError:
            epsg = None
        if epsg is None:
            report.error("unknown_crs", f"the file's coordinate system has no EPSG code ({_safe_text(meta['crs'], 80)}); "
                         "give it with --crs")
            raise _Stop
        spec = crsmod.parse_crs(epsg)
    raw = _Raw([], [], [], crs=spec, crs_from_file=spec is not None, format="gpkg", encoding=encoding or "",
               columns=fields, source_layer=str(layer_name))
    for i in range(n):
        props = {name: _cell(field_data[j][i]) for j, name in enumerate(fields)}
        label = _label(f"#{i + 1}", props)
        geom = None
        blob = wkb[i] if wkb is not None else None
        if blob is None:
            report.error("empty_geometry", "the feature has no geometry", feature=label)
        else:
            try:
                geom = shapely.from_wkb(blob)
            except (shapely.errors.GEOSException, ValueError) as exc:
                msg = str(exc)
                problem = "unclosed_ring" if "closed" in msg else "bad_geometry"
                report.error(problem, f"unreadable geometry ({_safe_text(msg, 120)})", feature=label)
            else:
                if geom is None or geom.is_empty:
                    report.error("empty_geometry", "the geometry is empty", feature=label)
                    geom = None
        raw.props.append(props)
        raw.geoms.append(geom)
        raw.labels.append(label)
    return raw.finish()


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


_WKT_NAMES = ("wkt", "geometry", "geom", "shape", "几何")


def _read_table(path: Path, name: str, report: Report, limits: Limits) -> _Raw:
    try:
        df = tabular.read_table(path, filename=name, limits=limits.for_tables())
    except tabular.TableError as exc:
        report.error("unreadable", str(exc))
        raise _Stop from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for hostile workbooks
        report.error("unreadable", f"cannot read the table ({_safe_text(exc)})")
        raise _Stop from None
    if len(df) > limits.max_features:
        report.error("too_many_features", f"{len(df)} rows; at most {limits.max_features} allowed")
        raise _Stop
    cols = [str(c) for c in df.columns]
    wkt_col = next((c for c in cols if _norm_key(c) in _WKT_NAMES), None)
    lon_col = lat_col = None
    spec = None
    if wkt_col is None:
        found = coordinate_columns(cols)
        if found is None:
            report.error("no_coordinates", "no coordinate columns: name them lon/lat (经度/纬度) or x/y, "
                         f"or give a WKT column (columns: {_safe_text(', '.join(cols), 300)})")
            raise _Stop
        lon_col, lat_col, hint = found
        if hint is not None:
            spec = crsmod.parse_crs(hint)
            report.warning("crs_hint", f"the columns {_safe_text(lon_col, 40)}/{_safe_text(lat_col, 40)} say "
                           f"{spec.label}: the coordinates are read as {spec.label}")
    drop = {c for c in (wkt_col, lon_col, lat_col) if c}
    raw = _Raw([], [], [], crs=spec, format="table", encoding=_table_encoding(path, name),
               columns=[c for c in cols if c not in drop],
               crs_hint_columns=(lon_col, lat_col) if spec is not None else ())
    for i, row in enumerate(df.to_dict("records")):
        props = {k: (v if v != "" else None) for k, v in row.items() if k not in drop}
        label = _label(f"row {i + 2}", props)
        geom = None
        if wkt_col:
            text = str(row[wkt_col]).strip()
            if not text:
                report.error("empty_geometry", f"the {wkt_col} cell is empty", feature=label)
            else:
                try:
                    geom = shapely.from_wkt(text)
                except (shapely.errors.GEOSException, ValueError) as exc:
                    problem = "unclosed_ring" if "closed" in str(exc) else "bad_geometry"
                    report.error(problem, f"unreadable WKT ({_safe_text(exc, 120)})", feature=label)
        else:
            xs, ys = str(row[lon_col]).strip(), str(row[lat_col]).strip()
            if not xs or not ys:
                report.error("empty_coordinates", f"{lon_col}/{lat_col} is empty", feature=label)
            else:
                try:
                    x, y = float(xs), float(ys)
                except ValueError:
                    report.error("bad_coordinates", f"{lon_col}/{lat_col} = {_safe_text(xs, 30)!r}, "
                                 f"{_safe_text(ys, 30)!r} is not a pair of numbers", feature=label)
                else:
                    if not (math.isfinite(x) and math.isfinite(y)):
                        report.error("nan_coordinates", "a coordinate is NaN or infinite", feature=label)
                    else:
                        geom = shapely.Point(x, y)
        raw.props.append(props)
        raw.geoms.append(geom)
        raw.labels.append(label)
    return raw.finish()


def _table_encoding(path: Path, name: str) -> str:
    """The text encoding of a CSV as :func:`app.geo.tabular.read_table` decodes it ("" for a workbook)."""
    if Path(name).suffix.lower() in (".xlsx", ".xlsm"):
        return ""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def detect_format(path: Path, name: str) -> str:
    """Return the format of a file from its name and first bytes: geojson, gpkg, zip, table or shp.

    Raises
    ------
    ValueError
        If neither the name nor the content is a known format.
    """
    ext = Path(name).suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(16)
    for fmt, exts in FORMATS.items():
        if ext in exts:
            return fmt
    if ext in (".shp", ".shx", ".dbf", ".prj"):
        return "shp"
    if head.startswith(_SQLITE_MAGIC):
        return "gpkg"
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.lstrip()[:1] == b"{":
        return "geojson"
    raise ValueError(f"unsupported file type {ext or '(no extension)'!r}; use .geojson, .gpkg, a .zip of a "
                     "Shapefile, .csv or .xlsx")


def _read_any(path: Path, name: str, layer: str, report: Report, repair: bool, limits: Limits,
              workdir: Path, source_layer: str | None = None) -> _Raw:
    """Read the features of any supported file, after the size checks, by its :func:`detect_format`.

    Parameters
    ----------
    path : Path
        The file.
    name : str
        Its original name (the extension decides the format).
    layer : str
        The target layer: picks the layer of a GeoPackage or the Shapefile of an archive.
    report : Report
        Where problems are recorded.
    repair : bool
        Close unclosed GeoJSON rings instead of refusing them.
    limits : Limits
        The size limits.
    workdir : Path
        An empty folder an archive is unpacked into.
    source_layer : str, optional
        The GeoPackage layer to read, by name (else the one named ``layer``, or the only one).

    Returns
    -------
    _Raw
        The features as read, before any check.

    Raises
    ------
    _Stop
        When the file cannot be read; the reason is in ``report``.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        report.error("unreadable", f"cannot open the file ({_safe_text(exc)})")
        raise _Stop from None
    if size > limits.max_file_bytes:
        report.error("too_large", f"the file is {size} bytes; the limit is {limits.max_file_bytes}")
        raise _Stop
    if size == 0:
        report.error("unreadable", "the file is empty")
        raise _Stop
    try:
        fmt = detect_format(path, name)
    except ValueError as exc:
        report.error("unsupported_format", str(exc))
        raise _Stop from None
    report.format = fmt
    if fmt == "shp":
        report.error("unsupported_format", "a Shapefile is several files: upload a .zip holding its "
                     ".shp, .shx, .dbf and .prj (and .cpg if there is one)")
        raise _Stop
    if fmt == "geojson":
        return _read_geojson(path.read_bytes(), report, repair, limits)
    if fmt == "gpkg":
        with open(path, "rb") as fh:
            if not fh.read(16).startswith(_SQLITE_MAGIC):
                report.error("unreadable", "not a GeoPackage (no SQLite header)")
                raise _Stop
        return _read_ogr(path, report, source_layer, None, limits, layer)
    if fmt == "table":
        if Path(name).suffix.lower() in (".xlsx", ".xlsm"):
            check_archive(path, report, limits)  # an XLSX is a zip: same bomb checks
            if not report.ok:
                raise _Stop
        return _read_table(path, name, report, limits)
    # zip
    members = check_archive(path, report, limits)
    if not report.ok:
        raise _Stop
    files = _extract(path, members, workdir, limits, report)
    shps = [k for k in files if k.endswith(".shp")]
    if shps:
        if len(shps) > 1:
            wanted = [k for k in shps if Path(k).stem == layer]
            if len(wanted) != 1:
                report.error("ambiguous_layer", f"the archive holds several shapefiles ({', '.join(shps[:10])}); "
                             f"name one of them {layer}.shp")
                raise _Stop
            shps = wanted
        stem = Path(shps[0]).stem
        report.format = "shapefile"
        missing = [ext for ext in (".shx", ".dbf") if f"{stem}{ext}" not in files]
        if missing:
            report.error("incomplete_shapefile", f"{shps[0]} comes without {' and '.join(missing)}; "
                         "zip all the parts of the Shapefile")
            raise _Stop
        # GDAL wants the parts side by side under one base name
        base = workdir / "shape"
        base.mkdir()
        for k, p in files.items():
            if Path(k).stem == stem:
                p.rename(base / f"layer{Path(k).suffix.lower()}")
        parts = {f"layer{Path(k).suffix.lower()}": base / f"layer{Path(k).suffix.lower()}" for k in files
                 if Path(k).stem == stem}
        encoding = _dbf_encoding(parts, "layer", report)
        if "layer.prj" not in parts:
            report.warning("no_prj", "the Shapefile has no .prj; its coordinate system must be given or is guessed")
        raw = _read_ogr(base / "layer.shp", report, None, encoding, limits, layer)
        raw.format, raw.source_layer = "shapefile", ""
        return raw
    inner = [k for k in files if Path(k).suffix.lower() in FORMATS["geojson"] + FORMATS["gpkg"] + FORMATS["table"]]
    if len(inner) != 1:
        report.error("unsupported_format", "the archive holds no Shapefile (.shp) and not exactly one "
                     ".geojson, .gpkg, .csv or .xlsx file")
        raise _Stop
    return _read_any(files[inner[0]], inner[0], layer, report, repair, limits, workdir, source_layer)

