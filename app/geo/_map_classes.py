"""Choropleth of the map: the attributes it can show, per-grid values, class breaks and colours."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.geo._shared_text import shared_list
from app.geo.dataset import Dataset
from app.geo.schema import CATEGORIES

#: Number of classes of the choropleth.
N_CLASSES = 5
#: Sequential palette for the choropleth, light to dark (one colour per class).
PALETTE: tuple[str, ...] = ("#fff5d6", "#fdd08a", "#f99d59", "#e0603a", "#a8261f")


@dataclass(frozen=True)
class Attribute:
    """A grid attribute the choropleth can show."""

    key: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str


#: Choropleth attributes: population, households, density, total facilities and per-category counts.
ATTRIBUTES: dict[str, Attribute] = {
    a.key: a
    for a in (
        Attribute("population", "人口", "Population", "人", "people"),
        Attribute("households", "户数", "Households", "户", "households"),
        Attribute("density", "人口密度", "Population density", "人/km²", "people/km²"),
        Attribute("facilities", "设施总数", "Facilities", "处", "sites"),
        *(Attribute(f"fac_{c.key}", f"{c.zh}数量", f"{c.en} count", "处", "sites") for c in CATEGORIES.values()),
    )
}


def facility_counts(ds: Dataset) -> pd.DataFrame:
    """Return facility counts per grid: one column per category plus ``facilities`` (the total).

    Parameters
    ----------
    ds : Dataset
        The data version. A facility counts in the grid its ``grid_code`` names; facilities of
        unknown grids or categories are not counted.

    Returns
    -------
    DataFrame
        Indexed by grid code, columns ``fac_<category>`` and ``facilities``; zero where none.
    """

    def build() -> pd.DataFrame:
        codes = shared_list(ds.layer("grids")["code"].astype(str).tolist())
        fac = ds.layer("facilities")
        row_of = {c: i for i, c in enumerate(codes)}
        col_of = {c: j for j, c in enumerate(CATEGORIES)}
        counts = np.zeros((len(codes), len(CATEGORIES)), dtype=np.int64)
        rows = np.array([row_of.get(str(g), -1) for g in fac["grid_code"].tolist()], dtype=np.int64)
        cols = np.array([col_of.get(str(c), -1) for c in fac["category"].tolist()], dtype=np.int64)
        ok = (rows >= 0) & (cols >= 0)
        np.add.at(counts, (rows[ok], cols[ok]), 1)
        # an object index of the shared code strings: an Arrow-backed one made a str object per grid again on each join
        table = pd.DataFrame(counts, index=pd.Index(codes, dtype=object), columns=[f"fac_{c}" for c in CATEGORIES])
        table["facilities"] = counts.sum(axis=1)
        return table

    return ds.cached("mapdata.facility_counts", build)


def grid_attributes(ds: Dataset) -> pd.DataFrame:
    """Return every choropleth attribute of every grid, indexed by grid code.

    Parameters
    ----------
    ds : Dataset
        The data version: its grid layer and :func:`facility_counts`.

    Returns
    -------
    DataFrame
        Columns are the keys of :data:`ATTRIBUTES`, plus ``area_km2``.
    """

    def build() -> pd.DataFrame:
        grids = ds.layer("grids")
        df = pd.DataFrame(index=pd.Index(shared_list(grids["code"].astype(str).tolist()), dtype=object))
        df["population"] = grids["population"].fillna(0).astype(int).values
        df["households"] = grids["households"].fillna(0).astype(int).values
        area_km2 = grids["area_m2"].astype(float).values / 1e6
        df["area_km2"] = area_km2
        with np.errstate(divide="ignore", invalid="ignore"):
            dens = np.where(area_km2 > 0, df["population"].values / area_km2, 0.0)
        df["density"] = np.round(dens, 0)
        df = df.join(facility_counts(ds))
        return df

    return ds.cached("mapdata.grid_attributes", build)


def classify(values: np.ndarray | list[float], k: int = N_CLASSES) -> list[float]:
    """Return class breaks for a choropleth: quantiles rounded to readable numbers.

    Parameters
    ----------
    values : array-like of float
        The attribute values.
    k : int
        Wanted number of classes; fewer are returned when values have fewer distinct levels.

    Returns
    -------
    list of float
        Ascending breaks ``[b0, b1, ..., bn]``; class i holds ``b_i <= v < b_{i+1}`` (the last is closed).
        ``b0`` is the minimum and ``bn`` the maximum.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return [0.0, 0.0]
    lo, hi = float(arr.min()), float(arr.max())
    uniq = np.unique(arr)
    if uniq.size <= k:
        return [float(v) for v in uniq] + [hi] if uniq.size > 1 else [lo, hi]
    qs = np.quantile(arr, np.linspace(0, 1, k + 1)[1:-1])
    inner = sorted({_round_break(q) for q in qs if lo < _round_break(q) <= hi})
    return [lo, *inner, hi]


def _round_break(q: float) -> float:
    if q <= 0:
        return 0.0
    mag = 10 ** max(math.floor(math.log10(q)) - 1, 0)
    return float(round(q / mag) * mag)


def classes(ds: Dataset) -> dict[str, dict[str, list]]:
    """Return choropleth breaks and colours for every attribute.

    Parameters
    ----------
    ds : Dataset
        The data version.

    Returns
    -------
    dict
        ``{attribute: {"breaks": [...], "colors": [...]}}`` with one colour per class.
    """

    def build() -> dict[str, dict[str, list]]:
        attrs = grid_attributes(ds)
        out = {}
        for key in ATTRIBUTES:
            breaks = classify(attrs[key].values)
            n = max(len(breaks) - 1, 1)
            idx = np.linspace(0, len(PALETTE) - 1, n).round().astype(int) if n > 1 else [len(PALETTE) // 2]
            discrete = len(np.unique(attrs[key].values)) <= N_CLASSES
            out[key] = {"breaks": breaks, "colors": [PALETTE[i] for i in idx], "discrete": discrete}
        return out

    return ds.cached("mapdata.classes", build)
