"""The history of a versioned GeoJSON store: an append-only log of every change of the served version, and retention."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.geo._durable import fsync_dir
from app.geo.store import HistoryEntry

#: The log file in the store's root: one JSON object a line, oldest first.
HISTORY = "history.jsonl"
#: Actions whose entries make a version current.
SERVING = ("commit", "rollback", "baseline")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seq_of(version_id: str) -> int:
    """Return the sequence number at the front of a version id (0 if it has none)."""
    head = version_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def new_entry(action: str, version: str | None, *, id: str | None = None, **fields: Any) -> HistoryEntry:
    """Return an entry stamped with the time and the writing process.

    Parameters
    ----------
    action : str
        ``commit``, ``rollback`` or ``baseline``.
    version : str or None
        The version made current.
    id : str, optional
        The entry's id; a random one when None.
    **fields
        Further :class:`~app.geo.store.HistoryEntry` fields.
    """
    return HistoryEntry(id=id or uuid.uuid4().hex[:16], action=action, version=version, time=_now(),
                        pid=os.getpid(), host=socket.gethostname(), **fields)


def read_history(root: Path) -> list[HistoryEntry]:
    """Return the entries of the store at ``root``, oldest first; a line torn by a crash is skipped."""
    try:
        raw = (Path(root) / HISTORY).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            out.append(HistoryEntry.from_dict(json.loads(line)))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def append(root: Path, entry: HistoryEntry) -> None:
    """Append ``entry`` to the log and fsync it; call only under the store's lock.

    A line a crash left half-written is ended first, so that it never swallows this one.
    """
    path = Path(root) / HISTORY
    created = not path.exists()
    line = json.dumps(entry.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def to_prune(version_ids: list[str], history: Iterable[HistoryEntry], keep: int, protect: Iterable[str]) -> list[str]:
    """Return the versions retention removes: all but the ``keep`` newest, those rolled back to and ``protect``.

    Parameters
    ----------
    version_ids : list of str
        The stored versions.
    history : iterable of HistoryEntry
        The store's history (its rollbacks name the versions someone went back to).
    keep : int
        How many of the newest versions to keep; 0 keeps all.
    protect : iterable of str
        Versions kept whatever their age (the new current one and the one it replaced).

    Returns
    -------
    list of str
        Oldest first.
    """
    if keep <= 0:
        return []
    ordered = sorted(version_ids, key=seq_of)
    kept = set(ordered[-keep:]) | set(protect) | {e.version for e in history if e.action == "rollback"}
    return [v for v in ordered if v not in kept]


def settle(history: list[HistoryEntry], present: list[str], current: str | None) -> tuple[list[str], str | None]:
    """Compare the history with the version folders and the pointer: what a killed writer left undone.

    The history is the record of truth: a change is made once its line is written. A version
    folder no entry names, newer than every named one, was made by a commit killed before its
    line (never served); a folder a commit pruned was being removed; a pointer that names
    another version than the last entry was about to be moved. A served version no entry names
    (written by a gridmap from before the history) is left served.

    Parameters
    ----------
    history : list of HistoryEntry
        The store's history.
    present : list of str
        The version folders there are.
    current : str or None
        The version the pointer names.

    Returns
    -------
    tuple
        The versions to remove, and the version the pointer must name (None when it does already).
    """
    if not history:
        return [], None
    named: set[str] = set()
    pruned: set[str] = set()
    served: str | None = None
    for e in history:
        if e.action == "commit" and e.version:
            named.add(e.version)
        named.update(e.versions)
        pruned.update(e.pruned)
        if e.action in SERVING and e.version:
            served = e.version
    top = max((seq_of(v) for v in named), default=0)
    remove = [v for v in present if v not in (served, current)
              and (v in pruned or (v not in named and seq_of(v) > top))]
    adopted = current is not None and current not in named
    pointer = served if served is not None and served != current and served in present and not adopted else None
    return remove, pointer
