"""The events map layer's and statistics page's UI strings (zh, en) and the OpenAPI description of their endpoints."""

from __future__ import annotations

from typing import Any

from app.geo._events_stats import PERIODS
from app.geo.events_report import BYS
from app.web.openapi import error_responses

STRINGS: dict[str, tuple[str, str]] = {
    "evmap.layerClusters": ("事件（聚合）", "Events (clustered)"),
    "evmap.layerHeat": ("事件热力图", "Events heat map"),
    "evmap.requests": ("增设设施诉求", "Requests for a facility"),
    "evmap.requestsUnder": ("其中位于未达标网格", "in underserved grids"),
    "evmap.loading": ("正在加载事件…", "Loading events…"),
    "evmap.failed": ("事件加载失败", "Events could not be loaded"),
    "evmap.coarse": ("公开视图：位置为所在网格的代表点", "Public view: each event shows at its grid's point"),
    "evmap.grid": ("网格", "Grid"), "evmap.status": ("状态", "Status"), "evmap.reported": ("上报日期", "Reported"),
    "evmap.closed": ("结案日期", "Closed"), "evmap.overdue": ("已超期", "Overdue"), "evmap.open": ("查看详情", "Details"),
    "evmap.attr.total": ("事件数", "Events"), "evmap.attr.open_share": ("待办比例", "Open share"),
    "evmap.attr.overdue_share": ("超期比例", "Overdue share"), "evmap.attr.closed_share": ("结案比例", "Closed share"),
    "evmap.attr.mean_hours_to_close": ("平均办结时长", "Mean time to close"),
    "evmap.byGrid": ("按网格", "per grid"), "evmap.byCommittee": ("按社区", "per committee"),
    "evmap.unit.count": ("件", "events"), "evmap.unit.share": ("%", "%"), "evmap.unit.hours": ("小时", "hours"),
    "evstats.title": ("事件统计", "Event statistics"),
    "evstats.by": ("统计单位", "Group by"), "evstats.period": ("周期", "Period"),
    "evstats.whole": ("不分周期", "Whole span"), "evstats.since": ("起", "From"), "evstats.until": ("止（不含）", "Until"),
    "evstats.apply": ("统计", "Show"), "evstats.xlsx": ("下载 XLSX", "Download XLSX"),
    "evstats.pdf": ("下载 PDF", "Download PDF"), "evstats.none": ("没有符合条件的事件。", "No event matches."),
    "evstats.by.grid": ("网格", "Grid"), "evstats.by.committee": ("社区（村）", "Committee"),
    "evstats.by.division": ("街道（镇）", "Division"), "evstats.by.department": ("职能部门", "Department"),
    "evstats.by.category": ("事件类别", "Category"),
    "evstats.period.day": ("按日", "Daily"), "evstats.period.week": ("按周", "Weekly"),
    "evstats.period.month": ("按月", "Monthly"), "evstats.period.quarter": ("按季度", "Quarterly"),
    "evstats.period.year": ("按年", "Yearly"),
    "evstats.col.name": ("名称", "Name"), "evstats.col.period": ("周期", "Period"),
    "evstats.col.total": ("事件数", "Events"), "evstats.col.open": ("待办", "Open"),
    "evstats.col.overdue": ("超期", "Overdue"), "evstats.col.closed": ("已结案", "Closed"),
    "evstats.col.rejected": ("已驳回", "Rejected"), "evstats.col.on_time_rate": ("按期率", "On-time rate"),
    "evstats.col.mean_hours_to_close": ("平均办结时长（小时）", "Mean time to close (h)"),
    "evstats.col.p90_hours_to_close": ("P90 办结时长（小时）", "P90 time to close (h)"),
}

_SPAN = [
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "created at or after (UTC date or time)"},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "created before (UTC date or time)"},
]
_DATUM = {"name": "datum", "in": "query", "schema": {"type": "string", "enum": ["wgs84", "gcj02"],
                                                      "default": "wgs84"}, "description": "datum of the points"}
_POINTS: dict[str, Any] = {"description": "points; `exact` false means coarsened to the grid's point (public)",
                           "content": {"application/json": {"schema": {"type": "object"}}}}
_REPORT_PARAMS = [
    {"name": "by", "in": "query", "schema": {"type": "string", "enum": list(BYS), "default": "grid"}},
    {"name": "period", "in": "query", "schema": {"type": "string", "enum": list(PERIODS)}},
    *_SPAN,
]

OPENAPI_PATHS: dict[str, Any] = {
    "/map/events": {"get": {
        "summary": "Events as map points: signed-in accounts their own at the reported point; the public every "
                   "event at its grid's point, without people, description or photos",
        "tags": ["events"],
        "parameters": [_DATUM, {"name": "status", "in": "query", "schema": {"type": "string"}},
                       {"name": "category", "in": "query", "schema": {"type": "string"}}, *_SPAN],
        "responses": {"200": _POINTS, **error_responses(400)}}},
    "/map/events/requests": {"get": {
        "summary": "Public-service requests (add a facility) as map points, for the coverage page",
        "tags": ["events"], "parameters": [_DATUM, *_SPAN], "responses": {"200": _POINTS, **error_responses(400)}}},
    "/map/events/shares": {"get": {
        "summary": "Choropleth attributes per grid or committee: events, open/overdue/closed share (%), mean hours "
                   "to close, with class breaks",
        "tags": ["events"],
        "parameters": [{"name": "level", "in": "query", "schema": {"type": "string", "enum": ["grid", "committee"]}},
                       *_SPAN],
        "responses": {"200": {"description": "codes, values per attribute, classes"}, **error_responses(400)}}},
    "/api/v1/events/stats": {"get": {
        "summary": "Event statistics of the caller's events: counts, on-time rate, mean and P90 hours to close",
        "tags": ["events"], "parameters": _REPORT_PARAMS,
        "responses": {"200": {"description": "rows; the last (code *) is the total"}, **error_responses(400)}}},
    "/api/v1/events/stats/report.{fmt}": {"get": {
        "summary": "The event statistics as XLSX or PDF",
        "tags": ["events"],
        "parameters": [{"name": "fmt", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": ["xlsx", "pdf"]}}, *_REPORT_PARAMS],
        "responses": {"200": {"description": "the file"}, **error_responses(400)}}},
}
