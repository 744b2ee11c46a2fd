"""Grid rebalancing: new grid boundaries inside a committee so each worker has households within a band."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.errors import GridmapError
from app.geo._rebalance_layers import assign_codes, grid_rows, locate_points, sequence_codes
from app.geo._rebalance_solve import Solution, penalty, solve
from app.geo._rebalance_units import GRID_SIZE, Units, build_units
from app.geo.dataset import Dataset
from app.geo.schema import FIELDS

__all__ = [
    "DEFAULT_BAND", "CommitteePlan", "RebalanceError", "RebalanceResult", "band_text", "parse_band",
    "rebalance",
]

#: The households per urban grid commonly cited as a guideline: 300-500.
DEFAULT_BAND: tuple[int, int] = (300, 500)
#: Most households a band's upper end may name.
MAX_HOUSEHOLDS = 100000


class RebalanceError(GridmapError, ValueError):
    """A rebalancing request that cannot be answered: an unknown committee, a bad band, no addresses."""

    default_key = "rebalance"


def parse_band(raw: str | tuple[int, int] | None) -> tuple[int, int]:
    """Read a band of households per grid.

    Parameters
    ----------
    raw : str, tuple or None
        ``"300-500"`` (also ``300–500``, ``300~500``, ``300,500``), a ``(low, high)`` pair, or None
        for :data:`DEFAULT_BAND`.

    Returns
    -------
    tuple of int
        ``(low, high)`` with ``1 <= low <= high``.

    Raises
    ------
    RebalanceError
        If it is not two whole numbers low-high with low at most high.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_BAND
    if isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d{1,7})\s*(?:-|–|~|～|,|，)\s*(\d{1,7})\s*", raw)
        if not m:
            raise RebalanceError(f"households must be a band LOW-HIGH of whole numbers, e.g. 300-500, "
                                 f"got {raw[:40]!r}")
        lo, hi = int(m.group(1)), int(m.group(2))
    else:
        lo, hi = (int(v) for v in raw)
    if lo < 1 or hi > MAX_HOUSEHOLDS:
        raise RebalanceError(f"households must lie between 1 and {MAX_HOUSEHOLDS}, got {lo}-{hi}")
    if lo > hi:
        raise RebalanceError(f"households band {lo}-{hi} is empty: the low end must not exceed the high end")
    return lo, hi


def band_text(band: tuple[int, int]) -> str:
    """``(300, 500)`` → ``"300-500"``."""
    return f"{band[0]}-{band[1]}"


