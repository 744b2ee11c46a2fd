"""The land of a synthetic city: a jittered lattice, the city mask, divisions, committees and grids."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
import shapely
from pyproj import Transformer

from app.geo._demo_plan import CENTRE, STEP, Division, Plan
from app.geo.schema import COORD_PRECISION, METRIC_CRS, STORAGE_CRS
from app.geo.validate import sequence_order


def partition(centres: np.ndarray, neighbours: list[list[int]], k: int, rng: np.random.Generator,
               init: np.ndarray | None = None, iterations: int = 12) -> np.ndarray:
    """Split units into ``k`` connected regions: k-means centres, then growth by distance to them."""
    n = len(centres)
    if k >= n:
        return np.arange(n)
    cent = centres[rng.choice(n, k, replace=False)] if init is None else np.asarray(init, float)
    for _ in range(iterations if init is None else 0):
        lab = np.argmin(((centres[:, None, :] - cent[None, :, :]) ** 2).sum(-1), axis=1)
        for c in range(k):
            if (lab == c).any():
                cent[c] = centres[lab == c].mean(0)
    labels = [-1] * n
    heap: list[tuple[float, int, int]] = []
    taken: set[int] = set()
    for c in range(k):
        d = ((centres - cent[c]) ** 2).sum(1)
        for u in np.argsort(d, kind="stable"):
            if int(u) not in taken:
                taken.add(int(u))
                heap.append((0.0, int(u), c))
                break
    heapq.heapify(heap)
    xs, ys = centres[:, 0].tolist(), centres[:, 1].tolist()
    cx, cy = cent[:, 0].tolist(), cent[:, 1].tolist()
    while heap:
        _, u, c = heapq.heappop(heap)
        if labels[u] >= 0:
            continue
        labels[u] = c
        for v in neighbours[u]:
            if labels[v] < 0:
                heapq.heappush(heap, ((xs[v] - cx[c]) ** 2 + (ys[v] - cy[c]) ** 2, v, c))
    labels = np.array(labels)
    return labels


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each at least 1."""
    w = np.asarray(weights, float)
    raw = total * w / w.sum()
    base = np.maximum(np.floor(raw).astype(int), 1)
    while base.sum() > total:
        base[np.argmax(base)] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while base.sum() < total:
        base[order[i % len(order)]] += 1
        i += 1
    return [int(b) for b in base]


