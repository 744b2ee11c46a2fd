"""Start-up checks: is the data a service is about to serve complete and consistent (which layer, which field)?"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from app.errors import GridmapError
from app.geo.city import City
from app.geo.dataset import OPTIONAL_LAYERS, Dataset
from app.geo.findings import Finding
from app.geo.schema import FIELDS, GEOMETRY_TYPES, LAYERS
from app.geo.store import ReadStore

#: Layers every page needs, with what to do when one is missing.
NEEDED: dict[str, str] = {
    "grids": "every page needs it",
    "committees": "the maps group the grids by it (gridmap init-city derives it from the grids' committee column)",
    "divisions": "the maps group the grids by it (gridmap init-city derives it from the grids' sub-district column)",
}
#: Layers a city may lack (read as empty), with what goes missing.
OPTIONAL: dict[str, str] = {
    "facilities": "the maps show no facilities and coverage has nothing to measure",
    "addresses": "addresses cannot be located",
    "roads": "walking distances are not available",
}
#: Fields the service computes when the data lacks them (see :meth:`app.geo.dataset.Dataset.layer`).
COMPUTED: dict[str, frozenset[str]] = {"grids": frozenset({"area_m2"})}
#: The field that identifies a feature of each layer; unique within the layer.
KEYS: dict[str, str] = {"divisions": "code", "committees": "code", "grids": "code",
                        "facilities": "id", "addresses": "id", "roads": "id"}
#: Layers whose features other layers refer to by code: a missing or repeated code there is an error.
_CODED = ("divisions", "committees", "grids")
#: (layer, field, parent layer, severity): references between layers, checked when both layers are there.
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("committees", "division_code", "divisions", "error"),
    ("grids", "committee_code", "committees", "error"),
    ("grids", "division_code", "divisions", "error"),
    ("facilities", "grid_code", "grids", "warning"),
    ("addresses", "grid_code", "grids", "warning"),
)
#: How many examples a finding names.
EXAMPLES = 5


class DataCheckError(GridmapError):
    """The data cannot be served: a layer or field is missing or the layers contradict each other.

    Parameters
    ----------
    message : str
        The problems, one per line, each naming its layer and field.
    findings : sequence of Finding
        The problems found (errors and warnings).
    """

    default_status = 503
    default_key = "data.check"

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message, findings=[f.to_dict() for f in findings])
        self.findings = list(findings)


def _blank(values: pd.Series) -> pd.Series:
    """True where a value is missing or only spaces."""
    return values.isna() | values.astype(str).str.strip().eq("")


def _shown(values: Iterable[Any]) -> str:
    """Up to :data:`EXAMPLES` values for a message, with how many more there are."""
    values = list(values)
    head = ", ".join(str(v) for v in values[:EXAMPLES])
    return head + (f" … (+{len(values) - EXAMPLES})" if len(values) > EXAMPLES else "")


def _feature(gdf: gpd.GeoDataFrame, pos: int, key: str | None) -> str:
    """A feature's label, ``#<n> (<code>)`` (1-based), as findings name features."""
    if key and key in gdf.columns:
        value = gdf[key].iloc[pos]
        if not pd.isna(value):
            return f"#{pos + 1} ({value})"
    return f"#{pos + 1}"


def _fields(layer: str, gdf: gpd.GeoDataFrame) -> list[Finding]:
    """Missing required fields of a layer (computed ones are fine)."""
    out = []
    computed = COMPUTED.get(layer, frozenset())
    for f in FIELDS[layer]:
        if f.required and f.name not in gdf.columns and f.name not in computed:
            out.append(Finding("error", "missing_field", f"layer {layer} has no field {f.name} ({f.doc})",
                               layer=layer, field=f.name))
    return out


