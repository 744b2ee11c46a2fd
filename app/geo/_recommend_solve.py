"""Site recommendation solvers: MCLP, LSCP and p-median as spopt models solved by HiGHS, and a greedy heuristic."""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pulp
import scipy.sparse as sp
from spopt.locate import LSCP, MCLP, PMedian
from spopt.locate.base import FacilityModelBuilder

#: Objectives, in the order the interfaces list them.
OBJECTIVES = ("mclp", "lscp", "pmedian")


@dataclass
class Solution:
    """What the solver chose and how sure it is.

    Attributes
    ----------
    chosen : list of int
        Indices of the chosen candidates (in the order of the candidates given).
    status : str
        ``optimal``, ``time_limit`` (best found when the time ran out), ``greedy`` (the solver
        found nothing in time; the greedy answer) or ``empty`` (nothing to solve).
    gap_pct : float or None
        The relative MIP gap in percent when the time ran out (0 when optimal).
    elapsed_s : float
        Time spent building and solving.
    size : dict
        Model size after pruning: demand rows, candidate columns, pairs.
    """

    chosen: list[int]
    status: str = "optimal"
    gap_pct: float | None = 0.0
    elapsed_s: float = 0.0
    size: dict[str, int] = field(default_factory=dict)


class _HiGHSWithStart(pulp.HiGHS):
    """pulp's HiGHS interface, quiet, that hands HiGHS the variables' initial values as a start solution."""

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - pulp's name
        import highspy

        h = lp.solverModel
        h.setOptionValue("output_flag", False)
        start = [float(v.varValue or 0.0) for v in lp.variables()]
        if any(start):
            sol = highspy.HighsSolution()
            sol.col_value = start
            sol.value_valid = True
            h.setSolution(sol)
        h.run()


_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


def _banner_to_stderr() -> None:
    """Make HiGHS print its once-per-process banner to stderr, so that stdout (a CLI's answer) stays clean."""
    global _BANNER_DONE
    with _BANNER_LOCK:
        if _BANNER_DONE:
            return
        import highspy

        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # pragma: no cover - no stdout
            saved = None
        try:
            if saved is not None:
                os.dup2(2, 1)
            highspy.Highs()
        finally:
            if saved is not None:
                os.dup2(saved, 1)
                os.close(saved)
            _BANNER_DONE = True


def _solver(time_limit: float) -> pulp.LpSolver:
    _banner_to_stderr()
    return _HiGHSWithStart(msg=False, timeLimit=float(time_limit), threads=1)


def _start(variables: list, chosen: list[int]) -> None:
    """Set the chosen columns' variables to 1 as the start solution."""
    for j in chosen:
        variables[j].setInitialValue(1)


def _finish(model: MCLP | LSCP | PMedian, chosen_of: list[int], fac_vars: list, t0: float,
            size: dict[str, int], time_limit: float, fallback: list[int]) -> Solution:
    """Solve ``model`` with HiGHS and read the chosen columns, the status and the gap."""
    try:
        model.solve(_solver(time_limit), results=False)
    except RuntimeError:  # no solution within the time limit (spopt's check_status)
        return Solution(fallback, "greedy", None, time.perf_counter() - t0, size)
    chosen = sorted(chosen_of[j] for j, v in enumerate(fac_vars) if (v.value() or 0) > 0.5)
    status, gap = "optimal", 0.0
    h = getattr(model.problem, "solverModel", None)
    if h is not None:
        import highspy

        if h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit:
            status = "time_limit"
            gap = float(h.getInfo().mip_gap) * 100.0
            gap = None if not np.isfinite(gap) else round(gap, 3)
    return Solution(chosen, status, gap, time.perf_counter() - t0, size)


