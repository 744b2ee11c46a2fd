"""Grid events on the maps and in reports: the map layer's data, choropleth shares, facility requests, statistics."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from app.geo import events as ev
from app.geo import events_report as rep
from app.web import dataset, i18n
from app.web._events_map_text import OPENAPI_PATHS, STRINGS
from app.web.auth import current_user, db_file, role_required
from app.web.errors import ApiError

__all__ = ["OPENAPI_PATHS", "bp"]

bp = Blueprint("events_map", __name__)
i18n.register(STRINGS)

#: Most events one map answer carries (newest first); ``truncated`` says when more matched.
MAP_LIMIT = 5000
#: The category of "add a facility" requests (公共服务诉求) the coverage page overlays.
REQUEST_CATEGORY = "service"


def _who() -> ev.Who:
    user = current_user()
    return ev.Who(user.name, user.role) if user else ev.ANONYMOUS


def _datum() -> str:
    datum = request.args.get("datum", "wgs84")
    if datum not in ("wgs84", "gcj02"):
        raise ApiError("datum must be wgs84 or gcj02")
    return datum


def _shift(lon: Any, lat: Any, datum: str) -> tuple[float, float] | None:
    if lon is None or lat is None:
        return None
    lon, lat = float(lon), float(lat)
    if datum == "gcj02":
        from app.geo.crs import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(lon, lat)
    return round(lon, 6), round(lat, 6)


def _name(names: Any, fallback: str) -> str:
    if isinstance(names, dict):
        return str(names.get(i18n.current_lang()) or names.get("zh") or fallback)
    return str(names or fallback)


def _span() -> tuple[datetime | None, datetime | None]:
    return ev.utc(request.args.get("since")), ev.utc(request.args.get("until"))


def _statuses() -> list[str] | None:
    return [s for s in request.args.getlist("status") if s] or None


def _point(event: dict[str, Any], datum: str, *, exact: bool) -> dict[str, Any] | None:
    """One marker: what the map shows of an event; staff get the reported point, others the grid's point."""
    at = _shift(event.get("lon"), event.get("lat"), datum)
    if at is None:
        return None
    out = {"id": event["id"], "category": event["category"],
           "category_name": _name(event.get("category_name"), event["category"]),
           "status": event["status"], "status_name": _name(event.get("status_name"), event["status"]),
           "grid_code": event["grid_code"], "lon": at[0], "lat": at[1],
           "reported_on": str(event.get("created") or event.get("reported_on") or "")[:10],
           "closed_on": (str(event.get("closed") or event.get("closed_on") or "")[:10]) or None}
    if exact:
        out["overdue"] = bool(event.get("overdue"))
        out["url"] = url_for("events.detail", event_id=event["id"])
    return out


def map_points(category: str | None = None) -> dict[str, Any]:
    """The events the caller may see as map points: staff exact and scoped; the public coarsened, without people."""
    who, datum, (since, until) = _who(), _datum(), _span()
    ds = dataset()
    if who.anonymous:
        found = ev.public_events(db_file(), ds, status=_statuses(), since=since, limit=1000)
        rows = [e for e in found if not category or e["category"] == category]
        if until is not None:
            rows = [e for e in rows if e["reported_on"] < until.strftime("%Y-%m-%d")]
        exact = False
    else:
        found = ev.list_events(db_file(), who, status=_statuses(), category=category, since=since, until=until,
                               limit=None, ds=ds)["events"]
        rows = [e for e in found if e["status"] != "rejected"]
        exact = True
    points = [p for p in (_point(e, datum, exact=exact) for e in rows[:MAP_LIMIT]) if p is not None]
    return {"exact": exact, "datum": datum, "total": len(rows), "truncated": len(rows) > len(points),
            "events": points}


@bp.get("/map/events")
def events_points() -> Response:
    """The events layer of the home map: signed-in accounts see their events at the reported points; the public
    sees every event at its grid's point, with category, grid, status and dates only."""
    resp = jsonify(map_points(request.args.get("category") or None))
    resp.cache_control.no_store = True
    resp.vary.add("Cookie")
    return resp


@bp.get("/map/events/requests")
def facility_requests() -> Response:
    """The "add a facility" requests (公共服务诉求) for the coverage page's overlay, as :func:`events_points`."""
    resp = jsonify({**map_points(REQUEST_CATEGORY), "category": REQUEST_CATEGORY})
    resp.cache_control.no_store = True
    resp.vary.add("Cookie")
    return resp


