"""Seeded address variants typed as grid staff do, with their true answer, and the cities to draw them from."""

from __future__ import annotations

import contextlib
import functools
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.geo.address import AddressMatcher, AddressPrefixes, MatchResult, normalize, parse
from app.geo.city import City

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"

#: Variant kinds that name an existing address as grid staff type it (the right answer is ``ok`` with
#: that address). ``wrong_char`` is one wrong character as a pinyin IME gives it (a character sharing
#: the pinyin initial or final: a wrong pick from the candidate list).
FOUND_KINDS = (
    "clean", "yard", "extra_suffix", "wrong_char", "homophone", "near_homophone", "missing_char", "extra_char",
    "swapped", "no_hao", "cn_numeral", "building_word", "unit_room", "committee", "spaces", "full_width",
    "prefixes", "annex",
)
#: A stress kind reported on its own: one wrong character that neither sounds nor looks like the right
#: one (any common character). In a two-character name it cannot be told from another street that is
#: not in the table, so the matcher answers it ``ok`` only when the name has more to go on.
STRESS_KINDS = ("random_char",)
#: Variant kinds that name no existing address (any ``ok`` answer is wrong).
ABSENT_KINDS = ("absent_number", "unknown_street", "placeholder")
KINDS = FOUND_KINDS + STRESS_KINDS + ABSENT_KINDS

_CN = "零一二三四五六七八九"
_NUMERALS = set("零〇一二两三四五六七八九十百千")
_FULL = str.maketrans("0123456789#", "０１２３４５６７８９＃")
_GENERIC = ("小区", "花园", "家园", "苑", "新村", "公寓")
_PLACEHOLDERS = ("无", "不详", "未知", "空", "", "  ", "——", "暂无", "/", "？", "地址不详", "N/A")
_ROOMS = ("2单元301室", "1单元502", "-2-301", "301室", "3单元", "102号房", "二单元三〇一")
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("l", "n"), ("z", "zh"), ("c", "ch"), ("s", "sh"))
_FINALS = (("ang", "an"), ("an", "ang"), ("eng", "en"), ("en", "eng"), ("ing", "in"), ("in", "ing"))


@dataclass(frozen=True)
class Variant:
    """One query: its text, its kind, and the true address and grid (None for kinds that name no address)."""

    text: str
    kind: str
    address: str | None
    grid_code: str | None


@dataclass
class City_:
    """An address table with what the matcher needs: prefixes, grid committees, and per row street/number/kind."""

    name: str
    addresses: gpd.GeoDataFrame
    prefixes: AddressPrefixes
    grid_committee: dict[str, str]
    areas: tuple[str, ...]

    def matcher(self) -> AddressMatcher:
        """A matcher over this city's addresses, built as the dataset builds it."""
        return AddressMatcher(self.addresses, self.prefixes, self.grid_committee)


def _chinese(n: int, rng: random.Random) -> str:
    """A house number in Chinese numerals, positional (十二) or digit by digit (一〇五)."""
    if n >= 100 and rng.random() < 0.5:
        return "".join("〇" if d == "0" else _CN[int(d)] for d in str(n))
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    if n < 1000:
        h, rest = divmod(n, 100)
        tail = "" if rest == 0 else ("零" + _CN[rest]) if rest < 10 else _chinese(rest, rng)
        return _CN[h] + "百" + tail
    return str(n)


@functools.cache
def _common_chars() -> tuple[str, ...]:
    """The 3,755 level-1 characters of GB 2312: the common characters an IME offers first."""
    out = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                out.append(bytes((hi, lo)).decode("gb2312"))
    return tuple(out)


@functools.cache
def _by_pinyin() -> dict[str, tuple[str, ...]]:
    """Common characters by toneless pinyin."""
    from pypinyin import lazy_pinyin

    table: dict[str, list[str]] = {}
    for ch in _common_chars():
        table.setdefault(lazy_pinyin(ch)[0], []).append(ch)
    return {k: tuple(v) for k, v in table.items()}


def _pinyin(ch: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0]


def _near(py: str) -> list[str]:
    """Pinyin syllables one near-homophone change away (zh/z, n/l, an/ang, in/ing ...) that exist."""
    table = _by_pinyin()
    out = set()
    for a, b in _INITIALS:
        if py.startswith(a) and not (a in ("z", "c", "s") and py[1:2] == "h"):
            out.add(b + py[len(a):])
    for a, b in _FINALS:
        if py.endswith(a) and not (a in ("an", "en", "in") and py.endswith(a + "g")):
            out.add(py[:-len(a)] + b)
    return sorted(s for s in out if s in table and s != py)


