"""Import a layer from GeoJSON, GeoPackage, zipped Shapefile, CSV or XLSX: read safely, check, then store."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.errors import GridmapError
from app.geo._import_addresses import check_places, compose_addresses, merge_units
from app.geo._import_aliases import AliasEntry, read_alias_file, read_alias_sheet
from app.geo._import_archive import check_archive
from app.geo._import_base import RawLayer, _gc_paused, _safe_text, _Stop
from app.geo._import_checks import (
    ALIASES,
    MIN_AREA_M2,
    _assign_grids,
    _check_areas,
    _check_codes,
    _check_text,
    _check_types,
    _check_validity,
    _coerce_fields,
    _context_layer,
    _fill_defaults,
    _map_categories,
    _match_columns,
    check_tiling,
)
from app.geo._import_crs import _choose_crs, _reproject, to_wgs84_quiet
from app.geo._import_readers import FORMATS, _read_any, detect_format
from app.geo._import_tiling import prepare_areas
from app.geo.city import City
from app.geo.findings import Finding, Report
from app.geo.schema import CODE_SCHEMES, COORD_PRECISION, FIELDS, LAYERS, STORAGE_CRS
from app.geo.store import ReadOnlyStore, ReadStore, Store, VersionInfo
from app.geo.tabular import TableLimits
from app.settings import Config

__all__ = [
    "ALIASES",
    "FORMATS",
    "IMPORTABLE",
    "MIN_AREA_M2",
    "Finding",
    "ImportOutcome",
    "ImportPlan",
    "ImportRefused",
    "Limits",
    "RawLayer",
    "Report",
    "check_archive",
    "check_layer",
    "check_tiling",
    "detect_format",
    "prepare",
    "read_source",
    "run_import",
]

#: Layers that can be imported (roads come with the demo only for now, but are accepted too).
IMPORTABLE: tuple[str, ...] = LAYERS

_MIB = 1024 * 1024
#: The csv module's default field size limit: the longest table cell an import reads.
_CSV_FIELD_LIMIT = 131072
_DEFAULTS = Config()
#: Optional fields left out of a layer when no row has a value (so a file without them stores what it did before).
_OMIT_EMPTY = frozenset({"aliases"})


@dataclass(frozen=True)
class Limits:
    """Size limits applied before and while a file is read (defaults: :class:`~app.settings.Config`)."""

    #: Largest file (or uploaded archive), in bytes.
    max_file_bytes: int = _DEFAULTS.IMPORT_MAX_MB * _MIB
    #: Largest total size of an archive's members once unpacked.
    max_unpacked_bytes: int = _DEFAULTS.IMPORT_MAX_UNPACKED_MB * _MIB
    #: Most members an archive may hold.
    max_members: int = 64
    #: Highest compression ratio of a member larger than 1 MiB (zip bombs go far beyond).
    max_ratio: float = 200.0
    #: Most features a layer may hold.
    max_features: int = _DEFAULTS.IMPORT_MAX_FEATURES

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        """Build limits from the settings ``IMPORT_MAX_MB``, ``IMPORT_MAX_UNPACKED_MB``, ``IMPORT_MAX_FEATURES``.

        Parameters
        ----------
        config : app.settings.Config
            The resolved settings.

        Returns
        -------
        Limits
            The limits, the others at their defaults.
        """
        return cls(max_file_bytes=config.IMPORT_MAX_MB * _MIB,
                   max_unpacked_bytes=config.IMPORT_MAX_UNPACKED_MB * _MIB,
                   max_features=config.IMPORT_MAX_FEATURES)

    def for_tables(self) -> TableLimits:
        """Return the limits a CSV/XLSX layer is read with, so a hostile workbook is refused before it is parsed.

        The file size and unpacked size are this import's; rows stop one past ``max_features`` (so
        the layer check names the feature limit); a cell (a WKT geometry, say) may be as long as
        Python's csv module allows by default, as before, so reading never raises that global limit.
        """
        return TableLimits(max_file_bytes=self.max_file_bytes, max_rows=self.max_features + 1,
                           max_columns=_DEFAULTS.BATCH_MAX_COLUMNS, max_cell_chars=_CSV_FIELD_LIMIT,
                           max_unpacked_bytes=self.max_unpacked_bytes, max_response_bytes=self.max_file_bytes,
                           file_setting="IMPORT_MAX_MB", rows_setting="IMPORT_MAX_FEATURES")


@dataclass
class ImportPlan:
    """A checked layer ready to store (``gdf`` is None when the file could not be read)."""

    layer: str
    report: Report
    gdf: gpd.GeoDataFrame | None = None


class ImportRefused(GridmapError):
    """An import that was refused; carries the report."""

    default_status = 400
    default_key = "import.refused"

    def __init__(self, report: Report) -> None:
        super().__init__(f"import of {report.source} refused: {len(report.errors)} errors")
        self.report = report


@_gc_paused()
def read_source(path: str | Path, *, filename: str | None = None, layer: str | None = None,
                source_layer: str | None = None, limits: Limits | None = None,
                work_dir: str | Path | None = None, report: Report | None = None) -> tuple[RawLayer | None, Report]:
    """Read a file's features, after the size and archive checks; nothing is checked against the data model.

    Parameters
    ----------
    path : str or Path
        The file: .geojson/.json, .gpkg, a .zip of a Shapefile (or of one of the other formats),
        .csv or .xlsx with coordinate (lon/lat, 经度/纬度, x/y, with hints such as ``经度(GCJ-02)``)
        or WKT columns.
    filename : str, optional
        The original file name (uploads are saved under temporary names).
    layer : str, optional
        The layer it is meant for: picks the GeoPackage layer or the Shapefile of an archive of
        that name, and is the report's layer.
    source_layer : str, optional
        The GeoPackage layer to read, by name.
    limits : Limits, optional
        Size limits; the defaults when omitted.
    work_dir : str or Path, optional
        Where to unpack archives while reading (the system temp folder by default).
    report : Report, optional
        The report to add to (a new one naming the file otherwise).

    Returns
    -------
    (RawLayer or None, Report)
        The features as read, in the file's CRS (unclosed GeoJSON rings closed and listed in
        ``unclosed``), and the report; None when the file could not be read.
    """
    path = Path(path)
    name = filename or path.name
    limits = limits or Limits()
    if report is None:
        report = Report(layer=layer or "", source=_safe_text(name, 120))
    with tempfile.TemporaryDirectory(prefix="gridmap-import-", dir=work_dir) as tmp:
        try:
            raw = _read_any(path, name, layer or "", report, True, limits, Path(tmp), source_layer)
        except _Stop:
            return None, report
        except (MemoryError, RecursionError):
            report.error("unreadable", "the file is too complex to read")
            return None, report
    raw.format = raw.format or report.format
    return raw, report


def _city_of(context: ReadStore | None) -> City:
    """The city of the store an import goes into; ``City()`` (free code scheme) when unknown."""
    if context is None:
        return City()
    try:
        return City.from_metadata(context.metadata())
    except Exception:  # noqa: BLE001 - a broken store must not hide the import report
        return City()


def _city_bounds(context: ReadStore | None) -> tuple[float, float, float, float] | None:
    """The lon/lat extent of the stored city (its divisions, the smallest layer, else committees or grids), or None."""
    for name in ("divisions", "committees", "grids"):
        gdf = _context_layer(context, name)
        if gdf is not None and len(gdf):
            b = tuple(float(v) for v in gdf.total_bounds)
            if all(np.isfinite(b)):
                return b  # type: ignore[return-value]
    return None


def _report_unclosed(raw: RawLayer, report: Report, repair: bool) -> list[BaseGeometry | None]:
    """The geometries, with those whose unclosed rings the reader closed refused or kept (``repair``)."""
    geoms = list(raw.geoms)
    for i in raw.unclosed:
        if repair:
            report.add("repaired", "unclosed_ring", "closed an unclosed ring by repeating its first position",
                       feature=raw.labels[i])
        else:
            report.error("unclosed_ring", "a ring is not closed (its last position differs from its first); "
                         "run with --repair to close it", feature=raw.labels[i])
            geoms[i] = None
    return geoms


@_gc_paused()
def check_layer(raw: RawLayer, layer: str, report: Report, *, crs: str | None = None, repair: bool = False,
                context: ReadStore | None = None, fields: Mapping[str, str] | None = None,
                city: City | None = None, aliases: list[AliasEntry] | None = None) -> ImportPlan:
    """Check features read by :func:`read_source` as one layer; nothing is stored.

    Parameters
    ----------
    raw : RawLayer
        The features as read (``raw.props`` may have been changed, e.g. codes added).
    layer : str
        Target layer, one of :data:`app.geo.schema.LAYERS`.
    report : Report
        Where findings go (the one :func:`read_source` returned).
    crs : str, optional
        Coordinate system of the file when it has none or it is wrong: an EPSG code, ``gcj02``
        or ``bd09`` (anything :func:`app.geo.crs.parse_crs` accepts). Wins over the file's and
        over a table's column-name hint.
    repair : bool
        Fix invalid geometries (and close unclosed rings), and resolve slivers between areas,
        instead of refusing them.
    context : ReadStore, optional
        The store the layer goes into: its committees are used to check grids, its grids to fill
        in ``grid_code`` of facilities and addresses, its city for the code scheme.
    fields : mapping of str to str, optional
        Target field -> source column, winning over the names found (:mod:`app.geo.fieldnames`).
    city : app.geo.city.City, optional
        The city (its code scheme); by default the context store's, else ``City()`` (free codes).
    aliases : list of AliasEntry, optional
        An alias file's rows (addresses only, :func:`app.geo._import_aliases.read_alias_file`).

    Returns
    -------
    ImportPlan
        The checked layer in EPSG:4326: the data model's columns, then the file's other columns
        as extra attributes; None as the layer when there are errors.
    """
    report.layer = layer
    if layer not in IMPORTABLE:
        report.error("unknown_layer", f"unknown layer {layer!r}; expected one of {', '.join(IMPORTABLE)}")
        return ImportPlan(layer, report)
    report.features = len(raw.geoms)
    if not raw.geoms:
        report.error("no_features", "the file holds no features")
        return ImportPlan(layer, report)
    if layer == "addresses":  # a standard-address list with a row per unit: one row per building
        merge_units(raw, report, fields)
    city = city if city is not None else _city_of(context)
    scheme = city.code_scheme if city.code_scheme in CODE_SCHEMES else "free"
    labels = raw.labels
    areas = layer in ("grids", "committees", "divisions")
    try:
        spec = _choose_crs(raw, crs, report)
        report.crs = spec.label
        src = np.array(_report_unclosed(raw, report, repair), dtype=object)
        city_bounds = _city_bounds(context)
        geoms = _reproject(src, spec, report, labels, city_bounds=city_bounds,
                           points=layer in ("facilities", "addresses"))
        tiling_errors = 0
        if areas and report.ok:  # check and node the tiling in the file's own CRS, then convert what changed
            before = len(report.errors)
            noded = prepare_areas(layer, src, spec, labels, report, repair)
            tiling_errors = len(report.errors) - before
            changed = np.array([a is not b for a, b in zip(noded, src, strict=True)], dtype=bool)
            if changed.any():
                geoms[changed] = to_wgs84_quiet(noded[changed], spec)
        rows, extra_rows = _match_columns(layer, raw.columns, raw.props, report, fields)
    except _Stop:
        return ImportPlan(layer, report)
    _check_types(layer, geoms, labels, report)
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():  # check exactly what will be stored: coordinates rounded as in the GeoJSON files
        geoms[present] = shapely.set_precision(np.asarray(geoms[present], dtype=object),
                                               10.0 ** -COORD_PRECISION, mode="pointwise")
    _check_validity(layer, geoms, labels, report, repair)
    geometry_errors = len(report.errors) > tiling_errors  # overlaps and gaps leave the features whole
    _check_text(rows, labels, report)
    _check_text(extra_rows, labels, report, extra=True)
    address_cols = None
    if layer == "addresses":  # a standard-address list: compose addresses from their parts, gather aliases
        address_cols = compose_addresses(raw.columns, raw.props, rows, labels, report,
                                         overrides=fields, alias_entries=aliases)
    _coerce_fields(layer, rows, labels, report)
    _check_codes(layer, rows, labels, report, scheme,
                 _context_layer(context, "committees") if layer == "grids" else None)
    if layer == "facilities":
        _map_categories(rows, labels, report)
    _fill_defaults(layer, rows, labels, report, scheme)
    if areas and not geometry_errors:  # a dropped feature would leave a gap
        _check_areas(layer, rows, geoms, labels, report, context)
    if layer in ("facilities", "addresses"):
        _assign_grids(rows, geoms, labels, _context_layer(context, "grids"), report)
    if address_cols is not None:
        check_places(address_cols, raw.props, rows, geoms, labels, report, _context_layer(context, "grids"),
                     _context_layer(context, "committees"), _context_layer(context, "divisions"))
    if not report.ok:
        return ImportPlan(layer, report)
    return ImportPlan(layer, report, _frame(layer, rows, extra_rows, geoms))


def _frame(layer: str, rows: list[dict[str, Any]], extra_rows: list[dict[str, Any]],
           geoms: np.ndarray) -> gpd.GeoDataFrame:
    """The checked layer: the data model's columns with their dtypes, then the extra attributes, then geometry."""
    columns = [f.name for f in FIELDS[layer]
               if f.required or f.name not in _OMIT_EMPTY or any(r.get(f.name) is not None for r in rows)]
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    for f in FIELDS[layer]:
        if f.name not in df.columns:
            continue
        if f.dtype == "int":
            df[f.name] = df[f.name].astype("Int64") if df[f.name].isna().any() else df[f.name].astype("int64")
        elif f.dtype == "float":
            df[f.name] = df[f.name].astype("float64")
    extras = list(dict.fromkeys(k for r in extra_rows for k in r))
    for name in extras:
        df[name] = pd.Series([r.get(name) for r in extra_rows], dtype=object)
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=STORAGE_CRS)