@dataclass
class CommitteePlan:
    """The proposal for one committee.

    Attributes
    ----------
    code, name : str
        The committee.
    units : str
        ``"blocks"`` (regions of whole road blocks: every new border is a road or the committee's
        border) or ``"cells"`` (blocks cut into address cells, where ``split`` blocks' inner borders
        do not follow roads).
    blocks, split : int
        Road blocks in the committee, and those cut into cells.
    miss : int
        Households outside the band summed over the new grids (0: all in band).
    timed_out : bool
        The solver stopped at the time limit; the proposal is the best found.
    grids : GeoDataFrame
        The new grids with every field of the grids layer (lon/lat).
    kept : list of bool
        Per new grid: it keeps an old grid's code.
    reasons : list of dict
        Why the band is missed (``code`` plus figures), empty when it is met.
    """

    code: str
    name: str
    units: str
    blocks: int
    split: int
    miss: int
    timed_out: bool
    grids: gpd.GeoDataFrame
    kept: list[bool]
    reasons: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RebalanceResult:
    """A rebalancing proposal: new grids for some committees, and the layers as they would be after it.

    Attributes
    ----------
    band : tuple of int
        Households per grid aimed at.
    scope : tuple of str
        ``("committee", code)`` or ``("division", code)``.
    plans : list of CommitteePlan
    before : GeoDataFrame
        The scope's current grids.
    grids, addresses, facilities : GeoDataFrame
        Whole layers after the proposal (addresses' and facilities' ``grid_code`` re-assigned).
    moved_addresses : int
        Addresses whose grid would change.
    seconds : float
        Time taken.
    data_version, city_name : str
    time_limit : float
    """

    band: tuple[int, int]
    scope: tuple[str, str]
    scope_name: str
    plans: list[CommitteePlan]
    before: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    moved_addresses: int
    seconds: float
    time_limit: float
    data_version: str
    city_name: str

    @property
    def after(self) -> gpd.GeoDataFrame:
        """The scope's proposed grids."""
        return pd.concat([p.grids for p in self.plans], ignore_index=True) if self.plans else self.before.iloc[:0]

    @property
    def met(self) -> bool:
        """Every proposed grid lies in the band."""
        return all(p.miss == 0 for p in self.plans)

    def reasons(self) -> list[dict[str, Any]]:
        """Every committee's reasons for missing the band (and notes on cells), in order."""
        return [r for p in self.plans for r in p.reasons]

    def _stats(self, hh: pd.Series) -> dict[str, Any]:
        lo, hi = self.band
        v = pd.to_numeric(hh, errors="coerce").fillna(0).to_numpy(dtype=float)
        if not len(v):
            return {"grids": 0, "in_band": 0, "min": None, "max": None, "mean": None, "std": None, "miss": 0}
        return {"grids": int(len(v)), "in_band": int(((v >= lo) & (v <= hi)).sum()),
                "min": int(v.min()), "max": int(v.max()), "mean": round(float(v.mean()), 1),
                "std": round(float(v.std(ddof=0)), 1),
                "miss": int(sum(penalty(x, lo, hi) for x in v))}

    def compactness(self, grids: gpd.GeoDataFrame) -> float | None:
        """Mean isoperimetric quotient 4πA/P² of grids (1 for a circle, 0.785 for a square), in the metric CRS."""
        if not len(grids):
            return None
        from app.geo.schema import metric_crs_for

        metric = gpd.GeoSeries(grids.geometry.values, crs="EPSG:4326").to_crs(
            metric_crs_for(tuple(self.before.total_bounds)))
        area, perimeter = metric.area.to_numpy(dtype=float), metric.length.to_numpy(dtype=float)
        return round(float(np.mean(4 * math.pi * area / np.maximum(perimeter, 1e-9) ** 2)), 3)

    def summary(self) -> dict[str, Any]:
        """Before/after figures: grids, grids in band, min/max/mean/std households, households outside the band."""
        return {
            "band": list(self.band), "scope": list(self.scope), "scope_name": self.scope_name,
            "committees": len(self.plans), "before": self._stats(self.before["households"]),
            "after": self._stats(self.after["households"]), "met": self.met,
            "compactness": {"before": self.compactness(self.before), "after": self.compactness(self.after)},
            "moved_addresses": self.moved_addresses,
            "addresses": self._scope_addresses(),
            "timed_out": any(p.timed_out for p in self.plans), "seconds": round(self.seconds, 2),
            "time_limit": self.time_limit, "data_version": self.data_version,
            "units": sorted({p.units for p in self.plans}),
        }

    def _scope_addresses(self) -> int:
        codes = set(self.after["code"].astype(str))
        return int(self.addresses["grid_code"].astype(str).isin(codes).sum())

    def table(self) -> pd.DataFrame:
        """One row per grid code, before and after: households, residents, in band; codes only one side has are blank there."""
        lo, hi = self.band

        def side(df: pd.DataFrame, tag: str) -> pd.DataFrame:
            out = pd.DataFrame({"code": df["code"].astype(str), "committee_code": df["committee_code"].astype(str),
                                f"name_{tag}": df["name"].astype(str),
                                f"households_{tag}": df["households"].astype(int),
                                f"residents_{tag}": df["population"].astype(int)})
            out[f"in_band_{tag}"] = out[f"households_{tag}"].between(lo, hi)
            return out

        t = side(self.before, "before").merge(side(self.after, "after"), on=["code", "committee_code"], how="outer")
        t["name"] = t["name_after"].fillna(t["name_before"])
        t["miss_after"] = [None if pd.isna(h) else int(penalty(float(h), lo, hi)) for h in t["households_after"]]
        cols = ["code", "name", "committee_code", "households_before", "residents_before", "in_band_before",
                "households_after", "residents_after", "in_band_after", "miss_after"]
        t = t.sort_values("code", kind="stable").reset_index(drop=True)[cols]
        for c in ("households_before", "residents_before", "households_after", "residents_after", "miss_after"):
            t[c] = t[c].astype("Int64")
        for c in ("in_band_before", "in_band_after"):
            t[c] = t[c].astype("boolean")
        return t

    def records(self) -> list[dict[str, Any]]:
        """:meth:`table` as JSON-ready rows (blank cells as None)."""
        t = self.table().astype(object)
        return [{k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else
                     (int(v) if isinstance(v, (np.integer,)) else bool(v) if isinstance(v, np.bool_) else v))
                 for k, v in row.items()} for row in t.to_dict("records")]

    def to_dict(self) -> dict[str, Any]:
        """The proposal as JSON: summary, per-committee outcome and reasons, and the table."""
        return {
            "summary": self.summary(),
            "committees": [{"code": p.code, "name": p.name, "units": p.units, "blocks": p.blocks,
                            "split_blocks": p.split, "grids": len(p.grids), "miss": p.miss,
                            "timed_out": p.timed_out, "reasons": p.reasons} for p in self.plans],
            "rows": self.records(),
        }

    def map_json(self) -> dict[str, Any]:
        """The scope's grids before and after as GeoJSON FeatureCollections (lon/lat), with households and band."""
        lo, hi = self.band

        def fc(df: gpd.GeoDataFrame) -> dict[str, Any]:
            feats = []
            for code, name, hh, pop, geom in zip(df["code"], df["name"], df["households"], df["population"],
                                                 df.geometry.values, strict=True):
                feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                              "properties": {"code": str(code), "name": str(name), "households": int(hh),
                                             "residents": int(pop), "in_band": bool(lo <= int(hh) <= hi)}})
            return {"type": "FeatureCollection", "features": feats}

        return {"before": fc(self.before), "after": fc(self.after)}


