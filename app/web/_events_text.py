"""The events pages' UI strings (zh, en) and the OpenAPI description of /api/v1/events."""

from __future__ import annotations

from typing import Any

from app.geo._events_model import REJECT_REASONS, STATES, TRANSITIONS
from app.web.openapi import error_responses

STRINGS: dict[str, tuple[str, str]] = {
    "nav.events": ("事件", "Events"),
    "nav.report": ("上报问题", "Report a problem"),
    "events.report_title": ("上报问题", "Report a problem"),
    "events.report_lead": ("看到身边的问题？拍照、定位、说明，网格员会受理。", "Seen a problem nearby? Photo, place, a few words: "
                           "the grid worker takes it from there."),
    "events.category": ("问题类别", "Category"),
    "events.description": ("问题描述", "Description"),
    "events.description_ph": ("例如：3 号楼东侧路灯不亮已三天", "e.g. the street lamp east of building 3 has been out for 3 days"),
    "events.place": ("问题地点", "Place"),
    "events.use_gps": ("使用手机定位", "Use my location"),
    "events.tap_hint": ("或在地图上点选位置", "or tap the map"),
    "events.address": ("或填写地址", "or type an address"),
    "events.address_ph": ("街道、小区、楼号", "street, estate, building"),
    "events.photos": ("照片（最多 {n} 张）", "Photos (at most {n})"),
    "events.phone": ("联系电话（选填，仅处理人员可见）", "Phone (optional, seen only by the handlers)"),
    "events.captcha": ("验证码", "Captcha"),
    "events.captcha_q": ("请计算图中算式的结果", "Work out the sum in the picture"),
    "events.captcha_ph": ("请填写结果", "Answer"),
    "events.captcha_new": ("换一题", "Another"),
    "events.submit": ("提交上报", "Send report"),
    "events.privacy": ("您的电话和照片只有处理此事的工作人员能看到；公开页面只显示类别、网格和状态。",
                       "Your phone and photos are seen only by the staff handling the case; public pages show "
                       "only the category, grid and status."),
    "events.js.locating": ("正在获取位置…", "Finding your position…"),
    "events.js.located": ("已使用手机定位", "Using your phone's position"),
    "events.js.no_geo": ("此浏览器无法定位，请在地图上点选或填写地址", "This browser cannot locate you: tap the map or type an address"),
    "events.js.geo_denied": ("未能定位（未授权或无信号），请在地图上点选或填写地址",
                             "No position (not allowed or no signal): tap the map or type an address"),
    "events.js.tapped": ("已在地图上选点", "Place picked on the map"),
    "events.js.sending": ("正在提交…", "Sending…"),
    "events.js.need_place": ("请定位、在地图上选点或填写地址", "Locate, tap the map or type an address"),
    "events.js.failed": ("提交失败", "Not sent"),
    "events.js.offline": ("网络不通，请稍后重试（重试不会重复上报）", "No connection: try again (a retry never reports twice)"),
    "events.js.done": ("已提交", "Sent"),
    "events.status_title": ("事件进度", "Report status"),
    "events.thanks": ("上报成功，谢谢！请保存此页链接以查看办理进度。", "Thank you: your report is in. Keep this page's link to follow it."),
    "events.id": ("事件编号", "Event no."),
    "events.status": ("状态", "Status"),
    "events.grid": ("所属网格", "Grid"),
    "events.reported_on": ("上报日期", "Reported on"),
    "events.closed_on": ("结案日期", "Closed on"),
    "events.queue_title": ("我的待办", "My queue"),
    "events.stats_link": ("统计报表", "Statistics"),
    "events.all": ("全部", "All"),
    "events.open": ("未结案", "Open"),
    "events.overdue": ("已超时", "Overdue"),
    "events.only_overdue": ("只看超时", "Overdue only"),
    "events.only_mine": ("只看分派给我的", "Assigned to me only"),
    "events.filter": ("筛选", "Filter"),
    "events.none": ("没有符合条件的事件。", "No events match."),
    "events.total": ("共 {n} 件", "{n} events"),
    "events.due": ("时限", "Due"),
    "events.created": ("上报时间", "Reported"),
    "events.detail_title": ("事件详情", "Event"),
    "events.reporter": ("上报人", "Reporter"),
    "events.anonymous": ("群众（匿名）", "Resident (anonymous)"),
    "events.handler": ("处理人", "Handler"),
    "events.department": ("部门", "Department"),
    "events.history": ("办理经过", "History"),
    "events.actions": ("可执行的操作", "Actions"),
    "events.no_actions": ("当前没有您可执行的操作。", "Nothing for you to do now."),
    "events.note": ("说明", "Note"),
    "events.reason": ("驳回理由", "Reason"),
    "events.pick_department": ("吹哨到部门", "Department to escalate to"),
    "events.late": ("曾超时", "Was late"),
    "events.back": ("返回待办", "Back to the queue"),
}

