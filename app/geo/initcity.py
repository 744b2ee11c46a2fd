"""A real city in one step: detect the layers of a grid office's files, derive what is missing, check all, build a store."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from app.geo import audit, fieldnames, importer
from app.geo._import_aliases import AliasEntry, read_alias_file
from app.geo._import_base import _safe_text, _Stop
from app.geo._initcity_build import address_sums, dissolve, sum_up
from app.geo._initcity_detect import (
    CityMapping,
    InitCityError,
    SourceFile,
    collect,
    geometry_family,
    is_alias_file,
    layer_from_content,
    load_mapping,
    parse_field_options,
)
from app.geo._initcity_layers import (
    address_normalizer,
    columns_of,
    file_layer_by_name,
    hierarchy_frames,
    match,
    overrides_for,
    prepare_addresses,
    prepare_facilities,
    prepare_grids,
    raw_from_frame,
)
from app.geo.city import City, pinyin_name
from app.geo.findings import LIST_LIMIT, Report, layer_title
from app.geo.memory_store import MemoryStore
from app.geo.schema import LAYERS, metric_crs_for
from app.geo.store import VersionInfo, open_store

__all__ = ["CityMapping", "CityPlan", "FileEntry", "InitCityError", "InitCityRefused", "build_city", "load_mapping",
           "plan_city"]

#: The order layers are checked in when committees and divisions come as files.
_GIVEN_ORDER: tuple[str, ...] = ("divisions", "committees", "grids", "facilities", "addresses", "roads")
_HOW = {"name": "按名称 by name", "content": "按内容 by content", "mapping": "按映射文件 by mapping file",
        "derived": "由网格汇总 derived from the grids", "size": "按内容 by content (largest polygon layer)",
        "aliases": "按名称为别名文件 alias file by name"}
#: The plan's own words: ``en`` in both languages (as `gridmap init-city` prints them), ``zh`` in Chinese only.
_TEXT: dict[str, dict[str, str]] = {
    "en": {"source": "init-city 来源 source: {s}", "detected": "检测到 detected:", "file": "  {name} → {layer} ({bits})",
           "layer": "{title} {layer}", "unknown": "? 未识别 not recognised", "encoding": "编码 encoding {e}",
           "crs": "坐标系 CRS {c}", "features": "{n} 个要素 features", "fields": "      字段 fields: ",
           "extras": "      保留的其他字段 extras kept: ", "ignored": "  忽略（非地理数据）ignored (not geodata): ",
           "city": "城市 city: {name}", "name_en": " ({name})", "province": ", 省 province {p}",
           "scheme": ", 编码规则 code scheme {s}, 度量坐标系 metric CRS {m}", "counts": "数量 counts: ",
           "count": "{title} {layer} {n}", "problems": "问题 problems: {e} 个错误 errors, {w} 个警告 warnings",
           "more": "  … {p}: 更多见 --json more in --json", "ok": "检查通过 OK: 可以建立 ready to build",
           "refused": "已拒绝 REFUSED: {e} 个错误 errors; 未写入任何内容 nothing was written", "and": ", "},
    "zh": {"source": "init-city 来源：{s}", "detected": "检测到：", "file": "  {name} → {layer}（{bits}）",
           "layer": "{title}", "unknown": "?（未识别）", "encoding": "编码 {e}", "crs": "坐标系 {c}",
           "features": "{n} 个要素", "fields": "      字段：", "extras": "      保留的其他字段：",
           "ignored": "  忽略（非地理数据）：", "city": "城市：{name}", "name_en": "（{name}）", "province": "，省 {p}",
           "scheme": "，编码规则 {s}，度量坐标系 {m}", "counts": "数量：", "count": "{title} {n}",
           "problems": "问题：{e} 个错误，{w} 个警告", "more": "  …… {title}：更多见 --json", "ok": "检查通过：可以建立",
           "refused": "已拒绝：{e} 个错误；未写入任何内容", "and": "，"},
}


class InitCityRefused(InitCityError):
    """The plan has errors: nothing is written. Carries the plan."""

    default_key = "init_city.refused"

    def __init__(self, plan: CityPlan) -> None:
        n = sum(len(r.errors) for r in plan.reports)
        super().__init__(f"init-city refused: {n} errors; nothing was written / 已拒绝：{n} 个错误，未写入任何内容")
        self.plan = plan


@dataclass
class FileEntry:
    """One file (or GeoPackage layer, or derived layer) of the plan: what it was read as and what was found."""

    name: str
    layer: str | None = None
    detected_by: str = ""
    format: str = ""
    encoding: str = ""
    crs: str = ""
    features: int = 0
    #: Target field -> source column.
    fields: dict[str, str] = field(default_factory=dict)
    #: Columns kept as extra attributes.
    extras: list[str] = field(default_factory=list)
    report: Report | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        return {"name": self.name, "layer": self.layer, "detected_by": self.detected_by, "format": self.format,
                "encoding": self.encoding, "crs": self.crs, "features": self.features, "fields": self.fields,
                "extras": self.extras, "report": self.report.to_dict() if self.report is not None else None}


@dataclass
class CityPlan:
    """What :func:`plan_city` found and checked; :func:`build_city` stores it.

    Attributes
    ----------
    source : str
        The folder or zip.
    report : Report
        Findings about the source as a whole (files not recognised, two files for a layer …).
    files : list of FileEntry
        Per file and derived layer: its layer, how it was recognised, format, encoding, CRS,
        fields and its own report.
    ignored : list of str
        Files that are not geodata.
    city : City
        The city profile stored in metadata.json.
    layers : dict
        The checked layers (EPSG:4326) when every check passed.
    metadata : dict
        The ``metadata.json`` of the store's first version.
    """

    source: str
    report: Report
    files: list[FileEntry] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    city: City = field(default_factory=City)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def reports(self) -> list[Report]:
        """The source's report and every file's, in order."""
        return [self.report, *(f.report for f in self.files if f.report is not None)]

    @property
    def ok(self) -> bool:
        """True when nothing refuses the city and its grids were built."""
        return all(r.ok for r in self.reports) and "grids" in self.layers

    @property
    def counts(self) -> dict[str, int]:
        """Features per built layer."""
        return {n: len(self.layers[n]) for n in LAYERS if n in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data (what ``--dry-run --json`` would print)."""
        return {"source": self.source, "ok": self.ok, "city": self.city.to_metadata(), "counts": self.counts,
                "files": [f.to_dict() for f in self.files], "ignored": self.ignored,
                "errors": sum(len(r.errors) for r in self.reports),
                "warnings": sum(len(r.warnings) for r in self.reports), "report": self.report.to_dict()}

    def format_text(self, limit: int = LIST_LIMIT, lang: str = "en") -> str:
        """Return what was detected (layers, files, fields, CRS, encodings, counts), then the problems: in both
        languages, or in Chinese only for ``lang="zh"`` (``gridmap --lang zh init-city``)."""
        t = _TEXT["zh" if lang == "zh" else "en"]
        how = {k: v.split(" ", 1)[0] for k, v in _HOW.items()} if lang == "zh" else _HOW  # "按名称 by name": 按名称
        lines = [t["source"].format(s=self.source), t["detected"]]
        for f in self.files:
            layer = t["layer"].format(title=layer_title(f.layer), layer=f.layer) if f.layer else t["unknown"]
            bits = [how.get(f.detected_by, f.detected_by)]
            bits += [x for x in (f.format, t["encoding"].format(e=f.encoding) if f.encoding else "",
                                 t["crs"].format(c=f.crs) if f.crs else "") if x]
            bits.append(t["features"].format(n=f.features))
            lines.append(t["file"].format(name=f.name, layer=layer, bits=t["and"].join(bits)))
            if f.fields:
                lines.append(t["fields"] + t["and"].join(f"{to} ← {src}" for to, src in f.fields.items()))
            if f.extras:
                lines.append(t["extras"] + t["and"].join(f.extras))
        if self.ignored:
            lines.append(t["ignored"] + t["and"].join(self.ignored))
        c = self.city
        lines.append(t["city"].format(name=c.name or "?") + (t["name_en"].format(name=c.name_en) if c.name_en else "")
                     + (t["province"].format(p=c.province) if c.province else "")
                     + t["scheme"].format(s=c.code_scheme, m=c.metric_crs or "?"))
        if self.layers:
            lines.append(t["counts"] + t["and"].join(t["count"].format(title=layer_title(n), layer=n, n=k)
                                                     for n, k in self.counts.items()))
        problems = [(r, f) for r in self.reports for f in r.findings]
        n_err = sum(1 for _, f in problems if f.is_error)
        n_warn = len(problems) - n_err
        if problems:
            lines.append(t["problems"].format(e=n_err, w=n_warn))
            shown: dict[tuple[int, str, str], int] = {}
            for r, f in sorted(problems, key=lambda rf: not rf[1].is_error):
                key = (id(r), f.severity, f.problem)
                shown[key] = shown.get(key, 0) + 1
                if shown[key] <= limit:
                    lines.append("  " + f.format(r.source, lang))
                elif shown[key] == limit + 1:
                    lines.append(t["more"].format(p=f.problem, title=f.title("zh")))
        lines.append(t["ok"] if self.ok else t["refused"].format(e=n_err))
        return "\n".join(lines)


