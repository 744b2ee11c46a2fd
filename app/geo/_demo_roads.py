"""The roads of a synthetic city and the points placed along them."""

from __future__ import annotations

import numpy as np

from app.geo._demo_land import Land
from app.geo._demo_plan import LOCAL_WORDS, STEP, URBAN_ART, URBAN_SEC, cn
from app.geo.schema import COORD_PRECISION


class Roads(Land):
    """The second stage: a named street lattice in town, a rural road to every village grid."""

    def _roads(self) -> None:
        p = self.plan
        self.roads: list[dict] = []
        self.node_road: dict[tuple[int, int], int] = {}
        bx, by = p.urban_blocks
        words = list(LOCAL_WORDS)
        self.rng.shuffle(words)
        local = iter(words)
        self.vroad: dict[int, int] = {}
        self.hroad: dict[int, int] = {}
        for axis, nlines in (("v", bx + 1), ("h", by + 1)):
            art = iter(URBAN_ART[axis])
            sec = iter(URBAN_SEC[axis])
            for k in range(nlines):
                if k % 8 == 0 or k == nlines - 1:
                    name, kind = next(art, None), "arterial"
                elif k % 4 == 0:
                    name, kind = next(sec, None), "secondary"
                else:
                    name, kind = None, "local"
                if name is None:
                    name, kind = next(local) + ("街" if axis == "v" else "路"), "local"
                if axis == "v":
                    i = self.ui0 + 2 * k
                    nodes = [(j, i) for j in range(self.uj0, self.uj1 + 1)]
                    self.vroad[k] = self._add_road(name, kind, nodes)
                else:
                    j = self.uj0 + 2 * k
                    nodes = [(j, i) for i in range(self.ui0, self.ui1 + 1)]
                    self.hroad[k] = self._add_road(name, kind, nodes)
        # rural: a road from a point deep inside every village grid to the network
        half = self.nc // 2
        rural = [g for g in self.grids if self.committees[g["committee"]]["kind"] == "village"]
        for g in rural:
            g["hub"] = self._hub(g)
        rural.sort(key=lambda g: ((g["hub"][0] - half) ** 2 + (g["hub"][1] - half) ** 2, g["code"]))
        for g in rural:
            hub = g["hub"]
            if hub in self.node_road:
                g["road"] = self.node_road[hub]
                continue
            path = self._path_to_network(hub)
            c = self.committees[g["committee"]]
            g["road"] = self._add_road(f"{c['name']}{cn(g['seq'])}组路", "rural", path)

    def _add_road(self, name: str, kind: str, nodes: list[tuple[int, int]]) -> int:
        rid = len(self.roads)
        self.roads.append({"id": f"R{rid + 1:04d}", "name": name, "kind": kind, "nodes": nodes})
        for n in nodes:
            self.node_road.setdefault(n, rid)
        return rid

    def _hub(self, g: dict) -> tuple[int, int]:
        """A lattice node whose four cells all lie in the grid, near the grid's middle."""
        gi = self.grids.index(g)
        cg = self.cell_grid
        cells = np.array(g["cells"])
        mj, mi = cells.mean(0)
        best, best_d = None, None
        for j, i in g["cells"]:
            if j > 0 and i > 0 and cg[j - 1, i] == gi and cg[j, i - 1] == gi and cg[j - 1, i - 1] == gi:
                d = (j - mj) ** 2 + (i - mi) ** 2
                if best_d is None or d < best_d:
                    best, best_d = (j, i), d
        if best is None:
            raise RuntimeError("village grid too thin for a hub")
        return best

    def _node_in_city(self, j: int, i: int) -> bool:
        n = self.nc
        return any(0 <= a < n and 0 <= b < n and self.city[a, b]
                   for a, b in ((j - 1, i - 1), (j - 1, i), (j, i - 1), (j, i)))

    def _path_to_network(self, start: tuple[int, int]) -> list[tuple[int, int]]:
        nodes = np.array(list(self.node_road.keys()))
        d = ((nodes - np.array(start)) ** 2).sum(1)
        target = tuple(int(v) for v in nodes[int(np.argmin(d))])
        for first in ("h", "v"):
            path = [start]
            j, i = start
            ok = True
            legs = ("h", "v") if first == "h" else ("v", "h")
            for leg in legs:
                while (i != target[1]) if leg == "h" else (j != target[0]):
                    if leg == "h":
                        i += 1 if target[1] > i else -1
                    else:
                        j += 1 if target[0] > j else -1
                    if not self._node_in_city(j, i):
                        ok = False
                        break
                    path.append((j, i))
                    if (j, i) in self.node_road:
                        return path
                if not ok:
                    break
            if ok:
                return path
        raise RuntimeError("no rural road path inside the city")

    # ------------------------------------------------------------------ points
    def _geo(self, xy: np.ndarray) -> list[tuple[float, float]]:
        lon, lat = self.to_geo.transform(xy[:, 0], xy[:, 1])
        return [(round(float(a), COORD_PRECISION), round(float(b), COORD_PRECISION))
                for a, b in zip(lon, lat, strict=True)]

    def _block_point(self, block: tuple[int, int], u: float, v: float) -> np.ndarray:
        """Bilinear point in an urban block: u west->east, v north->south, both 0..1."""
        bj, bi = block
        j, i = self.uj0 + 2 * bj, self.ui0 + 2 * bi
        corners = [(j, i), (j, i + 2), (j + 2, i), (j + 2, i + 2)]
        xs = [self.X[c] for c in corners]
        ys = [self.Y[c] for c in corners]
        w = ((1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v)
        return np.array([sum(a * b for a, b in zip(w, xs, strict=True)),
                         sum(a * b for a, b in zip(w, ys, strict=True))])

    def _side_point(self, block: tuple[int, int], side: str, depth: float) -> tuple[np.ndarray, int]:
        """A point ``depth`` metres inside a block from one side; returns (xy, road index)."""
        rng = self.rng
        t = float(rng.uniform(0.06, 0.94))
        dd = depth / (2 * STEP)
        bj, bi = block
        if side == "N":
            return self._block_point(block, t, dd), self.hroad[bj]
        if side == "S":
            return self._block_point(block, t, 1 - dd), self.hroad[bj + 1]
        if side == "W":
            return self._block_point(block, dd, t), self.vroad[bi]
        return self._block_point(block, 1 - dd, t), self.vroad[bi + 1]

    def _hub_point(self, g: dict, radius: float = 60.0) -> np.ndarray:
        j, i = g["hub"]
        off = self.rng.uniform(-radius, radius, 2)
        return np.array([self.X[j, i] + off[0], self.Y[j, i] + off[1]])