@_gc_paused()
def prepare(path: str | Path, layer: str, *, crs: str | None = None, repair: bool = False,
            limits: Limits | None = None, context: ReadStore | None = None,
            filename: str | None = None, work_dir: str | Path | None = None,
            fields: Mapping[str, str] | None = None, city: City | None = None,
            source_layer: str | None = None, aliases: str | Path | None = None,
            aliases_filename: str | None = None) -> ImportPlan:
    """Read and check a file for one layer (:func:`read_source`, then :func:`check_layer`); nothing is stored.

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
    context : ReadStore, optional
        The store the layer goes into: its committees are used to check grids, its grids to fill
        in ``grid_code`` of facilities and addresses, its city gives the code scheme.
    filename : str, optional
        The original file name (uploads are saved under temporary names).
    work_dir : str or Path, optional
        Where to unpack archives while checking (the system temp folder by default).
    fields : mapping of str to str, optional
        Target field -> source column (``--field TARGET=SOURCE``), winning over the names found.
    city : app.geo.city.City, optional
        The city; by default the context store's.
    source_layer : str, optional
        The GeoPackage layer to read, by name.
    aliases : str or Path, optional
        An alias file for an addresses layer: CSV/XLSX with a standard-name column (标准名称) and an
        alias column (别名), one alias per row. Without it, an addresses workbook's sheet named
        别名/alias (not its first) is read as one.
    aliases_filename : str, optional
        The alias file's original name (uploads are saved under temporary names).

    Returns
    -------
    ImportPlan
        The checked layer (in EPSG:4326 with the data model's columns, then extra attributes) and
        its report; the layer is None when the file could not be read or has errors.
    """
    name = filename or Path(path).name
    report = Report(layer=layer, source=_safe_text(name, 120))
    if layer not in IMPORTABLE:
        report.error("unknown_layer", f"unknown layer {layer!r}; expected one of {', '.join(IMPORTABLE)}")
        return ImportPlan(layer, report)
    raw, report = read_source(path, filename=filename, layer=layer, source_layer=source_layer, limits=limits,
                              work_dir=work_dir, report=report)
    if raw is None:
        return ImportPlan(layer, report)
    entries = None
    if aliases is not None:
        if layer != "addresses":
            report.error("alias_file", "an alias file goes with the addresses layer only")
            return ImportPlan(layer, report)
        entries = read_alias_file(aliases, report, limits or Limits(), filename=aliases_filename)
    elif layer == "addresses" and Path(name).suffix.lower() in (".xlsx", ".xlsm"):  # a sheet named 别名, if any
        entries = read_alias_sheet(path, report, limits or Limits(), filename=name)
    return check_layer(raw, layer, report, crs=crs, repair=repair, context=context, fields=fields, city=city,
                       aliases=entries)


