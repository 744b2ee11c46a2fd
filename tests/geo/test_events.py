"""Grid events core: report, workflow, scopes, privacy, refusals and statistics, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import messages
from app.geo import db
from app.geo import events as ev
from app.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from app.geo.dataset import Dataset
from app.geo.geojson_store import FolderStore
from tests import helpers

GRID1, GRID2 = "620201001001001", "620201001001002"
COMMITTEE = "620201001001"
IN_GRID1 = (98.284742, 39.77249)
T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
WORKER, OTHER, LEADER = ev.Who("wang", "staff"), ev.Who("li", "staff"), ev.Who("zhao", "staff")
DEPT, DEPT2, ADMIN = ev.Who("roads1", "department"), ev.Who("water1", "department"), ev.Who("root", "admin")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The events database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite3")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The mini city, opened once for the module (nothing here changes it)."""
    return Dataset(FolderStore(helpers.copy_mini(tmp_path_factory.mktemp("events") / "geodata")))


@pytest.fixture
def city(target: str, ds: Dataset) -> tuple[str, Dataset]:
    """The database with handler scopes: wang works grid 1, li grid 2, zhao leads the committee, two departments."""
    ev.assign(target, "wang", "grid", GRID1, ds=ds)
    ev.assign(target, "li", "grid", GRID2, ds=ds)
    ev.assign(target, "zhao", "committee", COMMITTEE, ds=ds)
    ev.assign(target, "roads1", "department", "市政局")
    ev.assign(target, "water1", "department", "水务局")
    return target, ds


def _report(target: str, ds: Dataset, key: str = "key-0001", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"category": "roads", "description": "路灯不亮", "x": IN_GRID1[0], "y": IN_GRID1[1],
                            "now": T0}
    args.update(kw)
    return ev.report(target, ds, args.pop("reporter", ev.ANONYMOUS), report_key=key, **args)


def _count(target: str, sql: str, params: tuple = ()) -> int:
    with db.connect(target, ev._acc.SCHEMA) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def test_whole_loop_with_history_and_public_view(city: tuple[str, Dataset]) -> None:
    target, ds = city
    event = _report(target, ds, phone="+86 139 0000 1234", description="路灯\x07不亮 <b>")
    assert event["new"] and event["id"] == "E20261207-0001" and event["status"] == "reported"
    assert (event["grid_code"], event["committee_code"], event["handler"]) == (GRID1, COMMITTEE, "wang")
    assert event["handler_name"] and event["reporter_phone"] == "13900001234"
    assert event["description"] == "路灯不亮 <b>"  # control character dropped, nothing escaped
    step = timedelta(hours=1)
    ev.transition(target, event["id"], "accept", WORKER, now=T0 + step)
    ev.transition(target, event["id"], "escalate", WORKER, department="市政局", note="需要更换灯杆", now=T0 + 2 * step)
    assert [e["id"] for e in ev.list_events(target, DEPT, mine_only=True)["events"]] == [event["id"]]
    ev.transition(target, event["id"], "handle", DEPT, now=T0 + 3 * step, note="已更换", photos=[_jpeg_with_gps()])
    ev.transition(target, event["id"], "verify", WORKER, now=T0 + 4 * step)
    closed = ev.transition(target, event["id"], "close", WORKER, now=T0 + 5 * step)
    assert closed["status"] == "closed" and closed["hours_to_close"] == 5.0 and not closed["late"]
    full = ev.get_event(target, event["id"], LEADER, ds=ds)
    assert [(h["action"], h["from"], h["to"], h["actor"]) for h in full["history"]] == [
        ("report", None, "reported", None), ("accept", "reported", "accepted", "wang"),
        ("escalate", "accepted", "escalated", "wang"), ("handle", "escalated", "handled", "roads1"),
        ("verify", "handled", "verified", "wang"), ("close", "verified", "closed", "wang")]
    assert full["history"][2]["note"] == "需要更换灯杆" and full["history"][2]["detail"] == {"department": "市政局"}
    assert full["actions"] == [] and len(full["photos"]) == 1 and full["history"][3]["detail"] == {"photos": 1}
    public = ev.public_view(full, ds)
    assert public["status"] == "closed" and public["grid_code"] == GRID1 and public["location"] == "grid"
    assert (public["lon"], public["lat"]) != IN_GRID1 and public["lon"] is not None
    text = repr(public)
    for private in ("13900001234", "路灯", "wang", "handler", "reporter", "photos", "description"):
        assert private not in text
    assert [p["id"] for p in ev.public_events(target, ds)] == [event["id"]]
    assert ev.public_event(target, ds, event["id"]) == public
    table = ev.frame(target, ADMIN)
    stats = ev.statistics(table, "grid")
    row = stats.set_index("grid_code").loc[GRID1]
    assert (row["total"], row["closed"], row["on_time_rate"], row["mean_hours_to_close"]) == (1, 1, 1.0, 5.0)
    dept = ev.statistics(table, "department")
    assert list(dept["department"]) == ["市政局"]


