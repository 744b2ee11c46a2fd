"""Accounts on SQLite and PostgreSQL: argon2 hashes, password rules, roles, session generations, lock-outs."""

from __future__ import annotations

import sqlite3

import pytest

from app.geo import audit, users
from tests.helpers import MIN_PASSWORD

pytestmark = pytest.mark.usefixtures("cheap_hashes")

#: Passwords the rules accept (for accounts whose names they do not contain).
GOOD = ("Kestrel-Quartz-27", "Meadow-Lantern-58", "Harbor-Violet-93", "Copper-Tundra-64")
#: The lock-out rule of these tests: three failures lock for a minute.
RULE = {"attempts": 3, "seconds": 60}
T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The accounts database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return users.db_path(tmp_path)


def _stored_hash(db, name):
    with users.connect(db) as conn:
        return conn.execute("SELECT pw_hash FROM users WHERE name = ?", (name,)).fetchone()[0]


def _add(db, name, password=GOOD[0], role="staff"):
    return users.add_user(db, name, password, role, min_length=MIN_PASSWORD)


def test_add_verify_and_hash_is_argon2(db):
    u = _add(db, "zhang", "correct horse battery")
    assert u.role == "staff"
    assert users.verify(db, "zhang", "correct horse battery").name == "zhang"
    assert users.verify(db, "zhang", "wrong password") is None
    assert users.verify(db, "nobody", "correct horse battery") is None
    stored = _stored_hash(db, "zhang")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_old_cost_hashes_still_verify_and_are_upgraded(db):
    _add(db, "wang")
    generation = users.get_user(db, "wang").generation
    users.set_hash_cost(2, 2048)
    assert users.verify(db, "wang", GOOD[0]) is not None
    stored = _stored_hash(db, "wang")
    assert "m=2048,t=2" in stored
    assert users.get_user(db, "wang").generation == generation  # a re-hash signs nobody out


@pytest.mark.parametrize(("name", "password", "role", "match"), [
    ("a", GOOD[0], "staff", "user name"),
    ("bad name!", GOOD[0], "staff", "user name"),
    ("li", "short", "staff", "at least 10 characters"),
    ("li", GOOD[0], "public", "role must be"),
    ("li", GOOD[0], "root", "role must be"),
])
def test_add_rejects_bad_input(db, name, password, role, match):
    with pytest.raises(users.UserError, match=match):
        users.add_user(db, name, password, role, min_length=MIN_PASSWORD)


@pytest.mark.parametrize(("password", "min_length", "key", "match"), [
    ("password", 10, "users.password.length", r"at least 10 characters \(GRIDMAP_PASSWORD_MIN_LENGTH\)"),
    ("password", 8, "users.password.common", "most common passwords"),  # the attack: accepted before
    ("PassWord", 8, "users.password.common", "most common passwords"),
    ("qwertyuiop", 10, "users.password.common", "most common passwords"),
    ("1234567890", 10, "users.password.common", "most common passwords"),
    ("passwordpassword", 10, "users.password.weak", r"too easy to guess \(zxcvbn strength 0 of 4"),
    ("aaaaaaaaaaaa", 10, "users.password.weak", "too easy to guess"),
    ("Summer2024!", 10, "users.password.weak", "at least 3 needed"),
    ("zhangwei", 8, "users.password.name", "must not contain the user name 'zhangwei'"),
    ("Kestrel-ZhangWei-27", 10, "users.password.name", "must not contain the user name"),
    ("x" * 1025, 10, "users.password.length", "longer than 1024"),
])
def test_password_rules_name_the_rule(password, min_length, key, match):
    with pytest.raises(users.UserError, match=match) as err:
        users.check_password(password, "zhangwei", min_length)
    assert err.value.key == key and err.value.status == 400


def test_good_passwords_pass_the_rules():
    for password in (*GOOD, "correct horse battery", "Kestrel-Quartz-27 " + "x" * 900):
        assert users.check_password(password, "zhangwei", MIN_PASSWORD) == password
    with pytest.raises(users.UserError, match="at least 20"):
        users.check_password("Kestrel-Quartz-27", "zhangwei", 20)


def test_set_password_enforces_the_rules(db):
    _add(db, "zhang")
    for bad in ("password", "password1234", "zhang-Kestrel-27"):
        with pytest.raises(users.UserError):
            users.set_password(db, "zhang", bad, min_length=MIN_PASSWORD)
    assert users.verify(db, "zhang", GOOD[0]) is not None  # unchanged