def _noop(_msg: str) -> None:
    pass


def plan_city(source: str | Path, *, name: str | None = None, table_crs: str | None = None,
              mapping: str | Path | CityMapping | None = None,
              fields: Sequence[str] | Mapping[str, Mapping[str, str]] | None = None, repair: bool = False,
              limits: importer.Limits | None = None, progress: Callable[[str], None] | None = None) -> CityPlan:
    """Detect, read and check a grid office's files as one city; nothing is written.

    Parameters
    ----------
    source : str or Path
        A folder, a .zip of the office's files (a zipped Shapefile inside is fine), or one file.
    name : str, optional
        The city's name (e.g. ``河湾市``); else the mapping file's ``[city] name``, the source's
        metadata.json ``name``, or the folder's name.
    table_crs : str, optional
        CRS of coordinate columns in CSV/XLSX tables (``gcj02``, ``bd09``, ``4326``, ``4490`` …)
        when their headers do not say it.
    mapping : str, Path or CityMapping, optional
        A mapping file (TOML or JSON, see :func:`load_mapping`).
    fields : sequence of str or mapping, optional
        ``--field`` options, ``TARGET=SOURCE`` or ``layer.TARGET=SOURCE``.
    repair : bool
        Repair invalid geometries and small slivers instead of refusing them.
    limits : importer.Limits, optional
        Size limits for each file.
    progress : callable, optional
        Called with a line of progress text ("reading 网格.zip", "checking grids" …).

    Returns
    -------
    CityPlan
        What was found; :attr:`CityPlan.ok` says whether :func:`build_city` may store it.

    Raises
    ------
    InitCityError
        For a bad mapping file or ``--field`` option.
    """
    say = progress or _noop
    src = Path(source)
    cmap = mapping if isinstance(mapping, CityMapping) else load_mapping(mapping)
    options = dict(fields) if isinstance(fields, Mapping) else parse_field_options(fields or ())
    limits = limits or importer.Limits()
    plan = CityPlan(source=str(src), report=Report(source=src.name or str(src), layer="city"))
    with tempfile.TemporaryDirectory(prefix="gridmap-init-city-") as tmp:
        try:
            found = collect(src, Path(tmp), limits, plan.report)
        except _Stop:
            return plan
        plan.ignored = list(found.ignored)
        raws: dict[str, tuple[FileEntry, Any, SourceFile]] = {}
        pending: list[tuple[FileEntry, Any, SourceFile]] = []
        aliases: list[AliasEntry] = []
        for sf in found.files:
            opts = cmap.file_options(sf.name)
            if opts.get("ignore"):
                plan.ignored.append(sf.name)
                continue
            forced = opts.get("layer")
            if not forced and is_alias_file(sf.name):  # read with the addresses, not a layer of its own
                say(f"reading {sf.name}")
                entry = FileEntry(sf.name, "addresses", "aliases", format="table",
                                  report=Report(source=sf.name, layer="addresses"))
                plan.files.append(entry)
                got = read_alias_file(sf.path, entry.report, limits, filename=sf.filename)  # type: ignore[arg-type]
                entry.features = len(got)
                aliases += got
                continue
            guess = forced or file_layer_by_name(sf.name, sf.source_layer)
            say(f"reading {sf.name}")
            report = Report(source=sf.name, layer=guess or "")
            raw, report = importer.read_source(sf.path, filename=sf.filename, layer=guess, source_layer=sf.source_layer,
                                               limits=limits, work_dir=tmp, report=report)
            entry = FileEntry(sf.name, guess, "mapping" if forced else ("name" if guess else ""), report=report)
            plan.files.append(entry)
            if raw is None:
                continue
            _describe(entry, raw, report)
            if guess is None:
                pending.append((entry, raw, sf))
            else:
                _claim(plan, raws, entry, raw, sf)
        _by_content(plan, raws, pending)
    if plan.report.ok and "grids" not in raws and all(f.report is None or f.report.ok for f in plan.files):
        plan.report.error("missing_layer", "no grid layer found: name a file 网格/grid, or force one in the mapping "
                          "file ([files.\"…\"] layer = \"grids\")")
    meta_name = found.metadata.get("name") if isinstance(found.metadata.get("name"), str) else ""
    city_name = name or str(cmap.city.get("name") or "") or meta_name or _name_of_folder(found.stem)
    plan.city = City(name=city_name, name_en=str(cmap.city.get("name_en") or "") or pinyin_name(city_name),
                     province=str(cmap.city.get("province") or ""),
                     districts=tuple(cmap.city.get("districts") or ()),
                     code_scheme=str(cmap.city.get("code_scheme") or "free"))
    if "grids" in raws:  # detection problems refuse the city, but the files found are still checked
        if aliases and "addresses" not in raws:
            plan.report.warning("alias_file", "an alias file was found but no address layer: its aliases are not used")
        _check_all(plan, raws, cmap, options, table_crs, repair, say, aliases)
    return plan


