"""Typo-tolerant lookup of a typed street or compound name among the known ones (suffixes, homophones, edits)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA

from app.geo._address_parse import core_name

#: Points taken off (from 100) for each way a typed name can differ from a known one.
#: The typed name is the known one with a generic ending added (福民花园小区 for 福民花园).
EXTRA_SUFFIX_PENALTY = 2
#: The typed name sounds exactly like the known one in pinyin (阳光小区 typed 杨光小区).
HOMOPHONE_PENALTY = 3
#: The typed name lacks the known one's generic ending (福民 for 福民花园).
MISSING_SUFFIX_PENALTY = 4
#: The typed name sounds like the known one with a near-homophone (zh/z, n/l, an/ang, in/ing ...).
NEAR_HOMOPHONE_PENALTY = 4
#: Per character edit (wrong, missing, extra or swapped character).
EDIT_PENALTY = 8
#: Another generic ending than the known one's (福民小区 for 福民花园).
OTHER_SUFFIX_PENALTY = 8
#: Unknown text before a known name (an unlisted unit or community name).
JUNK_PREFIX_PENALTY = 8

#: Near-homophone initials and finals that pinyin IMEs and southern speakers mix up, each folded onto one.
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("r", "l"), ("f", "h"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"), ("ong", "on"))

#: Most query names remembered per index (a bound on memory under arbitrary input).
_CACHE_SIZE = 50_000


class StreetHit(NamedTuple):
    """A known street for a typed one: its name, the points taken off and whether the match is typo-tolerant."""

    street: str
    penalty: int
    fuzzy: bool


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


def pinyin_keys(name: str) -> tuple[str, str]:
    """The exact and the near-homophone pinyin key of a name (``"yang guang xiao qu"``, ``"yan guan xiao qu"``)."""
    from pypinyin import lazy_pinyin  # a large dictionary: loaded on the first typo-tolerant lookup

    syllables = lazy_pinyin(name, errors="default")
    return " ".join(syllables), " ".join(_syllable(s) for s in syllables)


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
                add(known, HOMOPHONE_PENALTY, True)
            for known in near.get(fold, ()):
                add(known, NEAR_HOMOPHONE_PENALTY, True)
        max_edits = 1 if len(street) <= 4 else 2
        for known, dist, _ in process.extract(street, self._long, scorer=OSA.distance,
                                              score_cutoff=max_edits, limit=8):
            add(known, int(dist) * EDIT_PENALTY, True)
        return tuple(sorted(found.values(), key=lambda h: (h.penalty, h.street)))
