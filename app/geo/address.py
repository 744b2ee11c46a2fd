"""Chinese address normalisation and matching of free-text addresses against the address layer."""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from app.geo._address_parse import (
    MAX_LENGTH,
    NO_PREFIXES,
    AddressPrefixes,
    _clean,
    is_placeholder_cleaned,
    normalize,
    normalize_cleaned,
    parse,
)
from app.geo._address_streets import StreetHit, StreetIndex
from app.geo._address_table import AddressTable, Coded, Strings, build_table

__all__ = ["MATCH_KINDS", "MAX_LENGTH", "NO_PREFIXES", "OK_THRESHOLD", "STATUSES", "AddressMatcher",
           "AddressPrefixes", "Candidate", "MatchResult", "normalize", "parse", "results_frame"]

#: A match is ``ok`` when the best candidate scores at least this much (0-100) and no candidate
#: with another address scores within :data:`MARGIN` of it. Scores (100 minus the penalties of
#: :mod:`app.geo._address_streets`): 100 the street (or an alias) and number as stored, after
#: normalisation; 98 a generic ending added (福民花园小区 for 福民花园) or a homophone; 96 a
#: near-homophone, a missing generic ending or character, swapped characters, or the other number
#: suffix (新华路12号楼 for 新华路12号); 94 a character sharing its pinyin initial or final; 92 a stray
#: character, another generic ending, unknown leading text, or a sound-alike or missing character
#: in a two-character name; 90 any other wrong character in a longer name; 89 a wrong character in a
#: two-character name (never ``ok`` alone, see :data:`PLAUSIBLE`); <= 80 two edits; <= 86 a number the
#: street does not have; <= 70 a street without a number; < 60 a loose resemblance. Candidates
#: outside a committee named in the text lose :data:`COMMITTEE_PENALTY` when some candidate is in it.
OK_THRESHOLD = 90
#: Below :data:`OK_THRESHOLD` but this high: one character edit in a short name (兰杨路 for 兰新路), never
#: ``ok`` alone; two such readings tied are ``ambiguous``, one alone is ``not_found`` with it as suggestion.
PLAUSIBLE = 87
#: A winner must be this many points ahead of the best candidate with another address.
MARGIN = 4
#: Points taken off candidates outside the committee the text names (when any candidate is in it).
COMMITTEE_PENALTY = 6
#: Points taken off when the number exists with the other suffix (号 vs 号楼).
_SUFFIX_PENALTY = 4

_SUFFIX = {"compound": "号楼", "road": "号"}
_new_tuple = tuple.__new__

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


_CoreResult = tuple[str, tuple[Candidate, ...], str]


