"""The audit log on SQLite and PostgreSQL: who/when/what, and a store change recorded exactly once."""

from __future__ import annotations

import threading

import pytest

from app.geo import audit, users


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The audit database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return users.db_path(tmp_path)


def test_audit_records_who_when_what(db):
    audit.record(db, "zhang", "sign_in", ip="10.0.0.1")
    audit.record(db, "cli:root", "import", target="grids", detail={"version": "0002-abcdef1", "file": "网格.zip"})
    newest = audit.entries(db)
    assert [e.action for e in newest] == ["import", "sign_in"]
    assert newest[0].actor == "cli:root" and newest[0].detail == {"version": "0002-abcdef1", "file": "网格.zip"}
    assert newest[0].ts.endswith("Z") and newest[1].ip == "10.0.0.1"
    assert newest[0].id > newest[1].id
    assert [e.action for e in audit.entries(db, action="sign_in")] == ["sign_in"]
    assert [e.action for e in audit.entries(db, limit=1)] == ["import"]
    assert "sign_in_locked" in audit.ACTIONS
    with pytest.raises(ValueError):
        audit.record(db, "x", "drop_tables")


def test_a_change_is_recorded_once(db):
    assert audit.record(db, "zhang", "import", target="grids", change="0002-abc", detail={"change": "other"})
    assert not audit.record(db, "cli:root", "import", target="grids", change="0002-abc",
                            detail={"recovered": True})
    assert audit.record(db, "zhang", "rollback", target="0001-def", change="0003-ghi")
    assert audit.record(db, "zhang", "sign_in", detail={"note": "100% 的 ? 不是占位符"})  # % and ? kept as text
    assert audit.changes_recorded(db) == {"0002-abc", "0003-ghi"}
    entries = audit.entries(db)
    assert [e.actor for e in entries] == ["zhang", "zhang", "zhang"]
    assert entries[0].detail == {"note": "100% 的 ? 不是占位符"}
    assert entries[2].detail == {"change": "0002-abc"}


def test_the_department_role_has_a_title(db):
    audit.record(db, "admin", "user_add", target="城管局", detail={"role": "department"})
    entry = audit.entries(db)[0]
    assert audit.describe(entry, "zh") == "角色：部门"
    assert audit.describe(entry, "en") == "role: department"


def test_writers_racing_on_one_change_write_it_once(db):
    """Eight writers (as a change's own process and the recovery of others would) record the same change."""
    audit.entries(db)  # make the table first, so that the race is on the entry and not on the schema
    writers = 8
    start = threading.Barrier(writers)
    written: list[bool] = []

    def write(i: int) -> None:
        start.wait()
        written.append(audit.record(db, f"writer{i}", "import", target="grids", change="0002-race"))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(written) == [False] * (writers - 1) + [True]
    assert len(audit.entries(db)) == 1
    assert audit.changes_recorded(db) == {"0002-race"}


def test_processes_racing_on_one_change_write_it_once(pg_url, tmp_path):
    """Two processes recording the same change on PostgreSQL (each with its own connections) write it once."""
    import subprocess
    import sys

    audit.entries(pg_url)
    script = ("import sys\nfrom app.geo import audit\n"
              "print(audit.record(sys.argv[1], sys.argv[2], 'import', target='grids', change='0002-race'))")
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url, f"proc{i}"], stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == ["False", "True"]
    assert len(audit.entries(pg_url)) == 1


def test_wal_switch_waits_for_another_connection_then_gives_a_503(tmp_path):
    """The journal-mode switch on opening waits while another connection holds the file, then refuses."""
    import sqlite3

    from app.geo import db

    path = tmp_path / "held.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, timeout=0)  # no busy wait of SQLite's own: only _set_wal's
    with pytest.raises(db.DatabaseError) as refused:
        db._set_wal(opener, wait=0.2)
    assert refused.value.status == 503
    threading.Timer(0.2, holder.execute, args=("COMMIT",)).start()
    opener = sqlite3.connect(path, timeout=0)
    db._set_wal(opener, wait=10)
    assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