def test_duplicate_remove_passwd_role(db):
    _add(db, "网格员01", GOOD[0])
    with pytest.raises(users.UserError, match="already exists"):
        _add(db, "网格员01", GOOD[1], "admin")
    users.set_password(db, "网格员01", GOOD[2], min_length=MIN_PASSWORD)
    assert users.verify(db, "网格员01", GOOD[0]) is None
    assert users.verify(db, "网格员01", GOOD[2]) is not None
    users.set_role(db, "网格员01", "admin")
    assert users.get_user(db, "网格员01").role == "admin"
    assert [u.name for u in users.list_users(db)] == ["网格员01"]
    users.remove_user(db, "网格员01")
    assert users.get_user(db, "网格员01") is None
    for fn, args, kwargs in ((users.remove_user, (), {}), (users.set_password, (GOOD[3],), {"min_length": 10}),
                             (users.set_role, ("staff",), {})):
        with pytest.raises(users.UserError, match="no user"):
            fn(db, "网格员01", *args, **kwargs)


# --------------------------------------------------------------------------- session generations


def test_password_role_and_sign_out_move_the_generation_on(db):
    first = _add(db, "zhang").generation
    assert users.get_user(db, "zhang").generation == first
    users.set_password(db, "zhang", GOOD[1], min_length=MIN_PASSWORD)
    assert users.get_user(db, "zhang").generation == first + 1
    users.set_role(db, "zhang", "admin")
    assert users.get_user(db, "zhang").generation == first + 2
    users.end_sessions(db, "zhang")
    assert users.get_user(db, "zhang").generation == first + 3
    assert users.verify(db, "zhang", GOOD[1]).generation == first + 3
    users.end_sessions(db, "nobody")  # nothing to end, no error


def test_a_new_account_of_a_removed_name_gets_another_generation(db):
    seen = set()
    for _ in range(3):
        seen.add(_add(db, "zhang").generation)
        users.remove_user(db, "zhang")
    assert len(seen) == 3


