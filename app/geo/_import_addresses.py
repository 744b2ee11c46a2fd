"""The importer's standard-address list (标准地址库): addresses composed from their parts, kinds, aliases, places."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from app.geo._import_aliases import AliasEntry, clean_text, gather_aliases
from app.geo._import_base import RawLayer, _as_code, _safe_text, _wgs_place
from app.geo._validate_text import escape
from app.geo.fieldnames import (
    COMPOUND_WORDS,
    ROAD_WORDS,
    SYNONYMS,
    FieldError,
    address_parts,
    match_columns,
    norm,
)
from app.geo.findings import Report

if TYPE_CHECKING:
    import numpy as np

__all__ = ["AddressColumns", "check_places", "compose_addresses", "house_number", "looks_like_compound", "merge_units"]

#: Most place mismatches named one by one; the rest are counted.
PLACE_LIMIT = 100
_KIND_WORDS: dict[str, str] = {
    **{norm(w): "road" for w in ("road", "道路", "路", "街路巷", "街巷", "门牌", "道路门牌", "沿街", "沿街门牌")},
    **{norm(w): "compound" for w in ("compound", "小区", "楼栋", "楼", "院落", "住宅小区", "小区楼栋", "楼幢")},
}
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_NUMBER_SUFFIX = re.compile(r"(号楼|号院|号|栋|幢|座|楼|#)$")
_FULL_RE = re.compile(r"^(?P<street>.*?\D)(?P<number>\d+)(?P<suffix>号楼|号)$")
_PLACE_SUFFIXES = ("居民委员会", "村民委员会", "居委会", "村委会", "办事处", "社区", "街道", "镇", "乡", "村")


@dataclass
class AddressColumns:
    """The columns a standard-address list's parts were read from (part -> column), and what was done."""

    parts: dict[str, str] = field(default_factory=dict)
    full: str | None = None
    kind: str | None = None
    aliases: list[str] = field(default_factory=list)
    composed: int = 0
    #: Field (residents, households) -> its column.
    counts: dict[str, str] = field(default_factory=dict)


def _cn_number(text: str) -> int | None:
    """一 … 九十九 as a number, or None."""
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return int("".join(str(_CN_DIGITS[ch]) for ch in text)) if len(text) <= 3 else None
    tens, _, ones = text.partition("十")
    if "十" in ones or len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def house_number(value: Any) -> int | None:
    """A house or building number cell as a whole number: ``12``, ``12号``, ``12.0``, ``３号楼``, ``十二栋``, ``#5``.

    Parameters
    ----------
    value : object
        The cell.

    Returns
    -------
    int or None
        The number; None when the cell is no plain whole number (附3号, 甲5号, 12-1 ...).
    """
    text = clean_text(value)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).replace(" ", "").lstrip("#第")
    text = _NUMBER_SUFFIX.sub("", text)
    n = int(float(text)) if re.fullmatch(r"\d+(\.0+)?", text) else _cn_number(text)
    return n if n is not None and 0 < n < 100000 else None


def looks_like_compound(name: str) -> bool:
    """Whether a name reads as a residential compound's (嘉和小区, 东湖花园, 福民苑) rather than a road's."""
    if name.endswith(ROAD_WORDS):
        return False
    return name.endswith(COMPOUND_WORDS)


def _columns(columns: list[str], overrides: Mapping[str, str] | None) -> AddressColumns:
    """Which columns hold the full address, the kind, the aliases and the parts."""
    try:
        match = match_columns("addresses", columns, overrides)
    except FieldError:  # reported by the importer's own column matching
        match = match_columns("addresses", columns)
    cols = AddressColumns(full=match.column_of("address"), kind=match.column_of("kind"))
    alias_col = match.column_of("aliases")
    taken = {c for c, t in match.mapping.items() if t not in ("street", "number")}
    cols.parts = address_parts([c for c in columns if c not in taken])
    over = dict(overrides or {})
    if "street" in over:
        for p in ("road", "compound"):
            cols.parts.pop(p, None)
        cols.parts["road_or_compound"] = match.column_of("street") or over["street"]
    if "number" in over:
        cols.parts.pop("building", None)
        cols.parts["door"] = match.column_of("number") or over["number"]
    alias_words = {norm(w) for w in (*SYNONYMS["addresses"]["aliases"], "aliases")}
    cols.aliases = [c for c in columns if c == alias_col or (c not in match.mapping and norm(c) in alias_words)]
    cols.counts = {f: c for f in ("residents", "households") if (c := match.column_of(f)) is not None}
    return cols


