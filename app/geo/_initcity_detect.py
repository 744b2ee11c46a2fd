"""init-city's detection: the source's files (folder or zip), the mapping file, and each file's layer by name or content."""

from __future__ import annotations

import json
import re
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from app.errors import GridmapError
from app.geo import fieldnames
from app.geo._import_archive import _extract, check_archive
from app.geo._import_base import _safe_text, _Stop
from app.geo.findings import Report
from app.geo.schema import LAYERS

if TYPE_CHECKING:
    from app.geo.importer import Limits


class InitCityError(GridmapError):
    """init-city cannot start: a bad mapping file, ``--field`` option or source, or a store folder in the way."""

    default_key = "init_city"


#: Words in a file (or GeoPackage layer) name that say its layer, tried in this order (the first hit wins).
NAME_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grids", ("网格", "grid")),
    ("facilities", ("设施", "facility", "facilities", "poi", "公交", "公园", "停车", "bus", "park")),
    ("addresses", ("地址", "门牌", "address")),
    ("roads", ("道路", "路网", "road", "street")),
    ("committees", ("社区", "村", "居委", "committee", "community")),
    ("divisions", ("街道", "镇", "乡", "区县", "县区", "行政区", "division", "subdistrict", "district", "county",
                   "town")),
)
#: Extensions of the files read as geodata (a Shapefile's parts are grouped by their stem).
GEO_EXTENSIONS: tuple[str, ...] = (".geojson", ".json", ".gpkg", ".zip", ".csv", ".tsv", ".xlsx", ".xlsm")
#: The parts of a Shapefile, grouped by stem and zipped for the importer.
SHAPE_PARTS: tuple[str, ...] = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd")
@dataclass
class SourceFile:
    """One file (or GeoPackage layer) of the source, as init-city reads it."""

    #: The name shown in the plan: the path inside the source, ``x.gpkg:layer`` for a GeoPackage layer.
    name: str
    #: The file to read (a temporary zip for loose Shapefile parts).
    path: Path
    #: The GeoPackage layer, or None.
    source_layer: str | None = None
    #: The file name the importer sees (its extension decides the format).
    filename: str = ""