def test_an_older_database_gets_the_new_column(tmp_path):
    db = users.db_path(tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT NOT NULL, "
                 "created TEXT NOT NULL, updated TEXT NOT NULL)")
    conn.execute("INSERT INTO users VALUES ('old', 'admin', ?, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                 (users._HASHER.hash(GOOD[0]),))
    conn.commit()
    conn.close()
    old = users.get_user(db, "old")
    assert (old.role, old.generation) == ("admin", 0)
    assert users.verify(db, "old", GOOD[0]).name == "old"
    users.end_sessions(db, "old")
    assert users.get_user(db, "old").generation == 1
    _add(db, "new")
    columns = [r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(users)")]
    assert columns.count("generation") == 1
    assert [u.name for u in users.list_users(db)] == ["new", "old"]


# --------------------------------------------------------------------------- lock-out


def _try(db, name, password, at):
    result = users.sign_in(db, name, password, now=T0 + at, **RULE)
    return (result.user.name if result.user else None, result.failures, result.locked_seconds)


def test_lock_out_after_failures_in_a_row_with_back_off(db):
    _add(db, "zhang")
    assert _try(db, "zhang", "wrong-one", 0) == (None, 1, 0)
    assert _try(db, "zhang", "wrong-two", 1) == (None, 2, 0)
    assert _try(db, "zhang", "wrong-three", 2) == (None, 3, 60)
    # while locked even the right password is refused, counts as a failure and doubles the lock
    assert _try(db, "zhang", GOOD[0], 10) == (None, 4, 120)
    assert _try(db, "zhang", "wrong-again", 20) == (None, 5, 240)
    # the lock ran out (20 + 240 s): the right password works and clears the count
    assert _try(db, "zhang", GOOD[0], 261) == ("zhang", 0, 0)
    assert _try(db, "zhang", "wrong-one", 262) == (None, 1, 0)
    assert _try(db, "zhang", "wrong-two", 263) == (None, 2, 0)
    assert audit.entries(db) == []  # the core audits nothing; the web and CLI do


def test_a_failure_after_a_lock_ran_out_locks_for_longer(db):
    _add(db, "zhang")
    for i in range(3):
        _try(db, "zhang", "wrong", i)
    assert _try(db, "zhang", "wrong", 100) == (None, 4, 120)  # the lock of 60 s was over, still doubled


def test_an_unknown_name_fails_and_locks_like_a_wrong_password(db):
    _add(db, "zhang")
    known = [_try(db, "zhang", "wrong", i) for i in range(5)]
    unknown = [_try(db, "ghost", "wrong", i) for i in range(5)]
    assert [k[1:] for k in known] == [u[1:] for u in unknown] == [(1, 0), (2, 0), (3, 60), (4, 120), (5, 240)]
    assert _try(db, "ghost", GOOD[0], 1000) == (None, 6, 480)


def test_counts_are_per_name(db):
    _add(db, "zhang")
    _add(db, "wang", GOOD[1])
    for i in range(3):
        _try(db, "zhang", "wrong", i)
    assert _try(db, "wang", GOOD[1], 5) == ("wang", 0, 0)


def test_a_new_password_lifts_the_lock(db):
    _add(db, "zhang")
    for i in range(3):
        _try(db, "zhang", "wrong", i)
    users.set_password(db, "zhang", GOOD[1], min_length=MIN_PASSWORD)
    assert _try(db, "zhang", GOOD[1], 5) == ("zhang", 0, 0)


def test_lock_seconds_doubles_up_to_a_day_and_can_be_off():
    assert [users.lock_seconds(n, 3, 60) for n in range(1, 7)] == [0, 0, 60, 120, 240, 480]
    assert users.lock_seconds(10_000, 3, 60) == users.MAX_LOCK_SECONDS
    assert users.lock_seconds(3, 3, 2 * users.MAX_LOCK_SECONDS) == 2 * users.MAX_LOCK_SECONDS
    assert users.lock_seconds(100, 0, 60) == 0 and users.lock_seconds(100, 3, 0) == 0


def test_lock_out_switched_off(db):
    _add(db, "zhang")
    for i in range(10):
        assert users.sign_in(db, "zhang", "wrong", attempts=0, seconds=60, now=T0 + i).locked_seconds == 0
    assert users.sign_in(db, "zhang", GOOD[0], attempts=0, seconds=60, now=T0 + 11).user is not None


def test_idle_counters_are_forgotten(db):
    _add(db, "zhang")
    for i in range(2):
        _try(db, "zhang", "wrong", i)
    assert _try(db, "zhang", "wrong", users.MAX_LOCK_SECONDS + 10) == (None, 1, 0)


def test_verify_handles_hostile_input(db):
    _add(db, "admin", GOOD[0], "admin")
    assert users.verify(db, "admin", "x" * 5000) is None
    assert users.verify(db, "a" * 500, GOOD[0]) is None
    assert users.verify(db, "admin' OR '1'='1", GOOD[0]) is None
    assert users.sign_in(db, "admin' OR '1'='1", GOOD[0], now=T0, **RULE).user is None
    assert users.sign_in(db, "a" * 500, "x" * 5000, now=T0, **RULE).failures == 1


def test_roles_rank():
    assert (users.role_rank("public") < users.role_rank("department") < users.role_rank("staff")
            < users.role_rank("admin"))
    assert users.role_rank("root") < 0
    assert users.ACCOUNT_ROLES == ("department", "staff", "admin")


def test_a_department_account(db):
    assert _add(db, "城管局", role="department").role == "department"
    assert users.verify(db, "城管局", GOOD[0]).role == "department"
    users.set_role(db, "城管局", "staff")
    users.set_role(db, "城管局", "department")
    assert users.get_user(db, "城管局").role == "department"
    with users.connect(db) as conn, pytest.raises(Exception, match="(?i)check"):  # the table refuses others
        conn.execute("UPDATE users SET role = 'root' WHERE name = ?", ("城管局",))


def test_an_older_database_takes_department_accounts(tmp_path):
    """A SQLite file made before the department role (its CHECK lists staff and admin) is rebuilt on open."""
    db = users.db_path(tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('staff', 'admin')), "
                 "pw_hash TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, "
                 "generation INTEGER NOT NULL DEFAULT 0)")
    conn.execute("INSERT INTO users VALUES ('old', 'admin', ?, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 7)",
                 (users._HASHER.hash(GOOD[0]),))
    conn.commit()
    conn.close()
    _add(db, "城管局", GOOD[1], role="department")
    assert [(u.name, u.role, u.generation) for u in users.list_users(db)][0] == ("old", "admin", 7)
    assert users.verify(db, "old", GOOD[0]).name == "old"
    assert users.get_user(db, "城管局").role == "department"
    sql = sqlite3.connect(db).execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
    assert "'department'" in sql
    with pytest.raises(sqlite3.IntegrityError):
        sqlite3.connect(db).execute("UPDATE users SET role = 'root'")


def test_no_database_means_no_users(tmp_path):
    db = users.db_path(tmp_path / "none")
    assert users.list_users(db) == [] and users.get_user(db, "x") is None
    assert audit.entries(db) == []
    assert users.verify(db, "x", "whatever1") is None
    assert not db.exists()


def test_an_empty_postgresql_database_has_no_users(pg_url):
    assert users.list_users(pg_url) == [] and users.get_user(pg_url, "x") is None
    assert audit.entries(pg_url) == []
    assert users.verify(pg_url, "x", "whatever1") is None