def _name_of_folder(stem: str) -> str:
    """The city's name in a folder's name: ``河湾市`` in ``河湾市网格办``; the whole name when none is found."""
    m = _CITY_IN_NAME.match(stem)
    return m.group(1) if m else stem


#: A city-level name at the start of a folder's name (…市, …州, …盟, …县, …地区), before an office's words.
_CITY_IN_NAME = re.compile(r"^(?:[\u4e00-\u9fff]{1,6}?省)?([\u4e00-\u9fff]{1,8}?(?:市|自治州|州(?!市)|盟|地区|县(?!市)))(?=.)")


def _describe(entry: FileEntry, raw: Any, report: Report) -> None:
    entry.format = str(getattr(raw, "format", "") or report.format or "")
    entry.encoding = str(getattr(raw, "encoding", "") or "")
    spec = getattr(raw, "crs", None)
    entry.crs = getattr(spec, "label", "") or ""
    entry.features = len(raw.geoms)


def _claim(plan: CityPlan, raws: dict[str, tuple[FileEntry, Any, SourceFile]], entry: FileEntry, raw: Any,
           sf: SourceFile) -> None:
    layer = entry.layer or ""
    if layer in raws:
        first = raws[layer][0].name
        plan.report.error("ambiguous_layer", f"two files for layer {layer}: {first} and {entry.name}; keep one, or "
                          f"say which is which in the mapping file ([files.\"{entry.name}\"] layer = …)",
                          feature=entry.name)
        return
    raws[layer] = (entry, raw, sf)