def _scope(ds: Dataset, committee: str | None, division: str | None) -> tuple[tuple[str, str], str, list[str]]:
    """The scope and its committees' codes, refusing unknown codes."""
    com = ds.layer("committees")
    codes = com["code"].astype(str)
    if bool(committee) == bool(division):
        raise RebalanceError("give one committee code or one division code")
    if committee:
        committee = str(committee).strip()
        if committee not in set(codes):
            raise RebalanceError(f"unknown committee {committee[:40]!r}", status=404)
        return ("committee", committee), str(com.loc[codes == committee, "name"].iloc[0]), [committee]
    division = str(division).strip()
    div = ds.layer("divisions")
    dcodes = div["code"].astype(str)
    if division not in set(dcodes):
        raise RebalanceError(f"unknown division {division[:40]!r}", status=404)
    mine = sorted(codes[com["division_code"].astype(str) == division])
    if not mine:
        raise RebalanceError(f"division {division} has no committees")
    return ("division", division), str(div.loc[dcodes == division, "name"].iloc[0]), mine


def _plan(ds: Dataset, code: str, band: tuple[int, int], budget: float, addr: gpd.GeoDataFrame,
          roads: np.ndarray, renumber: bool = False) -> CommitteePlan:
    """Rebalance one committee: whole road blocks first, address cells when blocks cannot meet the band."""
    lo, hi = band
    com = ds.layer("committees")
    row = com[com["code"].astype(str) == code].iloc[0]
    area = row.geometry
    grids = ds.grids
    old = grids[grids["committee_code"].astype(str) == code]
    mine = addr[addr["_committee"] == code]
    if mine.empty or float(mine["households"].sum()) <= 0:
        raise RebalanceError(f"committee {code} has no addresses with households to rebalance")
    pts = np.asarray(mine.geometry.values, dtype=object)
    hh = mine["households"].to_numpy(dtype=float)
    res = mine["residents"].to_numpy(dtype=float)
    start = time.monotonic()
    best: tuple[Units, Any, str] | None = None
    for units_kind in ("blocks", "cells"):
        left = budget - (time.monotonic() - start)
        if best is not None and (best[1].miss == 0 or left <= 0.2):
            break
        units = build_units(area, roads, pts, hh, res, ds.metric_crs, hi, fine=units_kind == "cells")
        sol = solve(units.households, units.neighbours, units.xy, lo, hi, max(left, 0.1))
        if best is None or sol.miss < best[1].miss:
            best = (units, sol, units_kind)
    assert best is not None
    units, sol, units_kind = best
    k = int(sol.labels.max()) + 1
    geoms = [_clean(shapely.union_all(units.geoms[sol.labels == r])) for r in range(k)]
    geoms = [geoms[i] for i in _reading_order(geoms, ds.metric_crs)]
    codes, kept = assign_codes(geoms, old["code"].astype(str).tolist(), list(old.geometry.values), code,
                               ds.city.code_scheme)
    successor_of: list[str | None] = [c if k else None for c, k in zip(codes, kept, strict=True)]
    if renumber:
        codes = sequence_codes(len(geoms), code, ds.city.code_scheme)
        kept = [c == s for c, s in zip(codes, successor_of, strict=True)]
    # each address goes to the new grid its point lies in, so grid_code and the sums agree with the geometry
    address_codes = locate_points(pts, geoms, codes)
    sums = pd.DataFrame({"code": address_codes, "hh": hh, "res": res}).groupby("code").sum()
    h_new = sums["hh"].reindex(codes, fill_value=0).to_numpy(dtype=float)
    r_new = sums["res"].reindex(codes, fill_value=0).to_numpy(dtype=float)
    frame = grid_rows(old, codes, successor_of, geoms, h_new, r_new, code, str(row["name"]), str(row["division_code"]),
                      ds.metric_crs)
    frame.attrs["address_codes"] = address_codes
    miss = int(round(sum(penalty(float(v), lo, hi) for v in h_new)))
    sol = Solution(sol.labels, miss, sol.timed_out, sol.seeded)
    reasons = _reasons(code, str(row["name"]), band, sol, units, hh, h_new)
    if units_kind == "cells" and units.split:
        reasons.append({"code": "cells", "committee": code, "name": str(row["name"]), "split": units.split,
                        "blocks": units.blocks})
    return CommitteePlan(code, str(row["name"]), units_kind, units.blocks, units.split, miss, sol.timed_out,
                         frame, kept, reasons)


