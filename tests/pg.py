"""A throw-away PostgreSQL/PostGIS cluster for the tests: started once per session, one database per test."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

#: Set (to 1) by `make test`: a missing PostgreSQL is then a failure, not a skip.
REQUIRE_ENV = "GRIDMAP_TEST_REQUIRE_PG"
#: The database every test database is copied from (PostGIS already created in it).
TEMPLATE = "gridmap_template"


def _bindir() -> Path | None:
    """Return the folder of the newest installed PostgreSQL server binaries, or None."""
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _has_postgis(bindir: Path) -> bool:
    version = bindir.parent.name
    return any(Path(f"/usr/share/postgresql/{version}/extension").glob("postgis*.control"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running cluster: its socket folder and port; ``url(db)`` names one database on it."""

    root: Path
    socket_dir: Path
    port: int
    user: str
    bindir: Path
    run_as: list[str]

    def url(self, dbname: str = "postgres") -> str:
        """Return a libpq URL of ``dbname`` over the cluster's Unix socket."""
        return f"postgresql://{self.user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql as the cluster's owner and return its output."""
        out = subprocess.run(
            [*self.run_as, str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "-d", dbname, "-c", sql],
            check=True, capture_output=True, text=True)
        return out.stdout

    def new_database(self, prefix: str = "t") -> str:
        """Create a fresh database from the PostGIS template and return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.url(name)

    def stop(self) -> None:
        """Stop the cluster (fast shutdown) and remove its folder."""
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """Start a private cluster in a temporary folder, as user ``postgres`` when run as root.

    Raises
    ------
    RuntimeError
        If PostgreSQL or PostGIS is not installed, or the cluster does not start.
    """
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/system-deps.sh test installs it)")
    if not _has_postgis(bindir):
        raise RuntimeError(f"PostGIS is not installed for PostgreSQL {bindir.parent.name}")
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="gridmap-pg-"))
    socket_dir = root / "sock"
    socket_dir.mkdir()
    if run_as:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
        root.chmod(0o755)
        socket_dir.chmod(0o777)
    user = "postgres"
    port = _free_port()
    data = root / "data"
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
                    "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True)
    opts = (f"-c listen_addresses='' -c unix_socket_directories={socket_dir} -p {port} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=64MB")
    started = subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                              "-l", str(root / "log"), "-w", "-t", "60", "start"],
                             capture_output=True, text=True)
    cluster = Cluster(root, socket_dir, port, user, bindir, run_as)
    if started.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}{log}")
    cluster.psql(f"CREATE DATABASE {TEMPLATE}")
    cluster.psql("CREATE EXTENSION postgis", TEMPLATE)
    atexit.register(cluster.stop)
    return cluster


_CLUSTER: Cluster | None = None
_ERROR: str | None = None


def cluster() -> Cluster | None:
    """Return the session's cluster, starting it on first use; None (with :func:`why`) if it cannot run."""
    global _CLUSTER, _ERROR
    if _CLUSTER is None and _ERROR is None:
        try:
            _CLUSTER = start_cluster()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            _ERROR = f"{exc} {detail}".strip()
    return _CLUSTER


def why() -> str:
    """Return why the cluster is not available."""
    return _ERROR or ""


def required() -> bool:
    """Return True when a missing PostgreSQL must fail the run (``make test``, CI)."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")

