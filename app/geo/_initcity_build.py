"""init-city's derivations: committees and divisions from grid attributes, codes and schemes, sums, categories, addresses."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo._import_base import _as_code, _safe_text
from app.geo.findings import Report
from app.geo.schema import CATEGORIES, STORAGE_CRS
from app.geo.validate import sequence_order

_DIGITS = {9: re.compile(r"^[0-9]{9}$"), 12: re.compile(r"^[0-9]{12}$"), 15: re.compile(r"^[0-9]{15}$")}
#: Words that make a committee a village (村委会) rather than an urban community (社区居委会).
VILLAGE_ENDINGS: tuple[str, ...] = ("村", "村委会", "村民委员会", "村委", "嘎查")
#: Words that make a division a town (镇, 乡) rather than a sub-district (街道).
TOWN_ENDINGS: tuple[str, ...] = ("镇", "乡", "苏木", "民族乡")


def _text(value: Any) -> str | None:
    """A cell as stripped text, or None when blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = _as_code(value) if isinstance(value, int | float | np.generic) else str(value).strip()
    return text or None


def division_kind(name: str) -> str:
    """``town`` for a name ending in 镇/乡, else ``subdistrict``."""
    return "town" if name.endswith(TOWN_ENDINGS) else "subdistrict"


def committee_kind(name: str) -> str:
    """``village`` for a name ending in 村 (村委会 …), else ``community``."""
    return "village" if name.endswith(VILLAGE_ENDINGS) else "community"


@dataclass
class Hierarchy:
    """Divisions and committees found in a grid file's attributes, and which of them each grid belongs to.

    Attributes
    ----------
    divisions : list of dict
        ``code``, ``name``, ``kind``, in code order.
    committees : list of dict
        ``code``, ``name``, ``kind``, ``division_code``, in code order.
    grid_committee, grid_division : list of str
        Per grid row, its committee and division code.
    scheme : str
        ``cn-9-12-15`` when the grid codes follow it (15 digits whose first 12 are their committee's
        code), else ``free``.
    generated : list of str
        Which codes were generated (``divisions``, ``committees``).
    """

    divisions: list[dict[str, Any]] = field(default_factory=list)
    committees: list[dict[str, Any]] = field(default_factory=list)
    grid_committee: list[str] = field(default_factory=list)
    grid_division: list[str] = field(default_factory=list)
    scheme: str = "free"
    generated: list[str] = field(default_factory=list)


def _cn_codes(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]] | None:
    """The committee and division codes of each grid under cn-9-12-15, or None when the grid codes do not fit it."""
    codes = [r.get("code") for r in rows]
    if not codes or not all(c and _DIGITS[15].match(c) for c in codes):
        return None
    com, div = [], []
    by_group: dict[tuple[Any, Any], set[str]] = defaultdict(set)
    for r, c in zip(rows, codes, strict=True):
        cc = r.get("committee_code") or c[:12]
        dc = r.get("division_code") or cc[:9]
        if not (_DIGITS[12].match(cc) and c.startswith(cc) and _DIGITS[9].match(dc) and cc.startswith(dc)):
            return None
        if r.get("committee_name"):
            by_group[(r.get("division_name"), r["committee_name"])].add(cc)
        com.append(cc)
        div.append(dc)
    if any(len(v) > 1 for v in by_group.values()):
        return None  # one committee name, several code prefixes: the codes do not say the committees
    owners: dict[str, set[Any]] = defaultdict(set)
    for key, prefixes in by_group.items():
        for p in prefixes:
            owners[p].add(key)
    if any(len(v) > 1 for v in owners.values()):
        return None  # two committees share a prefix
    return com, div


def _width(n: int) -> int:
    return max(2, len(str(n)))