_EVENT = {"type": "object", "description": "An event as the handling chain sees it", "properties": {
    "id": {"type": "string", "example": "E20261207-0001"}, "status": {"type": "string", "enum": list(STATES)},
    "category": {"type": "string"}, "description": {"type": "string"}, "lon": {"type": "number"},
    "lat": {"type": "number"}, "grid_code": {"type": "string"}, "department": {"type": ["string", "null"]},
    "handler": {"type": ["string", "null"]}, "reporter_phone": {"type": ["string", "null"]},
    "overdue": {"type": "boolean"}, "actions": {"type": "array", "items": {"type": "string"}}}}
_PUBLIC = {"type": "object", "description": "What anyone may see: no people, no photos, the grid's point",
           "properties": {"id": {"type": "string"}, "category": {"type": "string"},
                          "status": {"type": "string", "enum": list(STATES)}, "grid_code": {"type": "string"},
                          "reported_on": {"type": "string"}, "closed_on": {"type": ["string", "null"]},
                          "lon": {"type": ["number", "null"]}, "lat": {"type": ["number", "null"]}}}
_REPORT = {"type": "object", "required": ["report_key", "category", "description"], "properties": {
    "report_key": {"type": "string", "pattern": "^[A-Za-z0-9_.:\\-]{8,80}$",
                   "description": "Client-made idempotency key, one per report, sent again on retry"},
    "category": {"type": "string", "example": "roads"},
    "description": {"type": "string", "maxLength": 2000},
    "lon": {"type": "number"}, "lat": {"type": "number"},
    "crs": {"type": "string", "description": "EPSG:4326 (default), gcj02 or bd09"},
    "address": {"type": "string", "description": "Instead of lon/lat"},
    "phone": {"type": "string", "description": "Anonymous resident's mobile (handlers only)"},
    "captcha_token": {"type": "string", "description": "From GET /api/v1/events/captcha (anonymous only)"},
    "captcha_answer": {"type": "string"},
    "photos": {"type": "array", "items": {"type": "string", "format": "binary"},
               "description": "multipart only; up to 4 images"}}}
_REPORT_EXAMPLE = {"report_key": "r-5f1c2a9e77", "category": "roads", "description": "路灯不亮",
                   "lon": 98.2847, "lat": 39.7725, "captcha_token": "…", "captcha_answer": "12"}
