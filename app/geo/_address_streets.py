"""Typo-tolerant lookup of a typed street or compound name among the known ones (suffixes, homophones, edits)."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA

from app.geo._address_parse import GENERIC_SUFFIXES, core_name
from app.geo._pinyin import table

#: Points taken off (from 100) for each way a typed name can differ from a known one.
#: The typed name is the known one with a generic ending added (福民花园小区 for 福民花园).
EXTRA_SUFFIX_PENALTY = 2
#: The typed name sounds exactly like the known one in pinyin (阳光小区 typed 杨光小区).
HOMOPHONE_PENALTY = 2
#: The typed name lacks the known one's generic ending (福民 for 福民花园).
MISSING_SUFFIX_PENALTY = 4
#: The typed name sounds like the known one with a near-homophone (zh/z, n/l, an/ang, in/ing ...).
NEAR_HOMOPHONE_PENALTY = 4
#: A character missing or doubled.
SLIP_PENALTY = 4
#: One wrong character that shares its pinyin initial or final with the right one (a pick from the
#: wrong IME candidate, 简拼 input); :data:`WEAK_IME_SLIP_PENALTY` in a two-character own part.
IME_SLIP_PENALTY = 6
WEAK_IME_SLIP_PENALTY = 8
#: Two neighbouring characters swapped (every character is there).
SWAP_PENALTY = 4
#: A stray extra character (every character of the name is there, in order).
EXTRA_PENALTY = 8
#: Per character edit otherwise (one wrong character that does not sound alike).
EDIT_PENALTY = 10
#: An edit in a name whose own part (without 路/街/小区 ...) has only two characters, touching that
#: part (兰杨路 for 兰新路): too little left to go on, so never ``ok`` by itself.
WEAK_EDIT_PENALTY = 11
#: Another generic ending than the known one's (福民小区 for 福民花园).
OTHER_SUFFIX_PENALTY = 8
#: Unknown text before a known name (an unlisted unit or community name).
JUNK_PREFIX_PENALTY = 8

#: Near-homophone initials and finals that pinyin IMEs and southern speakers mix up, each folded onto one.
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("r", "l"), ("f", "h"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"), ("ong", "on"))

#: Endings that say what a name is rather than which one it is; an edit there keeps the name's own part.
ENDINGS = (*GENERIC_SUFFIXES, "大道", "大街", "胡同", "路", "街", "巷", "道", "村")
_INITIAL_LETTERS = ("b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "z", "c", "s", "r",
                    "y", "w")
#: Direction characters: 新华南路 and 新华路 are two roads, so adding, dropping or changing one is no typo.
_DIRECTIONS = frozenset("东西南北中")
_CN = "零一二三四五六七八九"
_DIGITS_RE = re.compile(r"\d+")

#: Most query names remembered per index (a bound on memory under arbitrary input).
_CACHE_SIZE = 50_000


class StreetHit(NamedTuple):
    """A known street for a typed one: its name, the points taken off and whether the match is typo-tolerant."""

    street: str
    penalty: int
    fuzzy: bool


@functools.lru_cache(maxsize=4096)
def _syllable(py: str) -> str:
    """One pinyin syllable with near-homophone initials and finals folded (zhang -> zan, ling -> lin)."""
    for a, b in _INITIALS:
        if py.startswith(a):
            py = b + py[len(a):]
            break
    for a, b in _FINALS:
        if py.endswith(a):
            return py[:-len(a)] + b
    return py


def _spoken(digits: str) -> str:
    """Digits as they are said (21 -> 二十一, 105 -> 一百零五), so 第二十姨 sounds like 第二十一 (stored 第21)."""
    n = int(digits)
    if len(digits) > 4 or digits.startswith("0"):
        return "".join(_CN[int(d)] for d in digits)
    out = ""
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, value)
        if d:
            out += ("零" if zero else "") + ("" if (unit == "十" and d == 1 and not out) else _CN[d]) + unit
            zero = False
        elif out:
            zero = True
    return out or "零"


def pinyin_keys(name: str) -> tuple[str, str]:
    """The exact and the near-homophone pinyin key of a name (``"yang guang xiao qu"``, ``"yan guan xiao qu"``).

    Each character is read on its own (its usual reading, cached), the same way for the typed and the
    known names, so a lookup costs a few dictionary hits rather than a phrase segmentation.
    """
    if any(ch.isdigit() for ch in name):
        name = _DIGITS_RE.sub(lambda m: _spoken(m.group()), name)
    syllables = [_primary(ch) for ch in name]
    return " ".join(syllables), " ".join(_syllable(s) for s in syllables)


@functools.lru_cache(maxsize=8192)
def _readings(ch: str) -> frozenset[str]:
    """All toneless pinyin readings of one character (长: chang, zhang); the character itself if it has none."""
    return table().readings(ch)  # pypinyin's answer, without its dictionaries in this process


def _split(py: str) -> tuple[str, str]:
    """A folded pinyin syllable's initial and final (zhang -> z, an)."""
    py = _syllable(py)
    for initial in _INITIAL_LETTERS:
        if py.startswith(initial) and len(py) > len(initial):
            return initial, py[len(initial):]
    return "", py


