"""Sign-in accounts in the app database (SQLite or PostgreSQL): argon2 hashes, session generations, lock-outs, password rules."""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.errors import GridmapError
from app.geo import db
from app.geo.db import Connection, Target

#: Roles in increasing order of rights. ``public`` is everyone who is not signed in; ``department`` is a
#: functional department's account (events handed to it), below ``staff`` (grid workers' contacts).
ROLES: tuple[str, ...] = ("public", "department", "staff", "admin")
#: Roles an account can have.
ACCOUNT_ROLES: tuple[str, ...] = ("department", "staff", "admin")
#: Longest password accepted (argon2 hashes any length, but nobody types more).
MAX_PASSWORD = 1024
#: Lowest zxcvbn score (0-4) a password needs.
MIN_PASSWORD_SCORE = 3
#: Longest lock-out, so that the doubling stays bounded; failure counters idle this long are forgotten.
MAX_LOCK_SECONDS = 24 * 3600

_NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,64}$")
_HASHER = PasswordHasher()
#: A hash of a random password, verified against when the user is unknown so timing does not tell.
#: Made on first use (:func:`dummy_hash`): hashing costs ~0.7 s, which every `gridmap` command paid at import.
_DUMMY_HASH: str | None = None
#: zxcvbn keeps the user inputs of a call in a module-level dictionary, so calls must not overlap.
_ZXCVBN_LOCK = threading.Lock()


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
    _DUMMY_HASH = None


def dummy_hash() -> str:
    """Return the hash an unknown name is checked against (made once per process and cost).

    The server makes it before serving (``app.web.server.warm``), so no sign-in pays for it.
    """
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("not-a-real-password-0000")
    return _DUMMY_HASH

_SQLITE = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('department', 'staff', 'admin')),
    pw_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until REAL NOT NULL DEFAULT 0,
    last REAL NOT NULL
);
"""
_POSTGRESQL = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('department', 'staff', 'admin')),
    pw_hash TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    last DOUBLE PRECISION NOT NULL
);
"""
#: The accounts' tables. Columns added after a table was first released go in ``added_columns``: older
#: databases get them with ALTER TABLE when they are opened.
SCHEMA = db.Schema("users", sqlite=_SQLITE, postgresql=_POSTGRESQL,
                   added_columns=(("users", "generation", "INTEGER NOT NULL DEFAULT 0"),))
