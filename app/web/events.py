"""Grid events on the web: the resident's report page, staff queue and detail with actions, and /api/v1/events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for

from app.geo import events as ev
from app.web import _events_guard as guard
from app.web import dataset, i18n
from app.web._events_text import OPENAPI_PATHS, STRINGS
from app.web.auth import current_user, db_file, role_required
from app.web.errors import ApiError

__all__ = ["OPENAPI_PATHS", "bp"]

bp = Blueprint("events", __name__)
i18n.register(STRINGS)


# ------------------------------------------------------------------ helpers


def _who() -> ev.Who:
    user = current_user()
    return ev.Who(user.name, user.role) if user else ev.ANONYMOUS


def _target() -> Any:
    return db_file()


def _lang_name(zh: str, en: str) -> str:
    return en if i18n.current_lang() == "en" else zh


def _nm(names: Any, fallback: str = "") -> str:
    """A ``{"zh", "en"}`` name of the core in the page's language (templates: ``ev_name(e.status_name, e.status)``)."""
    if isinstance(names, dict):
        return str(names.get(i18n.current_lang()) or names.get("zh") or fallback)
    return str(names or fallback)


def _time(text: str | None) -> str:
    """A stored UTC time in the configured TIMEZONE, to the minute (``2026-12-07 08:42``)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not text:
        return ""
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m-%d %H:%M")
    except (ValueError, KeyError):
        return text[:16].replace("T", " ") + " UTC"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"ev_name": _nm, "ev_time": _time}


def _params() -> dict[str, Any]:
    """The request's fields: a JSON object, or form fields (multipart or urlencoded)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("send a JSON object")
        return body
    return request.form.to_dict()


def _photos() -> list[bytes]:
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > ev.MAX_PHOTOS:
        raise ev.PhotoError(f"at most {ev.MAX_PHOTOS} photos, got {len(files)}")
    return [f.read() for f in files]


def _number(value: Any, what: str) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(f"{what} must be a number") from None


def _do_report() -> tuple[dict[str, Any], ev.Who]:
    """Check the guard (anonymous residents), then record the report; the same for the page and the API."""
    p = _params()
    who = _who()
    if who.anonymous:
        guard.check_rate()
        guard.check_captcha(p.get("captcha_token"), p.get("captcha_answer"))
    x = _number(p.get("lon", p.get("x")), "lon")
    y = _number(p.get("lat", p.get("y")), "lat")
    address = str(p.get("address") or "").strip() or None
    if (x is None) != (y is None):
        raise ApiError("give both lon and lat, or an address")
    if x is None and address is None:
        raise ApiError("give the place: lon and lat (a map tap or the phone's position), or an address")
    event = ev.report(_target(), dataset(), who, report_key=p.get("report_key"), category=p.get("category"),
                      description=p.get("description"), address=None if x is not None else address, x=x, y=y,
                      crs=p.get("crs") or None, phone=p.get("phone"), photos=_photos())
    return event, who


def _report_answer(event: dict[str, Any], who: ev.Who) -> dict[str, Any]:
    """What the reporter gets back: the id, the status link and the public view (everything for staff)."""
    public = ev.public_view(event, dataset())
    body: dict[str, Any] = {"id": event["id"], "new": event["new"], "status": event["status"],
                            "status_url": url_for("events.status_page", event_id=event["id"]),
                            "public": public}
    if not who.anonymous:
        body["event"] = event
        body["url"] = url_for("events.detail", event_id=event["id"])
    return body


def _categories() -> list[dict[str, str]]:
    return [{"code": c.code, "name": _lang_name(c.zh, c.en)} for c in ev.categories(dataset().metadata).values()]


