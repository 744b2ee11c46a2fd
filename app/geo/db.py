"""The relational database of accounts, audit and events: a SQLite file embedded, or PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import GridmapError

if TYPE_CHECKING:
    from app.settings import Config

#: URL schemes that name a PostgreSQL database.
PG_SCHEMES: tuple[str, ...] = ("postgresql://", "postgres://")
#: A target: the path of a SQLite file, or a PostgreSQL URL.
Target = str | Path


class DatabaseError(GridmapError):
    """The database cannot be reached or refused a statement, with a message that names it."""

    default_status = 503
    default_key = "database"


@dataclass(frozen=True)
class Schema:
    """The tables one module keeps, in each dialect.

    Attributes
    ----------
    name : str
        The module's name, for messages.
    sqlite, postgresql : str
        ``CREATE TABLE IF NOT EXISTS …`` statements (several, separated by ``;``).
    added_columns : tuple of (table, column, declaration)
        Columns added after a table was first released; older databases get them when opened.
        The declaration must suit both dialects.
    """

    name: str
    sqlite: str
    postgresql: str
    added_columns: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)


def is_postgres(target: Target) -> bool:
    """Return True when ``target`` is a PostgreSQL URL rather than a SQLite file."""
    return str(target).lower().startswith(PG_SCHEMES)


def redact(target: Target) -> str:
    """Return ``target`` fit for messages and logs: a URL's password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(target))


def target_for(config: Config, instance_dir: str | Path) -> Target:
    """Return where a configuration keeps accounts, audit and events.

    ``DATABASE_URL`` when set; else the store's PostgreSQL database when the store is one;
    else ``gridmap.sqlite3`` in the instance folder.
    """
    explicit = getattr(config, "DATABASE_URL", "") or ""
    if explicit:
        return explicit
    store = getattr(config, "STORE_URL", "") or getattr(config, "STORE_DIR", "") or ""
    if is_postgres(store):
        return store
    return Path(instance_dir) / "gridmap.sqlite3"


def _pg_sql(sql: str) -> str:
    """Turn qmark placeholders into psycopg's (``?`` → ``%s``, a literal ``%`` → ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """One open connection with the same small interface on both dialects.

    Write SQL with ``?`` placeholders and the common subset of SQLite and PostgreSQL
    (``INSERT … ON CONFLICT``, ``RETURNING``, ``CURRENT_TIMESTAMP``); branch on :attr:`dialect`
    where they differ. The block that opened it commits on success and rolls back on an error.
    """

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        #: ``"sqlite"`` or ``"postgresql"``.
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement and return its cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
        if self.dialect == "postgresql":
            return self.raw.execute(_pg_sql(sql), tuple(params))
        return self.raw.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.executemany(_pg_sql(sql), [tuple(r) for r in rows])
        else:
            self.raw.executemany(sql, [tuple(r) for r in rows])

    def lock(self, name: str) -> None:
        """Serialise writers on ``name`` until the transaction ends (across processes and machines).

        SQLite takes the database's write lock (``BEGIN IMMEDIATE``); PostgreSQL a transaction-level
        advisory lock on the name's hash.
        """
        if self.dialect == "postgresql":
            self.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
        elif not self.raw.in_transaction:
            self.raw.execute("BEGIN IMMEDIATE")


_POOLS: dict[tuple[int, str], Any] = {}
_POOLS_LOCK = threading.Lock()
_READY: set[tuple[str, str]] = set()


def _pool(url: str) -> Any:
    """Return this process's connection pool for ``url`` (a new one after a fork)."""
    key = (os.getpid(), url)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            import psycopg
            from psycopg_pool import ConnectionPool

            # one direct attempt first, so that an unreachable server fails in seconds, not after
            # the pool's whole wait for a connection
            psycopg.connect(url, connect_timeout=5).close()

            pool = ConnectionPool(url, min_size=1, max_size=int(os.environ.get("GRIDMAP_DB_POOL", "8")),
                                  open=True, timeout=30, kwargs={"autocommit": True})
            _POOLS[key] = pool
    return pool


def close_pools() -> None:
    """Close this process's PostgreSQL pools (tests, and before a process exits)."""
    with _POOLS_LOCK:
        for key in [k for k in _POOLS if k[0] == os.getpid()]:
            with contextlib.suppress(Exception):
                _POOLS.pop(key).close()


