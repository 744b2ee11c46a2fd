"""`gridmap users …`: the sign-in accounts, changed through the same rules and audit log as the admin pages."""

from __future__ import annotations

import click

from app import settings
from app.cli._base import actor, echo, main, workspace
from app.geo.users import ACCOUNT_ROLES

#: Account roles in words, Chinese first, for the help of the commands that take one.
ROLE_TITLES: dict[str, str] = {"department": "部门 department (events handed to it)",
                               "staff": "工作人员 staff (sees grid workers' contacts)",
                               "admin": "管理员 admin (imports, rollback, accounts)"}
ROLE_HELP = "角色 role: " + "; ".join(ROLE_TITLES.get(r, r) for r in ACCOUNT_ROLES) + "."
#: The password rules, for the help of the commands that set one.
PASSWORD_RULE = ("at least PASSWORD_MIN_LENGTH characters " + settings.describe("PASSWORD_MIN_LENGTH")
                 + ", not containing the user name, not a common or easily guessed password")


@main.group("users")
def users_group() -> None:
    """Sign-in accounts: departments handle events, staff see grid workers' contacts, admins import, roll back
    and manage users.

    Accounts live in the app database: GRIDMAP_DATABASE_URL, else the store's PostgreSQL database, else
    INSTANCE_DIR/gridmap.sqlite3.
    """


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ACCOUNT_ROLES), default="staff", show_default=True, help=ROLE_HELP)
@click.password_option(help=f"Password (prompted, hidden, if not given): {PASSWORD_RULE}.")
def users_add(name: str, role: str, password: str) -> None:
    """Create account NAME."""
    from app.geo import operations

    user = operations.add_user(workspace(), actor(), name, password, role)
    echo(f"added {user.role} {user.name}")


@users_group.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete account NAME (never the last admin)."""
    from app.geo import operations

    operations.remove_user(workspace(), actor(), name)
    echo(f"removed {name}")


@users_group.command("passwd")
@click.argument("name")
@click.password_option(help=f"New password (prompted, hidden, if not given): {PASSWORD_RULE}.")
def users_passwd(name: str, password: str) -> None:
    """Set the password of account NAME (signs out its sessions and lifts a lock-out)."""
    from app.geo import operations

    operations.set_password(workspace(), actor(), name, password)
    echo(f"password of {name} changed")


@users_group.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ACCOUNT_ROLES))
def users_role(name: str, role: str) -> None:
    """Give account NAME another ROLE (signs out its sessions; never demotes the last admin).

    ROLE: department (部门), staff (工作人员) or admin (管理员).
    """
    from app.geo import operations

    operations.set_role(workspace(), actor(), name, role)
    echo(f"{name} is now {role}")


@users_group.command("list")
def users_list() -> None:
    """List the accounts (and, on stderr, the database they live in, without its password)."""
    from app.geo import users
    from app.geo.db import redact

    ws = workspace()
    echo(f"账户数据库 accounts database: {redact(ws.db)}", err=True)
    for u in users.list_users(ws.db):
        echo(f"{u.name:20} {u.role:10} created {u.created}  updated {u.updated}")