def _reduce(n_dem: int, weight: np.ndarray, di: np.ndarray, ci: np.ndarray,
            n_cand: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Coverage matrix without dominated candidates and with demand rows of equal coverage merged.

    A candidate whose covered demand is a subset of another's is dropped (for equal sets the
    first is kept): MCLP and LSCP never need it. Demand rows covered by the same candidates are
    merged, their weights summed. Both keep the optimum.

    Returns
    -------
    tuple
        ``(A, weight, cols)``: the merged rows × kept columns (binary CSR), the row weights and
        the original candidate index of each column.
    """
    used, cinv = np.unique(ci, return_inverse=True)
    a = sp.csr_matrix((np.ones(len(di)), (di, cinv.ravel())), shape=(n_dem, len(used)))
    a.data[:] = 1.0
    a.sum_duplicates()
    a.data[:] = 1.0
    size = np.asarray(a.sum(axis=0)).ravel()
    inter = (a.T @ a).tocoo()
    sub = (inter.row != inter.col) & (inter.data >= size[inter.row])  # row ⊆ col
    r, c = inter.row[sub], inter.col[sub]
    dom = np.zeros(len(used), dtype=bool)
    strict = size[c] > size[r]
    dom[r[strict]] = True
    eq = ~strict
    dom[r[eq][r[eq] > c[eq]]] = True
    keep = np.flatnonzero(~dom)
    a = a[:, keep].tocsr()
    rows_with = np.flatnonzero(np.diff(a.indptr) > 0)
    sig: dict[bytes, int] = {}
    group = np.empty(len(rows_with), dtype=np.int64)
    for k, i in enumerate(rows_with):
        key = a.indices[a.indptr[i]:a.indptr[i + 1]].tobytes()
        group[k] = sig.setdefault(key, len(sig))
    w = np.bincount(group, weights=weight[rows_with], minlength=len(sig))
    first = np.full(len(sig), -1, dtype=np.int64)
    first[group[::-1]] = rows_with[::-1]
    return a[first].tocsr(), w, used[keep]


def _bound(a: sp.csr_matrix, w: np.ndarray, cols: np.ndarray, p: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Drop the candidates no optimal MCLP choice of ``p`` sites can hold.

    Any ``p`` sites together cover at most the sum of their own gains. A candidate whose gain plus
    the ``p - 1`` largest other gains is below what the greedy choice already covers cannot be in
    a choice as good as the greedy one, let alone an optimal one; it is dropped, and so is demand
    only it reached. The optimum is kept (ties included).
    """
    if a.shape[1] <= p:
        return a, w, cols
    gain = np.asarray(a.T @ w).ravel()
    coo = a.tocoo()
    greedy = greedy_mclp(w, coo.row, coo.col, a.shape[1], p)
    on = np.zeros(a.shape[0])
    on[np.unique(coo.row[np.isin(coo.col, greedy)])] = 1.0
    value = float((on * w).sum())
    top = np.sort(gain)[::-1]
    rest = top[:p - 1].sum()
    bound = np.where(gain >= (top[p - 2] if p >= 2 else np.inf), top[:p].sum(), gain + rest)
    keep = np.flatnonzero(bound >= value * (1 - 1e-9))
    a = a[:, keep].tocsr()
    rows = np.flatnonzero(np.diff(a.indptr) > 0)
    return a[rows].tocsr(), w[rows], cols[keep]


def solve_mclp(weight: np.ndarray, di: np.ndarray, ci: np.ndarray, n_cand: int, p: int,
               time_limit: float) -> Solution:
    """Maximal covering: the ``p`` candidates that cover the most demand weight.

    Parameters
    ----------
    weight : ndarray
        Weight (residents) of each demand point; only uncovered demand should be given.
    di, ci : ndarray of int
        The (demand, candidate) pairs within the service radius.
    n_cand : int
        Number of candidates.
    p : int
        Sites to add (fewer when fewer candidates add anything).
    time_limit : float
        Seconds HiGHS may take.

    Returns
    -------
    Solution
        The chosen candidates (spopt's :class:`spopt.locate.MCLP`, its constraints built sparsely).
    """
    t0 = time.perf_counter()
    if len(di) == 0:
        return Solution([], "empty", None, 0.0, {"demand": 0, "candidates": 0, "pairs": 0})
    a, w, cols = _reduce(len(weight), weight, di, ci, n_cand)
    p = min(p, a.shape[1])
    a, w, cols = _bound(a, w, cols, p)
    size = {"demand": a.shape[0], "candidates": a.shape[1], "pairs": int(a.nnz)}
    coo = a.tocoo()
    start = greedy_mclp(w, coo.row, coo.col, a.shape[1], p)
    fallback = cols[start].tolist()
    model = MCLP("mclp", pulp.LpProblem("mclp", pulp.LpMaximize))
    FacilityModelBuilder.add_facility_integer_variable(model, range(a.shape[1]), "x[{i}]")
    FacilityModelBuilder.add_client_integer_variable(model, range(a.shape[0]), "y[{i}]")
    x, y = model.fac_vars, model.cli_vars
    _start(x, start)
    on = np.zeros(a.shape[1], dtype=bool)
    on[start] = True
    _start(y, np.flatnonzero(np.bincount(coo.row, weights=on[coo.col], minlength=a.shape[0]) > 0).tolist())
    model.problem += pulp.lpSum(float(w[i]) * y[i] for i in range(a.shape[0]))
    for i in range(a.shape[0]):
        cover = a.indices[a.indptr[i]:a.indptr[i + 1]]
        model.problem += pulp.lpSum(x[j] for j in cover) >= y[i]
    FacilityModelBuilder.add_facility_constraint(model, p)
    sol = _finish(model, cols.tolist(), x, t0, size, time_limit, fallback)
    if sol.status in ("time_limit", "greedy") and sol.gap_pct is None:
        # HiGHS had no dual bound yet: the p largest single gains bound any p sites from above
        upper = float(np.sort(np.asarray(a.T @ w).ravel())[::-1][:p].sum())
        pos = {c: j for j, c in enumerate(cols.tolist())}
        got = np.zeros(a.shape[1], dtype=bool)
        got[[pos[c] for c in sol.chosen if c in pos]] = True
        value = float(w[np.unique(coo.row[got[coo.col]])].sum())
        sol.gap_pct = round(100.0 * (upper - value) / upper, 3) if upper > 0 else None
    return sol


