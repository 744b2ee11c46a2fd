"""Grid events' helpers: the viewer, handler scopes, who may see and act, where a report lands, rows to dicts."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.geo import db
from app.geo import locate as locmod
from app.geo._events_model import (
    DEPARTMENT,
    FINAL_STATES,
    PENDING_STEP,
    PG_HISTORY_GUARD,
    SCHEMA,
    SCOPE_KINDS,
    STATES,
    Category,
    EventError,
    EventLocationError,
    Transition,
    parse_time,
)

if TYPE_CHECKING:
    from app.geo.dataset import Dataset


@dataclass(frozen=True)
class Who:
    """Who is asking: an account name and its role (``app.geo.users.ROLES``), or an anonymous resident.

    Attributes
    ----------
    name : str or None
        The account (None: anonymous).
    role : str
        ``public`` (anonymous), ``staff``, ``department`` or ``admin``.
    """

    name: str | None = None
    role: str = "public"

    @property
    def anonymous(self) -> bool:
        """True for a resident without an account."""
        return not self.name or self.role == "public"

    @property
    def admin(self) -> bool:
        """True for an administrator (sees and may do everything)."""
        return self.role == "admin" and bool(self.name)


ANONYMOUS = Who(None, "public")

_GUARDED: set[str] = set()
_GUARD_LOCK = threading.Lock()


@contextmanager
def connect(target: db.Target) -> Iterator[db.Connection]:
    """Open the events tables (made when missing; on PostgreSQL with the history guard trigger) in one transaction."""
    if db.is_postgres(target) and str(target) not in _GUARDED:
        with _GUARD_LOCK, db.connect(target, SCHEMA) as guard:  # its own transaction: a later refusal keeps it
            guard.execute("SELECT pg_advisory_xact_lock(hashtext('gridmap-schema'))")
            for statement in PG_HISTORY_GUARD:
                guard.execute(statement)
        _GUARDED.add(str(target))
    with db.connect(target, SCHEMA) as conn:
        yield conn


# ---------------------------------------------------------------- scopes


def scopes(conn: db.Connection, account: str | None) -> dict[str, set[str]]:
    """Return an account's handler scopes: kind → codes (grid, committee, division codes; department names)."""
    found: dict[str, set[str]] = {kind: set() for kind in SCOPE_KINDS}
    if account:
        for kind, code in conn.execute("SELECT kind, code FROM event_handlers WHERE account = ?", (account,)):
            found.setdefault(kind, set()).add(code)
    return found


def visible_where(who: Who, mine: dict[str, set[str]]) -> tuple[str, list[Any]]:
    """Return the SQL condition (and its parameters) of the events ``who`` may see in full.

    Admins: all. Staff: events of their grids, committees and divisions. Department accounts:
    events escalated to their departments. Everyone signed in: the events they reported.
    Anonymous: none (they get :func:`app.geo.events.public_view` only).
    """
    if who.admin:
        return "1 = 1", []
    if who.anonymous:
        return "1 = 0", []
    parts: list[str] = ["reporter = ?"]
    params: list[Any] = [who.name]
    columns = {"grid": "grid_code", "committee": "committee_code", "division": "division_code"}
    if who.role in ("staff", "admin"):
        for kind, column in columns.items():
            codes = sorted(mine.get(kind, ()))
            if codes:
                parts.append(f"{column} IN ({', '.join('?' * len(codes))})")
                params += codes
    if who.role == "department":
        codes = sorted(mine.get("department", ()))
        if codes:
            parts.append(f"department IN ({', '.join('?' * len(codes))})")
            params += codes
    return "(" + " OR ".join(parts) + ")", params


def in_grid_chain(who: Who, mine: dict[str, set[str]], event: dict[str, Any]) -> bool:
    """True when ``who`` is the event's grid worker, a leader of its committee or division, or an admin."""
    if who.admin:
        return True
    if who.role not in ("staff", "admin"):
        return False
    return (event["grid_code"] in mine.get("grid", ()) or event.get("committee_code") in mine.get("committee", ())
            or event.get("division_code") in mine.get("division", ()))


def may_act(who: Who, mine: dict[str, set[str]], event: dict[str, Any], rule: Transition) -> bool:
    """True when ``who`` may do ``rule`` on ``event`` (the grid chain, or the department it is escalated to)."""
    if who.admin:
        return True
    if rule.actor == DEPARTMENT and event["status"] == "escalated":
        return who.role == "department" and event.get("department") in mine.get("department", ())
    return in_grid_chain(who, mine, event)


# ---------------------------------------------------------------- where a report lands


