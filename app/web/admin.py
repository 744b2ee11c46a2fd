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
from app.geo.changes import format_summary, rollback_preview
from app.geo.findings import SEVERITIES, layer_title, problem_title
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
    "admin.crs_help": ("文件未注明时填写：EPSG 代码（如 4326、4490 或本市的度量坐标系）、gcj02（高德/腾讯）或 bd09（百度）",
                       "If the file has none: an EPSG code (e.g. 4326, 4490 or the city's metric CRS), "
                       "gcj02 (AMap/Tencent) or bd09 (Baidu)"),
    "admin.dry_run": ("仅检查，不保存", "Check only, store nothing"),
    "admin.repair": ("修复无效几何", "Repair invalid geometry"),
    "admin.submit": ("检查并导入", "Check and import"),
    "admin.versions": ("数据版本", "Data versions"),
    "admin.current": ("当前", "current"),
    "admin.rollback": ("回滚到此版本", "Roll back to this version"),
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
    "admin.target": ("对象", "Target"),
    "admin.detail": ("详情", "Details"),
    "admin.ip": ("IP 地址", "IP address"),
    "admin.all_actions": ("全部", "All"),
    "admin.updated": ("更新时间", "Updated"),
    "admin.set_role": ("更改角色", "Change role"),
    "admin.version": ("版本", "Version"),
    "admin.format": ("格式", "Format"),
    "admin.crs_short": ("坐标系", "CRS"),
    "admin.features": ("要素数", "Features"),
    "admin.severity": ("级别", "Severity"),
    "admin.problem": ("问题", "Problem"),
    "admin.feature": ("要素", "Feature"),
    "admin.field": ("字段", "Field"),
    "admin.message": ("说明", "Message"),
    "admin.place": ("位置（经度, 纬度）", "Place (lon, lat)"),
    "admin.more": ("另有 {n} 条未列出", "{n} more not listed"),
    "admin.refused_json": ("导入被拒绝：{n} 个错误，未作任何改动", "import refused: {n} errors; nothing was changed"),
    "admin.choose_file": ("请选择要导入的文件（表单字段 file）", "choose a file to import (form field 'file')"),
    "admin.no_versions": ("没有已保存的版本。", "No stored versions."),
    "admin.confirm_title": ("确认回滚", "Confirm the rollback"),
    "admin.confirm_text": ("回滚后将重新启用版本 {version}，当前版本 {current} 不再使用（仍保留，可再回滚）。",
                           "Version {version} will be served again instead of the current {current} "
                           "(which is kept and can be restored)."),
    "admin.confirm_changes": ("回滚将带来的变更", "What the rollback changes"),
    "admin.confirm_made": ("该版本创建时的变更", "What this version changed when it was made"),
    "admin.confirm_button": ("确认回滚到版本 {version}", "Roll back to version {version}"),
    "admin.confirm_needed": ("回滚需要确认：请先查看变更，再以 confirm=1 提交。",
                             "A rollback needs confirmation: review the changes, then post again with confirm=1."),
    "admin.cancel": ("取消", "Cancel"),
    "admin.version_needed": ("请指定要回滚到的版本：查询参数 ?version= 或表单字段 version（版本号、序号或唯一前缀）。",
                             "Name the version to roll back to: the ?version= parameter or the form field "
                             "'version' (a version id, number or unique prefix)."),
    "admin.rolled_back": ("已回滚，现使用版本 {version}：{summary}", "Rolled back: now serving version {version}: {summary}"),
    "admin.user_added": ("已添加用户 {name}。", "User {name} added."),
    "admin.user_removed": ("已删除用户 {name}。", "User {name} removed."),
    "admin.password_set": ("已重设用户 {name} 的密码。", "Password of {name} set."),
    "admin.role_set": ("已更改用户 {name} 的角色。", "Role of {name} changed."),
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


@bp.app_template_filter("localtime")
def localtime(ts: str | None) -> str:
    """Show a stored UTC time in the ``TIMEZONE`` setting's local time, as ``2026-12-01 18:30``."""
    return audit.format_time(ts, current_app.config["TIMEZONE"]) if ts else ""


@bp.app_template_filter("version_message")
def version_message(message: str | None) -> str:
    """Show a version's stored message in the user's language (``导入网格：网格.zip``)."""
    from app.geo.changes import message_text

    return message_text(message or "", i18n.current_lang())


@bp.app_context_processor
def _admin_helpers() -> dict[str, Any]:
    def pick(pair: tuple[str, str]) -> str:
        return i18n.label(*pair)

    return {
        "layer_name": lambda layer: layer_title(layer, i18n.current_lang()),
        "problem_name": lambda key: problem_title(key, i18n.current_lang()),
        "severity_name": lambda sev: pick(SEVERITIES.get(sev, (sev, sev))),
        "action_name": lambda action: audit.action_title(action, i18n.current_lang()),
        "audit_target": lambda entry: audit.target_text(entry, i18n.current_lang()),
        "audit_detail": lambda entry: audit.describe(entry, i18n.current_lang()),
    }


