"""API fuzzing: schemathesis drives every operation of /api/v1/openapi.json; no response may be a 5xx."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from app.geo import users

MINI = Path(__file__).resolve().parent.parent / "data" / "mini"
TMP = Path(tempfile.mkdtemp(prefix="gridmap-fuzz-"))
shutil.copytree(MINI, TMP / "geodata")
APP = create_app({"TESTING": False, "DATA_DIR": str(TMP / "geodata"), "STORE_DIR": str(TMP / "store"),
                  "INSTANCE_DIR": str(TMP / "inst"), "SECRET_KEY": "fuzz", "COOKIE_SECURE": False,
                  "RATELIMIT_ENABLED": False, "MAX_UPLOAD_MB": 1})
users.set_hash_cost(1, 1024)
users.add_user(users.db_path(TMP / "inst"), "staff", "staff-pass-1", "staff")
users.set_hash_cost()

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
STATS: Counter = Counter()
EXAMPLES = 40


def _staff_cookie() -> str:
    c = APP.test_client()
    with c.session_transaction() as s:
        s["csrf"] = "f" * 43
    c.post("/login", data={"name": "staff", "password": "staff-pass-1", "csrf_token": "f" * 43})
    return f"gridmap_session={c.get_cookie('gridmap_session').value}"


STAFF_COOKIE = _staff_cookie()


def _check(response, who: str, case) -> None:
    STATS["requests"] += 1
    STATS[f"requests_{who}"] += 1
    if response.status_code >= 500:
        STATS["5xx"] += 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path} as {who}: {response.status_code}"
    assert b"Traceback" not in response.content


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case):
    _check(case.call(), "public", case)
    _check(case.call(headers={"Cookie": STAFF_COOKIE}), "staff", case)


def test_zz_fuzz_figures(capsys):
    with capsys.disabled():
        print(f"\n[fuzz] {STATS['requests']} requests "
              f"({STATS['requests_public']} public, {STATS['requests_staff']} staff), {STATS['5xx']} 5xx")
    if STATS["requests"] == 0:
        pytest.skip("the fuzz tests did not run (deselected)")
    assert STATS["5xx"] == 0
