"""Search for everything on the mini city: each kind, codes, pinyin initials, ranking and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from app.geo import mapdata, search
from app.geo.dataset import Dataset


def _first(ds: Dataset, q: str, kind: str) -> dict:
    hits = [r for r in search.search(ds, q, 20) if r["kind"] == kind]
    assert hits, (q, kind)
    return hits[0]


def test_each_kind_is_found_by_name(ds: Dataset) -> None:
    div = ds.layer("divisions").iloc[0]
    com = ds.layer("committees").iloc[1]
    grid = ds.grids.iloc[3]
    fac = ds.layer("facilities").iloc[0]
    top = search.search(ds, div["name"], 5)[0]
    assert (top["kind"], top["code"], top["score"]) == ("division", div["code"], 98.0)
    assert top["bbox"] is not None and top["bbox"][0] <= top["lon"] <= top["bbox"][2]
    assert search.search(ds, com["name"], 5)[0]["code"] == com["code"]
    g = search.search(ds, grid["name"], 5)[0]
    assert (g["kind"], g["code"], g["detail"]) == ("grid", grid["code"],
                                                   ds.layer("committees").set_index("code").loc[
                                                       grid["committee_code"], "name"])
    f = _first(ds, fac["name"], "facility")
    assert f["code"] == fac["id"] and f["bbox"] is None and f["detail"] == fac["category"]


def test_an_address_comes_from_the_address_matcher(ds: Dataset) -> None:
    addr = ds.layer("addresses").iloc[5]
    hit = _first(ds, addr["address"], "address")
    assert hit["name"] == addr["address"] and hit["detail"] == addr["grid_code"]
    assert hit["score"] >= search.ADDRESS_MIN_SCORE


def test_codes_and_pinyin_initials(ds: Dataset) -> None:
    grid = ds.grids.iloc[0]
    assert search.search(ds, grid["code"], 3)[0]["code"] == grid["code"]
    # a code prefix lists the division first (ties go to the larger unit), then its committees
    prefix = search.search(ds, grid["code"][:9], 5)
    assert prefix[0]["kind"] == "division" and prefix[0]["code"] == grid["code"][:9]
    com = ds.layer("committees").iloc[0]  # 建设社区 -> jssq
    ini = search.initials([com["name"]])[0]
    assert ini == "jssq"
    top = search.search(ds, ini.upper(), 5)
    assert top[0]["kind"] == "committee" and top[0]["name"] == com["name"]
    assert all(r["name"].startswith(com["name"]) for r in top)  # then its grids (jssqd1wg...)


def test_ranking_exact_before_prefix_before_contains(ds: Dataset) -> None:
    com = ds.layer("committees").iloc[0]["name"]
    rows = search.search(ds, com, 10)
    assert rows[0]["name"] == com and rows[0]["kind"] == "committee"
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["name"].startswith(com) for r in rows[1:] if r["kind"] == "grid")


def test_no_match_and_gcj02(ds: Dataset) -> None:
    assert search.search(ds, "zzzzqqq", 5) == []
    wgs = search.search(ds, ds.grids.iloc[0]["code"], 1)[0]
    gcj = search.search(ds, ds.grids.iloc[0]["code"], 1, datum="gcj02")[0]
    lon, lat = mapdata.shift_xy(np.array([wgs["lon"]]), np.array([wgs["lat"]]), "gcj02")
    assert (gcj["lon"], gcj["lat"]) == pytest.approx((lon[0], lat[0]))
    assert (gcj["lon"], gcj["lat"]) != pytest.approx((wgs["lon"], wgs["lat"]), abs=1e-4)


@pytest.mark.parametrize(("q", "limit"), [("", 5), ("   ", 5), ("a" * 101, 5), ("建设", 0), ("建设", 51)])
def test_bad_queries_are_refused(ds: Dataset, q: str, limit: int) -> None:
    with pytest.raises(search.SearchError) as err:
        search.search(ds, q, limit)
    assert err.value.status == 400 and err.value.key == "search"


def test_a_large_gazetteer_is_built_in_the_background(ds: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ADDRESS_SYNC_MAX addresses the first search does not wait for the matcher: it lists the
    other kinds at once, and the addresses once the background build is done."""
    import threading

    from app.geo.address import AddressMatcher

    fresh = Dataset(ds.store)
    release = threading.Event()
    build = AddressMatcher._build

    def slow_build(self: AddressMatcher) -> None:
        release.wait(30)
        build(self)

    monkeypatch.setattr(AddressMatcher, "_build", slow_build)
    monkeypatch.setattr(search, "ADDRESS_SYNC_MAX", 0)
    addr = fresh.layer("addresses").iloc[5]["address"]
    grid = fresh.grids.iloc[3]
    assert [r["kind"] for r in search.search(fresh, addr, 20, address_wait=0)].count("address") == 0
    assert search.search(fresh, grid["name"], 5, address_wait=0)[0]["code"] == grid["code"]
    assert fresh.address_matcher_ready(0) is None
    release.set()
    assert any(r["kind"] == "address" and r["name"] == addr for r in search.search(fresh, addr, 20, address_wait=30))
    assert fresh.address_matcher_ready(0) is fresh.address_matcher