def solve_lscp(weight: np.ndarray, di: np.ndarray, ci: np.ndarray, n_cand: int, time_limit: float) -> Solution:
    """Set covering: the fewest candidates that cover every demand point some candidate reaches.

    Parameters are those of :func:`solve_mclp` without ``p``; demand no candidate reaches is
    left out (the caller reports it).
    """
    t0 = time.perf_counter()
    if len(di) == 0:
        return Solution([], "empty", None, 0.0, {"demand": 0, "candidates": 0, "pairs": 0})
    a, _, cols = _reduce(len(weight), weight, di, ci, n_cand)
    size = {"demand": a.shape[0], "candidates": a.shape[1], "pairs": int(a.nnz)}
    coo = a.tocoo()
    start = greedy_cover(np.ones(a.shape[0]), coo.row, coo.col, a.shape[1])
    fallback = cols[start].tolist()
    model = LSCP("lscp", pulp.LpProblem("lscp", pulp.LpMinimize))
    FacilityModelBuilder.add_facility_integer_variable(model, range(a.shape[1]), "x[{i}]")
    x = model.fac_vars
    _start(x, start)
    model.problem += pulp.lpSum(x)
    for i in range(a.shape[0]):
        model.problem += pulp.lpSum(x[j] for j in a.indices[a.indptr[i]:a.indptr[i + 1]]) >= 1
    return _finish(model, cols.tolist(), x, t0, size, time_limit, fallback)


