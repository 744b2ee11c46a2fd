"""Rebalanced grids as layers: codes kept where a new grid mostly covers an old one, fields and re-assigned points."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.geo.schema import CODE_SCHEMES, FIELDS, PERSONAL_FIELDS, STORAGE_CRS

__all__ = ["KEEP_SHARE", "assign_codes", "grid_rows", "locate_points", "sequence_codes"]

#: Share of a new grid's area, or of an old grid's, that one old grid must cover for the new grid to keep its code.
KEEP_SHARE = 0.5


def _sequence(code: str, committee: str) -> int | None:
    """The sequence number after the committee code (``620201001001`` + ``007`` → 7), if there is one."""
    rest = code[len(committee):] if code.startswith(committee) else ""
    m = re.fullmatch(r"-?(\d+)", rest)
    return int(m.group(1)) if m else None


def assign_codes(new: list[shapely.Geometry], old_codes: list[str], old_geoms: list[shapely.Geometry],
                 committee: str, scheme: str) -> tuple[list[str], list[bool]]:
    """Codes for a committee's new grids.

    A new grid keeps an old grid's code when that old grid covers at least :data:`KEEP_SHARE` of the
    new grid or the new grid covers at least that share of the old one, largest overlaps first, each
    old code once. The others get the next numbers after the committee's highest (retired codes are
    not reused): committee code + 3 digits under ``cn-9-12-15``, committee code + ``-`` + number
    otherwise.

    Parameters
    ----------
    new : list of shapely geometries
        The new grids (lon/lat).
    old_codes, old_geoms : list
        The committee's current grids.
    committee : str
        The committee's code.
    scheme : str
        The city's code scheme.

    Returns
    -------
    tuple of (list of str, list of bool)
        A code per new grid, and whether it was kept.
    """
    codes: list[str | None] = [None] * len(new)
    pairs: list[tuple[float, int, int]] = []
    new_arr = np.asarray(new, dtype=object)
    for j, g in enumerate(old_geoms):
        if g is None:
            continue
        inter = shapely.area(shapely.intersection(new_arr, g))
        for i in np.flatnonzero(inter > 0):
            share = max(inter[i] / max(shapely.area(new_arr[i]), 1e-30), inter[i] / max(shapely.area(g), 1e-30))
            if share >= KEEP_SHARE:
                pairs.append((float(inter[i]), int(i), j))
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if codes[i] is None and j not in used:
            codes[i] = old_codes[j]
            used.add(j)
    seqs = [s for s in (_sequence(c, committee) for c in old_codes) if s is not None]
    nxt = max(seqs, default=0) + 1
    digits = scheme == "cn-9-12-15" and "grids" in CODE_SCHEMES.get(scheme, {})
    taken = set(old_codes)
    out: list[str] = []
    for c in codes:
        if c is None:
            while True:
                c = f"{committee}{nxt:03d}" if digits else f"{committee}-{nxt:03d}"
                nxt += 1
                if c not in taken:
                    break
            taken.add(c)
        out.append(c)
    return out, [c is not None for c in codes]


def sequence_codes(n: int, committee: str, scheme: str) -> list[str]:
    """Codes 001 ... n for a committee's grids in numbering order (``-001`` ... under a scheme other than cn-9-12-15)."""
    return [f"{committee}{i:03d}" if scheme == "cn-9-12-15" else f"{committee}-{i:03d}" for i in range(1, n + 1)]


def grid_rows(old: gpd.GeoDataFrame, codes: list[str], successor_of: list[str | None], geoms: list[shapely.Geometry],
              households: np.ndarray, residents: np.ndarray, committee: str, committee_name: str,
              division: str, metric_crs: str) -> gpd.GeoDataFrame:
    """A committee's new grids with every field of the grids layer.

    A new grid that succeeds an old one (``successor_of``: the old code, see :func:`assign_codes`) takes
    its staff and part-time count, and its name when it also keeps its code; other names are
    ``<committee name>第N网格`` and other staff fields empty. Households and population are the sums over
    the addresses now in them.
    """
    by_code = {str(c): k for k, c in enumerate(old["code"].astype(str))}
    rows = []
    for code, was, hh, res in zip(codes, successor_of, households, residents, strict=True):
        prev = old.iloc[by_code[was]] if was is not None and was in by_code else None
        seq = _sequence(code, committee)
        row: dict[str, object] = {
            "code": code,
            "name": str(prev["name"]) if prev is not None and was == code else f"{committee_name}第{seq}网格",
            "committee_code": committee, "division_code": division,
            "households": int(round(hh)), "population": int(round(res)),
        }
        for f in FIELDS["grids"]:
            if f.name in PERSONAL_FIELDS:
                val = prev.get(f.name) if prev is not None else None
                row[f.name] = "" if val is None or (isinstance(val, float) and np.isnan(val)) else str(val)
        pt = prev.get("parttime_count") if prev is not None else None
        row["parttime_count"] = 0 if pt is None or pd.isna(pt) else int(pt)
        rows.append(row)
    frame = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS), crs=STORAGE_CRS)
    frame["area_m2"] = np.round(frame.geometry.to_crs(metric_crs).area.to_numpy(dtype=float), 1)
    return frame[[f.name for f in FIELDS["grids"]] + ["geometry"]]


def locate_points(points: np.ndarray, geoms: list[shapely.Geometry], codes: list[str]) -> list[str]:
    """The code of the grid each point lies in (the nearest for a point in none)."""
    if not len(points):
        return []
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    out = np.full(len(points), -1, dtype=int)
    pi, gi = tree.query(points, predicate="intersects")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = gi[first]
    lost = np.flatnonzero(out < 0)
    if len(lost):
        out[lost] = tree.nearest(points[lost])
    return [codes[k] for k in out]
