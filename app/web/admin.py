"""Admin pages: import a layer, list versions and roll back, manage users, read the audit log."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage

from app import settings
from app.errors import GridmapError
from app.geo import audit, importer, operations, users
from app.geo.changes import format_summary
from app.geo.schema import LAYERS
from app.web import i18n
from app.web.auth import client_ip, current_user, db_file, role_required
from app.web.errors import ApiError, wants_json

bp = Blueprint("admin", __name__)

i18n.register({
    "admin.title": ("数据管理", "Data management"),
    "admin.import": ("导入图层", "Import a layer"),
    "admin.layer": ("图层", "Layer"),
    "admin.file": ("文件", "File"),
    "admin.file_help": ("GeoJSON、GeoPackage、Shapefile（zip 压缩包）、带坐标列的 CSV/XLSX",
                        "GeoJSON, GeoPackage, zipped Shapefile, CSV/XLSX with coordinate columns"),
    "admin.crs": ("坐标系（可选）", "Coordinate system (optional)"),
    "admin.crs_help": ("文件未注明时填写：EPSG 代码（如 4542）、gcj02（高德/腾讯）或 bd09（百度）",
                       "If the file has none: an EPSG code (e.g. 4542), gcj02 (AMap/Tencent) or bd09 (Baidu)"),
    "admin.dry_run": ("仅检查，不保存", "Check only, store nothing"),
    "admin.repair": ("修复无效几何", "Repair invalid geometry"),
    "admin.submit": ("检查并导入", "Check and import"),
    "admin.versions": ("数据版本", "Data versions"),
    "admin.current": ("当前", "current"),
    "admin.rollback": ("回退到此版本", "Roll back to this version"),
    "admin.readonly": ("当前数据目录为只读（普通 GeoJSON 文件夹），不能导入或回退。",
                       "The data folder is read-only (plain GeoJSON); import and rollback are off."),
    "admin.users": ("用户", "Users"),
    "admin.audit": ("审计日志", "Audit log"),
    "admin.add_user": ("添加用户", "Add user"),
    "admin.role": ("角色", "Role"),
    "admin.remove": ("删除", "Remove"),
    "admin.set_password": ("重设密码", "Set password"),
    "admin.report": ("检查报告", "Validation report"),
    "admin.refused": ("已拒绝：数据未作任何改动。", "Refused: nothing was changed."),
    "admin.checked": ("检查通过（仅检查，未保存）。", "Checks passed (dry run, nothing stored)."),
    "admin.imported": ("已导入，新版本 {version}。", "Imported as version {version}."),
    "admin.unchanged": ("未改动：与当前版本 {version} 完全相同，未保存新版本。",
                        "No change: identical to the current version {version}; nothing was stored."),
    "admin.back": ("返回", "Back"),
    "admin.when": ("时间", "When"),
    "admin.who": ("操作人", "Who"),
    "admin.what": ("操作", "What"),
    "admin.summary": ("变更", "Changes"),
})

OPENAPI_PATHS = {
    "/api/v1/versions": {"get": {
        "summary": "Stored data versions with their change summaries (admin only)", "operationId": "versions",
        "responses": {"200": {"description": "versions, newest first"},
                      "401": {"description": "not signed in"}, "403": {"description": "not an admin"}}}},
}


def _workspace() -> operations.Workspace:
    return current_app.extensions["gridmap.workspace"]


def _actor() -> operations.Actor:
    user = current_user()
    name = user.name if user else "?"
    return operations.Actor(name=name, ip=client_ip(), account=name)


@bp.get("/admin")
@role_required("admin")
def index():
    """The admin page: import form, versions with rollback, links to users and the audit log."""
    ws = _workspace()
    return render_template("admin/index.html", layers=LAYERS, versions=operations.list_versions(ws.store),
                           writable=ws.store.writable, max_mb=ws.config.MAX_UPLOAD_MB)


@bp.get("/api/v1/versions")
@role_required("admin")
def api_versions():
    """List the stored versions as JSON."""
    store = _workspace().store
    return jsonify({"versions": operations.list_versions(store), "writable": store.writable})


def _upload_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    known = {e for exts in importer.FORMATS.values() for e in exts}
    return suffix if suffix in known else ".bin"


def upload_dir(config: settings.Config, create: bool = True) -> Path:
    """Return the folder uploads are saved in while they are checked: ``INSTANCE_DIR/tmp/uploads`` (mode 0700)."""
    folder = settings.instance_dir(config) / "tmp" / "uploads"
    if create:
        for p in (folder.parent, folder):
            p.mkdir(mode=0o700, exist_ok=True, parents=True)
            p.chmod(0o700)
    return folder


@contextlib.contextmanager
def _uploads_lock(folder: Path, mode: int) -> Iterator[bool]:
    """Hold ``folder``'s lock: shared by each request with a file there, exclusive for :func:`clean_uploads`.

    Yields False when ``mode`` asks not to wait (``LOCK_NB``) and the lock is held.
    """
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock, as does the death of the process


@contextlib.contextmanager
def _saved_upload(upload: FileStorage, config: settings.Config) -> Iterator[Path]:
    """Save an upload in a folder of its own in :func:`upload_dir` for the duration of the block.

    The folder goes afterwards with everything in it: what a reader made beside the file
    (GeoPackage's -wal and -shm files) and the archives unpacked to check it.
    """
    folder = upload_dir(config)
    with _uploads_lock(folder, fcntl.LOCK_SH):
        tmp = Path(tempfile.mkdtemp(prefix="upload-", dir=folder))
        try:
            path = tmp / f"upload{_upload_suffix(upload.filename or '')}"
            with open(path, "xb") as fh:
                upload.save(fh)
            yield path
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def clean_uploads(config: settings.Config) -> int:
    """Remove the uploads a killed process left in :func:`upload_dir`; return how many.

    Runs when the service starts. Every request holds the folder's lock (shared) while its file
    is there, so this removes nothing while another process is checking an upload: it then
    leaves the folder to the next start.
    """
    folder = upload_dir(config, create=False)
    if not folder.is_dir():
        return 0
    removed = 0
    with _uploads_lock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
        if not free:
            return 0
        for p in folder.iterdir():
            if p.name == ".lock":
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            removed += 1
    return removed


@bp.post("/admin/import")
@role_required("admin")
def do_import():
    """Check an uploaded file and store it as a new version; answer the report (400 when refused)."""
    ws = _workspace()
    dry_run = bool(request.form.get("dry_run"))
    if not dry_run and not ws.store.writable:
        raise ApiError(i18n.t("admin.readonly"), 409)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError("choose a file to import (form field 'file')")
    with _saved_upload(upload, ws.config) as path:
        outcome = operations.import_layer(ws, _actor(), request.form.get("layer", ""), path,
                                          crs=(request.form.get("crs") or "").strip() or None,
                                          repair=bool(request.form.get("repair")), dry_run=dry_run,
                                          filename=upload.filename, work_dir=path.parent)
    report, version, unchanged = outcome.report, outcome.version, outcome.unchanged
    status = 200 if report.ok else 400
    if wants_json(default=False):
        body = {"report": report.to_dict(), "dry_run": dry_run, "unchanged": unchanged,
                "version": version.id if version else None,
                "summary": version.summary if version and not unchanged else None}
        if unchanged:
            body["message"] = f"{operations.UNCHANGED} ({version.id}); nothing was stored"
        if not report.ok:
            body.update(error=f"import refused: {len(report.errors)} errors; nothing was changed", status=400)
        return jsonify(body), status
    return render_template("admin/report.html", report=report, version=version, dry_run=dry_run,
                           unchanged=unchanged,
                           summary=format_summary(version.summary) if version and not unchanged else ""), status


def _form_action(endpoint: str, action: Callable[[], str]) -> Any:
    """Run a form's use case: JSON for scripts, else a flash message and a redirect to ``endpoint``."""
    try:
        message = action()
    except GridmapError as exc:
        if wants_json(default=False):
            raise
        flash(exc.message, "error")
        return redirect(url_for(endpoint), 303)
    if wants_json(default=False):
        return jsonify({"message": message})
    flash(message)
    return redirect(url_for(endpoint), 303)


@bp.post("/admin/rollback")
@role_required("admin")
def rollback():
    """Make a stored version current again."""
    def act() -> str:
        info, summary = operations.rollback(_workspace(), _actor(), request.form.get("version") or "")
        return f"{info.id}: {format_summary(summary)}"

    return _form_action("admin.index", act)


@bp.get("/admin/users")
@role_required("admin")
def user_list():
    """List accounts with forms to add, remove and reset them."""
    return render_template("admin/users.html", users=users.list_users(db_file()), roles=users.ACCOUNT_ROLES,
                           me=current_user())


@bp.post("/admin/users")
@role_required("admin")
def user_add():
    """Create an account."""
    def act() -> str:
        user = operations.add_user(_workspace(), _actor(), request.form.get("name") or "",
                                   request.form.get("password") or "", request.form.get("role") or "staff")
        return f"user_add: {user.name}"

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/remove")
@role_required("admin")
def user_remove(name: str):
    """Delete an account (not your own, and not the last admin)."""
    def act() -> str:
        operations.remove_user(_workspace(), _actor(), name)
        return f"user_remove: {name}"

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/password")
@role_required("admin")
def user_password(name: str):
    """Set an account's password."""
    def act() -> str:
        operations.set_password(_workspace(), _actor(), name, request.form.get("password") or "")
        return f"user_passwd: {name}"

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/role")
@role_required("admin")
def user_role(name: str):
    """Change an account's role (not your own, and not the last admin's)."""
    def act() -> str:
        operations.set_role(_workspace(), _actor(), name, request.form.get("role") or "")
        return f"user_role: {name}"

    return _form_action("admin.user_list", act)


@bp.get("/admin/audit")
@role_required("admin")
def audit_log():
    """The newest audit entries."""
    action = request.args.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        raise ApiError(f"unknown action {action!r}")
    return render_template("admin/audit.html", entries=audit.entries(db_file(), limit=300, action=action),
                           actions=audit.ACTIONS, action=action)
