"""Validate a geodata folder: files, geometry, codes, nesting, tiling, attributes, sums and points."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd

from app.geo._validate_areas import (
    check_city_gaps,
    check_codes,
    check_gaps,
    check_grids,
    check_nesting,
    check_numbering,
    check_overlaps,
    sequence_order,
)
from app.geo._validate_base import AREA_TOLERANCE_M2, ROAD_DISTANCE_M, _issue, _metric_crs
from app.geo._validate_layers import (
    check_addresses,
    check_attributes,
    check_facilities,
    check_geometry,
    check_roads,
)
from app.geo._validate_points import check_address_sums, check_near_roads, check_points_in_grids
from app.geo.city import City
from app.geo.findings import Finding, Report, Section
from app.geo.geojson_store import FolderStore, layer_path
from app.geo.schema import CODE_SCHEMES, LAYERS

__all__ = [
    "AREA_TOLERANCE_M2",
    "ROAD_DISTANCE_M",
    "Finding",
    "Report",
    "Section",
    "check_address_sums",
    "check_addresses",
    "check_attributes",
    "check_city_gaps",
    "check_codes",
    "check_facilities",
    "check_gaps",
    "check_geometry",
    "check_grids",
    "check_near_roads",
    "check_nesting",
    "check_numbering",
    "check_overlaps",
    "check_points_in_grids",
    "check_roads",
    "expected_grid_count",
    "folder_metadata",
    "read_layers",
    "sequence_order",
    "validate_folder",
]


#: Layers a city may lack: their checks are skipped, and serving works without them.
OPTIONAL_LAYERS: tuple[str, ...] = ("facilities", "addresses", "roads")


def read_layers(folder: Path) -> tuple[dict[str, gpd.GeoDataFrame], list[Finding]]:
    """Read every layer of a geodata folder, with an error finding for each missing or unreadable file.

    Parameters
    ----------
    folder : Path
        The folder of ``<layer>.geojson`` files.

    Returns
    -------
    (dict of layer name to GeoDataFrame, list of Finding)
        The layers read (in lon/lat when their file names no CRS) and what went wrong.
    """
    store = FolderStore(folder)
    layers: dict[str, gpd.GeoDataFrame] = {}
    issues: list[Finding] = []
    for name in LAYERS:
        path = layer_path(folder, name)
        if not path.exists():
            if name in OPTIONAL_LAYERS:  # a city may have no road network, facilities or address list yet
                issues.append(_issue("warning", name, None, f"file {path.name} is missing (optional layer)"))
            else:
                issues.append(_issue("error", name, None, f"file {path.name} is missing"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
                layers[name] = store.read(name)
        except Exception as exc:  # noqa: BLE001 - any reader failure is reported, not raised
            issues.append(_issue("error", name, None, f"cannot read {path.name}: {exc}"))
    return layers, issues


def folder_metadata(folder: Path) -> dict[str, Any]:
    """Return a geodata folder's ``metadata.json``, or an empty dict when it has none (or it is unreadable)."""
    try:
        meta = json.loads((Path(folder) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def expected_grid_count(meta: dict[str, Any]) -> int | None:
    """The number of grids a folder's metadata records (``counts.grids``), or None when it records none."""
    counts = meta.get("counts")
    n = counts.get("grids") if isinstance(counts, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


def validate_folder(folder: Path, expected_grids: int | None | Literal["metadata"] = "metadata") -> Report:
    """Run every check on a geodata folder.

    The code scheme is the city's (``city.code_scheme`` in the folder's ``metadata.json``, see
    :class:`app.geo.city.City`): the digit rules and the grid numbering are checked only under
    ``cn-9-12-15``; under ``free`` codes must be unique and their parents must exist.

    Parameters
    ----------
    folder : Path
        Folder holding ``<layer>.geojson`` files.
    expected_grids : int, None or "metadata"
        Required number of grids; None skips the count; ``"metadata"`` (the default) takes the
        count recorded in the folder's ``metadata.json`` (none recorded: no count check).

    Returns
    -------
    Report
        Sections per check; ``report.ok`` is True when there are no errors.
    """
    meta = folder_metadata(Path(folder))
    if expected_grids == "metadata":
        expected_grids = expected_grid_count(meta)
    scheme = City.from_metadata(meta).code_scheme
    if scheme not in CODE_SCHEMES:
        scheme = "free"
    cn = scheme == "cn-9-12-15"
    report = Report(str(folder))
    layers, read_issues = read_layers(Path(folder))
    report.sections.append(Section("files", "Files", f"{len(layers)}/{len(LAYERS)} layers read", read_issues))

    def section(key: str, title: str, needs: tuple[str, ...], checked: Callable[[], str],
                run: Callable[[], list[Finding]]) -> None:
        missing = [n for n in needs if n not in layers]
        if missing:
            report.sections.append(Section(key, title, skipped=f"needs {', '.join(missing)}"))
            return
        report.sections.append(Section(key, title, checked(), run()))

    counts = {n: len(g) for n, g in layers.items()}
    # one metric CRS for every check, from the area layers (a stray point must not move it)
    areas = ("divisions", "committees", "grids")
    crs = _metric_crs(*(layers.get(n) for n in areas))
    present = [n for n in LAYERS if n in layers]
    section("geometry", "Geometry types and validity", (), lambda: f"{sum(counts.values())} features",
            lambda: [i for n in present for i in check_geometry(n, layers[n])])
    section("attributes", "Attributes and types", (), lambda: f"{len(present)} layers",
            lambda: [i for n in present for i in check_attributes(n, layers[n])])
    d, c, g = layers.get("divisions"), layers.get("committees"), layers.get("grids")
    section("codes", "Codes (division 9, committee 12, grid 15 digits)" if cn else "Codes (unique, parents exist)",
            areas,
            lambda: (f"{counts['divisions']} divisions, {counts['committees']} committees, "
                     f"{counts['grids']} grids"),
            lambda: check_codes(d, c, g, expected_grids, scheme=scheme))
    if cn:
        section("numbering", "Grid numbering (west→east, then north→south)", ("committees", "grids"),
                lambda: f"{counts['grids']} grids in {counts['committees']} committees",
                lambda: check_numbering(g, c, crs))
    else:
        report.sections.append(Section("numbering", "Grid numbering (west→east, then north→south)",
                                       skipped=f"the city's code scheme is {scheme}, not cn-9-12-15"))
    section("nesting", "Nesting (grid in committee, committee in division)", areas,
            lambda: f"{counts['grids'] + counts['committees']} areas",
            lambda: check_nesting(g, c, "grids", "committees", "committee_code", crs=crs)
            + check_nesting(c, d, "committees", "divisions", "division_code", crs=crs))
    section("overlaps", f"Overlaps (> {AREA_TOLERANCE_M2} m², {crs})", areas,
            lambda: "grids, committees and divisions city-wide",
            lambda: check_overlaps(g, "grids", crs=crs) + check_overlaps(c, "committees", crs=crs)
            + check_overlaps(d, "divisions", crs=crs))
    section("gaps", f"Gaps (> {AREA_TOLERANCE_M2} m², {crs})", areas,
            lambda: "grids in committees, committees in divisions, holes city-wide",
            lambda: check_gaps(g, c, "grids", "committees", "committee_code", crs=crs)
            + check_gaps(c, d, "committees", "divisions", "division_code", crs=crs)
            + check_city_gaps(g, "grids", crs=crs) + check_city_gaps(d, "divisions", crs=crs))
    section("sums", "Population and households = sums over addresses", ("grids", "addresses"),
            lambda: f"{counts['grids']} grids, {counts['addresses']} addresses",
            lambda: check_address_sums(g, layers["addresses"]))
    section("points", "Addresses and facilities lie in their grid", ("grids", "addresses", "facilities"),
            lambda: f"{counts['addresses'] + counts['facilities']} points",
            lambda: check_points_in_grids(layers["addresses"], g, "addresses")
            + check_points_in_grids(layers["facilities"], g, "facilities"))
    section("facilities", "Facility categories, subtypes and CJ/T 214 codes", ("facilities",),
            lambda: f"{counts['facilities']} facilities",
            lambda: check_facilities(layers["facilities"]))
    section("addresses", "Address text, kinds and uniqueness", ("addresses",),
            lambda: f"{counts['addresses']} addresses",
            lambda: check_addresses(layers["addresses"]))
    section("roads", f"Roads, and points within {ROAD_DISTANCE_M:.0f} m of a road",
            ("roads", "addresses", "facilities"),
            lambda: f"{counts['roads']} roads",
            lambda: check_roads(layers["roads"])
            + check_near_roads(layers["addresses"], layers["roads"], "addresses", crs=crs)
            + check_near_roads(layers["facilities"], layers["roads"], "facilities", crs=crs))
    return report