def _count(value: Any) -> float | None:
    """A residents or households cell as a number (0 when empty), or None when it is none."""
    text = clean_text(value)
    if text is None:
        return 0.0
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def merge_units(raw: RawLayer, report: Report, overrides: Mapping[str, str] | None = None) -> None:
    """Merge the unit rows (单元) of one building of a standard-address list into that building's row.

    An address is a road's house number or a compound's building; a list with a row per unit
    would give one address many rows. The rows of one building (same road/compound, 门牌号 and
    楼栋, with a unit) become its first row: residents and households summed when every value is
    a number, the units listed (``1、2、3``), the first row's point kept.

    Parameters
    ----------
    raw : RawLayer
        The rows as read; ``props``, ``geoms`` and ``labels`` are changed in place.
    report : Report
        Where the ``units_merged`` warning goes.
    overrides : mapping of str to str, optional
        ``--field TARGET=SOURCE`` mappings.
    """
    cols = _columns(raw.columns, overrides)
    unit = cols.parts.get("unit")
    keys = [cols.parts[k] for k in ("road_or_compound", "road", "compound", "door", "building") if k in cols.parts]
    if unit is None or cols.full is not None or raw.unclosed or not any(
            k in cols.parts for k in ("road_or_compound", "road", "compound")):
        return
    first: dict[tuple[str | None, ...], int] = {}
    merged: dict[int, list[int]] = {}
    for i, p in enumerate(raw.props):
        if clean_text(p.get(unit)) is None:
            continue
        key = tuple(clean_text(p.get(c)) for c in keys)
        if key in first:
            merged.setdefault(first[key], []).append(i)
        else:
            first[key] = i
    if not merged:
        return
    for head, others in merged.items():
        group = [head, *others]
        target = raw.props[head]
        for col in cols.counts.values():
            values = [_count(raw.props[i].get(col)) for i in group]
            bad = [i for i, v in zip(group, values, strict=True) if v is None]
            if bad:  # a count that is no number would be lost in the sum: refuse it where it is
                report.error("bad_value", f"{_safe_text(col, 20)} is {_safe_text(raw.props[bad[0]].get(col), 30)!r}, "
                             "not a number, in a unit row to be summed into its building", feature=raw.labels[bad[0]],
                             field=col)
                continue
            total = sum(v for v in values if v is not None)
            target[col] = int(total) if float(total).is_integer() else total
        target[unit] = "、".join(dict.fromkeys(clean_text(raw.props[i].get(unit)) or "" for i in group))
    drop = {i for others in merged.values() for i in others}
    head, others = next(iter(merged.items()))
    report.warning("units_merged", f"{len(drop) + len(merged)} rows of units (单元) were merged into the {len(merged)} "
                   f"buildings they belong to, one address each: {', '.join(cols.counts.values()) or 'counts'} "
                   f"summed, the first row's point kept; e.g. {raw.labels[head]} takes "
                   f"{', '.join(raw.labels[i].split(' (')[0] for i in others[:5])}", field=unit)
    for name in ("props", "geoms", "labels"):
        seq = getattr(raw, name)
        setattr(raw, name, [v for i, v in enumerate(seq) if i not in drop])


def _kind_of(cell: str | None) -> str | None:
    return _KIND_WORDS.get(norm(cell)) if cell else None