def test_warm_reads_only_the_first_views_layers(ds: Dataset) -> None:
    from app.geo.dataset import WARM_LAYERS

    fresh = Dataset(ds.store)
    fresh.warm()
    assert set(fresh._layers) == set(WARM_LAYERS) & set(ds.store.layer_names())
    assert "address_matcher" not in fresh.__dict__ and not fresh.cache



def test_pinyin_table_answers_as_pypinyin_does() -> None:
    """The compact character table gives pypinyin's own answer for every character it knows (and the rest)."""
    from pypinyin import Style, lazy_pinyin, pinyin
    from pypinyin.constants import PINYIN_DICT

    from app.geo import _pinyin

    t = _pinyin.table()
    chars = [chr(c) for c in sorted(PINYIN_DICT)]
    usual = lazy_pinyin(chars, errors="default")  # a list: each character read on its own
    first = lazy_pinyin(chars, style=Style.FIRST_LETTER)
    every = pinyin(chars, style=Style.NORMAL, heteronym=True, errors="default")
    assert len(t) == len(chars)
    assert [t.primary(c) for c in chars] == usual
    assert [t.first_letter(c) for c in chars] == first
    assert [t.readings(c) for c in chars] == [frozenset(e) for e in every]
    for ch in ("a", "Z", "1", " ", "，", "〇", "\U0001f600", "\u4dff"):  # not in the table: the character itself
        assert t.primary(ch) == lazy_pinyin(ch, errors="default")[0]
        assert t.readings(ch) == frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True, errors="default")[0])
        assert t.first_letter(ch) == (lazy_pinyin(ch, style=Style.FIRST_LETTER) or [ch])[0]
    names = ["长城社区", "重庆路", "朝阳街道", "银行家园", "XG社区1号"]
    assert _pinyin.phrase_initials([names]) == [["".join(lazy_pinyin(n, style=Style.FIRST_LETTER)) for n in names]]


def test_search_never_loads_pypinyin_in_the_process() -> None:
    """Initials and sound-alike addresses come from a child process: pypinyin's ~55 MB stay out of a server."""
    import subprocess
    import sys

    from tests import helpers

    code = ("import sys; from app.geo.dataset import Dataset; from app.geo._geojson_folder import FolderStore;"
            "from app.geo import search; ds = Dataset(FolderStore(sys.argv[1]));"
            "hits = search.search(ds, 'jssq', 3) + search.search(ds, '建设社区', 3);"
            "print(hits[0]['name'], 'pypinyin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(helpers.MINI)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["建设社区", "False"]
