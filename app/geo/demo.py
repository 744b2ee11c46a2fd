"""Generate the synthetic Jiayuguan demo city (and the tiny test city) as a folder of GeoJSON layers."""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from app.geo.schema import CATEGORIES, COORD_PRECISION, FIELDS, LAYERS, METRIC_CRS, STORAGE_CRS
from app.geo.validate import sequence_order

#: Bumped whenever the generator's output changes for the same seed.
GENERATOR_VERSION = "1"

_STEP = 125.0  # lattice spacing in metres; an urban block is 2 x 2 lattice cells (250 m)
_CENTRE = (98.29, 39.77)  # city centre, lon/lat

_SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
_GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤红建国文斌鹏辉婷雪梅晓燕海波志宏亮"
          "春林峰琳颖慧欣瑞宁新民丹")
_NUMERALS = "〇一二三四五六七八九十"
_URBAN_ART = {"v": ("峪泉路", "新华路", "五一路", "建设路", "钢城路"),
              "h": ("长城路", "雄关路", "兰新路", "胜利路", "迎宾路")}
_URBAN_SEC = {"v": ("明珠路", "文化路", "和平路", "育才路"), "h": ("团结路", "友谊路", "朝阳路", "前进路")}
_LOCAL_WORDS = ["安康", "福寿", "永乐", "兴盛", "泰和", "嘉禾", "丰收", "振兴", "光华", "华夏", "春风", "翠柳", "紫荆", "金桥", "银河", "星光", "锦绣", "长乐", "同心", "利民", "惠民", "富民", "新风", "民主", "果园", "景园", "清泉", "祁连", "讨赖", "黑山", "天成", "泰安", "乐园", "绿苑", "阳关", "玉门", "天山", "雪峰", "昌盛", "繁荣", "兴隆", "瑞安", "宏图", "文昌", "和美", "康宁", "望湖", "怡园", "晨曦", "丽园"]
_COMPOUND_WORDS = ["金色", "馨苑", "锦华", "万和", "盛世", "怡景", "丽都", "翠园", "紫金", "嘉和", "瑞祥", "康泰", "和谐", "幸福", "天宇", "祥和", "东方", "博雅", "文苑", "书香", "润泽", "兰亭", "荣华", "安居", "宜居", "颐和", "鸿福", "世纪", "长虹", "新天地", "明珠", "南湖", "北湖", "东湖", "西湖", "雄关", "镜铁", "钢花", "建设", "朝晖", "胜利", "前进", "五一", "人民", "峪苑", "福民", "迎宾", "紫轩", "友谊"]
_COMPOUND_SUFFIX = ("小区", "花园", "家园", "苑", "新村", "公寓")


@dataclass(frozen=True)
class _Division:
    code: str
    name: str
    kind: str  # subdistrict | town
    committees: tuple[str, ...]
    block_cols: int = 0  # subdistricts: width of its strip of urban blocks, west to east
    angle: float = 0.0  # towns: direction (degrees, counter-clockwise from east) of its seed
    village_grids: tuple[int, ...] = ()  # towns: grids per village


@dataclass(frozen=True)
class _Plan:
    name: str
    divisions: tuple[_Division, ...]
    urban_blocks: tuple[int, int]  # (columns, rows) of 250 m blocks
    urban_grids: int
    urban_offset: tuple[float, float]  # metres from the centre to the urban rectangle's north-west corner
    blob: tuple[float, float]  # city radius east-west / north-south, metres
    addr_road: tuple[int, int]  # road addresses per urban grid
    compound_share: float
    buildings: tuple[int, int]
    households: tuple[int, int]
    rural_addr: tuple[int, int]
    rural_households: tuple[int, int]
    mini: bool = False
    named_compounds: dict[str, str] = field(default_factory=dict)  # compound -> committee


