"""The audit log: who did what and when, for every data change and every sign-in."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.geo import db
from app.geo.db import Connection, Target

#: Actions the log records.
ACTIONS: tuple[str, ...] = (
    "sign_in", "sign_in_failed", "sign_in_locked", "sign_out", "import", "import_refused", "rollback",
    "user_add", "user_remove", "user_passwd", "user_role", "import_unchanged", "seed", "store_migrate",
)
#: Action -> (Chinese, English), as the admin pages name them.
ACTION_TITLES: dict[str, tuple[str, str]] = {
    "sign_in": ("登录", "sign-in"),
    "sign_in_failed": ("登录失败", "failed sign-in"),
    "sign_in_locked": ("登录被锁定", "sign-in locked"),
    "sign_out": ("退出登录", "sign-out"),
    "import": ("导入", "import"),
    "import_refused": ("导入被拒绝", "import refused"),
    "import_unchanged": ("导入（无变化）", "import (no change)"),
    "rollback": ("回滚", "rollback"),
    "seed": ("初始数据", "initial data"),
    "store_migrate": ("迁移数据存储", "store migrated"),
    "user_add": ("添加用户", "user added"),
    "user_remove": ("删除用户", "user removed"),
    "user_passwd": ("重设密码", "password set"),
    "user_role": ("更改角色", "role changed"),
}
#: Account roles -> (Chinese, English), for the details of account entries.
_ROLES: dict[str, tuple[str, str]] = {"public": ("公众", "public"), "department": ("部门", "department"),
                                      "staff": ("工作人员", "staff"), "admin": ("管理员", "admin")}
#: Detail keys -> (Chinese, English) labels; keys not listed are shown by their name.
_DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "file": ("文件", "file"), "version": ("版本", "version"), "warnings": ("警告", "warnings"),
    "errors": ("错误", "errors"), "problems": ("问题", "problems"), "role": ("角色", "role"),
    "failures": ("失败次数", "failures"), "seconds": ("锁定秒数", "locked seconds"),
    "pruned": ("已清理的旧版本", "old versions removed"), "message": ("说明", "message"),
    "summary": ("变更", "changes"), "recovered": ("重启后补记", "recorded on recovery"),
}
#: The log's table: an id that only grows (so the newest entries come first by id), then who/what/when.
SCHEMA = db.Schema("audit", sqlite="""
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT ''
);
""", postgresql="""
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT ''
);
""")
#: How the detail of an entry that records a store change starts: the change's id comes first.
_CHANGE = '{"change": '


def _absent(target: Target) -> bool:
    """Return True when ``target`` is a SQLite file that does not exist yet (so it holds nothing)."""
    return not db.is_postgres(target) and not Path(target).exists()


@contextlib.contextmanager
def connect(target: Target) -> Iterator[Connection]:
    """Open the audit table (making it when needed) and commit when the block ends.

    Parameters
    ----------
    target : str or Path
        A SQLite file or a ``postgresql://`` URL (see :func:`app.geo.db.target_for`).

    Yields
    ------
    app.geo.db.Connection
        Committed when the block ends, rolled back when it raises.
    """
    with db.connect(target, SCHEMA) as conn:
        yield conn


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


def record(path: Target, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           ip: str = "", *, change: str | None = None) -> bool:
    """Append one entry to the audit log.

    Parameters
    ----------
    path : str or Path
        The database: a SQLite file or a ``postgresql://`` URL (see :func:`app.geo.db.target_for`).
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
        and its writer's own record never both appear, whichever processes (or machines) write
        them: the check and the insert hold the database's ``audit`` writer lock.

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
        conn.lock("audit")  # the check and the insert as one step, across processes
        cur = conn.execute("INSERT INTO audit (ts, actor, action, target, detail, ip) SELECT ?, ?, ?, ?, ?, ? "
                           "WHERE NOT EXISTS (SELECT 1 FROM audit WHERE substr(detail, 1, ?) = ?)",
                           (*values, len(head), head))
        return cur.rowcount == 1