def derive_hierarchy(rows: Sequence[dict[str, Any]], labels: Sequence[str], report: Report,
                     city_name: str = "") -> Hierarchy | None:
    """Find the divisions and committees the grids name, giving them codes where the file has none.

    Parameters
    ----------
    rows : sequence of dict
        One per grid: ``code``, ``committee_code``, ``committee_name``, ``division_code``,
        ``division_name`` (None where the file has no such value).
    labels : sequence of str
        The grids' labels, for findings.
    report : Report
        Where problems go (the grid file's report).
    city_name : str
        The division's name when the grids name none.

    Returns
    -------
    Hierarchy or None
        None when the grids name no committee (by name or code): an error is in ``report``.

    Notes
    -----
    Under ``cn-9-12-15`` (all grid codes 15 digits, each group of grids of one committee sharing
    its first 12 digits) the committee code is the grid code's first 12 digits and the division
    code its first 9. Otherwise codes the file gives are kept; missing ones are generated from the
    names in sorted order: divisions ``D01``, ``D02`` …, committees ``D01-C01`` … within their
    division.
    """
    h = Hierarchy()
    clean = [{k: _text(r.get(k)) for k in ("code", "committee_code", "committee_name", "division_code",
                                           "division_name")} for r in rows]
    missing = [i for i, r in enumerate(clean) if not r["committee_code"] and not r["committee_name"]]
    cn = _cn_codes(clean)
    if missing and cn is None:
        for i in missing[:20]:
            report.error("missing_value", "the grid names no committee (社区/村): give a committee name or code "
                         "column, or a committees layer", feature=labels[i], field="committee_name")
        if len(missing) > 20:
            report.error("missing_value", f"… and {len(missing) - 20} more grids name no committee",
                         field="committee_name")
        return None
    if cn is not None:
        h.scheme = "cn-9-12-15"
        for r, cc, dc in zip(clean, *cn, strict=True):
            r["committee_code"], r["division_code"] = cc, dc
    # divisions
    div_names: dict[str, str] = {}
    if any(r["division_code"] for r in clean):
        for r in clean:
            dc = r["division_code"] or ""
            if not dc:
                continue
            div_names.setdefault(dc, r["division_name"] or dc)
    else:
        names = sorted({r["division_name"] or city_name or "全市" for r in clean})
        w = _width(len(names))
        code_of = {n: f"D{k:0{w}d}" for k, n in enumerate(names, start=1)}
        for r in clean:
            r["division_code"] = code_of[r["division_name"] or city_name or "全市"]
        div_names = {c: n for n, c in code_of.items()}
        h.generated.append("divisions")
        if not any(r["division_name"] for r in clean):
            report.warning("derived_layer", f"the grids name no division (街道/镇); all committees are put in one "
                           f"division {_safe_text(names[0], 40)!r}", field="division_name")
    for r in clean:
        if not r["division_code"]:
            r["division_code"] = next(iter(div_names))
    # committees
    com_info: dict[str, tuple[str, str]] = {}
    if all(r["committee_code"] for r in clean):
        for r, lab in zip(clean, labels, strict=True):
            name = r["committee_name"] or r["committee_code"]
            prev = com_info.setdefault(r["committee_code"], (name, r["division_code"]))
            if prev[1] != r["division_code"]:
                report.error("bad_value", f"committee {_safe_text(r['committee_code'], 40)} lies in "
                             f"division {prev[1]} and in {r['division_code']}", feature=lab, field="division_code")
    else:
        groups: dict[str, set[str]] = defaultdict(set)
        for r in clean:
            groups[r["division_code"]].add(r["committee_name"] or r["committee_code"] or "")
        code_of_com: dict[tuple[str, str], str] = {}
        for dc, names in groups.items():
            w = _width(len(names))
            for k, n in enumerate(sorted(names), start=1):
                code_of_com[(dc, n)] = f"{dc}-C{k:0{w}d}"
        for r in clean:
            key = (r["division_code"], r["committee_name"] or r["committee_code"] or "")
            r["committee_code"] = code_of_com[key]
            com_info.setdefault(r["committee_code"], (key[1], r["division_code"]))
        h.generated.append("committees")
    h.divisions = [{"code": c, "name": n, "kind": division_kind(n)} for c, n in sorted(div_names.items())]
    h.committees = [{"code": c, "name": n, "kind": committee_kind(n), "division_code": d}
                    for c, (n, d) in sorted(com_info.items())]
    h.grid_committee = [r["committee_code"] for r in clean]
    h.grid_division = [r["division_code"] for r in clean]
    return h


def generate_grid_codes(committee_codes: Sequence[str], geoms: Sequence[BaseGeometry | None]) -> list[str]:
    """Number each committee's grids ``<committee>-G001`` … west to east, then north to south.

    Parameters
    ----------
    committee_codes : sequence of str
        Each grid's committee code.
    geoms : sequence of shapely geometries
        The grids in any CRS whose x grows east and y north (the file's own).

    Returns
    -------
    list of str
        One code per grid, ordered as :func:`app.geo.validate.sequence_order` numbers them.
    """
    out = [""] * len(committee_codes)
    members: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(committee_codes):
        members[c].append(i)
    for c, idx in members.items():
        gs = [geoms[i] if geoms[i] is not None else shapely.Point(0, 0) for i in idx]
        whole = shapely.union_all(np.asarray(gs, dtype=object))
        w = max(3, len(str(len(idx))))
        for seq, k in enumerate(sequence_order(gs, whole), start=1):
            out[idx[k]] = f"{c}-G{seq:0{w}d}"
    return out


