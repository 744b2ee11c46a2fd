"""Sign-in and roles: login/logout, current_role(), can_see_personal() and the role_required decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import Forbidden

from app.geo import audit, users
from app.geo.db import Target
from app.web import i18n
from app.web.errors import ApiError, wants_json

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

i18n.register({
    "auth.signin": ("登录", "Sign in"),
    "auth.signout": ("退出登录", "Sign out"),
    "auth.name": ("用户名", "User name"),
    "auth.password": ("密码", "Password"),
    "auth.failed": ("用户名或密码错误", "Wrong user name or password"),
    "auth.locked_title": ("账户已暂时锁定", "Account locked for now"),
    "auth.locked": ("连续登录失败次数过多（上限 {attempts} 次），请在 {wait}后再试。管理员重设密码也可解除锁定。",
                    "Too many failed sign-ins in a row (at most {attempts}): try again in {wait}. "
                    "An admin who sets a new password lifts the lock too."),
    "auth.wait_seconds": ("{n} 秒", "{n} seconds"),
    "auth.wait_minutes": ("{n} 分钟", "{n} minutes"),
    "auth.wait_hours": ("{n} 小时", "{n} hours"),
    "auth.password_rule": ("密码至少 {n} 个字符，不能包含用户名，也不能是常见或容易猜到的密码（如 password、123456…）。",
                           "Passwords need at least {n} characters, must not contain the user name and "
                           "must not be common or easy to guess (password, 123456…)."),
    "auth.signed_in_as": ("已登录：{name}（{role}）", "Signed in as {name} ({role})"),
    "auth.hint": ("工作人员登录后可查看网格员联系方式；管理员可导入数据、回退版本和管理用户。",
                  "Staff who sign in see grid workers' contacts; admins import data, roll back and manage users."),
    "role.public": ("公众", "Public"),
    "role.department": ("部门", "Department"),
    "role.staff": ("工作人员", "Staff"),
    "role.admin": ("管理员", "Admin"),
})

OPENAPI_PATHS = {
    "/api/v1/me": {"get": {
        "summary": "Who is signed in: role (public, department, staff or admin) and user name", "operationId": "me",
        "responses": {"200": {"description": "the caller's role", "content": {"application/json": {"schema": {
            "type": "object", "required": ["role"],
            "properties": {"role": {"type": "string", "enum": list(users.ROLES)},
                           "user": {"type": ["string", "null"]}}}}}}}}},
}


def db_file(app: Flask | None = None) -> Target:
    """Return the accounts and audit database of the app: a SQLite file or a PostgreSQL URL (``DATABASE_URL``)."""
    return (app or current_app).extensions["gridmap.workspace"].db


def client_ip() -> str:
    """Return the client address of the current request."""
    return request.remote_addr or ""


def current_user() -> users.User | None:
    """Return the signed-in account, or None for the public.

    The session holds the user name and the account's session generation when it signed in; a
    session whose account was removed, or that the account ended since (signing out, a new
    password or role: :func:`app.geo.users.end_sessions`), counts as signed out.
    """
    if "gm_user" in g:
        return g.gm_user
    user = None
    name = session.get("uid")
    if isinstance(name, str) and name:
        found = users.get_user(db_file(), name)
        if found is not None and found.generation == session.get("gen"):
            user = found
        else:
            session.pop("uid", None)
            session.pop("gen", None)
    g.gm_user = user
    return user


def current_role() -> str:
    """Return the role of the current request: ``public``, ``department``, ``staff`` or ``admin``."""
    user = current_user()
    return user.role if user else "public"


def has_role(role: str) -> bool:
    """Return True when the current request has ``role`` or a higher one."""
    return users.role_rank(current_role()) >= users.role_rank(role)


def can_see_personal() -> bool:
    """Return True when the current request may see personal fields (staff names and phones)."""
    return has_role("staff")


def role_required(role: str) -> Callable[[F], F]:
    """Restrict a view to ``role`` and above.

    The public get 401 (JSON) or a redirect to the sign-in page; signed-in users without the
    role get 403.

    Parameters
    ----------
    role : str
        ``department``, ``staff`` or ``admin``.
    """
    if role not in users.ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if has_role(role):
                return view(*args, **kwargs)
            if current_user() is None:
                if wants_json(default=False):
                    raise ApiError(f"sign in as {role} first", 401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if wants_json(default=False):
                raise ApiError(f"this needs the {role} role", 403)
            raise Forbidden(f"this page needs the {role} role")

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _wait_text(seconds: int) -> str:
    """Return a wait of ``seconds`` in words, rounded up: "45 seconds", "3 minutes", "2 hours"."""
    if seconds < 120:
        return i18n.t("auth.wait_seconds", n=seconds)
    if seconds < 2 * 3600:
        return i18n.t("auth.wait_minutes", n=-(-seconds // 60))
    return i18n.t("auth.wait_hours", n=-(-seconds // 3600))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; check a name and password under the lock-out rule and start a session."""
    error = None
    status = 200
    headers: dict[str, str] = {}
    locked = 0
    if request.method == "POST":
        cfg = current_app.config
        name = (request.form.get("name") or "").strip()[:64]
        password = request.form.get("password") or ""
        attempt = users.sign_in(db_file(), name, password, attempts=cfg["LOCKOUT_ATTEMPTS"],
                                seconds=cfg["LOCKOUT_SECONDS"])
        user = attempt.user
        if user is None and attempt.locked_seconds:
            locked = attempt.locked_seconds
            audit.record(db_file(), name or "(empty)", "sign_in_locked", ip=client_ip(),
                         detail={"failures": attempt.failures, "seconds": locked})
            error = i18n.t("auth.locked", attempts=cfg["LOCKOUT_ATTEMPTS"], wait=_wait_text(locked))
            status, headers["Retry-After"] = 429, str(locked)
        elif user is None:
            audit.record(db_file(), name or "(empty)", "sign_in_failed", ip=client_ip(),
                         detail={"failures": attempt.failures})
            error, status = i18n.t("auth.failed"), 401
        else:
            session.clear()  # a fresh session (and CSRF token) on every sign-in
            session.permanent = True
            session["uid"], session["gen"] = user.name, user.generation
            g.pop("gm_user", None)
            audit.record(db_file(), user.name, "sign_in", detail={"role": user.role}, ip=client_ip())
            return redirect(_safe_next(request.form.get("next")))
    page = render_template("auth/login.html", error=error, locked=locked,
                           next=_safe_next(request.values.get("next")))
    return page, status, headers


@bp.post("/logout")
def logout():
    """End the session, and every other session of the account with it (a saved cookie no longer works)."""
    user = current_user()
    if user is not None:
        users.end_sessions(db_file(), user.name)
        audit.record(db_file(), user.name, "sign_out", ip=client_ip())
    session.clear()
    g.pop("gm_user", None)
    return redirect("/")


@bp.get("/api/v1/me")
def me():
    """Answer the caller's role and user name."""
    user = current_user()
    return jsonify({"role": current_role(), "user": user.name if user else None})


def init_app(app: Flask) -> None:
    """Register the blueprint, the template helpers and the hook other views use for personal data."""
    app.register_blueprint(bp)
    app.extensions["gridmap.can_see_personal"] = can_see_personal
    app.extensions["gridmap.current_role"] = current_role

    @app.context_processor
    def _auth_helpers() -> dict[str, Any]:
        return {"current_role": current_role, "current_user": current_user, "can_see_personal": can_see_personal}