def _flood(passable: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """The cells reachable from ``start`` through 4-connected ``passable`` cells (``start`` included)."""
    n = passable.shape[0]
    seen = np.zeros_like(passable)
    seen[start] = True
    stack = [start]
    while stack:
        j, i = stack.pop()
        for dj, di in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = j + dj, i + di
            if 0 <= a < n and 0 <= b < n and passable[a, b] and not seen[a, b]:
                seen[a, b] = True
                stack.append((a, b))
    return seen


class Land:
    """The first stage of a city: the shared lattice of nodes, the regions and their polygons.

    Parameters
    ----------
    plan : Plan
        The city to build.
    seed : int
        Seed of the one random generator every stage draws from.
    progress : callable or None
        Called with a short message after each stage.
    """

    def __init__(self, plan: Plan, seed: int, progress: Callable[[str], None] | None) -> None:
        self.plan = plan
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.say = progress or (lambda _msg: None)
        self.to_geo = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
        self.to_metric = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)

    # ------------------------------------------------------------------ lattice
    def _lattice(self) -> None:
        p = self.plan
        rx, ry = p.blob
        half = int(math.ceil(max(rx, ry) * 1.25 / STEP)) + 2
        self.nc = 2 * half  # cells per side
        xc, yc = self.to_metric.transform(*CENTRE)
        self.x0, self.y0 = xc - half * STEP, yc + half * STEP  # north-west lattice corner
        # urban rectangle in cell indices (aligned to the centre lattice)
        self.ui0 = half + int(round(p.urban_offset[0] / STEP))
        self.uj0 = half - int(round(p.urban_offset[1] / STEP))
        bx, by = p.urban_blocks
        self.ui1, self.uj1 = self.ui0 + 2 * bx, self.uj0 + 2 * by
        n = self.nc + 1
        jj, ii = np.mgrid[0:n, 0:n]
        road_i = (ii >= self.ui0) & (ii <= self.ui1) & (jj >= self.uj0) & (jj <= self.uj1) & (
            ((ii - self.ui0) % 2 == 0) | ((jj - self.uj0) % 2 == 0))
        inside = (ii > self.ui0) & (ii < self.ui1) & (jj > self.uj0) & (jj < self.uj1)
        amp = np.where(road_i, 4.0, np.where(inside, 18.0, 24.0))
        jx = self.rng.uniform(-1, 1, (n, n)) * amp
        jy = self.rng.uniform(-1, 1, (n, n)) * amp
        self.X = self.x0 + ii * STEP + jx
        self.Y = self.y0 - jj * STEP + jy
        lon, lat = self.to_geo.transform(self.X, self.Y)
        self.LON = np.round(lon, COORD_PRECISION)
        self.LAT = np.round(lat, COORD_PRECISION)
        # city mask: a wobbly ellipse around the centre, plus the urban rectangle
        cx = (ii[:-1, :-1] + 0.5 - half) * STEP
        cy = (half - jj[:-1, :-1] - 0.5) * STEP
        th = np.arctan2(cy, cx)
        ph = self.rng.uniform(0, 2 * np.pi, 3)
        wob = 1 + 0.10 * np.sin(2 * th + ph[0]) + 0.07 * np.sin(3 * th + ph[1]) + 0.04 * np.sin(5 * th + ph[2])
        city = (cx / rx) ** 2 + (cy / ry) ** 2 <= wob**2
        urban = np.zeros_like(city)
        urban[self.uj0:self.uj1, self.ui0:self.ui1] = True
        self.city = self._solid(city | urban)
        self.urban = urban

    def _solid(self, mask: np.ndarray) -> np.ndarray:
        """Keep the 4-connected component holding the centre and fill its holes."""
        n = mask.shape[0]
        keep = _flood(mask, (n // 2, n // 2))
        return ~_flood(~keep, (0, 0))

    def _cell_poly(self, cells: list[tuple[int, int]]) -> shapely.Polygon:
        """Union of lattice cells (j, i): exact, because neighbours share identical vertices."""
        if not hasattr(self, "_cells"):
            lon, lat = self.LON, self.LAT
            ring = [(lon[:-1, :-1], lat[:-1, :-1]), (lon[1:, :-1], lat[1:, :-1]), (lon[1:, 1:], lat[1:, 1:]),
                    (lon[:-1, 1:], lat[:-1, 1:]), (lon[:-1, :-1], lat[:-1, :-1])]
            coords = np.stack([np.stack([a, b], axis=-1) for a, b in ring], axis=2)  # (nc, nc, 5, 2)
            self._cells = shapely.polygons(coords)
        js, is_ = zip(*cells, strict=True)
        geom = shapely.coverage_union_all(self._cells[list(js), list(is_)])
        return shapely.orient_polygons(geom)

    def _metric_xy(self, pts: np.ndarray) -> np.ndarray:
        x, y = self.to_metric.transform(pts[:, 0], pts[:, 1])
        return np.column_stack([x, y])

    def _to_metric(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda c: self._metric_xy(c))

    # ------------------------------------------------------------------ regions
    def _regions(self) -> None:
        p = self.plan
        rng = self.rng
        bx, by = p.urban_blocks
        self.cell_grid = np.full(self.city.shape, -1)
        self.divisions: list[dict] = []
        self.committees: list[dict] = []
        self.grids: list[dict] = []
        subs = [d for d in p.divisions if d.kind == "subdistrict"]
        towns = [d for d in p.divisions if d.kind == "town"]
        # urban: blocks -> subdistrict strips -> communities -> grids
        col = 0
        urban_parts = []
        for d in subs:
            blocks = [(bj, bi) for bj in range(by) for bi in range(col, col + d.block_cols)]
            col += d.block_cols
            urban_parts.append((d, blocks))
        comm_blocks: list[tuple[Division, list[tuple[int, int]], str]] = []
        for d, blocks in urban_parts:
            centres = np.array([(bi + 0.5, -bj - 0.5) for bj, bi in blocks], float)
            nb = self._neighbours(blocks)
            lab = partition(centres, nb, len(d.committees), rng)
            groups = [[blocks[u] for u in range(len(blocks)) if lab[u] == c] for c in range(len(d.committees))]
            groups.sort(key=lambda g: (-round(np.mean([-b[0] for b in g]) / 4), np.mean([b[1] for b in g])))
            for g, name in zip(groups, d.committees, strict=True):
                comm_blocks.append((d, g, name))
        grid_counts = apportion(p.urban_grids, [len(g) for _, g, _ in comm_blocks])
        grid_counts = [min(c, len(g)) for c, (_, g, _) in zip(grid_counts, comm_blocks, strict=True)]
        deficit = p.urban_grids - sum(grid_counts)
        while deficit > 0:
            for k, (_, g, _) in enumerate(comm_blocks):
                if deficit and grid_counts[k] < len(g):
                    grid_counts[k] += 1
                    deficit -= 1
        for d in subs:
            self._add_division(d)
        for (d, blocks, name), ng in zip(comm_blocks, grid_counts, strict=True):
            ci = self._add_committee(d, name, "community")
            centres = np.array([(bi + 0.5, -bj - 0.5) for bj, bi in blocks], float)
            lab = partition(centres, self._neighbours(blocks), ng, rng)
            for c in range(ng):
                gi = self._add_grid(ci)
                gb = [blocks[u] for u in range(len(blocks)) if lab[u] == c]
                self.grids[gi]["blocks"] = gb
                for bj, bi in gb:
                    j, i = self.uj0 + 2 * bj, self.ui0 + 2 * bi
                    self.cell_grid[j:j + 2, i:i + 2] = gi
        # rural: cells -> towns -> villages -> grids
        rural = [(int(j), int(i)) for j, i in zip(*np.nonzero(self.city & ~self.urban), strict=True)]
        half = self.nc // 2
        centres = np.array([(i + 0.5 - half, half - j - 0.5) for j, i in rural], float)
        nb = self._neighbours(rural)
        r = max(p.blob) * 0.6 / STEP
        init = np.array([(r * math.cos(math.radians(d.angle)), r * math.sin(math.radians(d.angle)))
                         for d in towns])
        town_lab = partition(centres, nb, len(towns), rng, init=init)
        for t, d in enumerate(towns):
            self._add_division(d)
            cells = [rural[u] for u in range(len(rural)) if town_lab[u] == t]
            cc = np.array([(i + 0.5 - half, half - j - 0.5) for j, i in cells], float)
            vlab = partition(cc, self._neighbours(cells), len(d.committees), rng)
            groups = [[cells[u] for u in range(len(cells)) if vlab[u] == v] for v in range(len(d.committees))]
            groups.sort(key=lambda g: (-np.mean([-c[0] for c in g]), np.mean([c[1] for c in g])))
            for g, name, ng in zip(groups, d.committees, d.village_grids, strict=True):
                ci = self._add_committee(d, name, "village")
                gc = np.array([(i + 0.5, -j - 0.5) for j, i in g], float)
                glab = partition(gc, self._neighbours(g), ng, rng)
                for c in range(ng):
                    gi = self._add_grid(ci)
                    for u in np.nonzero(glab == c)[0]:
                        self.cell_grid[g[u]] = gi

    @staticmethod
    def _neighbours(units: list[tuple[int, int]]) -> list[list[int]]:
        index = {u: k for k, u in enumerate(units)}
        out = []
        for j, i in units:
            out.append([index[v] for v in ((j - 1, i), (j, i - 1), (j, i + 1), (j + 1, i)) if v in index])
        return out

    def _add_division(self, d: Division) -> None:
        self.divisions.append({"code": d.code, "name": d.name, "kind": d.kind, "committees": []})

    def _add_committee(self, d: Division, name: str, kind: str) -> int:
        div = next(x for x in self.divisions if x["code"] == d.code)
        n_same = sum(1 for c in self.committees if c["division_code"] == d.code and c["kind"] == kind)
        seq = n_same + (1 if kind == "community" else 200)
        self.committees.append({"code": f"{d.code}{seq:03d}", "name": name, "kind": kind,
                                "division_code": d.code, "grids": []})
        div["committees"].append(len(self.committees) - 1)
        return len(self.committees) - 1

    def _add_grid(self, ci: int) -> int:
        self.grids.append({"committee": ci, "blocks": []})
        self.committees[ci]["grids"].append(len(self.grids) - 1)
        return len(self.grids) - 1

    def _geometry(self) -> None:
        """Polygons from the lattice cells, grid numbering, codes and areas."""
        cells_of: dict[int, list[tuple[int, int]]] = {}
        for j, i in zip(*np.nonzero(self.cell_grid >= 0), strict=True):
            cells_of.setdefault(int(self.cell_grid[j, i]), []).append((int(j), int(i)))
        for gi, g in enumerate(self.grids):
            g["cells"] = cells_of[gi]
            g["geom"] = self._cell_poly(g["cells"])
        for c in self.committees:
            c["geom"] = self._cell_poly([cell for gi in c["grids"] for cell in self.grids[gi]["cells"]])
        for d in self.divisions:
            d["geom"] = self._cell_poly([cell for ci in d["committees"] for gi in self.committees[ci]["grids"]
                                         for cell in self.grids[gi]["cells"]])
        for c in self.committees:
            metric = [self._to_metric(self.grids[gi]["geom"]) for gi in c["grids"]]
            order = sequence_order(metric, self._to_metric(c["geom"]))
            for seq, k in enumerate(order, start=1):
                g = self.grids[c["grids"][k]]
                g["seq"] = seq
                g["code"] = f"{c['code']}{seq:03d}"
                g["name"] = f"{c['name']}第{seq}网格"
                g["area_m2"] = round(float(shapely.area(metric[k])), 1)
        for g in self.grids:
            if not isinstance(g["geom"], shapely.Polygon) or not g["geom"].is_valid:
                raise RuntimeError(f"bad grid geometry {g['code']}")