@functools.lru_cache(maxsize=65536)
def _sounds_alike(a: str, b: str) -> int:
    """How alike two characters sound: 3 the same (one's usual reading is one of the other's: 张 and 长),
    2 a near-homophone (zh/z, n/l, an/ang ...), 1 the same initial or final, 0 not."""
    pa, pb = _primary(a), _primary(b)
    ra, rb = _readings(a), _readings(b)
    if pa in rb or pb in ra:  # not any two rare readings (滑 gu, 家 gu)
        return 3
    if _syllable(pa) in {_syllable(y) for y in rb} or _syllable(pb) in {_syllable(x) for x in ra}:
        return 2
    (ia, fa), (ib, fb) = _split(pa), _split(pb)  # rare readings (园 wan) would match too much
    return 1 if (ia and ia == ib) or fa == fb else 0


@functools.lru_cache(maxsize=8192)
def _primary(ch: str) -> str:
    """The usual toneless reading of one character."""
    return table().primary(ch)


#: Points off for each further character that only sounds like the known one (洞福 for 东湖: two).
_MORE_SOUNDALIKE_PENALTY = 2


def _more(typed: str, known: str) -> int:
    """The extra penalty of a sound-alike name for its second and further differing characters."""
    if len(typed) != len(known):
        return 0
    diff = sum(a != b for a, b in zip(typed, known, strict=True))
    return _MORE_SOUNDALIKE_PENALTY * max(0, diff - 1)


def _own_part(known: str) -> int:
    """Length of a name without its ending (新华路 -> 2, 福民花园小区 -> 2, 第11住宅区 -> 4)."""
    for ending in ENDINGS:
        if known.endswith(ending) and len(known) > len(ending):
            return len(known) - len(ending)
    return len(known)


def edit_penalty(typed: str, known: str) -> int:
    """Points off for one character edit that turns ``typed`` into ``known``, by what the edit is.

    Parameters
    ----------
    typed, known : str
        Names at OSA distance 1.

    Returns
    -------
    int
        :data:`HOMOPHONE_PENALTY` / :data:`NEAR_HOMOPHONE_PENALTY` for a character that sounds
        the same / alike, :data:`IME_SLIP_PENALTY` for one that shares its initial or final,
        :data:`SLIP_PENALTY` for a missing or doubled character,
        :data:`SWAP_PENALTY` for swapped and :data:`EXTRA_PENALTY` for stray characters, else
        :data:`EDIT_PENALTY`; :data:`WEAK_EDIT_PENALTY` when the edit touches a two-character own part
        or adds, drops or changes a direction (东西南北中).
    """
    own = _own_part(known)
    if len(typed) == len(known):
        diff = [i for i, (a, b) in enumerate(zip(typed, known, strict=True)) if a != b]
        if len(diff) == 1:
            i = diff[0]
            alike = _sounds_alike(typed[i], known[i])
            weak = own <= 2 and i < own
            if alike:
                slip = WEAK_IME_SLIP_PENALTY if weak else IME_SLIP_PENALTY
                return (slip, NEAR_HOMOPHONE_PENALTY, HOMOPHONE_PENALTY)[alike - 1]
            return WEAK_EDIT_PENALTY if weak or typed[i] in _DIRECTIONS or known[i] in _DIRECTIONS else EDIT_PENALTY
        return SWAP_PENALTY
    if len(typed) < len(known):  # a character missing: in the ending, or from the name's own part
        i = next((k for k in range(len(typed)) if typed[k] != known[k]), len(typed))
        if known[i] in _DIRECTIONS:  # 新华路 for 新华南路: maybe another road
            return WEAK_EDIT_PENALTY
        return WEAK_IME_SLIP_PENALTY if i < own else SLIP_PENALTY
    i = next((k for k in range(len(known)) if typed[k] != known[k]), len(known))  # an extra character
    doubled = (i > 0 and typed[i] == typed[i - 1]) or (i + 1 < len(typed) and typed[i] == typed[i + 1])
    if doubled:
        return SLIP_PENALTY
    return WEAK_EDIT_PENALTY if typed[i] in _DIRECTIONS else EXTRA_PENALTY  # 新华南路 is not 新华路