_FULL = _Plan(
    name="嘉峪关市（合成演示数据）",
    divisions=(
        _Division("620201001", "雄关街道", "subdistrict", (
            "雄关社区", "建设社区", "朝晖社区", "人民社区", "五一社区", "胜利社区", "新华社区", "前进社区",
            "长城社区", "峪苑社区", "福民社区", "东湖社区", "明珠社区", "绿化社区", "光明社区", "和诚社区"),
            block_cols=16),
        _Division("620201002", "钢城街道", "subdistrict", (
            "镜铁社区", "钢花社区", "迎宾社区", "友谊社区", "紫轩社区", "朝阳社区", "兰新社区", "团结社区",
            "金港社区", "文化社区", "嘉园社区", "育才社区", "南湖社区", "祁连社区", "和平社区"),
            block_cols=16),
        _Division("620201100", "新城镇", "town", (
            "新城村", "长城村", "横沟村", "中沟村", "野麻湾村", "观礼村", "泥沟村"),
            angle=40.0, village_grids=(3, 3, 3, 3, 3, 3, 2)),
        _Division("620201101", "峪泉镇", "town", ("嘉峪关村", "黄草营村", "断山口村", "安远沟村", "峪泉村"),
                  angle=175.0, village_grids=(3, 3, 3, 3, 2)),
        _Division("620201102", "文殊镇", "town", ("文殊村", "河口村", "石桥村", "塔湾村", "冯家沟村"),
                  angle=290.0, village_grids=(3, 3, 3, 3, 2)),
    ),
    urban_blocks=(32, 31),
    urban_grids=613 - 48,
    urban_offset=(-4250.0, 4500.0),
    blob=(12500.0, 11000.0),
    addr_road=(10, 16),
    compound_share=0.6,
    buildings=(6, 16),
    households=(150, 270),  # about 210 households, 525 residents a grid: ~312,000 people, Jiayuguan's 2020 census
    rural_addr=(12, 18),
    rural_households=(60, 200),
    named_compounds={"阳光小区": "朝晖社区", "西域花园小区": "雄关社区", "雄关小区": "雄关社区",
                     "朝晖小区": "朝晖社区", "建设小区": "建设社区"},
)

_MINI = _Plan(
    name="迷你测试城市（合成）",
    divisions=(
        _Division("620201001", "雄关街道", "subdistrict", ("建设社区", "朝晖社区"), block_cols=4),
        _Division("620201102", "文殊镇", "town", ("河口村",), angle=270.0, village_grids=(2,)),
    ),
    urban_blocks=(4, 3),
    urban_grids=8,
    urban_offset=(-500.0, 375.0),
    blob=(2400.0, 2000.0),
    addr_road=(4, 6),
    compound_share=0.5,
    buildings=(2, 4),
    households=(60, 120),
    rural_addr=(4, 6),
    rural_households=(15, 30),
    mini=True,
    named_compounds={"阳光小区": "朝晖社区"},
)


def generate(out: Path, seed: int = 2024, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the synthetic Jiayuguan demo city into a folder.

    Parameters
    ----------
    out : Path
        Folder to write ``<layer>.geojson`` and ``metadata.json`` into (created if missing).
    seed : int
        Random seed; the same seed gives byte-identical files.
    progress : callable, optional
        Called with a short message after each stage.

    Returns
    -------
    dict of str to int
        Feature count per layer.
    """
    return _City(_FULL, seed, progress).write(Path(out))


def generate_mini(out: Path, seed: int = 7, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the tiny test city (2 divisions, 3 committees, 10 grids) into a folder.

    Parameters
    ----------
    out : Path
        Folder to write the layers into (created if missing).
    seed : int
        Random seed; the same seed gives byte-identical files.
    progress : callable, optional
        Called with a short message after each stage.

    Returns
    -------
    dict of str to int
        Feature count per layer.
    """
    return _City(_MINI, seed, progress).write(Path(out))


def _partition(centres: np.ndarray, neighbours: list[list[int]], k: int, rng: np.random.Generator,
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


def _apportion(total: int, weights: list[float]) -> list[int]:
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


def _split(total: int, weights: np.ndarray, minimum: int = 1) -> list[int]:
    """Split ``total`` into len(weights) integers >= minimum, roughly proportional to weights."""
    n = len(weights)
    rest = total - minimum * n
    raw = rest * weights / weights.sum()
    out = np.floor(raw).astype(int)
    order = np.argsort(-(raw - out), kind="stable")
    for i in range(rest - int(out.sum())):
        out[order[i % n]] += 1
    return [int(v) + minimum for v in out]


def _cn(n: int) -> str:
    """Chinese numeral for 1..99."""
    if n <= 10:
        return _NUMERALS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens]) + "十" + (_NUMERALS[ones] if ones else "")


