"""Chinese address normalisation and matching of free-text addresses against the address layer."""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from app.geo.city import City, short_form

#: A match is ``ok`` when the best candidate scores at least this much (0-100) and is not tied.
#: Scores: 100 exact after normalisation; 96 house number found but with the other suffix
#: (新华路12号楼 for 新华路12号); 92 one wrong/missing/extra character in the street name, or
#: unknown text before a known street; 84 two edits; below 90 a different house number on the
#: street (<= 85), a street without a number (70) or only a loose resemblance (< 60).
OK_THRESHOLD = 90

#: Points taken off per character edit in the street name.
_EDIT_PENALTY = 8
#: Points taken off when unknown text precedes a known street (e.g. an unlisted community name).
_JUNK_PREFIX_PENALTY = 8
#: Points taken off when the number exists with the other suffix (号 vs 号楼).
_SUFFIX_PENALTY = 4

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM_RE = re.compile("[零〇○一二两三四五六七八九十百千]+")
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
_PARSE_RE = re.compile(r"^(?P<street>.*?\D)(?P<number>\d+)(?P<suffix>号楼|号)?$")

_SUFFIX = {"compound": "号楼", "road": "号"}
_new_tuple = tuple.__new__

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
    """Character-level clean-up: NFKC, lower case, Arabic numerals, no spaces or punctuation (keeps # and -)."""
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
            out.append(re.compile(f"^(?:{_alternation(self.committees)})(?=\\D)(?![{_NAME_GOES_ON}委居社民])"))
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
    s = _clean(str(text)[:MAX_LENGTH])
    s = _HASH_RE.sub(r"\1号楼", s)
    s = _BUILDING_RE.sub(r"\1号楼", s)
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


class Candidate(NamedTuple):
    """One ranked match candidate."""

    address: str
    score: float
    id: str
    grid_code: str
    lon: float
    lat: float


#: The statuses a match can have.
STATUSES = ("ok", "ambiguous", "not_found", "invalid")
#: How the answer was reached (:attr:`MatchResult.match_kind`).
MATCH_KINDS = ("exact", "normalised", "fuzzy", "ambiguous", "not_found")


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching one address text.

    Attributes
    ----------
    query : str
        The text as given.
    normalized : str
        The text after :func:`normalize`.
    status : str
        ``"ok"`` (one candidate scores >= :data:`OK_THRESHOLD` and is clearly ahead of any
        candidate in another grid), ``"ambiguous"`` (two or more candidates too close to call,
        listed in ``candidates``), ``"not_found"`` (``candidates`` then holds the closest
        suggestions, possibly none; none for texts without address content such as 不详) or
        ``"invalid"`` (nothing left after normalisation).
    candidates : tuple of Candidate
        Best first.
    kind : str
        For ``ok``: ``"exact"``, ``"normalised"`` or ``"fuzzy"`` (see :attr:`match_kind`).
    """

    query: str
    normalized: str
    status: str
    candidates: tuple[Candidate, ...] = field(default=())
    kind: str = ""

    @property
    def best(self) -> Candidate | None:
        """The top candidate when the status is ``ok``, else None."""
        return self.candidates[0] if self.status == "ok" and self.candidates else None

    @property
    def match_kind(self) -> str:
        """``exact`` (the text is a stored standard address), ``normalised`` (equal after
        normalisation and parsing), ``fuzzy`` (typo-tolerant but ``ok``), ``ambiguous`` or ``not_found``."""
        if self.status == "ok":
            return self.kind or "normalised"
        return "ambiguous" if self.status == "ambiguous" else "not_found"

    @property
    def matched_address(self) -> str | None:
        """The standard address of the winning candidate; None unless the status is ``ok``."""
        b = self.best
        return b.address if b is not None else None

    @property
    def score(self) -> float:
        """The best candidate's score (0-100), 0 when there is no candidate."""
        return float(self.candidates[0].score) if self.candidates else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "query": self.query,
            "normalized": self.normalized,
            "status": self.status,
            "matched_address": self.matched_address,
            "match_kind": self.match_kind,
            "score": self.score,
            "candidates": [c._asdict() for c in self.candidates],
        }


_CoreResult = tuple[str, tuple[Candidate, ...]]