def _split(py: str) -> tuple[str, str]:
    for initial in ("zh", "ch", "sh", *"bpmfdtnlgkhjqxzcsryw"):
        if py.startswith(initial) and len(py) > len(initial):
            return initial, py[len(initial):]
    return "", py


@functools.cache
def _ime_slips(py: str) -> tuple[str, ...]:
    """Characters a pinyin IME offers by mistake for a syllable: another syllable with the same initial
    or the same final (xin -> xian, xing-less picks like 心/新 -> 现/向; hua -> gua), not a near-homophone."""
    initial, final = _split(py)
    near = set(_near(py))
    out = []
    for other, chars in _by_pinyin().items():
        if other == py or other in near:
            continue
        oi, of = _split(other)
        if (initial and oi == initial) or of == final:
            out.extend(chars)
    return tuple(out)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _mutate(street: str, kind: str, known: set[str], rng: random.Random) -> str | None:
    """The street with one typing error of ``kind``; None when no such error fits or it spells a known name."""
    # a numeral in a name (第十一住宅区) read with one character less or more is another number: no typo
    phonetic = kind in ("homophone", "near_homophone")
    positions = [i for i, ch in enumerate(street) if _is_cjk(ch) and (phonetic or ch not in _NUMERALS)]
    if not positions:
        return None
    for _ in range(20):
        i = rng.choice(positions)
        ch = street[i]
        if kind == "homophone":
            pool = [c for c in _by_pinyin().get(_pinyin(ch), ()) if c != ch]
        elif kind == "near_homophone":
            pool = [c for s in _near(_pinyin(ch)) for c in _by_pinyin()[s]]
        elif kind == "wrong_char":
            pool = list(_ime_slips(_pinyin(ch)))
        elif kind == "random_char":
            pool = [c for c in rng.sample(_common_chars(), 8) if c != ch]
        elif kind == "missing_char":
            out = street[:i] + street[i + 1:]
            pool = None
        elif kind == "extra_char":
            out = street[:i] + rng.choice((ch, *rng.sample(_common_chars(), 1))) + street[i:]
            pool = None
        else:  # swapped: two neighbouring characters
            j = i + 1 if i + 1 < len(street) and _is_cjk(street[i + 1]) else i - 1
            if j < 0 or j not in positions or street[i] == street[j]:
                continue
            a, b = min(i, j), max(i, j)
            out = street[:a] + street[b] + street[a] + street[b + 1:]
            pool = None
        if pool is not None:
            if not pool:
                continue
            out = street[:i] + rng.choice(pool) + street[i + 1:]
        if len(out) >= 2 and out not in known:
            return out
    return None


def _building(kind: str, rng: random.Random) -> str:
    """How a building or house number ends: 号 on roads, 号楼 and its synonyms in compounds."""
    if kind == "road":
        return "号"
    return rng.choices(["号楼", "栋", "幢", "#楼", "#", "座"], weights=[50, 25, 8, 7, 5, 5])[0]