_USER_COLUMNS = "name, role, created, updated, generation"


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
    #: The account's session generation: a session made under another one is signed out. Signing out
    #: and every password or role change move it on.
    generation: int


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt (see :func:`sign_in`)."""

    #: The account when name and password matched, else None.
    user: User | None
    #: Failed attempts in a row for the name, this one included (0 after a success).
    failures: int = 0
    #: Seconds the name is now locked for (0 when it is not locked).
    locked_seconds: int = 0


def role_rank(role: str) -> int:
    """Return the position of ``role`` in :data:`ROLES` (unknown roles rank below public)."""
    return ROLES.index(role) if role in ROLES else -1


def db_path(instance_dir: str | Path) -> Path:
    """Return the SQLite database of accounts and audit inside an instance folder (the default target)."""
    return Path(instance_dir) / "gridmap.sqlite3"


def _absent(target: Target) -> bool:
    """Return True when ``target`` is a SQLite file that does not exist yet (so it holds nothing)."""
    return not db.is_postgres(target) and not Path(target).exists()


def _upgrade_sqlite_roles(conn: Connection) -> None:
    """Rebuild a SQLite ``users`` table whose CHECK predates the ``department`` role, in the open transaction.

    SQLite cannot alter a CHECK constraint; the table is copied into one made by :data:`SCHEMA`
    under the database's write lock, so that two processes opening the file never both rebuild it.
    """
    def old() -> bool:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetchone()
        return bool(row and "CHECK" in row[0].upper() and "'department'" not in row[0])

    if not old():
        return
    conn.lock("users")
    if not old():  # another process rebuilt it while this one waited
        return
    create = _SQLITE.split(";")[0].replace("CREATE TABLE IF NOT EXISTS users", "CREATE TABLE users_rebuilt")
    conn.execute(create)
    conn.execute(f"INSERT INTO users_rebuilt (pw_hash, {_USER_COLUMNS}) SELECT pw_hash, {_USER_COLUMNS} FROM users")
    conn.execute("DROP TABLE users")
    conn.execute("ALTER TABLE users_rebuilt RENAME TO users")


@contextlib.contextmanager
def connect(target: Target) -> Iterator[Connection]:
    """Open the accounts' tables (making or upgrading them when needed) and commit when the block ends.

    Parameters
    ----------
    target : str or Path
        A SQLite file (see :func:`db_path`) or a ``postgresql://`` URL (see :func:`app.geo.db.target_for`).

    Yields
    ------
    app.geo.db.Connection
        Committed when the block ends, rolled back when it raises.
    """
    with db.connect(target, SCHEMA) as conn:
        if conn.dialect == "sqlite":
            _upgrade_sqlite_roles(conn)
        yield conn


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise UserError("user name must be 2-64 letters, digits, Chinese characters or _ . @ -")
    return name


def _check_role(role: str) -> str:
    if role not in ACCOUNT_ROLES:
        raise UserError(f"role must be one of {', '.join(ACCOUNT_ROLES)}, got {role!r}")
    return role


# --------------------------------------------------------------------------- password rules


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _strength(password: str, name: str) -> tuple[int, str]:
    """Return zxcvbn's score (0-4) of ``password`` and its warning, with the user name as a known word."""
    from zxcvbn import zxcvbn

    with _ZXCVBN_LOCK:
        # zxcvbn refuses more than 72 characters; what follows them only makes a password stronger
        result = zxcvbn(password[:72], user_inputs=[name] if name else [])
    return int(result["score"]), str(result["feedback"].get("warning") or "")


def check_password(password: str, name: str, min_length: int) -> str:
    """Return ``password`` when the password rules accept it for account ``name``; else raise.

    The rules, in order: at least ``min_length`` characters (and at most :data:`MAX_PASSWORD`);
    not equal to nor containing the user name (ignoring case); not in zxcvbn's list of common
    passwords (ignoring case); a zxcvbn score of at least :data:`MIN_PASSWORD_SCORE`.

    Parameters
    ----------
    password : str
        The plain password.
    name : str
        The account's user name.
    min_length : int
        Shortest password accepted (the ``PASSWORD_MIN_LENGTH`` setting).

    Returns
    -------
    str
        The password, unchanged.

    Raises
    ------
    UserError
        Naming the rule the password breaks (key ``users.password.<rule>``).
    """
    if not isinstance(password, str) or len(password) < min_length:
        raise UserError(f"password must be at least {min_length} characters (GRIDMAP_PASSWORD_MIN_LENGTH)",
                        key="users.password.length")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"password is longer than {MAX_PASSWORD} characters", key="users.password.length")
    lowered = password.lower()
    if name and name.lower() in lowered:
        raise UserError(f"password must not contain the user name {name!r}", key="users.password.name")
    if lowered in _common_passwords():
        raise UserError("password is one of the most common passwords (zxcvbn's list); choose another",
                        key="users.password.common")
    score, warning = _strength(password, name)
    if score < MIN_PASSWORD_SCORE:
        why = f": {warning.rstrip('.')}" if warning else ""
        raise UserError(f"password is too easy to guess (zxcvbn strength {score} of 4, at least "
                        f"{MIN_PASSWORD_SCORE} needed){why}; use a longer mix of uncommon words, digits "
                        "and signs", key="users.password.weak")
    return password


# --------------------------------------------------------------------------- accounts


def _row_user(row: tuple) -> User:
    name, role, created, updated, generation = row
    return User(name=name, role=role, created=created, updated=updated, generation=int(generation))


