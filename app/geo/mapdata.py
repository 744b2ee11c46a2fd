"""Map layer data: simplified, quantised geometry, choropleth classes, facility layers and per-area details.

The home-map payload is built here; its parts live in private modules: geometry encoding and the
shared-border topology in :mod:`app.geo._map_topology`, the choropleth in :mod:`app.geo._map_classes`
and the grid and committee pages in :mod:`app.geo._map_details`. Their public names are all
available from this module.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo._map_classes import (
    ATTRIBUTES,
    N_CLASSES,
    PALETTE,
    Attribute,
    classes,
    classify,
    facility_counts,
    grid_attributes,
)
from app.geo._map_details import (
    NEARBY_M,
    committee_detail,
    esc,
    facilities_near,
    grid_detail,
    neighbours,
    staff_public,
    subtype_label,
)
from app.geo._map_topology import (
    DATUMS,
    QUANTUM,
    SIMPLIFY_M,
    Topology,
    assemble_rings,
    build_topology,
    check_datum,
    decode_topology,
    encode_topology,
    outlines_match,
    quantise,
    rings_geometry,
    shift_geometries,
    shift_xy,
    simplify_coverage,
)
from app.geo.dataset import Dataset

__all__ = [
    "ATTRIBUTES", "DATUMS", "NEARBY_M", "N_CLASSES", "PALETTE", "QUANTUM", "SIMPLIFY_M", "Attribute", "Topology",
    "assemble_rings", "build_topology", "classes", "classify", "committee_detail", "decode_topology",
    "encode_topology", "esc", "facilities_near", "facility_counts", "grid_attributes", "grid_detail",
    "home_payload", "neighbours", "payload_bytes", "rings_geometry", "shift_geometries", "simplify_coverage",
    "tiled_payload", "tiled_payload_bytes", "coverage_map_table",
    "staff_public", "subtype_label",
]


def _origin(bounds: np.ndarray) -> tuple[float, float]:
    return (math.floor(bounds[0] * 100) / 100, math.floor(bounds[1] * 100) / 100)


def _escaped(values: Iterable[Any]) -> list[str]:
    return [esc(v) for v in values]


def _row_numbers(codes: pd.Series, table: gpd.GeoDataFrame) -> np.ndarray:
    """Row in ``table`` of each code (matched as text), -1 where no row has it."""
    row = {str(c): i for i, c in enumerate(table["code"].tolist())}
    return np.array([row.get(str(c), -1) for c in codes.tolist()], dtype=np.int64)


def _strip_parents(grids: gpd.GeoDataFrame, coms: gpd.GeoDataFrame, grid_com: np.ndarray
                   ) -> tuple[dict[str, list[str]], list[str]]:
    """Escaped grid codes and names, cut to what follows the committee's where every grid extends it.

    When every grid's code and name extend its committee's (620201001001 -> 620201001001003,
    雄关社区 -> 雄关社区第3网格), only the extension is sent; the fields cut so are listed.
    """
    text, prefixed = {}, []
    for f in ("code", "name"):
        raw = grids[f].tolist()
        parents = coms[f].tolist()
        parent = [parents[c] if c >= 0 else None for c in grid_com.tolist()]
        if all(isinstance(v, str) and isinstance(p, str) and v.startswith(p)
               for v, p in zip(raw, parent, strict=True)):
            text[f] = [esc(v[len(p):]) for v, p in zip(raw, parent, strict=True)]
            prefixed.append(f)
        else:
            text[f] = _escaped(raw)
    return text, prefixed


def staff_counts(grids: Any, role: str) -> list[int]:
    """1 for each grid whose ``<role>_name`` is filled in, else 0: how many of the role the grid has on record.

    The count is not personal (the name is); a city whose files name no grid leader shows 0, not 1.
    """
    col = f"{role}_name"
    if col not in grids:
        return [0] * len(grids)
    return (grids[col].fillna("").astype(str).str.strip() != "").astype(int).tolist()


def _grid_part(ds: Dataset, topo: Topology, grid_com: np.ndarray, grid_div: np.ndarray,
               show_personal: bool) -> dict[str, Any]:
    grids = ds.layer("grids")
    attrs = grid_attributes(ds)
    text, prefixed = _strip_parents(grids, ds.layer("committees"), grid_com)
    parttime = grids["parttime_count"].fillna(0).astype(int).tolist() if "parttime_count" in grids else [0] * len(grids)
    staffed = [staff_counts(grids, role) for role in ("leader", "worker", "instructor")]
    part: dict[str, Any] = {
        "fields": ["code", "name", "committee", "division", "population", "households", "area_km2", "density",
                   "parttime", "leaders", "workers", "instructors"],
        "columns": [text["code"], text["name"], grid_com.tolist(), grid_div.tolist(),
                    attrs["population"].astype(int).tolist(), attrs["households"].astype(int).tolist(),
                    attrs["area_km2"].round(3).tolist(), attrs["density"].astype(int).tolist(), parttime, *staffed],
        "prefixed": prefixed,
        "topology": encode_topology(topo),
    }
    if show_personal:
        part["personal"] = [staff_public(rec, True) for rec in grids.to_dict("records")]
    return part


def _facility_part(ds: Dataset, datum: str, origin: tuple[float, float]) -> dict[str, Any]:
    fac = ds.layer("facilities")
    fx, fy = shift_xy(fac.geometry.x.values, fac.geometry.y.values, datum)
    grid_row = {str(c): i for i, c in enumerate(ds.layer("grids")["code"].tolist())}
    cap = fac["capacity"] if "capacity" in fac else pd.Series([None] * len(fac))
    sub = fac["subtype"] if "subtype" in fac else pd.Series([None] * len(fac))
    # grid: row number in the grid table, or the escaped code when no grid has it
    return {"fields": ["id", "name", "category", "subtype", "capacity", "grid", "x", "y"],
            "columns": [_escaped(fac["id"].tolist()), _escaped(fac["name"].tolist()),
                        _escaped(fac["category"].tolist()), _escaped(sub.tolist()),
                        [None if pd.isna(k) else int(k) for k in cap.tolist()],
                        [grid_row.get(str(g), esc(g)) for g in fac["grid_code"].tolist()],
                        quantise(np.asarray(fx), origin[0]).tolist(), quantise(np.asarray(fy), origin[1]).tolist()]}


def home_payload(ds: Dataset, datum: str = "wgs84", show_personal: bool = False) -> dict[str, Any]:
    """Build the compact layer payload behind the home map (cached per data version, datum and access).

    Grid polygons are coverage-simplified, quantised to about 1 m and stored as a topology: every
    border between two grids is one arc, stored once (see :func:`build_topology`). Committees and
    divisions, which are unions of grids, carry no geometry: the client draws their outlines from
    the grid arcs whose two sides lie in different committees or divisions. Only a layer that is
    not a dissolve of its grids (see :func:`~app.geo._map_topology.outlines_match`) gets a
    topology of its own. Facility counts per grid are left for the client to count from the
    facility rows, and the grid ``code`` and ``name`` columns listed in ``grids.prefixed`` hold
    only what follows the grid's committee's code or name. Text is HTML-escaped on the server;
    personal fields are left out unless ``show_personal``.

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02`` (every coordinate shifted to line up with AMap tiles).
    show_personal : bool
        Include staff names and phones (never on public pages).

    Returns
    -------
    dict
        ``version``, ``datum``, ``quantum``, ``origin``, ``bounds``, ``divisions``, ``committees``,
        ``grids``, ``facilities`` and ``classes``. Tables are ``{"fields": [...], "columns": [...]}``
        (one list per field); ``grids.topology`` is an :func:`encode_topology` result.
    """
    check_datum(datum)

    def build() -> dict[str, Any]:
        grids = ds.layer("grids")
        bounds = shift_geometries(np.asarray([shapely.box(*grids.total_bounds)]), datum)[0].bounds
        origin = _origin(np.asarray(bounds))

        def simple(layer: str) -> np.ndarray:
            geoms = ds.cached(f"mapdata.simple.{layer}", lambda: simplify_coverage(ds.layer(layer).geometry))
            return shift_geometries(geoms, datum)

        divs = ds.layer("divisions")
        coms = ds.layer("committees")
        grid_com = _row_numbers(grids["committee_code"], coms)
        grid_div = _row_numbers(grids["division_code"], divs)
        topo = build_topology(simple("grids"), origin)
        grid_part = _grid_part(ds, topo, grid_com, grid_div, show_personal)

        def boundary_layer(gdf: gpd.GeoDataFrame, layer: str, groups: np.ndarray, fields: list[str],
                           columns: list[list]) -> dict[str, Any]:
            part: dict[str, Any] = {"fields": fields, "columns": columns}
            own = shift_geometries(np.asarray(gdf.geometry.values, dtype=object), datum)
            if not outlines_match(topo, groups, own, origin):
                part["topology"] = encode_topology(build_topology(simple(layer), origin))
            return part

        return {
            "version": ds.version,
            "datum": datum,
            "quantum": QUANTUM,
            "origin": list(origin),
            "bounds": [round(b, 6) for b in bounds],
            "divisions": boundary_layer(divs, "divisions", grid_div, ["code", "name", "kind"],
                                        [_escaped(divs[c].tolist()) for c in ("code", "name", "kind")]),
            "committees": boundary_layer(
                coms, "committees", grid_com, ["code", "name", "kind", "division"],
                [*(_escaped(coms[c].tolist()) for c in ("code", "name", "kind")),
                 _row_numbers(coms["division_code"], divs).tolist()]),
            "grids": grid_part,
            "facilities": _facility_part(ds, datum, origin),
            "classes": classes(ds),
        }

    return ds.cached(f"mapdata.payload.{datum}.{int(show_personal)}", build)


def payload_bytes(ds: Dataset, datum: str = "wgs84", show_personal: bool = False) -> tuple[bytes, str]:
    """Return the home payload serialised as compact UTF-8 JSON, with a strong ETag (cached).

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02``.
    show_personal : bool
        See :func:`home_payload`.

    Returns
    -------
    (bytes, str)
        The body and its ETag (a hash of the body).
    """

    def build() -> tuple[bytes, str]:
        body = json.dumps(home_payload(ds, datum, show_personal), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        return body, hashlib.sha256(body).hexdigest()[:20]

    return ds.cached(f"mapdata.payload_bytes.{datum}.{int(show_personal)}", build)


def tiled_payload(ds: Dataset, datum: str = "wgs84") -> dict[str, Any]:
    """Build the small payload of the tiled home map: everything :func:`home_payload` holds but the grids.

    The polygons come as vector tiles (:mod:`app.geo.tiles`) and a grid's popup from its own
    record, so only the committee and division tables (no geometry), the facilities (their
    ``grid`` column holds grid codes), the choropleth classes and the extent are sent. Nothing in it
    is personal.

    Parameters
    ----------
    ds : Dataset
        The data version.
    datum : str
        ``wgs84`` or ``gcj02``.

    Returns
    -------
    dict
        ``version``, ``datum``, ``quantum``, ``origin``, ``bounds``, ``divisions``, ``committees``,
        ``facilities``, ``classes`` and ``tiled: true``.
    """
    check_datum(datum)
    return ds.cached(f"mapdata.tiled_payload.{datum}", lambda: _tiled_payload(ds, datum))


def _tiled_payload(ds: Dataset, datum: str) -> dict[str, Any]:
    """:func:`tiled_payload`, not cached."""
    grids = ds.layer("grids")
    bounds = shift_geometries(np.asarray([shapely.box(*grids.total_bounds)]), datum)[0].bounds
    origin = _origin(np.asarray(bounds))
    divs = ds.layer("divisions")
    coms = ds.layer("committees")
    fac = _facility_part(ds, datum, origin)
    codes = _escaped(grids["code"].tolist())
    fac["columns"][5] = [codes[g] if isinstance(g, int) else g for g in fac["columns"][5]]
    return {
        "version": ds.version, "datum": datum, "quantum": QUANTUM, "origin": list(origin),
        "bounds": [round(b, 6) for b in bounds], "tiled": True,
        "divisions": {"fields": ["code", "name", "kind"],
                      "columns": [_escaped(divs[c].tolist()) for c in ("code", "name", "kind")]},
        "committees": {"fields": ["code", "name", "kind"],
                       "columns": [_escaped(coms[c].tolist()) for c in ("code", "name", "kind")]},
        "facilities": fac,
        "classes": classes(ds),
    }


def tiled_payload_bytes(ds: Dataset, datum: str = "wgs84") -> tuple[bytes, str]:
    """Return :func:`tiled_payload` as compact UTF-8 JSON with a strong ETag (cached).

    Only the bytes are kept: the payload's lists of Python objects (~3 MB at 30,650 grids) are not,
    unless :func:`tiled_payload` was asked for itself.
    """
    check_datum(datum)

    def build() -> tuple[bytes, str]:
        payload = ds.cache.get(f"mapdata.tiled_payload.{datum}") or _tiled_payload(ds, datum)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return body, hashlib.sha256(body).hexdigest()[:20]

    return ds.cached(f"mapdata.tiled_payload_bytes.{datum}", build)


def coverage_map_table(ds: Dataset, result: Any, level: str = "grid", limit: int = 1000) -> str:
    """A coverage result for a map whose units are vector tiles: values per unit code, no geometry.

    See :func:`app.geo._map_coverage.coverage_map_table` (imported on first use: the home map does not need it).

    Parameters
    ----------
    ds : Dataset
        The data version the result was computed on.
    result : app.geo.coverage.CoverageResult
        The analysis.
    level : str
        ``grid``, ``committee`` or ``division``.
    limit : int
        Most underserved grids listed.

    Returns
    -------
    str
        JSON text.
    """
    from app.geo._map_coverage import coverage_map_table as build

    return build(ds, result, level, limit)
