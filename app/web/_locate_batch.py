"""Batch jobs of the locate page: an upload held for its column mapping, then located in a thread with progress; any server process can poll them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from flask import current_app

from app.errors import GridmapError
from app.geo import jobs, tabular
from app.geo.dataset import Dataset
from app.geo.locate import locate_frame, summarize

#: Rows located per step; progress moves after each.
CHUNK_ROWS = 1000
#: Rows shown in the column-mapping preview.
PREVIEW_ROWS = 8
#: Longest cell shown in the preview, in characters.
PREVIEW_CELL_CHARS = 60
#: Problem rows listed in a job's summary.
PROBLEM_ROWS = 20
#: Jobs (uploads and results) kept at once, and how many may run at once, over all server processes.
MAX_JOBS = 8
MAX_RUNNING = 2
#: Seconds a job is kept after its last use.
TTL_SECONDS = 30 * 60

_log = logging.getLogger(__name__)


@dataclass
class Job:
    """One uploaded table as some process last wrote it: waiting for its mapping, running, done or failed.

    The table and the result are read from the job's folder on first use, so any server process
    can answer for a job another one runs.
    """

    id: str
    filename: str
    total: int
    folder: jobs.JobFolder = field(repr=False)
    state: str = "uploaded"
    done: int = 0
    error: GridmapError | None = None
    data_version: str | None = None
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def _object(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self.folder.get(self.id, name)
        return self._loaded[name]

    @property
    def table(self) -> pd.DataFrame:
        """The uploaded table."""
        return self._object("table")

    @property
    def limits(self) -> tabular.TableLimits:
        """The limits the upload was held to (the staff's or the public's)."""
        return self._object("limits")

    @property
    def spec(self) -> tabular.ColumnSpec | None:
        """The column mapping it runs with, once started."""
        return self._object("spec")

    @property
    def result(self) -> pd.DataFrame | None:
        """The located rows, once done."""
        return self._object("result") if self.state == "done" else None


class JobStore:
    """The batch jobs, at most :data:`MAX_JOBS`, each dropped :data:`TTL_SECONDS` after its last use.

    They live in files under the instance folder (``jobs/locate-batch``), so an upload made
    through one server process can be run and polled through any other.

    Parameters
    ----------
    root : Path, optional
        The folder; by default ``jobs/locate-batch`` in the app's instance folder.
    """

    def __init__(self, root: Path | None = None, max_jobs: int = MAX_JOBS, max_running: int = MAX_RUNNING,
                 ttl: float = TTL_SECONDS) -> None:
        self._root, self.max_jobs, self.max_running, self.ttl = root, max_jobs, max_running, ttl

    @property
    def folder(self) -> jobs.JobFolder:
        """The job folder (under the current app's instance folder unless given)."""
        root = self._root or Path(current_app.instance_path) / "jobs" / "locate-batch"
        return jobs.JobFolder(root, self.max_jobs, self.max_running, self.ttl, noun="batch job",
                             again="upload the file again")

    def add(self, filename: str, table: pd.DataFrame, limits: tabular.TableLimits) -> Job:
        """Hold an upload until its mapping is confirmed; the least recently used idle job makes room."""
        folder = self.folder
        jid = folder.create({"state": "uploaded", "filename": filename, "total": len(table), "done": 0},
                            {"table": table, "limits": limits})
        return self._job(folder, folder.state(jid))

    def get(self, jid: str) -> Job:
        """The job ``jid``; 404 when it is unknown or expired."""
        folder = self.folder
        return self._job(folder, folder.state(jid or ""))

    @staticmethod
    def _job(folder: jobs.JobFolder, st: dict[str, Any]) -> Job:
        error = jobs.error_of(st["error"]) if st.get("error") else None
        return Job(st["id"], st["filename"], int(st["total"]), folder, st["state"], int(st.get("done", 0)),
                   error, st.get("data_version"))

    def start(self, job: Job, ds: Dataset, spec: tabular.ColumnSpec, crs: str | None) -> None:
        """Locate the job's rows in a thread of this process, :data:`CHUNK_ROWS` at a time."""
        folder = job.folder
        table = job.table
        folder.put(job.id, "spec", spec)
        if not folder.claim(job.id):
            return
        folder.update(job.id, done=0, error=None, data_version=ds.version)
        job.state, job.done, job.error, job.data_version = "running", 0, None, ds.version
        job._loaded["spec"] = spec
        threading.Thread(target=_run, args=(folder, job.id, table, ds, spec, crs), name=f"batch-{job.id[:6]}",
                         daemon=True).start()


def _run(folder: jobs.JobFolder, jid: str, table: pd.DataFrame, ds: Dataset, spec: tabular.ColumnSpec,
         crs: str | None) -> None:
    """Locate every row of job ``jid`` and keep the result or the refusal in its folder."""
    try:
        parts = []
        for start in range(0, len(table), CHUNK_ROWS):
            part = table.iloc[start:start + CHUNK_ROWS]
            parts.append(locate_frame(ds, part, crs=crs, lon_col=spec.lon, lat_col=spec.lat,
                                      address_col=spec.address))
            folder.update(jid, done=start + len(part))
        result = (pd.concat(parts, ignore_index=True) if parts
                  else locate_frame(ds, table, crs=crs, lon_col=spec.lon, lat_col=spec.lat,
                                    address_col=spec.address))
        folder.put(jid, "result", result)
        folder.update(jid, state="done")
    except GridmapError as exc:
        folder.update(jid, state="failed", error=jobs.error_state(exc))
    except Exception:  # a bug: logged, and the page says the job failed
        _log.exception("batch job %s failed", jid)
        folder.update(jid, state="failed", error=jobs.error_state(GridmapError("internal error; it has been logged",
                                                                               500)))


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