def place(ds: Dataset, *, address: Any = None, x: Any = None, y: Any = None, crs: Any = None) -> dict[str, Any]:
    """Locate a report: an address through the gazetteer, or a point in any CRS (GCJ-02 and BD-09 included).

    Returns
    -------
    dict
        ``lon``, ``lat`` (WGS84), ``address`` (the matched standard address, or the nearest one
        to a point), ``grid_code``, ``committee_code``, ``division_code`` and ``worker_name``
        (the grid layer's worker field, or None).

    Raises
    ------
    EventLocationError
        An address that resolves to no single grid, or a point outside every grid (naming the
        nearest grid and its distance).
    app.geo.locate.LocateError
        Bad coordinates or CRS.
    """
    if address is not None and str(address).strip():
        found = locmod.locate_address(ds, address, limit=3)
        if found["status"] != "ok" or not found["grid"]["code"]:
            names = "; ".join(c["address"] for c in found["candidates"][:3])
            hint = f" (closest: {names})" if names else ""
            raise EventLocationError(
                f"address {str(address)[:60]!r} does not resolve to one grid ({found['status']}){hint}; "
                "give a fuller address or the point on the map")
        best = found["candidates"][0]
        lon, lat, label = float(best["lon"]), float(best["lat"]), found["matched_address"]
        grid = found["grid"]
    elif x is not None and y is not None:
        found = locmod.locate_point(ds, x, y, crs)
        lon, lat = found["wgs84"]["lon"], found["wgs84"]["lat"]
        if found["status"] != "ok":
            near = found.get("nearest") or {}
            tail = f"; the nearest grid is {near['code']} at {near['distance_m']} m" if near.get("code") else ""
            raise EventLocationError(f"the point {lon:.6f}, {lat:.6f} is outside every grid{tail}")
        grid = found["grid"]
        label = (found.get("nearest_address") or {}).get("address")
    else:
        raise EventError("give the place: an address, or x and y (with crs when not WGS84)")
    row = ds.grid_row(grid["code"])
    worker = None
    if row is not None and "worker_name" in ds.grids.columns:
        value = ds.grids.iloc[row]["worker_name"]
        worker = str(value) if isinstance(value, str) and value.strip() else None
    return {"lon": float(lon), "lat": float(lat), "address": label, "grid_code": grid["code"],
            "committee_code": (grid.get("committee") or {}).get("code"),
            "division_code": (grid.get("division") or {}).get("code"), "worker_name": worker}


def grid_point(ds: Dataset, code: str) -> tuple[float, float] | None:
    """Return the grid's representative point (WGS84 lon, lat, rounded to 5 decimals), or None when unknown."""

    def build() -> dict[str, tuple[float, float]]:
        grids = ds.grids.to_crs(4326) if ds.grids.crs is not None else ds.grids
        points = grids.geometry.representative_point()
        return {str(c): (round(p.x, 5), round(p.y, 5)) for c, p in zip(grids["code"], points, strict=True)}

    return ds.cached("events.grid_points", build).get(str(code))


# ---------------------------------------------------------------- rows


EVENT_COLUMNS = ("id, report_key, category, description, status, lon, lat, address, grid_code, committee_code, "
                 "division_code, department, handler, handler_name, reporter, reporter_phone, created, updated, "
                 "state_since, due, late, closed, data_version")
_NAMES = [c.strip() for c in EVENT_COLUMNS.split(",")]


def due_after(cats: dict[str, Category], category: str, status: str, since: datetime) -> datetime | None:
    """Return the deadline of the step an event in ``status`` waits for (None when finished)."""
    step = PENDING_STEP.get(status)
    cat = cats.get(category)
    if step is None or cat is None:
        return None
    return since + timedelta(hours=float(cat.limits[step]))


def row_dict(row: Any) -> dict[str, Any]:
    """Return a stored row of :data:`EVENT_COLUMNS` as a dict of its raw values."""
    return dict(zip(_NAMES, row, strict=True))


def shape(raw: dict[str, Any], cats: dict[str, Category], now: datetime, *, personal: bool) -> dict[str, Any]:
    """Return a stored event as the JSON-ready dict the handling chain sees.

    ``personal`` adds the reporter and the reporter's phone; the caller adds photos and history.
    """
    cat = cats.get(raw["category"])
    due = parse_time(raw["due"])
    status = raw["status"]
    created, closed = parse_time(raw["created"]), parse_time(raw["closed"])
    event = {
        "id": raw["id"], "category": raw["category"],
        "category_name": {"zh": cat.zh, "en": cat.en} if cat else {"zh": raw["category"], "en": raw["category"]},
        "status": status, "status_name": dict(zip(("zh", "en"), STATES.get(status, (status, status)), strict=True)),
        "description": raw["description"], "lon": raw["lon"], "lat": raw["lat"], "address": raw["address"],
        "grid_code": raw["grid_code"], "committee_code": raw["committee_code"],
        "division_code": raw["division_code"], "department": raw["department"], "handler": raw["handler"],
        "handler_name": raw["handler_name"], "created": raw["created"], "updated": raw["updated"],
        "state_since": raw["state_since"], "due": raw["due"],
        "overdue": bool(status not in FINAL_STATES and due is not None and now > due),
        "late": bool(raw["late"]), "closed": raw["closed"],
        "hours_to_close": (round((closed - created).total_seconds() / 3600, 2)
                           if closed and created and status == "closed" else None),
        "data_version": raw["data_version"],
    }
    if personal:
        event["reporter"] = raw["reporter"]
        event["reporter_phone"] = raw["reporter_phone"]
    return event


def history_dict(row: Any) -> dict[str, Any]:
    """Return one history row (seq, at, actor, actor_role, action, from, to, note, detail) as a dict."""
    seq, at, actor, role, action, src, dst, note, detail = row
    return {"seq": int(seq), "at": at, "actor": actor, "actor_role": role, "action": action, "from": src,
            "to": dst, "note": note, "detail": json.loads(detail) if detail else {}}


def finite(value: Any) -> float | None:
    """Return a float, or None for a missing or non-finite value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
