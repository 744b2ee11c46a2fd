"""The audit log: who did what and when, for every data change and every sign-in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.geo.users import connect

#: Actions the log records.
ACTIONS: tuple[str, ...] = (
    "sign_in", "sign_in_failed", "sign_out", "import", "import_refused", "rollback",
    "user_add", "user_remove", "user_passwd", "user_role",
)


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
           ip: str = "") -> None:
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
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with connect(path) as conn:
        conn.execute(
            "INSERT INTO audit (ts, actor, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)",
            (ts, str(actor)[:200], action, str(target)[:500],
             json.dumps(detail or {}, ensure_ascii=False, default=str)[:20000], str(ip)[:100]),
        )


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
