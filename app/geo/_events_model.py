"""Grid events' declarations: categories, states, the transition table, the tables, and input checks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.errors import GridmapError
from app.geo import db

# ---------------------------------------------------------------- errors


class EventError(GridmapError, ValueError):
    """A report or an event request with bad input (400), e.g. an unknown category or a bad phone."""

    default_status = 400
    default_key = "events"


class EventNotFound(EventError):
    """No event with that id, or none the viewer may see (404; the two are not told apart)."""

    default_status = 404
    default_key = "events.not_found"


class EventForbidden(EventError):
    """The viewer sees the event but may not do this action on it (403)."""

    default_status = 403
    default_key = "events.forbidden"


class EventStateError(EventError):
    """The workflow does not allow this action in the event's current state (409); nothing changed."""

    default_status = 409
    default_key = "events.state"


class EventLocationError(EventError):
    """The report's location is in no grid: an unresolved address or a point outside every grid (422)."""

    default_status = 422
    default_key = "events.location"


# ---------------------------------------------------------------- categories


@dataclass(frozen=True)
class Category:
    """One kind of event with its names and per-step time limits.

    Attributes
    ----------
    code : str
        Stable key stored with events (``"sanitation"``).
    zh, en : str
        Chinese and English names.
    limits : Mapping[str, float]
        Hours allowed per step (keys of :data:`STEPS`): ``accept``, ``handle``, ``verify``, ``close``.
    """

    code: str
    zh: str
    en: str
    limits: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"code": self.code, "zh": self.zh, "en": self.en, "limits_hours": dict(self.limits)}


#: The steps that have a time limit, each counted from the moment the event entered the state
#: that waits for it (see :data:`PENDING_STEP`).
STEPS: tuple[str, ...] = ("accept", "handle", "verify", "close")


def _limits(accept: float, handle: float, verify: float, close: float) -> dict[str, float]:
    return {"accept": accept, "handle": handle, "verify": verify, "close": close}


#: The built-in categories; a city adds or overrides them in ``metadata.json`` under
#: ``event_categories`` (a list of ``{"code", "zh", "en", "limits_hours": {...}}``).
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("sanitation", "环境卫生", "Environment and sanitation", _limits(2, 24, 24, 24)),
    Category("roads", "道路设施", "Roads and facilities", _limits(4, 72, 24, 24)),
    Category("parking", "停车", "Parking", _limits(2, 24, 24, 24)),
    Category("property", "物业管理", "Property management", _limits(4, 72, 24, 24)),
    Category("dispute", "邻里纠纷", "Neighbour disputes", _limits(4, 72, 24, 24)),
    Category("safety", "安全隐患", "Safety hazards", _limits(1, 12, 12, 24)),
    Category("service", "公共服务诉求", "Public-service requests", _limits(24, 720, 72, 72)),
)


def categories(metadata: Mapping[str, Any] | None = None) -> dict[str, Category]:
    """Return the categories by code: the built-in ones, extended or overridden by the city's metadata.

    Parameters
    ----------
    metadata : Mapping, optional
        The city's ``metadata.json`` (``Dataset.metadata``); its ``event_categories`` list adds
        categories or replaces built-in ones of the same code. Missing limits keep the defaults.
    """
    found = {c.code: c for c in DEFAULT_CATEGORIES}
    for item in (metadata or {}).get("event_categories") or ():
        if not isinstance(item, Mapping) or not str(item.get("code") or "").strip():
            continue
        code = str(item["code"]).strip()
        base = found.get(code)
        limits = dict(base.limits if base else _limits(24, 72, 24, 24))
        for step, hours in (item.get("limits_hours") or {}).items():
            if step in STEPS and isinstance(hours, int | float) and hours > 0:
                limits[step] = float(hours)
        found[code] = Category(code, str(item.get("zh") or (base.zh if base else code)),
                               str(item.get("en") or (base.en if base else code)), limits)
    return found


# ---------------------------------------------------------------- states and transitions