@dataclass
class Source:
    """What a source folder or zip holds: the geodata files, the files ignored, and its metadata.json."""

    files: list[SourceFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The name of the source (the folder or zip, without extension): the city's name when nothing else gives it.
    stem: str = ""


@dataclass(frozen=True)
class CityMapping:
    """A mapping file (TOML or JSON): the city's profile, forced layers of files, field overrides.

    Attributes
    ----------
    city : dict
        ``[city]``: name, name_en, province, districts, code_scheme, metric_crs.
    files : dict
        ``[files."<name>"]``: per file (its name, path inside the source, or stem) ``layer`` and ``crs``.
    fields : dict
        ``[fields.<layer>]``: target field -> source column.
    generate_codes : bool
        Number grids ``<committee>-G001`` … when the grid file has no code column.
    path : str
        The mapping file, for messages.
    """

    city: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    generate_codes: bool = False
    path: str = ""

    def file_options(self, name: str) -> dict[str, Any]:
        """Return the ``[files."…"]`` table that names the file ``name`` (by full name, base name or stem)."""
        base = PurePosixPath(name.split(":", 1)[0]).name
        layer_part = name.split(":", 1)[1] if ":" in name else None
        for key in (name, base, PurePosixPath(base).stem, layer_part):
            if key and key in self.files:
                return self.files[key]
        lowered = {k.casefold(): v for k, v in self.files.items()}
        lowered_stems = {PurePosixPath(k).stem.casefold(): v for k, v in self.files.items()}
        for key in (name, base, PurePosixPath(base).stem, layer_part):
            if key and key.casefold() in lowered:
                return lowered[key.casefold()]
        for key in (PurePosixPath(base).stem, layer_part):
            if key and key.casefold() in lowered_stems:
                return lowered_stems[key.casefold()]
        return {}


def targets(layer: str) -> set[str]:
    """The fields a mapping may name for ``layer``: its schema fields and grouping fields (:func:`fieldnames.targets`)."""
    return set(fieldnames.targets(layer))


def load_mapping(path: str | Path | None) -> CityMapping:
    """Read a mapping file (``.toml``, or ``.json``), checking its layers and fields.

    Parameters
    ----------
    path : str or Path, optional
        The file; None gives an empty mapping.

    Returns
    -------
    CityMapping
        The mapping.

    Raises
    ------
    InitCityError
        If the file cannot be read or names an unknown layer, field or table.
    """
    if path is None:
        return CityMapping()
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InitCityError(f"mapping file {p}: cannot be read ({_safe_text(exc)}) / 映射文件无法读取") from None
    try:
        raw = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
        raise InitCityError(f"mapping file {p}: not valid {kind} ({_safe_text(exc)}) / 映射文件格式错误") from None
    return mapping_from_dict(raw, str(p))


def mapping_from_dict(raw: Any, where: str = "mapping") -> CityMapping:
    """Check and build a :class:`CityMapping` from the parsed content of a mapping file.

    Raises
    ------
    InitCityError
        For an unknown table, layer or field.
    """
    if not isinstance(raw, dict):
        raise InitCityError(f"mapping file {where}: expected tables [city], [files.\"…\"], [fields.<layer>]")
    known = {"city", "files", "fields", "generate_codes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InitCityError(f"mapping file {where}: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))} / 映射文件含未知项")
    city = raw.get("city", {})
    files = raw.get("files", {})
    fields_ = raw.get("fields", {})
    for key, value in (("city", city), ("files", files), ("fields", fields_)):
        if not isinstance(value, dict):
            raise InitCityError(f"mapping file {where}: [{key}] must be a table")
    for fname, opts in files.items():
        if not isinstance(opts, dict):
            raise InitCityError(f"mapping file {where}: [files.\"{fname}\"] must be a table")
        bad = sorted(set(opts) - {"layer", "crs", "ignore"})
        if bad:
            raise InitCityError(f"mapping file {where}: [files.\"{fname}\"] has unknown key(s) {', '.join(bad)}; "
                                "known: layer, crs, ignore")
        if "layer" in opts and opts["layer"] not in LAYERS:
            raise InitCityError(f"mapping file {where}: [files.\"{fname}\"] layer {opts['layer']!r} is not one of "
                                f"{', '.join(LAYERS)} / 未知图层")
    clean_fields: dict[str, dict[str, str]] = {}
    for layer, table in fields_.items():
        if layer not in LAYERS:
            raise InitCityError(f"mapping file {where}: [fields.{layer}] names no layer; layers are "
                                f"{', '.join(LAYERS)} / 未知图层")
        if not isinstance(table, dict):
            raise InitCityError(f"mapping file {where}: [fields.{layer}] must be a table of target = \"column\"")
        allowed = targets(layer)
        for target, src in table.items():
            if target not in allowed:
                raise InitCityError(f"mapping file {where}: [fields.{layer}] {target} is not a field of {layer}; "
                                    f"fields: {', '.join(sorted(allowed))} / 字段 field {target} 未知")
            if not isinstance(src, str) or not src:
                raise InitCityError(f"mapping file {where}: [fields.{layer}] {target} must name a column")
        clean_fields[layer] = dict(table)
    gen = raw.get("generate_codes", city.pop("generate_codes", False) if isinstance(city, dict) else False)
    if not isinstance(gen, bool):
        raise InitCityError(f"mapping file {where}: generate_codes must be true or false")
    bad_city = sorted(set(city) - {"name", "name_en", "province", "districts", "code_scheme", "metric_crs"})
    if bad_city:
        raise InitCityError(f"mapping file {where}: [city] has unknown key(s) {', '.join(bad_city)}")
    return CityMapping(dict(city), {str(k): dict(v) for k, v in files.items()}, clean_fields, gen, where)


def parse_field_options(options: Iterable[str]) -> dict[str, dict[str, str]]:
    """Parse ``--field TARGET=SOURCE`` options into layer -> target -> source.

    ``layer.target=SOURCE`` applies to one layer, ``target=SOURCE`` to every layer that has the field
    (key ``"*"``).

    Raises
    ------
    InitCityError
        For an option without ``=``, or a target no layer has.
    """
    out: dict[str, dict[str, str]] = {}
    every = set().union(*(targets(n) for n in LAYERS))
    for opt in options:
        target, sep, src = str(opt).partition("=")
        target, src = target.strip(), src.strip()
        if not sep or not target or not src:
            raise InitCityError(f"--field {opt!r}: expected TARGET=SOURCE, e.g. code=网格号 or grids.code=网格号")
        layer, dot, name = target.partition(".")
        if dot:
            if layer not in LAYERS:
                raise InitCityError(f"--field {opt!r}: {layer} is not a layer ({', '.join(LAYERS)})")
            if name not in targets(layer):
                raise InitCityError(f"--field {opt!r}: {name} is not a field of {layer} / 字段 field {name} 未知")
            out.setdefault(layer, {})[name] = src
        else:
            if target not in every:
                raise InitCityError(f"--field {opt!r}: {target} is no layer's field / 字段 field {target} 未知")
            out.setdefault("*", {})[target] = src
    return out