def test_retry_with_the_same_key_is_not_duplicated(city: tuple[str, Dataset]) -> None:
    target, ds = city
    first = _report(target, ds)
    again = _report(target, ds, description="different text on the retry")
    assert not again["new"] and again["id"] == first["id"] and again["description"] == "路灯不亮"
    second = _report(target, ds, key="key-0002")
    assert second["id"] == "E20261207-0002"
    assert _count(target, "SELECT COUNT(*) FROM events") == 2
    assert _count(target, "SELECT COUNT(*) FROM event_history") == 2


def test_disallowed_transition_is_409_and_changes_nothing(city: tuple[str, Dataset]) -> None:
    target, ds = city
    event = _report(target, ds)
    before = ev.get_event(target, event["id"], ADMIN)
    with pytest.raises(ev.EventStateError) as err:
        ev.transition(target, event["id"], "close", WORKER)
    assert err.value.status == 409 and "reported" in err.value.message and "close" in err.value.message
    assert err.value.detail["allowed"] == ["accept", "reject"]
    zh = messages.translate(err.value.key, err.value.message, "zh")
    assert zh == f"事件 {event['id']} 当前为“已上报”，不能执行“结案”。"
    assert ev.get_event(target, event["id"], ADMIN) == before
    with pytest.raises(ev.EventStateError):
        ev.transition(target, event["id"], "escalate", WORKER, department="市政局")  # not accepted yet
    ev.transition(target, event["id"], "accept", WORKER)
    with pytest.raises(ev.EventError, match="unknown department") as bad:
        ev.transition(target, event["id"], "escalate", WORKER, department="nobody")
    assert bad.value.status == 400
    with pytest.raises(ev.EventError, match="give a reason"):
        ev.transition(target, event["id"], "reject", WORKER)
    with pytest.raises(ev.EventError, match="unknown action"):
        ev.transition(target, event["id"], "delete", WORKER)
    assert ev.get_event(target, event["id"], ADMIN)["status"] == "accepted"
    rejected = ev.transition(target, event["id"], "reject", WORKER, reason="duplicate", note="同 E20261207-0009")
    assert rejected["status"] == "rejected" and rejected["closed"]


def test_rework_goes_back_to_whoever_handled(city: tuple[str, Dataset]) -> None:
    target, ds = city
    own = _report(target, ds, key="key-own-1")
    ev.transition(target, own["id"], "accept", WORKER)
    ev.transition(target, own["id"], "handle", WORKER)  # the grid handles it itself
    with pytest.raises(ev.EventError, match="note is empty"):
        ev.transition(target, own["id"], "return", WORKER)
    assert ev.transition(target, own["id"], "return", WORKER, note="没扫干净")["status"] == "accepted"
    sent = _report(target, ds, key="key-sent-1")
    ev.transition(target, sent["id"], "accept", LEADER)
    ev.transition(target, sent["id"], "escalate", LEADER, department="水务局")
    with pytest.raises(ev.EventNotFound):
        ev.transition(target, sent["id"], "decline", DEPT, note="不归我们")
    back = ev.transition(target, sent["id"], "decline", DEPT2, note="属市政局")
    assert back["status"] == "accepted" and back["department"] is None
    with pytest.raises(ev.EventNotFound):
        ev.get_event(target, sent["id"], DEPT2)
    ev.transition(target, sent["id"], "escalate", LEADER, department="市政局")
    ev.transition(target, sent["id"], "handle", DEPT)
    assert ev.transition(target, sent["id"], "return", WORKER, note="未修好")["status"] == "escalated"