def _by_content(plan: CityPlan, raws: dict[str, tuple[FileEntry, Any, SourceFile]],
                pending: list[tuple[FileEntry, Any, SourceFile]]) -> None:
    """Recognise the files whose names say nothing by their geometry and columns."""
    polygons: list[tuple[FileEntry, Any, SourceFile]] = []
    for entry, raw, sf in pending:
        family = geometry_family(raw.geoms)
        cols = columns_of(raw)
        matched = {}
        for layer in ("grids", "facilities", "addresses"):
            try:
                cm = fieldnames.match_columns(layer, cols)
            except fieldnames.FieldError:
                continue
            matched[layer] = {t: c for c, t in cm.mapping.items()}
        layer = layer_from_content(family, matched)
        if layer is None and family == "polygon":
            polygons.append((entry, raw, sf))
            continue
        if layer is None:
            plan.report.error("unknown_layer_file", f"cannot tell which layer {entry.name} is "
                              f"({family or 'no'} geometry; columns {_safe_text(', '.join(cols), 200)}): name it "
                              "网格/社区/街道/设施/地址/道路, or set its layer in the mapping file", feature=entry.name)
            continue
        entry.layer, entry.detected_by = layer, "content"
        if entry.report is not None:
            entry.report.layer = layer
        _claim(plan, raws, entry, raw, sf)
    polygons.sort(key=lambda t: -len(t[1].geoms))
    if polygons and "grids" not in raws:
        entry, raw, sf = polygons.pop(0)
        entry.layer, entry.detected_by = "grids", "size"
        if entry.report is not None:
            entry.report.layer = "grids"
        raws["grids"] = (entry, raw, sf)
    for entry, _raw, _sf in polygons:
        plan.report.error("unknown_layer_file", f"cannot tell which layer the polygons of {entry.name} are: name it "
                          "网格/社区/街道, or set its layer in the mapping file", feature=entry.name)