class AddressMatcher:
    """Match free-text addresses against an address table.

    The index is built on first use (well under a second for ~12k addresses): an exact
    dictionary of normalised addresses, and per street the sorted house numbers. Queries that
    are not exact after normalisation are blocked by street: the exact street (nearest house
    numbers), a known street after unknown leading text, then streets within one or two
    character edits (rapidfuzz Levenshtein); if none of those, the streets most alike by
    rapidfuzz WRatio give low-scored suggestions.

    Parameters
    ----------
    addresses : DataFrame or GeoDataFrame
        Columns ``id``, ``address``, ``grid_code`` and either point ``geometry`` (lon/lat) or
        ``lon``/``lat`` columns; ``street``, ``number`` and ``kind`` are used when present.
    prefixes : AddressPrefixes, optional
        The city's place names that addresses may start with (see :func:`normalize`); none by default.
    """

    def __init__(self, addresses: pd.DataFrame, prefixes: AddressPrefixes | None = None) -> None:
        self._source = addresses
        self.prefixes = prefixes or NO_PREFIXES
        self._lock = threading.Lock()
        self._built = False

    # -- index -------------------------------------------------------------------------------
    def _build(self) -> None:
        with self._lock:
            if self._built:
                return
            df = self._source
            n = len(df)
            if "geometry" in df.columns and n:
                geom = df.geometry
                lon = np.asarray(geom.x, dtype=float)
                lat = np.asarray(geom.y, dtype=float)
            elif {"lon", "lat"} <= set(df.columns):
                lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
                lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
            else:
                lon = lat = np.full(n, np.nan)
            ids = df["id"].astype(str).tolist() if "id" in df.columns else [str(i) for i in range(n)]
            grids = df["grid_code"].astype(str).tolist() if "grid_code" in df.columns else [""] * n
            texts = df["address"].astype(str).tolist()
            streets = df["street"].astype(str).tolist() if "street" in df.columns else [None] * n
            numbers = df["number"].tolist() if "number" in df.columns else [None] * n
            kinds = df["kind"].astype(str).tolist() if "kind" in df.columns else [None] * n

            self._rows: list[Candidate] = []
            self._suffix: list[str] = []
            self._exact: dict[str, list[int]] = {}
            by_street: dict[str, dict[int, list[int]]] = {}
            for i in range(n):
                self._rows.append(Candidate(texts[i], 100.0, ids[i], grids[i],
                                            round(float(lon[i]), 6), round(float(lat[i]), 6)))
                keys = {normalize(texts[i], self.prefixes)}
                street, number, suffix = parse(next(iter(keys)))
                if streets[i] is not None and numbers[i] is not None and not pd.isna(numbers[i]):
                    suffix = _SUFFIX.get(kinds[i] or "", suffix)
                    key = normalize(f"{streets[i]}{int(numbers[i])}{suffix}", self.prefixes)
                    keys.add(key)
                    street, number, suffix = parse(key)
                self._suffix.append(suffix)
                for key in keys:
                    if key:
                        self._exact.setdefault(key, []).append(i)
                if number is not None:
                    by_street.setdefault(street, {}).setdefault(number, []).append(i)
            self._by_street = by_street
            self._numbers = {s: sorted(nums) for s, nums in by_street.items()}
            self._streets = sorted(by_street)
            self._built = True

    def __len__(self) -> int:
        """Number of addresses indexed."""
        if not self._built:
            self._build()
        return len(self._rows)

    # -- matching ----------------------------------------------------------------------------
    def _street_candidates(self, street: str) -> list[tuple[str, int]]:
        """Known streets close to ``street`` with their penalty, best first."""
        if street in self._by_street:
            return [(street, 0)]
        for word in self.prefixes.city_words:  # 嘉峪关东湖新村: the city, not part of the name
            if street.startswith(word) and street[len(word):] in self._by_street:
                return [(street[len(word):], 0)]
        found: list[tuple[str, int]] = []
        for k in range(1, len(street) - 1):  # longest known street that ends the text
            if street[k:] in self._by_street:
                found.append((street[k:], _JUNK_PREFIX_PENALTY))
                break
        max_edits = 1 if len(street) <= 4 else 2
        for known, dist, _ in process.extract(street, self._streets, scorer=Levenshtein.distance,
                                              score_cutoff=max_edits, limit=5):
            if len(known) >= 3 and all(known != s for s, _ in found):
                found.append((known, int(dist) * _EDIT_PENALTY))
        return sorted(found, key=lambda t: t[1])

    def _match_core(self, norm: str, limit: int) -> _CoreResult:
        """Status and candidates for a normalised, non-empty text."""
        street, number, suffix = parse(norm)
        exact = self._exact.get(norm, ())
        scored: dict[int, float] = dict.fromkeys(exact, 100.0)

        def add(i: int, score: float) -> None:
            if score > scored.get(i, -1.0):
                scored[i] = score

        if exact:  # exact first, then neighbours on the same street as further suggestions
            streets = [(street, 0)] if street in self._by_street else []
        else:
            streets = self._street_candidates(street)
        for known, penalty in streets:
            numbers = self._numbers[known]
            on_street = self._by_street[known]
            if number is None:
                for num in numbers[:limit]:
                    for i in on_street[num]:
                        add(i, 70 - penalty)
                continue
            for i in on_street.get(number, ()):
                wrong_suffix = bool(suffix) and suffix != self._suffix[i]
                add(i, 100 - penalty - (_SUFFIX_PENALTY if wrong_suffix else 0))
            pos = bisect.bisect_left(numbers, number)
            lo, hi = pos - 1, pos + (pos < len(numbers) and numbers[pos] == number)
            for _ in range(limit):  # the nearest other numbers, walking outwards
                if lo >= 0 and (hi >= len(numbers) or number - numbers[lo] <= numbers[hi] - number):
                    num, lo = numbers[lo], lo - 1
                elif hi < len(numbers):
                    num, hi = numbers[hi], hi + 1
                else:
                    break
                for i in on_street[num]:
                    add(i, max(50, 86 - 2 * abs(num - number)) - penalty)
        if not streets and self._streets:
            for known, sim, _ in process.extract(street, self._streets, scorer=fuzz.WRatio,
                                                 limit=min(3, limit)):
                numbers = self._numbers[known]
                pos = bisect.bisect_left(numbers, number) if number is not None else 0
                for num in numbers[max(0, pos - 1):pos + 1]:
                    for i in self._by_street[known][num]:
                        add(i, round(sim * 0.6, 1))
        if not scored:
            return "not_found", ()
        ranked = sorted(scored.items(), key=lambda t: (-t[1], t[0]))[:limit]
        rows = self._rows
        cands = tuple(_new_tuple(Candidate, (rows[i][0], float(s), *rows[i][2:])) for i, s in ranked)
        best = cands[0].score
        tied = best < 100 and len(cands) > 1 and cands[1].score == best and cands[1].address != cands[0].address
        status = ("ambiguous" if tied else "ok") if best >= OK_THRESHOLD else "not_found"
        return status, cands

    def match(self, text: str, limit: int = 5) -> MatchResult:
        """Match one free-text address.

        Parameters
        ----------
        text : str
            The address as typed, e.g. ``"嘉峪关市新华路十二号2单元301室"``.
        limit : int, default 5
            Most candidates to return.

        Returns
        -------
        MatchResult
            Status ``ok``, ``not_found`` or ``invalid`` and ranked candidates.
        """
        if not self._built:
            self._build()
        text = "" if text is None else str(text)
        norm = normalize(text, self.prefixes)
        if not norm:
            return MatchResult(text, norm, "invalid", ())
        status, cands = self._match_core(norm, limit)
        return MatchResult(text, norm, status, cands, _kind(text, status, cands))

    def match_many(self, texts: Iterable[str], limit: int = 5) -> list[MatchResult]:
        """Match many addresses; repeated texts and repeated normalised forms are matched once.

        Parameters
        ----------
        texts : iterable of str
            Address texts; None or NaN counts as empty (status ``invalid``).
        limit : int, default 5
            Most candidates per result.

        Returns
        -------
        list of MatchResult
            One result per input, in order.
        """
        if not self._built:
            self._build()
        by_text: dict[str, MatchResult] = {}
        by_norm: dict[str, _CoreResult] = {}
        out: list[MatchResult] = []
        for raw in texts:
            text = "" if raw is None or (isinstance(raw, float) and raw != raw) else str(raw)
            res = by_text.get(text)
            if res is None:
                norm = normalize(text, self.prefixes)
                if not norm:
                    res = MatchResult(text, norm, "invalid", ())
                else:
                    core = by_norm.get(norm)
                    if core is None:
                        core = by_norm[norm] = self._match_core(norm, limit)
                    res = MatchResult(text, norm, core[0], core[1], _kind(text, core[0], core[1]))
                by_text[text] = res
            out.append(res)
        return out


