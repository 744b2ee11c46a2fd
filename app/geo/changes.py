"""What a new data version changed: grids added, removed and reshaped, and counts per layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from app.geo.schema import LAYERS

if TYPE_CHECKING:
    from app.geo.store import ReadStore


def grid_changes(old: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame | None) -> dict[str, list[str]]:
    """Compare two grid layers by code: which grids were added, removed and reshaped.

    Parameters
    ----------
    old, new : geopandas.GeoDataFrame or None
        The grid layers before and after (None when absent).

    Returns
    -------
    dict
        ``{"added": [...], "removed": [...], "reshaped": [...]}``, codes sorted.
    """
    def by_code(gdf: gpd.GeoDataFrame | None) -> dict[str, Any]:
        if gdf is None or "code" not in gdf.columns:
            return {}
        return dict(zip(gdf["code"].astype(str), gdf.geometry.values, strict=True))

    a, b = by_code(old), by_code(new)
    common = sorted(set(a) & set(b))
    reshaped = []
    for code in common:
        ga, gb = a[code], b[code]
        if ga is None or gb is None:
            if (ga is None) != (gb is None):
                reshaped.append(code)
            continue
        if not shapely.equals_exact(shapely.normalize(ga), shapely.normalize(gb), tolerance=5e-7):
            reshaped.append(code)
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)), "reshaped": reshaped}


def summarise(old: ReadStore | None, new_layers: dict[str, gpd.GeoDataFrame], new_counts: dict[str, int]) -> dict[str, Any]:
    """Summarise a change: grids added/removed/reshaped and feature counts before and after per layer.

    Parameters
    ----------
    old : ReadStore or None
        The version being replaced (None for the first version).
    new_layers : dict
        Layers that were replaced, as GeoDataFrames.
    new_counts : dict
        Feature counts of every layer in the new version.

    Returns
    -------
    dict
        ``{"layers": {name: {"before": n, "after": m}}, "grids": {"added": [...], ...}}``.
    """
    old_counts: dict[str, int] = dict(old.info().counts) if old is not None else {}
    out: dict[str, Any] = {"layers": {}}
    for name in LAYERS:
        before, after = old_counts.get(name), new_counts.get(name)
        if name in new_layers or before != after:
            out["layers"][name] = {"before": before, "after": after}
    if "grids" in new_layers:
        old_grids = None
        if old is not None and "grids" in old.layer_names():
            old_grids = old.read("grids")
        out["grids"] = grid_changes(old_grids, new_layers["grids"])
    return out


def format_summary(summary: dict[str, Any], limit: int = 8) -> str:
    """Return a one-line human summary of a change summary dict.

    Parameters
    ----------
    summary : dict
        As made by :func:`summarise`.
    limit : int
        How many codes to name per kind before "…".

    Returns
    -------
    str
        E.g. ``grids: +3 added, -1 removed, 2 reshaped (620201001001004, …)``.
    """
    parts = []
    grids = summary.get("grids")
    if grids:
        bits = []
        for kind in ("added", "removed", "reshaped"):
            codes = grids.get(kind, [])
            shown = ", ".join(codes[:limit]) + (", …" if len(codes) > limit else "")
            bits.append(f"{len(codes)} {kind}" + (f" ({shown})" if codes else ""))
        parts.append("grids: " + "; ".join(bits))
    for name, c in summary.get("layers", {}).items():
        if name == "grids" and grids:
            continue
        parts.append(f"{name}: {c.get('before')} → {c.get('after')}")
    return " | ".join(parts) if parts else "no change"