def _geometry(layer: str, gdf: gpd.GeoDataFrame) -> list[Finding]:
    """Features without geometry, or with the wrong geometry type."""
    out = []
    geoms = gdf.geometry
    empty = (geoms.isna() | geoms.is_empty).to_numpy()
    if empty.any():
        where = [int(i) for i in empty.nonzero()[0]]
        severity = "error" if layer in _CODED else "warning"
        out.append(Finding(severity, "empty_geometry", f"{len(where)} feature(s) of {layer} have no geometry: "
                           + _shown(_feature(gdf, i, KEYS[layer]) for i in where),
                           feature=_feature(gdf, where[0], KEYS[layer]), layer=layer, field="geometry"))
    types = geoms.geom_type.to_numpy()
    wrong = [i for i, t in enumerate(types) if not empty[i] and t not in GEOMETRY_TYPES[layer]]
    if wrong:
        kinds = "/".join(sorted({str(types[i]) for i in wrong}))
        wanted = " or ".join(GEOMETRY_TYPES[layer])
        out.append(Finding("error", "wrong_geometry_type", f"{len(wrong)} feature(s) of {layer} are {kinds}, not "
                           f"{wanted}: " + _shown(_feature(gdf, i, KEYS[layer]) for i in wrong),
                           feature=_feature(gdf, wrong[0], KEYS[layer]), layer=layer, field="geometry"))
    return out


def _keys(layer: str, gdf: gpd.GeoDataFrame) -> list[Finding]:
    """Missing and repeated codes (ids) of a layer."""
    key = KEYS[layer]
    if key not in gdf.columns or not len(gdf):
        return []
    out = []
    severity = "error" if layer in _CODED else "warning"
    values = gdf[key]
    blank = _blank(values).to_numpy()
    if blank.any():
        where = [int(i) for i in blank.nonzero()[0]]
        out.append(Finding(severity, "missing_code", f"{len(where)} feature(s) of {layer} have no {key}: "
                           + _shown(f"#{i + 1}" for i in where), feature=f"#{where[0] + 1}", layer=layer, field=key))
    text = values.astype(str).str.strip()
    repeated = (~blank & text.duplicated(keep=False).to_numpy())
    if repeated.any():
        codes = list(dict.fromkeys(text[repeated].tolist()))
        first = int(repeated.nonzero()[0][0])
        out.append(Finding(severity, "duplicate_code",
                           f"{len(codes)} {key}(s) of {layer} are used by more than one feature: " + _shown(codes),
                           feature=_feature(gdf, first, key), layer=layer, field=key))
    return out


def _references(layers: dict[str, gpd.GeoDataFrame]) -> list[Finding]:
    """Codes that name a feature of another layer that does not exist."""
    out = []
    for layer, field, parent, severity in REFERENCES:
        child, known = layers.get(layer), layers.get(parent)
        if child is None or known is None or field not in child.columns or KEYS[parent] not in known.columns:
            continue
        codes = set(known[KEYS[parent]].dropna().astype(str).str.strip())
        values = child[field]
        given = ~_blank(values)
        bad = given & ~values.astype(str).str.strip().isin(codes)
        if bad.any():
            where = [int(i) for i in bad.to_numpy().nonzero()[0]]
            missing = list(dict.fromkeys(values.astype(str).str.strip().iloc[where].tolist()))
            out.append(Finding(severity, "unknown_parent",
                               f"{len(where)} feature(s) of {layer} name a {field} that is no code of {parent}: "
                               + _shown(missing), feature=_feature(child, where[0], KEYS[layer]),
                               layer=layer, field=field))
    return out


def _city(meta: dict[str, Any]) -> list[Finding]:
    """The stored city's own settings: a metric CRS that PROJ does not know is only a warning (the data chooses)."""
    city = City.from_metadata(meta)
    if not city.metric_crs:
        return []
    import pyproj

    try:
        crs = pyproj.CRS.from_user_input(city.metric_crs)
    except pyproj.exceptions.CRSError:
        return [Finding("warning", "unknown_crs", f"metadata.json names metric_crs {city.metric_crs!r}, which "
                        "PROJ does not know; the metric CRS is chosen from the data", field="metric_crs")]
    if crs.is_geographic:
        return [Finding("warning", "unknown_crs", f"metadata.json names metric_crs {city.metric_crs}, which is "
                        "not projected (degrees, not metres); the metric CRS is chosen from the data",
                        field="metric_crs")]
    return []


