"""Sign-in accounts (staff and admin) in a small SQLite file, with argon2 password hashes."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.errors import GridmapError

#: Roles in increasing order of rights. ``public`` is everyone who is not signed in.
ROLES: tuple[str, ...] = ("public", "staff", "admin")
#: Roles an account can have.
ACCOUNT_ROLES: tuple[str, ...] = ("staff", "admin")
#: Shortest password accepted.
MIN_PASSWORD = 8

_NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,64}$")
_HASHER = PasswordHasher()
#: A hash of a random password, verified against when the user is unknown so timing does not tell.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-0000")


def set_hash_cost(time_cost: int = 3, memory_kib: int = 65536) -> None:
    """Change the argon2id cost of new hashes (the defaults are argon2-cffi's recommended ones).

    Lower costs are for test suites only; hashes made with other costs still verify and are
    re-hashed at the current cost on the next successful sign-in.

    Parameters
    ----------
    time_cost : int
        Iterations.
    memory_kib : int
        Memory per hash in KiB.
    """
    global _HASHER, _DUMMY_HASH
    _HASHER = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _HASHER.hash("not-a-real-password-0000")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    pw_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT ''
);
"""


class UserError(GridmapError, ValueError):
    """A user-management request that cannot be done, with a message that names the problem."""

    default_key = "users"


@dataclass(frozen=True)
class User:
    """One account (never carries the password hash out of this module)."""

    name: str
    role: str
    created: str
    updated: str
    #: Changes whenever the password or role changes; sessions carrying an old stamp are dropped.
    stamp: str


def role_rank(role: str) -> int:
    """Return the position of ``role`` in :data:`ROLES` (unknown roles rank below public)."""
    return ROLES.index(role) if role in ROLES else -1


def db_path(instance_dir: str | Path) -> Path:
    """Return the path of the accounts and audit database inside an instance folder."""
    return Path(instance_dir) / "gridmap.sqlite3"


@contextlib.contextmanager
def connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """Open the database (creating the folder and tables on first use) and commit on success.

    Parameters
    ----------
    path : str or Path
        The SQLite file.

    Yields
    ------
    sqlite3.Connection
        A connection; committed and closed when the block ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        with conn:
            yield conn
    finally:
        conn.close()
    with contextlib.suppress(OSError):
        path.chmod(0o600)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _stamp(role: str, pw_hash: str) -> str:
    return hashlib.sha256(f"{role}\0{pw_hash}".encode()).hexdigest()[:16]


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise UserError("user name must be 2-64 letters, digits, Chinese characters or _ . @ -")
    return name


def _check_role(role: str) -> str:
    if role not in ACCOUNT_ROLES:
        raise UserError(f"role must be one of {', '.join(ACCOUNT_ROLES)}, got {role!r}")
    return role


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise UserError("password is longer than 1024 characters")
    return password


def _row_user(row: tuple) -> User:
    name, role, pw_hash, created, updated = row
    return User(name=name, role=role, created=created, updated=updated, stamp=_stamp(role, pw_hash))


def add_user(path: str | Path, name: str, password: str, role: str = "staff") -> User:
    """Create an account.

    Parameters
    ----------
    path : str or Path
        The database file.
    name : str
        User name.
    password : str
        Plain password (at least :data:`MIN_PASSWORD` characters); only its argon2 hash is stored.
    role : str
        ``staff`` or ``admin``.

    Returns
    -------
    User
        The new account.
    """
    name, role, password = _check_name(name), _check_role(role), _check_password(password)
    pw_hash = _HASHER.hash(password)
    now = _now()
    with connect(path) as conn:
        try:
            conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)", (name, role, pw_hash, now, now))
        except sqlite3.IntegrityError as exc:
            raise UserError(f"user {name!r} already exists") from exc
    return User(name, role, now, now, _stamp(role, pw_hash))


def remove_user(path: str | Path, name: str) -> None:
    """Delete an account; raises :class:`UserError` if there is none."""
    with connect(path) as conn:
        if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise UserError(f"no user {name!r}")


def set_password(path: str | Path, name: str, password: str) -> None:
    """Replace an account's password (signs out its existing sessions)."""
    pw_hash = _HASHER.hash(_check_password(password))
    with connect(path) as conn:
        cur = conn.execute("UPDATE users SET pw_hash = ?, updated = ? WHERE name = ?", (pw_hash, _now(), name))
        if cur.rowcount == 0:
            raise UserError(f"no user {name!r}")


def set_role(path: str | Path, name: str, role: str) -> None:
    """Change an account's role (signs out its existing sessions)."""
    role = _check_role(role)
    with connect(path) as conn:
        cur = conn.execute("UPDATE users SET role = ?, updated = ? WHERE name = ?", (role, _now(), name))
        if cur.rowcount == 0:
            raise UserError(f"no user {name!r}")


def get_user(path: str | Path, name: str) -> User | None:
    """Return an account by name, or None."""
    if not Path(path).exists():
        return None
    with connect(path) as conn:
        row = conn.execute("SELECT name, role, pw_hash, created, updated FROM users WHERE name = ?",
                           (name,)).fetchone()
    return _row_user(row) if row else None


def list_users(path: str | Path) -> list[User]:
    """Return every account, by name."""
    if not Path(path).exists():
        return []
    with connect(path) as conn:
        rows = conn.execute("SELECT name, role, pw_hash, created, updated FROM users ORDER BY name").fetchall()
    return [_row_user(r) for r in rows]


def verify(path: str | Path, name: str, password: str) -> User | None:
    """Check a name and password; return the account when they match, else None.

    Unknown names cost the same argon2 work as wrong passwords. A hash made with older
    parameters is re-hashed on success.
    """
    row = None
    if Path(path).exists() and isinstance(name, str) and len(name) <= 64:
        with connect(path) as conn:
            row = conn.execute("SELECT name, role, pw_hash, created, updated FROM users WHERE name = ?",
                               (name,)).fetchone()
    if not isinstance(password, str) or len(password) > 1024:
        return None
    try:
        _HASHER.verify(row[2] if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row[2]):
        with connect(path) as conn:
            conn.execute("UPDATE users SET pw_hash = ? WHERE name = ?", (_HASHER.hash(password), name))
        return get_user(path, name)
    return _row_user(row)