def dissolve(grids: gpd.GeoDataFrame, key: str, attrs: Sequence[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Union the grids of each ``key`` value into one area with the attributes of ``attrs`` (matched on ``code``).

    The union snaps to the stored precision (1e-6°), so grids that share edges merge without slivers.

    Parameters
    ----------
    grids : GeoDataFrame
        The checked grids (EPSG:4326) with the column ``key``.
    key : str
        ``committee_code`` or ``division_code``.
    attrs : sequence of dict
        One per area, with its ``code`` and other fields.

    Returns
    -------
    GeoDataFrame
        One row per area of ``attrs`` that has grids, in the order of ``attrs``.
    """
    geoms = np.asarray(grids.geometry.values, dtype=object)
    codes = grids[key].map(_as_code).to_numpy()
    rows, shapes = [], []
    for a in attrs:
        mine = geoms[codes == a["code"]]
        if not len(mine):
            continue
        shapes.append(shapely.union_all(mine, grid_size=1e-6))
        rows.append(dict(a))
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=shapes, crs=STORAGE_CRS)


def sum_up(child: gpd.GeoDataFrame, key: str, parent: gpd.GeoDataFrame,
           columns: Sequence[str] = ("population", "households")) -> gpd.GeoDataFrame:
    """Return ``parent`` with ``population``/``households`` set to the sums over its children.

    Parameters
    ----------
    child : GeoDataFrame
        Grids (or committees) with ``key`` naming their parent's code and the numeric ``columns``.
    key : str
        ``committee_code`` or ``division_code``.
    parent : GeoDataFrame
        Committees (or divisions) with ``code``.
    columns : sequence of str
        The columns summed (those the child lacks are left out).

    Returns
    -------
    GeoDataFrame
        A copy of ``parent`` with the summed columns (whole numbers; 0 where it has no children).
    """
    out = parent.copy()
    keys = child[key].map(_as_code)
    codes = out["code"].map(_as_code)
    for col in columns:
        if col not in child.columns:
            continue
        sums = pd.to_numeric(child[col], errors="coerce").fillna(0).groupby(keys).sum()
        out[col] = codes.map(sums).fillna(0).astype("int64").to_numpy()
    return out


def address_sums(addresses: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, columns: Sequence[tuple[str, str]]
                 ) -> gpd.GeoDataFrame:
    """Return ``grids`` with population/households set to the sums over the addresses in them.

    Parameters
    ----------
    addresses : GeoDataFrame
        With ``grid_code`` and the address columns named in ``columns``.
    grids : GeoDataFrame
        With ``code``.
    columns : sequence of (str, str)
        Pairs (grid column, address column), e.g. ``("population", "residents")``.
    """
    out = grids.copy()
    keys = addresses["grid_code"].map(_as_code)
    codes = out["code"].map(_as_code)
    for gcol, acol in columns:
        sums = pd.to_numeric(addresses[acol], errors="coerce").fillna(0).groupby(keys).sum()
        out[gcol] = codes.map(sums).fillna(0).astype("int64").to_numpy()
    return out


def map_categories(values: Sequence[Any], category_of: Callable[[str], str | None]) -> tuple[list[Any], int]:
    """Turn category words (公交站, 公园, 停车场 …) into category keys; keys and unknown words stay as they are.

    Returns
    -------
    tuple
        The new values and how many were changed.
    """
    out, changed = [], 0
    for v in values:
        text = _text(v)
        if text is None or text in CATEGORIES:
            out.append(v)
            continue
        key = category_of(text)
        if key is not None:
            out.append(key)
            changed += 1
        else:
            out.append(v)
    return out, changed


def parse_address(text: str, normalize: Callable[[str], str],
                  parse: Callable[[str], tuple[str, int | None, str]]) -> dict[str, Any] | None:
    """Split an address as the standard-address list writes it into ``address``, ``kind``, ``street``, ``number``.

    Parameters
    ----------
    text : str
        E.g. ``甘肃省河湾市东城街道 新华路12号`` or ``阳光小区3栋``.
    normalize, parse : callable
        :func:`app.geo.address.normalize` (with the city's prefixes bound) and :func:`app.geo.address.parse`.

    Returns
    -------
    dict or None
        ``{"address": "新华路12号", "kind": "road", "street": "新华路", "number": 12}`` (``号楼`` gives
        ``compound``); None when the text ends in no house or building number.
    """
    norm = normalize(text)
    street, number, suffix = parse(norm)
    if number is None or not street:
        return None
    kind = "compound" if suffix == "号楼" else "road"
    return {"address": f"{street}{number}{'号楼' if kind == 'compound' else '号'}", "kind": kind,
            "street": street, "number": number}