def _versions(store: Any) -> list[dict[str, Any]]:
    """The stored versions, each with its summary in the page's language and in English."""
    lang = i18n.current_lang()
    out = operations.list_versions(store)
    for v in out:
        v["summary_local"] = format_summary(v.get("summary") or {}, lang=lang)
        v["summary_text_en"] = format_summary(v.get("summary") or {}, lang="en")
    return out


@bp.get("/admin")
@role_required("admin")
def index():
    """The admin page: import form, versions with rollback, links to users and the audit log."""
    ws = _workspace()
    return render_template("admin/index.html", layers=LAYERS, versions=_versions(ws.store),
                           writable=ws.store.writable, max_mb=ws.config.MAX_UPLOAD_MB)


@bp.get("/api/v1/versions")
@role_required("admin")
def api_versions():
    """List the stored versions as JSON (``summary_text`` in Chinese, ``summary_text_en`` in English)."""
    store = _workspace().store
    versions = _versions(store)
    for v in versions:
        v.pop("summary_local", None)
    return jsonify({"versions": versions, "writable": store.writable})


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
        raise ApiError(i18n.t("admin.choose_file"))
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
            n = len(report.errors)
            body.update(error=f"{i18n.t('admin.refused_json', 'zh', n=n)} / {i18n.t('admin.refused_json', 'en', n=n)}",
                        status=400)
        return jsonify(body), status
    summary = format_summary(version.summary, lang=i18n.current_lang()) if version and not unchanged else ""
    return render_template("admin/report.html", report=report, version=version, dry_run=dry_run,
                           unchanged=unchanged, summary=summary), status


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


#: Values of the ``confirm`` form field that confirm a rollback.
_CONFIRMED = frozenset({"1", "yes", "true", "on"})


def _rollback_ref() -> str:
    """The version a rollback names (form field or query parameter ``version``); 400 when there is none."""
    ref = (request.form.get("version") or request.args.get("version") or "").strip()
    if not ref:
        raise ApiError(i18n.t("admin.version_needed"), 400, key="rollback.version")
    return ref


def _preview(ref: str) -> tuple[Any, dict[str, Any]]:
    """The version a rollback to ``ref`` serves and what it would change (409 on a read-only store)."""
    store = _workspace().store
    if not store.writable:
        raise ApiError(i18n.t("admin.readonly"), 409)
    return rollback_preview(store, ref)


def _rollback_page(ref: str) -> str:
    """The confirmation page of a rollback to ``ref``: which version, and what it would change."""
    ws = _workspace()
    info, summary = _preview(ref)
    lang = i18n.current_lang()
    return render_template("admin/rollback.html", info=info, current=ws.store.version(),
                           changes=format_summary(summary, lang=lang),
                           made=format_summary(info.summary, lang=lang))


@bp.get("/admin/rollback")
@role_required("admin")
def rollback_confirm():
    """Ask to confirm a rollback: the version, what it changed, and what going back to it changes now."""
    return _rollback_page(_rollback_ref())


@bp.post("/admin/rollback")
@role_required("admin")
def rollback():
    """Make a stored version current again, once confirmed (``confirm=1``).

    Without the confirmation a script gets 400 with what the rollback would change, and a
    browser gets the confirmation page. Without a version (form field or ``?version=``): 400.
    """
    ref = _rollback_ref()
    if (request.form.get("confirm") or "").strip().lower() not in _CONFIRMED:
        if not wants_json(default=False):
            return _rollback_page(ref)
        info, summary = _preview(ref)
        raise ApiError(i18n.t("admin.confirm_needed"), 400, key="rollback.confirm", version=info.id,
                       summary=summary, summary_text=format_summary(summary, lang="both"))

    def act() -> str:
        info, summary = operations.rollback(_workspace(), _actor(), ref)
        return i18n.t("admin.rolled_back", version=info.id, summary=format_summary(summary, lang=i18n.current_lang()))

    return _form_action("admin.index", act)


@bp.get("/admin/users")
@role_required("admin")
def user_list():
    """List accounts with forms to add, remove and reset them (roles: department, staff, admin)."""
    return render_template("admin/users.html", users=users.list_users(db_file()), roles=users.ACCOUNT_ROLES,
                           me=current_user())


@bp.post("/admin/users")
@role_required("admin")
def user_add():
    """Create an account."""
    def act() -> str:
        user = operations.add_user(_workspace(), _actor(), request.form.get("name") or "",
                                   request.form.get("password") or "", request.form.get("role") or "staff")
        return i18n.t("admin.user_added", name=user.name)

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/remove")
@role_required("admin")
def user_remove(name: str):
    """Delete an account (not your own, and not the last admin)."""
    def act() -> str:
        operations.remove_user(_workspace(), _actor(), name)
        return i18n.t("admin.user_removed", name=name)

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/password")
@role_required("admin")
def user_password(name: str):
    """Set an account's password."""
    def act() -> str:
        operations.set_password(_workspace(), _actor(), name, request.form.get("password") or "")
        return i18n.t("admin.password_set", name=name)

    return _form_action("admin.user_list", act)


@bp.post("/admin/users/<name>/role")
@role_required("admin")
def user_role(name: str):
    """Change an account's role (not your own, and not the last admin's)."""
    def act() -> str:
        operations.set_role(_workspace(), _actor(), name, request.form.get("role") or "")
        return i18n.t("admin.role_set", name=name)

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