class _City:
    """Builds one synthetic city from a plan; all geometry comes from one shared lattice of nodes."""

    def __init__(self, plan: _Plan, seed: int, progress: Callable[[str], None] | None) -> None:
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
        half = int(math.ceil(max(rx, ry) * 1.25 / _STEP)) + 2
        self.nc = 2 * half  # cells per side
        xc, yc = self.to_metric.transform(*_CENTRE)
        self.x0, self.y0 = xc - half * _STEP, yc + half * _STEP  # north-west lattice corner
        # urban rectangle in cell indices (aligned to the centre lattice)
        self.ui0 = half + int(round(p.urban_offset[0] / _STEP))
        self.uj0 = half - int(round(p.urban_offset[1] / _STEP))
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
        self.X = self.x0 + ii * _STEP + jx
        self.Y = self.y0 - jj * _STEP + jy
        lon, lat = self.to_geo.transform(self.X, self.Y)
        self.LON = np.round(lon, COORD_PRECISION)
        self.LAT = np.round(lat, COORD_PRECISION)
        # city mask: a wobbly ellipse around the centre, plus the urban rectangle
        cx = (ii[:-1, :-1] + 0.5 - half) * _STEP
        cy = (half - jj[:-1, :-1] - 0.5) * _STEP
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
        keep = np.zeros_like(mask)
        start = (n // 2, n // 2)
        stack = [start]
        keep[start] = True
        while stack:
            j, i = stack.pop()
            for dj, di in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = j + dj, i + di
                if 0 <= a < n and 0 <= b < n and mask[a, b] and not keep[a, b]:
                    keep[a, b] = True
                    stack.append((a, b))
        outside = np.zeros_like(mask)
        stack = [(0, 0)]
        outside[0, 0] = True
        while stack:
            j, i = stack.pop()
            for dj, di in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = j + dj, i + di
                if 0 <= a < n and 0 <= b < n and not keep[a, b] and not outside[a, b]:
                    outside[a, b] = True
                    stack.append((a, b))
        return ~outside

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

    def _to_metric(self, geom):
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
        comm_blocks: list[tuple[_Division, list[tuple[int, int]], str]] = []
        for d, blocks in urban_parts:
            centres = np.array([(bi + 0.5, -bj - 0.5) for bj, bi in blocks], float)
            nb = self._neighbours(blocks)
            lab = _partition(centres, nb, len(d.committees), rng)
            groups = [[blocks[u] for u in range(len(blocks)) if lab[u] == c] for c in range(len(d.committees))]
            groups.sort(key=lambda g: (-round(np.mean([-b[0] for b in g]) / 4), np.mean([b[1] for b in g])))
            for g, name in zip(groups, d.committees, strict=True):
                comm_blocks.append((d, g, name))
        grid_counts = _apportion(p.urban_grids, [len(g) for _, g, _ in comm_blocks])
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
            lab = _partition(centres, self._neighbours(blocks), ng, rng)
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
        r = max(p.blob) * 0.6 / _STEP
        init = np.array([(r * math.cos(math.radians(d.angle)), r * math.sin(math.radians(d.angle)))
                         for d in towns])
        town_lab = _partition(centres, nb, len(towns), rng, init=init)
        for t, d in enumerate(towns):
            self._add_division(d)
            cells = [rural[u] for u in range(len(rural)) if town_lab[u] == t]
            cc = np.array([(i + 0.5 - half, half - j - 0.5) for j, i in cells], float)
            vlab = _partition(cc, self._neighbours(cells), len(d.committees), rng)
            groups = [[cells[u] for u in range(len(cells)) if vlab[u] == v] for v in range(len(d.committees))]
            groups.sort(key=lambda g: (-np.mean([-c[0] for c in g]), np.mean([c[1] for c in g])))
            for g, name, ng in zip(groups, d.committees, d.village_grids, strict=True):
                ci = self._add_committee(d, name, "village")
                gc = np.array([(i + 0.5, -j - 0.5) for j, i in g], float)
                glab = _partition(gc, self._neighbours(g), ng, rng)
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

    def _add_division(self, d: _Division) -> None:
        self.divisions.append({"code": d.code, "name": d.name, "kind": d.kind, "committees": []})

    def _add_committee(self, d: _Division, name: str, kind: str) -> int:
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

    # ------------------------------------------------------------------ roads
    def _roads(self) -> None:
        p = self.plan
        self.roads: list[dict] = []
        self.node_road: dict[tuple[int, int], int] = {}
        bx, by = p.urban_blocks
        words = list(_LOCAL_WORDS)
        self.rng.shuffle(words)
        local = iter(words)
        self.vroad: dict[int, int] = {}
        self.hroad: dict[int, int] = {}
        for axis, nlines in (("v", bx + 1), ("h", by + 1)):
            art = iter(_URBAN_ART[axis])
            sec = iter(_URBAN_SEC[axis])
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
            g["road"] = self._add_road(f"{c['name']}{_cn(g['seq'])}组路", "rural", path)

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
        dd = depth / (2 * _STEP)
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

    def _addresses(self) -> None:
        p = self.plan
        rng = self.rng
        self.addresses: list[dict] = []
        names = self._compound_names()
        named = dict(p.named_compounds)
        self.compounds: list[dict] = []
        for g in self.grids:
            c = self.committees[g["committee"]]
            pts: list[tuple[np.ndarray, str, int | None]] = []  # xy, kind, road index
            if c["kind"] == "community":
                hh_total = int(rng.integers(p.households[0], p.households[1] + 1))
                want = [k for k, v in named.items() if v == c["name"]]
                has_compound = bool(want) or rng.random() < p.compound_share
                if has_compound:
                    cname = want[0] if want else next(names)
                    named.pop(cname, None)
                    block = g["blocks"][int(rng.integers(len(g["blocks"])))]
                    nb = int(rng.integers(p.buildings[0], p.buildings[1] + 1))
                    self.compounds.append({"name": cname, "block": block, "grid": g})
                    bpts = [self._block_point(block, *rng.uniform(0.16, 0.84, 2)) for _ in range(nb)]
                    bpts.sort(key=lambda xy: (-round(xy[1] / 40), xy[0]))
                    for b, xy in enumerate(bpts, start=1):
                        pts.append((xy, "compound", None))
                        self.addresses.append({"grid": g, "kind": "compound", "street": cname, "number": b})
                nr = int(rng.integers(p.addr_road[0], p.addr_road[1] + 1))
                for _ in range(nr):
                    block = g["blocks"][int(rng.integers(len(g["blocks"])))]
                    xy, road = self._side_point(block, "NSWE"[int(rng.integers(4))], float(rng.uniform(12, 40)))
                    pts.append((xy, "road", road))
                    self.addresses.append({"grid": g, "kind": "road", "road": road})
            else:
                hh_total = int(rng.integers(p.rural_households[0], p.rural_households[1] + 1))
                for _ in range(int(rng.integers(p.rural_addr[0], p.rural_addr[1] + 1))):
                    pts.append((self._hub_point(g), "road", g["road"]))
                    self.addresses.append({"grid": g, "kind": "road", "road": g["road"]})
            mine = self.addresses[len(self.addresses) - len(pts):]
            weights = np.array([rng.uniform(3, 6) if k == "compound" else rng.uniform(0.3, 3)
                                for _, k, _ in pts])
            hh = _split(hh_total, weights)
            for a, (xy, _, _), h in zip(mine, pts, hh, strict=True):
                a["xy"] = xy
                a["households"] = h
                a["residents"] = int(h + rng.binomial(h * 3, 0.5))
            g["households"] = hh_total
            g["population"] = sum(a["residents"] for a in mine)
        # house numbers: odd on the left of the road's direction, even on the right, by distance along it
        lines = {rid: shapely.LineString([(self.X[n], self.Y[n]) for n in r["nodes"]])
                 for rid, r in enumerate(self.roads)}
        by_road: dict[int, list[dict]] = {}
        for a in self.addresses:
            if a["kind"] == "road":
                by_road.setdefault(a["road"], []).append(a)
        for rid, items in by_road.items():
            line = lines[rid]
            for a in items:
                pt = shapely.Point(a["xy"])
                s = line.project(pt)
                p0 = np.array(line.interpolate(min(s, line.length - 1.0)).coords[0])
                p1 = np.array(line.interpolate(min(s, line.length - 1.0) + 1.0).coords[0])
                cross = (p1[0] - p0[0]) * (a["xy"][1] - p0[1]) - (p1[1] - p0[1]) * (a["xy"][0] - p0[0])
                a["_along"], a["_left"] = s, cross > 0
            for left, start in ((True, 1), (False, 2)):
                side = sorted((a for a in items if a["_left"] == left), key=lambda a: a["_along"])
                for k, a in enumerate(side):
                    a["number"] = start + 2 * k
                    a["street"] = self.roads[rid]["name"]
        for a in self.addresses:
            a["address"] = f"{a['street']}{a['number']}号" + ("楼" if a["kind"] == "compound" else "")

    def _compound_names(self):
        rng = self.rng
        taken = set(self.plan.named_compounds)
        words = list(_COMPOUND_WORDS)
        rng.shuffle(words)
        for suffix in _COMPOUND_SUFFIX:
            for w in words:
                name = w + suffix
                if name not in taken:
                    taken.add(name)
                    yield name
        # Fallback names end in a Chinese numeral, never a digit, so 第五住宅区 + 10号楼 reads one way only.
        for kind in ("住宅区", "生活区", "家属区"):  # pragma: no cover - more compounds than word pairs
            for n in range(1, 100):
                yield f"第{_cn(n)}{kind}"

    # ------------------------------------------------------------------ facilities
    def _facilities(self) -> None:
        rng = self.rng
        p = self.plan
        self.facilities: list[dict] = []
        urban = [g for g in self.grids if self.committees[g["committee"]]["kind"] == "community"]
        village = [g for g in self.grids if self.committees[g["committee"]]["kind"] == "village"]
        half_i = (self.ui0 + self.ui1) / 2
        half_j = (self.uj0 + self.uj1) / 2
        # uneven: central grids are much likelier to host facilities than outer ones
        dist = np.array([math.hypot(np.mean([b[1] for b in g["blocks"]]) * 2 + self.ui0 - half_i,
                                    np.mean([b[0] for b in g["blocks"]]) * 2 + self.uj0 - half_j) for g in urban])
        weight = np.exp(-dist / (max(p.urban_blocks) * 0.45))
        weight /= weight.sum()

        def pick(n: int) -> list[dict]:
            idx = rng.choice(len(urban), size=n, replace=n > len(urban), p=weight)
            return [urban[int(k)] for k in idx]

        def at_grid(g: dict, depth: tuple[float, float] = (15, 70)) -> np.ndarray:
            if self.committees[g["committee"]]["kind"] == "village":
                return self._hub_point(g, 55.0)
            block = g["blocks"][int(rng.integers(len(g["blocks"])))]
            return self._side_point(block, "NSWE"[int(rng.integers(4))], float(rng.uniform(*depth)))[0]

        def add(name: str, category: str, xy: np.ndarray, subtype: str | None = None,
                capacity: int | None = None) -> None:
            self.facilities.append({"name": name, "category": category, "subtype": subtype,
                                    "cjt214_code": CATEGORIES[category].cjt214_code,
                                    "capacity": capacity, "xy": xy})

        cname = {id(g): self.committees[g["committee"]]["name"] for g in self.grids}
        # bus stops at road crossings along arterial and secondary roads, every ~500 m
        bx, by = p.urban_blocks
        major_v = [k for k, r in self.vroad.items() if self.roads[r]["kind"] != "local"]
        major_h = [k for k, r in self.hroad.items() if self.roads[r]["kind"] != "local"]
        cand = set()
        for k in major_v:
            cand.update((k, m) for m in range(0, by + 1, 2))
        for m in major_h:
            cand.update((k, m) for k in range(0, bx + 1, 2))
        cand = sorted(cand)
        south_row = int(round(by * 0.62))
        # urban stops (south / north of the 南市区 line), standard platforms, village stops
        n_south, n_north, n_platform, n_rural = (35, 90, 25, 24) if not p.mini else (1, 1, 1, 1)
        south = [c for c in cand if c[1] >= south_row]
        north = [c for c in cand if c[1] < south_row]
        chosen_s = [south[int(k)] for k in sorted(rng.choice(len(south), n_south, replace=False))]
        chosen_n = [north[int(k)] for k in sorted(rng.choice(len(north), n_north, replace=False))]
        for n, (k, m) in enumerate(chosen_s + chosen_n):
            j, i = self.uj0 + 2 * m, self.ui0 + 2 * k
            vname, hname = self.roads[self.vroad[k]]["name"], self.roads[self.hroad[m]]["name"]
            ang = rng.uniform(0, 2 * np.pi)
            # step 9-12 m diagonally into a block so the stop never sits on a grid edge
            sx, sy = (1 if math.cos(ang) > 0 else -1), (1 if math.sin(ang) > 0 else -1)
            if i == self.ui0:
                sx = 1
            if i == self.ui1:
                sx = -1
            if j == self.uj0:
                sy = -1
            if j == self.uj1:
                sy = 1
            xy = np.array([self.X[j, i] + sx * rng.uniform(9, 12), self.Y[j, i] + sy * rng.uniform(9, 12)])
            subtype = "standard_platform" if n < n_platform else "stop"
            add(f"{vname}{hname}口", "bus_stop", xy, subtype)
        comp = next(c for c in self.compounds if c["name"] == "阳光小区")
        add(f"{comp['name']}北门", "bus_stop", self._block_point(comp["block"], 0.5, 0.05), "stop")
        rural_hubs = sorted(village, key=lambda g: g["code"])
        stops = sorted(rng.choice(len(rural_hubs), min(n_rural, len(rural_hubs)), replace=False))
        for g in [rural_hubs[int(k)] for k in stops]:
            add(f"{cname[id(g)]}{_cn(g['seq'])}组站", "bus_stop", self._hub_point(g, 30.0), "stop")
        # parks
        if p.mini:
            add("雄关公园", "park", at_grid(urban[0]), "city_park")
            add("建设社区口袋公园", "park", at_grid(urban[1]), "pocket_park")
            add("朝晖社区花园", "park", at_grid(urban[-1]), "community_garden")
        else:
            gang = [g for g in urban if self.committees[g["committee"]]["division_code"] == "620201002"]
            add("钢城体育公园", "park", at_grid(gang[len(gang) // 2], (60, 110)), "city_park")
            for name in ("雄关公园", "南湖公园", "世纪公园", "迎宾湖公园"):
                add(name, "park", at_grid(pick(1)[0], (60, 110)), "city_park")
            for g in pick(5):
                add(f"{cname[id(g)]}口袋公园", "park", at_grid(g), "pocket_park")
            seen: set[str] = set()
            for g in pick(40):
                if cname[id(g)] not in seen and len(seen) < 10:
                    seen.add(cname[id(g)])
                    add(f"{cname[id(g)]}花园", "park", at_grid(g), "community_garden")
        # parking
        if p.mini:
            add("长城路标线停车位", "parking", at_grid(urban[2]), "marked", 12)
            add("雍和市场潮汐停车位", "parking", at_grid(urban[3]), "tidal", 20)
            add("朝晖公共停车场", "parking", at_grid(urban[4]), None, 60)
        else:
            marked = _split(235, rng.uniform(1, 2, 7), minimum=15)
            for g, cap in zip(pick(7), marked, strict=True):
                road = self.roads[self.hroad[g["blocks"][0][0]]]["name"]
                add(f"{road}标线停车位（{cname[id(g)]}）", "parking", at_grid(g), "marked", cap)
            tidal = _split(180, rng.uniform(1, 2, 4), minimum=25)
            markets = pick(2)
            for n, cap in enumerate(tidal):
                market = ("雍和市场", "富强市场")[n // 2]
                add(f"{market}潮汐停车位{_cn(n % 2 + 1)}", "parking", at_grid(markets[n // 2]), "tidal", cap)
            for g in pick(10):
                add(f"{cname[id(g)]}公共停车场", "parking", at_grid(g), None, int(rng.integers(4, 31)) * 10)
        # culture, education, health and fitness
        plan = ((1, 1, 1, 1, 2, 0) if p.mini else (14, 10, 3, 4, 34, 6))
        n_lib, n_study, n_senior, n_tcm, n_fit, n_fit_rural = plan
        for g in self._distinct(pick(80), n_lib, cname):
            add(f"嘉峪关市图书馆{cname[id(g)]}分馆", "library", at_grid(g))
        if not p.mini:
            for town in ("新城镇", "文殊镇"):
                g = next(v for v in village if self._division_of(v)["name"] == town)
                add(f"嘉峪关市图书馆{town}分馆", "library", at_grid(g))
        for g in self._distinct(pick(80), n_study, cname):
            add(f"{cname[id(g)]}自习室", "study_room", at_grid(g))
        for g, label in zip(pick(n_senior), ("雄关", "钢城", "南市区"), strict=False):
            add(f"嘉峪关市老年大学{label}分校", "senior_university", at_grid(g))
        for g in self._distinct(pick(80), n_tcm, cname):
            add(f"{cname[id(g)]}中医馆", "tcm_clinic", at_grid(g))
        count: dict[str, int] = {}
        fit = pick(n_fit) + ([village[int(k)] for k in rng.choice(len(village), n_fit_rural, replace=False)]
                             if n_fit_rural else [])
        for g in fit:
            count[cname[id(g)]] = count.get(cname[id(g)], 0) + 1
            add(f"{cname[id(g)]}健身点{_cn(count[cname[id(g)]])}", "fitness", at_grid(g))

    @staticmethod
    def _distinct(grids: list[dict], n: int, cname: dict) -> list[dict]:
        out, seen = [], set()
        for g in grids:
            if cname[id(g)] not in seen:
                seen.add(cname[id(g)])
                out.append(g)
            if len(out) == n:
                break
        return out

    def _division_of(self, g: dict) -> dict:
        code = self.committees[g["committee"]]["division_code"]
        return next(d for d in self.divisions if d["code"] == code)

    # ------------------------------------------------------------------ people and output
    def _staff(self) -> None:
        rng = self.rng
        phones = rng.permutation(10000)
        k = 0
        for g in self.grids:
            for role in ("leader", "worker", "instructor"):
                given = "".join(rng.choice(list(_GIVEN), int(rng.integers(1, 3))))
                g[f"{role}_name"] = str(rng.choice(list(_SURNAMES))) + given
                g[f"{role}_phone"] = f"1390000{int(phones[k]):04d}"
                k += 1
            g["parttime_count"] = int(rng.integers(2, 7))

    def _assign_points(self, items: list[dict]) -> None:
        """Set lon/lat and the grid each point lies in (checked against the polygons)."""
        if not items:
            return
        ll = self._geo(np.array([a["xy"] for a in items]))
        pts = shapely.points(np.array(ll))
        polys = [g["geom"] for g in self.grids]
        tree = shapely.STRtree(polys)
        src, dst = tree.query(pts, predicate="within")
        hit: dict[int, list[int]] = {}
        for s, d in zip(src, dst, strict=True):
            hit.setdefault(int(s), []).append(int(d))
        for k, a in enumerate(items):
            a["lonlat"] = ll[k]
            found = hit.get(k, [])
            if len(found) != 1:
                raise RuntimeError(f"point {ll[k]} lies in {len(found)} grids")
            a["grid_code"] = self.grids[found[0]]["code"]
            if "grid" in a and a["grid"] is not self.grids[found[0]]:
                raise RuntimeError(f"address {a['address']} landed outside its grid")

    def write(self, out: Path) -> dict[str, int]:
        """Build every layer and write the folder; return the feature counts."""
        self._lattice()
        self._regions()
        self._geometry()
        self.say(f"{len(self.divisions)} divisions, {len(self.committees)} committees, {len(self.grids)} grids")
        self._roads()
        self.say(f"{len(self.roads)} roads")
        self._addresses()
        self._assign_points(self.addresses)
        self.say(f"{len(self.addresses)} addresses")
        self._facilities()
        self._assign_points(self.facilities)
        self.say(f"{len(self.facilities)} facilities")
        self._staff()
        out.mkdir(parents=True, exist_ok=True)
        layers = self._features()
        counts = {}
        for name in LAYERS:
            feats = layers[name]
            _write_geojson(out / f"{name}.geojson", name, feats)
            counts[name] = len(feats)
        meta = {
            "name": self.plan.name,
            "synthetic": True,
            "note": ("合成数据：几何、人口、姓名与电话均为虚构；区划名称与代码、网格数量及设施数量参照公开资料。"
                     " Synthetic data: geometry and people (names, phones, populations) are invented; "
                     "division names and codes, grid counts and facility counts follow public facts."),
            "generator": "app.geo.demo",
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "crs": STORAGE_CRS,
            "metric_crs": METRIC_CRS,
            "counts": counts,
        }
        (out / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return counts

    def _features(self) -> dict[str, list[tuple[dict, dict]]]:
        divisions = [({"code": d["code"], "name": d["name"], "kind": d["kind"]}, shapely.geometry.mapping(d["geom"]))
                     for d in sorted(self.divisions, key=lambda d: d["code"])]
        committees = [({k: c[k] for k in ("code", "name", "kind", "division_code")}, shapely.geometry.mapping(c["geom"]))
                      for c in sorted(self.committees, key=lambda c: c["code"])]
        grids = []
        for g in sorted(self.grids, key=lambda g: g["code"]):
            c = self.committees[g["committee"]]
            props = {"code": g["code"], "name": g["name"], "committee_code": c["code"],
                     "division_code": c["division_code"]}
            props.update({f.name: g[f.name] for f in FIELDS["grids"] if f.name not in props})
            grids.append((props, shapely.geometry.mapping(g["geom"])))
        addrs = sorted(self.addresses, key=lambda a: (a["grid_code"], a["kind"], a["street"], a["number"]))
        addresses = []
        for k, a in enumerate(addrs, start=1):
            props = {"id": f"A{k:06d}", "address": a["address"], "kind": a["kind"], "street": a["street"],
                     "number": a["number"], "residents": a["residents"], "households": a["households"],
                     "grid_code": a["grid_code"]}
            addresses.append((props, {"type": "Point", "coordinates": list(a["lonlat"])}))
        facilities = []
        for k, f in enumerate(self.facilities, start=1):
            props = {"id": f"F{k:05d}", "name": f["name"], "category": f["category"], "subtype": f["subtype"],
                     "cjt214_code": f["cjt214_code"], "capacity": f["capacity"], "grid_code": f["grid_code"]}
            facilities.append((props, {"type": "Point", "coordinates": list(f["lonlat"])}))
        roads = [({"id": r["id"], "name": r["name"], "kind": r["kind"]},
                  {"type": "LineString", "coordinates": [[float(self.LON[n]), float(self.LAT[n])] for n in r["nodes"]]})
                 for r in self.roads]
        return {"divisions": divisions, "committees": committees, "grids": grids, "facilities": facilities,
                "addresses": addresses, "roads": roads}


def _round_coords(obj):
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), COORD_PRECISION) for v in obj]
        return [_round_coords(v) for v in obj]
    return obj


def _write_geojson(path: Path, name: str, features: list[tuple[dict, dict]]) -> None:
    """Write a FeatureCollection with one feature per line (stable, diff-friendly bytes)."""
    lines = []
    for props, geom in features:
        g = {"type": geom["type"], "coordinates": _round_coords(geom["coordinates"])}
        lines.append(json.dumps({"type": "Feature", "properties": props, "geometry": g},
                                ensure_ascii=False, separators=(",", ":")))
    text = '{"type":"FeatureCollection","name":"' + name + '","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")
