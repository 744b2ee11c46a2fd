"""The event statistics reports' words in Chinese and English: titles, column headers, groupings, periods."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.geo import audit

#: Every text the reports print, by key: (Chinese, English).
TEXT: dict[str, tuple[str, str]] = {
    "title": ("{city}网格事件统计报告", "{city} grid event statistics"),
    "title_plain": ("网格事件统计报告", "Grid event statistics"),
    "sheet": ("事件统计", "Event statistics"), "parameters": ("参数", "Parameters"), "notes": ("说明", "Notes"),
    "parameter": ("参数", "Parameter"), "value": ("值", "Value"),
    "city": ("城市", "City"), "by": ("统计单位", "Grouped by"), "period": ("统计周期", "Period"),
    "span": ("时间范围", "Time span"), "all_time": ("全部", "all events"), "whole": ("不分周期", "whole span"),
    "generated": ("生成时间", "Generated"), "timezone": ("时区", "Time zone"), "viewer": ("统计账号", "Account"),
    "everyone": ("全部事件", "every event"), "key_figures": ("主要结果", "Key figures"),
    "table": ("统计表", "Statistics"), "map": ("各网格待办与超期比例", "Open and overdue share per grid"),
    "map_core": ("城区", "urban core"), "map_open": ("待办比例", "Open share"), "map_overdue": ("超期比例", "Overdue share"),
    "no_events": ("（无事件）", "(no events)"), "rows_cut": ("表中列出前 {n} 行，完整数据见 XLSX。",
                                                       "The first {n} rows are listed; the XLSX has them all."),
    "page": ("第 {n} 页，共 {total} 页", "Page {n} of {total}"),
    "note.rate": ("按期率 = 结案事件中各环节均未超时限的比例。", "On-time rate = share of closed events with no step past "
                  "its time limit."),
    "note.hours": ("办结时长 = 上报至结案的小时数（仅已结案事件）；P90 为 90% 分位数。",
                   "Time to close = hours from report to close (closed events only); P90 is the 90th percentile."),
    "note.open": ("待办 = 未结案且未驳回；超期 = 待办且已过当前环节时限。",
                  "Open = neither closed nor rejected; overdue = open and past the current step's limit."),
    "note.personal": ("本报告不含任何个人信息（上报人、电话、照片、描述）。",
                      "The report holds no personal data (reporters, phones, photos, descriptions)."),
    "note.utc": ("统计周期按上报时间（UTC）划分。", "Periods follow the report time (UTC)."),
}
#: Column headers: key → (Chinese, English).
HEADERS: dict[str, tuple[str, str]] = {
    "code": ("编码", "Code"), "name": ("名称", "Name"), "period": ("周期", "Period"),
    "total": ("事件数", "Events"), "open": ("待办", "Open"), "overdue": ("超期", "Overdue"),
    "closed": ("已结案", "Closed"), "rejected": ("已驳回", "Rejected"), "on_time_rate": ("按期率", "On-time rate"),
    "mean_hours_to_close": ("平均办结时长（小时）", "Mean time to close (h)"),
    "p90_hours_to_close": ("P90 办结时长（小时）", "P90 time to close (h)"),
}
#: Groupings: key → (Chinese, English).
BY_NAMES: dict[str, tuple[str, str]] = {
    "grid": ("网格", "Grid"), "committee": ("社区（村）", "Committee"), "division": ("街道（镇）", "Division"),
    "department": ("职能部门", "Department"), "category": ("事件类别", "Category"),
}
#: Periods: key → (Chinese, English).
PERIOD_NAMES: dict[str, tuple[str, str]] = {
    "day": ("按日", "daily"), "week": ("按周", "weekly"), "month": ("按月", "monthly"),
    "quarter": ("按季度", "quarterly"), "year": ("按年", "yearly"),
}


def tr(key: str, lang: str = "zh", **fields: Any) -> str:
    """Return one fixed text in ``lang`` with ``fields`` filled in."""
    pair = TEXT.get(key) or HEADERS.get(key) or (key, key)
    return pair[lang == "en"].format(**fields) if fields else pair[lang == "en"]


def header(key: str, lang: str = "zh") -> str:
    """Return a column header in ``lang``."""
    return HEADERS.get(key, (key, key))[lang == "en"]


def parameter_rows(spec: Any, city: str) -> list[tuple[str, str]]:
    """Return the report's (name, value) rows: city, grouping, period, span, account, generation time, zone."""
    lang = spec.lang

    def day(moment: datetime | None) -> str:
        return moment.strftime("%Y-%m-%d") if moment is not None else "…"

    span = tr("all_time", lang) if spec.since is None and spec.until is None else \
        f"{day(spec.since)} – {day(spec.until)}"
    generated = audit.format_time(spec.generated.strftime("%Y-%m-%dT%H:%M:%SZ"), spec.tz)
    return [
        (tr("city", lang), city or "–"),
        (tr("by", lang), BY_NAMES[spec.by][lang == "en"]),
        (tr("period", lang), PERIOD_NAMES[spec.period][lang == "en"] if spec.period else tr("whole", lang)),
        (tr("span", lang), span),
        (tr("viewer", lang), spec.viewer or tr("everyone", lang)),
        (tr("generated", lang), generated),
        (tr("timezone", lang), spec.tz),
    ]