#: States with their Chinese and English names.
STATES: dict[str, tuple[str, str]] = {
    "reported": ("已上报", "Reported"),
    "accepted": ("已受理", "Accepted"),
    "escalated": ("已吹哨", "Escalated"),
    "handled": ("已处置", "Handled"),
    "verified": ("已核查", "Verified"),
    "closed": ("已结案", "Closed"),
    "rejected": ("已驳回", "Rejected"),
}
#: States in which an event is finished (no deadline, not overdue).
FINAL_STATES: frozenset[str] = frozenset({"closed", "rejected"})
#: The step an event waits for in each open state (its deadline is that step's limit).
PENDING_STEP: dict[str, str] = {"reported": "accept", "accepted": "handle", "escalated": "handle",
                                "handled": "verify", "verified": "close"}

#: Who acts: ``grid`` = the grid chain (the grid's worker, leaders of its committee or division,
#: admins); ``department`` = accounts of the department the event is escalated to (and admins).
GRID, DEPARTMENT = "grid", "department"


@dataclass(frozen=True)
class Transition:
    """One allowed action.

    Attributes
    ----------
    action : str
        Its name (``"escalate"``).
    zh, en : str
        Its names.
    sources : frozenset of str
        States it may start from.
    target : str
        The new state; ``"rework"`` means back to handling (``escalated`` if the event has a
        department, else ``accepted``).
    actor : str
        :data:`GRID` or :data:`DEPARTMENT`; ``handle`` from ``accepted`` is the grid's own. ``decline``
        is the department sending an escalation back to the grid (not its remit), which may then
        escalate it elsewhere.
    requires : tuple of str
        Keyword arguments of :func:`app.geo.events.transition` that must be given.
    """

    action: str
    zh: str
    en: str
    sources: frozenset[str]
    target: str
    actor: str
    requires: tuple[str, ...] = ()


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("accept", "受理", "Accept", frozenset({"reported"}), "accepted", GRID),
    Transition("reject", "驳回", "Reject", frozenset({"reported", "accepted"}), "rejected", GRID, ("reason",)),
    Transition("escalate", "吹哨", "Escalate", frozenset({"accepted"}), "escalated", GRID, ("department",)),
    Transition("decline", "退单", "Send back", frozenset({"escalated"}), "accepted", DEPARTMENT, ("note",)),
    Transition("handle", "处置", "Handle", frozenset({"accepted", "escalated"}), "handled", DEPARTMENT),
    Transition("return", "退回重办", "Return for rework", frozenset({"handled"}), "rework", GRID, ("note",)),
    Transition("verify", "核查", "Verify", frozenset({"handled"}), "verified", GRID),
    Transition("close", "结案", "Close", frozenset({"verified"}), "closed", GRID),
)}

#: Reasons a rejection may give.
REJECT_REASONS: dict[str, tuple[str, str]] = {
    "duplicate": ("重复上报", "Duplicate"),
    "out_of_scope": ("不属于受理范围", "Out of scope"),
    "invalid": ("信息不实或无法核实", "Invalid or unverifiable"),
}

# ---------------------------------------------------------------- scopes

#: Kinds of handler scope an account can be given (:func:`app.geo.events.assign`).
SCOPE_KINDS: tuple[str, ...] = ("grid", "committee", "division", "department")

# ---------------------------------------------------------------- tables

_COMMON_EVENTS = """
    id TEXT PRIMARY KEY,
    report_key TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    address TEXT,
    grid_code TEXT NOT NULL,
    committee_code TEXT,
    division_code TEXT,
    department TEXT,
    handler TEXT,
    handler_name TEXT,
    reporter TEXT,
    reporter_phone TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    state_since TEXT NOT NULL,
    due TEXT,
    late INTEGER NOT NULL DEFAULT 0,
    closed TEXT,
    data_version TEXT
"""
_COMMON_HISTORY = """
    event_id TEXT NOT NULL REFERENCES events(id),
    at TEXT NOT NULL,
    actor TEXT,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT,
    detail TEXT
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS events_grid ON events (grid_code, status);
CREATE INDEX IF NOT EXISTS events_status ON events (status, due);
CREATE INDEX IF NOT EXISTS events_created ON events (created);
CREATE INDEX IF NOT EXISTS event_history_event ON event_history (event_id, seq);
CREATE INDEX IF NOT EXISTS event_photos_event ON event_photos (event_id)
"""