def _kind(text: str, status: str, cands: tuple[Candidate, ...]) -> str:
    if status != "ok":
        return ""
    if text.strip() == cands[0].address:
        return "exact"
    return "normalised" if cands[0].score >= 100 else "fuzzy"


def results_frame(results: Sequence[MatchResult]) -> pd.DataFrame:
    """Flatten match results into one row per query with the best candidate's fields.

    Parameters
    ----------
    results : sequence of MatchResult
        Output of :meth:`AddressMatcher.match_many`.

    Returns
    -------
    DataFrame
        Columns ``query, normalized, status, matched_address, match_kind, score, address_id,
        grid_code, lon, lat, suggestions``; candidate fields are empty/NaN unless status is ``ok``
        (``score`` is the best candidate's score, 0 when there is none), and ``suggestions`` lists
        up to three candidate addresses for ``ambiguous`` and ``not_found`` rows.
    """
    rows = []
    for r in results:
        b = r.best
        rows.append({
            "query": r.query,
            "normalized": r.normalized,
            "status": r.status,
            "matched_address": b.address if b else "",
            "match_kind": r.match_kind,
            "score": r.score,
            "address_id": b.id if b else "",
            "grid_code": b.grid_code if b else "",
            "lon": b.lon if b else np.nan,
            "lat": b.lat if b else np.nan,
            "suggestions": "" if b else "；".join(c.address for c in r.candidates[:3]),
        })
    return pd.DataFrame(rows, columns=["query", "normalized", "status", "matched_address", "match_kind", "score",
                                       "address_id", "grid_code", "lon", "lat", "suggestions"])