def changes_recorded(path: Target) -> set[str]:
    """Return the ids of the store changes the log records (the ``change`` of :func:`record`)."""
    if _absent(path):
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


def entries(path: Target, limit: int = 200, action: str | None = None) -> list[Entry]:
    """Return the newest audit entries first.

    Parameters
    ----------
    path : str or Path
        The database: a SQLite file or a ``postgresql://`` URL.
    limit : int
        Most entries to return.
    action : str, optional
        Only entries with this action.

    Returns
    -------
    list of Entry
        Newest first.
    """
    if _absent(path):
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


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def action_title(action: str, lang: str = "zh") -> str:
    """Return an action's name in Chinese (``zh``) or English (``en``); the action itself when unknown."""
    pair = ACTION_TITLES.get(action)
    return _pick(pair, lang) if pair else action


def target_text(entry: Entry, lang: str = "zh") -> str:
    """Return what an entry was done to in words: layers by name, versions and users as they are."""
    from app.geo.findings import LAYER_TITLES, layer_title

    if entry.action.startswith("import") and entry.target:
        return ", ".join(f"{layer_title(x, lang)} ({x})" if x in LAYER_TITLES else x
                         for x in entry.target.split(","))
    return entry.target


def _value_text(key: str, value: Any, lang: str) -> str:
    from app.geo.changes import format_summary
    from app.geo.findings import problem_title

    if key == "summary" and isinstance(value, dict):
        return format_summary(value, lang=lang)
    if key == "role" and value in _ROLES:
        return _pick(_ROLES[value], lang)
    if key == "problems" and isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(f"{problem_title(str(p), lang)} ({p})" if problem_title(str(p), lang) != p else str(p)
                         for p in value)
    if key == "recovered":
        return ("是" if lang == "zh" else "yes") if value else ("否" if lang == "zh" else "no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def describe(entry: Entry, lang: str = "zh") -> str:
    """Return an entry's detail as readable text, e.g. ``文件：grids.zip；版本：0002-…；变更：网格：新增 1 个…``.

    Parameters
    ----------
    entry : Entry
        The audit entry.
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        Each fact as ``label: value`` (the change id and the recording time are left out).
    """
    sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")
    parts = []
    for key, value in entry.detail.items():
        if key in ("change", "at") or value in (None, "", [], {}):
            continue
        label = _pick(_DETAIL_LABELS[key], lang) if key in _DETAIL_LABELS else key
        parts.append(f"{label}{colon}{_value_text(key, value, lang)}")
    return sep.join(parts)


def format_time(ts: str, tz: str = "Asia/Shanghai") -> str:
    """Return a stored UTC time (ISO 8601, ``…Z``) as local time ``2026-12-01 18:30``.

    Parameters
    ----------
    ts : str
        The stored time, as :func:`record` and the store write it.
    tz : str
        An IANA time zone name (the ``TIMEZONE`` setting); an unknown one shows UTC, marked so.

    Returns
    -------
    str
        The local time to the minute; ``ts`` itself when it cannot be read.
    """
    local = local_time(ts, tz)
    if local is None:
        return str(ts)
    when, known = local
    return when.strftime("%Y-%m-%d %H:%M") + ("" if known else " UTC")


def local_time(ts: str, tz: str) -> tuple[datetime, bool] | None:
    """Return a stored UTC time (ISO 8601, ``…Z``) in the time zone ``tz``, and whether ``tz`` was known.

    Parameters
    ----------
    ts : str
        The stored time.
    tz : str
        An IANA time zone name; an unknown one gives the time in UTC and ``False``.

    Returns
    -------
    (datetime, bool) or None
        The aware local time and whether it is in ``tz``; None when ``ts`` cannot be read.
    """
    try:
        when = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(ZoneInfo(tz)), True
    except (ZoneInfoNotFoundError, ValueError):
        return when.astimezone(UTC), False