SCHEMA = db.Schema(
    "events",
    sqlite=f"""
CREATE TABLE IF NOT EXISTS events ({_COMMON_EVENTS});
CREATE TABLE IF NOT EXISTS event_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, {_COMMON_HISTORY});
CREATE TABLE IF NOT EXISTS event_photos (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL REFERENCES events(id),
    at TEXT NOT NULL, actor TEXT, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS event_handlers (
    account TEXT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (account, kind, code));
CREATE TABLE IF NOT EXISTS event_counters (day TEXT PRIMARY KEY, n INTEGER NOT NULL);
{_INDEXES};
CREATE TRIGGER IF NOT EXISTS event_history_no_update BEFORE UPDATE ON event_history
BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS event_history_no_delete BEFORE DELETE ON event_history
BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
""",
    postgresql=f"""
CREATE TABLE IF NOT EXISTS events ({_COMMON_EVENTS});
CREATE TABLE IF NOT EXISTS event_history (seq BIGSERIAL PRIMARY KEY, {_COMMON_HISTORY});
CREATE TABLE IF NOT EXISTS event_photos (
    seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id),
    at TEXT NOT NULL, actor TEXT, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS event_handlers (
    account TEXT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (account, kind, code));
CREATE TABLE IF NOT EXISTS event_counters (day TEXT PRIMARY KEY, n INTEGER NOT NULL);
{_INDEXES}
""",
)

#: PostgreSQL's guard of the append-only history (run once per database, statement by statement:
#: the function body has semicolons, which :class:`app.geo.db.Schema` would split).
PG_HISTORY_GUARD: tuple[str, ...] = (
    """CREATE OR REPLACE FUNCTION event_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'event history is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER event_history_no_change BEFORE UPDATE OR DELETE ON event_history
FOR EACH ROW EXECUTE FUNCTION event_history_append_only()""",
    "CREATE OR REPLACE TRIGGER event_history_no_truncate BEFORE TRUNCATE ON event_history "
    "FOR EACH STATEMENT EXECUTE FUNCTION event_history_append_only()",
)

# ---------------------------------------------------------------- input checks

#: Longest description kept, in characters.
MAX_DESCRIPTION = 2000
#: Longest note or reason on a transition, in characters.
MAX_NOTE = 500
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{8,80}$")
_ID = re.compile(r"^E\d{8}-\d{4,}$")


def clean_text(value: Any, what: str, limit: int, *, required: bool = True) -> str | None:
    """Return ``value`` with control characters removed (newlines and tabs kept) and ends stripped.

    Nothing is escaped: the text is stored as given; views escape it.

    Raises
    ------
    EventError
        When it is required and empty, or longer than ``limit`` characters.
    """
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    text = text.replace("\r", "").strip()
    if not text:
        if required:
            raise EventError(f"the {what} is empty")
        return None
    if len(text) > limit:
        raise EventError(f"the {what} is longer than {limit} characters ({len(text)})")
    return text


def clean_phone(value: Any) -> str | None:
    """Return a mainland mobile number as 11 digits (``+86``, spaces and dashes dropped), or None when empty.

    Raises
    ------
    EventError
        When it is not a mainland mobile number.
    """
    if value is None or not str(value).strip():
        return None
    digits = re.sub(r"[\s\-()]", "", str(value))
    digits = re.sub(r"^(\+?86)(?=1\d{10}$)", "", digits)
    if not _PHONE.match(digits):
        raise EventError(f"phone {str(value)[:20]!r} is not a mainland mobile number (11 digits starting with 1)")
    return digits


def clean_key(value: Any) -> str:
    """Return a client's idempotency key (8-80 of letters, digits and ``_.:-``).

    Raises
    ------
    EventError
        When it does not fit.
    """
    text = str(value or "").strip()
    if not _KEY.match(text):
        raise EventError("report_key must be 8-80 letters, digits or _.:- (one per report, reused on retry)")
    return text


def check_id(value: Any) -> str:
    """Return an event id (``E20261207-0042``) or raise :class:`EventNotFound`."""
    text = str(value or "").strip()
    if not _ID.match(text):
        raise EventNotFound(f"no event {text[:40]!r}")
    return text


def now_text(now: datetime | None = None) -> str:
    """Return a UTC time as the fixed-width text stored (sorts as it compares): ``2026-12-07T00:42:01.000000Z``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """Return a stored time as an aware UTC datetime (None stays None)."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