def test_who_sees_and_who_acts(city: tuple[str, Dataset]) -> None:
    target, ds = city
    event = _report(target, ds)
    assert ev.list_events(target, WORKER)["total"] == 1
    assert ev.list_events(target, LEADER)["total"] == 1
    assert ev.list_events(target, OTHER)["total"] == 0
    assert ev.list_events(target, DEPT)["total"] == 0
    assert ev.list_events(target, ev.ANONYMOUS)["total"] == 0
    for who in (OTHER, DEPT, ev.ANONYMOUS):
        with pytest.raises(ev.EventNotFound):
            ev.get_event(target, event["id"], who)
    with pytest.raises(ev.EventNotFound):
        ev.transition(target, event["id"], "accept", OTHER)
    ev.transition(target, event["id"], "accept", WORKER)
    ev.transition(target, event["id"], "escalate", WORKER, department="市政局")
    assert ev.get_event(target, event["id"], DEPT)["actions"] == ["decline", "handle"]
    with pytest.raises(ev.EventNotFound):
        ev.get_event(target, event["id"], DEPT2)  # another department
    with pytest.raises(ev.EventForbidden) as err:
        ev.transition(target, event["id"], "handle", WORKER)  # escalated: the department's step
    assert err.value.status == 403
    assert ev.get_event(target, event["id"], WORKER)["actions"] == []
    with pytest.raises(ev.EventForbidden):
        ev.transition(target, event["id"], "accept", ev.ANONYMOUS)
    ev.transition(target, event["id"], "handle", DEPT)
    with pytest.raises(ev.EventForbidden):
        ev.transition(target, event["id"], "verify", DEPT)  # still sees it, may not verify
    own = _report(target, ds, key="key-by-li", reporter=OTHER)
    assert own["reporter"] == "li" and ev.get_event(target, own["id"], OTHER)["id"] == own["id"]


def test_history_is_append_only(city: tuple[str, Dataset]) -> None:
    target, ds = city
    _report(target, ds)
    for sql in ("UPDATE event_history SET note = 'x'", "DELETE FROM event_history"):
        with pytest.raises(Exception, match="append-only"), db.connect(target, ev._acc.SCHEMA) as conn:
            conn.execute(sql)
    assert _count(target, "SELECT COUNT(*) FROM event_history") == 1


def test_places_refused_and_other_crs(city: tuple[str, Dataset]) -> None:
    target, ds = city
    with pytest.raises(ev.EventLocationError) as err:
        _report(target, ds, x=98.0, y=39.0)
    assert err.value.status == 422 and "98.000000, 39.000000 is outside every grid" in err.value.message
    assert "nearest grid" in err.value.message
    assert "不在任何网格内" in messages.translate(err.value.key, err.value.message, "zh")
    with pytest.raises(ev.EventLocationError, match="does not resolve to one grid"):
        _report(target, ds, x=None, y=None, address="火星路99号")
    with pytest.raises(ev.EventError, match="give the place"):
        _report(target, ds, x=None, y=None)
    by_address = _report(target, ds, key="key-addr-1", x=None, y=None, address="嘉和小区1号楼")
    assert by_address["grid_code"] == GRID1 and by_address["address"] == "嘉和小区1号楼"
    for key, crs, (x, y) in (("key-gcj-1", "GCJ-02", wgs84_to_gcj02(*IN_GRID1)),
                             ("key-bd-1", "BD-09", wgs84_to_bd09(*IN_GRID1))):
        moved = _report(target, ds, key=key, x=x, y=y, crs=crs)
        assert moved["grid_code"] == GRID1
        assert abs(moved["lon"] - IN_GRID1[0]) < 1e-5 and abs(moved["lat"] - IN_GRID1[1]) < 1e-5
    assert _count(target, "SELECT COUNT(*) FROM events") == 3


BAD_INPUT = (
    ("phone", "12345", "not a mainland mobile number", "不是有效的大陆手机号"),
    ("category", "ufo", "unknown category", "未知的事件类别"),
    ("description", " \x00 ", "description is empty", "请填写事件描述"),
    ("description", "长" * 2001, "longer than 2000", "事件描述不能超过 2000 个字"),
    ("report_key", "short", "report_key", "report_key 须为"),
)


def test_bad_input_refused(city: tuple[str, Dataset]) -> None:
    target, ds = city
    for field, value, match, zh in BAD_INPUT:
        with pytest.raises(ev.EventError, match=match) as err:
            if field == "report_key":
                ev.report(target, ds, ev.ANONYMOUS, report_key=value, category="roads", description="x",
                          x=IN_GRID1[0], y=IN_GRID1[1])
            else:
                _report(target, ds, **{field: value})
        assert err.value.status == 400
        assert zh in messages.translate(err.value.key, err.value.message, "zh")
    assert _count(target, "SELECT COUNT(*) FROM events") == 0