def _clean(geom: shapely.Geometry) -> shapely.Geometry:
    """A region's polygon snapped to the stored precision and valid."""
    geom = shapely.set_precision(geom, GRID_SIZE)
    return geom if shapely.is_valid(geom) else shapely.make_valid(geom)


def _reading_order(geoms: list[shapely.Geometry], metric_crs: str) -> list[int]:
    """New grids in the numbering order of :func:`~app.geo._validate_areas.sequence_order`."""
    from app.geo._validate_areas import sequence_order

    metric = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(metric_crs)
    return sequence_order(list(metric.values), shapely.union_all(metric.values))


def _reasons(code: str, name: str, band: tuple[int, int], sol: Any, units: Units, hh: np.ndarray,
             h_new: np.ndarray) -> list[dict[str, Any]]:
    """Why a committee's proposal misses the band, as codes with figures."""
    lo, hi = band
    if sol.miss == 0:
        return []
    out: list[dict[str, Any]] = []
    base = {"committee": code, "name": name, "miss": int(sol.miss)}
    total = int(round(hh.sum()))
    if total < lo:
        out.append({"code": "below_floor", **base, "households": total, "floor": lo})
    if len(hh) and hh.max() > hi:
        out.append({"code": "address_over_cap", **base, "households": int(hh.max()), "cap": hi})
    if total >= lo and math.floor(total / lo) < math.ceil(total / hi):
        out.append({"code": "no_count", **base, "households": total})
    if sol.timed_out:
        out.append({"code": "time_limit", **base})
    if not out:
        out.append({"code": "no_fit", **base})
    return out


