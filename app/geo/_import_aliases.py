"""The importer's aliases of roads and compounds: alias files, 别名 sheets and alias columns gathered per street."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from app.geo import tabular
from app.geo._import_base import _safe_text
from app.geo._validate_text import escape, nfc, strip_hidden
from app.geo.fieldnames import ALIAS_FILE_COLUMNS, address_parts
from app.geo.findings import LIST_LIMIT, Report

if TYPE_CHECKING:
    from app.geo.importer import Limits

__all__ = ["ALIAS_SEP", "AliasEntry", "clean_text", "gather_aliases", "read_alias_file", "read_alias_sheet"]

#: Separators between several aliases in one cell (the stored field uses ``|``).
ALIAS_SEP = re.compile(r"[|｜、,，;；/\s]+")


@dataclass
class AliasEntry:
    """One row of an alias file: a standard road or compound name and one alias of it."""

    name: str
    alias: str
    label: str


def clean_text(value: Any) -> str | None:
    """A cell as clean text (NFC, hidden characters removed, stripped; ``12.0`` -> ``12``), or None when empty."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = nfc(strip_hidden(str(value))).strip()
    return text or None


def _split_aliases(text: str | None) -> list[str]:
    """The aliases in one cell."""
    return [a for a in ALIAS_SEP.split(text or "") if a]


def read_alias_file(path: str | Path, report: Report, limits: Limits, filename: str | None = None) -> list[AliasEntry]:
    """Read an alias file: a CSV/XLSX with a standard-name column (标准名称/name) and an alias column (别名/alias).

    One alias per row; a cell holding several (separated by ``、``, ``,``, ``|`` ...) is split.
    A two-column table whose headers are not recognised is read as name, alias with a warning.

    Parameters
    ----------
    path : str or Path
        The file (GBK/GB18030 and UTF-8 CSVs, XLSX).
    report : Report
        Where problems go, naming the alias file's rows (``别名.csv row 3``).
    limits : Limits
        The import's size limits.
    filename : str, optional
        The name shown in findings (the file's own by default).

    Returns
    -------
    list of AliasEntry
        The entries read; empty when the file could not be read (an ``alias_file`` error then).
    """
    name = _safe_text(filename or Path(path).name, 80)
    try:
        df = tabular.read_table(path, filename=filename or Path(path).name, limits=limits.for_tables())
    except tabular.TableError as exc:
        report.error("alias_file", f"the alias file {name} cannot be read: {exc}")
        return []
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for hostile workbooks
        report.error("alias_file", f"the alias file {name} cannot be read ({_safe_text(exc)})")
        return []
    return _alias_entries(df, name, report)


def read_alias_sheet(path: str | Path, report: Report, limits: Limits,
                     filename: str | None = None) -> list[AliasEntry] | None:
    """Read the aliases from a sheet of an addresses workbook named 别名/曾用名/alias (not its first sheet).

    So one upload (the admin page takes one file) carries the list and its aliases. The workbook
    has passed the importer's archive checks already; at most ``limits.max_features`` rows are read.

    Parameters
    ----------
    path : str or Path
        The XLSX workbook whose first sheet is the address list.
    report : Report
        Where problems go, naming the sheet's rows (``标准地址库.xlsx:别名 row 3``).
    limits : Limits
        The import's size limits.
    filename : str, optional
        The name shown in findings.

    Returns
    -------
    list of AliasEntry or None
        The entries; None when the workbook has no such sheet (or cannot be opened: the address
        list's own reading reports that).
    """
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        names = [str(n) for n in book.sheet_names]
    except Exception:  # noqa: BLE001 - the first sheet's reader reports a broken workbook
        return None
    sheet = next((n for n in names[1:] if any(w in n.casefold() for w in ("别名", "曾用名", "alias"))), None)
    if sheet is None:
        return None
    label = _safe_text(f"{filename or Path(path).name}:{sheet}", 80)
    rows: list[list[str]] = []
    try:
        for values in book.get_sheet_by_name(sheet).iter_rows():
            cells = [clean_text(v) or "" for v in values]
            if any(cells):
                rows.append(cells)
            if len(rows) > limits.max_features:
                report.error("alias_file", f"the sheet {label} has more than {limits.max_features} rows")
                return []
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for corrupt sheets
        report.error("alias_file", f"the sheet {label} cannot be read ({_safe_text(exc)})")
        return []
    if not rows:
        return []
    width = len(rows[0])
    df = pd.DataFrame([r[:width] + [""] * (width - len(r)) for r in rows[1:]], columns=rows[0], dtype=object)
    report.warning("alias_file", f"aliases read from the sheet {label}")
    return _alias_entries(df, label, report)