def compose_addresses(columns: list[str], props: list[dict[str, Any]], rows: list[dict[str, Any]],
                      labels: list[str], report: Report, *,
                      overrides: Mapping[str, str] | None = None,
                      alias_entries: list[AliasEntry] | None = None) -> AddressColumns:
    """Fill in an address layer's fields from a standard-address list's parts, kinds and aliases.

    Where the file has no full-address column but road or compound columns (道路/小区, 街路巷,
    小区名称 with 门牌号, 楼栋), each row's ``street``, ``number``, ``kind`` and ``address`` are composed from them:
    ``{road}{number}号`` for roads, ``{compound}{building}号楼`` for compounds. The kind comes from a
    kind column (道路/小区 words too), else a building or compound column, else the name's last word
    (小区, 花园, 苑 ... ``COMPOUND_WORDS``). A file with a full-address column keeps its text, and
    gets a missing street, number and kind from it (新华路12号, 嘉和小区3号楼).
    Aliases from the alias columns and ``alias_entries`` become ``aliases``, ``|``-separated, on every
    row of the street they name.

    Parameters
    ----------
    columns : list of str
        The file's columns.
    props : list of dict
        The rows as read (column -> value).
    rows : list of dict
        The rows' schema fields as matched; changed in place.
    labels : list of str
        One label per row, to name it in findings.
    report : Report
        Where findings go.
    overrides : mapping of str to str, optional
        ``--field TARGET=SOURCE`` mappings: ``street`` and ``number`` name the part columns.
    alias_entries : list of AliasEntry, optional
        An alias file's rows.

    Returns
    -------
    AddressColumns
        The columns used, for :func:`check_places`.
    """
    cols = _columns(columns, overrides)
    parts = cols.parts
    # a full-address column wins: its text is kept, the parts only fill in what is missing
    has_parts = cols.full is None and any(p in parts for p in ("road_or_compound", "road", "compound"))
    failed: set[int] = set()
    for i, (p, r) in enumerate(zip(props, rows, strict=True)):
        if has_parts:
            if _compose_row(i, p, r, cols, labels, report):
                cols.composed += 1
            else:
                failed.add(i)
        else:
            _from_full_text(r)
        if r.get("kind") is not None and r["kind"] not in ("road", "compound"):
            kind = _kind_of(str(r["kind"]))
            if kind is None:
                report.error("bad_value", f"kind {_safe_text(r['kind'], 20)!r} is neither road (道路) nor compound "
                             "(小区)", feature=labels[i], field=cols.kind or "kind")
            r["kind"] = kind
    if cols.composed:
        used = ", ".join(f"{_safe_text(c, 20)} ({k})" for k, c in parts.items() if k not in ("division", "committee"))
        report.warning("composed_address", f"the address of {cols.composed} rows was composed from the columns "
                       f"{used}: {{road}}{{number}}号 or {{compound}}{{building}}号楼", field="address")
    _duplicates(rows, labels, report, "unit" in parts, "error" if has_parts else "warning", failed)
    gather_aliases(props, rows, labels, report, cols.aliases, alias_entries or [])
    for name, zh in (("residents", "人口"), ("households", "户数")):
        if all(r.get(name) is None for r in rows):
            report.warning("no_residents", f"the file gives no {name} ({zh}): every address gets 0 {name}, so "
                           f"coverage counted by {name} will be empty until a register with {name} is imported",
                           field=name)
    return cols


def _compose_row(i: int, p: dict[str, Any], r: dict[str, Any], cols: AddressColumns, labels: list[str],
                 report: Report) -> bool:
    """Compose one row's street, number, kind and address; False (and an error naming the row) when it cannot."""
    parts = cols.parts
    for k in ("road_or_compound", "road", "compound", "door", "building"):
        if k in parts and isinstance(p.get(parts[k]), list | dict | tuple | bool):
            report.error("bad_value", f"{_safe_text(parts[k], 20)} is {_safe_text(p[parts[k]], 30)}, not a name or a "
                         "number", feature=labels[i], field=parts[k])
            r.update(address="?", number=None)  # refused: no second error
            return False
    comb, road, comp, door, bld = (clean_text(p.get(parts[k])) if k in parts else None
                                   for k in ("road_or_compound", "road", "compound", "door", "building"))
    given = _kind_of(clean_text(p.get(cols.kind))) if cols.kind else None
    if given is None and cols.kind and clean_text(p.get(cols.kind)) in ("road", "compound"):
        given = clean_text(p.get(cols.kind))
    if given is not None:
        kind = given
    elif bld or (comp and not road):
        kind = "compound"
    elif road:
        kind = "road"
    elif comb:
        kind = "compound" if looks_like_compound(comb) else "road"
    else:
        kind = None
    street = (comp or comb or road) if kind == "compound" else (road or comb or comp)
    if kind == "compound" and bld:
        cell, col = bld, parts.get("building")
    else:
        cell, col = door or bld, parts.get("door") if door else parts.get("building")
    if street is None or cell is None:
        what = "a road or compound name" if street is None else "a house or building number"
        where = (parts.get("road_or_compound") or parts.get("road") or parts.get("compound")) if street is None else \
            (parts.get("building") if kind == "compound" and "building" in parts else parts.get("door"))
        report.error("missing_value", f"the row has no {what}", feature=labels[i], field=where or "address")
        r.update(address=f"{street or ''}{cell or ''}" or "?", number=house_number(cell))  # refused: no 2nd error
        return False
    number = house_number(cell)
    if number is None:
        report.error("bad_value", f"{_safe_text(col, 20)} is {_safe_text(cell, 20)!r}, not a whole number: the "
                     f"address layer holds {{road}}{{number}}号 and {{compound}}{{building}}号楼 (附N号, 甲/乙 and "
                     "N-M numbers are not supported)", feature=labels[i], field=col)
        r.update(street=street, kind=kind, number=None, address=f"{street}{cell}")  # refused: no second error
        return False
    r.update(street=street, number=number, kind=kind,
             address=f"{street}{number}号" + ("楼" if kind == "compound" else ""))
    return True