def _jpeg_with_gps() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (39.0, 46.0, 21.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_photos_checked_by_content_and_stripped(city: tuple[str, Dataset]) -> None:
    from PIL import Image

    target, ds = city
    raw = _jpeg_with_gps()
    assert b"PhoneMaker" in raw
    event = _report(target, ds, photos=[raw])
    full = ev.get_event(target, event["id"], WORKER)
    assert len(full["photos"]) == 1 and full["photos"][0]["width"] == 64
    data, kind = ev.photo(target, event["id"], full["photos"][0]["seq"], WORKER)
    assert kind == "image/jpeg" and b"PhoneMaker" not in data and b"Exif" not in data
    assert not Image.open(io.BytesIO(data)).getexif()
    with pytest.raises(ev.EventNotFound):
        ev.photo(target, event["id"], full["photos"][0]["seq"], OTHER)
    with pytest.raises(ev.PhotoError, match="not a JPEG"):
        _report(target, ds, key="key-photo-2", photos=[b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
    with pytest.raises(ev.PhotoError, match="at most 4 photos"):
        _report(target, ds, key="key-photo-3", photos=[raw] * 5)
    png = io.BytesIO()
    Image.new("RGB", (64, 48)).save(png, "PNG")
    with pytest.raises(ev.PhotoError, match="not a readable image"):
        _report(target, ds, key="key-photo-4", photos=[png.getvalue()[:60]])
    assert _count(target, "SELECT COUNT(*) FROM event_photos") == 1


def test_deadlines_overdue_and_on_time_rate(city: tuple[str, Dataset]) -> None:
    target, ds = city
    late = _report(target, ds, key="key-late-1", category="safety")  # accept within 1 h
    quick = _report(target, ds, key="key-quick-1", category="safety")
    assert late["due"] == "2026-12-07T02:00:00.000000Z"
    later = T0 + timedelta(hours=3)
    assert [e["id"] for e in ev.list_events(target, WORKER, overdue=True, now=later)["events"]] == [
        quick["id"], late["id"]]
    for event, start in ((quick, T0), (late, later)):
        for i, action in enumerate(("accept", "handle", "verify", "close")):
            ev.transition(target, event["id"], action, WORKER, now=start + timedelta(minutes=10 * (i + 1)))
    assert ev.list_events(target, WORKER, overdue=True, now=later)["total"] == 0
    table = ev.frame(target, ADMIN, now=later)
    assert set(table.loc[table["late"], "id"]) == {late["id"]}
    row = ev.statistics(table, "category", period="day").iloc[0]
    assert (row["category"], row["period"], row["closed"], row["on_time_rate"]) == ("safety", "2026-12-07", 2, 0.5)
    assert row["p90_hours_to_close"] >= row["mean_hours_to_close"]
    shares = ev.grid_shares(table, ds).set_index("code")
    assert len(shares) == len(ds.grids) and shares.loc[GRID1, "closed_share"] == 1.0
    assert shares.loc[GRID2, "total"] == 0
    with pytest.raises(ev.EventError, match="unknown grouping"):
        ev.statistics(table, "street")


def test_categories_extend_from_city_metadata() -> None:
    cats = ev.categories({"event_categories": [
        {"code": "bus", "zh": "公交站点", "en": "Bus stops", "limits_hours": {"handle": 240}},
        {"code": "parking", "limits_hours": {"accept": 0.5}}]})
    assert cats["bus"].limits["handle"] == 240 and cats["bus"].zh == "公交站点"
    assert cats["parking"].limits["accept"] == 0.5 and cats["parking"].zh == "停车"
    assert {"sanitation", "roads", "parking", "property", "dispute", "safety", "service"} <= set(cats)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson"])
def test_export(city: tuple[str, Dataset], tmp_path: Path, fmt: str) -> None:
    import geopandas as gpd
    import pandas as pd

    target, ds = city
    _report(target, ds, phone="13900001234")
    out = ev.export(ev.frame(target, ADMIN), tmp_path / f"events.{fmt}")
    back = (pd.read_csv(out) if fmt == "csv" else pd.read_excel(out, engine="openpyxl") if fmt == "xlsx" else gpd.read_file(out))
    assert list(back["id"]) == ["E20261207-0001"] and "reporter_phone" not in back.columns
    assert "13900001234" not in out.read_bytes().decode("utf-8", "ignore")


def test_concurrent_reports_get_distinct_ids_and_one_event_per_key(city: tuple[str, Dataset]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    target, ds = city
    keys = [f"key-par-{i:03d}" for i in range(12)] + ["key-same-000"] * 6
    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(lambda k: _report(target, ds, key=k), keys))
    ids = {r["id"] for r in done}
    assert len(ids) == 13 and sum(r["new"] for r in done) == 13
    assert {r["id"] for r in done if r["description"]} == ids
    assert _count(target, "SELECT COUNT(*) FROM events") == 13
    assert sorted(ids) == [f"E20261207-{i:04d}" for i in range(1, 14)]
