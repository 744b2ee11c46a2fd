"""Search for everything on the map: grids, committees, divisions, facilities and addresses, ranked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from app.errors import GridmapError
from app.geo import _pinyin
from app.geo._map_topology import check_datum, shift_xy
from app.geo._shared_text import shared
from app.geo.dataset import Dataset

#: Kinds of result, in the order they win a tie.
KINDS: tuple[str, ...] = ("division", "committee", "grid", "facility", "address")
#: Longest query accepted, in characters.
MAX_QUERY = 100
#: Most results one search may ask for.
MAX_LIMIT = 50
#: Address candidates below this score (0-100) are not listed.
ADDRESS_MIN_SCORE = 70.0
#: Seconds a search waits for the address matcher while it is first built (in the background, see
#: :meth:`Dataset.address_matcher_ready`); a search that gives up lists the other kinds only.
ADDRESS_WAIT_S = 3.0
#: Up to this many addresses the first search waits for the whole build (a few seconds at most).
ADDRESS_SYNC_MAX = 50_000
#: Names up to this many per layer get their pinyin initials word by word (polyphones read in context);
#: longer layers letter by letter.
_PHRASE_PINYIN_MAX = 3000

_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACE = re.compile(r"\s+")


class SearchError(GridmapError):
    """A search query is empty, too long or asks for too many results."""

    default_status = 400
    default_key = "search"


@dataclass(frozen=True)
class _Index:
    """Searchable text of every named feature of one version, in parallel lists."""

    kind: list[str]
    code: list[str]
    name: list[str]
    lname: list[str]
    lcode: list[str]
    initials: list[str]
    lon: np.ndarray
    lat: np.ndarray
    bbox: np.ndarray  # (n, 4) rounded bounds; NaN rows for points (no bbox)
    detail: list[str]

    def box(self, i: int) -> list[float] | None:
        """The bbox of feature ``i`` as a fresh list, or None for a point."""
        row = self.bbox[i]
        return None if np.isnan(row[0]) else [float(v) for v in row]


def normalise(text: str) -> str:
    """Return ``text`` lower-cased with all white space removed (full-width letters folded)."""
    import unicodedata

    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).lower()


def initials(names: list[str]) -> list[str]:
    """Return the pinyin initials of each name (雄关社区 -> xgsq); letters and digits are kept.

    Parameters
    ----------
    names : list of str
        Chinese names.

    Returns
    -------
    list of str
        Lower-case initials, one string per name.
    """
    return _initials([names])[0]


def _initials(groups: list[list[str]]) -> list[list[str]]:
    """:func:`initials` of several lists of names at once (one child process for all the short lists).

    pypinyin's phrase dictionaries (~55 MB) are never loaded in this process (see :mod:`app.geo._pinyin`).
    """
    short = [i for i, names in enumerate(groups) if len(names) <= _PHRASE_PINYIN_MAX]
    read = dict(zip(short, _pinyin.phrase_initials([groups[i] for i in short]), strict=True)) if short else {}
    out = []
    for i, names in enumerate(groups):
        if i in read:
            out.append([normalise(s) for s in read[i]])
            continue
        t = _pinyin.table()
        first = {c: t.first_letter(c) for c in {c for n in names for c in n}}
        out.append([normalise("".join(first[c] for c in n)) for n in names])
    return out


def _text(values: Any) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else shared(str(v)) for v in values]


def _index(ds: Dataset) -> _Index:
    """Build (once per version) the searchable text and places of divisions, committees, grids and facilities."""

    def build() -> _Index:
        kind: list[str] = []
        code: list[str] = []
        name: list[str] = []
        lon: list[float] = []
        lat: list[float] = []
        bbox: list[np.ndarray] = []
        detail: list[str] = []
        names = set(ds.store.layer_names())
        com_names: dict[str, str] = {}
        if "committees" in names:
            coms = ds.layer("committees")
            com_names = dict(zip(_text(coms["code"]), _text(coms["name"]), strict=True))
        for layer, k in (("divisions", "division"), ("committees", "committee"), ("grids", "grid")):
            if layer not in names:
                continue
            gdf = ds.layer(layer)
            geoms = np.asarray(gdf.geometry.values, dtype=object)
            pts = shapely.point_on_surface(geoms)
            b = shapely.bounds(geoms)
            kind += [k] * len(gdf)
            code += _text(gdf["code"])
            name += _text(gdf["name"]) if "name" in gdf else [""] * len(gdf)
            lon += shapely.get_x(pts).tolist()
            lat += shapely.get_y(pts).tolist()
            bbox.append(np.array([[round(v, 6) for v in row] for row in b.tolist()], dtype=float).reshape(-1, 4))
            if k == "grid" and "committee_code" in gdf:
                detail += [com_names.get(c, "") for c in _text(gdf["committee_code"])]
            else:
                detail += [""] * len(gdf)
        if "facilities" in names:
            fac = ds.layer("facilities")
            kind += ["facility"] * len(fac)
            code += _text(fac["id"])
            name += _text(fac["name"])
            lon += fac.geometry.x.tolist()
            lat += fac.geometry.y.tolist()
            bbox.append(np.full((len(fac), 4), np.nan))
            detail += _text(fac["category"])
        by_kind: dict[str, list[int]] = {}
        for i, k in enumerate(kind):
            by_kind.setdefault(k, []).append(i)
        ini = [""] * len(name)
        groups = list(by_kind.values())
        for rows, found in zip(groups, _initials([[name[i] for i in rows] for rows in groups]), strict=True):
            for i, s in zip(rows, found, strict=True):
                ini[i] = s
        def folded(texts: list[str]) -> list[str]:  # the text itself where folding changes nothing (no copy)
            out = []
            for t in texts:
                f = normalise(t)
                out.append(t if f == t else f)
            return out

        boxes = np.concatenate(bbox) if bbox else np.zeros((0, 4))
        return _Index(kind, code, name, folded(name), folded(code), ini,
                      np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), boxes, detail)

    return ds.cached("search.index", build)


def _score(q: str, name: str, code: str, ini: str, ascii_q: bool) -> float:
    """Score one feature for a normalised query (0: no match)."""
    s = 0.0
    if name == q:
        s = 98.0
    elif name.startswith(q):
        s = 90.0 - min(len(name) - len(q), 20) * 0.2
    elif q in name:
        s = 75.0 - min(len(name) - len(q), 20) * 0.2
    if code == q:
        s = max(s, 100.0)
    elif code.startswith(q) and len(q) >= 2:
        s = max(s, 85.0 - min(len(code) - len(q), 20) * 0.2)
    elif len(q) >= 4 and q in code:
        s = max(s, 60.0)
    if ascii_q and ini:
        if ini == q:
            s = max(s, 88.0)
        elif ini.startswith(q):
            s = max(s, 80.0 - min(len(ini) - len(q), 20) * 0.2)
        elif len(q) >= 2 and q in ini:
            s = max(s, 55.0)
    return s


def search(ds: Dataset, q: str, limit: int = 10, datum: str = "wgs84",
           address_wait: float = ADDRESS_WAIT_S) -> list[dict[str, Any]]:
    """Find grids, committees, divisions, facilities and addresses by name, code or pinyin initials.

    Names and codes score by how they meet the query (equal, starts with it, contains it); an
    ASCII query also meets the pinyin initials of names (xgsq finds 雄关社区). Ties go to the
    larger unit (division before committee before grid before facility), then the shorter name.
    A query with Chinese characters also goes to the address matcher
    (:attr:`Dataset.address_matcher`); its candidates scoring at least :data:`ADDRESS_MIN_SCORE`
    are listed, a little below an equally good name. On a large city the matcher is first built
    in the background: with more than :data:`ADDRESS_SYNC_MAX` addresses, until it is ready
    (``address_wait`` seconds are waited for it) a search lists no addresses.

    Parameters
    ----------
    ds : Dataset
        The data version (its index is built once per version).
    q : str
        What was typed, e.g. ``雄关``, ``620201001``, ``xgsq`` or ``新华路12号``.
    limit : int
        Most results, 1 to :data:`MAX_LIMIT`.
    datum : str
        ``wgs84`` or ``gcj02``: the datum of the returned coordinates (the map's).
    address_wait : float
        Seconds to wait for the address matcher while it is being built (default :data:`ADDRESS_WAIT_S`).

    Returns
    -------
    list of dict
        Best first: ``kind`` (one of :data:`KINDS`), ``code`` (the feature's code, the facility's or
        address's id), ``name``, ``detail`` (grid: its committee; facility: its category; address:
        its grid code), ``lon``, ``lat``, ``bbox`` (``[minx, miny, maxx, maxy]`` for areas, else None)
        and ``score`` (0-100).

    Raises
    ------
    SearchError
        For an empty or over-long query, or a limit out of range.
    """
    check_datum(datum)
    text = "" if q is None else str(q)
    nq = normalise(text)
    if not nq:
        raise SearchError("the search query q is empty")
    if len(text) > MAX_QUERY:
        raise SearchError(f"the search query is longer than {MAX_QUERY} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
    idx = _index(ds)
    ascii_q = nq.isascii()
    rank = {k: i for i, k in enumerate(KINDS)}
    found: list[tuple[float, int, int, int]] = []
    for i, (name, code, ini) in enumerate(zip(idx.lname, idx.lcode, idx.initials, strict=True)):
        if nq[0] not in name and nq[0] not in code and (not ascii_q or nq[0] not in ini):
            continue
        s = _score(nq, name, code, ini, ascii_q)
        if s > 0:
            found.append((-s, rank[idx.kind[i]], len(name), i))
    found.sort()
    out = []
    for neg, _r, _n, i in found[:limit]:
        out.append({"kind": idx.kind[i], "code": idx.code[i], "name": idx.name[i], "detail": idx.detail[i],
                    "lon": float(idx.lon[i]), "lat": float(idx.lat[i]), "bbox": idx.box(i),
                    "score": round(-neg, 1)})
    if _CJK.search(text) and len(nq) >= 2 and "addresses" in ds.store.layer_names():
        out += _addresses(ds, text, limit, address_wait)
        out.sort(key=lambda r: (-r["score"], rank[r["kind"]]))
        out = out[:limit]
    if datum != "wgs84" and out:
        lon, lat = shift_xy(np.array([r["lon"] for r in out]), np.array([r["lat"] for r in out]), datum)
        for r, x, y in zip(out, lon, lat, strict=True):
            r["lon"], r["lat"] = float(x), float(y)
            if r["bbox"] is not None:
                (x0, x1), (y0, y1) = shift_xy(np.array(r["bbox"][0::2]), np.array(r["bbox"][1::2]), datum)
                r["bbox"] = [float(x0), float(y0), float(x1), float(y1)]
    return out


def _addresses(ds: Dataset, text: str, limit: int, wait: float) -> list[dict[str, Any]]:
    """Address candidates of the matcher for ``text`` (scored just below an equal name); none while it builds."""
    matcher = ds.address_matcher_ready(None if ds.feature_count("addresses") <= ADDRESS_SYNC_MAX else wait)
    if matcher is None:
        return []
    result = matcher.match(text, limit=limit)
    seen: set[str] = set()
    out = []
    for c in result.candidates:
        if c.score < ADDRESS_MIN_SCORE or c.address in seen:
            continue
        seen.add(c.address)
        out.append({"kind": "address", "code": str(c.id), "name": c.address, "detail": str(c.grid_code),
                    "lon": float(c.lon), "lat": float(c.lat), "bbox": None,
                    "score": round(float(c.score) * 0.97, 1)})
    return out
