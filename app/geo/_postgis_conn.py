"""Connections of the PostGIS store: a per-process pool, the schema on first use, and the version watcher."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from app.geo import db
from app.geo._postgis_schema import CHANNEL, CURRENT, DDL, VERSIONS
from app.geo.store import StoreError

#: Seconds a cached current version is trusted before it is read again (NOTIFY usually updates it sooner).
RECHECK = 1.0
#: Seconds to wait for a pooled connection (or a new one) before the database counts as unreachable.
CONNECT_TIMEOUT = 10.0

#: Pools a forked child inherited from its parent: kept, never closed, since closing them would end the
#: parent's sessions (the sockets are shared).
_INHERITED: list[Any] = []

_SCHEMA_TAG = "gridmap store schema " + hashlib.sha256("\n".join(DDL).encode()).hexdigest()[:12]


class StoreUnavailable(StoreError):
    """The store's database cannot be reached."""

    default_status = 503
    default_key = "store.unavailable"


def connect(url: str, **kwargs: Any) -> Any:
    """Open one autocommit psycopg connection to ``url``.

    Raises
    ------
    StoreUnavailable
        If the database cannot be reached (the message never holds the password).
    """
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT), **kwargs)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot reach the store database {db.redact(url)}: "
                               f"{exc.__class__.__name__}") from None


class Connections:
    """This process's connections to one store database (a new pool after a fork).

    Parameters
    ----------
    url : str
        A libpq URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._pid = 0
        self._pool: Any = None
        self._lock = threading.Lock()
        self._ready = False
        self._closed = False

    def _get_pool(self) -> Any:
        with self._lock:
            if self._closed:
                raise StoreError("the store was closed")
            if self._pool is None or self._pid != os.getpid():
                from psycopg_pool import ConnectionPool

                if self._pool is not None:
                    _INHERITED.append(self._pool)

                connect(self.url).close()  # fail fast with a clear message rather than after the pool's timeout

                self._pool = ConnectionPool(self.url, min_size=1, max_size=4, open=True, timeout=CONNECT_TIMEOUT,
                                            kwargs={"autocommit": True})
                self._pid = os.getpid()
            return self._pool

    @contextlib.contextmanager
    def conn(self) -> Iterator[Any]:
        """Lend a pooled autocommit connection for the block (the schema made on first use).

        Raises
        ------
        StoreUnavailable
            If the database cannot be reached.
        """
        import psycopg

        try:
            ctx = self._get_pool().connection()
            raw = ctx.__enter__()
        except StoreError:
            raise
        except (psycopg.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot reach the store database {db.redact(self.url)}: "
                                   f"{exc.__class__.__name__}") from None
        except Exception as exc:  # psycopg_pool.PoolTimeout
            raise StoreUnavailable(f"cannot reach the store database {db.redact(self.url)}: {exc}") from None
        try:
            if not self._ready:
                try:
                    ensure_schema(raw)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    raise StoreError(f"cannot make the store's tables in {db.redact(self.url)}: "
                                     f"{exc.__class__.__name__}: {exc}".strip()) from None
                self._ready = True
            yield raw
        except psycopg.OperationalError as exc:  # the connection broke (server restarted, network)
            ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise StoreUnavailable(f"lost the store database {db.redact(self.url)}: "
                                   f"{exc.__class__.__name__}") from None
        except BaseException as exc:
            ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            ctx.__exit__(None, None, None)

    def close(self) -> None:
        """Close this process's pool; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._pool is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._pool.close(timeout=1.0)
            elif self._pool is not None:
                _INHERITED.append(self._pool)
            self._pool = None


def shutdown(watch: VersionWatch, conns: Connections) -> None:
    """Stop a store's listener and close its pool (when it is closed or garbage-collected)."""
    watch.stop()
    conns.close()


def ensure_schema(conn: Any) -> None:
    """Make the store's tables, indexes and views if they are missing or from another gridmap version.

    Raises
    ------
    StoreError
        If the database has no PostGIS and the connecting role may not create it.
    """
    import psycopg

    row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (VERSIONS,)).fetchone()
    if row and row[0] == _SCHEMA_TAG:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('gridmap-schema'))")
        row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (VERSIONS,)).fetchone()
        if row and row[0] == _SCHEMA_TAG:
            return
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                raise StoreError(f"the store database has no PostGIS and it cannot be created here "
                                 f"({exc.__class__.__name__}); run CREATE EXTENSION postgis as its owner") from None
        for statement in DDL:
            if statement.startswith("CREATE OR REPLACE VIEW"):
                view = statement.split()[4]
                conn.execute(f"DROP VIEW IF EXISTS {view}")
            conn.execute(statement)
        conn.execute(f"COMMENT ON TABLE {VERSIONS} IS '{_SCHEMA_TAG}'")


class VersionWatch:
    """The current version id, cached: a LISTEN thread updates it at once, a re-read every second as a fallback.

    Parameters
    ----------
    conns : Connections
        The store's connections (the re-read borrows one).
    location : str
        The store's URL without its password, for the message when it has no current version.
    """

    def __init__(self, conns: Connections, location: str) -> None:
        self.conns = conns
        self.location = location
        self._value = ""
        self._checked = 0.0
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def get(self) -> str:
        """Return the current version id (read from the database at most once a second)."""
        if self._pid != os.getpid():
            self._start()
        if self._value and time.monotonic() - self._checked < RECHECK:
            return self._value
        return self.refresh()

    def refresh(self) -> str:
        """Read the current version from the database now."""
        with self.conns.conn() as conn:
            row = conn.execute(f"SELECT version FROM {CURRENT}").fetchone()
        if row is None:
            raise StoreError(f"store {self.location} has no current version")
        self.set(row[0])
        return row[0]

    def set(self, value: str) -> None:
        """Record ``value`` as current (after this process's own commit or rollback, or a NOTIFY)."""
        with self._lock:
            self._value, self._checked = value, time.monotonic()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._value, self._checked = "", 0.0
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._listen, name="gridmap-store-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the listener thread (it also dies with the process)."""
        self._stop.set()

    def _listen(self) -> None:
        """Listen for NOTIFY of new versions; reconnect after any failure."""
        stop = self._stop
        while not stop.is_set():
            conn = None
            try:
                conn = connect(self.conns.url)
                conn.execute(f"LISTEN {CHANNEL}")
                with contextlib.suppress(StoreError):
                    self.refresh()  # what changed while not listening
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        if note.payload:
                            self.set(note.payload)
            except Exception:  # noqa: BLE001 - any failure: wait, reconnect
                stop.wait(1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
