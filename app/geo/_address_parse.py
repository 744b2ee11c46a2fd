"""Parsing of Chinese address text: clean-up, numerals, the city's prefixes, house-number forms, street and number."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from app.geo.city import City, short_form

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
#: Chinese numerals that are a number (house, building, unit, room), not part of a name (五一路, 第十一住宅区):
#: followed by a number word, a digit, a separator or the end.
_CN_NUM_RE = re.compile("[零〇○一二两三四五六七八九十百千]+(?=号|栋|幢|座|楼|单元|门|层|室|房|户|附|之|甲|乙|丙|丁|[#\\d\\-]|$)")
_DASH_RE = re.compile("[‐‑‒–—―−~～]")
_DROP_RE = re.compile(r"[^\w#\-]|_")
_HASH_RE = re.compile(r"(?<!\d)(\d+)#(?:号楼|楼)?")
_BUILDING_RE = re.compile(r"(?<!\d)(\d+)号?(?:栋|幢|座)(?:楼)?")
#: A committee name, only when a street name (not a bare number) follows it: the one prefix every city shares.
_COMMITTEE_RE = re.compile(
    r"^[\u4e00-\u9fff]{1,8}?(?:社区居民委员会|社区居委会|居民委员会|居委会|村民委员会|村委会|社区)(?=\D)")
#: Characters that, after a bare short name (嘉峪关) or a village name, show it starts a longer
#: name (嘉峪关村, 嘉峪关路, 河口村东路) rather than being a prefix.
_NAME_GOES_ON = "村路街巷道大东西南北关城镇"
_TAIL_RE = re.compile(
    r"^(?P<head>.*?\D\d+(?!\d)(?:号楼|号)?)"
    r"(?P<tail>(?:-?\d+(?!\d)(?:单元|门|层|楼|室|号房|房|号|户)?)+)$"
)
#: House-number forms that name the same standard number: 60号院 (and whatever is inside the yard),
#: 12号附3号 / 12附3号 / 12之3号, 12号甲 / 12甲号 / 甲12号.
_YARD_RE = re.compile(r"(?<!\d)(\d+)号院.*$")
_ANNEX_RE = re.compile(r"(?<!\d)(\d+)号?(?:附|之)\d+号?")
_STEM_AFTER_RE = re.compile(r"(?<!\d)(\d+)号?[甲乙丙丁](?:号(?!楼))?")
_STEM_BEFORE_RE = re.compile(r"(?<=[\u4e00-\u9fff])[甲乙丙丁](\d+)号(?!楼)")
_PARSE_RE = re.compile(r"^(?P<street>.*?\D)(?P<number>\d+)(?P<suffix>号楼|号)?$")

_HAS_STEM = re.compile("[甲乙丙丁]")
#: Texts that say there is no address (after :func:`_clean`).
PLACEHOLDERS = frozenset({
    "无", "空", "不详", "未知", "暂无", "没有", "无地址", "地址不详", "不清楚", "不知道", "待定", "待查", "略",
    "其他", "其它", "详见备注", "见备注", "同上", "null", "none", "nan", "na", "nil", "unknown", "无无", "x", "xx",
})
#: Text left after the house number is taken away that is no address content.
_NO_CONTENT_RE = re.compile(r"^[\d号楼栋幢座单元室层户#\-甲乙丙丁附院]*$")
#: Generic endings of compound names, longest first: 福民花园小区, 福民花园 and 福民 share the core 福民.
GENERIC_SUFFIXES = ("住宅小区", "家属院", "家属区", "宿舍区", "小区", "花园", "家园", "新村", "公寓", "大院",
                    "宿舍", "苑", "院", "园")

#: Longer texts are cut to this many characters before normalising (no address is that long;
#: the cap keeps the worst case of the regular expressions small).
MAX_LENGTH = 200


def _cn_number(run: str) -> str:
    """Return the Arabic digits for a run of Chinese numerals (十二 -> 12, 一〇五 -> 105)."""
    if not any(ch in _CN_UNITS for ch in run):
        return "".join(str(_CN_DIGITS[ch]) for ch in run)
    total = 0
    current = 0
    for ch in run:
        if ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            current = _CN_DIGITS[ch]
    return str(total + current)


def _clean(text: str) -> str:
    """Character-level clean-up: NFKC, lower case, Arabic numbers, no spaces or punctuation (keeps # and -)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DROP_RE.sub("", _DASH_RE.sub("-", text))
    return _CN_NUM_RE.sub(lambda m: _cn_number(m.group()), text)


def _alternation(names: Iterable[str]) -> str:
    """A regular-expression alternation of cleaned names, longest first (so 雄关街道 wins over 雄关)."""
    cleaned = {_clean(n) for n in names if n and str(n).strip()}
    return "|".join(re.escape(n) for n in sorted((n for n in cleaned if n), key=lambda n: (-len(n), n)))


@dataclass(frozen=True)
class AddressPrefixes:
    """The leading place names an address of one city may start with, which matching ignores.

    Each is dropped from the start of an address only when more address text follows it.

    Attributes
    ----------
    province : str
        E.g. ``"甘肃省"``; its short form (``甘肃``) is dropped too, unless it starts a longer
        name (``甘肃路``).
    city : str
        E.g. ``"嘉峪关市"``.
    short_name : str
        The city's short name, ``"嘉峪关"``: dropped unless it starts a longer name such as
        嘉峪关村 or 嘉峪关路.
    areas : tuple of str
        District, sub-district and town names (雄关区, 雄关街道, 新城镇): dropped whenever more text follows.
    committees : tuple of str
        Community and village names (建设社区, 河口村): dropped only when a street name (not a
        number, nor the rest of a longer name) follows, so 河口村5号 stays.
    """

    province: str = ""
    city: str = ""
    short_name: str = ""
    areas: tuple[str, ...] = ()
    committees: tuple[str, ...] = ()

    @classmethod
    def for_city(cls, city: City, areas: Iterable[str] = (), committees: Iterable[str] = ()) -> AddressPrefixes:
        """Return the prefixes of a city: its province, name and short name, its districts, and the given names.

        Parameters
        ----------
        city : City
            The stored city (:attr:`app.geo.dataset.Dataset.city`).
        areas : iterable of str
            Further district, sub-district and town names, e.g. the divisions layer's names.
        committees : iterable of str
            Community and village names, e.g. the committees layer's names.

        Returns
        -------
        AddressPrefixes
            Empty names are left out; duplicates are kept once.
        """
        def unique(names: Iterable[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(str(n).strip() for n in names if isinstance(n, str) and n.strip()))

        return cls(province=city.province, city=city.name, short_name=city.short_name,
                   areas=unique((*city.districts, *areas)), committees=unique(committees))

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The prefix patterns, in the order :func:`normalize` tries them."""
        out: list[re.Pattern[str]] = []
        # a bare short name is a prefix unless it starts a longer name; before a known area it always is (兰州城关区)
        areas = _alternation(self.areas)
        goes_on = f"(?:(?={areas})|(?![{_NAME_GOES_ON}]))" if areas else f"(?![{_NAME_GOES_ON}])"
        province, short_province = _clean(self.province), _clean(short_form(self.province))
        if province:
            out.append(re.compile(f"^{re.escape(province)}"))
        if short_province and short_province != province:
            out.append(re.compile(f"^{re.escape(short_province)}{goes_on}"))
        city = _clean(self.city)
        if city:
            out.append(re.compile(f"^{re.escape(city)}"))
        short = _clean(self.short_name)
        if short and short != city:
            out.append(re.compile(f"^{re.escape(short)}{goes_on}"))
        if areas:
            out.append(re.compile(f"^(?:{areas})"))
        # before the names: 河口村委会河口村5号 drops 河口村委会, not 河口村
        out.append(_COMMITTEE_RE)
        if self.committees:  # nor 河口村 of 河口村委会5号 or 河口村民委员会
            out.append(re.compile(f"^(?:{_alternation(self.committees)})(?=\\D)(?![{_NAME_GOES_ON}委居社民零〇一二两三四五六七八九十百千])"))
        return tuple(out)

    @cached_property
    def city_words(self) -> tuple[str, ...]:
        """Cleaned city and province short names, which the matcher also drops before a known street (嘉峪关东湖新村)."""
        return tuple(w for w in dict.fromkeys((_clean(self.short_name), _clean(short_form(self.province)))) if w)


#: No city-specific prefixes: only the committee rule every city shares.
NO_PREFIXES = AddressPrefixes()


def normalize(text: str, prefixes: AddressPrefixes | None = None) -> str:
    """Normalise a Chinese address for matching.

    Steps: NFKC (full-width to half-width) and lower case; Chinese numerals to Arabic
    (十二 -> 12, 二十三 -> 23, 一〇五 -> 105, 两 -> 2); building suffixes 栋/幢/座/# to 号楼;
    the city's leading province, city name (or bare short name unless it starts a name like
    嘉峪关村), district, division and committee names (``prefixes``) dropped when more address
    text follows, and so is any leading ``…社区``/``…居委会``/``…村委会`` before a street; a
    trailing unit/room part (2单元301室, -2-301, 301号房, ...) dropped; spaces and punctuation
    removed. Only the first :data:`MAX_LENGTH` characters are considered.

    Parameters
    ----------
    text : str
        Free-text address, e.g. ``"甘肃省嘉峪关市雄关街道 阳光小区三栋2单元301室"``.
    prefixes : AddressPrefixes, optional
        The city's place names (:meth:`AddressPrefixes.for_city`); without them no city-specific
        prefix is dropped.

    Returns
    -------
    str
        The normalised address, e.g. ``"阳光小区3号楼"``; empty if nothing is left.
    """
    if not text:
        return ""
    return normalize_cleaned(_clean(str(text)[:MAX_LENGTH]), prefixes)


def normalize_cleaned(s: str, prefixes: AddressPrefixes | None = None) -> str:
    """:func:`normalize` for a text already through :func:`_clean` (so a caller cleans once)."""
    s = _HASH_RE.sub(r"\1号楼", s)
    s = _BUILDING_RE.sub(r"\1号楼", s)
    if "院" in s:
        s = _YARD_RE.sub(r"\1号", s)
    if "附" in s or "之" in s:
        s = _ANNEX_RE.sub(r"\1号", s)
    if _HAS_STEM.search(s):
        s = _STEM_BEFORE_RE.sub(r"\1号", _STEM_AFTER_RE.sub(r"\1号", s))
    patterns = (prefixes or NO_PREFIXES).patterns
    changed = True
    while changed:
        changed = False
        for pattern in patterns:
            m = pattern.match(s)
            if m and m.end() < len(s):
                s = s[m.end():]
                changed = True
    m = _TAIL_RE.match(s)
    if m:
        s = m.group("head")
    return s.replace("-", "").replace("#", "")


def parse(normalized: str) -> tuple[str, int | None, str]:
    """Split a normalised address into street, number and suffix.

    Parameters
    ----------
    normalized : str
        Output of :func:`normalize`.

    Returns
    -------
    tuple of (str, int or None, str)
        ``(street, number, suffix)``; suffix is ``"号"``, ``"号楼"`` or ``""``. When the text
        ends in no number, ``(normalized, None, "")``.
    """
    m = _PARSE_RE.match(normalized)
    if not m:
        return normalized, None, ""
    return m.group("street"), int(m.group("number")), m.group("suffix") or ""


def is_placeholder(text: str) -> bool:
    """Whether ``text`` says there is no address (无, 不详, 未知, 空, n/a ...) or has no address content.

    Parameters
    ----------
    text : str
        The text as typed.

    Returns
    -------
    bool
        True for placeholders and texts of only numbers, building and room words; False for
        empty texts (those are :func:`normalize`'s empty result) and for anything with a name.
    """
    return is_placeholder_cleaned(_clean(str(text)[:MAX_LENGTH]))


def is_placeholder_cleaned(cleaned: str) -> bool:
    """:func:`is_placeholder` for a text already through :func:`_clean`."""
    cleaned = cleaned.replace("-", "").replace("#", "")
    return bool(cleaned) and (cleaned in PLACEHOLDERS or bool(_NO_CONTENT_RE.match(cleaned)))


def core_name(street: str) -> str:
    """The street or compound name without its generic endings (福民花园小区 -> 福民), at least two characters.

    Parameters
    ----------
    street : str
        A parsed street or compound name.

    Returns
    -------
    str
        The core; the name itself when it has no generic ending.
    """
    changed = True
    while changed:
        changed = False
        for suffix in GENERIC_SUFFIXES:
            if street.endswith(suffix) and len(street) - len(suffix) >= 2:
                street, changed = street[:-len(suffix)], True
                break
    return street
