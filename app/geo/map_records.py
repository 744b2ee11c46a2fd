"""What the tiled home map fetches beside its tiles: one grid's popup record, and where the road labels go."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.geo._map_classes import ATTRIBUTES, grid_attributes
from app.geo._map_details import esc, staff_public
from app.geo._map_topology import check_datum, shift_geometries
from app.geo.dataset import Dataset
from app.geo.tiles import to_mercator


def grid_record(ds: Dataset, code: str, show_personal: bool = False) -> dict[str, Any] | None:
    """Return what a grid's popup on the home map shows, by grid code; None when no grid has it.

    Parameters
    ----------
    ds : Dataset
        The data version.
    code : str
        The grid's code.
    show_personal : bool
        Include staff names and phones (signed-in staff only).

    Returns
    -------
    dict or None
        ``code``, ``name``, the :data:`ATTRIBUTES` values, ``area_km2``, staff counts, ``parttime``,
        ``committee`` and ``division`` (``{"code", "name"}`` or None) and ``personal`` (or None);
        text HTML-escaped as in the home payload.
    """
    row = ds.grid_row(code)
    if row is None:
        return None
    grids = ds.layer("grids")
    rec = grids.iloc[row]
    attrs = grid_attributes(ds).iloc[row]

    def named(layer: str, key: Any) -> dict[str, str] | None:
        gdf = ds.layer(layer)
        hit = gdf.index[gdf["code"].astype(str) == str(key)]
        if key is None or len(hit) == 0:
            return None
        r = gdf.loc[hit[0]]
        return {"code": esc(r["code"]), "name": esc(r.get("name", ""))}

    def filled(role: str) -> int:
        v = rec.get(f"{role}_name")
        return int(isinstance(v, str) and v.strip() != "")

    out: dict[str, Any] = {"code": esc(rec["code"]), "name": esc(rec.get("name", "")),
                           "committee": named("committees", rec.get("committee_code")),
                           "division": named("divisions", rec.get("division_code")),
                           "area_km2": round(float(attrs["area_km2"]), 3),
                           "parttime": int(rec.get("parttime_count") or 0) if "parttime_count" in grids else 0,
                           "leaders": filled("leader"), "workers": filled("worker"),
                           "instructors": filled("instructor"), "personal": None}
    for k in ATTRIBUTES:
        v = float(attrs[k])
        out[k] = int(v) if v.is_integer() else round(v, 3)
    if show_personal:
        out["personal"] = staff_public(rec.to_dict(), True)
    return out


def road_labels(ds: Dataset, datum: str = "wgs84") -> list[list[Any]]:
    """Return where each named road's label goes: ``[name, lon, lat, angle, kind]``, one per road (cached).

    The label sits halfway along the road's longest part, turned along it (degrees clockwise
    from east, kept within ±90 so text is never upside down). Names are HTML-escaped.

    Parameters
    ----------
    ds : Dataset
        The data version; an empty list when it has no roads layer.
    datum : str
        ``wgs84`` or ``gcj02``.

    Returns
    -------
    list of list
        One row per named road.
    """
    check_datum(datum)

    def build() -> list[list[Any]]:
        if "roads" not in ds.store.layer_names():
            return []
        roads = ds.layer("roads")
        if len(roads) == 0 or "name" not in roads:
            return []
        geoms = shift_geometries(np.asarray(roads.geometry.values, dtype=object), datum)
        merc = to_mercator(geoms)
        kinds = roads["kind"].astype(str).tolist() if "kind" in roads else [""] * len(roads)
        out: list[list[Any]] = []
        for name, g, m, kind in zip(roads["name"].tolist(), geoms, merc, kinds, strict=True):
            if not isinstance(name, str) or not name.strip() or g is None or g.is_empty:
                continue
            parts = list(getattr(g, "geoms", [g]))
            mparts = list(getattr(m, "geoms", [m]))
            k = int(np.argmax([p.length for p in mparts]))
            line, mline = parts[k], mparts[k]
            mid = line.interpolate(0.5, normalized=True)
            a = mline.interpolate(0.45, normalized=True)
            b = mline.interpolate(0.55, normalized=True)
            angle = -math.degrees(math.atan2(b.y - a.y, b.x - a.x))
            if angle > 90:
                angle -= 180
            elif angle < -90:
                angle += 180
            out.append([esc(name), round(mid.x, 6), round(mid.y, 6), round(angle, 1), esc(kind)])
        return out

    return ds.cached(f"tiles.road_labels.{datum}", build)
