"""`gridmap users …`: the sign-in accounts, changed through the same rules and audit log as the admin pages."""

from __future__ import annotations

import click

from app import settings
from app.cli._base import actor, main, workspace
from app.geo.users import ACCOUNT_ROLES

#: The password rules, for the help of the commands that set one.
PASSWORD_RULE = ("at least PASSWORD_MIN_LENGTH characters " + settings.describe("PASSWORD_MIN_LENGTH")
                 + ", not containing the user name, not a common or easily guessed password")


@main.group("users")
def users_group() -> None:
    """Sign-in accounts: staff see grid workers' contacts; admins import, roll back and manage users."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ACCOUNT_ROLES), default=ACCOUNT_ROLES[0], show_default=True)
@click.password_option(help=f"Password (prompted, hidden, if not given): {PASSWORD_RULE}.")
def users_add(name: str, role: str, password: str) -> None:
    """Create account NAME."""
    from app.geo import operations

    user = operations.add_user(workspace(), actor(), name, password, role)
    click.echo(f"added {user.role} {user.name}")


@users_group.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete account NAME (never the last admin)."""
    from app.geo import operations

    operations.remove_user(workspace(), actor(), name)
    click.echo(f"removed {name}")


@users_group.command("passwd")
@click.argument("name")
@click.password_option(help=f"New password (prompted, hidden, if not given): {PASSWORD_RULE}.")
def users_passwd(name: str, password: str) -> None:
    """Set the password of account NAME (signs out its sessions and lifts a lock-out)."""
    from app.geo import operations

    operations.set_password(workspace(), actor(), name, password)
    click.echo(f"password of {name} changed")


@users_group.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ACCOUNT_ROLES))
def users_role(name: str, role: str) -> None:
    """Give account NAME another ROLE (signs out its sessions; never demotes the last admin)."""
    from app.geo import operations

    operations.set_role(workspace(), actor(), name, role)
    click.echo(f"{name} is now {role}")


@users_group.command("list")
def users_list() -> None:
    """List the accounts."""
    from app.geo import users

    for u in users.list_users(workspace().db):
        click.echo(f"{u.name:20} {u.role:6} created {u.created}  updated {u.updated}")


