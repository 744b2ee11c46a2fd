"""Admin pages: import a layer, list versions and roll back, manage users, read the audit log."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for

from app.geo import audit, importer, users
from app.geo.schema import LAYERS
from app.geo.versions import StoreError, VersionedStore, format_summary
from app.web import i18n
from app.web.auth import client_ip, current_user, db_file, role_required
from app.web.errors import ApiError

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


def _store() -> Any:
    return current_app.extensions["gridmap.data"].store


def _versioned() -> VersionedStore:
    store = _store()
    if not isinstance(store, VersionedStore):
        raise ApiError(i18n.t("admin.readonly"), 409)
    return store


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.args.get("format") == "json" \
        or request.accept_mimetypes.best == "application/json"


def _versions() -> list[dict[str, Any]]:
    store = _store()
    if not isinstance(store, VersionedStore):
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


@bp.get("/admin")
@role_required("admin")
def index():
    """The admin page: import form, versions with rollback, links to users and the audit log."""
    store = _store()
    return render_template("admin/index.html", layers=LAYERS, versions=_versions(),
                           writable=isinstance(store, VersionedStore),
                           max_mb=current_app.config.get("MAX_UPLOAD_MB"))


@bp.get("/api/v1/versions")
@role_required("admin")
def api_versions():
    """List the stored versions as JSON."""
    return jsonify({"versions": _versions(), "writable": isinstance(_store(), VersionedStore)})


def _upload_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    known = {e for exts in importer.FORMATS.values() for e in exts}
    return suffix if suffix in known else ".bin"


@bp.post("/admin/import")
@role_required("admin")
def do_import():
    """Check an uploaded file and store it as a new version; answer the report (400 when refused)."""
    store = _versioned() if not request.form.get("dry_run") else _store()
    layer = request.form.get("layer", "")
    if layer not in LAYERS:
        raise ApiError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError("choose a file to import (form field 'file')")
    crs = (request.form.get("crs") or "").strip() or None
    dry_run = bool(request.form.get("dry_run"))
    repair = bool(request.form.get("repair"))
    user = current_user()
    author = user.name if user else "?"
    fd, tmp = tempfile.mkstemp(prefix="gridmap-upload-", suffix=_upload_suffix(upload.filename))
    try:
        with os.fdopen(fd, "wb") as fh:
            upload.save(fh)
        limits = importer.Limits.from_config(current_app.config)
        try:
            outcome = importer.run_import(store, layer, tmp, author=author, crs=crs, repair=repair,
                                          dry_run=dry_run, limits=limits, filename=upload.filename)
        except StoreError as exc:
            raise ApiError(str(exc), 409) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    report = outcome.report
    version = outcome.version
    if version is not None:
        audit.record(db_file(), author, "import", target=layer, ip=client_ip(),
                     detail={"file": report.source, "version": version.id, "summary": version.summary,
                             "warnings": len(report.warnings)})
    elif not report.ok:
        audit.record(db_file(), author, "import_refused", target=layer, ip=client_ip(),
                     detail={"file": report.source, "errors": len(report.errors),
                             "problems": sorted(report.problems())})
    status = 200 if report.ok else 400
    if _wants_json():
        body = {"report": report.to_dict(), "dry_run": dry_run,
                "version": version.id if version else None,
                "summary": version.summary if version else None}
        if not report.ok:
            body.update(error=f"import refused: {len(report.errors)} errors; nothing was changed", status=400)
        return jsonify(body), status
    return render_template("admin/report.html", report=report, version=version, dry_run=dry_run,
                           summary=format_summary(version.summary) if version else ""), status


@bp.post("/admin/rollback")
@role_required("admin")
def rollback():
    """Make a stored version current again."""
    store = _versioned()
    ref = (request.form.get("version") or "").strip()
    user = current_user()
    try:
        info, summary = store.rollback(ref)
    except StoreError as exc:
        if _wants_json():
            raise ApiError(str(exc), 400) from None
        flash(str(exc), "error")
        return redirect(url_for("admin.index"), 303)
    audit.record(db_file(), user.name if user else "?", "rollback", target=info.id, ip=client_ip(),
                 detail={"summary": summary})
    if _wants_json():
        return jsonify({"version": info.id, "summary": summary})
    flash(f"{info.id}: {format_summary(summary)}")
    return redirect(url_for("admin.index"), 303)


@bp.get("/admin/users")
@role_required("admin")
def user_list():
    """List accounts with forms to add, remove and reset them."""
    return render_template("admin/users.html", users=users.list_users(db_file()), roles=users.ACCOUNT_ROLES,
                           me=current_user())


def _user_action(action: str, target: str, fn: Any, *args: Any) -> Any:
    me = current_user()
    try:
        fn(db_file(), *args)
    except users.UserError as exc:
        if _wants_json():
            raise ApiError(str(exc), 400) from None
        flash(str(exc), "error")
        return redirect(url_for("admin.user_list"), 303)
    audit.record(db_file(), me.name if me else "?", action, target=target, ip=client_ip())
    flash(f"{action}: {target}")
    return redirect(url_for("admin.user_list"), 303)


@bp.post("/admin/users")
@role_required("admin")
def user_add():
    """Create an account."""
    name = (request.form.get("name") or "").strip()
    return _user_action("user_add", name, users.add_user, name, request.form.get("password") or "",
                        request.form.get("role") or "staff")


@bp.post("/admin/users/<name>/remove")
@role_required("admin")
def user_remove(name: str):
    """Delete an account (not your own, and not the last admin)."""
    me = current_user()
    if me is not None and me.name == name:
        raise ApiError("you cannot remove your own account", 400)
    target = users.get_user(db_file(), name)
    if target is not None and target.role == "admin" and \
            sum(u.role == "admin" for u in users.list_users(db_file())) <= 1:
        raise ApiError("cannot remove the last admin", 400)
    return _user_action("user_remove", name, users.remove_user, name)


@bp.post("/admin/users/<name>/password")
@role_required("admin")
def user_password(name: str):
    """Set an account's password."""
    return _user_action("user_passwd", name, users.set_password, name, request.form.get("password") or "")


@bp.post("/admin/users/<name>/role")
@role_required("admin")
def user_role(name: str):
    """Change an account's role."""
    me = current_user()
    if me is not None and me.name == name:
        raise ApiError("you cannot change your own role", 400)
    return _user_action("user_role", name, users.set_role, name, request.form.get("role") or "")


@bp.get("/admin/audit")
@role_required("admin")
def audit_log():
    """The newest audit entries."""
    action = request.args.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        raise ApiError(f"unknown action {action!r}")
    return render_template("admin/audit.html", entries=audit.entries(db_file(), limit=300, action=action),
                           actions=audit.ACTIONS, action=action)
