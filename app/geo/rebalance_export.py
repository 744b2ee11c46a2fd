"""Files of a rebalancing proposal: grids/addresses/facilities GeoJSON to import, a zip of them, XLSX and PDF."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from app.geo.audit import format_time
from app.geo.geojson import dump_geojson
from app.geo.rebalance import RebalanceError, RebalanceResult, band_text
from app.geo.schema import FIELDS, PERSONAL_FIELDS

__all__ = ["FORMATS", "MEDIA_TYPES", "TEXT", "file_name", "import_steps", "layer_files", "reason_text", "t",
           "to_bytes", "write"]

#: Output formats: the grids layer to import, a zip of the three layers with the import steps, a workbook, a report.
FORMATS: tuple[str, ...] = ("geojson", "zip", "xlsx", "pdf")
MEDIA_TYPES: dict[str, str] = {
    "geojson": "application/geo+json", "zip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf",
}

#: Fixed texts of the files, (Chinese, English).
TEXT: dict[str, tuple[str, str]] = {
    "title": ("网格调整方案", "Grid rebalancing proposal"),
    "sheet.grids": ("调整前后网格", "Grids before and after"), "sheet.summary": ("概况", "Summary"),
    "sheet.committees": ("社区（村）", "Committees"),
    "code": ("网格编码", "Grid code"), "name": ("网格名称", "Grid name"), "committee_code": ("社区编码", "Committee code"),
    "households_before": ("调整前户数", "Households before"), "residents_before": ("调整前人口", "Residents before"),
    "in_band_before": ("调整前达标", "In band before"), "households_after": ("调整后户数", "Households after"),
    "residents_after": ("调整后人口", "Residents after"), "in_band_after": ("调整后达标", "In band after"),
    "miss_after": ("超出范围户数", "Households outside band"),
    "yes": ("是", "Yes"), "no": ("否", "No"), "item": ("项目", "Item"), "before": ("调整前", "Before"),
    "after": ("调整后", "After"), "grids": ("网格数", "Grids"), "in_band": ("户数在范围内的网格", "Grids in band"),
    "min": ("最少户数", "Fewest households"), "max": ("最多户数", "Most households"),
    "mean": ("平均户数", "Mean households"), "std": ("户数标准差", "Std of households"),
    "miss": ("超出范围户数合计", "Households outside band, total"),
    "band": ("目标户数范围", "Target households per grid"), "scope": ("范围", "Scope"),
    "moved": ("所属网格改变的地址", "Addresses whose grid changes"),
    "met": ("全部网格在范围内", "Every grid in band"), "seconds": ("计算用时（秒）", "Time taken (s)"),
    "time_limit": ("求解时限（秒）", "Solver time limit (s)"), "data_version": ("数据版本", "Data version"),
    "exported_at": ("导出时间", "Exported at"), "units": ("基本单元", "Building blocks"),
    "units.blocks": ("道路围合街块", "road-bounded blocks"),
    "units.cells": ("街块内按地址细分的单元", "address cells within blocks"),
    "committee": ("社区（村）", "Committee"), "division": ("街道（镇）", "Division"),
    "com.grids": ("新网格数", "New grids"), "com.blocks": ("街块数", "Blocks"),
    "com.split": ("细分街块数", "Blocks cut into cells"), "com.reasons": ("说明", "Notes"),
    "steps": ("导入步骤", "Import steps"),
    "personal_dropped": ("本文件不含网格员姓名和电话（需以工作人员身份登录下载）；导入将清空这些字段。",
                         "This file holds no grid staff names or phones (download it signed in as staff); "
                         "importing it empties those fields."),
    "reason.below_floor": ("{name}：共 {households} 户，少于下限 {floor} 户，最多只能划为一个网格（差 {miss} 户）。",
                           "{name}: {households} households in all, fewer than the floor of {floor}; at best "
                           "one grid ({miss} short)."),
    "reason.address_over_cap": ("{name}：单个地址有 {households} 户，超过上限 {cap} 户，无法拆分。",
                                "{name}: one address holds {households} households, over the cap of {cap}; it "
                                "cannot be split."),
    "reason.no_count": ("{name}：共 {households} 户，任何网格个数都无法使每个网格落在范围内。",
                        "{name}: {households} households cannot be split into any number of grids that all lie "
                        "in the band."),
    "reason.time_limit": ("{name}：求解达到时限，所示为找到的最好方案（超出 {miss} 户）。",
                          "{name}: the solver hit its time limit; shown is the best found ({miss} households "
                          "outside the band)."),
    "reason.no_fit": ("{name}：未找到全部网格落在范围内的连续划分；最好方案超出 {miss} 户。",
                      "{name}: no contiguous split with every grid in the band was found; the best one misses by "
                      "{miss} households."),
    "reason.cells": ("{name}：整街块无法满足范围，{split} 个街块按地址细分，这些街块内的新边界不沿道路。",
                     "{name}: whole blocks could not meet the band, so {split} blocks were cut into address "
                     "cells; new borders inside them do not follow roads."),
}


def t(key: str, lang: str = "zh", **values: Any) -> str:
    """A fixed text in ``lang`` with ``{name}`` fields filled in."""
    zh, en = TEXT[key]
    return (en if lang == "en" else zh).format(**values)


def reason_text(reason: dict[str, Any], lang: str = "zh") -> str:
    """One reason of :meth:`~app.geo.rebalance.RebalanceResult.reasons` as a sentence."""
    return t(f"reason.{reason['code']}", lang, **reason)


def layer_files(result: RebalanceResult, personal: bool = True) -> dict[str, bytes]:
    """The three layers after the proposal, as GeoJSON to import: ``grids``, ``addresses``, ``facilities``.

    Parameters
    ----------
    result : RebalanceResult
    personal : bool
        Keep the grid staff fields (names, phones); without them an import empties those fields.
    """
    grids = result.grids
    cols = [f.name for f in FIELDS["grids"] if personal or f.name not in PERSONAL_FIELDS] + ["geometry"]
    grids = grids[[c for c in cols if c in grids.columns]]
    return {"grids": dump_geojson(grids, "grids"), "addresses": dump_geojson(result.addresses, "addresses"),
            "facilities": dump_geojson(result.facilities, "facilities")}


def import_steps(grids: str, addresses: str, facilities: str) -> list[str]:
    """The commands that make the proposal a data version (three versions; each one is checked)."""
    return [f"gridmap import grids {grids}", f"gridmap import addresses {addresses}",
            f"gridmap import facilities {facilities}"]


def _steps_text(lang: str, personal: bool) -> str:
    lines = [t("title", lang), "", t("steps", lang) + ":"]
    lines += [f"  {s}" for s in import_steps("grids.geojson", "addresses.geojson", "facilities.geojson")]
    lines += ["", "先导入网格，再导入地址和设施；每次导入都经过校验，可用 gridmap rollback 撤销。" if lang != "en" else
              "Import the grids first, then the addresses and facilities; each import is checked and can be "
              "undone with gridmap rollback."]
    if not personal:
        lines += ["", t("personal_dropped", lang)]
    return "\n".join(lines) + "\n"


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_rows(result: RebalanceResult, lang: str = "zh", exported_at: str | None = None,
                 tz: str = "Asia/Shanghai") -> list[tuple[str, str, str]]:
    """The summary as (item, before, after) rows."""
    s = result.summary()
    b, a = s["before"], s["after"]

    def n(v: Any) -> str:
        return "" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.1f}"

    rows = [(t(k, lang), n(b[k]), n(a[k])) for k in ("grids", "in_band", "min", "max", "mean", "std", "miss")]
    level = t(result.scope[0], lang)
    rows += [
        (t("scope", lang), f"{level} {result.scope_name}（{result.scope[1]}）" if lang != "en"
         else f"{level} {result.scope_name} ({result.scope[1]})", ""),
        (t("band", lang), band_text(result.band), ""),
        (t("moved", lang), "", n(result.moved_addresses)),
        (t("met", lang), "", t("yes" if result.met else "no", lang)),
        (t("units", lang), "", "、".join(t(f"units.{u}", lang) for u in s["units"]) if lang != "en"
         else ", ".join(t(f"units.{u}", lang) for u in s["units"])),
        (t("seconds", lang), "", f"{s['seconds']:.1f}"), (t("time_limit", lang), "", f"{result.time_limit:g}"),
        (t("data_version", lang), result.data_version, ""),
        (t("exported_at", lang), format_time(exported_at or _now(), tz), ""),
    ]
    return rows


def _table_cols(lang: str) -> list[tuple[str, str, str]]:
    keys = ["code", "name", "committee_code", "households_before", "residents_before", "in_band_before",
            "households_after", "residents_after", "in_band_after", "miss_after"]
    kinds = {"code": "text", "name": "text", "committee_code": "text"}
    return [(k, t(k, lang), kinds.get(k, "flag" if k.startswith("in_band") else "int")) for k in keys]


def write_xlsx(result: RebalanceResult, lang: str = "zh", tz: str = "Asia/Shanghai") -> bytes:
    """The table (per grid code, before and after), the summary and the committees' notes as a workbook."""
    lang = "en" if lang == "en" else "zh"
    from openpyxl import Workbook  # loaded on the first workbook, not by the server at start-up
    from openpyxl.styles import Alignment

    from app.geo._export_xlsx import HEADER_ROW, _fit_widths, _print_setup, _style_header, display_width

    wb = Workbook()
    ws = wb.active
    ws.title = t("sheet.grids", lang)
    cols = _table_cols(lang)
    ws.append([k for k, _, _ in cols])
    ws.append([h for _, h, _ in cols])
    table = result.table()
    for rec in table.astype(object).to_dict("records"):
        row = []
        for k, _, kind in cols:
            v = rec.get(k)
            if v is None or v is pd.NA:
                row.append(None)
            elif kind == "flag":
                row.append(t("yes" if bool(v) else "no", lang))
            elif kind == "int":
                row.append(int(v))
            else:
                row.append(str(v))
        ws.append(row)
    n = len(table)
    for j, (_, _, kind) in enumerate(cols, start=1):
        for (cell,) in ws.iter_rows(min_row=HEADER_ROW + 1, max_row=HEADER_ROW + n, min_col=j, max_col=j):
            cell.number_format = "#,##0" if kind == "int" else "@"
            if kind == "flag":
                cell.alignment = Alignment(horizontal="center")
    _style_header(ws, len(cols))
    ws.row_dimensions[1].hidden = True
    ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1).coordinate
    ws.auto_filter.ref = f"A{HEADER_ROW}:J{HEADER_ROW + max(n, 1)}"
    _fit_widths(ws, [h for _, h, _ in cols], [k for _, _, k in cols], HEADER_ROW + 1, HEADER_ROW + n)
    _print_setup(ws, f"{HEADER_ROW}:{HEADER_ROW}")
    sm = wb.create_sheet(t("sheet.summary", lang))
    sm.append([t("item", lang), t("before", lang), t("after", lang)])
    for row in summary_rows(result, lang, tz=tz):
        sm.append(list(row))
    _style_header(sm, 3, row=1)
    sm.column_dimensions["A"].width = max(display_width(r[0]) for r in summary_rows(result, lang, tz=tz)) + 3
    sm.column_dimensions["B"].width = sm.column_dimensions["C"].width = 28
    _print_setup(sm, None)
    cm = wb.create_sheet(t("sheet.committees", lang))
    heads = [t("committee", lang), t("com.grids", lang), t("com.blocks", lang), t("com.split", lang),
             t("miss", lang), t("com.reasons", lang)]
    cm.append(heads)
    for p in result.plans:
        notes = "；".join(reason_text(r, lang) for r in p.reasons) if lang != "en" else \
            " ".join(reason_text(r, lang) for r in p.reasons)
        cm.append([f"{p.name}（{p.code}）" if lang != "en" else f"{p.name} ({p.code})", len(p.grids), p.blocks,
                   p.split, p.miss, notes])
    _style_header(cm, len(heads), row=1)
    for j, w in enumerate((30, 10, 10, 12, 14, 70), start=1):
        cm.column_dimensions[chr(64 + j)].width = w
    for (cell,) in cm.iter_rows(min_row=2, min_col=6, max_col=6):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    _print_setup(cm, None)
    wb.properties.title = t("title", lang)
    wb.properties.creator = "gridmap"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_bytes(result: RebalanceResult, fmt: str, lang: str = "zh", tz: str = "Asia/Shanghai",
             personal: bool = True) -> bytes:
    """The proposal as one file: ``geojson`` (the whole grids layer), ``zip`` (three layers and the steps), ``xlsx`` or ``pdf``.

    Raises
    ------
    RebalanceError
        For an unknown format.
    """
    if fmt == "geojson":
        return layer_files(result, personal)["grids"]
    if fmt == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in layer_files(result, personal).items():
                zf.writestr(f"{name}.geojson", data)
            zf.writestr("README.txt", _steps_text(lang, personal))
        return buf.getvalue()
    if fmt == "xlsx":
        return write_xlsx(result, lang, tz)
    if fmt == "pdf":
        from app.geo._rebalance_pdf import build_pdf

        return build_pdf(result, lang=lang, tz=tz)
    raise RebalanceError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", status=404)