def _from_full_text(r: dict[str, Any]) -> None:
    """Street, number and kind of a row with only a full address (新华路12号, 嘉和小区3号楼), where missing."""
    text = r.get("address")
    m = _FULL_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        return
    if r.get("street") is None:
        r["street"] = m["street"]
    if r.get("number") is None:
        r["number"] = int(m["number"])
    if r.get("kind") is None:
        r["kind"] = "compound" if m["suffix"] == "号楼" else "road"


def _duplicates(rows: list[dict[str, Any]], labels: list[str], report: Report, units: bool, severity: str,
                skip: set[int]) -> None:
    """Report two rows with the same address (the matcher cannot tell them apart; `gridmap validate` refuses them).

    Composed addresses are refused (``severity`` error); a file's own full addresses are warned
    about, as before this check they were stored. Rows in ``skip`` (refused already) are not compared.
    """
    first: dict[str, int] = {}
    hint = "; units (单元) are not addresses of their own: give one row per building" if units else ""
    for i, r in enumerate(rows):
        text = r.get("address")
        if not isinstance(text, str) or not text or i in skip:  # rows refused already are not compared
            continue
        if text in first:
            report.add(severity, "duplicate_address", f"address {escape(text)} is also {labels[first[text]]}{hint}",
                       feature=labels[i], field="address")
        else:
            first[text] = i


def _core(name: str) -> str:
    """A committee or division name without its generic last word: 建设社区居委会 -> 建设, 雄关街道办事处 -> 雄关."""
    text = norm(name)
    for _ in range(2):
        for suffix in _PLACE_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                break
    return text


@lru_cache(maxsize=4096)
def _same_place(given: str, stored: str) -> bool:
    """Whether a 街道/社区 cell names the stored division or committee (建设社区居委会 is 建设社区)."""
    g, s = _core(given), _core(stored)
    return bool(g) and bool(s) and (g == s or g.endswith(s) or s.endswith(g))


def check_places(cols: AddressColumns, props: list[dict[str, Any]], rows: list[dict[str, Any]], geoms: np.ndarray,
                 labels: list[str], report: Report, grids: gpd.GeoDataFrame | None,
                 committees: gpd.GeoDataFrame | None, divisions: gpd.GeoDataFrame | None) -> None:
    """Warn where a row's 街道 or 社区 column names another division or committee than its grid's.

    Parameters
    ----------
    cols : AddressColumns
        The columns found by :func:`compose_addresses` (``division``, ``committee`` parts).
    props, rows : list of dict
        The rows as read and their schema fields (``grid_code`` filled in).
    geoms : numpy.ndarray
        The points in WGS84 (for the findings' places).
    labels : list of str
        One label per row.
    report : Report
        Where the warnings go: the first :data:`PLACE_LIMIT` named, the rest counted.
    grids, committees, divisions : GeoDataFrame or None
        The stored layers.
    """
    checks = [(k, cols.parts[k]) for k in ("division", "committee") if k in cols.parts]
    if not checks or grids is None or not len(grids):
        return
    names = {"committee": {}, "division": {}}
    for key, layer in (("committee", committees), ("division", divisions)):
        if layer is not None and len(layer) and "name" in layer.columns:
            names[key] = {_as_code(c): str(n) for c, n in zip(layer["code"], layer["name"], strict=True)}
    parent = {_as_code(c): {"committee": _as_code(cc), "division": _as_code(dc)}
              for c, cc, dc in zip(grids["code"], grids.get("committee_code", [None] * len(grids)),
                                   grids.get("division_code", [None] * len(grids)), strict=True)}
    shown = more = 0
    for i, (p, r) in enumerate(zip(props, rows, strict=True)):
        up = parent.get(r.get("grid_code") or "")
        if up is None:
            continue
        for key, col in checks:
            given = clean_text(p.get(col))
            stored = names[key].get(up[key] or "")
            if given is None or stored is None or _same_place(given, stored):
                continue
            if shown < PLACE_LIMIT:
                shown += 1
                report.warning("place_mismatch", f"{_safe_text(col, 20)} is {escape(given)} but the point lies in "
                               f"grid {r['grid_code']} of {escape(stored)}", feature=labels[i], field=col,
                               place=_wgs_place(geoms[i]) if geoms[i] is not None else None)
            else:
                more += 1
    if more:
        report.warning("place_mismatch", f"{more} more rows name another 街道 or 社区 than their grid's")
