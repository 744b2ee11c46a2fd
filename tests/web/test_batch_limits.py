"""Bounded work per batch request: the limits of POST /api/v1/locate/batch, and the server's memory under attack."""

from __future__ import annotations

import http.client
import io
from pathlib import Path

import pytest
import requests

from tests import batch_files, helpers
from tests.helpers import json_error

BATCH = "/api/v1/locate/batch"
MIB = 1024 * 1024
#: The memory budget of one batch request, above the idle server: a request at the staff limits
#: (200 000 rows in, up to 64 MiB of answer out) stays within 400 MiB (measured 150-325 MiB) ...
BUDGET_MIB = 400
#: ... and refusing a hostile file costs next to nothing (measured under 10 MiB).
HOSTILE_MIB = 60


def _post(client, data: bytes, name: str = "points.csv", **form: str):
    return client.post(BATCH, data={"file": (io.BytesIO(data), name), **form}, content_type="multipart/form-data")


def _limit_error(response, setting: str, status: int = 413) -> str:
    message = json_error(response, status)
    body = response.get_json()
    assert body["code"] == "table.limit" and body["setting"] == f"GRIDMAP_{setting}", body
    assert f"GRIDMAP_{setting}" in message
    return message


@pytest.fixture
def staff_and_public(make_app):
    """Return ``make(**settings) -> (staff client, public client)`` on one app, rate limits off."""

    def make(**settings):
        app = make_app(RATELIMIT_ENABLED=False, **settings)
        staff = app.test_client()
        assert helpers.login(staff, "staff").status_code == 302
        return staff, app.test_client()

    return make


def test_public_gets_the_lower_row_limit(staff_and_public):
    staff, public = staff_and_public(ANON_BATCH_MAX_ROWS=3, BATCH_MAX_ROWS=5)
    data = batch_files.points_csv(4)
    assert "at most 3 are accepted without signing in" in _limit_error(_post(public, data), "ANON_BATCH_MAX_ROWS")
    assert _post(staff, data).status_code == 200
    _limit_error(_post(staff, batch_files.points_csv(6)), "BATCH_MAX_ROWS")


def test_public_upload_size_is_checked_before_the_body_is_read(staff_and_public):
    staff, public = staff_and_public(ANON_BATCH_MAX_MB=1)
    data = b"lon,lat\n98.29,39.77\n" + b"\n" * int(1.5 * MIB)
    assert "the upload is 1.5 MiB; at most 1 MiB" in _limit_error(_post(public, data), "ANON_BATCH_MAX_MB")
    assert _post(staff, data).status_code == 200


def test_sign_in_can_be_required(staff_and_public):
    staff, public = staff_and_public(BATCH_REQUIRE_SIGN_IN=True)
    assert "GRIDMAP_BATCH_REQUIRE_SIGN_IN" in json_error(_post(public, batch_files.points_csv(2)), 401)
    assert _post(staff, batch_files.points_csv(2)).status_code == 200


def test_long_csv_cell_is_413_not_500(client):
    message = _limit_error(_post(client, batch_files.long_cell_csv(200_000)), "BATCH_MAX_CELL_CHARS")
    # "of more than 4096" while the csv module's own limit stands, else the exact length
    assert message.startswith("points.csv: row 2 has a cell of ") and "; at most 4096 are accepted" in message


@pytest.mark.parametrize(
    ("make", "setting"),
    [(lambda: batch_files.shared_string_bomb(300), "BATCH_MAX_UNPACKED_MB"),
     (lambda: batch_files.far_cell("XFD1048576"), "ANON_BATCH_MAX_ROWS"),
     (lambda: batch_files.far_cell("XFD2"), "BATCH_MAX_COLUMNS"),
     (lambda: batch_files.wide_csv(201), "BATCH_MAX_COLUMNS")],
)
def test_hostile_files_are_413(client, make, setting):
    name = "points.csv" if setting == "BATCH_MAX_COLUMNS" and b"lon" in make()[:3] else "points.xlsx"
    _limit_error(_post(client, make(), name), setting)


def test_lying_zip_header_is_400(client):
    assert "declares" in json_error(_post(client, batch_files.lying_bomb(8), "points.xlsx"), 400)


def test_answer_size_is_limited(staff_and_public):
    staff, _ = staff_and_public(BATCH_MAX_RESPONSE_MB=1)
    data = batch_files.points_csv(3000)
    assert "ask for CSV" in _limit_error(_post(staff, data), "BATCH_MAX_RESPONSE_MB")
    r = _post(staff, data, format="csv")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.data) < MIB


