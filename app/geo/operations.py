"""The use cases that change data or accounts, each with its audit record and its rules, for the CLI and the web."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import settings
from app.errors import GridmapError
from app.geo import audit, users
from app.geo.changes import format_summary
from app.geo.dataset import DataManager
from app.geo.db import Target, target_for
from app.geo.schema import LAYERS
from app.geo.store import HistoryEntry, Store, VersionInfo, open_data

if TYPE_CHECKING:  # imported by import_layer: a command that only reads data (locate-batch) skips the importer
    from app.geo import importer

#: What an import says when its file holds what the current version holds already.
UNCHANGED = "no change: identical to the current version"


class OperationError(GridmapError):
    """A change the rules forbid (the last admin, your own account), or a request for something unknown."""

    default_key = "operation"


@dataclass(frozen=True)
class Workspace:
    """What the use cases work on: the settings, the data store and the accounts/audit database.

    Attributes
    ----------
    config : app.settings.Config
        The settings; the store and the instance folder (accounts, audit) come from them.
    data : DataManager
        The store and its current version.
    db : str or Path
        The accounts and audit database: a SQLite file or a PostgreSQL URL (:func:`app.geo.db.target_for`).
    """

    config: settings.Config
    data: DataManager
    db: Target

    @property
    def store(self) -> Store:
        """The data store."""
        return self.data.store


def open_workspace(config: settings.Config) -> Workspace:
    """Open the store and the database the settings name, as ``gridmap serve`` and every command do.

    What a process killed mid-change left is finished: the store's (``recover``), then the
    audit log's (:func:`reconcile`).

    Parameters
    ----------
    config : app.settings.Config
        Its ``DATA_DIR``, ``STORE_URL`` and ``INSTANCE_DIR`` name the store and the database.

    Returns
    -------
    Workspace
        The opened workspace.
    """
    ws = Workspace(config, open_data(config), target_for(config, settings.instance_dir(config)))
    reconcile(ws)
    return ws


def reconcile(ws: Workspace) -> list[HistoryEntry]:
    """Write the audit entry of every change in the store's history that has none.

    A change is in the store's history before it is served, and its audit entry is written
    right after; a process killed in between leaves a version without its entry. This writes it
    from the history (marked ``recovered``), and the entries of seeding, which only the history
    records. A change whose writer still runs is left to that writer.

    Parameters
    ----------
    ws : Workspace
        The store and the audit log.

    Returns
    -------
    list of HistoryEntry
        The changes recorded now.
    """
    history = ws.store.history()
    if not history:
        return []
    done = audit.changes_recorded(ws.db)
    return [e for e in history
            if e.action != "baseline" and e.id not in done and not _writer_running(e) and _record_change(ws, e)]


def _writer_running(entry: HistoryEntry) -> bool:
    """Return True when another process that still runs (on this host) wrote ``entry``: it records it itself."""
    if not entry.pid or entry.pid == os.getpid() or entry.host != socket.gethostname():
        return False
    try:
        os.kill(entry.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record_change(ws: Workspace, entry: HistoryEntry) -> bool:
    """Write the audit entry of a history entry that has none (its writer's record is lost, or it is a seed)."""
    seed = entry.action == "commit" and entry.source == "seed"
    action = "seed" if seed else "import" if entry.action == "commit" else "rollback"
    summary = entry.summary
    if entry.action == "commit" and entry.version in {v.id for v in ws.store.list_versions()}:
        summary = ws.store.info(entry.version).summary
    detail: dict[str, Any] = {"version": entry.version, "summary": summary, "at": entry.time}
    if entry.message:
        detail["message"] = entry.message
    if entry.pruned:
        detail["pruned"] = entry.pruned
    if not seed:
        detail["recovered"] = True
    target = ",".join(entry.layers) if action == "import" else entry.version or ""
    return audit.record(ws.db, entry.author or "?", action, target=target, detail=detail, change=entry.id)


def cli_actor() -> str:
    """Return who runs a command, for the audit log: ``cli:<login>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a user name (or ``cli:<login>``) and the client address for web requests."""

    name: str
    ip: str = ""
    #: The signed-in account's name on the web; None from the CLI (which may act on any account).
    account: str | None = None


# --------------------------------------------------------------------------- data


def import_layer(ws: Workspace, actor: Actor, layer: str, path: str | Path, *, crs: str | None = None,
                 repair: bool = False, dry_run: bool = False, filename: str | None = None,
                 work_dir: str | Path | None = None,
                 fields: Mapping[str, str] | None = None, aliases: str | Path | None = None,
                 aliases_filename: str | None = None) -> importer.ImportOutcome:
    """Check a file and store it as ``layer`` in a new version, recording the outcome in the audit log.

    A file that holds what the current version holds already makes no version (``unchanged``;
    recorded as ``import_unchanged``).

    Parameters
    ----------
    ws : Workspace
        Where the data and the audit log are.
    actor : Actor
        Who imports.
    layer : str
        One of :data:`app.geo.schema.LAYERS`.
    path : str or Path
        The file.
    crs : str, optional
        The file's CRS when it names none (or a wrong one).
    repair, dry_run : bool
        Repair invalid geometry; only check.
    filename : str, optional
        The name the user gave the file (an upload's temp file has another).
    work_dir : str or Path, optional
        Where to unpack archives while checking (an upload's own folder; the system temp folder by default).
    fields : mapping, optional
        Schema field -> the file's column, for columns the synonyms do not find (``--field``).
    aliases : str or Path, optional
        An alias file for the addresses layer (标准名称, 别名 columns; ``--aliases``).
    aliases_filename : str, optional
        The alias file's name as the user gave it.

    Returns
    -------
    app.geo.importer.ImportOutcome
        The report and the new version (None on a dry run or a refusal; the current one when unchanged).

    Raises
    ------
    OperationError
        For an unknown layer.
    app.geo.store.StoreError
        If the store is read-only or busy, or changed while the file was checked.
    """
    from app.geo import importer

    if layer not in LAYERS:
        raise OperationError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}", key="import.layer")
    outcome = importer.run_import(ws.store, layer, path, author=actor.name, crs=crs, repair=repair,
                                  dry_run=dry_run, limits=importer.Limits.from_config(ws.config),
                                  filename=filename, work_dir=work_dir, fields=fields, aliases=aliases,
                                  aliases_filename=aliases_filename)
    report, version = outcome.report, outcome.version
    if version is not None and outcome.unchanged:
        audit.record(ws.db, actor.name, "import_unchanged", target=layer, ip=actor.ip,
                     detail={"file": report.source, "version": version.id})
    elif version is not None:
        detail = {"file": report.source, "version": version.id, "summary": version.summary,
                  "warnings": len(report.warnings)}
        pruned = next((e.pruned for e in reversed(ws.store.history()) if e.id == version.id), [])
        if pruned:
            detail["pruned"] = pruned
        audit.record(ws.db, actor.name, "import", target=layer, ip=actor.ip, detail=detail, change=version.id)
    elif not report.ok:
        audit.record(ws.db, actor.name, "import_refused", target=layer, ip=actor.ip,
                     detail={"file": report.source, "errors": len(report.errors),
                             "problems": sorted(report.problems())})
    return outcome


