"""The rebalancing solver: contiguous regions of units whose households lie within a band."""

from __future__ import annotations

import time
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["MAXP_UNITS", "Solution", "connected", "components", "penalty", "solve"]

#: Most units of one connected piece that spopt's max-p heuristic starts from (it slows beyond); larger
#: pieces start from :func:`_grow`, the same construction without max-p's repeated tries.
MAXP_UNITS = 150


@dataclass(frozen=True)
class Solution:
    """Units grouped into regions.

    Attributes
    ----------
    labels : numpy.ndarray
        Region number (0 ... k-1) of each unit.
    miss : int
        Households outside the band, summed over regions (0: every region lies in the band).
    timed_out : bool
        The time limit stopped the search; the labels are the best found by then.
    seeded : bool
        The start came from spopt's max-p heuristic (False: from the greedy growth, e.g. for a part
        whose households are below the floor).
    """

    labels: np.ndarray
    miss: int
    timed_out: bool
    seeded: bool


def penalty(h: float, floor: float, cap: float) -> float:
    """Households by which a region of ``h`` households misses the band ``[floor, cap]`` (0 inside it)."""
    return max(0.0, floor - h) + max(0.0, h - cap)


def connected(members: set[int] | list[int], neighbours: list[set[int]]) -> bool:
    """Whether ``members`` form one connected piece of the unit graph (an empty set is not)."""
    members = set(members)
    if not members:
        return False
    start = next(iter(members))
    seen = {start}
    todo = [start]
    while todo:
        u = todo.pop()
        for v in neighbours[u]:
            if v in members and v not in seen:
                seen.add(v)
                todo.append(v)
    return len(seen) == len(members)


def components(n: int, neighbours: list[set[int]]) -> list[list[int]]:
    """The connected pieces of the unit graph, each as a sorted list of unit numbers."""
    seen = np.zeros(n, dtype=bool)
    out: list[list[int]] = []
    for s in range(n):
        if seen[s]:
            continue
        seen[s] = True
        part, todo = [s], [s]
        while todo:
            u = todo.pop()
            for v in neighbours[u]:
                if not seen[v]:
                    seen[v] = True
                    part.append(v)
                    todo.append(v)
        out.append(sorted(part))
    return out


class _State:
    """Regions as member sets with their household sums, changed by moves, splits and merges."""

    def __init__(self, labels: dict[int, int], w: np.ndarray, nb: list[set[int]], xy: np.ndarray,
                 floor: float, cap: float) -> None:
        self.w, self.nb, self.xy, self.floor, self.cap = w, nb, xy, floor, cap
        self.label = dict(labels)
        self.members: dict[int, set[int]] = {}
        for u, r in labels.items():
            self.members.setdefault(r, set()).add(u)
        self.h = {r: float(w[list(m)].sum()) for r, m in self.members.items()}
        self.next_id = max(self.members, default=-1) + 1

    def pen(self, r: int) -> float:
        return penalty(self.h[r], self.floor, self.cap)

    def total(self) -> float:
        return sum(self.pen(r) for r in self.members)

    def spread(self, m: set[int]) -> float:
        """Moment of inertia of a region's unit centres (its compactness; lower is more compact)."""
        pts = self.xy[list(m)]
        return float(((pts - pts.mean(axis=0)) ** 2).sum())

    def move(self, u: int, to: int) -> None:
        fr = self.label[u]
        self.members[fr].discard(u)
        self.h[fr] -= self.w[u]
        self.members[to].add(u)
        self.h[to] += self.w[u]
        self.label[u] = to
        if not self.members[fr]:
            del self.members[fr], self.h[fr]

    def adjacent(self, r: int) -> set[int]:
        return {self.label[v] for u in self.members[r] for v in self.nb[u] if v in self.label} - {r}

    def split(self, r: int) -> bool:
        """Cut region ``r`` in two connected halves of about equal households (False if it cannot)."""
        m = sorted(self.members[r])
        if len(m) < 2:
            return False
        pts = self.xy[m]
        a = m[int(np.argmax(((pts - pts.mean(axis=0)) ** 2).sum(axis=1)))]
        b = m[int(np.argmax(((pts - self.xy[a]) ** 2).sum(axis=1)))]
        if a == b:
            return False
        side = {a: 0, b: 1}
        hs = [float(self.w[a]), float(self.w[b])]
        fronts = [deque([a]), deque([b])]
        ms = set(m)
        while len(side) < len(m) and (fronts[0] or fronts[1]):
            k = 0 if (hs[0] <= hs[1] and fronts[0]) or not fronts[1] else 1
            grown = False
            while fronts[k] and not grown:
                u = fronts[k][0]
                free = [v for v in self.nb[u] if v in ms and v not in side]
                if not free:
                    fronts[k].popleft()
                    continue
                v = min(free, key=lambda x: ((self.xy[x] - self.xy[u]) ** 2).sum())
                side[v] = k
                hs[k] += self.w[v]
                fronts[k].append(v)
                grown = True
        if len(side) < len(m):
            return False
        half = {u for u in m if side[u] == 1}
        if not connected(half, self.nb) or not connected(ms - half, self.nb):
            return False
        new = self.next_id
        self.next_id += 1
        self.members[new] = set()
        self.h[new] = 0.0
        for u in half:
            self.move(u, new)
        return True

    def merge(self, r: int, into: int) -> None:
        for u in list(self.members[r]):
            self.move(u, into)


