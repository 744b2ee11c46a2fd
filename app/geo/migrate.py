"""Copy a versioned store into another, across backends (GeoJSON folder ↔ PostGIS database)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.geo import audit
from app.geo.db import Target, redact
from app.geo.store import Store, StoreError, VersionInfo, open_store


class MigrateError(StoreError):
    """A migration that cannot be done: an empty source, a non-empty target, or the same store twice."""

    default_status = 409
    default_key = "store.migrate"


@dataclass
class MigrationResult:
    """What :func:`copy_store` did.

    Attributes
    ----------
    source, target : str
        Where from and where to (URLs without passwords).
    versions : dict
        Source version id -> the id it has in the target, in the order they were copied.
    current : str
        The target's current version (the copy of the source's current one).
    """

    source: str
    target: str
    versions: dict[str, str] = field(default_factory=dict)
    current: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (for the audit record and ``--json``)."""
        return {"source": self.source, "target": self.target, "versions": dict(self.versions),
                "current": self.current}


def _same_place(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()


def _metadata_files(snapshot: Any) -> dict[str, bytes]:
    meta = snapshot.metadata()
    return {"metadata.json": json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")} if meta else {}


def copy_store(source: Store, target: Store, *, all_versions: bool = True, force: bool = False,
               progress: Callable[[str], None] | None = None) -> MigrationResult:
    """Copy the versions of one store into another, oldest first, and make the same one current.

    Each version is committed whole (``base=None``) with its author, message, source, layers and
    metadata, so the target's history holds one commit per version copied, then a rollback when
    the source's current version is not its newest. Version ids and creation times are the
    target's own (each backend numbers its versions); content, counts and content hashes carry over.

    Parameters
    ----------
    source, target : Store
        Opened stores; ``target`` must be writable.
    all_versions : bool
        Copy every stored version (True) or only the current one.
    force : bool
        Copy into a target that already holds versions (they stay; the copies come after them).
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    MigrationResult
        The versions copied and the target's current version.

    Raises
    ------
    MigrateError
        If the source holds no version, the target is not writable, is the source, or (without
        ``force``) already holds versions.
    """
    say = progress or (lambda _msg: None)
    if _same_place(source.location, target.location):
        raise MigrateError(f"source and target are the same store: {redact(source.location)}", status=400)
    if not source.exists():
        raise MigrateError(f"the source {redact(source.location)} holds no data version to copy", status=400)
    if not target.writable:
        raise MigrateError(f"the target {redact(target.location)} is read-only", status=400)
    if target.exists() and not force:
        raise MigrateError(f"the target {redact(target.location)} already holds data (version {target.version()}); "
                           "choose an empty one, or use --force to add the copies after its versions")
    current = source.version()
    infos: list[VersionInfo] = source.list_versions() if all_versions else [source.info(current)]
    if current not in {v.id for v in infos}:
        infos.append(source.info(current))
    result = MigrationResult(redact(source.location), redact(target.location))
    for n, info in enumerate(infos, 1):
        snap = source.snapshot(info.id)
        layers = {name: snap.read(name) for name in snap.layer_names()}
        copied = target.commit(layers, author=info.author, message=info.message, source=info.source or "import",
                               extra_files=_metadata_files(snap), base=None)
        result.versions[info.id] = copied.id
        say(f"[{n}/{len(infos)}] {info.id} -> {copied.id}: "
            + ", ".join(f"{k} {v}" for k, v in copied.counts.items()))
    want = result.versions[current]
    if target.version() != want:
        target.rollback(want, author=source.info(current).author or "system")
        say(f"current version: {want} (as {current} in the source)")
    result.current = target.version()
    return result


def migrate(source: str | Path, target: str | Path, *, actor: str, all_versions: bool = True,
            force: bool = False, audit_db: Target | None = None,
            progress: Callable[[str], None] | None = None) -> MigrationResult:
    """Open two stores by folder or URL, copy one into the other and record it in the audit log.

    Parameters
    ----------
    source, target : str or Path
        Folders (GeoJSON stores) or ``postgresql://`` URLs.
    actor : str
        Who migrates, for the audit record.
    all_versions, force, progress
        As :func:`copy_store`.
    audit_db : str or Path, optional
        Where the audit record goes (a SQLite file or a PostgreSQL URL); none when None.

    Returns
    -------
    MigrationResult
        What was copied.
    """
    src_text, dst_text = str(source), str(target)
    if "://" not in src_text and not Path(src_text).is_dir():
        raise MigrateError(f"the source {src_text} is not a folder or a store URL", status=400)
    src = open_store(src_text)
    dst = open_store(dst_text)
    result = copy_store(src, dst, all_versions=all_versions, force=force, progress=progress)
    if audit_db is not None:
        audit.record(audit_db, actor, "store_migrate", target=result.target,
                     detail={"source": result.source, "versions": len(result.versions), "current": result.current})
    return result