def rollback(ws: Workspace, actor: Actor, ref: str) -> tuple[VersionInfo, dict[str, Any]]:
    """Serve a stored version again and record it in the audit log.

    Parameters
    ----------
    ws : Workspace
        Where the data and the audit log are.
    actor : Actor
        Who rolls back.
    ref : str
        The version's id, number or unique prefix.

    Returns
    -------
    tuple
        The version now served and a summary of what changed.
    """
    change = uuid.uuid4().hex[:16]
    info, summary = ws.store.rollback(ref.strip(), author=actor.name, change_id=change)
    audit.record(ws.db, actor.name, "rollback", target=info.id, ip=actor.ip, detail={"summary": summary},
                 change=change)
    return info, summary


def list_versions(store: Store) -> list[dict[str, Any]]:
    """Return the stored versions newest first, each with ``current`` and a one-line ``summary_text``.

    A read-only store has none.
    """
    if not store.writable:
        return []
    current = store.version()
    out = []
    for v in reversed(store.list_versions()):
        d = v.to_dict()
        d.pop("hashes", None)
        d["current"] = v.id == current
        d["summary_text"] = format_summary(v.summary)
        out.append(d)
    return out


# --------------------------------------------------------------------------- accounts


def _admins(db: Target) -> int:
    return sum(u.role == "admin" for u in users.list_users(db))


def _keep_an_admin(db: Target, name: str, new_role: str | None) -> None:
    target = users.get_user(db, name)
    if target is not None and target.role == "admin" and new_role != "admin" and _admins(db) <= 1:
        what = "remove" if new_role is None else "demote"
        raise OperationError(f"cannot {what} the last admin", key="users.last_admin")


def add_user(ws: Workspace, actor: Actor, name: str, password: str, role: str) -> users.User:
    """Create an account and record it."""
    user = users.add_user(ws.db, name.strip(), password, role, min_length=ws.config.PASSWORD_MIN_LENGTH)
    audit.record(ws.db, actor.name, "user_add", target=user.name, ip=actor.ip, detail={"role": user.role})
    return user


def remove_user(ws: Workspace, actor: Actor, name: str) -> None:
    """Delete an account and record it: never your own, and never the last admin."""
    if actor.account == name:
        raise OperationError("you cannot remove your own account", key="users.self")
    _keep_an_admin(ws.db, name, None)
    users.remove_user(ws.db, name)
    audit.record(ws.db, actor.name, "user_remove", target=name, ip=actor.ip)


def set_password(ws: Workspace, actor: Actor, name: str, password: str) -> None:
    """Set an account's password (signing out its sessions) and record it."""
    users.set_password(ws.db, name, password, min_length=ws.config.PASSWORD_MIN_LENGTH)
    audit.record(ws.db, actor.name, "user_passwd", target=name, ip=actor.ip)


def set_role(ws: Workspace, actor: Actor, name: str, role: str) -> None:
    """Change an account's role and record it: never your own, and never the last admin's."""
    if actor.account == name:
        raise OperationError("you cannot change your own role", key="users.self")
    _keep_an_admin(ws.db, name, role)
    users.set_role(ws.db, name, role)
    audit.record(ws.db, actor.name, "user_role", target=name, ip=actor.ip, detail={"role": role})
