"""The audit log: who did what and when, for every data change and every sign-in."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.geo.users import connect

#: Actions the log records.
ACTIONS: tuple[str, ...] = (
    "sign_in", "sign_in_failed", "sign_in_locked", "sign_out", "import", "import_refused", "rollback",
    "user_add", "user_remove", "user_passwd", "user_role", "import_unchanged", "seed",
)
#: How the detail of an entry that records a store change starts: the change's id comes first.
_CHANGE = '{"change": '


@dataclass(frozen=True)
class Entry:
    """One audit record."""

    id: int
    ts: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str


def record(path: str | Path, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           ip: str = "", *, change: str | None = None) -> bool:
    """Append one entry to the audit log.

    Parameters
    ----------
    path : str or Path
        The database file (see :func:`app.geo.users.db_path`).
    actor : str
        Who: a user name, ``cli:<login>`` or ``anonymous``.
    action : str
        One of :data:`ACTIONS`.
    target : str
        What it was done to: a layer, a version id, a user name.
    detail : dict, optional
        Further facts (JSON-serialisable).
    ip : str
        The client address for web requests.
    change : str, optional
        The id of the store history entry this records (``detail["change"]``). The entry is
        written only if none records that change yet, so that a change recovered after a crash
        and its writer's own record never both appear.

    Returns
    -------
    bool
        False when ``change`` was recorded already and nothing was written.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    facts = detail or {}
    if change is not None:  # first, so that the id survives the truncation below
        facts = {"change": change, **{k: v for k, v in facts.items() if k != "change"}}
    values = (ts, str(actor)[:200], action, str(target)[:500],
              json.dumps(facts, ensure_ascii=False, default=str)[:20000], str(ip)[:100])
    with connect(path) as conn:
        if change is None:
            conn.execute("INSERT INTO audit (ts, actor, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)", values)
            return True
        head = _CHANGE + json.dumps(change, ensure_ascii=False)
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")  # the check and the insert as one step, across processes
        cur = conn.execute("INSERT INTO audit (ts, actor, action, target, detail, ip) SELECT ?, ?, ?, ?, ?, ? "
                           "WHERE NOT EXISTS (SELECT 1 FROM audit WHERE substr(detail, 1, ?) = ?)",
                           (*values, len(head), head))
        return cur.rowcount == 1


def changes_recorded(path: str | Path) -> set[str]:
    """Return the ids of the store changes the log records (the ``change`` of :func:`record`)."""
    if not Path(path).exists():
        return set()
    with connect(path) as conn:
        rows = conn.execute("SELECT substr(detail, 1, 300) FROM audit WHERE substr(detail, 1, ?) = ?",
                            (len(_CHANGE), _CHANGE)).fetchall()
    out = set()
    decoder = json.JSONDecoder()
    for (text,) in rows:
        with contextlib.suppress(ValueError):
            value = decoder.raw_decode(text, len(_CHANGE))[0]
            if isinstance(value, str):
                out.add(value)
    return out


def entries(path: str | Path, limit: int = 200, action: str | None = None) -> list[Entry]:
    """Return the newest audit entries first.

    Parameters
    ----------
    path : str or Path
        The database file.
    limit : int
        Most entries to return.
    action : str, optional
        Only entries with this action.

    Returns
    -------
    list of Entry
        Newest first.
    """
    if not Path(path).exists():
        return []
    sql = "SELECT id, ts, actor, action, target, detail, ip FROM audit"
    args: list[Any] = []
    if action:
        sql += " WHERE action = ?"
        args.append(action)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(int(limit))
    with connect(path) as conn:
        rows = conn.execute(sql, args).fetchall()
    return [Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), r[6]) for r in rows]