_ID = {"name": "event_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": "^E[0-9]{8}-[0-9]{4,}$", "example": "E20261207-0001"}}
_JSON = {"application/json": {"schema": _EVENT}}
_AUTH = {"401": {"description": "sign in first", "content": error_responses(400)["400"]["content"]}}
_LIST_PARAMS = [
    {"name": "status", "in": "query", "required": False, "description": "open or a state (repeatable)",
     "schema": {"type": "string", "enum": ["open", *STATES]}},
    {"name": "overdue", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "category", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "grid", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "mine", "in": "query", "required": False, "description": "1: only my queue",
     "schema": {"type": "string", "enum": ["0", "1"]}},
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/events": {
        "post": {
            "summary": "Report a problem (resident or staff); anonymous reports need the captcha and are rate-limited",
            "operationId": "eventReport",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _REPORT, "example": _REPORT_EXAMPLE},
                "multipart/form-data": {"schema": _REPORT}}},
            "responses": {
                "201": {"description": "recorded: id, status_url, public view (and the full event for staff)",
                        "content": {"application/json": {"example": {
                            "id": "E20261207-0001", "new": True, "status": "reported",
                            "status_url": "/events/status/E20261207-0001"}}}},
                "200": {"description": "a retry: the event already recorded under this report_key"},
                **error_responses(400, 413, 429),
                "422": {"description": "the place is in no grid", "content": error_responses(400)["400"]["content"]}}},
        "get": {
            "summary": "The events the caller may see (grid worker: their grids; department: escalated to it; "
                       "admin: all)", "operationId": "eventList", "parameters": _LIST_PARAMS,
            "responses": {"200": {"description": "total, limit, offset, events", "content": {"application/json": {
                "example": {"total": 1, "limit": 100, "offset": 0, "events": [{"id": "E20261207-0001",
                                                                                 "status": "reported"}]}}}},
                          **error_responses(400), **_AUTH}},
    },
    "/api/v1/events/captcha": {"get": {
        "summary": "A captcha for an anonymous report: a signed token and the picture (a data: URL) of a sum",
        "operationId": "eventCaptcha",
        "responses": {"200": {"description": "token, image, expires_in, required", "content": {"application/json": {
            "example": {"token": "eyJuIjoi…", "image": "data:image/png;base64,…", "expires_in": 600,
                        "required": True}}}}}}},
    "/api/v1/events/public": {"get": {
        "summary": "Every event as anyone may see it (category, grid, status, the grid's point): the map's public layer",
        "operationId": "eventPublicList",
        "parameters": [_LIST_PARAMS[0], {"name": "limit", "in": "query", "required": False,
                                         "schema": {"type": "integer", "minimum": 1, "maximum": 5000}}],
        "responses": {"200": {"description": "total and events", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"total": {"type": "integer"},
                                             "events": {"type": "array", "items": _PUBLIC}}}}}},
                      **error_responses(400)}}},
    "/api/v1/events/public/{event_id}": {"get": {
        "summary": "One event as anyone may see it (a resident following a report)", "operationId": "eventPublic",
        "parameters": [_ID],
        "responses": {"200": {"description": "the public view", "content": {"application/json": {"schema": _PUBLIC}}},
                      **error_responses(404)}}},
    "/api/v1/events/{event_id}": {"get": {
        "summary": "One event in full for the handling chain: photos, history, the caller's actions now",
        "operationId": "eventGet", "parameters": [_ID],
        "responses": {"200": {"description": "the event", "content": _JSON}, **error_responses(404), **_AUTH}}},
    "/api/v1/events/{event_id}/actions": {"post": {
        "summary": "One workflow action: accept, reject, escalate, decline, handle, return, verify, close",
        "operationId": "eventAction", "parameters": [_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["action"], "properties": {
                "action": {"type": "string", "enum": list(TRANSITIONS)}, "note": {"type": "string"},
                "department": {"type": "string"}, "reason": {"type": "string", "enum": list(REJECT_REASONS)}}},
            "example": {"action": "escalate", "department": "市政局", "note": "路灯归市政"}}}},
        "responses": {"200": {"description": "the updated event", "content": _JSON}, **error_responses(400, 404),
                      **_AUTH, "403": {"description": "not this caller's step"},
                      "409": {"description": "the workflow does not allow it now; nothing changed",
                              "content": error_responses(400)["400"]["content"]}}}},
}