def solve_pmedian(weight: np.ndarray, d_exist: np.ndarray, di: np.ndarray, ci: np.ndarray, dist: np.ndarray,
                  n_cand: int, p: int, time_limit: float, far_m: float) -> Solution:
    """p-median with the existing facilities fixed: minimise residents' distance to the nearest facility.

    The existing facilities enter as one column that is always open (each demand point's cost
    on it is its distance to the nearest existing facility, ``far_m`` when none is within reach).
    A demand point may be served by a candidate only within the pairs given (the search radius)
    and when it is closer than the existing facility; points no candidate improves are constant
    and left out.

    Returns
    -------
    Solution
        The chosen candidates (spopt's :class:`spopt.locate.PMedian`, assignment variables sparse).
    """
    t0 = time.perf_counter()
    base = np.where(np.isfinite(d_exist), d_exist, far_m)
    better = dist < base[di]
    di, ci, dist = di[better], ci[better], dist[better]
    if len(di) == 0:
        return Solution([], "empty", None, 0.0, {"demand": 0, "candidates": 0, "pairs": 0})
    p = min(p, len(np.unique(ci)))
    # the saving of several sites is at most the sum of their own savings: a candidate whose saving
    # plus the p - 1 largest others' is below the greedy choice's saving is in no optimal choice
    saving = np.bincount(ci, weights=(base[di] - dist) * weight[di], minlength=n_cand)
    greedy = greedy_median(weight, base, di, ci, dist, n_cand, p)
    cur = base.astype(float).copy()
    for j in greedy:
        m = ci == j
        np.minimum.at(cur, di[m], dist[m])
    value = float(((base - cur) * weight).sum())
    top = np.sort(saving)[::-1]
    bound = np.where(saving >= (top[p - 2] if p >= 2 else np.inf), top[:p].sum(), saving + top[:p - 1].sum())
    keep = bound >= value * (1 - 1e-9)
    keep[greedy] = True
    sel = keep[ci]
    di, ci, dist = di[sel], ci[sel], dist[sel]
    rows, dinv = np.unique(di, return_inverse=True)
    cols, cinv = np.unique(ci, return_inverse=True)
    dinv, cinv = dinv.ravel(), cinv.ravel()
    size = {"demand": len(rows), "candidates": len(cols), "pairs": len(di)}
    model = PMedian("pmedian", pulp.LpProblem("pmedian", pulp.LpMinimize), np.zeros((0, 0)), float(weight.sum()))
    FacilityModelBuilder.add_facility_integer_variable(model, range(len(cols)), "y[{i}]")
    y = model.fac_vars
    z = {(int(i), int(j)): pulp.LpVariable(f"z[{i}_{j}]", 0, 1, pulp.LpContinuous)
         for i, j in zip(dinv.tolist(), cinv.tolist(), strict=True)}
    z_e = [pulp.LpVariable(f"e[{i}]", 0, 1, pulp.LpContinuous) for i in range(len(rows))]
    model.cli_assgn_vars = z
    w = weight[rows]
    model.problem += (pulp.lpSum(float(w[i] * base[rows[i]]) * z_e[i] for i in range(len(rows)))
                      + pulp.lpSum(float(w[i] * d) * z[i, j]
                                   for i, j, d in zip(dinv.tolist(), cinv.tolist(), dist.tolist(), strict=True)))
    by_row: list[list] = [[z_e[i]] for i in range(len(rows))]
    for (i, j), var in z.items():
        by_row[i].append(var)
        model.problem += y[j] - var >= 0
    for terms in by_row:
        model.problem += pulp.lpSum(terms) == 1
    FacilityModelBuilder.add_facility_constraint(model, p)
    start = greedy_median(weight, base, di, cinv, dist, len(cols), p)
    fallback = cols[start].tolist()
    _start(y, start)
    open_ = np.zeros(len(cols), dtype=bool)
    open_[start] = True
    best = base[rows].astype(float).copy()
    arg = np.full(len(rows), -1, dtype=np.int64)
    for k in np.flatnonzero(open_[cinv]):
        if dist[k] < best[dinv[k]]:
            best[dinv[k]], arg[dinv[k]] = dist[k], k
    for i in range(len(rows)):
        (z_e[i] if arg[i] < 0 else z[int(dinv[arg[i]]), int(cinv[arg[i]])]).setInitialValue(1)
    return _finish(model, cols.tolist(), y, t0, size, time_limit, fallback)


def greedy_mclp(weight: np.ndarray, di: np.ndarray, ci: np.ndarray, n_cand: int, p: int) -> list[int]:
    """Greedy maximal covering: add, ``p`` times, the candidate that newly covers the most weight."""
    a = sp.csc_matrix((np.ones(len(di)), (di, ci)), shape=(len(weight), n_cand))
    left = weight.astype(float).copy()
    chosen: list[int] = []
    for _ in range(p):
        gain = a.T @ left
        if len(chosen):
            gain[chosen] = -1.0
        j = int(np.argmax(gain)) if len(gain) else -1
        if j < 0 or gain[j] <= 0:
            break
        chosen.append(j)
        left[a.indices[a.indptr[j]:a.indptr[j + 1]]] = 0.0
    return sorted(chosen)


def greedy_cover(weight: np.ndarray, di: np.ndarray, ci: np.ndarray, n_cand: int) -> list[int]:
    """Greedy set cover: add the candidate covering the most uncovered points until all coverable are covered."""
    a = sp.csc_matrix((np.ones(len(di)), (di, ci)), shape=(len(weight), n_cand))
    left = np.zeros(len(weight))
    left[np.unique(di)] = 1.0
    chosen: list[int] = []
    while left.any():
        gain = a.T @ left
        j = int(np.argmax(gain))
        chosen.append(j)
        left[a.indices[a.indptr[j]:a.indptr[j + 1]]] = 0.0
    return sorted(chosen)


def greedy_median(weight: np.ndarray, base: np.ndarray, di: np.ndarray, ci: np.ndarray, dist: np.ndarray,
                  n_cand: int, p: int) -> list[int]:
    """Greedy p-median: add, ``p`` times, the candidate that cuts the weighted distance most."""
    cur = base.astype(float).copy()
    chosen: list[int] = []
    for _ in range(p):
        saving = np.maximum(cur[di] - dist, 0.0) * weight[di]
        gain = np.bincount(ci, weights=saving, minlength=n_cand)
        if len(chosen):
            gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        m = ci == j
        np.minimum.at(cur, di[m], dist[m])
    return sorted(chosen)
