"""Import a layer from GeoJSON, GeoPackage, zipped Shapefile, CSV or XLSX: read safely, check, then store."""

from __future__ import annotations

import contextlib
import json
import math
import re
import stat
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import crs as crsmod
from app.geo.schema import (
    CATEGORIES,
    CODE_PATTERNS,
    COORD_PRECISION,
    FIELDS,
    GEOMETRY_TYPES,
    LAYERS,
    STORAGE_CRS,
    metric_crs_for,
)

#: Layers that can be imported (roads come with the demo only for now, but are accepted too).
IMPORTABLE: tuple[str, ...] = LAYERS
#: File extensions understood, by format.
FORMATS: dict[str, tuple[str, ...]] = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "zip": (".zip",),
    "table": (".csv", ".tsv", ".txt", ".xlsx", ".xlsm"),
}
#: Smallest overlap or gap between grids that is reported, in m².
MIN_AREA_M2 = 1.0
#: How many findings of one kind a text report lists before summarising the rest.
REPORT_LIST = 20

_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CHINA = crsmod.CHINA_BBOX  # (lon_min, lon_max, lat_min, lat_max)
_GEOGRAPHIC = {4326, 4490, 4214, 4610}
_CODE_KEY = {"divisions": "code", "committees": "code", "grids": "code",
             "facilities": "id", "addresses": "id", "roads": "id"}
_ID_PREFIX = {"facilities": "F", "addresses": "A", "roads": "R"}
#: Column names accepted for schema fields besides their own name (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码", "网格编码", "gridcode", "grid_code_15"),
    "name": ("名称", "网格名称", "name_zh"),
    "committee_code": ("社区编码", "村居编码", "committee"),
    "division_code": ("街道编码", "乡镇编码", "division"),
    "households": ("户数",),
    "population": ("人口", "人数"),
    "category": ("类别", "类型"),
    "address": ("地址",),
}


@dataclass(frozen=True)
class Limits:
    """Size limits applied before and while a file is read."""

    #: Largest file (or uploaded archive), in bytes.
    max_file_bytes: int = 50 * 1024 * 1024
    #: Largest total size of an archive's members once unpacked.
    max_unpacked_bytes: int = 200 * 1024 * 1024
    #: Most members an archive may hold.
    max_members: int = 64
    #: Highest compression ratio of a member larger than 1 MiB (zip bombs go far beyond).
    max_ratio: float = 200.0
    #: Most features a layer may hold.
    max_features: int = 200_000

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        """Build limits from the ``IMPORT_MAX_MB``, ``IMPORT_MAX_UNPACKED_MB`` and ``IMPORT_MAX_FEATURES`` settings."""
        mib = 1024 * 1024
        return cls(
            max_file_bytes=int(config.get("IMPORT_MAX_MB", 50)) * mib,
            max_unpacked_bytes=int(config.get("IMPORT_MAX_UNPACKED_MB", 200)) * mib,
            max_features=int(config.get("IMPORT_MAX_FEATURES", 200_000)),
        )


@dataclass(frozen=True)
class Finding:
    """One problem found in an import: how bad, what, which feature and where."""

    severity: str  # "error" | "warning" | "repaired"
    problem: str  # short key, e.g. "overlap"
    message: str
    feature: str | None = None
    place: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return {"severity": self.severity, "problem": self.problem, "message": self.message,
                "feature": self.feature, "place": self.place}

    def format(self) -> str:
        """Return one line of text."""
        bits = [f"{self.severity.upper():8s} {self.problem}:"]
        if self.feature:
            bits.append(f"[{self.feature}]")
        bits.append(self.message)
        if self.place:
            bits.append(f"@ {self.place}")
        return " ".join(bits)


@dataclass
class ImportReport:
    """Everything found while reading and checking one file."""

    layer: str
    source: str
    format: str = ""
    crs: str = ""
    features: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, problem: str, message: str, feature: str | None = None,
            place: str | None = None) -> None:
        """Record one finding."""
        self.findings.append(Finding(severity, problem, message, feature, place))

    def error(self, problem: str, message: str, feature: str | None = None, place: str | None = None) -> None:
        """Record a problem that refuses the import."""
        self.add("error", problem, message, feature, place)

    def warning(self, problem: str, message: str, feature: str | None = None, place: str | None = None) -> None:
        """Record a problem that does not refuse the import."""
        self.add("warning", problem, message, feature, place)

    @property
    def errors(self) -> list[Finding]:
        """Findings that refuse the import."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings that do not refuse the import (warnings and repairs)."""
        return [f for f in self.findings if f.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when nothing refuses the import."""
        return not self.errors

    def problems(self) -> set[str]:
        """The problem keys of the errors."""
        return {f.problem for f in self.errors}

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {"layer": self.layer, "source": self.source, "format": self.format, "crs": self.crs,
                "features": self.features, "ok": self.ok, "errors": len(self.errors),
                "warnings": len(self.warnings), "findings": [f.to_dict() for f in self.findings]}

    def format_text(self, limit: int = REPORT_LIST) -> str:
        """Return the report as text, listing at most ``limit`` findings of each kind."""
        head = (f"{self.source}: layer {self.layer}, format {self.format or '?'}, CRS {self.crs or '?'}, "
                f"{self.features} features: {len(self.errors)} errors, {len(self.warnings)} warnings")
        lines = [head]
        shown: dict[tuple[str, str], int] = defaultdict(int)
        hidden: dict[tuple[str, str], int] = defaultdict(int)
        for f in sorted(self.findings, key=lambda f: f.severity != "error"):
            key = (f.severity, f.problem)
            if shown[key] < limit:
                lines.append("  " + f.format())
                shown[key] += 1
            else:
                hidden[key] += 1
        for (sev, problem), n in hidden.items():
            lines.append(f"  {sev.upper():8s} {problem}: … and {n} more")
        lines.append("REFUSED: nothing was stored." if not self.ok else "OK")
        return "\n".join(lines)


@dataclass
class ImportPlan:
    """A checked layer ready to store (``gdf`` is None when the file could not be read)."""

    layer: str
    report: ImportReport
    gdf: gpd.GeoDataFrame | None = None


class ImportRefused(Exception):
    """An import that was refused; carries the report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"import of {report.source} refused: {len(report.errors)} errors")
        self.report = report


