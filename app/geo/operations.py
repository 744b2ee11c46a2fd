"""The use cases that change data or accounts, each with its audit record and its rules, for the CLI and the web."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import settings
from app.errors import GridmapError
from app.geo import audit, importer, users
from app.geo.changes import format_summary
from app.geo.dataset import DataManager
from app.geo.schema import LAYERS
from app.geo.store import Store, VersionInfo, open_data


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
    db : Path
        The accounts and audit database.
    """

    config: settings.Config
    data: DataManager
    db: Path

    @property
    def store(self) -> Store:
        """The data store."""
        return self.data.store


def open_workspace(config: settings.Config) -> Workspace:
    """Open the store and the database the settings name, as ``gridmap serve`` and every command do.

    Parameters
    ----------
    config : app.settings.Config
        Its ``DATA_DIR``, ``STORE_DIR`` and ``INSTANCE_DIR`` name the store and the database.

    Returns
    -------
    Workspace
        The opened workspace.
    """
    return Workspace(config, open_data(config), users.db_path(settings.instance_dir(config)))


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
                 repair: bool = False, dry_run: bool = False, filename: str | None = None) -> importer.ImportOutcome:
    """Check a file and store it as ``layer`` in a new version, recording the outcome in the audit log.

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

    Returns
    -------
    app.geo.importer.ImportOutcome
        The report and the new version (None on a dry run or a refusal).

    Raises
    ------
    OperationError
        For an unknown layer.
    app.geo.store.StoreError
        If the store is read-only or busy, or changed while the file was checked.
    """
    if layer not in LAYERS:
        raise OperationError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}", key="import.layer")
    outcome = importer.run_import(ws.store, layer, path, author=actor.name, crs=crs, repair=repair,
                                  dry_run=dry_run, limits=importer.Limits.from_config(ws.config),
                                  filename=filename)
    report, version = outcome.report, outcome.version
    if version is not None:
        audit.record(ws.db, actor.name, "import", target=layer, ip=actor.ip,
                     detail={"file": report.source, "version": version.id, "summary": version.summary,
                             "warnings": len(report.warnings)})
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
    info, summary = ws.store.rollback(ref.strip())
    audit.record(ws.db, actor.name, "rollback", target=info.id, ip=actor.ip, detail={"summary": summary})
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


def _admins(db: Path) -> int:
    return sum(u.role == "admin" for u in users.list_users(db))


def _keep_an_admin(db: Path, name: str, new_role: str | None) -> None:
    target = users.get_user(db, name)
    if target is not None and target.role == "admin" and new_role != "admin" and _admins(db) <= 1:
        what = "remove" if new_role is None else "demote"
        raise OperationError(f"cannot {what} the last admin", key="users.last_admin")


def add_user(ws: Workspace, actor: Actor, name: str, password: str, role: str) -> users.User:
    """Create an account and record it."""
    user = users.add_user(ws.db, name.strip(), password, role)
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
    users.set_password(ws.db, name, password)
    audit.record(ws.db, actor.name, "user_passwd", target=name, ip=actor.ip)


def set_role(ws: Workspace, actor: Actor, name: str, role: str) -> None:
    """Change an account's role and record it: never your own, and never the last admin's."""
    if actor.account == name:
        raise OperationError("you cannot change your own role", key="users.self")
    _keep_an_admin(ws.db, name, role)
    users.set_role(ws.db, name, role)
    audit.record(ws.db, actor.name, "user_role", target=name, ip=actor.ip, detail={"role": role})