class AddressMatcher:
    """Match free-text addresses against an address table.

    The index is built on first use (well under a second for ~12k addresses): an exact
    dictionary of normalised addresses, and per street (and per alias) the sorted house numbers.
    A query is normalised and parsed into street, number and suffix; a street that is not known
    is looked up typo-tolerantly (:class:`app.geo._address_streets.StreetIndex`: generic
    endings, unknown leading text, homophones and near-homophones in pinyin, one or two
    character edits). Every reading is scored; the best wins only when it is clearly ahead of
    the best candidate with another address (:data:`MARGIN`), else the answer is ``ambiguous``.
    When the likeliest street lacks the number, no other street's candidate may win. A
    committee named in the text breaks ties (:data:`COMMITTEE_PENALTY`).

    Parameters
    ----------
    addresses : DataFrame or GeoDataFrame
        Columns ``id``, ``address``, ``grid_code`` and either point ``geometry`` (lon/lat) or
        ``lon``/``lat`` columns; ``street``, ``number`` and ``kind`` are used when present, and
        ``aliases`` ("|"-separated other names of the row's street, e.g. an old road name).
    prefixes : AddressPrefixes, optional
        The city's place names that addresses may start with (see :func:`normalize`); none by default.
    grid_committee : mapping of str to str, optional
        Committee name by grid code, for the committee tie-break; none by default.
    """

    def __init__(self, addresses: pd.DataFrame, prefixes: AddressPrefixes | None = None,
                 grid_committee: dict[str, str] | None = None, table: AddressTable | None = None) -> None:
        self._source: pd.DataFrame | None = addresses  # dropped once the index is built
        self._table = table
        self.prefixes = prefixes or NO_PREFIXES
        self.grid_committee = dict(grid_committee or {})
        self._lock = threading.Lock()
        self._built = False

    # -- index -------------------------------------------------------------------------------
    def _build(self) -> None:
        with self._lock:
            if self._built:
                return
            df = self._source
            assert df is not None
            n = len(df)
            # address, id, grid code and point: the table the Dataset shares with the nearest-address lookup
            table = self._table if self._table is not None and len(self._table) == n else build_table(df)
            self._table = None
            texts = table.address
            streets = df["street"].astype(str).tolist() if "street" in df.columns else [None] * n
            numbers = df["number"].tolist() if "number" in df.columns else [None] * n
            kinds = df["kind"].astype(str).tolist() if "kind" in df.columns else [None] * n
            aliases = df["aliases"].tolist() if "aliases" in df.columns else [None] * n

            # one column per candidate field, not a tuple per row: texts and ids as one string each,
            # repeated strings (grid codes, suffixes) kept once
            shared: dict[str, str] = {}
            self._address = table.address
            self._id = table.id
            self._grid: Coded = table.grid_code
            self._lon = table.lon
            self._lat = table.lat
            self._suffix: Any = []  # list of str while building, then Coded
            self._exact: dict[str, Any] = {}  # normalised text -> rows (a list while building, then an int array)
            by_street: dict[str, dict[int, Any]] = {}
            # a text normalised and parsed once however often it repeats (tiled or copied tables, aliases)
            normalised: dict[str, str] = {}
            parsed: dict[str, tuple[str, int | None, str]] = {}
            prefixes = self.prefixes

            def norm(text: str) -> str:
                out = normalised.get(text)
                if out is None:
                    out = normalised[text] = normalize(text, prefixes)
                return out

            def split(key: str) -> tuple[str, int | None, str]:
                out = parsed.get(key)
                if out is None:
                    out = parsed[key] = parse(key)
                return out

            for i in range(n):
                keys = {norm(texts[i])}
                street, number, suffix = split(next(iter(keys)))
                if streets[i] is not None and numbers[i] is not None and not pd.isna(numbers[i]):
                    suffix = _SUFFIX.get(kinds[i] or "", suffix)
                    key = norm(f"{streets[i]}{int(numbers[i])}{suffix}")
                    keys.add(key)
                    street, number, suffix = split(key)
                self._suffix.append(shared.setdefault(suffix, suffix))
                names = [street]
                if isinstance(aliases[i], str) and aliases[i].strip() and number is not None:
                    for alias in aliases[i].split("|"):
                        key = norm(f"{alias.strip()}{number}{suffix}")
                        alias_street, alias_number, _ = split(key)
                        if alias.strip() and alias_number == number:
                            keys.add(key)
                            names.append(alias_street)
                for key in keys:
                    if key:
                        self._exact.setdefault(key, []).append(i)
                if number is not None:
                    for name in names:
                        by_street.setdefault(name, {}).setdefault(number, []).append(i)
            # rows as machine integers, not a list of int objects per key (a large city: tens of MB)
            self._exact = {key: array("i", rows) for key, rows in self._exact.items()}
            by_street = {s: {num: array("i", rows) for num, rows in nums.items()} for s, nums in by_street.items()}
            self._suffix = Coded.of(self._suffix)
            self._by_street = by_street
            self._numbers = {s: sorted(nums) for s, nums in by_street.items()}
            self._streets = sorted(by_street)
            self._index = StreetIndex(by_street, self.prefixes.city_words)
            self._row_committee = self._grid.mapped([self.grid_committee.get(g, "") for g in self._grid.values])
            names = {_clean(c) for c in (*self.prefixes.committees, *self.grid_committee.values()) if c}
            heads: dict[str, list[str]] = {}  # first two characters -> names, longest first
            for name in sorted((c for c in names if len(c) >= 2), key=lambda c: (-len(c), c)):
                heads.setdefault(name[:2], []).append(name)
            self._committee_heads = heads
            self._committee_name = {_clean(c): c for c in self.grid_committee.values() if c}
            self._source = None  # the layer is not kept alive by the matcher
            self._built = True

    def __len__(self) -> int:
        """Number of addresses indexed."""
        if not self._built:
            self._build()
        return len(self._address)

    # -- matching ----------------------------------------------------------------------------
    def _candidate(self, i: int, score: float) -> Candidate:
        """Row ``i`` as a candidate with ``score`` (coordinates rounded to 6 decimals)."""
        return _new_tuple(Candidate, (self._address[i], float(score), self._id[i], self._grid[i],
                                      round(float(self._lon[i]), 6), round(float(self._lat[i]), 6)))

    def _committee(self, cleaned: str, norm: str) -> str:
        """The committee the text names before its street, or ``""``."""
        heads = self._committee_heads
        if not heads:
            return ""
        for i in range(len(cleaned) - 1):  # the leftmost (then longest) committee name in the text
            names = heads.get(cleaned[i:i + 2])
            if names:
                for name in names:
                    if cleaned.startswith(name, i):
                        return "" if norm.startswith(name) else self._committee_name.get(name, "")
        return ""

    def _known_core(self, street: str, number: int, suffix: str, exact: Sequence[int], limit: int) -> _CoreResult:
        """:meth:`_match_core` for a known street with a number and no committee named (most of a batch)."""
        scored = dict.fromkeys(exact, 100.0)
        on_street = self._by_street[street]
        for i in on_street.get(number, ()):
            if i not in scored:
                scored[i] = 100.0 - (_SUFFIX_PENALTY if suffix and suffix != self._suffix[i] else 0)
        numbers = self._numbers[street]
        pos = bisect.bisect_left(numbers, number)
        lo, hi = pos - 1, pos + (pos < len(numbers) and numbers[pos] == number)
        for _ in range(limit):  # the nearest other numbers as further suggestions
            if lo >= 0 and (hi >= len(numbers) or number - numbers[lo] <= numbers[hi] - number):
                num, lo = numbers[lo], lo - 1
            elif hi < len(numbers):
                num, hi = numbers[hi], hi + 1
            else:
                break
            for i in on_street[num]:
                if i not in scored:
                    scored[i] = max(50, 86 - 2 * abs(num - number))
        ranked = sorted(scored.items(), key=lambda t: (-t[1], t[0]))
        cands = tuple(self._candidate(i, s) for i, s in ranked[:limit])
        status = _status(ranked, self._address)
        return status, cands, "normalised" if status == "ok" else ""

    def _match_core(self, norm: str, committee: str, limit: int) -> _CoreResult:
        """Status, candidates and match kind for a normalised, non-empty text."""
        street, number, suffix = parse(norm)
        exact = self._exact.get(norm, ())
        if not committee and number is not None and street in self._by_street:
            return self._known_core(street, number, suffix, exact, limit)
        scored: dict[int, float] = dict.fromkeys(exact, 100.0)
        fuzzy: set[int] = set()

        def add(i: int, score: float, is_fuzzy: bool) -> None:
            if score > scored.get(i, -1.0):
                scored[i] = score
                if is_fuzzy:
                    fuzzy.add(i)
                else:
                    fuzzy.discard(i)

        if exact:  # exact first, then neighbours on the same street as further suggestions
            hits: tuple[StreetHit, ...] = (StreetHit(street, 0, False),) if street in self._by_street else ()
        else:
            hits = self._index.lookup(street)
            if committee and street not in self._index:  # 横沟村遗组路: the village is part of the name
                merged = {h.street: h for h in self._index.lookup(_clean(committee) + street)}
                for h in hits:
                    if h.street not in merged or h.penalty < merged[h.street].penalty:
                        merged[h.street] = h
                hits = tuple(sorted(merged.values(), key=lambda h: (h.penalty, h.street)))
        cap = 101.0
        if number is not None and hits and not exact:
            top = hits[0].penalty
            if not any(number in self._by_street[h.street] for h in hits if h.penalty == top):
                cap = OK_THRESHOLD - 1  # the likeliest street lacks the number: nothing else may win
        for known, penalty, is_fuzzy in hits:
            numbers = self._numbers[known]
            on_street = self._by_street[known]
            if number is None:
                for num in numbers[:limit]:
                    for i in on_street[num]:
                        add(i, 70 - penalty, True)
                continue
            for i in on_street.get(number, ()):
                wrong_suffix = bool(suffix) and suffix != self._suffix[i]
                score = 100 - penalty - (_SUFFIX_PENALTY if wrong_suffix else 0)
                add(i, score if penalty == hits[0].penalty else min(score, cap), is_fuzzy)
            if penalty != hits[0].penalty:  # neighbours (<= 86) of a likelier street only, as suggestions
                continue
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
                    add(i, max(50, 86 - 2 * abs(num - number)) - penalty, True)
        if not hits and self._streets:
            for known, sim, _ in process.extract(street, self._streets, scorer=fuzz.WRatio,
                                                 limit=min(3, limit)):
                numbers = self._numbers[known]
                pos = bisect.bisect_left(numbers, number) if number is not None else 0
                for num in numbers[max(0, pos - 1):pos + 1]:
                    for i in self._by_street[known][num]:
                        add(i, round(sim * 0.6, 1), True)
        if not scored:
            return "not_found", (), ""
        if committee:
            inside = {i for i in scored if self._row_committee[i] == committee}
            if inside and len(inside) < len(scored):
                for i in scored:
                    if i not in inside:
                        scored[i] -= COMMITTEE_PENALTY
        ranked = sorted(scored.items(), key=lambda t: (-t[1], t[0]))
        first = ranked[0][0]
        status = _status(ranked, self._address)
        cands = tuple(self._candidate(i, s) for i, s in ranked[:limit])
        kind = ("fuzzy" if first in fuzzy else "normalised") if status == "ok" else ""
        return status, cands, kind

    def _parsed(self, cleaned: str) -> tuple[str, str, bool]:
        """Normalised text, the committee it names and whether it is a placeholder, for a cleaned text."""
        norm = normalize_cleaned(cleaned, self.prefixes)
        return norm, self._committee(cleaned, norm) if norm else "", is_placeholder_cleaned(cleaned)

    def _result(self, text: str, cache: dict[Any, Any] | None, limit: int) -> MatchResult:
        cleaned = _clean(text[:MAX_LENGTH])
        parsed = cache.get(cleaned) if cache is not None else None
        if parsed is None:
            parsed = self._parsed(cleaned)
            if cache is not None:
                cache[cleaned] = parsed
        norm, committee, placeholder = parsed
        if placeholder:
            return MatchResult(text, norm, "not_found", ())
        if not norm:
            return MatchResult(text, norm, "invalid", ())
        key = (norm, committee)
        core = cache.get(key) if cache is not None else None
        if core is None:
            core = self._match_core(norm, committee, limit)
            if cache is not None:
                cache[key] = core
        status, cands, kind = core
        if status == "ok" and text.strip() == cands[0].address:
            kind = "exact"
        return MatchResult(text, norm, status, cands, kind)

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
            Status ``ok``, ``ambiguous``, ``not_found`` or ``invalid``, the match kind and ranked
            candidates. Texts that say there is no address (无, 不详, 未知, 空, only a number)
            are ``not_found`` with no candidate; empty ones are ``invalid``.
        """
        if not self._built:
            self._build()
        return self._result("" if text is None else str(text), None, limit)

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
        by_norm: dict[Any, Any] = {}  # cleaned text -> parsed; (normalised, committee) -> core result
        out: list[MatchResult] = []
        for raw in texts:
            text = "" if raw is None or (isinstance(raw, float) and raw != raw) else str(raw)
            res = by_text.get(text)
            if res is None:
                res = by_text[text] = self._result(text, by_norm, limit)
            out.append(res)
        return out


def _status(ranked: list[tuple[int, float]], addresses: Strings) -> str:
    """``ok``, ``ambiguous`` or ``not_found`` for scored rows, best first (see :data:`MARGIN`, :data:`PLAUSIBLE`)."""
    first, best = ranked[0]
    address = addresses[first]
    rival = next((s for i, s in ranked[1:] if addresses[i] != address), None)
    close = rival is not None and rival > best - MARGIN and not (best >= 100 > rival)
    if best >= OK_THRESHOLD:
        return "ambiguous" if close else "ok"
    return "ambiguous" if close and best >= PLAUSIBLE else "not_found"  # weak readings tied are still a tie


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