def _check_all(plan: CityPlan, raws: dict[str, tuple[FileEntry, Any, SourceFile]], cmap: CityMapping,
               options: Mapping[str, Mapping[str, str]], table_crs: str | None, repair: bool,
               say: Callable[[str], None], aliases: list[AliasEntry] | None = None) -> None:
    """Prepare and check every layer in order, each against the layers built before it."""
    built: dict[str, gpd.GeoDataFrame] = {}
    city = plan.city

    def context() -> MemoryStore:
        return MemoryStore(dict(built), {"city": city.to_metadata()})

    def check(layer: str, entry: FileEntry, raw: Any, sf: SourceFile | None, fields: dict[str, str]) -> bool:
        say(f"checking {layer} ({entry.name.strip('()')})")
        assert entry.report is not None
        crs = None
        if sf is not None:
            crs = cmap.file_options(sf.name).get("crs")
            if crs is None and entry.format in ("table", "csv", "xlsx") and table_crs:
                crs = table_crs
        out = importer.check_layer(raw, layer, entry.report, crs=crs, repair=repair, context=context(),
                                   fields=fields or None, city=city,
                                   aliases=aliases if layer == "addresses" else None)
        entry.crs = entry.report.crs or entry.crs
        if out.gdf is None or not entry.report.ok:
            return False
        built[layer] = out.gdf
        return True

    def fields_for(layer: str, entry: FileEntry, raw: Any) -> tuple[dict[str, str], fieldnames.ColumnMatch]:
        assert entry.report is not None
        cols = columns_of(raw)
        over = overrides_for(layer, cols, cmap, options, entry.report)
        cm = match(layer, cols, over)
        entry.fields = {t: c for c, t in cm.mapping.items()}
        entry.extras = list(cm.extras)
        return dict(over), cm

    for layer in ("divisions", "committees"):
        if layer in raws:
            entry, raw, sf = raws[layer]
            over, _cm = fields_for(layer, entry, raw)
            if not entry.report.ok or not check(layer, entry, raw, sf, over):  # type: ignore[union-attr]
                return
    entry, raw, sf = raws["grids"]
    over, cm = fields_for("grids", entry, raw)
    if not entry.report.ok:  # type: ignore[union-attr]
        return
    hier = prepare_grids(raw, entry.report, cm, over, cmap, city.name, built.get("committees"), built.get("divisions"))
    if not entry.report.ok:  # type: ignore[union-attr]
        return
    if hier is not None and not cmap.city.get("code_scheme"):
        city = plan.city = _with(city, code_scheme=hier.scheme)
    if not check("grids", entry, raw, sf, over):
        return
    grids = built["grids"]
    bounds = tuple(shapely.total_bounds(grids.geometry.values))
    city = plan.city = _with(city, metric_crs=str(cmap.city.get("metric_crs") or metric_crs_for(bounds)))
    if hier is not None:
        say("deriving committees and divisions from the grids")
        if "committees" not in raws:  # the committees are made of these grids: nothing to check them against
            entry.report.loose = [f for f in entry.report.loose if f.problem != "no_parents"]  # type: ignore[union-attr]
        div_rows, com_rows = hierarchy_frames(hier)
        for layer, rows, key in (("divisions", div_rows, "division_code"), ("committees", com_rows, "committee_code")):
            if layer in raws:
                continue
            derived = FileEntry(f"({entry.name})", layer, "derived", format="derived",
                                report=Report(source=f"{layer} ← {entry.name}", layer=layer))
            plan.files.append(derived)
            frame = dissolve(grids, key, rows)
            derived.features = len(frame)
            derived.report.warning("derived_layer", f"{len(frame)} {layer} made by joining the grids of each "  # type: ignore[union-attr]
                                   f"{layer[:-1]}" + (f"; codes generated ({frame['code'].iloc[0]} …)"
                                                     if layer in hier.generated else ""))
            if not check(layer, derived, raw_from_frame(type(raw), frame), None, {}):
                return
    for layer in ("facilities", "addresses", "roads"):
        if layer not in raws:
            continue
        entry, raw, sf = raws[layer]
        over, cm = fields_for(layer, entry, raw)
        if layer == "facilities":
            prepare_facilities(raw, entry.report, cm, over, entry.name)
        elif layer == "addresses":
            areas = [str(n) for n in built["divisions"]["name"]] if "divisions" in built else []
            coms = [str(n) for n in built["committees"]["name"]] if "committees" in built else []
            prepare_addresses(raw, entry.report, cm, over, address_normalizer(city, areas, coms))
        if not entry.report.ok:  # type: ignore[union-attr]
            return
        entry.features = len(raw.geoms)
        if not check(layer, entry, raw, sf, over):
            return
        if layer == "addresses" and cm.column_of("residents") is not None:
            pairs = [("population", "residents")] + ([("households", "households")]
                                                     if cm.column_of("households") is not None else [])
            built["grids"] = address_sums(built["addresses"], built["grids"], pairs)
    _finish(plan, built)