def _grow(part: list[int], w: np.ndarray, nb: list[set[int]], xy: np.ndarray, floor: float, cap: float
          ) -> dict[int, int]:
    """A start like max-p's construction: grow regions from the west/north edge until each reaches ``floor``.

    Units left in a region below the floor join the neighbouring region that misses the band least.
    """
    inside = set(part)
    free = set(part)
    label: dict[int, int] = {}
    h: dict[int, float] = {}
    region = 0
    order = sorted(part, key=lambda u: (xy[u, 0] - xy[u, 1], u))
    for s in order:
        if s not in free:
            continue
        members = [s]
        free.discard(s)
        total = float(w[s])
        centre = xy[s].copy()
        while total < floor:
            border = {v for u in members for v in nb[u] if v in free}
            if not border:
                break
            v = min(border, key=lambda x: (((xy[x] - centre) ** 2).sum(), x))
            members.append(v)
            free.discard(v)
            total += float(w[v])
            centre = xy[members].mean(axis=0)
        for u in members:
            label[u] = region
        h[region] = total
        region += 1
    for r in [r for r in h if h[r] < floor]:  # enclaves join a neighbour
        members = [u for u in part if label[u] == r]
        near = {label[v] for u in members for v in nb[u] if v in inside} - {r}
        if not near:
            continue
        o = min(near, key=lambda o: (penalty(h[o] + h[r], floor, cap) - penalty(h[o], floor, cap), o))
        for u in members:
            label[u] = o
        h[o] += h.pop(r)
    return label