def add_user(path: Target, name: str, password: str, role: str = "staff", *, min_length: int) -> User:
    """Create an account.

    Parameters
    ----------
    path : str or Path
        The database: a SQLite file or a ``postgresql://`` URL.
    name : str
        User name.
    password : str
        Plain password, which must pass :func:`check_password`; only its argon2 hash is stored.
    role : str
        One of :data:`ACCOUNT_ROLES` (``department``, ``staff`` or ``admin``).
    min_length : int
        Shortest password accepted (the ``PASSWORD_MIN_LENGTH`` setting).

    Returns
    -------
    User
        The new account.
    """
    name, role = _check_name(name), _check_role(role)
    pw_hash = _HASHER.hash(check_password(password, name, min_length))
    now = _now()
    # a random first generation, so that a session of a removed account never fits a new one of that name
    generation = secrets.randbelow(1 << 31)
    with connect(path) as conn:
        cur = conn.execute(f"INSERT INTO users (pw_hash, {_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING", (pw_hash, name, role, now, now, generation))
        if cur.rowcount != 1:
            raise UserError(f"user {name!r} already exists")
    return User(name, role, now, now, generation)


def remove_user(path: Target, name: str) -> None:
    """Delete an account; raises :class:`UserError` if there is none."""
    with connect(path) as conn:
        if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise UserError(f"no user {name!r}")


def set_password(path: Target, name: str, password: str, *, min_length: int) -> None:
    """Replace an account's password, signing out its sessions and lifting a lock-out.

    Parameters
    ----------
    path : str or Path
        The database: a SQLite file or a ``postgresql://`` URL.
    name : str
        The account.
    password : str
        The new plain password, which must pass :func:`check_password`.
    min_length : int
        Shortest password accepted (the ``PASSWORD_MIN_LENGTH`` setting).
    """
    pw_hash = _HASHER.hash(check_password(password, name, min_length))
    with connect(path) as conn:
        cur = conn.execute("UPDATE users SET pw_hash = ?, updated = ?, generation = generation + 1 "
                           "WHERE name = ?", (pw_hash, _now(), name))
        if cur.rowcount == 0:
            raise UserError(f"no user {name!r}")
        conn.execute("DELETE FROM sign_in_failures WHERE name = ?", (name,))


def set_role(path: Target, name: str, role: str) -> None:
    """Change an account's role (signs out its existing sessions)."""
    role = _check_role(role)
    with connect(path) as conn:
        cur = conn.execute("UPDATE users SET role = ?, updated = ?, generation = generation + 1 "
                           "WHERE name = ?", (role, _now(), name))
        if cur.rowcount == 0:
            raise UserError(f"no user {name!r}")


def end_sessions(path: Target, name: str) -> None:
    """Sign out every session of account ``name`` by moving its generation on (an unknown name: nothing)."""
    with connect(path) as conn:
        conn.execute("UPDATE users SET generation = generation + 1 WHERE name = ?", (name,))


def get_user(path: Target, name: str) -> User | None:
    """Return an account by name, or None."""
    if _absent(path):
        return None
    with connect(path) as conn:
        row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
    return _row_user(row) if row else None


def list_users(path: Target) -> list[User]:
    """Return every account, by name."""
    if _absent(path):
        return []
    with connect(path) as conn:
        rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
    return [_row_user(r) for r in rows]


def verify(path: Target, name: str, password: str) -> User | None:
    """Check a name and password; return the account when they match, else None.

    Unknown names cost the same argon2 work as wrong passwords. A hash made with older
    parameters is re-hashed on success. No lock-out applies here (see :func:`sign_in`).
    """
    row = None
    if not _absent(path) and isinstance(name, str) and len(name) <= 64:
        with connect(path) as conn:
            row = conn.execute(f"SELECT pw_hash, {_USER_COLUMNS} FROM users WHERE name = ?",
                               (name,)).fetchone()
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return None
    try:
        _HASHER.verify(row[0] if row else dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row[0]):
        with connect(path) as conn:
            conn.execute("UPDATE users SET pw_hash = ? WHERE name = ?", (_HASHER.hash(password), name))
    return _row_user(row[1:])


