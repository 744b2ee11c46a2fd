"""Batch jobs of the locate page: an upload held for its column mapping, then located in a thread with progress."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.errors import GridmapError
from app.geo import tabular
from app.geo.dataset import Dataset
from app.geo.locate import locate_frame, summarize
from app.web.errors import ApiError

#: Rows located per step; progress moves after each.
CHUNK_ROWS = 1000
#: Rows shown in the column-mapping preview.
PREVIEW_ROWS = 8
#: Longest cell shown in the preview, in characters.
PREVIEW_CELL_CHARS = 60
#: Problem rows listed in a job's summary.
PROBLEM_ROWS = 20
#: Jobs (uploads and results) one process holds, and how many may run at once.
MAX_JOBS = 8
MAX_RUNNING = 2
#: Seconds a job is kept after its last use.
TTL_SECONDS = 30 * 60

_log = logging.getLogger(__name__)


@dataclass
class Job:
    """One uploaded table: waiting for its mapping, running, done or failed."""

    id: str
    filename: str
    table: pd.DataFrame
    limits: tabular.TableLimits
    state: str = "uploaded"
    done: int = 0
    result: pd.DataFrame | None = None
    error: GridmapError | None = None
    spec: tabular.ColumnSpec | None = None
    data_version: str | None = None
    used: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        """Data rows of the upload."""
        return len(self.table)


class JobStore:
    """The batch jobs of one process, at most :data:`MAX_JOBS`, each dropped :data:`TTL_SECONDS` after its last use."""

    def __init__(self, max_jobs: int = MAX_JOBS, max_running: int = MAX_RUNNING, ttl: float = TTL_SECONDS) -> None:
        self.max_jobs, self.max_running, self.ttl = max_jobs, max_running, ttl
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for jid in [j.id for j in self._jobs.values() if j.state != "running" and now - j.used > self.ttl]:
            del self._jobs[jid]

    def add(self, filename: str, table: pd.DataFrame, limits: tabular.TableLimits) -> Job:
        """Hold an upload until its mapping is confirmed; the least recently used idle job makes room."""
        with self._lock:
            self._expire()
            while len(self._jobs) >= self.max_jobs:
                idle = [j for j in self._jobs.values() if j.state != "running"]
                if not idle:
                    raise ApiError("too many batch jobs are running; try again in a minute", 429, key="request")
                del self._jobs[min(idle, key=lambda j: j.used).id]
            job = Job(secrets.token_urlsafe(16), filename, table, limits)
            self._jobs[job.id] = job
            return job

    def get(self, jid: str) -> Job:
        """The job ``jid``; ApiError 404 when it is unknown or expired."""
        with self._lock:
            self._expire()
            job = self._jobs.get(jid or "")
            if job is None:
                raise ApiError(f"no batch job {jid!r} (it may have expired); upload the file again", 404)
            job.used = time.monotonic()
            return job

    def start(self, job: Job, ds: Dataset, spec: tabular.ColumnSpec, crs: str | None) -> None:
        """Locate the job's rows in a thread, :data:`CHUNK_ROWS` at a time."""
        with self._lock:
            if job.state == "running":
                return
            if sum(j.state == "running" for j in self._jobs.values()) >= self.max_running:
                raise ApiError("too many batch jobs are running; try again in a minute", 429, key="request")
            job.state, job.done, job.result, job.error = "running", 0, None, None
            job.spec, job.data_version = spec, ds.version
        threading.Thread(target=_run, args=(job, ds, spec, crs), name=f"batch-{job.id[:6]}", daemon=True).start()


def _run(job: Job, ds: Dataset, spec: tabular.ColumnSpec, crs: str | None) -> None:
    """Locate every row of ``job`` and keep the result or the refusal."""
    try:
        parts = []
        for start in range(0, job.total, CHUNK_ROWS):
            part = job.table.iloc[start:start + CHUNK_ROWS]
            parts.append(locate_frame(ds, part, crs=crs, lon_col=spec.lon, lat_col=spec.lat,
                                      address_col=spec.address))
            job.done = start + len(part)
        job.result = (pd.concat(parts, ignore_index=True) if parts
                      else locate_frame(ds, job.table, crs=crs, lon_col=spec.lon, lat_col=spec.lat,
                                        address_col=spec.address))
        job.state = "done"
    except GridmapError as exc:
        job.error, job.state = exc, "failed"
    except Exception:  # a bug: logged, and the page says the job failed
        _log.exception("batch job %s failed", job.id)
        job.error, job.state = GridmapError("internal error; it has been logged", 500), "failed"
    job.used = time.monotonic()


def preview(job: Job) -> dict[str, Any]:
    """The column-mapping step of ``job``: its columns, the detected roles and its first rows."""
    spec = tabular.detect_columns(job.table)
    head = job.table.head(PREVIEW_ROWS)
    rows = [[("" if v is None else str(v))[:PREVIEW_CELL_CHARS] for v in row]
            for row in head.itertuples(index=False, name=None)]
    return {"job": job.id, "filename": job.filename, "columns": [str(c) for c in job.table.columns],
            "rows": rows, "total": job.total, "mode": spec.mode,
            "detected": {"lon": spec.lon, "lat": spec.lat, "address": spec.address}}


def status(job: Job, translate: Callable[[str], str], error_text: Callable[[GridmapError], str]) -> dict[str, Any]:
    """A job's progress; when done its summary and first problem rows (messages through ``translate``)."""
    out: dict[str, Any] = {"job": job.id, "state": job.state, "done": job.done, "total": job.total,
                           "filename": job.filename}
    if job.state == "failed" and job.error is not None:
        out.update(error=error_text(job.error), code=job.error.key, status=job.error.status)
    if job.state == "done" and job.result is not None:
        out["summary"] = summarize(job.result)
        out["data_version"] = job.data_version
        out["problems"] = problems(job.result, job.spec, translate)
    return out


def problems(result: pd.DataFrame, spec: tabular.ColumnSpec | None, translate: Callable[[str], str],
             limit: int = PROBLEM_ROWS) -> list[dict[str, Any]]:
    """The first rows that need a look: not ``ok``, or ``ok`` with a note (swapped lat/lon, a fuzzy match).

    Each with its file row (header = 1), status, message, the mapped cells and, for coordinates,
    the nearest grid and standard address.
    """
    flagged = (result["status"] != "ok") | (result["message"].fillna("").astype(str) != "")
    bad = result.index[flagged.to_numpy()][:limit]
    cols = [c for c in ((spec.lon, spec.lat, spec.address) if spec else ()) if c]
    out = []
    for i in bad:
        row = result.loc[i]
        nearest = row["nearest_grid_code"]
        out.append({"row": int(i) + 2, "status": row["status"], "message": translate(str(row["message"] or "")),
                    "values": {c: str(row[c]) for c in cols},
                    "nearest_grid_code": None if pd.isna(nearest) else str(nearest),
                    "distance_m": None if pd.isna(row["distance_m"]) else float(row["distance_m"]),
                    "matched_address": _text(row.get("matched_address")),
                    "nearest_address": _text(row.get("nearest_address"))})
    return out


def _text(value: Any) -> str | None:
    """A cell as text for JSON; None for an empty or missing one."""
    return None if value is None or pd.isna(value) or value == "" else str(value)


def translated(result: pd.DataFrame, translate: Callable[[str], str]) -> pd.DataFrame:
    """``result`` with its ``message`` column through ``translate`` (a copy; the input is kept)."""
    out = result.copy()
    out["message"] = [translate(m) if isinstance(m, str) else m for m in out["message"]]
    return out