class _Stop(Exception):
    """Reading cannot go on; the reason is already in the report."""


# --------------------------------------------------------------------------- small helpers


def _place(lon: float, lat: float) -> str:
    return f"{lon:.6f}, {lat:.6f}"


def _wgs_place(geom: BaseGeometry | None) -> str | None:
    if geom is None or geom.is_empty:
        return None
    try:
        p = geom.representative_point()
    except shapely.errors.GEOSException:
        p = shapely.get_point(shapely.get_exterior_ring(geom) if geom.geom_type == "Polygon" else geom, 0)
    if p is None or p.is_empty or not (math.isfinite(p.x) and math.isfinite(p.y)):
        return None
    return _place(p.x, p.y)


def _metric_crs_of(geoms: np.ndarray) -> str:
    """The metric CRS for lon/lat geometries: :func:`metric_crs_for` of their extent."""
    return metric_crs_for(tuple(shapely.total_bounds(np.asarray(geoms, dtype=object))))


def _to_metric(geoms: np.ndarray, crs: str) -> np.ndarray:
    to_metric = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))


def _norm_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def _as_code(value: Any) -> str | None:
    """Return a code as text: numbers lose a trailing ``.0``; blanks are None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


def _safe_text(value: Any, limit: int = 200) -> str:
    text = str(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- archives


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name:
        return "its name holds a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "its path is absolute and would leave the archive"
    if ".." in PurePosixPath(norm).parts:
        return "its path climbs out of the archive (..)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    return None


def check_archive(path: Path, report: ImportReport, limits: Limits) -> list[zipfile.ZipInfo]:
    """Check a zip archive's members before anything is unpacked.

    Refuses members whose paths lead outside the archive (absolute, ``..``), links, encrypted
    members, duplicate names, too many members, too large an unpacked size and zip bombs.

    Parameters
    ----------
    path : Path
        The archive.
    report : ImportReport
        Where problems are recorded.
    limits : Limits
        The size limits.

    Returns
    -------
    list of zipfile.ZipInfo
        The file members (directories and macOS metadata left out); empty when refused.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        report.error("unreadable", f"not a readable zip archive ({_safe_text(exc)})")
        return []
    if len(infos) > limits.max_members:
        report.error("too_many_members", f"the archive holds {len(infos)} members; at most {limits.max_members} allowed")
        return []
    ok = True
    seen: dict[str, str] = {}
    total = 0
    members = []
    for info in infos:
        label = f"archive member {_safe_text(info.filename)!r}"
        why = _member_problem(info)
        if why:
            report.error("zip_slip" if "path" in why else "bad_member", f"refused: {why}", place=label)
            ok = False
            continue
        if info.is_dir():
            continue
        base = PurePosixPath(info.filename.replace("\\", "/")).name
        if base.startswith("._") or "__MACOSX" in info.filename:
            continue
        if base.lower() in seen:
            report.error("duplicate_member", f"two members are both named {base!r} ({seen[base.lower()]!r})",
                         place=label)
            ok = False
            continue
        seen[base.lower()] = info.filename
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            report.error("zip_bomb", f"compressed {info.compress_size} bytes unpack to {info.file_size} bytes "
                         f"(ratio above {limits.max_ratio:.0f}); refusing a probable zip bomb", place=label)
            ok = False
        if Path(base).suffix.lower() == ".zip":
            report.error("nested_archive", "archives inside archives are not accepted", place=label)
            ok = False
        members.append(info)
    if total > limits.max_unpacked_bytes:
        report.error("too_large", f"the archive unpacks to {total} bytes; the limit is {limits.max_unpacked_bytes}")
        ok = False
    return members if ok else []


def _extract(path: Path, members: list[zipfile.ZipInfo], dest: Path, limits: Limits,
             report: ImportReport) -> dict[str, Path]:
    """Unpack members flat into ``dest`` while counting real bytes (headers can lie)."""
    out: dict[str, Path] = {}
    budget = limits.max_unpacked_bytes
    with zipfile.ZipFile(path) as zf:
        for info in members:
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            target = dest / re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        budget -= len(chunk)
                        if written > info.file_size or budget < 0:
                            report.error("zip_bomb", "a member unpacks to more bytes than its header declares "
                                         "or than the limit allows", place=f"archive member {base!r}")
                            raise _Stop
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                report.error("unreadable", f"cannot unpack ({_safe_text(exc)})", place=f"archive member {base!r}")
                raise _Stop from None
            out[base.lower()] = target
    return out


# --------------------------------------------------------------------------- raw features

@dataclass
class _Raw:
    """Features read from a file, before checks: properties, geometries and the file's CRS."""

    props: list[dict[str, Any]]
    geoms: list[BaseGeometry | None]
    labels: list[str]  # "#3" or "row 4"
    crs: crsmod.CrsSpec | None = None
    crs_from_file: bool = False
    assumed_wgs84_ok: bool = False  # GeoJSON without crs member is WGS84 by definition


