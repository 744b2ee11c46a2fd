"""Validate a geodata folder: files, geometry, codes, nesting, tiling, attributes, sums and points."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

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
from app.geo.findings import Finding, Report, Section
from app.geo.geojson_store import FolderStore, layer_path
from app.geo.schema import LAYERS

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
    "read_layers",
    "sequence_order",
    "validate_folder",
]


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
            issues.append(_issue("error", name, None, f"file {path.name} is missing"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
                layers[name] = store.read(name)
        except Exception as exc:  # noqa: BLE001 - any reader failure is reported, not raised
            issues.append(_issue("error", name, None, f"cannot read {path.name}: {exc}"))
    return layers, issues


def validate_folder(folder: Path, expected_grids: int | None = 613) -> Report:
    """Run every check on a geodata folder.

    Parameters
    ----------
    folder : Path
        Folder holding ``<layer>.geojson`` files.
    expected_grids : int or None
        Required number of grids (613 for Jiayuguan); None skips the count.

    Returns
    -------
    Report
        Sections per check; ``report.ok`` is True when there are no errors.
    """
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
    section("codes", "Codes (division 9, committee 12, grid 15 digits)", areas,
            lambda: (f"{counts['divisions']} divisions, {counts['committees']} committees, "
                     f"{counts['grids']} grids"),
            lambda: check_codes(d, c, g, expected_grids))
    section("numbering", "Grid numbering (west→east, then north→south)", ("committees", "grids"),
            lambda: f"{counts['grids']} grids in {counts['committees']} committees",
            lambda: check_numbering(g, c, crs))
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