@dataclass
class _SqliteEntry:
    conn: sqlite3.Connection
    ident: tuple[int, int, int]
    cached: bool
    busy: bool = False
    schemas: set[str] = field(default_factory=set)


_LOCAL = threading.local()


def _sqlite_entry(path: Path) -> _SqliteEntry:
    """Return this thread's open connection to ``path``, opening one when there is none yet.

    Opening a SQLite file, setting WAL and checking the tables on every call cost more than the
    statements themselves, and closing the last connection checkpoints the WAL; so each thread keeps
    one connection per file. A file replaced or removed since (another inode), a forked child and a
    nested use while the thread's connection is in a block get a connection of their own.
    """
    cache: dict[str, _SqliteEntry] = _LOCAL.__dict__.setdefault("conns", {})
    key = str(path)
    entry = cache.get(key)
    if entry is not None and not entry.busy:
        try:
            st = path.stat()
            if (st.st_dev, st.st_ino, os.getpid()) == entry.ident:
                return entry
        except OSError:
            pass
        cache.pop(key, None)
        if entry.ident[2] == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                entry.conn.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, check_same_thread=True)
    _set_wal(conn)
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    st = path.stat()
    nested = entry is not None and entry.busy
    fresh = _SqliteEntry(conn, (st.st_dev, st.st_ino, os.getpid()), cached=not nested)
    if not nested:
        cache[key] = fresh
    return fresh


def _set_wal(conn: sqlite3.Connection, wait: float = 10.0) -> None:
    """Put the file in WAL mode, retrying while other connections hold it.

    SQLite answers a journal-mode change with "database is locked" at once, without waiting on the
    connection's busy timeout, when another connection is opening or closing the file (8 threads
    starting together hit it now and then); so the wait is done here.
    """
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                conn.close()
                raise DatabaseError("the database is busy; try again in a moment", key="database.busy") from None
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _ensure_sqlite(conn: sqlite3.Connection, schema: Schema) -> None:
    conn.executescript(schema.sqlite)
    for table, column, declaration in schema.added_columns:
        if column in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except sqlite3.OperationalError:
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                raise


def _ensure_pg(raw: Any, url: str, schema: Schema) -> None:
    key = (url, schema.name)
    if key in _READY:
        return
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(hashtext('gridmap-schema'))")
        for statement in (s.strip() for s in schema.postgresql.split(";")):
            if statement:
                raw.execute(statement)
        for table, column, declaration in schema.added_columns:
            raw.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {declaration}")
    _READY.add(key)


@contextlib.contextmanager
def connect(target: Target, schema: Schema) -> Iterator[Connection]:
    """Open the database, make ``schema``'s tables if missing, and commit when the block ends.

    Parameters
    ----------
    target : str or Path
        A SQLite file (its folder is made, and the file is readable by its owner only), or a
        ``postgresql://`` URL.
    schema : Schema
        The tables the caller needs.

    Yields
    ------
    Connection
        Committed when the block ends normally, rolled back when it raises.

    Raises
    ------
    DatabaseError
        If PostgreSQL cannot be reached (the message names the database, never its password).
    """
    if is_postgres(target):
        import psycopg

        url = str(target)
        try:
            pool = _pool(url)
            ctx = pool.connection()
            raw = ctx.__enter__()
        except (psycopg.Error, OSError) as exc:
            raise DatabaseError(f"cannot reach database {redact(url)}: {exc.__class__.__name__}") from None
        except Exception as exc:  # psycopg_pool.PoolTimeout and friends
            raise DatabaseError(f"cannot reach database {redact(url)}: {exc}") from None
        try:
            _ensure_pg(raw, url, schema)
            with raw.transaction():
                yield Connection(raw, "postgresql")
        except BaseException as exc:
            ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            ctx.__exit__(None, None, None)
        return
    path = Path(target)
    entry = _sqlite_entry(path)
    entry.busy = True
    try:
        if schema.name not in entry.schemas:
            _ensure_sqlite(entry.conn, schema)
            entry.schemas.add(schema.name)
        with entry.conn:
            yield Connection(entry.conn, "sqlite")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        # another writer held the file past the timeout: a 503 the client may retry, not a 500
        raise DatabaseError("the database is busy; try again in a moment", key="database.busy") from None
    finally:
        entry.busy = False
        if not entry.cached:
            entry.conn.close()