_POS_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _check_positions(coords: Any, depth: int) -> str | None:
    """Return why a GeoJSON coordinates array is malformed, or None."""
    if depth == 0:
        if not isinstance(coords, list) or len(coords) < 2:
            return "a position is not a list of at least 2 numbers"
        for v in coords[:3]:
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"a coordinate is {_safe_text(repr(v), 40)}, not a number"
            if not math.isfinite(v):
                return "a coordinate is NaN or infinite"
        return None
    if not isinstance(coords, list):
        return "coordinates are not nested lists"
    for c in coords:
        why = _check_positions(c, depth - 1)
        if why:
            return why
    return None


def _ring_problem(ring: list) -> str | None:
    if len(ring) < 4:
        return f"a ring has {len(ring)} positions; at least 4 are needed"
    if ring[0][:2] != ring[-1][:2]:
        return "a ring is not closed (its last position differs from its first)"
    return None


def _geojson_geometry(obj: Any, repair: bool) -> tuple[BaseGeometry | None, str | None, str | None, bool]:
    """Build a geometry from a GeoJSON object.

    Returns (geometry, problem key, message, repaired).
    """
    if obj is None:
        return None, "empty_geometry", "the feature has no geometry (null)", False
    if not isinstance(obj, dict):
        return None, "bad_geometry", "geometry is not an object", False
    gtype = obj.get("type")
    if gtype == "GeometryCollection":
        return None, "wrong_geometry_type", "GeometryCollection is not accepted", False
    if gtype not in _POS_DEPTH:
        return None, "bad_geometry", f"unknown geometry type {_safe_text(repr(gtype), 40)}", False
    coords = obj.get("coordinates")
    if coords is None or coords == []:
        return None, "empty_geometry", f"{gtype} has no coordinates", False
    why = _check_positions(coords, _POS_DEPTH[gtype])
    if why:
        key = "nan_coordinates" if "NaN" in why else "bad_coordinates"
        return None, key, why, False
    repaired = False
    if gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else coords
        for poly in polys:
            if not poly:
                return None, "empty_geometry", "a polygon has no rings", False
            for i, ring in enumerate(poly):
                why = _ring_problem(ring)
                if why:
                    if repair and "not closed" in why and len(ring) >= 3:
                        poly[i] = [*ring, ring[0]]
                        repaired = True
                        continue
                    return None, "unclosed_ring" if "not closed" in why else "invalid_geometry", why, False
    if gtype in ("LineString",) and len(coords) < 2:
        return None, "invalid_geometry", "a line needs at least 2 positions", False
    try:
        geom = shapely.geometry.shape(obj)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        return None, "bad_geometry", f"cannot build the geometry ({_safe_text(exc)})", False
    if geom.is_empty:
        return None, "empty_geometry", f"{gtype} is empty", False
    return geom, None, None, repaired


def _crs_member(doc: dict, report: ImportReport) -> crsmod.CrsSpec | None:
    member = doc.get("crs")
    if member is None:
        return None
    name = None
    if isinstance(member, dict):
        props = member.get("properties")
        if isinstance(props, dict):
            name = props.get("name") or props.get("code")
    if not isinstance(name, str | int):
        report.error("unknown_crs", "the file's \"crs\" member is malformed")
        raise _Stop
    text = str(name)
    if re.search(r"crs:?84$", text, re.I):
        text = "EPSG:4326"
    m = re.search(r"EPSG:{1,2}(?:[\d.]*:)?(\d{4,6})$", text, re.I)
    if m:
        text = f"EPSG:{m.group(1)}"
    try:
        return crsmod.parse_crs(text)
    except crsmod.CRSError as exc:
        report.error("unknown_crs", f"the file names a coordinate system that is not known: {exc}")
        raise _Stop from None


def _read_geojson(data: bytes, report: ImportReport, repair: bool, limits: Limits) -> _Raw:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
            report.warning("encoding", "the file is not UTF-8; read it as GB18030")
        except UnicodeDecodeError:
            report.error("unreadable", "the file is neither UTF-8 nor GB18030 text")
            raise _Stop from None
    try:
        doc = json.loads(text)
    except RecursionError:
        report.error("unreadable", "the JSON is nested too deeply to be GeoJSON")
        raise _Stop from None
    except ValueError as exc:
        report.error("unreadable", f"not valid JSON: {_safe_text(exc)}")
        raise _Stop from None
    if not isinstance(doc, dict):
        report.error("unreadable", f"not GeoJSON: the top level is a JSON {type(doc).__name__}, not an object")
        raise _Stop
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            report.error("unreadable", "the FeatureCollection has no \"features\" list")
            raise _Stop
    elif kind == "Feature":
        features = [doc]
    else:
        report.error("unreadable", f"not a GeoJSON FeatureCollection or Feature (type is {_safe_text(repr(kind), 40)})")
        raise _Stop
    if len(features) > limits.max_features:
        report.error("too_many_features", f"{len(features)} features; at most {limits.max_features} allowed")
        raise _Stop
    raw = _Raw([], [], [], crs=_crs_member(doc, report), assumed_wgs84_ok=True)
    raw.crs_from_file = raw.crs is not None
    for i, feat in enumerate(features, start=1):
        label = f"#{i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            report.error("bad_feature", "not a GeoJSON Feature object", feature=label)
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            report.error("bad_feature", "\"properties\" is not an object", feature=label)
            props = {}
        geom, problem, msg, repaired = _geojson_geometry(feat.get("geometry"), repair)
        label = _label(label, props)
        if problem:
            report.error(problem, msg or problem, feature=label)
        if repaired:
            report.add("repaired", "unclosed_ring", "closed an unclosed ring by repeating its first position",
                       feature=label, place=_wgs_place(geom) if raw.crs is None else None)
        raw.props.append(props)
        raw.geoms.append(geom)
        raw.labels.append(label)
    return raw