def _with(city: City, **changes: Any) -> City:
    from dataclasses import replace

    return replace(city, **changes)


def _finish(plan: CityPlan, built: dict[str, gpd.GeoDataFrame]) -> None:
    """Sum populations and households up the hierarchy, and write the metadata."""
    if "committees" in built and "grids" in built:
        built["committees"] = sum_up(built["grids"], "committee_code", built["committees"])
    if "divisions" in built and "committees" in built:
        built["divisions"] = sum_up(built["committees"], "division_code", built["divisions"])
    plan.layers = {n: built[n] for n in LAYERS if n in built}
    plan.metadata = {"name": plan.city.name, "city": plan.city.to_metadata(), "crs": "EPSG:4326",
                     "metric_crs": plan.city.metric_crs, "generator": "init-city", "source": Path(plan.source).name,
                     "counts": plan.counts}


def build_city(plan: CityPlan, store_dir: str | Path, *, author: str, audit_db: str | Path | None = None
               ) -> VersionInfo:
    """Store a checked plan as the first version of a new versioned store.

    Parameters
    ----------
    plan : CityPlan
        From :func:`plan_city`.
    store_dir : str or Path
        A folder that does not exist yet or is empty.
    author : str
        Who builds it, for the version and the audit log.
    audit_db : str or Path, optional
        The accounts and audit database to record the change in (as ``import``, with ``init_city``).

    Returns
    -------
    app.geo.store.VersionInfo
        The store's first version.

    Raises
    ------
    InitCityRefused
        If the plan has errors.
    InitCityError
        If ``store_dir`` exists and is not an empty folder.
    """
    if not plan.ok:
        raise InitCityRefused(plan)
    if "://" in str(store_dir):  # a database URL (PostGIS): it must hold no version yet
        store = open_store(str(store_dir))
        if store.exists():
            raise InitCityError(f"{store.location} already holds data: init-city builds a new store; choose an "
                                f"empty database / 数据库 {store.location} 中已有数据", status=409, key="init_city.exists")
        info = store.commit(dict(plan.layers), author=author, message=f"init-city from {Path(plan.source).name}",
                            source="init-city", base=None,
                            extra_files={"metadata.json": json.dumps(plan.metadata, ensure_ascii=False,
                                                                     indent=1).encode("utf-8")})
        _record(plan, info, author, audit_db)
        return info
    target = Path(store_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InitCityError(f"{target} already exists and is not empty: init-city builds a new store; choose a new "
                            f"folder / 目录 {target} 已存在且不为空", status=409, key="init_city.exists")
    created = not target.exists()
    meta = json.dumps(plan.metadata, ensure_ascii=False, indent=1).encode("utf-8")
    try:
        store = open_store(target)
        info = store.commit(dict(plan.layers), author=author, message=f"init-city from {Path(plan.source).name}",
                            source="init-city", extra_files={"metadata.json": meta}, base=None)
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    _record(plan, info, author, audit_db)
    return info


def _record(plan: CityPlan, info: VersionInfo, author: str, audit_db: str | Path | None) -> None:
    """Write the audit record of a city built (as ``import``, with ``init_city``)."""
    if audit_db is not None:
        audit.record(audit_db, author, "import", target=",".join(plan.layers),
                     detail={"init_city": True, "file": Path(plan.source).name, "version": info.id,
                             "summary": info.summary, "warnings": sum(len(r.warnings) for r in plan.reports)},
                     change=info.id)
