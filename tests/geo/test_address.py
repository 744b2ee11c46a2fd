"""Tests for app.geo.address: normalisation and matching against a small address table."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from app.geo._demo_plan import FULL
from app.geo.address import OK_THRESHOLD, AddressMatcher, AddressPrefixes, normalize, parse, results_frame
from app.geo.city import City
from app.geo.demo import DEMO_CITY

#: The demo city's prefixes, as Dataset.address_matcher builds them from its city and its layers.
DEMO = AddressPrefixes.for_city(DEMO_CITY, areas=[d.name for d in FULL.divisions],
                                committees=[c for d in FULL.divisions for c in d.committees])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # full-width to half-width, spaces and punctuation
        ("新华路３号", "新华路3号"),
        ("新华路１２号", "新华路12号"),
        ("新华路 12 号", "新华路12号"),
        ("新华路，12号。", "新华路12号"),
        ("新华路·12号、", "新华路12号"),
        ("ABC路5号", "abc路5号"),
        # Chinese numerals
        ("新华路十二号", "新华路12号"),
        ("新华路十号", "新华路10号"),
        ("阳光小区二十三号楼", "阳光小区23号楼"),
        ("新华路一〇五号", "新华路105号"),
        ("新华路一百零五号", "新华路105号"),
        ("新华路两百号", "新华路200号"),
        ("阳光小区三栋二单元三〇一室", "阳光小区3号楼"),
        # prefixes
        ("甘肃省嘉峪关市雄关街道新华路12号", "新华路12号"),
        ("甘肃嘉峪关钢城街道新华路12号", "新华路12号"),
        ("嘉峪关市新城镇新华路12号", "新华路12号"),
        ("嘉峪关新华路12号", "新华路12号"),
        ("峪泉镇新华路12号", "新华路12号"),
        ("文殊镇新华路12号", "新华路12号"),
        ("嘉峪关市雄关街道朝晖社区阳光小区3号楼", "阳光小区3号楼"),
        ("朝晖社区居委会阳光小区3号楼", "阳光小区3号楼"),
        ("河口村委会河口村5号", "河口村5号"),
        # names that look like prefixes are kept
        ("嘉峪关村12号", "嘉峪关村12号"),
        ("嘉峪关市嘉峪关村12号", "嘉峪关村12号"),
        ("建设社区3号楼", "建设社区3号楼"),
        ("雄关街道", "雄关街道"),
        # building suffixes
        ("阳光小区3栋", "阳光小区3号楼"),
        ("阳光小区3幢", "阳光小区3号楼"),
        ("阳光小区3座", "阳光小区3号楼"),
        ("阳光小区3号楼", "阳光小区3号楼"),
        ("阳光小区3#楼", "阳光小区3号楼"),
        ("阳光小区3#", "阳光小区3号楼"),
        ("阳光小区３＃", "阳光小区3号楼"),
        # unit and room parts
        ("阳光小区3号楼2单元301室", "阳光小区3号楼"),
        ("阳光小区3号楼2单元", "阳光小区3号楼"),
        ("阳光小区3号楼301室", "阳光小区3号楼"),
        ("阳光小区3号楼1单元502", "阳光小区3号楼"),
        ("新华路12号301号房", "新华路12号"),
        ("阳光小区3-2-301", "阳光小区3"),
        ("阳光小区3栋－2－301", "阳光小区3号楼"),
        # nothing left
        ("", ""),
        ("  ，。 ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text, DEMO) == expected


def test_normalize_is_idempotent() -> None:
    for text in ("甘肃省嘉峪关市雄关街道阳光小区三栋2单元301室", "嘉峪关村十二号", "新华路12号楼"):
        once = normalize(text, DEMO)
        assert normalize(once, DEMO) == once


def test_parse() -> None:
    assert parse("新华路12号") == ("新华路", 12, "号")
    assert parse("阳光小区3号楼") == ("阳光小区", 3, "号楼")
    assert parse("51路7号") == ("51路", 7, "号")
    assert parse("阳光小区3") == ("阳光小区", 3, "")
    assert parse("阳光小区") == ("阳光小区", None, "")


def _table() -> gpd.GeoDataFrame:
    rows = []
    for n in (2, 4, 6, 8, 10, 12, 14, 20):
        rows.append(("新华路", n, "road"))
    for n in (1, 3, 5, 7, 12):
        rows.append(("新民路", n, "road"))
    for n in (12, 14):
        rows.append(("胜利路", n, "road"))
    for n in range(1, 9):
        rows.append(("阳光小区", n, "compound"))
    for n in (1, 2):
        rows.append(("西域花园小区", n, "compound"))
    for n in (5, 6):
        rows.append(("嘉峪关村", n, "road"))
    recs = []
    for i, (street, n, kind) in enumerate(rows):
        suffix = "号楼" if kind == "compound" else "号"
        recs.append({"id": f"A{i:06d}", "address": f"{street}{n}{suffix}", "street": street, "number": n,
                     "kind": kind, "grid_code": f"620201001001{i % 3:03d}",
                     "geometry": Point(98.28 + i * 0.001, 39.77)})
    return gpd.GeoDataFrame(recs, geometry="geometry", crs="EPSG:4326")


@pytest.fixture(scope="module")
def matcher() -> AddressMatcher:
    return AddressMatcher(_table(), DEMO)


@pytest.mark.parametrize(
    "text",
    ["新华路12号", "甘肃省嘉峪关市雄关街道新华路十二号2单元301室", "新华路１２号", "嘉峪关新华路12号 301室"],
)
def test_exact_road(matcher: AddressMatcher, text: str) -> None:
    res = matcher.match(text)
    assert res.status == "ok"
    best = res.best
    assert best is not None
    assert best.address == "新华路12号"
    assert best.score == 100
    assert best.id and best.grid_code.startswith("620201001001")
    assert best.lon == pytest.approx(98.285) and best.lat == pytest.approx(39.77)


@pytest.mark.parametrize(
    "text", ["阳光小区3号楼", "阳光小区3栋", "阳光小区三幢", "阳光小区3座2单元", "朝晖社区阳光小区3#楼1单元502"]
)
def test_exact_compound_variants(matcher: AddressMatcher, text: str) -> None:
    res = matcher.match(text)
    assert res.status == "ok"
    assert res.candidates[0].address == "阳光小区3号楼"
    assert res.candidates[0].score == 100


def test_bare_city_name_before_street(matcher: AddressMatcher) -> None:
    # 嘉峪关 followed by 西 is kept by normalize (it could start a name like 嘉峪关西路) ...
    assert normalize("嘉峪关西域花园小区1栋", DEMO) == "嘉峪关西域花园小区1号楼"
    # ... but the matcher drops it when the rest is a known street
    res = matcher.match("嘉峪关西域花园小区1栋")
    assert res.status == "ok" and res.candidates[0].address == "西域花园小区1号楼"
    assert res.candidates[0].score == 100


def test_village_name_kept(matcher: AddressMatcher) -> None:
    res = matcher.match("嘉峪关市嘉峪关村5号")
    assert res.status == "ok"
    assert res.candidates[0].address == "嘉峪关村5号"


def test_wrong_suffix(matcher: AddressMatcher) -> None:
    road = matcher.match("新华路12号楼")
    assert road.status == "ok"
    assert road.candidates[0].address == "新华路12号"
    assert OK_THRESHOLD <= road.candidates[0].score < 100
    compound = matcher.match("阳光小区3号")
    assert compound.status == "ok" and compound.candidates[0].address == "阳光小区3号楼"
    no_suffix = matcher.match("阳光小区3-2-301")
    assert no_suffix.status == "ok" and no_suffix.candidates[0].address == "阳光小区3号楼"


def test_fuzzy_street_typo(matcher: AddressMatcher) -> None:
    res = matcher.match("阳光小去3号楼")
    assert res.status == "ok"
    assert res.candidates[0].address == "阳光小区3号楼"
    assert OK_THRESHOLD <= res.candidates[0].score < 100
    res = matcher.match("西域花园小3号楼")  # no building 3: street found, nearest buildings suggested
    assert res.status == "not_found"
    assert res.candidates[0].address.startswith("西域花园小区")


def test_ambiguous_typo_is_not_ok(matcher: AddressMatcher) -> None:
    res = matcher.match("新x路12号")  # one edit from both 新华路 and 新民路, and both have a No. 12
    assert res.status == "ambiguous" and res.match_kind == "ambiguous"
    assert res.matched_address is None and res.best is None
    assert {c.address for c in res.candidates[:2]} == {"新华路12号", "新民路12号"}
    assert res.candidates[0].score == res.candidates[1].score  # a non-phonetic edit in a two-character name: weak
    res = matcher.match("新x路3号")  # only 新民路 has a No. 3, but one random character of two is too little
    assert res.status == "not_found" and res.candidates[0].address == "新民路3号"
    res = matcher.match("新敏路3号")  # 敏 sounds like 民 (min): what a pinyin IME gives
    assert res.status == "ok" and res.candidates[0].address == "新民路3号" and res.match_kind == "fuzzy"


def test_junk_before_known_street(matcher: AddressMatcher) -> None:
    res = matcher.match("某某单位家属院阳光小区5号楼")
    assert res.candidates[0].address == "阳光小区5号楼"
    assert res.status == "ok"


def test_not_found_with_suggestions(matcher: AddressMatcher) -> None:
    res = matcher.match("新华路13号")
    assert res.status == "not_found"
    addrs = [c.address for c in res.candidates]
    assert set(addrs[:2]) == {"新华路12号", "新华路14号"}
    assert all(c.score < OK_THRESHOLD for c in res.candidates)
    assert [c.score for c in res.candidates] == sorted((c.score for c in res.candidates), reverse=True)
    assert len(res.candidates) <= 5
    assert len(matcher.match("新华路13号", limit=2).candidates) == 2


def test_unknown_street(matcher: AddressMatcher) -> None:
    res = matcher.match("完全不同大街99号")
    assert res.status == "not_found"
    assert all(c.score < 60 for c in res.candidates)


def test_street_without_number(matcher: AddressMatcher) -> None:
    res = matcher.match("阳光小区")
    assert res.status == "not_found"
    assert res.candidates and all(c.address.startswith("阳光小区") for c in res.candidates)


@pytest.mark.parametrize("text", ["", "   ", "，。、", None])
def test_invalid(matcher: AddressMatcher, text: str | None) -> None:
    res = matcher.match(text)  # type: ignore[arg-type]
    assert res.status == "invalid"
    assert res.candidates == ()


def test_match_many_matches_match(matcher: AddressMatcher) -> None:
    texts = ["新华路12号", "阳光小区3栋", "新华路13号", "", "新华路12号", "完全不同大街99号", None, float("nan")]
    many = matcher.match_many(texts)
    assert [r.status for r in many] == ["ok", "ok", "not_found", "invalid", "ok", "not_found", "invalid", "invalid"]
    for text, r in zip(texts[:6], many[:6], strict=True):
        assert r == matcher.match(text)
    frame = results_frame(many)
    assert list(frame["status"]) == [r.status for r in many]
    assert frame.loc[0, "matched_address"] == "新华路12号"
    assert "新华路12号" in frame.loc[2, "suggestions"]


def test_to_dict(matcher: AddressMatcher) -> None:
    d = matcher.match("新华路12号").to_dict()
    assert d["status"] == "ok"
    assert (d["matched_address"], d["match_kind"], d["score"]) == ("新华路12号", "exact", 100.0)
    d = matcher.match("新华路十二号").to_dict()
    assert (d["matched_address"], d["match_kind"], d["score"]) == ("新华路12号", "normalised", 100.0)
    d = matcher.match("新华路13号").to_dict()
    assert (d["matched_address"], d["match_kind"]) == (None, "not_found") and 0 < d["score"] < OK_THRESHOLD
    assert d["candidates"][0]["address"] == "新华路12号"
    assert set(d["candidates"][0]) == {"address", "score", "id", "grid_code", "lon", "lat"}


def test_plain_dataframe_with_lon_lat() -> None:
    df = pd.DataFrame({"id": ["a", "b"], "address": ["嘉峪关市新华路1号", "胜利路2号"],
                       "grid_code": ["1", "2"], "lon": ["98.1", "98.2"], "lat": [39.1, 39.2]})
    m = AddressMatcher(df, DEMO)
    assert len(m) == 2
    res = m.match("新华路一号")
    assert res.status == "ok"
    assert (res.best.id, res.best.lon, res.best.lat) == ("a", 98.1, 39.1)


def test_long_input_is_capped(matcher: AddressMatcher) -> None:
    text = "新华路12号" + "1-" * 5000 + "x"
    assert len(normalize(text, DEMO)) <= 200
    assert matcher.match(text).status == "not_found"


# -- other cities ------------------------------------------------------------------------------------

LANZHOU = AddressPrefixes.for_city(City(name="兰州市", name_en="Lanzhou", province="甘肃省",
                                        districts=("城关区", "七里河区", "西固区", "安宁区")),
                                   areas=["张掖路街道", "酒泉路街道"], committees=["南关社区", "东岗村"])


@pytest.mark.parametrize(("text", "expected"), [
    ("甘肃省兰州市城关区张掖路街道南关社区庆阳路12号", "庆阳路12号"),
    ("兰州市城关区庆阳路12号", "庆阳路12号"),
    ("兰州城关区庆阳路十二号", "庆阳路12号"),
    ("甘肃兰州七里河区西津西路3号", "西津西路3号"),
    ("酒泉路街道东岗村新村5号", "新村5号"),
    ("东岗村5号", "东岗村5号"),            # a village name before a number is the address itself
    ("东岗村委会东岗村5号", "东岗村5号"),
    ("兰州路7号", "兰州路7号"),            # the bare short name starts a longer name: kept
    ("兰州市兰州路7号", "兰州路7号"),
    ("嘉峪关市新华路12号", "嘉峪关市新华路12号"),  # another city's name is no prefix here
    ("雄关街道新华路12号", "雄关街道新华路12号"),
])
def test_another_chinese_city_drops_its_own_prefixes(text: str, expected: str) -> None:
    assert normalize(text, LANZHOU) == expected


def test_lanzhou_matcher_finds_prefixed_addresses() -> None:
    df = pd.DataFrame({"id": ["a", "b"], "address": ["庆阳路12号", "兰州路7号"], "grid_code": ["G1", "G2"],
                       "lon": [103.83, 103.84], "lat": [36.06, 36.07]})
    m = AddressMatcher(df, LANZHOU)
    assert m.match("甘肃省兰州市城关区庆阳路十二号301室").best.id == "a"
    assert m.match("兰州兰州路7号").best.id == "b"
    assert m.match("兰州市城关区兰州路7号").best.id == "b"


def test_no_city_drops_no_city_prefix() -> None:
    for prefixes in (None, AddressPrefixes(), AddressPrefixes.for_city(City())):
        assert normalize("甘肃省嘉峪关市雄关街道新华路12号", prefixes) == "甘肃省嘉峪关市雄关街道新华路12号"
        assert normalize("嘉峪关新华路12号", prefixes) == "嘉峪关新华路12号"
        # the committee rule every city shares stays
        assert normalize("朝晖社区居委会阳光小区3号楼", prefixes) == "阳光小区3号楼"
        assert normalize("建设社区3号楼", prefixes) == "建设社区3号楼"


def test_an_english_named_city_has_no_prefixes() -> None:
    city = City(name_en="Riverton", code_scheme="free", metric_crs="EPSG:32633")
    prefixes = AddressPrefixes.for_city(city)
    assert prefixes.patterns == AddressPrefixes().patterns
    assert normalize("Riverton Main Street 12", prefixes) == "rivertonmainstreet12"
    df = pd.DataFrame({"id": ["a"], "address": ["Main Street 12"], "grid_code": ["G1"], "lon": [15.0], "lat": [50.0]})
    m = AddressMatcher(df, prefixes)
    assert m.match("main street 12").best.id == "a"
    assert m.match("MAIN STREET 12").status == "ok"


def test_the_dataset_builds_prefixes_from_its_city_and_layers(ds) -> None:
    p = ds.address_matcher.prefixes
    assert (p.province, p.city, p.short_name) == ("甘肃省", "嘉峪关市", "嘉峪关")
    assert {"雄关区", "雄关街道", "文殊镇"} <= set(p.areas)
    assert {"建设社区", "朝晖社区", "河口村"} == set(p.committees)
    addresses = ds.layer("addresses")
    street, number = addresses["street"].iloc[0], int(addresses["number"].iloc[0])
    kind = addresses["kind"].iloc[0]
    text = f"甘肃省嘉峪关市雄关街道{street}{number}{'栋' if kind == 'compound' else '号'}"
    res = ds.address_matcher.match(text)
    assert res.status == "ok" and res.best.address == addresses["address"].iloc[0]


def test_the_dataset_of_another_city_uses_its_own_names(tmp_path) -> None:
    import json

    from app.geo.dataset import Dataset
    from app.geo.geojson_store import FolderStore
    from tests import helpers

    folder = helpers.copy_mini(tmp_path / "city")
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    meta["city"] = City(name="河湾市", province="某某省", districts=("河东区",)).to_metadata()
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    ds = Dataset(FolderStore(folder))
    p = ds.address_matcher.prefixes
    assert (p.province, p.city, p.short_name) == ("某某省", "河湾市", "河湾")
    assert "河东区" in p.areas and "雄关区" not in p.areas and "雄关街道" in p.areas  # the layer's divisions
    assert normalize("某某省河湾市河东区雄关街道新华路12号", p) == "新华路12号"
    assert normalize("甘肃省嘉峪关市新华路12号", p) == "甘肃省嘉峪关市新华路12号"