class StreetIndex:
    """Known street and compound names, and how to reach one from a typed name.

    Parameters
    ----------
    streets : iterable of str
        Parsed street names of the address table (aliases included).
    city_words : tuple of str
        Cleaned city short names that may precede a street (嘉峪关东湖新村).
    """

    def __init__(self, streets: Iterable[str], city_words: tuple[str, ...] = ()) -> None:
        self.streets = sorted(set(streets))
        self._known = set(self.streets)
        self._city_words = city_words
        self._by_core: dict[str, list[str]] = {}
        for s in self.streets:
            self._by_core.setdefault(core_name(s), []).append(s)
        self._long = [s for s in self.streets if len(s) >= 3]
        self._pinyin: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[StreetHit, ...]] = {}

    def __contains__(self, street: object) -> bool:
        """Whether ``street`` is a known name."""
        return street in self._known

    def _pinyin_index(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        if self._pinyin is None:
            with self._lock:
                if self._pinyin is None:
                    exact: dict[str, list[str]] = {}
                    near: dict[str, list[str]] = {}
                    for s in self.streets:
                        key, fold = pinyin_keys(s)
                        exact.setdefault(key, []).append(s)
                        near.setdefault(fold, []).append(s)
                    self._pinyin = (exact, near)
        return self._pinyin

    def lookup(self, street: str) -> tuple[StreetHit, ...]:
        """Known names a typed name may mean, best (lowest penalty) first.

        A known name is returned alone. Otherwise every plausible reading is listed, so that
        the caller can tell a clear winner from a tie: generic endings added, missing or swapped
        (same core name), unknown leading text, homophones and near-homophones in pinyin, and
        names within one character edit (two for names longer than four characters).

        Parameters
        ----------
        street : str
            The street part of a parsed query.

        Returns
        -------
        tuple of StreetHit
            Possibly empty.
        """
        if street in self._known:
            return (StreetHit(street, 0, False),)
        hits = self._cache.get(street)
        if hits is None:
            hits = self._lookup(street)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[street] = hits
        return hits

    def _lookup(self, street: str) -> tuple[StreetHit, ...]:
        for word in self._city_words:  # 嘉峪关东湖新村: the city, not part of the name
            if street.startswith(word) and street[len(word):] in self._known:
                return (StreetHit(street[len(word):], 0, False),)
        found: dict[str, StreetHit] = {}

        def add(known: str, penalty: int, fuzzy: bool) -> None:
            old = found.get(known)
            if old is None or penalty < old.penalty:
                found[known] = StreetHit(known, penalty, fuzzy)

        if not street:
            return ()
        for known in self._by_core.get(core_name(street), ()):
            if street.startswith(known):
                add(known, EXTRA_SUFFIX_PENALTY, False)
            elif known.startswith(street):
                add(known, MISSING_SUFFIX_PENALTY, False)
            else:
                add(known, OTHER_SUFFIX_PENALTY, True)
        for k in range(1, len(street) - 1):  # the longest known name that ends the text
            if street[k:] in self._known:
                add(street[k:], JUNK_PREFIX_PENALTY, True)
                break
        if any("\u4e00" <= ch <= "\u9fff" for ch in street):
            exact, near = self._pinyin_index()
            key, fold = pinyin_keys(street)
            for known in exact.get(key, ()):
                add(known, HOMOPHONE_PENALTY + _more(street, known), True)
            for known in near.get(fold, ()):
                add(known, NEAR_HOMOPHONE_PENALTY + _more(street, known), True)
        max_edits = 1 if len(street) <= 4 else 2
        for known, dist, _ in process.extract(street, self._long, scorer=OSA.distance,
                                              score_cutoff=max_edits, limit=8):
            add(known, edit_penalty(street, known) if dist == 1 else int(dist) * EDIT_PENALTY, True)
        return tuple(sorted(found.values(), key=lambda h: (h.penalty, h.street)))