@dataclass
class ImportOutcome:
    """The result of :func:`run_import`: the checked plan and the version it made (None if none)."""

    plan: ImportPlan
    version: VersionInfo | None = None
    dry_run: bool = False
    #: The file held what the current version holds already: ``version`` is that one, none was made.
    unchanged: bool = False

    @property
    def report(self) -> Report:
        """The validation report."""
        return self.plan.report


def run_import(store: Store, layer: str, path: str | Path, *, author: str, crs: str | None = None,
               repair: bool = False, dry_run: bool = False, limits: Limits | None = None,
               filename: str | None = None, work_dir: str | Path | None = None,
               fields: Mapping[str, str] | None = None, aliases: str | Path | None = None,
               aliases_filename: str | None = None) -> ImportOutcome:
    """Check a file and, when it passes and this is no dry run, store it as a new data version.

    Nothing is written unless the report has no errors; a refused import leaves the store
    byte-identical.

    Parameters
    ----------
    store : app.geo.store.Store
        Where the layer goes (and what it is checked against). A store that is not
        :attr:`~app.geo.store.WriteStore.writable` only allows ``dry_run``.
    layer : str
        Target layer.
    path : str or Path
        The file.
    author : str
        Who imports, for the version's record.
    crs, repair, limits, filename, work_dir, fields, aliases, aliases_filename
        As for :func:`prepare`.
    dry_run : bool
        Check only.

    Returns
    -------
    ImportOutcome
        The report, and the new :class:`app.geo.store.VersionInfo` when one was made.

    Raises
    ------
    app.geo.store.ReadOnlyStore
        If the store is read-only and this is no dry run.
    app.geo.store.StoreError
        If another import changed the store meanwhile.
    """
    if not dry_run and not store.writable:
        raise ReadOnlyStore("the data folder is served read-only (plain GeoJSON, no versions); "
                            "set GRIDMAP_STORE_URL to a versioned store to import")
    base = store.version() if store.writable and store.exists() else None
    plan = prepare(path, layer, crs=crs, repair=repair, limits=limits, context=store, filename=filename,
                   work_dir=work_dir, fields=fields, aliases=aliases, aliases_filename=aliases_filename)
    if dry_run or not plan.report.ok:
        return ImportOutcome(plan, None, dry_run)
    name = filename or Path(path).name
    info = store.commit({layer: plan.gdf}, author=author, message=f"import {layer} from {_safe_text(name, 120)}",
                        expect=base)
    return ImportOutcome(plan, info, False, unchanged=info.id == base)