#: Words in a table's file name that say it holds aliases of the addresses' roads and compounds (别名.csv, 地址别名.xlsx).
ALIAS_WORDS: tuple[str, ...] = ("别名", "曾用名", "alias")
#: Extensions an alias file may have.
ALIAS_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")


def is_alias_file(name: str) -> bool:
    """Whether a file's name says it is an alias file of the addresses (``地址别名.xlsx``, ``aliases.csv``).

    Parameters
    ----------
    name : str
        A file name or a path inside the source.

    Returns
    -------
    bool
        True for a table (CSV/XLSX) whose name holds one of :data:`ALIAS_WORDS`.
    """
    stem = PurePosixPath(name.replace("\\", "/")).name.casefold()
    ext = next((e for e in ALIAS_EXTENSIONS if stem.endswith(e)), None)
    return ext is not None and any(w in stem[: -len(ext)] for w in ALIAS_WORDS)


def layer_from_name(name: str) -> str | None:
    """The layer a file or layer name says (``网格.zip`` -> grids), or None.

    Parameters
    ----------
    name : str
        A file name, a path inside the source, or a GeoPackage layer's name.

    Returns
    -------
    str or None
        The first layer of :data:`NAME_WORDS` one of whose words the name's stem holds.
    """
    stem = PurePosixPath(name.replace("\\", "/")).name
    for ext in (*GEO_EXTENSIONS, ".shp"):
        if stem.casefold().endswith(ext):
            stem = stem[: -len(ext)]
            break
    key = stem.casefold()
    for layer, words in NAME_WORDS:
        if any(w in key for w in words):
            return layer
    return None


def geometry_family(geoms: Iterable[Any]) -> str | None:
    """``polygon``, ``point`` or ``line`` for the geometries' (most common) type, or None without any."""
    counts = {"polygon": 0, "point": 0, "line": 0}
    for g in geoms:
        if g is None:
            continue
        t = g.geom_type
        if "Polygon" in t:
            counts["polygon"] += 1
        elif "Point" in t:
            counts["point"] += 1
        elif "LineString" in t:
            counts["line"] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def layer_from_content(family: str | None, matched: Mapping[str, Mapping[str, str]]) -> str | None:
    """Guess a layer from the geometry family and the fields its columns matched.

    Parameters
    ----------
    family : str or None
        :func:`geometry_family` of the file.
    matched : mapping
        Per candidate layer, the target fields the columns matched (target -> source column).

    Returns
    -------
    str or None
        Lines are roads; points with a category column facilities, with an address column
        addresses (with a category and no residents column: facilities); polygons with a grid-code
        column or committee/division grouping columns grids. None when undecided (polygons without
        such columns are decided by size, see :func:`assign_layers`).
    """
    if family == "line":
        return "roads"
    if family == "point":
        fac, adr = matched.get("facilities", {}), matched.get("addresses", {})
        if "address" in adr and ({"residents", "households"} & set(adr) or "category" not in fac):
            return "addresses"
        if "category" in fac:
            return "facilities"
        return None
    if family == "polygon":
        grid = matched.get("grids", {})
        if {"committee_name", "division_name", "committee_code", "leader_name", "worker_name"} & set(grid):
            return "grids"
        source = grid.get("code", "")
        if re.search(r"网格|grid", source, re.IGNORECASE):
            return "grids"
    return None


def _is_hidden(rel: PurePosixPath) -> bool:
    return any(p.startswith((".", "~$", "__MACOSX")) for p in rel.parts)


