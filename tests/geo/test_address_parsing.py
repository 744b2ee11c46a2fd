"""The address matcher's parsing and typo tolerance on small hand-made tables: 号院, generic endings,
homophones, aliases, the committee tie-break, placeholders and honest ambiguity."""

from __future__ import annotations

import pandas as pd
import pytest

from app.geo._address_parse import core_name, is_placeholder
from app.geo._address_streets import edit_penalty, pinyin_keys
from app.geo.address import OK_THRESHOLD, AddressMatcher, AddressPrefixes, normalize, results_frame
from app.geo.city import City

PREFIXES = AddressPrefixes.for_city(City(name="河湾市", province="某某省"), areas=["滨江街道"],
                                    committees=["阳光社区", "朝晖社区", "张家湾村"])


def _frame(rows: list[tuple[str, int, str, str]], aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Addresses from (street, number, kind, grid) rows, with an optional aliases column by street."""
    recs = []
    for i, (street, n, kind, grid) in enumerate(rows):
        rec = {"id": f"a{i}", "address": f"{street}{n}{'号楼' if kind == 'compound' else '号'}", "street": street,
               "number": n, "kind": kind, "grid_code": grid, "lon": 110.0 + i / 1000, "lat": 30.0}
        if aliases is not None:
            rec["aliases"] = aliases.get(street)
        recs.append(rec)
    return pd.DataFrame(recs)


ROWS = [
    *[("滨江路", n, "road", "G1") for n in (58, 60, 62)],
    *[("新华路", n, "road", "G2") for n in (10, 12, 14)],
    *[("福民花园", n, "compound", "G3") for n in range(1, 10)],
    *[("福民小区", n, "compound", "G4") for n in range(1, 13)],
    *[("阳光家园", n, "compound", "G5") for n in range(1, 6)],
    *[("长城路", n, "road", "G6") for n in (1, 3, 5)],
    *[("五一路", n, "road", "G7") for n in (2, 4)],
    *[("和平小区", n, "compound", "G8") for n in (1, 2)],
    *[("和平小区", n, "compound", "G9") for n in (3, 4)],
]
GRID_COMMITTEE = {"G1": "阳光社区", "G2": "阳光社区", "G3": "朝晖社区", "G4": "朝晖社区", "G5": "阳光社区",
                  "G6": "朝晖社区", "G7": "朝晖社区", "G8": "阳光社区", "G9": "朝晖社区"}


@pytest.fixture(scope="module")
def matcher() -> AddressMatcher:
    return AddressMatcher(_frame(ROWS), PREFIXES, GRID_COMMITTEE)


@pytest.mark.parametrize(("text", "expected"), [
    ("滨江路60号院", "滨江路60号"),
    ("滨江路六十号院3号楼2单元301室", "滨江路60号"),
    ("滨江路60号附3号", "滨江路60号"),
    ("滨江路60附3号2单元", "滨江路60号"),
    ("滨江路60号甲", "滨江路60号"),
    ("滨江路甲60号", "滨江路60号"),
    ("五一路二号", "五一路2号"),           # the numeral of the number is converted, the one of the name kept
    ("第十一住宅区三栋", "第十一住宅区3号楼"),
])
def test_house_number_forms(text: str, expected: str) -> None:
    assert normalize(text, PREFIXES) == expected


@pytest.mark.parametrize("text", ["滨江路60号院", "滨江路六十号院", "某某省河湾市滨江路60号院2单元", "滨江路60号附2号",
                                  "滨江路甲60号"])
def test_yard_and_annex_find_the_number(matcher: AddressMatcher, text: str) -> None:
    res = matcher.match(text)
    assert (res.status, res.matched_address, res.match_kind) == ("ok", "滨江路60号", "normalised")


def test_generic_ending_added_finds_the_standard_name(matcher: AddressMatcher) -> None:
    res = matcher.match("福民花园小区9号楼")  # the standard name is 福民花园; 福民小区 has a No. 9 too
    assert (res.status, res.matched_address, res.match_kind) == ("ok", "福民花园9号楼", "normalised")
    assert res.best.grid_code == "G3"
    res = matcher.match("福民花园小区12号楼")  # 福民花园 has no No. 12: never 福民小区12号楼 instead
    assert res.status == "not_found" and res.best is None
    res = matcher.match("福民9号楼")  # no ending: 福民花园 or 福民小区
    assert res.status == "ambiguous"
    assert {c.address for c in res.candidates[:2]} == {"福民花园9号楼", "福民小区9号楼"}
    assert matcher.match("阳光家园小区3栋").matched_address == "阳光家园3号楼"


@pytest.mark.parametrize(("text", "expected"), [
    ("滨疆路58号", "滨江路58号"),      # homophone (jiang)
    ("宾江路58号", "滨江路58号"),      # homophone (bin)
    ("新化路12号", "新华路12号"),      # homophone (hua)
    ("常城路3号", "长城路3号"),        # 常 chang: one of 长's readings
    ("长成路3号", "长城路3号"),        # near-homophone in the own part? cheng/cheng: the same
    ("五衣路4号", "五一路4号"),        # the name's numeral, typed as a homophone
    ("福民花圆3号楼", "福民花园3号楼"),  # homophone in the ending
    ("福敏花园3号楼", "福民花园3号楼"),  # near-homophone min/min
    ("江滨路60号", None),              # swapped: 滨江路 (every character there) but 江滨 could be a road of its own
])
def test_homophones_and_typing_errors(matcher: AddressMatcher, text: str, expected: str | None) -> None:
    res = matcher.match(text)
    if expected is None:
        assert res.candidates[0].address == "滨江路60号"
        return
    assert (res.status, res.matched_address, res.match_kind) == ("ok", expected, "fuzzy")
    assert OK_THRESHOLD <= res.score < 100


def test_a_random_character_in_a_short_name_is_not_ok(matcher: AddressMatcher) -> None:
    res = matcher.match("新x路12号")  # x: nothing like 华
    assert res.status == "not_found" and res.candidates[0].address == "新华路12号"
    assert res.score < OK_THRESHOLD


@pytest.mark.parametrize("text", ["新华南路12号", "新华东路12号", "新南路12号"])
def test_a_direction_makes_another_road(matcher: AddressMatcher, text: str) -> None:
    res = matcher.match(text)  # 新华南路 is not a typo of 新华路 but a road the table does not have
    assert res.status != "ok"


def test_missing_number_on_street_is_never_a_neighbour(matcher: AddressMatcher) -> None:
    res = matcher.match("滨江路61号")
    assert res.status == "not_found" and res.matched_address is None
    assert {c.address for c in res.candidates[:2]} == {"滨江路60号", "滨江路62号"}


def test_committee_breaks_a_tie(matcher: AddressMatcher) -> None:
    assert matcher.match("福民9号楼").status == "ambiguous"
    res = matcher.match("朝晖社区福民3号楼")  # both compounds are in 朝晖社区: still a tie
    assert res.status == "ambiguous"
    res = matcher.match("阳光社区和平小区3号楼")  # building 3 is in a grid of 朝晖社区: the text's committee is wrong
    assert res.status == "ok" and res.matched_address == "和平小区3号楼"
    two = _frame([("福民花园", 1, "compound", "G3"), ("福民小区", 1, "compound", "G5")])
    m = AddressMatcher(two, PREFIXES, GRID_COMMITTEE)
    assert m.match("福民1号楼").status == "ambiguous"
    res = m.match("阳光社区福民1号楼")
    assert (res.status, res.matched_address) == ("ok", "福民小区1号楼")
    res = m.match("朝晖社区居委会福民1栋")
    assert (res.status, res.matched_address) == ("ok", "福民花园1号楼")
    assert AddressMatcher(two, PREFIXES).match("阳光社区福民1号楼").status == "ambiguous"  # no committee info


def test_aliases_are_the_street(tmp_path) -> None:
    df = _frame([("新华路", 12, "road", "G1"), ("新华路", 14, "road", "G1"), ("人民路", 12, "road", "G2")],
                aliases={"新华路": "解放路|老新华街"})
    m = AddressMatcher(df, PREFIXES)
    for text in ("解放路12号", "某某省河湾市解放路十二号", "老新华街14号", "新华路12号"):
        res = m.match(text)
        assert res.status == "ok" and res.best.grid_code == "G1", text
        assert res.matched_address in ("新华路12号", "新华路14号")
    assert m.match("解放路12号").match_kind == "normalised"
    assert m.match("解放路13号").status == "not_found"
    assert m.match("解方路12号").matched_address == "新华路12号"  # a homophone of the alias
    assert AddressMatcher(df.drop(columns="aliases"), PREFIXES).match("解放路12号").status == "not_found"


@pytest.mark.parametrize("text", ["无", "不详", "未知", "空", "暂无", "N/A", "null", "12号", "3栋2单元301", "地址不详"])
def test_texts_without_an_address_get_no_suggestion(matcher: AddressMatcher, text: str) -> None:
    assert is_placeholder(text)
    res = matcher.match(text)
    assert (res.status, res.candidates, res.match_kind, res.score, res.matched_address) == (
        "not_found", (), "not_found", 0.0, None)


@pytest.mark.parametrize("text", ["", "  ", "，。", "——"])
def test_empty_texts_are_invalid(matcher: AddressMatcher, text: str) -> None:
    res = matcher.match(text)
    assert (res.status, res.candidates, res.match_kind) == ("invalid", (), "not_found")


def test_exact_and_results_frame(matcher: AddressMatcher) -> None:
    many = matcher.match_many(["滨江路60号", "滨江路六十号院", "滨疆路60号", "福民9号楼", "不详", ""])
    assert [r.match_kind for r in many] == ["exact", "normalised", "fuzzy", "ambiguous", "not_found", "not_found"]
    frame = results_frame(many)
    assert {"matched_address", "match_kind", "score"} <= set(frame.columns)
    assert list(frame["match_kind"]) == [r.match_kind for r in many]
    assert frame.loc[0, "score"] == 100 and frame.loc[4, "score"] == 0
    assert frame.loc[3, "matched_address"] == "" and "福民" in frame.loc[3, "suggestions"]
    assert [r.to_dict()["match_kind"] for r in many] == list(frame["match_kind"])


def test_helpers() -> None:
    assert core_name("福民花园小区") == core_name("福民花园") == core_name("福民") == "福民"
    assert core_name("新华路") == "新华路"
    assert pinyin_keys("阳光小区")[0] == pinyin_keys("杨光小区")[0] == "yang guang xiao qu"
    assert pinyin_keys("张家湾")[1] == pinyin_keys("赞家湾")[1]  # zh/z folded
    assert pinyin_keys("第21住宅区")[0] == pinyin_keys("第二十姨住宅区")[0]
    assert edit_penalty("新花路", "新华路") < edit_penalty("和万小区", "万和小区") < edit_penalty("兰杨路", "兰新路")


def test_the_dataset_gives_the_matcher_its_grid_committees(ds) -> None:
    m = ds.address_matcher
    grids, coms = ds.grids, ds.layer("committees")
    assert m.grid_committee and set(m.grid_committee) <= set(grids["code"])
    assert set(m.grid_committee.values()) <= set(coms["name"])
    row = ds.layer("addresses").iloc[0]
    res = m.match(f"{m.grid_committee[row['grid_code']]}{row['address']}")
    assert res.status == "ok" and res.matched_address == row["address"]