def _check(names: Sequence[str], read: Callable[[str], gpd.GeoDataFrame], meta: dict[str, Any]) -> list[Finding]:
    """The checks of :func:`check_data`, over any way of reading layers."""
    findings: list[Finding] = []
    for layer in NEEDED:
        if layer not in names:
            findings.append(Finding("error", "missing_layer", f"there is no layer {layer}; {NEEDED[layer]}",
                                    layer=layer))
    for layer in OPTIONAL_LAYERS:
        if layer not in names:
            findings.append(Finding("warning", "missing_layer", f"there is no layer {layer}; {OPTIONAL[layer]}",
                                    layer=layer))
    layers: dict[str, gpd.GeoDataFrame] = {}
    for layer in LAYERS:
        if layer not in names:
            continue
        try:
            gdf = read(layer)
        except Exception as exc:  # noqa: BLE001 - any reading failure becomes a finding that names the layer
            findings.append(Finding("error", "unreadable", f"layer {layer} cannot be read: {exc}", layer=layer))
            continue
        if layer == "grids" and not len(gdf):
            findings.append(Finding("error", "no_features", "the grid layer (grids) holds no grids", layer=layer))
        findings += _fields(layer, gdf)
        findings += _geometry(layer, gdf)
        findings += _keys(layer, gdf)
        layers[layer] = gdf
    findings += _references(layers)
    findings += _city(meta)
    return findings


def check_data(store: ReadStore) -> list[Finding]:
    """Check that a data version can be served: which layer, which field is missing or inconsistent.

    Errors: no grid, committee or division layer, or no grids; a layer that cannot be read; a required field missing
    (``area_m2`` of the grids is not required: it is computed); features without geometry or
    with the wrong geometry type (grids, committees, divisions); a missing or repeated code in
    the divisions, committees or grids; a grid's ``committee_code`` or ``division_code`` (a
    committee's ``division_code``) that names no committee (division), when that layer is there.
    Warnings: no facility, address or road layer (each reads as empty); repeated or missing ids
    of facilities, addresses and roads; facilities and
    addresses whose ``grid_code`` names no grid; a metric CRS in metadata.json PROJ does not know.

    Parameters
    ----------
    store : ReadStore
        The data, pinned to one version (``store.snapshot()``) or a folder store.

    Returns
    -------
    list of Finding
        Errors first, each with its ``layer`` and ``field``; empty when everything is fine.
    """
    findings = _check(store.layer_names(), store.read, store.metadata())
    return sorted(findings, key=lambda f: not f.is_error)


def check_dataset(ds: Dataset) -> list[Finding]:
    """Run :func:`check_data` on a :class:`~app.geo.dataset.Dataset`, reading its layers once for both.

    Parameters
    ----------
    ds : Dataset
        The version about to be served; its layers stay cached for the first requests.

    Returns
    -------
    list of Finding
        As :func:`check_data`.
    """
    findings = _check(ds.store.layer_names(), ds.layer, ds.metadata)
    return sorted(findings, key=lambda f: not f.is_error)


def format_findings(findings: Sequence[Finding]) -> list[str]:
    """Return one line per finding: severity, problem, ``[layer feature]``, field and message, in Chinese and English."""
    return [f.format(f.layer or "metadata.json") for f in findings]


def require_servable(findings: Sequence[Finding], source: str = "") -> list[Finding]:
    """Raise :class:`DataCheckError` when the findings hold an error; return the warnings otherwise.

    Parameters
    ----------
    findings : sequence of Finding
        Output of :func:`check_data` or :func:`check_dataset`.
    source : str
        The data's location (DATA_DIR or STORE_URL), named in the message.

    Returns
    -------
    list of Finding
        The warnings.

    Raises
    ------
    DataCheckError
        With every finding (errors first) in the message, one line each.
    """
    errors = [f for f in findings if f.is_error]
    if not errors:
        return [f for f in findings if not f.is_error]
    where = f" ({source})" if source else ""
    head = (f"数据检查未通过 the data cannot be served{where}: {len(errors)} error(s); "
            "fix the data (or import it again with gridmap init-city / gridmap import)")
    raise DataCheckError("\n".join([head, *("  " + line for line in format_findings(findings))]), findings)