def test_download_keeps_its_name_and_headers(client):
    r = _post(client, batch_files.points_csv(2), "居民名单.csv", format="csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''%E5%B1%85" in disposition
    assert "_grids.csv" in disposition and r.headers["Cache-Control"] == "no-cache"
    body = _post(client, batch_files.points_csv(2)).get_json()
    assert body["summary"]["total"] == 2 and len(body["rows"]) == 2 and body["data_version"]


# --- the real server: its memory stays within the budget ----------------------------------------------------


def _chunked_post(port: int, size: int) -> int:
    """POST a multipart body of about ``size`` bytes with no Content-Length (chunked); return the status."""
    boundary = "gridmapboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\nlon,lat\r\n").encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest("POST", BATCH)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        block = b"98.29,39.77\r\n" * 8000
        try:
            for chunk in [head] + [block] * (size // len(block)) + [f"\r\n--{boundary}--\r\n".encode()]:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server may stop reading once it has refused the body
        return conn.getresponse().status
    finally:
        conn.close()


def _reset_peak(pid: int) -> None:
    """Start the process's VmHWM afresh (Linux clear_refs 5), so each request's peak is its own."""
    import contextlib

    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.mark.slow
def test_server_memory_stays_within_budget(tmp_path: Path, cheap_hashes: None, capsys) -> None:
    env = helpers.store_settings(tmp_path)
    instance = Path(env.pop("INSTANCE_DIR"))
    helpers.add_accounts(instance)
    # One worker: rss_kib() reads the serving process itself, not a gunicorn master over workers.
    with helpers.Server(instance, COOKIE_SECURE="0", RATELIMIT_ENABLED="0", WORKERS="1", **env) as srv:
        public = requests.Session()

        def post(session, data, name, **form):
            _reset_peak(srv.proc.pid)
            return session.post(srv.base + BATCH, files={"file": (name, data)}, data=form, timeout=300)

        assert post(public, batch_files.points_csv(50), "warm.csv").status_code == 200  # data and index loaded
        idle = srv.rss_kib() // 1024
        attacks = {"zip bomb (300 MiB shared string)": (batch_files.shared_string_bomb(300), "bomb.xlsx", 413),
                   "lying zip header (64 MiB)": (batch_files.lying_bomb(64), "liar.xlsx", 400),
                   "cell at XFD1048576": (batch_files.far_cell(), "far.xlsx", 413),
                   "CSV cell of 200 000 characters": (batch_files.long_cell_csv(200_000), "long.csv", 413)}
        peaks = {}
        for what, (data, name, status) in attacks.items():
            r = post(public, data, name)
            assert r.status_code == status, (what, r.status_code, r.text[:300])
            assert r.json()["status"] == status and len(r.content) < 4096
            peaks[what] = srv.rss_kib("VmHWM") // 1024 - idle
        _reset_peak(srv.proc.pid)
        assert _chunked_post(srv.port, 3 * MIB) == 413
        peaks["chunked 3 MiB public upload"] = srv.rss_kib("VmHWM") // 1024 - idle
        assert srv.proc.poll() is None  # still serving

        staff = requests.Session()
        token = helpers.page_token(staff.get(srv.base + "/login", timeout=30).text)
        r = staff.post(srv.base + "/login", data={"name": "staff", "password": helpers.PASSWORDS["staff"],
                                                  "csrf_token": token}, allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]
        rows = batch_files.points_csv(200_000)
        r = post(staff, rows, "rows.csv", format="csv")
        assert r.status_code == 200 and r.content.count(b"\n") == 200_001
        peaks["staff: 200 000 rows, CSV answer"] = srv.rss_kib("VmHWM") // 1024 - idle
        r = post(staff, rows, "rows.csv")
        assert r.status_code == 413 and r.json()["setting"] == "GRIDMAP_BATCH_MAX_RESPONSE_MB"
        peaks["staff: 200 000 rows, JSON answer over 64 MiB"] = srv.rss_kib("VmHWM") // 1024 - idle
        sheet = batch_files.workbook(batch_files.cells(
            [["name", "lon", "lat"]] + [[f"p{i}", f"{98.29 + i % 97 * 1e-4:.4f}", "39.77"] for i in range(200_000)]))
        r = post(staff, sheet, "rows.xlsx", format="csv")
        assert r.status_code == 200, r.text[:300]
        peaks["staff: 200 000 rows of XLSX, CSV answer"] = srv.rss_kib("VmHWM") // 1024 - idle
    with capsys.disabled():
        print(f"\nserver RSS idle {idle} MiB; peak above idle after each request (MiB): {peaks}")
    hostile = [v for k, v in peaks.items() if not k.startswith("staff")]
    assert max(hostile) < HOSTILE_MIB, peaks
    assert max(peaks.values()) < BUDGET_MIB, peaks
