"""What the page of one grid or committee shows: public records, neighbours and facilities nearby."""

from __future__ import annotations

import html
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo._map_classes import grid_attributes
from app.geo.dataset import Dataset
from app.geo.schema import FIELDS, PERSONAL_FIELDS, SUBTYPES

#: Radius of the "nearby facilities" search around a grid or committee, metres.
NEARBY_M = 500.0


def esc(value: Any) -> str:
    """Return ``value`` as HTML-escaped text ('' for missing values).

    Parameters
    ----------
    value : Any
        Any value from the data.

    Returns
    -------
    str
        Text safe to insert into HTML, quotes included.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def staff_public(row: pd.Series | dict, show_personal: bool) -> dict[str, Any]:
    """Return what a page may show about a grid's staff.

    Parameters
    ----------
    row : Series or dict
        A grid record.
    show_personal : bool
        True only for signed-in users allowed to see personal fields (names, phones).

    Returns
    -------
    dict
        ``parttime``, ``leaders``, ``workers``, ``instructors`` (counts, always), and when
        ``show_personal`` the escaped personal fields.
    """
    out: dict[str, Any] = {"parttime": int(row.get("parttime_count") or 0)}
    for role in ("leader", "worker", "instructor"):  # how many are on record; the names stay personal
        out[f"{role}s"] = int(bool(str(row.get(f"{role}_name") or "").strip()))
    if show_personal:
        for name in sorted(PERSONAL_FIELDS):
            if name in row:
                out[name] = esc(row.get(name))
    return out


def subtype_label(category: str, subtype: str | None, lang: str) -> str:
    """Return the label of a facility subtype in ``lang`` ('' if none).

    Parameters
    ----------
    category : str
        A key of CATEGORIES.
    subtype : str or None
        A key of SUBTYPES[category].
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        The label, or the raw subtype when unknown.
    """
    if not subtype:
        return ""
    pair = SUBTYPES.get(category, {}).get(subtype)
    if pair is None:
        return subtype
    return pair[0] if lang == "zh" else pair[1]


def _metric(ds: Dataset, layer: str) -> gpd.GeoDataFrame:
    return ds.cached(f"mapdata.metric.{layer}", lambda: ds.layer(layer).to_crs(ds.metric_crs))


def neighbours(ds: Dataset, layer: str) -> dict[str, list[str]]:
    """Return, for every polygon of ``layer``, the codes of the polygons that share a border with it.

    Parameters
    ----------
    ds : Dataset
        The data version.
    layer : str
        ``grids``, ``committees`` or ``divisions``.

    Returns
    -------
    dict
        Code -> sorted list of neighbouring codes (within 1 m, in the data's metric CRS).
    """

    def build() -> dict[str, list[str]]:
        gdf = _metric(ds, layer)
        codes = gdf["code"].astype(str).values
        geoms = gdf.geometry.values
        tree = shapely.STRtree(geoms)
        left, right = tree.query(shapely.buffer(geoms, 1.0), predicate="intersects")
        out: dict[str, set[str]] = {c: set() for c in codes}
        for i, j in zip(left, right, strict=True):
            if i != j:
                out[codes[i]].add(codes[j])
        return {c: sorted(v) for c, v in out.items()}

    return ds.cached(f"mapdata.neighbours.{layer}", build)


def facilities_near(ds: Dataset, area: BaseGeometry, radius_m: float = NEARBY_M) -> list[dict[str, Any]]:
    """Return the facilities inside an area and within ``radius_m`` of it, nearest first.

    Parameters
    ----------
    ds : Dataset
        The data version.
    area : Polygon or MultiPolygon
        The area in the data's metric CRS (:attr:`Dataset.metric_crs`).
    radius_m : float
        Search distance beyond the area's border, metres.

    Returns
    -------
    list of dict
        One per facility: ``id``, ``name``, ``category``, ``subtype``, ``capacity``, ``grid_code``,
        ``lon``, ``lat``, ``distance_m`` (0 inside) and ``inside``. Text is not escaped here.
    """
    fac = _metric(ds, "facilities")
    tree = ds.cached("mapdata.facility_tree", lambda: shapely.STRtree(fac.geometry.values))
    idx = tree.query(area.buffer(radius_m), predicate="intersects")
    if len(idx) == 0:
        return []
    sub = fac.iloc[np.sort(idx)]
    dist = shapely.distance(area, sub.geometry.values)
    wgs = ds.layer("facilities").iloc[np.sort(idx)]
    out = []
    for (_, row), (_, w), d in zip(sub.iterrows(), wgs.iterrows(), dist, strict=True):
        cap = row.get("capacity")
        out.append({
            "id": str(row["id"]), "name": str(row["name"]), "category": str(row["category"]),
            "subtype": None if pd.isna(row.get("subtype")) else str(row.get("subtype")),
            "capacity": None if cap is None or pd.isna(cap) else int(cap),
            "grid_code": str(row["grid_code"]), "lon": float(w.geometry.x), "lat": float(w.geometry.y),
            "distance_m": round(float(d), 1), "inside": bool(d <= 0.0),
        })
    out.sort(key=lambda f: (f["distance_m"], f["id"]))
    return out


#: Fields of the data model, per area layer; an office's extra columns (kept by imports) are not among them.
_MODEL_FIELDS: frozenset[str] = frozenset(f.name for layer in ("divisions", "committees", "grids") for f in FIELDS[layer])


def _public(rec: dict[str, Any], show_personal: bool) -> dict[str, Any]:
    """The record a page may show: model fields only, and personal ones only to staff.

    Extra columns an office's file brought (an ID number, say) stay out of public records.
    """
    if show_personal:
        return {k: v for k, v in rec.items() if k != "geometry"}
    return {k: v for k, v in rec.items() if k in _MODEL_FIELDS and k not in PERSONAL_FIELDS}


def _find(gdf: gpd.GeoDataFrame, code: Any) -> int | None:
    """Row number of the first feature whose code is ``code`` (compared as text), or None."""
    hits = np.flatnonzero(gdf["code"].astype(str).values == str(code))
    return None if len(hits) == 0 else int(hits[0])


def _row_by_code(ds: Dataset, layer: str, code: Any) -> dict[str, Any] | None:
    gdf = ds.layer(layer)
    i = _find(gdf, code)
    return None if i is None else _public(gdf.iloc[i].to_dict(), False)


def _surroundings(ds: Dataset, layer: str, i: int, code: str) -> dict[str, Any]:
    """The ``neighbours``, ``facilities``, ``geometry`` and ``buffer`` of row ``i`` of ``layer``."""
    gdf = ds.layer(layer)
    metric_geom = _metric(ds, layer).geometry.values[i]
    by_code = gdf.set_index(gdf["code"].astype(str))
    return {
        "neighbours": [_public(by_code.loc[c].to_dict(), False) | {"code": c, "geometry": by_code.loc[c, "geometry"]}
                       for c in neighbours(ds, layer).get(str(code), [])],
        "facilities": facilities_near(ds, metric_geom),
        "geometry": gdf.geometry.values[i],
        "buffer": gpd.GeoSeries([metric_geom.buffer(NEARBY_M)], crs=ds.metric_crs).to_crs("EPSG:4326").values[0],
    }


def grid_detail(ds: Dataset, code: str, show_personal: bool = False) -> dict[str, Any] | None:
    """Return everything the page of one grid shows, or None if there is no such grid.

    Parameters
    ----------
    ds : Dataset
        The data version.
    code : str
        15-digit grid code.
    show_personal : bool
        Include personal fields (staff names and phones).

    Returns
    -------
    dict or None
        ``record`` (public attributes), ``attributes`` (choropleth values), ``committee``,
        ``division``, ``neighbours`` (list of records), ``facilities`` (see :func:`facilities_near`),
        ``geometry`` (WGS84) and ``buffer`` (the 500 m ring, WGS84). Text is not escaped here.
    """
    grids = ds.layer("grids")
    i = _find(grids, code)
    if i is None:
        return None
    rec = grids.iloc[i].to_dict()
    return {
        "record": _public(rec, show_personal),
        "attributes": grid_attributes(ds).loc[str(code)].to_dict(),
        "staff": staff_public(rec, show_personal),
        "committee": _row_by_code(ds, "committees", rec.get("committee_code")),
        "division": _row_by_code(ds, "divisions", rec.get("division_code")),
        **_surroundings(ds, "grids", i, code),
    }


def committee_detail(ds: Dataset, code: str) -> dict[str, Any] | None:
    """Return everything the page of one residents' or village committee shows, or None if unknown.

    Parameters
    ----------
    ds : Dataset
        The data version.
    code : str
        12-digit committee code.

    Returns
    -------
    dict or None
        ``record``, ``division``, ``totals`` (population, households, area_km2, grid count,
        facility counts), ``grids`` (public records with attributes), ``neighbours``,
        ``facilities``, ``geometry`` and ``buffer`` (WGS84).
    """
    coms = ds.layer("committees")
    i = _find(coms, code)
    if i is None:
        return None
    rec = coms.iloc[i].to_dict()
    grids = ds.layer("grids")
    mine = grids[grids["committee_code"].astype(str) == str(code)]
    attrs = grid_attributes(ds).loc[mine["code"].astype(str).values]
    if len(attrs):
        area_km2 = float(attrs["area_km2"].sum())
    else:
        area_km2 = float(_metric(ds, "committees").geometry.values[i].area) / 1e6
    totals = {
        "grids": len(mine), "population": int(attrs["population"].sum()),
        "households": int(attrs["households"].sum()), "area_km2": round(area_km2, 3),
        "facilities": int(attrs["facilities"].sum()) if len(attrs) else 0,
    }
    totals["density"] = round(totals["population"] / area_km2) if area_km2 > 0 else 0
    grid_rows = [
        _public(g, False) | {"attributes": attrs.loc[str(g["code"])].to_dict(), "geometry": g["geometry"]}
        for g in mine.to_dict("records")
    ]
    return {
        "record": _public(rec, False),
        "division": _row_by_code(ds, "divisions", rec.get("division_code")),
        "totals": totals,
        "grids": grid_rows,
        **_surroundings(ds, "committees", i, code),
    }