def _map_config() -> dict[str, Any]:
    from app.web.assets import vendor_url
    from app.web.maps import basemap

    bm = basemap()
    grids = dataset().grids
    bounds = None
    if len(grids):
        w, s, e, n = (float(v) for v in grids.total_bounds)
        if bm.datum == "gcj02":
            from app.geo.crs import wgs84_to_gcj02

            w, s = wgs84_to_gcj02(w, s)
            e, n = wgs84_to_gcj02(e, n)
        bounds = [[round(float(s), 6), round(float(w), 6)], [round(float(n), 6), round(float(e), 6)]]
    return {"tiles": list(bm.tiles) + list(bm.overlays), "datum": bm.datum, "bounds": bounds,
            "outlines": url_for("locate.outlines"),
            "leaflet_js": vendor_url("leaflet/leaflet.js"), "leaflet_css": vendor_url("leaflet/leaflet.css")}


def _display_point(lon: float, lat: float, datum: str) -> list[float]:
    if datum == "gcj02":
        from app.geo.crs import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(lon, lat)
    return [round(float(lat), 7), round(float(lon), 7)]


def _bool(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    return value.lower() in ("1", "true", "yes", "on")


def _list_args() -> dict[str, Any]:
    a = request.args
    status = [s for s in a.getlist("status") if s] or None
    try:
        limit = int(a.get("limit", 100))
        offset = int(a.get("offset", 0))
    except ValueError:
        raise ApiError("limit and offset must be whole numbers") from None
    if not 1 <= limit <= 1000 or not 0 <= offset <= 10_000_000:
        raise ApiError("limit must be 1-1000 and offset at least 0")
    return {"status": status, "category": a.get("category") or None, "grid": a.get("grid") or None,
            "overdue": _bool(a.get("overdue")), "mine_only": bool(_bool(a.get("mine"))), "limit": limit,
            "offset": offset}


# ------------------------------------------------------------------ JSON API


@bp.get("/api/v1/events/captcha")
def api_captcha() -> Response:
    """A new captcha for an anonymous report (signed-in accounts need none)."""
    resp = jsonify({**guard.new_captcha(), "required": _who().anonymous,
                    "question": i18n.t("events.captcha_q")})
    resp.cache_control.no_store = True
    return resp


@bp.post("/api/v1/events")
def api_report() -> tuple[Response, int]:
    """Record a report (JSON or multipart with photos); a retry with the same report_key returns the same event."""
    event, who = _do_report()
    return jsonify(_report_answer(event, who)), 201 if event["new"] else 200


@bp.get("/api/v1/events")
@role_required("department")
def api_list() -> Response:
    """The events the caller may see (grid, area, department or all), newest first."""
    return jsonify(ev.list_events(_target(), _who(), ds=dataset(), **_list_args()))


@bp.get("/api/v1/events/public")
def api_public() -> Response:
    """Every event as anyone may see it: category, grid, status, the grid's point; no people, no photos."""
    status = [s for s in request.args.getlist("status") if s] or None
    try:
        limit = max(1, min(int(request.args.get("limit", 1000)), 5000))
    except ValueError:
        raise ApiError("limit must be a whole number") from None
    found = ev.public_events(_target(), dataset(), status=status, limit=limit)
    return jsonify({"total": len(found), "events": found})


@bp.get("/api/v1/events/public/<event_id>")
def api_public_one(event_id: str) -> Response:
    """One event as anyone may see it (a resident following a report)."""
    return jsonify(ev.public_event(_target(), dataset(), event_id))


@bp.get("/api/v1/events/<event_id>")
@role_required("department")
def api_one(event_id: str) -> Response:
    """One event in full for the handling chain: photos, history and the actions the caller may do now."""
    return jsonify(ev.get_event(_target(), event_id, _who(), ds=dataset()))


@bp.post("/api/v1/events/<event_id>/actions")
@role_required("department")
def api_action(event_id: str) -> Response:
    """Do one workflow action: {action, note, department, reason}; 409 when the state does not allow it."""
    p = _params()
    ev.transition(_target(), event_id, str(p.get("action") or ""), _who(), note=p.get("note"),
                  department=p.get("department"), reason=p.get("reason"), photos=_photos(), ds=dataset())
    return jsonify(ev.get_event(_target(), event_id, _who(), ds=dataset()))


# ------------------------------------------------------------------ pages


@bp.route("/events/report", methods=["GET", "POST"])
def report_page() -> Any:
    """The phone-first report form; a posted form (no script) records the report and shows its status link."""
    who = _who()
    if request.method == "POST":
        event, who = _do_report()
        return redirect(url_for("events.status_page", event_id=event["id"], new=1), 303)
    cfg = {**_map_config(), "lang": i18n.current_lang(), "captcha": who.anonymous,
           "api": url_for("events.api_report"), "captcha_url": url_for("events.api_captcha"),
           "text": {k: i18n.t(f"events.js.{k}") for k in _JS_TEXT}}
    return render_template("events/report.html", cfg=cfg, categories=_categories(), anonymous=who.anonymous,
                           max_photos=ev.MAX_PHOTOS)


_JS_TEXT = ("locating", "located", "no_geo", "geo_denied", "tapped", "sending", "need_place", "failed",
            "offline", "done")


@bp.get("/events/status/<event_id>")
def status_page(event_id: str) -> str:
    """A report's public status: category, grid, status and dates, never people, photos or the description."""
    view = ev.public_event(_target(), dataset(), event_id)
    return render_template("events/status.html", e=view, new=request.args.get("new") == "1")


@bp.get("/events")
@role_required("department")
def queue() -> str:
    """我的待办: the events the viewer may see, filtered by status, overdue and category."""
    a = request.args
    status = a.get("status", "open") or None
    overdue = _bool(a.get("overdue"))
    category = a.get("category") or None
    mine = bool(_bool(a.get("mine")))
    found = ev.list_events(_target(), _who(), status=status if status != "all" else None, overdue=overdue or None,
                           category=category, mine_only=mine, limit=200, ds=dataset())
    return render_template("events/queue.html", found=found, status=status or "all", overdue=bool(overdue),
                           category=category or "", mine=mine, categories=_categories(),
                           states=[(k, _lang_name(*v)) for k, v in ev.STATES.items()])


@bp.get("/events/<event_id>")
@role_required("department")
def detail(event_id: str) -> str:
    """One event: map, description, photos, history and the actions the viewer may do now."""
    event = ev.get_event(_target(), event_id, _who(), ds=dataset())
    cfg = _map_config()
    cfg["point"] = _display_point(event["lon"], event["lat"], cfg["datum"])
    actions = [(a, _lang_name(ev.TRANSITIONS[a].zh, ev.TRANSITIONS[a].en), ev.TRANSITIONS[a].requires)
               for a in event["actions"]]
    return render_template("events/detail.html", e=event, cfg=cfg, actions=actions,
                           departments=ev.departments(_target()) if "escalate" in event["actions"] else [],
                           reasons=[(k, _lang_name(*v)) for k, v in ev.REJECT_REASONS.items()],
                           states={k: _lang_name(*v) for k, v in ev.STATES.items()},
                           names={k: _lang_name(t.zh, t.en) for k, t in ev.TRANSITIONS.items()})


@bp.post("/events/<event_id>/action")
@role_required("department")
def action_form(event_id: str) -> Any:
    """One action from the detail page's forms (CSRF-checked); back to the detail page after it."""
    f = request.form
    ev.transition(_target(), event_id, f.get("action", ""), _who(), note=f.get("note"),
                  department=f.get("department"), reason=f.get("reason"), photos=_photos(), ds=dataset())
    return redirect(url_for("events.detail", event_id=event_id), 303)


@bp.get("/events/<event_id>/photos/<seq>")
@role_required("department")
def photo(event_id: str, seq: str) -> Response:
    """One photo for the handling chain, with headers that keep it an image and out of shared caches."""
    if not seq.isdigit() or len(seq) > 12:
        raise ev.EventNotFound(f"no photo {seq[:20]} of event {event_id[:40]}")
    data, content_type = ev.photo(_target(), event_id, int(seq), _who())
    resp = Response(data, mimetype=content_type)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Disposition"] = f'inline; filename="{event_id}-{seq}.jpg"'
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return resp