def _label(base: str, props: dict[str, Any]) -> str:
    bits = []
    for key in ("code", "id", "name", "address"):
        v = props.get(key)
        if v not in (None, "") and not (isinstance(v, float) and math.isnan(v)):
            bits.append(_safe_text(_as_code(v) if key in ("code", "id") else v, 60))
        if len(bits) == 2:
            break
    return f"{base} ({', '.join(bits)})" if bits else base


def _dbf_encoding(files: dict[str, Path], stem: str, report: ImportReport) -> str:
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
            import codecs

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


def _read_ogr(path: Path, report: ImportReport, layer_name: str | None, encoding: str | None,
              limits: Limits, want: str) -> _Raw:
    import pyogrio
    import pyogrio.raw

    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - GDAL raises many types for hostile files
        report.error("unreadable", f"GDAL cannot open the file ({_safe_text(exc)})")
        raise _Stop from None
    names = [str(n) for n, gtype in layers if gtype is not None] or [str(n) for n, _ in layers]
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
    raw = _Raw([], [], [], crs=spec, crs_from_file=spec is not None)
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
    return raw


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


_WKT_NAMES = ("wkt", "geometry", "geom", "shape", "几何")


def _read_table(path: Path, name: str, report: ImportReport, limits: Limits) -> _Raw:
    from app.geo import tabular

    try:
        df = tabular.read_table(path, filename=name)
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
    if wkt_col is None:
        try:
            spec = tabular.detect_columns(df)
        except tabular.TableError:
            spec = None
        if spec is None or not spec.has_coords:
            report.error("no_coordinates", "no coordinate columns: name them lon/lat (经度/纬度) or x/y, "
                         f"or give a WKT column (columns: {_safe_text(', '.join(cols), 300)})")
            raise _Stop
        lon_col, lat_col = spec.lon, spec.lat
    raw = _Raw([], [], [])
    drop = {c for c in (wkt_col, lon_col, lat_col) if c}
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
    return raw


# --------------------------------------------------------------------------- reading dispatch


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


def _read_any(path: Path, name: str, layer: str, report: ImportReport, repair: bool, limits: Limits,
              workdir: Path) -> _Raw:
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
        return _read_ogr(path, report, None, None, limits, layer)
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
        return _read_ogr(base / "layer.shp", report, None, encoding, limits, layer)
    inner = [k for k in files if Path(k).suffix.lower() in FORMATS["geojson"] + FORMATS["gpkg"] + FORMATS["table"]]
    if len(inner) != 1:
        report.error("unsupported_format", "the archive holds no Shapefile (.shp) and not exactly one "
                     ".geojson, .gpkg, .csv or .xlsx file")
        raise _Stop
    return _read_any(files[inner[0]], inner[0], layer, report, repair, limits, workdir)


# --------------------------------------------------------------------------- checks


def _coords_bounds(geoms: list[BaseGeometry | None]) -> np.ndarray:
    arr = np.array([g if g is not None else None for g in geoms], dtype=object)
    return shapely.bounds(arr)  # NaN rows for None


def _choose_crs(raw: _Raw, given: str | None, report: ImportReport) -> crsmod.CrsSpec:
    if given:
        try:
            spec = crsmod.parse_crs(given)
        except crsmod.CRSError as exc:
            report.error("unknown_crs", str(exc))
            raise _Stop from None
        if raw.crs is not None and raw.crs != spec:
            report.warning("crs_override", f"the file says {raw.crs.label}; using {spec.label} as given")
        return spec
    if raw.crs is not None:
        return raw.crs
    b = _coords_bounds(raw.geoms)
    finite = b[np.isfinite(b).all(axis=1)]
    if raw.assumed_wgs84_ok or not len(finite):
        return crsmod.parse_crs(4326)
    if len(finite) and (np.abs(finite[:, [0, 2]]) <= 180).all() and (np.abs(finite[:, [1, 3]]) <= 90).all():
        report.warning("assumed_crs", "no coordinate system in the file or given; assumed WGS84 (EPSG:4326). "
                       "Coordinates from AMap/Tencent are GCJ-02 and from Baidu BD-09: give --crs gcj02 or bd09")
        return crsmod.parse_crs(4326)
    big = float(np.nanmax(np.abs(finite))) if len(finite) else float("nan")
    report.error("unknown_crs", f"no coordinate system in the file and none given, and the coordinates "
                 f"(up to {big:.0f}) are not lon/lat; give one, e.g. --crs EPSG:4542")
    raise _Stop


def _in_china(b: np.ndarray) -> np.ndarray:
    lon0, lon1, lat0, lat1 = _CHINA
    return (b[:, 0] >= lon0) & (b[:, 2] <= lon1) & (b[:, 1] >= lat0) & (b[:, 3] <= lat1)


def _transform(geoms: np.ndarray, spec: crsmod.CrsSpec, swap: bool = False) -> np.ndarray:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
        if spec.is_wgs84_equivalent:
            return np.column_stack([x, y])
        with np.errstate(all="ignore"):
            lon, lat = crsmod.to_wgs84(x, y, spec)
        return np.column_stack([np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)])

    return shapely.transform(geoms, fn)


