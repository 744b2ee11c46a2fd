"""Grid events (网格事件): a resident's or worker's report, the 吹哨报到 workflow, time limits, scopes and privacy.

Storage is :mod:`app.geo.db` (SQLite embedded, PostgreSQL when configured); every function takes
the database ``target`` (``db.target_for(config, instance_dir)``) and, where it needs the map, the
:class:`~app.geo.dataset.Dataset`. The web layer and the CLI call only the functions here:

- :func:`report` — a new event (idempotent by ``report_key``); :func:`transition` — one workflow
  action in one transaction; :data:`TRANSITIONS` / :func:`actions_for` — what the viewer may do now;
- :func:`get_event`, :func:`list_events`, :func:`photo` — what the handling chain sees;
- :func:`public_view`, :func:`public_event`, :func:`public_events` — what anonymous visitors see (coarsened,
  no people);
- :func:`assign`, :func:`assignments`, :func:`departments` — handler scopes;
- :mod:`app.geo._events_stats` via :func:`statistics`, :func:`grid_shares`, :func:`export`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.geo import _events_access as _acc
from app.geo._events_access import ANONYMOUS, Who, connect, grid_point
from app.geo._events_model import (
    FINAL_STATES,
    MAX_DESCRIPTION,
    MAX_NOTE,
    REJECT_REASONS,
    SCOPE_KINDS,
    STATES,
    TRANSITIONS,
    Category,
    EventError,
    EventForbidden,
    EventLocationError,
    EventNotFound,
    EventStateError,
    categories,
    check_id,
    clean_key,
    clean_phone,
    clean_text,
    now_text,
)
from app.geo._events_photos import MAX_PHOTOS, Photo, PhotoError, clean_photos
from app.geo._events_stats import GROUPS, PERIODS, export, frame, grid_shares, statistics, utc

if TYPE_CHECKING:
    from app.geo import db
    from app.geo.dataset import Dataset
    from app.settings import Config

__all__ = [
    "ANONYMOUS", "GROUPS", "MAX_PHOTOS", "PERIODS", "REJECT_REASONS", "SCOPE_KINDS", "STATES", "TRANSITIONS",
    "Category", "EventError", "EventForbidden", "EventLocationError", "EventNotFound", "EventStateError",
    "PhotoError", "Who", "actions_for", "assign", "assignments", "categories", "database", "departments",
    "export", "frame", "get_event", "grid_shares", "list_events", "photo", "public_event", "public_events",
    "public_view", "report", "statistics", "transition", "utc",
]


def database(config: Config) -> db.Target:
    """Return where a configuration keeps events (the accounts' database: ``db.target_for``)."""
    from app import settings
    from app.geo import db as dbmod

    return dbmod.target_for(config, settings.instance_dir(config))


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _cats(ds: Dataset | None) -> dict[str, Category]:
    return categories(ds.metadata if ds is not None else None)


def _store_photos(conn: db.Connection, event_id: str, photos: list[Photo], at: str, actor: str | None) -> None:
    if photos:
        conn.executemany(
            "INSERT INTO event_photos (event_id, at, actor, sha256, content_type, width, height, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(event_id, at, actor, p.sha256, p.content_type, p.width, p.height, p.data) for p in photos])


def _history(conn: db.Connection, event_id: str, at: str, who: Who, action: str, src: str | None, dst: str,
             note: str | None, detail: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO event_history (event_id, at, actor, actor_role, action, from_status, to_status, note, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, at, who.name, who.role, action, src, dst, note,
         json.dumps(detail, ensure_ascii=False) if detail else None))


def _first_handler(conn: db.Connection, grid_code: str) -> str | None:
    row = conn.execute("SELECT account FROM event_handlers WHERE kind = 'grid' AND code = ? ORDER BY account",
                       (grid_code,)).fetchone()
    return row[0] if row else None


def report(target: db.Target, ds: Dataset, reporter: Who, *, report_key: Any, category: Any, description: Any,
           address: Any = None, x: Any = None, y: Any = None, crs: Any = None, phone: Any = None,
           photos: Iterable[bytes] = (), now: datetime | None = None) -> dict[str, Any]:
    """Record a new event, or return the one already recorded under ``report_key`` (a retried report).

    The place is located now (:func:`app.geo.locate.locate_address` or ``locate_point``); the
    grid, committee and division are stored with the event, and its first handler is the account
    assigned to the grid (:func:`assign` ``kind="grid"``), else nobody, with the grid layer's
    worker name kept as ``handler_name``. The event, its first history row and its photos are
    written in one transaction: a killed process leaves either all of it or none.

    Parameters
    ----------
    target : str or Path
        The database (``db.target_for``).
    ds : Dataset
        The current data version (grids, addresses, categories from ``metadata.json``).
    reporter : Who
        A staff account, or :data:`ANONYMOUS` for a resident.
    report_key : str
        The client's idempotency key (8-80 of ``A-Za-z0-9_.:-``), one per report, sent again on
        retry. A key already stored returns that event unchanged (``new`` False), whatever
        the rest of the request says.
    category : str
        A code of :func:`categories`.
    description : str
        1-2000 characters; control characters dropped, otherwise stored as given (escape when shown).
    address : str, optional
        A standard address; or give ``x``, ``y`` (and ``crs``: WGS84 by default, GCJ-02/BD-09 accepted).
    phone : str, optional
        The reporter's mainland mobile number (seen only by the handling chain).
    photos : iterable of bytes
        At most :data:`MAX_PHOTOS` images, checked by content and re-encoded without EXIF.
    now : datetime, optional
        The report time (tests); the clock by default.

    Returns
    -------
    dict
        The event as the handling chain sees it (:func:`get_event`'s fields without history), plus
        ``new`` (False for a retry: the stored event returned).

    Raises
    ------
    EventError
        Bad category, description, phone or key (400); PhotoError for a refused photo (400/413).
    EventLocationError
        The place is in no grid (422).
    """
    key = clean_key(report_key)
    cats = _cats(ds)
    code = str(category or "").strip()
    if code not in cats:
        raise EventError(f"unknown category {code[:40]!r}; expected one of {', '.join(cats)}")
    text = clean_text(description, "description", MAX_DESCRIPTION)
    mobile = clean_phone(phone)
    cleaned = clean_photos(photos)
    spot = _acc.place(ds, address=address, x=x, y=y, crs=crs)
    moment = _now(now)
    at = now_text(moment)
    due = _acc.due_after(cats, code, "reported", moment)
    who = reporter if not reporter.anonymous else ANONYMOUS
    with connect(target) as conn:
        if conn.dialect == "postgresql":  # one key at a time; other reports go on in parallel
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"gridmap.events.key:{key}",))
        else:
            conn.lock("gridmap.events")
        old = conn.execute(f"SELECT {_acc.EVENT_COLUMNS} FROM events WHERE report_key = ?", (key,)).fetchone()
        if old is not None:
            return {**_acc.shape(_acc.row_dict(old), cats, moment, personal=True), "new": False}
        handler = _first_handler(conn, spot["grid_code"])
        day = moment.strftime("%Y%m%d")
        # the day's counter row stays locked until commit: take it last, so the numbering holds it briefly
        (n,) = conn.execute("INSERT INTO event_counters (day, n) VALUES (?, 1) ON CONFLICT (day) "
                            "DO UPDATE SET n = event_counters.n + 1 RETURNING n", (day,)).fetchone()
        event_id = f"E{day}-{int(n):04d}"
        values = (event_id, key, code, text, "reported", spot["lon"], spot["lat"], spot["address"],
                  spot["grid_code"], spot["committee_code"], spot["division_code"], None, handler,
                  spot["worker_name"], who.name, mobile, at, at, at, now_text(due) if due else None, 0, None,
                  str(ds.version))
        conn.execute(f"INSERT INTO events ({_acc.EVENT_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)
        _history(conn, event_id, at, who, "report", None, "reported", None,
                 {"photos": len(cleaned)} if cleaned else {})
        _store_photos(conn, event_id, cleaned, at, who.name)
    return {**_acc.shape(_acc.row_dict(values), cats, moment, personal=True), "new": True}


def _load(conn: db.Connection, event_id: str, who: Who, *, for_update: bool = False) -> tuple[dict[str, Any], dict]:
    mine = _acc.scopes(conn, who.name)
    where, params = _acc.visible_where(who, mine)
    lock = " FOR UPDATE" if for_update and conn.dialect == "postgresql" else ""
    row = conn.execute(f"SELECT {_acc.EVENT_COLUMNS} FROM events WHERE id = ? AND {where}{lock}",
                       (event_id, *params)).fetchone()
    if row is None:
        raise EventNotFound(f"no event {event_id}")
    return _acc.row_dict(row), mine


def transition(target: db.Target, event_id: str, action: str, actor: Who, *, note: Any = None,
               department: Any = None, reason: Any = None, photos: Iterable[bytes] = (),
               ds: Dataset | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Do one workflow action on an event, in one transaction, or change nothing.

    The event row is locked (``SELECT … FOR UPDATE`` on PostgreSQL, the database's write lock on
    SQLite), its current state checked against :data:`TRANSITIONS`, a history row appended
    (who, when, from → to, action, note and detail) and the event updated: its state, the deadline
    of the next step, ``late`` when this step came after its deadline, ``closed`` on closing.

    Parameters
    ----------
    target : str or Path
        The database.
    event_id : str
        ``E20261207-0042``.
    action : str
        ``accept``, ``reject`` (needs ``reason``: a key of :data:`REJECT_REASONS`), ``escalate``
        (needs ``department``: a name given to some account with :func:`assign`), ``handle`` (the
        grid's own handling from ``accepted``, the department's from ``escalated``), ``decline``
        (the department sends an escalation back to the grid; needs ``note``), ``return``
        (back to handling; needs ``note``), ``verify``, ``close``.
    actor : Who
        The account acting; the grid chain (its worker, its committee's and division's leaders)
        or an admin for the grid's steps, the department's accounts for ``handle`` after ``escalate``.
    note : str, optional
        Why (up to 500 characters; kept in the history).
    photos : iterable of bytes
        Evidence (e.g. after handling), checked like a report's.
    ds : Dataset, optional
        For the city's categories (time limits); the built-in ones without it.

    Returns
    -------
    dict
        The updated event (as :func:`get_event` without history).

    Raises
    ------
    EventNotFound
        No such event, or not one ``actor`` may see (404).
    EventForbidden
        ``actor`` sees it but may not do this action (403).
    EventStateError
        The workflow does not allow ``action`` in the current state (409); nothing is changed.
    EventError
        Unknown action, a missing or bad required field (400).
    """
    rule = TRANSITIONS.get(str(action))
    if rule is None:
        raise EventError(f"unknown action {str(action)[:30]!r}; expected one of {', '.join(TRANSITIONS)}")
    if actor.anonymous:
        raise EventForbidden(f"sign in to {rule.action} an event")
    event_id = check_id(event_id)
    text = clean_text(note, "note", MAX_NOTE, required="note" in rule.requires)
    why = None
    if "reason" in rule.requires:
        why = str(reason or "").strip()
        if why not in REJECT_REASONS:
            raise EventError(f"give a reason: one of {', '.join(REJECT_REASONS)}")
    cleaned = clean_photos(photos)
    cats = _cats(ds)
    moment = _now(now)
    at = now_text(moment)
    with connect(target) as conn:
        if conn.dialect == "sqlite":
            conn.lock("gridmap.events")
        event, mine = _load(conn, event_id, actor, for_update=True)
        status = event["status"]
        if status not in rule.sources:
            raise EventStateError(f"event {event_id} is {status}: {rule.action} is not allowed in this state",
                                  state=status, action=rule.action, allowed=actions_for(event, actor, mine))
        if not _acc.may_act(actor, mine, event, rule):
            raise EventForbidden(f"{actor.name} may not {rule.action} event {event_id}")
        dept = event["department"]
        detail: dict[str, Any] = {}
        if rule.action == "escalate":
            dept = str(department or "").strip()
            known = _departments(conn)
            if dept not in known:
                choices = ", ".join(sorted(known)) or "none: assign accounts to a department first"
                raise EventError(f"unknown department {dept[:40]!r}; expected one of {choices}")
            detail["department"] = dept
        elif rule.action == "decline":
            detail["department"] = dept
            dept = None  # back with the grid, which may escalate it to another department
        if why:
            detail["reason"] = why
        if cleaned:
            detail["photos"] = len(cleaned)
        new = rule.target if rule.target != "rework" else ("escalated" if dept else "accepted")
        due_at = event["due"]
        late = int(event["late"]) or int(bool(due_at) and at > due_at)
        due = _acc.due_after(cats, event["category"], new, moment)
        _history(conn, event_id, at, actor, rule.action, status, new, text, detail)
        conn.execute("UPDATE events SET status = ?, department = ?, updated = ?, state_since = ?, due = ?, late = ?, "
                     "closed = ? WHERE id = ?",
                     (new, dept, at, at, now_text(due) if due else None, late, at if new in FINAL_STATES else None,
                      event_id))
        _store_photos(conn, event_id, cleaned, at, actor.name)
        row = conn.execute(f"SELECT {_acc.EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
    return _acc.shape(_acc.row_dict(row), cats, moment, personal=True)


def actions_for(event: dict[str, Any], who: Who, mine: dict[str, set[str]] | None = None,
                target: db.Target | None = None) -> list[str]:
    """Return the actions ``who`` may do on ``event`` now (for the buttons of the detail page).

    Give ``mine`` (the viewer's scopes) or ``target`` to read them.
    """
    if mine is None:
        if target is None:
            raise ValueError("give mine or target")
        with connect(target) as conn:
            mine = _acc.scopes(conn, who.name)
    return [name for name, rule in TRANSITIONS.items()
            if event["status"] in rule.sources and not who.anonymous and _acc.may_act(who, mine, event, rule)]


def get_event(target: db.Target, event_id: str, viewer: Who, *, ds: Dataset | None = None,
              now: datetime | None = None) -> dict[str, Any]:
    """Return one event in full for the handling chain: fields, reporter and phone, photos, history, actions.

    Returns
    -------
    dict
        :func:`report`'s fields plus ``photos`` (``seq``, ``sha256``, ``width``, ``height``, ``at``;
        the bytes through :func:`photo`), ``history`` (oldest first: ``seq``, ``at``, ``actor``,
        ``actor_role``, ``action``, ``from``, ``to``, ``note``, ``detail``) and ``actions`` (what
        ``viewer`` may do now).

    Raises
    ------
    EventNotFound
        No such event, or not one ``viewer`` may see (anonymous visitors: use :func:`public_view`).
    """
    event_id = check_id(event_id)
    moment = _now(now)
    with connect(target) as conn:
        raw, mine = _load(conn, event_id, viewer)
        history = [_acc.history_dict(r) for r in conn.execute(
            "SELECT seq, at, actor, actor_role, action, from_status, to_status, note, detail FROM event_history "
            "WHERE event_id = ? ORDER BY seq", (event_id,))]
        photos = [{"seq": int(s), "sha256": h, "width": int(w), "height": int(hh), "at": a}
                  for s, h, w, hh, a in conn.execute(
                      "SELECT seq, sha256, width, height, at FROM event_photos WHERE event_id = ? ORDER BY seq",
                      (event_id,))]
    event = _acc.shape(raw, _cats(ds), moment, personal=True)
    return {**event, "photos": photos, "history": history, "actions": actions_for(raw, viewer, mine)}


def photo(target: db.Target, event_id: str, seq: int, viewer: Who) -> tuple[bytes, str]:
    """Return one photo's bytes and content type (always ``image/jpeg``) for the handling chain.

    Serve it with ``Content-Type: image/jpeg``, ``X-Content-Type-Options: nosniff``,
    ``Content-Disposition: inline`` and ``Cache-Control: private, no-store``.

    Raises
    ------
    EventNotFound
        No such event or photo, or not one ``viewer`` may see.
    """
    event_id = check_id(event_id)
    with connect(target) as conn:
        _load(conn, event_id, viewer)
        row = conn.execute("SELECT data, content_type FROM event_photos WHERE event_id = ? AND seq = ?",
                           (event_id, int(seq))).fetchone()
    if row is None:
        raise EventNotFound(f"no photo {seq} of event {event_id}")
    return bytes(row[0]), str(row[1])


def list_events(target: db.Target, viewer: Who, *, status: Iterable[str] | str | None = None,
                grid: str | None = None, category: str | None = None, since: datetime | None = None,
                until: datetime | None = None, overdue: bool | None = None, mine_only: bool = False,
                limit: int | None = 100, offset: int = 0, ds: Dataset | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """Return the events ``viewer`` may see, newest first, with ``overdue`` flags.

    Parameters
    ----------
    status : str or iterable of str, optional
        Keep these states (:data:`STATES`); ``"open"`` means every state but closed and rejected.
    grid, category : str, optional
        Keep one grid's or one category's events.
    since, until : datetime, optional
        Created at or after ``since``, before ``until``.
    overdue : bool, optional
        True: only open events past their step's deadline; False: only the others.
    mine_only : bool
        Only events whose handler is ``viewer`` ("my queue"), or escalated to the viewer's
        department for department accounts.
    limit, offset : int
        Paging (``limit`` at most 1000; None: every matching event in one read, for tables and exports).

    Returns
    -------
    dict
        ``total`` (matching, before paging), ``events`` (each as :func:`get_event` without
        photos, history and actions), ``limit``, ``offset``.
    """
    moment = _now(now)
    at = now_text(moment)
    limit = None if limit is None else max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    with connect(target) as conn:
        mine = _acc.scopes(conn, viewer.name)
        where, params = _acc.visible_where(viewer, mine)
        clauses, args = [where], list(params)
        states = [status] if isinstance(status, str) else list(status or ())
        if "open" in states:
            states = [s for s in STATES if s not in FINAL_STATES] + [s for s in states if s != "open"]
        unknown = [s for s in states if s not in STATES]
        if unknown:
            raise EventError(f"unknown status {unknown[0][:30]!r}; expected open or one of {', '.join(STATES)}")
        if states:
            clauses.append(f"status IN ({', '.join('?' * len(states))})")
            args += states
        for column, value in (("grid_code", grid), ("category", category)):
            if value:
                clauses.append(f"{column} = ?")
                args.append(str(value))
        if since is not None:
            clauses.append("created >= ?")
            args.append(now_text(since))
        if until is not None:
            clauses.append("created < ?")
            args.append(now_text(until))
        if overdue is not None:
            late = "(status NOT IN ('closed', 'rejected') AND due IS NOT NULL AND due < ?)"
            clauses.append(late if overdue else f"NOT {late}")
            args.append(at)
        if mine_only:
            if viewer.role == "department":
                depts = sorted(mine.get("department", ())) or [""]
                clauses.append(f"status = 'escalated' AND department IN ({', '.join('?' * len(depts))})")
                args += depts
            else:
                clauses.append("handler = ?")
                args.append(viewer.name)
        sql_where = " AND ".join(clauses)
        (total,) = conn.execute(f"SELECT COUNT(*) FROM events WHERE {sql_where}", args).fetchone()
        rows = conn.execute(f"SELECT {_acc.EVENT_COLUMNS} FROM events WHERE {sql_where} "
                            "ORDER BY created DESC, id DESC" + (f" LIMIT {limit} OFFSET {offset}" if limit else ""),
                            args).fetchall()
    cats = _cats(ds)
    return {"total": int(total), "limit": limit, "offset": offset,
            "events": [_acc.shape(_acc.row_dict(r), cats, moment, personal=True) for r in rows]}


def public_view(event: dict[str, Any], ds: Dataset) -> dict[str, Any]:
    """Return what anyone may see of an event: id, category, grid, status, day, and the grid's point.

    The location is the grid's representative point, never the reported point. Left out: the
    reporter, phone, photos, address, handler and the description (residents write names,
    phone numbers and door numbers into it, so it is not shown publicly).
    """
    point = grid_point(ds, event["grid_code"])
    row = ds.grid_row(event["grid_code"])
    name = None
    if row is not None and "name" in ds.grids.columns:
        name = ds.grids.iloc[row]["name"]
    status = event["status"]
    return {"id": event["id"], "category": event["category"], "category_name": event.get("category_name"),
            "status": status, "status_name": event.get("status_name"), "grid_code": event["grid_code"],
            "grid_name": name if isinstance(name, str) else None, "committee_code": event.get("committee_code"),
            "reported_on": str(event["created"])[:10], "closed_on": (event.get("closed") or "")[:10] or None,
            "lon": point[0] if point else None, "lat": point[1] if point else None, "location": "grid"}


def public_events(target: db.Target, ds: Dataset, *, status: Iterable[str] | str | None = None,
                  since: datetime | None = None, limit: int = 1000, now: datetime | None = None) -> list[dict]:
    """Return :func:`public_view` of every event (rejected ones left out), newest first, for the public map."""
    found = list_events(target, Who("public-map", "admin"), status=status, since=since, limit=limit, ds=ds, now=now)
    return [public_view(e, ds) for e in found["events"] if e["status"] != "rejected"]


def public_event(target: db.Target, ds: Dataset, event_id: str) -> dict[str, Any]:
    """Return :func:`public_view` of one event (a resident following a report by its id).

    Raises
    ------
    EventNotFound
        No such event.
    """
    event_id = check_id(event_id)
    with connect(target) as conn:
        row = conn.execute(f"SELECT {_acc.EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        raise EventNotFound(f"no event {event_id}")
    return public_view(_acc.shape(_acc.row_dict(row), _cats(ds), _now(None), personal=False), ds)


def _departments(conn: db.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT code FROM event_handlers WHERE kind = 'department'")}


def departments(target: db.Target) -> list[str]:
    """Return the department names that have at least one account (the choices of ``escalate``)."""
    with connect(target) as conn:
        return sorted(_departments(conn))


def assign(target: db.Target, account: str, kind: str, code: str, *, remove: bool = False,
           ds: Dataset | None = None) -> dict[str, Any]:
    """Give (or with ``remove`` take back) an account a handler scope.

    Parameters
    ----------
    account : str
        The account's name (``app.geo.users``; not checked here, so scopes can be set up first).
    kind : str
        ``grid`` (the account is that grid's worker and first handler), ``committee`` or
        ``division`` (a leader who sees the area), ``department`` (the account belongs to it).
    code : str
        The grid, committee or division code (checked against ``ds`` when given), or the
        department's name.

    Returns
    -------
    dict
        ``account`` and its scopes after the change (kind → sorted codes).
    """
    name = str(account or "").strip()
    if not name:
        raise EventError("give the account")
    if kind not in SCOPE_KINDS:
        raise EventError(f"unknown scope {str(kind)[:20]!r}; expected one of {', '.join(SCOPE_KINDS)}")
    value = clean_text(code, f"{kind} code", 80)
    if ds is not None and kind != "department":
        layer = {"grid": "grids", "committee": "committees", "division": "divisions"}[kind]
        codes = set(ds.layer(layer)["code"].astype(str))
        if value not in codes:
            raise EventError(f"no {kind} {value!r} in the current data")
    with connect(target) as conn:
        if remove:
            conn.execute("DELETE FROM event_handlers WHERE account = ? AND kind = ? AND code = ?", (name, kind, value))
        else:
            conn.execute("INSERT INTO event_handlers (account, kind, code) VALUES (?, ?, ?) "
                         "ON CONFLICT (account, kind, code) DO NOTHING", (name, kind, value))
        if kind == "grid" and not remove:
            conn.execute("UPDATE events SET handler = ? WHERE grid_code = ? AND handler IS NULL", (name, value))
        mine = _acc.scopes(conn, name)
    return {"account": name, "scopes": {k: sorted(v) for k, v in mine.items()}}


def assignments(target: db.Target, account: str | None = None) -> list[dict[str, str]]:
    """Return the handler scopes (``account``, ``kind``, ``code``), of one account or all, sorted."""
    with connect(target) as conn:
        sql = "SELECT account, kind, code FROM event_handlers"
        rows = conn.execute(sql + (" WHERE account = ?" if account else "") + " ORDER BY account, kind, code",
                            (account,) if account else ()).fetchall()
    return [{"account": a, "kind": k, "code": c} for a, k, c in rows]