def _looks_like_geojson(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return head.lstrip()[:1] == b"{" and b"Feature" in head


def _gpkg_layers(path: Path) -> list[str]:
    try:
        with open(path, "rb") as fh:
            if not fh.read(16).startswith(b"SQLite format 3\x00"):
                return []
        import pyogrio

        return [str(n) for n, gtype in pyogrio.list_layers(path) if gtype is not None]
    except Exception:  # noqa: BLE001 - the reader reports an unreadable file itself
        return []


def _unpack(zip_path: Path, dest: Path, limits: Limits, report: Report) -> None:
    """Unpack the source zip flat into ``dest`` with the importer's checks (a zip inside is allowed here)."""
    scratch = Report(source=report.source)
    check_archive(zip_path, scratch, limits)
    errors = [f for f in scratch.errors if f.problem != "nested_archive"]
    if errors:
        report.loose.extend(errors)
        raise _Stop
    with zipfile.ZipFile(zip_path) as zf:
        members = [i for i in zf.infolist() if not i.is_dir() and "__MACOSX" not in i.filename
                   and not PurePosixPath(i.filename.replace("\\", "/")).name.startswith("._")]
    dest.mkdir(parents=True, exist_ok=True)
    _extract(zip_path, members, dest, limits, report)


def collect(source: Path, work: Path, limits: Limits, report: Report) -> Source:
    """List the geodata files of a source folder, zip or single file.

    A zip is unpacked safely into ``work`` first. Shapefile parts lying loose are grouped by stem
    and zipped; a GeoPackage gives one entry per layer; files that are not geodata (README.txt,
    .docx, .pdf, images, mapping files) are listed as ignored; ``metadata.json`` is read.

    Parameters
    ----------
    source : Path
        The folder, .zip or file.
    work : Path
        An empty temporary folder.
    limits : Limits
        The importer's size limits.
    report : Report
        Where problems with the source go.

    Returns
    -------
    Source
        The files found.

    Raises
    ------
    _Stop
        When the source cannot be read (the reason is in ``report``).
    """
    out = Source(stem=source.stem if source.is_file() else source.name)
    if not source.exists():
        report.error("unreadable", f"{_safe_text(source)} does not exist / 来源不存在")
        raise _Stop
    if source.is_file() and source.suffix.lower() == ".zip" and _zip_of_many(source):
        root = work / "source"
        _unpack(source, root, limits, report)
    elif source.is_file():
        root = source.parent
        paths = [source]
        return _entries(root, paths, work, out)
    else:
        root = source
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not _is_hidden(PurePosixPath(p.relative_to(root).as_posix())))
    return _entries(root, paths, work, out)


def _zip_of_many(path: Path) -> bool:
    """True for a source zip holding an office's files; False for the zip of one Shapefile (read as one file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [PurePosixPath(n.replace("\\", "/")).name for n in zf.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError):
        return False
    names = [n for n in names if not n.startswith("._")]
    stems = {PurePosixPath(n).stem.casefold() for n in names if PurePosixPath(n).suffix.lower() in SHAPE_PARTS}
    others = [n for n in names if PurePosixPath(n).suffix.lower() not in SHAPE_PARTS]
    return not (len(stems) == 1 and not others)


def _entries(root: Path, paths: list[Path], work: Path, out: Source) -> Source:
    shapes: dict[tuple[str, str], list[Path]] = {}
    for p in paths:
        rel = p.relative_to(root).as_posix()
        ext = p.suffix.lower()
        if p.name.lower().endswith(".shp.xml"):
            ext = ".qmd"
        if ext in SHAPE_PARTS:
            shapes.setdefault((p.parent.relative_to(root).as_posix(), p.stem.casefold()), []).append(p)
            continue
        if p.name.lower() == "metadata.json":
            try:
                meta = json.loads(p.read_bytes().decode("utf-8-sig"))
                out.metadata = meta if isinstance(meta, dict) else {}
            except (OSError, ValueError):
                out.ignored.append(rel)
            continue
        if ext not in GEO_EXTENSIONS or (ext == ".json" and not _looks_like_geojson(p)):
            out.ignored.append(rel)
            continue
        if ext == ".gpkg":
            layers = _gpkg_layers(p)
            if len(layers) > 1:
                out.files += [SourceFile(f"{rel}:{n}", p, n, p.name) for n in layers]
                continue
        out.files.append(SourceFile(rel, p, None, p.name))
    for _key, parts in sorted(shapes.items()):
        shp = next((p for p in parts if p.suffix.lower() == ".shp"), None)
        if shp is None:
            out.ignored += [p.relative_to(root).as_posix() for p in parts]
            continue
        rel = shp.relative_to(root).as_posix()
        target = work / "shp" / f"{len(out.files):03d}" / f"{shp.stem}.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in parts:
                zf.write(p, p.name)
        out.files.append(SourceFile(rel, target, None, target.name))
    out.files.sort(key=lambda f: f.name)
    return out