def _alias_entries(df: pd.DataFrame, name: str, report: Report) -> list[AliasEntry]:
    """An alias table's entries: its name and alias columns found by their names (or the only two columns)."""
    cols = [str(c) for c in df.columns]
    found = address_parts(cols, ALIAS_FILE_COLUMNS)
    if len(found) < 2 and len(cols) == 2:
        found = {"name": cols[0], "alias": cols[1]}
        report.warning("alias_file", f"the alias file {name} names no 标准名称/别名 columns; read its columns "
                       f"{_safe_text(cols[0], 30)} as the standard name and {_safe_text(cols[1], 30)} as the alias")
    if len(found) < 2:
        report.error("alias_file", f"the alias file {name} needs a standard-name column (标准名称, name) and an "
                     f"alias column (别名, alias); its columns are {_safe_text(', '.join(cols), 200) or '(none)'}")
        return []
    out: list[AliasEntry] = []
    for i, row in enumerate(df.to_dict("records")):
        label = f"{name} row {i + 2}"
        std, alias = clean_text(row.get(found["name"])), clean_text(row.get(found["alias"]))
        if std is None and alias is None:
            continue
        if std is None or alias is None:
            missing = found["name"] if std is None else found["alias"]
            report.error("alias_file", f"the {_safe_text(missing, 30)} cell is empty", feature=label, field=missing)
            continue
        out.extend(AliasEntry(std, a, label) for a in _split_aliases(alias))
    return out


def gather_aliases(props: list[dict[str, Any]], rows: list[dict[str, Any]], labels: list[str], report: Report,
             alias_cols: list[str], entries: list[AliasEntry]) -> None:
    """Gather each street's aliases from the alias columns and the alias file into ``aliases`` on its rows."""
    streets = {r["street"] for r in rows if isinstance(r.get("street"), str) and r["street"]}
    by_street: dict[str, dict[str, str]] = defaultdict(dict)  # street -> alias -> where it came from
    for i, (p, r) in enumerate(zip(props, rows, strict=True)):
        street = r.get("street") if isinstance(r.get("street"), str) else None
        for col in alias_cols:
            if isinstance(p.get(col), list | dict | tuple | bool):
                report.error("bad_value", f"{_safe_text(col, 20)} is {_safe_text(p[col], 30)}, not text",
                             feature=labels[i], field=col)
                continue
            for alias in _split_aliases(clean_text(p.get(col))):
                if street:
                    by_street[street].setdefault(alias, labels[i])
    unknown = 0
    for e in entries:
        if e.name in streets:
            by_street[e.name].setdefault(e.alias, e.label)
        else:
            unknown += 1
            if unknown <= LIST_LIMIT:
                report.warning("alias_unknown_name", f"{escape(e.name)} is no road or compound of the file; its "
                               f"alias {escape(e.alias)} is not used", feature=e.label)
    owners: dict[str, list[str]] = defaultdict(list)
    for street, aliases in by_street.items():
        for alias in list(aliases):
            if alias == street:
                del aliases[alias]
            elif alias in streets:
                report.warning("alias_conflict", f"the alias {escape(alias)} of {escape(street)} is itself a standard "
                               "name of the file; it is not used", feature=aliases.pop(alias))
            else:
                owners[alias].append(street)
    for alias, names in owners.items():
        if len(names) > 1:
            report.warning("alias_conflict", f"the alias {escape(alias)} names several roads or compounds "
                           f"({escape('、'.join(names[:5]))}): a lookup by it answers ambiguous",
                           feature=by_street[names[1]][alias])
    n = 0
    for r in rows:
        aliases = by_street.get(r["street"]) if isinstance(r.get("street"), str) else None
        r["aliases"] = "|".join(aliases) if aliases else None
        n += bool(aliases)
    if n:
        report.warning("aliases", f"{sum(1 for a in by_street.values() if a)} roads or compounds have aliases "
                       f"({sum(len(a) for a in by_street.values())} in all), stored in aliases on their {n} rows",
                       field="aliases")
