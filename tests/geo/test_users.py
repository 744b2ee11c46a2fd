"""Accounts and the audit log: argon2 hashes, validation, stamps that end sessions, who/when/what."""

from __future__ import annotations

import sqlite3

import pytest

from app.geo import audit, users

pytestmark = pytest.mark.usefixtures("cheap_hashes")


@pytest.fixture
def db(tmp_path):
    return users.db_path(tmp_path)


def test_add_verify_and_hash_is_argon2(db):
    u = users.add_user(db, "zhang", "correct horse", "staff")
    assert u.role == "staff"
    assert users.verify(db, "zhang", "correct horse").name == "zhang"
    assert users.verify(db, "zhang", "wrong password") is None
    assert users.verify(db, "nobody", "correct horse") is None
    stored = sqlite3.connect(db).execute("SELECT pw_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_old_cost_hashes_still_verify_and_are_upgraded(db):
    users.add_user(db, "wang", "password1", "staff")
    users.set_hash_cost(2, 2048)
    assert users.verify(db, "wang", "password1") is not None
    stored = sqlite3.connect(db).execute("SELECT pw_hash FROM users").fetchone()[0]
    assert "m=2048,t=2" in stored


@pytest.mark.parametrize(("name", "password", "role", "match"), [
    ("a", "longenough", "staff", "user name"),
    ("bad name!", "longenough", "staff", "user name"),
    ("li", "short", "staff", "at least 8"),
    ("li", "longenough", "public", "role must be"),
    ("li", "longenough", "root", "role must be"),
])
def test_add_rejects_bad_input(db, name, password, role, match):
    with pytest.raises(users.UserError, match=match):
        users.add_user(db, name, password, role)


def test_duplicate_remove_passwd_role(db):
    users.add_user(db, "网格员01", "password1", "staff")
    with pytest.raises(users.UserError, match="already exists"):
        users.add_user(db, "网格员01", "password2", "admin")
    stamp = users.get_user(db, "网格员01").stamp
    users.set_password(db, "网格员01", "password3")
    assert users.get_user(db, "网格员01").stamp != stamp
    assert users.verify(db, "网格员01", "password1") is None
    assert users.verify(db, "网格员01", "password3") is not None
    users.set_role(db, "网格员01", "admin")
    assert users.get_user(db, "网格员01").role == "admin"
    assert [u.name for u in users.list_users(db)] == ["网格员01"]
    users.remove_user(db, "网格员01")
    assert users.get_user(db, "网格员01") is None
    for fn, args in ((users.remove_user, ()), (users.set_password, ("password9",)), (users.set_role, ("staff",))):
        with pytest.raises(users.UserError, match="no user"):
            fn(db, "网格员01", *args)


def test_verify_handles_hostile_input(db):
    users.add_user(db, "admin", "adminpass", "admin")
    assert users.verify(db, "admin", "x" * 5000) is None
    assert users.verify(db, "a" * 500, "adminpass") is None
    assert users.verify(db, "admin' OR '1'='1", "adminpass") is None


def test_roles_rank():
    assert users.role_rank("public") < users.role_rank("staff") < users.role_rank("admin")
    assert users.role_rank("root") < 0


def test_audit_records_who_when_what(db):
    audit.record(db, "zhang", "sign_in", ip="10.0.0.1")
    audit.record(db, "cli:root", "import", target="grids", detail={"version": "0002-abcdef1"})
    newest = audit.entries(db)
    assert [e.action for e in newest] == ["import", "sign_in"]
    assert newest[0].actor == "cli:root" and newest[0].detail["version"] == "0002-abcdef1"
    assert newest[0].ts.endswith("Z") and newest[1].ip == "10.0.0.1"
    assert [e.action for e in audit.entries(db, action="sign_in")] == ["sign_in"]
    with pytest.raises(ValueError):
        audit.record(db, "x", "drop_tables")


def test_no_database_means_no_users(tmp_path):
    db = users.db_path(tmp_path / "none")
    assert users.list_users(db) == [] and users.get_user(db, "x") is None
    assert audit.entries(db) == []
    assert users.verify(db, "x", "whatever1") is None