# --------------------------------------------------------------------------- lock-out


def lock_seconds(failures: int, attempts: int, seconds: int) -> int:
    """Return how long a name is locked after ``failures`` failed sign-ins in a row.

    Parameters
    ----------
    failures : int
        Failed attempts in a row.
    attempts : int
        Failures that lock (the ``LOCKOUT_ATTEMPTS`` setting); 0 or less never locks.
    seconds : int
        The first lock (the ``LOCKOUT_SECONDS`` setting); it doubles with each further failure.

    Returns
    -------
    int
        Seconds, at most ``max(MAX_LOCK_SECONDS, seconds)``; 0 below ``attempts`` failures.
    """
    if attempts <= 0 or seconds <= 0 or failures < attempts:
        return 0
    cap = max(MAX_LOCK_SECONDS, seconds)
    return min(seconds * 2 ** min(failures - attempts, 40), cap)


def _record_failure(path: Target, name: str, now: float, attempts: int, seconds: int) -> SignIn:
    forget = max(MAX_LOCK_SECONDS, seconds)
    with connect(path) as conn:
        conn.execute("DELETE FROM sign_in_failures WHERE last < ?", (now - forget,))
        failures = conn.execute(
            "INSERT INTO sign_in_failures (name, failures, last) VALUES (?, 1, ?) "
            "ON CONFLICT (name) DO UPDATE SET failures = sign_in_failures.failures + 1, last = excluded.last "
            "RETURNING failures",
            (name, now)).fetchone()[0]
        locked = lock_seconds(failures, attempts, seconds)
        if locked:
            conn.execute("UPDATE sign_in_failures SET locked_until = ? WHERE name = ?", (now + locked, name))
    return SignIn(None, failures=failures, locked_seconds=locked)


def sign_in(path: Target, name: str, password: str, *, attempts: int, seconds: int,
            now: float | None = None) -> SignIn:
    """Check a name and password under the lock-out rule.

    Every name, whether an account has it or not, counts its failed attempts in a row, so
    that an unknown name fails and locks exactly like a wrong password. After ``attempts``
    failures the name is locked for ``seconds``; each further failure (an attempt while locked
    counts as one, and its password is not even checked) doubles the lock, up to
    :data:`MAX_LOCK_SECONDS`. A successful sign-in and a new password clear the count;
    counters idle for that long are forgotten.

    Parameters
    ----------
    path : str or Path
        The database: a SQLite file or a ``postgresql://`` URL.
    name, password : str
        What the user typed.
    attempts : int
        The ``LOCKOUT_ATTEMPTS`` setting (0 switches the lock-out off).
    seconds : int
        The ``LOCKOUT_SECONDS`` setting.
    now : float, optional
        The time (Unix seconds); the clock by default.

    Returns
    -------
    SignIn
        The account, or None with the failure count and the lock in seconds.
    """
    now = time.time() if now is None else now
    key = name[:64] if isinstance(name, str) else ""
    locked_until = 0.0
    if not _absent(path):
        with connect(path) as conn:
            row = conn.execute("SELECT locked_until FROM sign_in_failures WHERE name = ?", (key,)).fetchone()
        locked_until = row[0] if row else 0.0
    if locked_until > now and attempts > 0 and seconds > 0:  # a lock-out switched off since is lifted
        return _record_failure(path, key, now, attempts, seconds)
    user = verify(path, name, password)
    if user is None:
        return _record_failure(path, key, now, attempts, seconds)
    with connect(path) as conn:
        conn.execute("DELETE FROM sign_in_failures WHERE name = ?", (key,))
    return SignIn(user)