def rebalance(ds: Dataset, committee: str | None = None, division: str | None = None,
              band: tuple[int, int] | str | None = None, time_limit: float = 30.0,
              renumber: bool = False) -> RebalanceResult:
    """Propose new grids for one committee, or for each committee of a division.

    Each committee is cut along its roads into blocks that get the households of the addresses in
    them; contiguous groups of blocks whose households lie within ``band`` become the new grids
    (:func:`~app.geo._rebalance_solve.solve`). When whole blocks cannot meet the band, blocks are cut
    further into address cells, whose inner borders do not follow roads; the reasons say so. New
    grids never cross the committee's border.

    Parameters
    ----------
    ds : Dataset
        The data version.
    committee, division : str, optional
        Exactly one: a committee code, or a division code (each of its committees on its own).
    band : tuple, str or None
        Households per grid, e.g. ``"300-500"`` (see :func:`parse_band`).
    time_limit : float
        Seconds the solver may take over the whole scope (the ``OPTIMISE_TIME_LIMIT`` setting).
    renumber : bool
        Number each committee's new grids 001, 002 ... west→east, north→south (the rule validation
        checks) instead of keeping the code of the old grid a new one mostly covers; staff still
        follow that old grid.

    Returns
    -------
    RebalanceResult

    Raises
    ------
    RebalanceError
        Unknown committee or division (404), a bad band, or a committee without addresses (400).
    """
    started = time.monotonic()
    band = parse_band(band)
    scope, scope_name, committees = _scope(ds, committee, division)
    grids = ds.grids
    addr = ds.layer("addresses").copy()
    grid_com = dict(zip(grids["code"].astype(str), grids["committee_code"].astype(str), strict=True))
    addr["_committee"] = addr["grid_code"].astype(str).map(grid_com)
    for col in ("households", "residents"):
        addr[col] = pd.to_numeric(addr[col], errors="coerce").fillna(0)
    roads_layer = ds.layer("roads")
    roads = np.asarray(roads_layer.geometry.values, dtype=object) if len(roads_layer) else np.zeros(0, object)
    plans: list[CommitteePlan] = []
    for k, code in enumerate(committees):
        left = time_limit - (time.monotonic() - started)
        share = max(left / (len(committees) - k), 0.5)
        plans.append(_plan(ds, code, band, share, addr, roads, renumber))
    in_scope = grids["committee_code"].astype(str).isin(committees)
    new_grids = pd.concat([grids[~in_scope], *[p.grids for p in plans]], ignore_index=True)
    new_grids = new_grids.sort_values("code", kind="stable").reset_index(drop=True)
    new_grids = gpd.GeoDataFrame(new_grids, geometry="geometry", crs=grids.crs)
    addresses = ds.layer("addresses").copy()
    before_codes = addresses["grid_code"].astype(str).copy()
    for p in plans:
        mask = (addr["_committee"] == p.code).to_numpy()
        addresses.loc[mask, "grid_code"] = p.grids.attrs["address_codes"]
    moved = int((addresses["grid_code"].astype(str) != before_codes).sum())
    facilities = ds.layer("facilities").copy()
    if len(facilities):
        fac_com = facilities["grid_code"].astype(str).map(grid_com)
        for p in plans:
            mask = (fac_com == p.code).to_numpy()
            if mask.any():
                pts = np.asarray(facilities.geometry.values, dtype=object)[mask]
                facilities.loc[mask, "grid_code"] = locate_points(pts, list(p.grids.geometry.values),
                                                                  p.grids["code"].astype(str).tolist())
    keep_cols = [f.name for f in FIELDS["grids"]] + ["geometry"]
    before = grids[in_scope][[c for c in keep_cols if c in grids.columns]].reset_index(drop=True)
    return RebalanceResult(band, scope, scope_name, plans, before, new_grids, addresses, facilities, moved,
                           time.monotonic() - started, float(time_limit), str(ds.version), ds.city.name)
