"""Background jobs every server process sees: each job's state and results in files under one folder, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from app.errors import GridmapError

#: Seconds a job is kept after its last use.
TTL_SECONDS = 30 * 60


class JobError(GridmapError):
    """A job that is unknown, expired, or cannot start now."""

    default_status = 404
    default_key = "request"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobFolder:
    """The jobs of one kind (``locate-batch``, ``recommend``) in ``root``: one sub-folder per job.

    A job's ``state.json`` holds its small, JSON-ready state (stage, progress, error); its larger
    objects (an uploaded table, a result) are pickled next to it. The files are written by this
    service only, each atomically, so any process polling a job sees a whole state. A job whose
    running process has died reads as failed; jobs unused for ``ttl`` seconds are deleted.

    Parameters
    ----------
    root : Path
        The folder (made on first use), e.g. ``instance/jobs/recommend``.
    max_jobs : int
        Jobs kept at once; the least recently used idle ones make room.
    max_running : int
        Jobs running at once over all processes.
    ttl : float
        Seconds a job is kept after its last use.
    noun : str
        What the refusals call a job (``"batch job"``).
    again : str
        What the user does when a job is unknown (``"upload the file again"``).
    """

    def __init__(self, root: Path, max_jobs: int = 32, max_running: int = 2, ttl: float = TTL_SECONDS,
                 noun: str = "job", again: str = "start it again") -> None:
        self.root, self.max_jobs, self.max_running, self.ttl = Path(root), max_jobs, max_running, ttl
        self.noun, self.again = noun, again

    def _unknown(self, jid: str) -> JobError:
        return JobError(f"no {self.noun} {jid[:40]!r} (it may have expired); {self.again}")

    def _busy(self) -> JobError:
        return JobError(f"too many {self.noun}s are running; try again in a minute", 429)

    def _dir(self, jid: str) -> Path:
        if not jid or not all(c.isalnum() or c in "-_" for c in jid) or len(jid) > 64:
            raise self._unknown(jid)
        return self.root / jid

    def create(self, state: dict[str, Any], objects: dict[str, Any] | None = None) -> str:
        """Make a new job with ``state`` (JSON-ready) and pickled ``objects``; return its id."""
        self.cleanup()
        jid = secrets.token_urlsafe(16)
        folder = self.root / jid
        folder.mkdir(parents=True)
        for name, obj in (objects or {}).items():
            self.put(jid, name, obj)
        _write_atomic(folder / "state.json", json.dumps({"state": "new", **state, "id": jid}).encode())
        return jid

    def state(self, jid: str, touch: bool = True) -> dict[str, Any]:
        """The state of job ``jid``; JobError 404 when it is unknown or expired.

        A job marked running by a process that no longer exists reads as ``failed``.
        """
        folder = self._dir(jid)
        try:
            state = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            raise self._unknown(jid) from None
        if state.get("state") == "running" and not _alive(int(state.get("pid", 0))):
            state.update(state="failed", error={"message": f"the server process running this {self.noun} stopped; "
                                                "start it again", "status": 500, "key": "request"})
        if touch:
            with contextlib.suppress(OSError):
                os.utime(folder)
        return state

    def update(self, jid: str, **changes: Any) -> dict[str, Any]:
        """Change some fields of job ``jid``'s state (only the process running it calls this while it runs)."""
        state = self.state(jid, touch=False)
        state.update(changes)
        _write_atomic(self._dir(jid) / "state.json", json.dumps(state).encode())
        return state

    def put(self, jid: str, name: str, obj: Any) -> None:
        """Keep ``obj`` as the job's ``name`` (pickled, atomically)."""
        _write_atomic(self._dir(jid) / f"{name}.pickle", pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def get(self, jid: str, name: str) -> Any:
        """The object kept as the job's ``name``; None when there is none."""
        path = self._dir(jid) / f"{name}.pickle"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return pickle.loads(data)  # noqa: S301 - written by this service into its own instance folder

    def claim(self, jid: str) -> bool:
        """Mark job ``jid`` as running in this process; False when it is running already.

        Raises
        ------
        JobError
            429 when ``max_running`` jobs run already.
        """
        if self.state(jid, touch=False).get("state") == "running":
            return False
        if self.running() >= self.max_running:
            raise self._busy()
        self.update(jid, state="running", pid=os.getpid(), started=time.time())
        return True

    def running(self) -> int:
        """Jobs running now, in any process."""
        return sum(s.get("state") == "running" for s in self._states())

    def _states(self) -> list[dict[str, Any]]:
        out = []
        for folder in self.root.glob("*") if self.root.is_dir() else ():
            with contextlib.suppress(JobError, OSError):
                out.append(self.state(folder.name, touch=False))
        return out

    def cleanup(self) -> None:
        """Delete jobs unused for ``ttl`` s, and the least recently used idle ones over ``max_jobs - 1``.

        Raises
        ------
        JobError
            429 when every kept job is running, so none can make room.
        """
        if not self.root.is_dir():
            return
        now = time.time()
        idle: list[tuple[float, Path]] = []
        kept = 0
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            try:
                used = folder.stat().st_mtime
                state = self.state(folder.name, touch=False).get("state")
            except (OSError, JobError):
                state, used = None, 0.0
            if state == "running":
                kept += 1
            elif now - used > self.ttl or state is None and now - used > 60:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                idle.append((used, folder))
                kept += 1
        idle.sort()
        while kept >= self.max_jobs and idle:
            shutil.rmtree(idle.pop(0)[1], ignore_errors=True)
            kept -= 1
        if kept >= self.max_jobs:
            raise self._busy()


def error_state(exc: GridmapError) -> dict[str, Any]:
    """A refusal as JSON-ready job state (see :func:`error_of`)."""
    return {"message": exc.message, "status": exc.status, "key": exc.key, "detail": exc.detail,
            "type": f"{type(exc).__module__}:{type(exc).__qualname__}"}


def error_of(state: dict[str, Any]) -> GridmapError:
    """The refusal a job's ``error`` state records, as a :class:`GridmapError` with its status and key."""
    error = GridmapError(str(state.get("message", "")), int(state.get("status", 500)), key=state.get("key"),
                         **(state.get("detail") or {}))
    return error