@bp.get("/map/events/shares")
def shares() -> Response:
    """The choropleth attributes per grid or committee: event count, open/overdue/closed share (%), mean hours to
    close. Staff get their own events' figures; the public gets every event's (counts only, no event)."""
    level = request.args.get("level", "grid")
    if level not in ("grid", "committee"):
        raise ApiError("level must be grid or committee")
    who, (since, until) = _who(), _span()
    viewer = ev.Who("public-map", "admin") if who.anonymous else who
    ds = dataset()
    table = ev.frame(db_file(), viewer, since=since, until=until, ds=ds)
    body = rep.shares_table(table, ds, level)
    body["labels"] = {k: i18n.t(f"evmap.attr.{k}") for k in rep.MAP_ATTRIBUTES}
    body["units"] = {k: i18n.t(f"evmap.unit.{kind}") for k, kind in rep.MAP_ATTRIBUTES.items()}
    resp = jsonify(body)
    resp.cache_control.no_store = True
    resp.vary.add("Cookie")
    return resp


def _spec() -> rep.ReportSpec:
    by = request.args.get("by", "grid")
    period = request.args.get("period") or None
    since, until = _span()
    user = current_user()
    tz = str(current_app.config["TIMEZONE"])
    return rep.ReportSpec(by=by, period=period, since=since, until=until, lang=i18n.current_lang(), tz=tz,
                          generated=datetime.now(UTC), viewer=user.name if user else "").check()


def _rows() -> tuple[rep.ReportSpec, Any, Any]:
    spec, ds = _spec(), dataset()
    table = ev.frame(db_file(), _who(), since=spec.since, until=spec.until, ds=ds)
    if spec.viewer and _who().admin:
        spec.viewer = ""  # an administrator's report covers every event
    return spec, table, ds


@bp.get("/api/v1/events/stats")
@role_required("department")
def api_stats() -> Response:
    """Statistics of the caller's events per grid, committee, division, department or category (and period)."""
    spec, table, ds = _rows()
    rows = rep.report_table(table, spec, ds)
    records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
               for r in rows.to_dict(orient="records")]
    return jsonify({"by": spec.by, "period": spec.period, "rows": records})


@bp.get("/api/v1/events/stats/report.<fmt>")
@role_required("department")
def api_stats_report(fmt: str) -> Response:
    """The statistics as a download: XLSX (formatted workbook) or PDF (with the CJK font and a per-grid map)."""
    if fmt not in rep.FORMATS:
        raise ApiError(f"format must be one of {', '.join(rep.FORMATS)}")
    spec, table, ds = _rows()
    stamp = spec.generated.strftime("%Y%m%d-%H%M")
    name = f"events-{spec.by}{'-' + spec.period if spec.period else ''}-{stamp}.{fmt}"
    if fmt == "pdf":
        data, mime = rep.build_pdf(table, spec, ds), "application/pdf"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = rep.write_xlsx(table, Path(tmp) / name, spec, ds).read_bytes()
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.cache_control.no_store = True
    return resp


@bp.get("/events/stats")
@role_required("department")
def stats_page() -> str:
    """The statistics page: grouping, period and span, the table, and XLSX/PDF downloads of the same."""
    spec, table, ds = _rows()
    rows = rep.report_table(table, spec, ds)
    args = {k: v for k, v in request.args.items() if k in ("by", "period", "since", "until", "lang") and v}
    return render_template(
        "events_map/stats.html", rows=rows.to_dict(orient="records"), spec=spec, bys=rep.BYS,
        periods=list(ev.PERIODS), since=request.args.get("since", ""), until=request.args.get("until", ""),
        xlsx_url=url_for("events_map.api_stats_report", fmt="xlsx", **args),
        pdf_url=url_for("events_map.api_stats_report", fmt="pdf", **args))


@bp.app_context_processor
def _layer_config() -> dict[str, Any]:
    """``events_layer_config()`` for the home and coverage templates' script partials."""

    def config(page: str = "home") -> dict[str, Any]:
        from app.web.assets import vendor_url
        from app.web.maps import basemap

        # the coverage map draws WGS84 without a basemap; the home map draws in its basemap's datum
        return {"page": page, "datum": basemap().datum if page == "home" else "wgs84", "pointsUrl": url_for("events_map.events_points"),
                "sharesUrl": url_for("events_map.shares"), "requestsUrl": url_for("events_map.facility_requests"),
                "heatJs": vendor_url("leaflet.heat/leaflet_heat.min.js"), "staff": current_user() is not None,
                "strings": {k.split(".", 1)[1]: i18n.t(k) for k in STRINGS if k.startswith("evmap.")}}

    return {"events_layer_config": config}