def _seed(part: list[int], w: np.ndarray, nb: list[set[int]], xy: np.ndarray, floor: float, cap: float,
          iterations: int) -> tuple[dict[int, int], bool]:
    """A start for one connected piece: spopt's max-p regions for up to :data:`MAXP_UNITS` units, else grown."""
    if len(part) == 1 or w[part].sum() < 2 * floor:
        return {u: 0 for u in part}, False
    if len(part) > MAXP_UNITS:
        return _grow(part, w, nb, xy, floor, cap), False
    import libpysal
    from scipy.spatial.distance import pdist, squareform
    from spopt.region import maxp as spopt_maxp

    # spopt's max-p construction phase (the part that makes the most regions over the floor). Its
    # simulated-annealing phase only trades attribute heterogeneity, which rebalancing has none of, and
    # can loop without end when max-p finds a single region, so MaxPHeuristic.solve() is not called.
    construct = getattr(spopt_maxp, "_construction_phase", None)
    if construct is None:
        return _grow(part, w, nb, xy, floor, cap), False
    pos = {u: k for k, u in enumerate(part)}
    neighbors = {pos[u]: [pos[v] for v in nb[u] if v in pos] for u in part}
    attr = xy[part] / 100.0
    state = np.random.get_state()  # spopt draws from numpy's global generator: the same data, the same answer
    np.random.seed(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weights = libpysal.weights.W(neighbors, silence_warnings=True)
            found = construct(np.arange(len(part)), attr, w[part].astype(float),
                              squareform(pdist(attr, metric="cityblock")), weights, float(floor), 2, iterations)
        max_p, candidates = found
        labels = np.asarray(candidates[0][0], dtype=int)
    except Exception:  # noqa: BLE001 - spopt's internals moved or failed: the same construction, done here
        return _grow(part, w, nb, xy, floor, cap), False
    finally:
        np.random.set_state(state)
    if labels.size != len(part) or (labels <= 0).any() or max_p < 1:
        return _grow(part, w, nb, xy, floor, cap), False
    return {u: int(labels[k]) for k, u in enumerate(part)}, True


def _improve(st: _State, deadline: float) -> bool:
    """Split, merge and move units until no change lowers the miss; False when the deadline stopped it."""
    changed = True
    while changed:
        if time.monotonic() > deadline:
            return False
        changed = False
        for r in sorted(st.members, key=lambda r: -st.h[r]):
            if r in st.members and st.h[r] > st.cap:
                before = st.total()
                snapshot = {u: st.label[u] for u in st.members[r]}
                if st.split(r):
                    if st.total() < before:
                        changed = True
                        continue
                    for u, lab in snapshot.items():  # undo a split that does not help
                        if st.label[u] != lab:
                            st.members.setdefault(lab, set())
                            st.h.setdefault(lab, 0.0)
                            st.move(u, lab)
        for r in sorted(st.members, key=lambda r: st.h[r]):
            if r not in st.members or st.h[r] >= st.floor:
                continue
            best, gain = None, 0.0
            for o in st.adjacent(r):
                merged = penalty(st.h[r] + st.h[o], st.floor, st.cap)
                g = st.pen(r) + st.pen(o) - merged
                if g > gain:
                    best, gain = o, g
            if best is not None:
                st.merge(r, best)
                changed = True
        changed = _moves(st, deadline) or changed
    return True


def _moves(st: _State, deadline: float, compact: bool = False) -> bool:
    """Move single border units between regions when that lowers the miss (or, with ``compact``, the spread)."""
    moved = False
    for u in sorted(st.label):
        if time.monotonic() > deadline:
            break
        fr = st.label[u]
        if len(st.members[fr]) == 1:
            continue
        targets = {st.label[v] for v in st.nb[u] if v in st.label} - {fr}
        if not targets:
            continue
        wu = st.w[u]
        best, best_key = None, (0.0, 0.0)
        rest = st.members[fr] - {u}
        for to in targets:
            gain = st.pen(fr) + st.pen(to) - penalty(st.h[fr] - wu, st.floor, st.cap) \
                - penalty(st.h[to] + wu, st.floor, st.cap)
            if gain < 0 or (gain == 0 and not compact):
                continue
            tighter = 0.0
            if compact:
                tighter = st.spread(st.members[fr]) + st.spread(st.members[to]) \
                    - st.spread(rest) - st.spread(st.members[to] | {u})
                if gain == 0 and tighter <= 1e-9:
                    continue
            if (gain, tighter) > best_key and connected(rest, st.nb):
                best, best_key = to, (gain, tighter)
        if best is not None:
            st.move(u, best)
            moved = True
    return moved


def solve(w: np.ndarray, neighbours: list[set[int]], xy: np.ndarray, floor: float, cap: float,
          time_limit: float, *, iterations: int = 20) -> Solution:
    """Group units into contiguous regions whose households lie within ``[floor, cap]``.

    Each connected piece of the unit graph is solved on its own: spopt's
    :class:`~spopt.region.MaxPHeuristic` (the most regions of at least ``floor`` households) gives the
    start (its construction phase; see :func:`_seed`); then regions over ``cap`` are cut in two, regions under ``floor`` merged with a neighbour,
    and border units moved, while that lowers the households outside the band; last, border units
    move where that makes regions more compact without changing the miss.

    Parameters
    ----------
    w : numpy.ndarray
        Households per unit.
    neighbours : list of set of int
        Units sharing a border with each unit (rook contiguity).
    xy : numpy.ndarray
        Unit centres in metres, shape (n, 2), for compactness.
    floor, cap : float
        The band of households per region.
    time_limit : float
        Seconds to search; past it the best found is returned with ``timed_out``.
    iterations : int
        Construction rounds of max-p.

    Returns
    -------
    Solution
        The regions, their miss and whether the time limit stopped the search.
    """
    start = time.monotonic()
    deadline = start + max(float(time_limit), 0.1)
    n = len(w)
    labels = np.full(n, -1, dtype=int)
    timed_out, seeded, offset = False, False, 0
    for part in components(n, neighbours):
        starts = [(_seed(part, w, neighbours, xy, floor, cap, iterations)), (_grow(part, w, neighbours, xy, floor,
                                                                                   cap), False)]
        best: tuple[tuple[float, float], _State, bool] | None = None
        for seed, by_maxp in starts:
            st = _State(seed, w, neighbours, xy, floor, cap)
            finished = _improve(st, deadline)
            if finished:
                for _ in range(3):
                    if time.monotonic() > deadline or not _moves(st, deadline, compact=True):
                        break
            timed_out = timed_out or not finished or time.monotonic() > deadline
            key = (st.total(), sum(st.spread(m) for m in st.members.values()))
            if best is None or key < best[0]:
                best = (key, st, by_maxp)
        assert best is not None
        _, st, by_maxp = best
        seeded = seeded or by_maxp
        for k, r in enumerate(sorted(st.members, key=lambda r: min(st.members[r]))):
            labels[list(st.members[r])] = offset + k
        offset += len(st.members)
    miss = sum(penalty(float(w[labels == r].sum()), floor, cap) for r in range(offset))
    return Solution(labels, int(round(miss)), timed_out, seeded)