def _reproject(raw: _Raw, spec: crsmod.CrsSpec, report: ImportReport) -> np.ndarray:
    """Convert to WGS84 and report out-of-range, swapped and non-Chinese coordinates per feature."""
    geoms = np.array(raw.geoms, dtype=object)
    present = np.array([g is not None for g in raw.geoms])
    out = np.full(len(geoms), None, dtype=object)
    if not present.any():
        return out
    src = geoms[present]
    src_b = shapely.bounds(src)
    geographic = spec.kind != "epsg" or spec.epsg in _GEOGRAPHIC
    try:
        wgs = _transform(src, spec)
    except Exception as exc:  # noqa: BLE001 - pyproj errors on absurd input
        report.error("out_of_range", f"the coordinates cannot be converted from {spec.label} ({_safe_text(exc)})")
        raise _Stop from None
    b = shapely.bounds(wgs)
    finite = np.isfinite(b).all(axis=1)
    in_range = finite & (np.abs(b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(b[:, [1, 3]]) <= 90).all(axis=1)
    if geographic:
        in_range &= (np.abs(src_b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(src_b[:, [1, 3]]) <= 90).all(axis=1)
    china = in_range & _in_china(np.where(np.isfinite(b), b, 0))
    bad = np.flatnonzero(~china)
    swapped_ok = np.zeros(len(src), dtype=bool)
    if len(bad):
        try:
            sw = _transform(src[bad], spec, swap=True)
            sb = shapely.bounds(sw)
            swapped_ok[bad] = np.isfinite(sb).all(axis=1) & _in_china(np.where(np.isfinite(sb), sb, 0))
        except Exception:  # noqa: BLE001
            pass
    labels = [lab for lab, p in zip(raw.labels, present, strict=True) if p]
    for k in bad:
        x, y = src_b[k, 0], src_b[k, 1]
        where = f"x={x:.6g}, y={y:.6g} in {spec.label}"
        if swapped_ok[k]:
            report.error("latlon_swap", "probable lat/lon swap: the coordinates fall in China only with x and y "
                         "exchanged", feature=labels[k], place=where)
        elif not in_range[k]:
            report.error("out_of_range", f"coordinates out of range for {spec.label}", feature=labels[k], place=where)
        else:
            report.error("outside_china", f"the feature lies outside China (lon {_CHINA[0]}–{_CHINA[1]}, "
                         f"lat {_CHINA[2]}–{_CHINA[3]}) after conversion from {spec.label}: wrong coordinate "
                         "system?", feature=labels[k], place=_wgs_place(wgs[k]))
    out[np.flatnonzero(present)] = np.where(china, wgs, None)
    return out


def _check_types(layer: str, geoms: np.ndarray, labels: list[str], report: ImportReport) -> None:
    allowed = GEOMETRY_TYPES[layer]
    for i, g in enumerate(geoms):
        if g is not None and g.geom_type not in allowed:
            report.error("wrong_geometry_type", f"{g.geom_type} where layer {layer} holds {' or '.join(allowed)}",
                         feature=labels[i], place=_wgs_place(g))
            geoms[i] = None


def _check_validity(layer: str, geoms: np.ndarray, labels: list[str], report: ImportReport, repair: bool) -> None:
    for i, g in enumerate(geoms):
        if g is None or g.is_valid:
            continue
        reason = shapely.is_valid_reason(g)
        m = re.search(r"\[([-\d.eE+]+) ([-\d.eE+]+)", reason)
        place = _place(float(m.group(1)), float(m.group(2))) if m else _wgs_place(g)
        if not repair:
            report.error("invalid_geometry", f"invalid geometry: {reason}; run with --repair to fix it",
                         feature=labels[i], place=place)
            continue
        fixed = shapely.make_valid(g)
        allowed = GEOMETRY_TYPES[layer]
        if fixed.geom_type == "GeometryCollection":
            parts = [p for p in fixed.geoms if p.geom_type in allowed or f"Multi{p.geom_type}" in allowed]
            fixed = shapely.union_all(parts) if parts else shapely.Polygon()
        if fixed.is_empty or fixed.geom_type not in allowed:
            if fixed.geom_type == "Polygon" and "MultiPolygon" in allowed:
                pass
            else:
                report.error("invalid_geometry", f"invalid geometry ({reason}) and the repair leaves no "
                             f"{'/'.join(allowed)}", feature=labels[i], place=place)
                continue
        report.add("repaired", "invalid_geometry", f"repaired: {reason}", feature=labels[i], place=place)
        geoms[i] = fixed


def _match_columns(layer: str, props: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    names = [f.name for f in FIELDS[layer]]
    seen_cols: list[str] = []
    for p in props:
        for k in p:
            if k not in seen_cols:
                seen_cols.append(k)
    mapping: dict[str, str] = {}
    by_key = {_norm_key(c): c for c in seen_cols}
    for name in names:
        for cand in (name, *ALIASES.get(name, ())):
            col = by_key.get(_norm_key(cand))
            if col is not None and col not in mapping:
                mapping[col] = name
                break
    for col in seen_cols:  # Shapefile .dbf names are cut to 10 characters: committee_code -> committee_
        if col not in mapping and len(col) == 10:
            hits = [n for n in names if n.startswith(col) and n not in mapping.values()]
            if len(hits) == 1:
                mapping[col] = hits[0]
    dropped = [c for c in seen_cols if c not in mapping]
    if dropped:
        report.warning("extra_columns", f"columns not in the {layer} data model are dropped: "
                       f"{_safe_text(', '.join(map(str, dropped)), 300)}")
    return [{mapping[k]: v for k, v in p.items() if k in mapping} for p in props]


def _coerce_fields(layer: str, rows: list[dict[str, Any]], labels: list[str], report: ImportReport) -> None:
    for f in FIELDS[layer]:
        for i, row in enumerate(rows):
            v = row.get(f.name)
            if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
                row[f.name] = None
                continue
            if f.dtype == "str":
                row[f.name] = _as_code(v) if f.name.endswith("code") or f.name == "id" else str(v).strip()
            elif f.dtype in ("int", "float"):
                try:
                    num = float(str(v).strip().replace(",", "")) if not isinstance(v, int | float) else float(v)
                    if not math.isfinite(num) or abs(num) > 1e12:
                        raise ValueError
                    if f.dtype == "int" and not num.is_integer():
                        raise ValueError
                except (ValueError, TypeError):
                    kind = "a whole number" if f.dtype == "int" else "a number"
                    report.error("bad_value", f"{f.name} is {_safe_text(repr(v), 40)}, not {kind}", feature=labels[i])
                    row[f.name] = None
                    continue
                row[f.name] = int(num) if f.dtype == "int" else num


def _check_codes(layer: str, rows: list[dict[str, Any]], labels: list[str], report: ImportReport) -> None:
    key = _CODE_KEY[layer]
    if key == "id" and all(r.get("id") is None for r in rows):
        width = max(5, len(str(len(rows))))
        for n, r in enumerate(rows, start=1):
            r["id"] = f"{_ID_PREFIX[layer]}{n:0{width}d}"
        report.warning("generated_ids", f"the file has no id column; ids {rows[0]['id']}… were generated")
        return
    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        code = r.get(key)
        if code is None:
            report.error("missing_code", f"the feature has no {key}", feature=labels[i])
            continue
        if code in first:
            report.error("duplicate_code", f"{key} {code} is also used by {labels[first[code]]}", feature=labels[i])
        else:
            first[code] = i
        pattern = CODE_PATTERNS.get(layer)
        if pattern is not None and not pattern.match(code):
            digits = {"divisions": 9, "committees": 12, "grids": 15}[layer]
            report.warning("code_scheme", f"code {_safe_text(code, 40)} does not follow the {digits}-digit scheme",
                           feature=labels[i])
    if layer == "grids":
        for i, r in enumerate(rows):
            code, com = r.get("code"), r.get("committee_code")
            if com is None and code and CODE_PATTERNS["grids"].match(code):
                r["committee_code"] = com = code[:12]
            if com is None:
                report.error("missing_code", "the grid has no committee_code", feature=labels[i])
            elif code and not str(code).startswith(str(com)):
                report.warning("code_scheme", f"grid code {code} does not start with its committee code {com}",
                               feature=labels[i])
            if r.get("division_code") is None and com and CODE_PATTERNS["committees"].match(com):
                r["division_code"] = com[:9]
    if layer == "committees":
        for r in rows:
            if r.get("division_code") is None and r.get("code") and CODE_PATTERNS["committees"].match(r["code"]):
                r["division_code"] = r["code"][:9]


def _fill_defaults(layer: str, rows: list[dict[str, Any]], labels: list[str], report: ImportReport) -> None:
    essential = {"divisions": ("name",), "committees": ("name",), "grids": ("name",),
                 "facilities": ("name", "category"), "addresses": ("address",), "roads": ("name",)}[layer]
    filled: dict[str, int] = defaultdict(int)
    for i, r in enumerate(rows):
        for f in FIELDS[layer]:
            if r.get(f.name) is not None:
                continue
            if f.name in essential:
                report.error("missing_value", f"the feature has no {f.name}", feature=labels[i])
            elif f.name == "kind" and layer in ("divisions", "committees"):
                r["kind"] = _guess_kind(layer, r)
                filled[f.name] += 1
            elif f.required and f.name not in ("area_m2", "grid_code", "committee_code", "division_code"):
                r[f.name] = 0 if f.dtype in ("int", "float") else ""
                filled[f.name] += 1
        if layer == "facilities" and r.get("category") is not None and r["category"] not in CATEGORIES:
            report.error("bad_value", f"category {_safe_text(r['category'], 40)!r} is not one of "
                         f"{', '.join(CATEGORIES)}", feature=labels[i])
    if filled:
        report.warning("filled_fields", "missing values were filled with defaults: "
                       + ", ".join(f"{k} ({n})" for k, n in filled.items()))


def _guess_kind(layer: str, row: dict[str, Any]) -> str:
    name = str(row.get("name") or "")
    if layer == "divisions":
        return "town" if name.endswith(("镇", "乡")) else "subdistrict"
    code = str(row.get("code") or "")
    from app.geo.schema import committee_kind_from_code

    return committee_kind_from_code(code) or ("village" if name.endswith("村") else "community")


def _findings(issues: list, problem: str, labels_by_code: dict[str, str], report: ImportReport,
              severity: str) -> None:
    """Copy :mod:`app.geo.validate` issues into the import report, naming features by their labels."""
    for issue in issues:
        feature = labels_by_code.get(issue.feature, issue.feature) if issue.feature else None
        message = issue.message
        for code, label in labels_by_code.items():
            if code and code != issue.feature and f" {code}" in message and problem == "overlap":
                message = message.replace(f" {code}", f" {label}", 1)
                break
        place = issue.where.replace(",", ", ") if issue.where else None
        report.add(severity, problem, message, feature, place)


def check_tiling(gdf: gpd.GeoDataFrame, layer: str, labels: list[str], report: ImportReport,
                 parents: gpd.GeoDataFrame | None = None, parent_layer: str | None = None,
                 severity: str = "error", tolerance: float = MIN_AREA_M2) -> None:
    """Check areas against each other and their parents, reusing :mod:`app.geo.validate`.

    Reports overlaps, gaps (holes between the areas) and areas lying outside the parent they
    name, all with their size in m² and a place; names unknown parents. Areas are measured in
    the metric CRS of the checked layer's extent (:func:`app.geo.schema.metric_crs_for`).

    Parameters
    ----------
    gdf : GeoDataFrame
        The checked layer in EPSG:4326 with ``code`` (and ``<parent>_code``).
    layer : str
        Its name.
    labels : list of str
        One label per row, used to name features.
    report : ImportReport
        Where findings go.
    parents : GeoDataFrame, optional
        The stored parent layer (e.g. committees for grids).
    parent_layer : str, optional
        Its name.
    severity : str
        ``error`` (refuses the import) or ``warning``.
    tolerance : float
        Smallest area reported, in m².
    """
    from app.geo import validate

    by_code = {str(c): lab for c, lab in zip(gdf["code"], labels, strict=True) if c is not None}
    ok = gdf[[g is not None and shapely.is_valid(g) for g in gdf.geometry.values]]
    if len(ok) == 0:
        return
    crs = _metric_crs_of(ok.geometry.values)
    _findings(validate.check_overlaps(ok, layer, tolerance=tolerance, crs=crs), "overlap", by_code, report, severity)
    _findings(validate.check_city_gaps(ok, layer, tolerance=tolerance, crs=crs), "gap", by_code, report, severity)
    if parent_layer is None:
        return
    if parents is None or len(parents) == 0:
        report.warning("no_parents", f"no {parent_layer} layer is stored, so containment was not checked")
        return
    key = f"{parent_layer[:-1]}_code"
    known = {_as_code(c) for c in parents["code"]}
    for code, pcode, geom in zip(ok["code"], ok[key], ok.geometry.values, strict=True):
        if pcode is not None and pcode not in known:
            report.add(severity, "unknown_parent", f"{parent_layer[:-1]} {pcode} does not exist in the stored "
                       f"{parent_layer}; import {parent_layer} first", by_code.get(str(code)), _wgs_place(geom))
    parents = parents.assign(code=parents["code"].map(_as_code))
    _findings(validate.check_nesting(ok, parents, layer, parent_layer, key, tolerance=tolerance, crs=crs),
              "outside_parent", by_code, report, severity)


def _assign_grids(rows: list[dict[str, Any]], geoms: np.ndarray, labels: list[str],
                  grids: gpd.GeoDataFrame | None, report: ImportReport) -> None:
    if grids is None or len(grids) == 0:
        if any(r.get("grid_code") is None for r in rows):
            report.warning("no_grid", "no grids are stored, so grid_code could not be filled in")
        return
    tree = shapely.STRtree(grids.geometry.values)
    codes = grids["code"].map(_as_code).to_numpy()
    pts = np.array([g if g is not None else shapely.Point() for g in geoms], dtype=object)
    hit_pt, hit_grid = tree.query(pts, predicate="intersects")
    found: dict[int, str] = {}
    for p, g in zip(hit_pt, hit_grid, strict=True):
        found.setdefault(int(p), codes[g])
    filled = outside = moved = 0
    for i, r in enumerate(rows):
        if geoms[i] is None:
            continue
        where = found.get(i)
        if where is None:
            outside += 1
            if r.get("grid_code") is None:
                r["grid_code"] = ""
            if outside <= REPORT_LIST:
                report.warning("outside_grids", "the point lies in no grid", feature=labels[i],
                               place=_wgs_place(geoms[i]))
        elif r.get("grid_code") is None:
            r["grid_code"] = where
            filled += 1
        elif r["grid_code"] != where:
            moved += 1
            if moved <= REPORT_LIST:
                report.warning("grid_mismatch", f"grid_code {r['grid_code']} but the point lies in grid {where}",
                               feature=labels[i], place=_wgs_place(geoms[i]))
    if filled:
        report.warning("filled_fields", f"grid_code filled in from the stored grids for {filled} features")


# --------------------------------------------------------------------------- entry points


def prepare(path: str | Path, layer: str, *, crs: str | None = None, repair: bool = False,
            limits: Limits | None = None, context: Any = None, filename: str | None = None) -> ImportPlan:
    """Read and check a file for one layer; nothing is stored.

    Parameters
    ----------
    path : str or Path
        The file: .geojson/.json, .gpkg, a .zip of a Shapefile (or of one of the other formats),
        .csv or .xlsx with coordinate (lon/lat, 经度/纬度, x/y) or WKT columns.
    layer : str
        Target layer, one of :data:`app.geo.schema.LAYERS`.
    crs : str, optional
        Coordinate system of the file when it has none or it is wrong: an EPSG code, ``gcj02``
        or ``bd09`` (anything :func:`app.geo.crs.parse_crs` accepts).
    repair : bool
        Fix invalid geometries (and close unclosed rings) instead of refusing them.
    limits : Limits, optional
        Size limits; the defaults when omitted.
    context : Store, optional
        The store the layer goes into: its committees are used to check grids, its grids to fill
        in ``grid_code`` of facilities and addresses.
    filename : str, optional
        The original file name (uploads are saved under temporary names).

    Returns
    -------
    ImportPlan
        The checked layer (in EPSG:4326 with the data model's columns) and its report; the
        layer is None when the file could not be read.
    """
    path = Path(path)
    name = filename or path.name
    limits = limits or Limits()
    report = ImportReport(layer=layer, source=_safe_text(name, 120))
    if layer not in IMPORTABLE:
        report.error("unknown_layer", f"unknown layer {layer!r}; expected one of {', '.join(IMPORTABLE)}")
        return ImportPlan(layer, report)
    with tempfile.TemporaryDirectory(prefix="gridmap-import-") as tmp:
        try:
            raw = _read_any(path, name, layer, report, repair, limits, Path(tmp))
        except _Stop:
            return ImportPlan(layer, report)
        except (MemoryError, RecursionError):
            report.error("unreadable", "the file is too complex to read")
            return ImportPlan(layer, report)
    report.features = len(raw.geoms)
    if not raw.geoms:
        report.error("no_features", "the file holds no features")
        return ImportPlan(layer, report)
    try:
        spec = _choose_crs(raw, crs, report)
    except _Stop:
        return ImportPlan(layer, report)
    report.crs = spec.label
    labels = raw.labels
    try:
        geoms = _reproject(raw, spec, report)
    except _Stop:
        return ImportPlan(layer, report)
    _check_types(layer, geoms, labels, report)
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():  # check exactly what will be stored: coordinates rounded as in the GeoJSON files
        geoms[present] = shapely.set_precision(np.asarray(geoms[present], dtype=object),
                                               10.0 ** -COORD_PRECISION, mode="pointwise")
    _check_validity(layer, geoms, labels, report, repair)
    geometry_errors = not report.ok
    rows = _match_columns(layer, raw.props, report)
    _coerce_fields(layer, rows, labels, report)
    _check_codes(layer, rows, labels, report)
    _fill_defaults(layer, rows, labels, report)
    if layer in ("grids", "committees", "divisions") and not geometry_errors:  # a dropped feature would leave a gap
        severity = "error" if layer == "grids" else "warning"  # the issue refuses only grids on these
        parent = {"grids": "committees", "committees": "divisions"}.get(layer)
        frame = gpd.GeoDataFrame({"code": [r.get("code") for r in rows],
                                  **({f"{parent[:-1]}_code": [r.get(f"{parent[:-1]}_code") for r in rows]}
                                     if parent else {})},
                                 geometry=list(geoms), crs=STORAGE_CRS)
        check_tiling(frame, layer, labels, report, _context_layer(context, parent) if parent else None, parent,
                     severity=severity)
        if layer == "grids":
            metric_crs = _metric_crs_of(geoms)
            metric = _to_metric(np.array([g if g is not None else shapely.Polygon() for g in geoms], dtype=object),
                                metric_crs)
            for r, g, lab in zip(rows, metric, labels, strict=True):
                area = round(float(g.area), 1)
                given = r.get("area_m2")
                if given and area and abs(given - area) > 0.01 * area:
                    report.warning("area_recomputed", f"area_m2 {given} replaced by {area} computed in {metric_crs}",
                                   feature=lab)
                r["area_m2"] = area
    if layer in ("facilities", "addresses"):
        _assign_grids(rows, geoms, labels, _context_layer(context, "grids"), report)
    if not report.ok:
        return ImportPlan(layer, report)
    columns = [f.name for f in FIELDS[layer]]
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for f in FIELDS[layer]:
        if f.dtype == "int":
            df[f.name] = df[f.name].astype("Int64") if df[f.name].isna().any() else df[f.name].astype("int64")
        elif f.dtype == "float":
            df[f.name] = df[f.name].astype("float64")
    gdf = gpd.GeoDataFrame(df, geometry=list(geoms), crs=STORAGE_CRS)
    return ImportPlan(layer, report, gdf)


def _context_layer(context: Any, name: str) -> gpd.GeoDataFrame | None:
    if context is None:
        return None
    try:
        if name not in context.layer_names():
            return None
        return context.read(name)
    except Exception:  # noqa: BLE001 - a broken store must not hide the import report
        return None


@dataclass
class ImportOutcome:
    """The result of :func:`run_import`: the checked plan and the version it made (None if none)."""

    plan: ImportPlan
    version: Any = None
    dry_run: bool = False

    @property
    def report(self) -> ImportReport:
        """The validation report."""
        return self.plan.report


def run_import(store: Any, layer: str, path: str | Path, *, author: str, crs: str | None = None,
               repair: bool = False, dry_run: bool = False, limits: Limits | None = None,
               filename: str | None = None) -> ImportOutcome:
    """Check a file and, when it passes and this is no dry run, store it as a new data version.

    Nothing is written unless the report has no errors; a refused import leaves the store
    byte-identical.

    Parameters
    ----------
    store : VersionedStore or Store
        Where the layer goes (and what it is checked against). A read-only store only allows
        ``dry_run``.
    layer : str
        Target layer.
    path : str or Path
        The file.
    author : str
        Who imports, for the version's record.
    crs, repair, limits, filename
        As for :func:`prepare`.
    dry_run : bool
        Check only.

    Returns
    -------
    ImportOutcome
        The report, and the new :class:`app.geo.versions.VersionInfo` when one was made.

    Raises
    ------
    app.geo.versions.StoreError
        If the store is read-only, or another import changed it meanwhile.
    """
    from app.geo.versions import StoreError, VersionedStore

    writable = isinstance(store, VersionedStore)
    if not dry_run and not writable:
        raise StoreError("the data folder is served read-only (plain GeoJSON, no versions); "
                         "set GRIDMAP_STORE_DIR to a versioned store to import")
    base = store.version() if writable and store.exists() else None
    plan = prepare(path, layer, crs=crs, repair=repair, limits=limits, context=store, filename=filename)
    if dry_run or not plan.report.ok:
        return ImportOutcome(plan, None, dry_run)
    name = filename or Path(path).name
    info = store.commit({layer: plan.gdf}, author=author, message=f"import {layer} from {_safe_text(name, 120)}",
                        expect=base)
    return ImportOutcome(plan, info, False)