def make_variants(city: City_, per_kind: int, seed: int = 7, kinds: tuple[str, ...] = KINDS) -> list[Variant]:
    """Draw ``per_kind`` queries of every kind from the city's addresses (seeded).

    Parameters
    ----------
    city : City_
        The address table and its names.
    per_kind : int
        Queries per kind (fewer when a kind has too few rows to draw from).
    seed : int
        The same seed gives the same queries.
    kinds : tuple of str
        Which kinds (:data:`KINDS`).

    Returns
    -------
    list of Variant
    """
    rng = random.Random(seed)
    df = city.addresses
    rows = list(zip(df["address"].astype(str), df["street"].astype(str), df["number"].astype(int),
                    df["kind"].astype(str), df["grid_code"].astype(str), strict=True))
    known = set(df["street"].astype(str))
    numbers: dict[str, set[int]] = {}
    for _, street, number, _, _ in rows:
        numbers.setdefault(street, set()).add(number)
    roads = [r for r in rows if r[3] == "road"]
    compounds = [r for r in rows if r[3] == "compound"]
    out: list[Variant] = []
    for kind in kinds:
        made = 0
        for _ in range(per_kind * 20):
            if made >= per_kind:
                break
            pool = roads if kind in ("yard", "annex") else compounds if kind == "extra_suffix" else rows
            if not pool:
                break
            address, street, number, rkind, grid = rng.choice(pool)
            num, end = str(number), _building(rkind, rng)
            name: str | None = street
            truth: tuple[str | None, str | None] = (address, grid)
            lead = ""
            tail = ""
            if kind == "yard":
                end = "号院"
                tail = rng.choice(("", "", "3号楼", "2单元301室"))
            elif kind == "annex":
                num, end = rng.choice(((f"{number}", f"号附{rng.randint(1, 5)}号"), (f"{number}", "号甲"),
                                       (f"甲{number}", "号")))
            elif kind == "extra_suffix":
                extra = rng.choice([g for g in _GENERIC if not street.endswith(g)][:2])
                name = street + extra
                if name in known:
                    continue
            elif kind in ("wrong_char", "random_char", "homophone", "near_homophone", "missing_char", "extra_char", "swapped"):
                name = _mutate(street, kind, known, rng)
            elif kind == "no_hao":
                end = ""
            elif kind == "cn_numeral":
                num = _chinese(number, rng)
            elif kind == "building_word":
                if rkind != "compound":
                    continue
                end = rng.choice(["栋", "幢", "#楼", "#", "座", "号"])
            elif kind == "unit_room":
                tail = rng.choice(_ROOMS)
            elif kind == "committee":
                com = city.grid_committee.get(grid)
                if not com:
                    continue
                lead = com + rng.choice(("", "", "居委会", "社区居委会" if com.endswith("社区") else "村委会"))
                lead = lead.replace("社区社区", "社区").replace("村村", "村")
            elif kind == "spaces":
                text = f"{street}{num}{end}"
                k = rng.randrange(1, len(text))
                name = None
                out.append(Variant(text[:k] + rng.choice([" ", "　", "，", "  "]) + text[k:], kind, address, grid))
                made += 1
                continue
            elif kind == "full_width":
                num = num.translate(_FULL)
                end = end.translate(_FULL)
            elif kind == "prefixes":
                lead = rng.choice(_city_leads(city, grid, rng))
            elif kind == "absent_number":
                top = max(numbers[street])
                num = str(top + rng.randint(1, 5) * (2 if rkind == "road" else 1) + 200)
                truth = (None, None)
            elif kind == "unknown_street":
                name = "".join(rng.sample("松柏桃李杏梅竹菊兰荷榆槐杨柳鹊鹭", 2)) + rng.choice(("路", "小区", "巷"))
                if name in known:
                    continue
                truth = (None, None)
            elif kind == "placeholder":
                out.append(Variant(rng.choice(_PLACEHOLDERS), kind, None, None))
                made += 1
                continue
            if name is None:
                continue
            out.append(Variant(f"{lead}{name}{num}{end}{tail}", kind, *truth))
            made += 1
    return out


def _city_leads(city: City_, grid: str, rng: random.Random) -> list[str]:
    """Leading place names staff put before an address in this city."""
    p = city.prefixes
    area = rng.choice(city.areas) if city.areas else ""
    short = p.short_name
    return [x for x in (f"{p.province}{p.city}", p.city, f"{p.city}{area}", f"{p.province}{p.city}{area}",
                        f"{short}{area}", area) if x]


# -- scoring -----------------------------------------------------------------------------------------------