def file_name(result: RebalanceResult, fmt: str) -> str:
    """A download name such as ``rebalance-620201002004-300-500.xlsx``."""
    return f"rebalance-{result.scope[1]}-{band_text(result.band)}.{fmt}"


def write(result: RebalanceResult, path: str | Path, lang: str = "zh", tz: str = "Asia/Shanghai") -> list[Path]:
    """Write the proposal to ``path`` by its suffix; a ``.geojson`` also writes ``<stem>.addresses.geojson`` and ``<stem>.facilities.geojson``.

    Returns
    -------
    list of Path
        The files written, the grids first.

    Raises
    ------
    RebalanceError
        For a suffix other than .geojson, .zip, .xlsx or .pdf.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "json":
        fmt = "geojson"
    if fmt not in FORMATS:
        raise RebalanceError(f"unknown format {path.suffix or path.name!r}; use .geojson, .zip, .xlsx or .pdf")
    if fmt != "geojson":
        path.write_bytes(to_bytes(result, fmt, lang, tz))
        return [path]
    files = layer_files(result, personal=True)
    out = [path, path.with_name(f"{path.stem}.addresses.geojson"), path.with_name(f"{path.stem}.facilities.geojson")]
    for target, name in zip(out, ("grids", "addresses", "facilities"), strict=True):
        target.write_bytes(files[name])
    return out
