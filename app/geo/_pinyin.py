"""Pinyin without pypinyin's dictionaries in this process: a compact character table and phrase initials from a child."""

from __future__ import annotations

import bisect
import hashlib
import json
import subprocess
import sys
import threading
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

#: Seconds the child process may take; after that (or any failure) pypinyin is loaded in this process.
CHILD_TIMEOUT_S = 120.0
#: Lists of names whose phrase initials are remembered (a test session reads the same small city many times).
_KEEP = 16
#: The folder holding the ``app`` package, for the child's ``sys.path``.
_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class CharTable:
    """The toneless readings of every character pypinyin knows, the usual one first (长: chang, zhang).

    pypinyin's phrase dictionaries hold ~55 MB once loaded; this table holds the same single-character
    answers in well under 1 MB (sorted code points, an index into the distinct reading lists).

    Parameters
    ----------
    codes : list of int
        The characters' code points, ascending.
    rows : list of int
        For each code point, its entry in ``entries``.
    entries : list of str
        Distinct entries ``"usual;first letter;reading,reading"`` (``"chang;c;chang,zhang"``).
    """

    __slots__ = ("_codes", "_entries", "_rows")

    def __init__(self, codes: list[int], rows: list[int], entries: list[str]) -> None:
        self._codes = array("I", codes)
        self._rows = array("I", rows)
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._codes)

    def _entry(self, ch: str) -> str | None:
        cp = ord(ch)
        i = bisect.bisect_left(self._codes, cp)
        return self._entries[self._rows[i]] if i < len(self._codes) and self._codes[i] == cp else None

    def primary(self, ch: str) -> str:
        """``lazy_pinyin(ch, errors="default")[0]``: the usual reading, or the character itself."""
        found = self._entry(ch)
        return ch if found is None else found.split(";")[0]

    def readings(self, ch: str) -> frozenset[str]:
        """``frozenset(pinyin(ch, style=NORMAL, heteronym=True, errors="default")[0])``: the character itself if none."""
        found = self._entry(ch)
        return frozenset((ch,)) if found is None else frozenset(found.split(";")[2].split(","))

    def first_letter(self, ch: str) -> str:
        """``lazy_pinyin(ch, style=FIRST_LETTER)[0]``: the usual reading's first letter, or the character itself."""
        found = self._entry(ch)
        return ch if found is None else found.split(";")[1]


_lock = threading.Lock()
_table: CharTable | None = None
_phrases: OrderedDict[bytes, list[str]] = OrderedDict()


def table() -> CharTable:
    """The character table of the installed pypinyin, made once per process (see :func:`phrase_initials`)."""
    if _table is None:
        _fetch([])
    assert _table is not None
    return _table


def phrase_initials(groups: list[list[str]]) -> list[list[str]]:
    """``"".join(lazy_pinyin(name, style=FIRST_LETTER))`` of every name, polyphones read in their phrase.

    The phrase dictionaries are loaded by a short-lived child process (this process stays without
    them), unless pypinyin is loaded here already or the child fails; answers are the same either way.
    The character table comes back with the first call, so one child serves both.

    Parameters
    ----------
    groups : list of list of str
        Lists of names (each list one layer's).

    Returns
    -------
    list of list of str
        The initials of each name, in the shape of ``groups`` (not folded: ``"XGsq"`` stays as it is).
    """
    keys = [_digest(names) for names in groups]
    with _lock:
        missing = [i for i, k in enumerate(keys) if k not in _phrases]
    if missing or _table is None:
        _fetch([groups[i] for i in missing], [keys[i] for i in missing])
    with _lock:
        return [list(_phrases[k]) for k in keys]


def _digest(names: list[str]) -> bytes:
    return hashlib.sha256(json.dumps(names, ensure_ascii=False).encode("utf-8", "surrogatepass")).digest()


def _fetch(groups: list[list[str]], keys: list[bytes] | None = None) -> None:
    """Compute the table (when not made yet) and the phrase initials of ``groups``; remember them."""
    global _table
    request = {"table": _table is None, "names": groups}
    answer = _work(request) if "pypinyin" in sys.modules else _child_answer(request)
    with _lock:
        if answer["table"] is not None and _table is None:
            t = answer["table"]
            _table = CharTable(t["codes"], t["rows"], t["entries"])
        for key, found in zip(keys or [], answer["names"], strict=True):
            _phrases[key] = found
            _phrases.move_to_end(key)
        while len(_phrases) > _KEEP:
            _phrases.popitem(last=False)


def _child_answer(request: dict[str, Any]) -> dict[str, Any]:
    """:func:`_work` in a child process; in this process when the child cannot run or answer."""
    code = f"import sys; sys.path.insert(0, {_ROOT!r}); from app.geo._pinyin import _child; _child()"
    try:
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(request).encode(), capture_output=True,
                              timeout=CHILD_TIMEOUT_S, check=True)
        answer = json.loads(done.stdout)
        if len(answer["names"]) == len(request["names"]) and (answer["table"] is not None) == request["table"]:
            return answer
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        pass
    return _work(request)


def _child() -> None:
    """The child's side: a JSON request on stdin, its answer on stdout."""
    sys.stdout.write(json.dumps(_work(json.loads(sys.stdin.buffer.read()))))


def _work(request: dict[str, Any]) -> dict[str, Any]:
    """Ask pypinyin: ``{"table": bool, "names": [[name, ...], ...]}`` -> the table's arrays and the initials."""
    from pypinyin import Style, lazy_pinyin, pinyin
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

    out: dict[str, Any] = {"table": None,
                           "names": [["".join(lazy_pinyin(n, style=Style.FIRST_LETTER)) for n in names]
                                     for names in request["names"]]}
    if request["table"]:
        # a character's answer depends only on its dictionary entry (unless it is a phrase of its own):
        # ask once per distinct entry, with a list so each item is read on its own
        codes = sorted(PINYIN_DICT)
        alone = {c for c in codes if chr(c) in PHRASES_DICT}
        ask: dict[str, str] = {}
        for c in codes:
            key = chr(c) if c in alone else PINYIN_DICT[c]
            ask.setdefault(key, chr(c))
        chars = list(ask.values())
        usual = lazy_pinyin(chars, errors="default")
        first = lazy_pinyin(chars, style=Style.FIRST_LETTER)
        every = pinyin(chars, style=Style.NORMAL, heteronym=True, errors="default")
        entry: dict[str, str] = {}
        for key, u, f, e in zip(ask, usual, first, every, strict=True):
            entry[key] = f"{u};{f};{','.join(e)}"
        entries = sorted(set(entry.values()))
        number = {e: i for i, e in enumerate(entries)}
        rows = [number[entry[chr(c) if c in alone else PINYIN_DICT[c]]] for c in codes]
        out["table"] = {"codes": codes, "rows": rows, "entries": entries}
    return out