def score(variants: list[Variant], results: list[MatchResult]) -> pd.DataFrame:
    """One row per query: kind, status, right (ok with the true address), top1 (the first candidate is the
    true address, whatever the status; False where the answer lists no candidates) and wrong (ok with
    another grid)."""
    recs = []
    for v, r in zip(variants, results, strict=True):
        best = r.best
        right = best is not None and v.address is not None and best.address == v.address
        first = getattr(r, "candidates", None) or ()
        top1 = bool(first) and v.address is not None and first[0].address == v.address
        wrong = best is not None and (v.grid_code is None or best.grid_code != v.grid_code)
        recs.append({"kind": v.kind, "status": r.status, "right": right, "top1": top1, "wrong": wrong,
                     "ambiguous": r.status == "ambiguous", "text": v.text,
                     "got": best.address if best is not None else "", "truth": v.address or ""})
    return pd.DataFrame(recs)


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per kind: n, right-and-ok %, top-1 right %, ambiguous %, wrong-ok %; then ``found`` (the kinds that
    name an address), ``named`` (those plus the stress kinds: every query that names an existing address)
    and ``ALL`` (every query: its wrong-ok % is the overall wrong-answer rate)."""
    g = frame.groupby("kind", sort=False)
    out = pd.DataFrame({"n": g.size(), "right_ok": g["right"].mean() * 100, "top1": g["top1"].mean() * 100,
                        "ambiguous": g["ambiguous"].mean() * 100, "wrong_ok": g["wrong"].mean() * 100})
    found = frame[frame["kind"].isin(FOUND_KINDS)]
    named = frame[frame["kind"].isin(FOUND_KINDS + STRESS_KINDS)]
    nan = float("nan")
    for label, part in (("found", found), ("named", named), ("ALL", frame)):
        has_address = label != "ALL"
        out.loc[label] = [len(part), part["right"].mean() * 100 if has_address else nan,
                          part["top1"].mean() * 100 if has_address else nan,
                          part["ambiguous"].mean() * 100, part["wrong"].mean() * 100]
    return out


# -- cities ------------------------------------------------------------------------------------------------


@functools.cache
def demo_city() -> City_ | None:
    """The demo city from geodata/ (None when the folder is absent)."""
    from app.geo._demo_plan import FULL
    from app.geo.demo import DEMO_CITY

    if not (GEODATA / "addresses.geojson").exists():
        return None
    addresses = gpd.read_file(GEODATA / "addresses.geojson", engine="pyogrio")
    grids = gpd.read_file(GEODATA / "grids.geojson", engine="pyogrio", columns=["code", "committee_code"])
    coms = gpd.read_file(GEODATA / "committees.geojson", engine="pyogrio", columns=["code", "name"])
    com_name = dict(zip(coms["code"], coms["name"], strict=True))
    grid_committee = {g: com_name[c] for g, c in zip(grids["code"], grids["committee_code"], strict=True)
                      if c in com_name}
    areas = tuple(d.name for d in FULL.divisions)
    prefixes = AddressPrefixes.for_city(DEMO_CITY, areas=areas, committees=list(com_name.values()))
    return City_("嘉峪关市 (demo)", addresses, prefixes, grid_committee, areas)


@functools.cache
def cn_city(addresses: int = 3000, sections: int = 2, seed: int = 10) -> City_:
    """The second city, 河湾市 from :func:`tests.cities.make_cn_city`: its standard addresses joined to its grids."""
    from app.geo.crs import gcj02_to_wgs84
    from tests.cities import CN_NAME, make_cn_city

    with tempfile.TemporaryDirectory(prefix="gm-variants-") as tmp:
        folder = make_cn_city(Path(tmp) / "city", seed=seed, sections=sections, addresses=addresses)
        table_ = pd.read_excel(folder / "标准地址.xlsx", engine="openpyxl")
        grids = gpd.read_file(f"zip://{folder / '网格.zip'}", engine="pyogrio", encoding="GBK").to_crs("EPSG:4326")
    lon, lat = gcj02_to_wgs84(table_["经度"].to_numpy(float), table_["纬度"].to_numpy(float))
    points = gpd.GeoDataFrame({"address": table_["标准地址"].astype(str)},
                              geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points, grids[["网格编码", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    areas = tuple(sorted(set(grids["所属街道"].astype(str))))
    committees = sorted(set(grids["所属社区"].astype(str)))
    prefixes = AddressPrefixes.for_city(City(name=CN_NAME), areas=areas, committees=committees)
    parsed = [parse(normalize(a, prefixes)) for a in joined["address"]]
    df = gpd.GeoDataFrame({
        "id": [f"H{i:06d}" for i in range(len(joined))],
        "address": [a.removeprefix(CN_NAME) for a in joined["address"]],
        "street": [p[0] for p in parsed], "number": [p[1] for p in parsed],
        "kind": ["compound" if p[2] == "号楼" else "road" for p in parsed],
        "grid_code": joined["网格编码"].astype(str).to_numpy(),
    }, geometry=joined.geometry.to_numpy(), crs="EPSG:4326")
    df = df[df["number"].notna() & (df["grid_code"] != "nan")].reset_index(drop=True)
    grid_committee = dict(zip(grids["网格编码"].astype(str), grids["所属社区"].astype(str), strict=True))
    return City_(f"{CN_NAME} (tests.cities.make_cn_city)", df, prefixes, grid_committee, areas)
