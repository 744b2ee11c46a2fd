"""What a new data version changed: grids added, removed and reshaped, and counts per layer."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import shapely

from app.geo.findings import layer_title
from app.geo.schema import LAYERS

if TYPE_CHECKING:
    import geopandas as gpd

    from app.geo.store import ReadStore, Store, VersionInfo


def grid_changes(old: gpd.GeoDataFrame | None, new: gpd.GeoDataFrame | None) -> dict[str, list[str]]:
    """Compare two grid layers by code: which grids were added, removed and reshaped.

    Parameters
    ----------
    old, new : geopandas.GeoDataFrame or None
        The grid layers before and after (None when absent).

    Returns
    -------
    dict
        ``{"added": [...], "removed": [...], "reshaped": [...]}``, codes sorted.
    """
    def by_code(gdf: gpd.GeoDataFrame | None) -> dict[str, Any]:
        if gdf is None or "code" not in gdf.columns:
            return {}
        return dict(zip(gdf["code"].astype(str), gdf.geometry.values, strict=True))

    a, b = by_code(old), by_code(new)
    common = sorted(set(a) & set(b))
    reshaped = []
    for code in common:
        ga, gb = a[code], b[code]
        if ga is None or gb is None:
            if (ga is None) != (gb is None):
                reshaped.append(code)
            continue
        if not shapely.equals_exact(shapely.normalize(ga), shapely.normalize(gb), tolerance=5e-7):
            reshaped.append(code)
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)), "reshaped": reshaped}


def summarise(old: ReadStore | None, new_layers: dict[str, gpd.GeoDataFrame], new_counts: dict[str, int]) -> dict[str, Any]:
    """Summarise a change: grids added/removed/reshaped and feature counts before and after per layer.

    Parameters
    ----------
    old : ReadStore or None
        The version being replaced (None for the first version).
    new_layers : dict
        Layers that were replaced, as GeoDataFrames.
    new_counts : dict
        Feature counts of every layer in the new version.

    Returns
    -------
    dict
        ``{"layers": {name: {"before": n, "after": m}}, "grids": {"added": [...], ...}}``.
    """
    old_counts: dict[str, int] = dict(old.info().counts) if old is not None else {}
    out: dict[str, Any] = {"layers": {}}
    for name in LAYERS:
        before, after = old_counts.get(name), new_counts.get(name)
        if name in new_layers or before != after:
            out["layers"][name] = {"before": before, "after": after}
    if "grids" in new_layers:
        old_grids = None
        if old is not None and "grids" in old.layer_names():
            old_grids = old.read("grids")
        out["grids"] = grid_changes(old_grids, new_layers["grids"])
    return out


#: What each kind of grid change is called: kind -> (Chinese, English).
_KINDS: dict[str, tuple[str, str]] = {"added": ("新增", "added"), "removed": ("删除", "removed"),
                                      "reshaped": ("形状改变", "reshaped")}


def _count_text(n: int | None, lang: str) -> str:
    if n is None:
        return "无" if lang == "zh" else "none"
    return str(n)


def _summary_in(summary: dict[str, Any], limit: int, lang: str) -> str:
    parts = []
    grids = summary.get("grids")
    if grids:
        bits = []
        for kind, (zh, en) in _KINDS.items():
            codes = [str(c) for c in grids.get(kind, [])]
            sep = "、" if lang == "zh" else ", "
            shown = sep.join(codes[:limit]) + (sep + "…" if len(codes) > limit else "")
            if lang == "zh":
                bits.append(f"{zh} {len(codes)} 个" + (f"（{shown}）" if codes else ""))
            else:
                bits.append(f"{len(codes)} {en}" + (f" ({shown})" if codes else ""))
        head = layer_title("grids", lang)
        parts.append(f"{head}：" + "，".join(bits) if lang == "zh" else f"{head}: " + "; ".join(bits))
    for name, c in summary.get("layers", {}).items():
        if name == "grids" and grids:
            continue
        counts = f"{_count_text(c.get('before'), lang)} → {_count_text(c.get('after'), lang)}"
        parts.append(f"{layer_title(name, lang)}{'：' if lang == 'zh' else ': '}{counts}")
    if not parts:
        return "无变化" if lang == "zh" else "no change"
    return " | ".join(parts)


def format_summary(summary: dict[str, Any], limit: int = 8, lang: str = "zh") -> str:
    """Return a one-line human summary of a change summary dict.

    Parameters
    ----------
    summary : dict
        As made by :func:`summarise`.
    limit : int
        How many codes to name per kind before "…".
    lang : str
        ``zh`` (Chinese), ``en`` (English) or ``both`` (Chinese / English).

    Returns
    -------
    str
        E.g. ``网格：新增 3 个（620201001001004、…），删除 1 个（…），形状改变 0 个 | 设施：120 → 125``, or in
        English ``grids: 3 added (620201001001004, …); 1 removed (…); 0 reshaped | facilities: 120 → 125``.
        Layers are named in words (:data:`app.geo.findings.LAYER_TITLES`), never by their keys alone.
    """
    if lang == "both":
        return f"{_summary_in(summary, limit, 'zh')} / {_summary_in(summary, limit, 'en')}"
    return _summary_in(summary, limit, "en" if lang == "en" else "zh")


def rollback_preview(store: Store, ref: str) -> tuple[VersionInfo, dict[str, Any]]:
    """Say what rolling back to a version would change, without changing anything.

    Parameters
    ----------
    store : Store
        The versioned store.
    ref : str
        The version's id, number or unique prefix.

    Returns
    -------
    tuple
        The version rolled back to and the summary (as :func:`summarise`) of what would change
        compared with the version served now: what a rollback would record.

    Raises
    ------
    app.geo.store.StoreError
        When ``ref`` names no version, or the version is already current.
    """
    from app.geo.store import StoreError

    vid = store.resolve(ref.strip())
    current = store.version() if store.exists() else None
    if current == vid:
        raise StoreError(f"version {vid} is already current")
    before = store.snapshot(current) if current else None
    target = store.snapshot(vid)
    new_grids = {"grids": target.read("grids")} if "grids" in target.layer_names() else {}
    return target.info(), summarise(before, new_grids, target.info().counts)


_IMPORT_MSG = re.compile(r"^import (?P<layer>\w+) from (?P<file>.+)$", re.DOTALL)
_INIT_MSG = re.compile(r"^init-city from (?P<file>.+)$", re.DOTALL)
_SEED_MSG = re.compile(r"^seeded from (?P<folder>.+)$", re.DOTALL)


def message_text(message: str, lang: str = "zh") -> str:
    """Return a version's stored message (``import grids from 网格.zip``) in the user's language.

    Parameters
    ----------
    message : str
        The message the store recorded with the version.
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        E.g. ``导入网格：网格.zip`` or ``import grids from 网格.zip``; other messages as they are.
    """
    en = lang == "en"
    m = _IMPORT_MSG.match(message)
    if m and m["layer"] in LAYERS:
        layer = layer_title(m["layer"], lang)
        return f"import {layer} from {m['file']}" if en else f"导入{layer}：{m['file']}"
    m = _INIT_MSG.match(message)
    if m:
        return f"city built from {m['file']} (init-city)" if en else f"由 {m['file']} 建立城市（init-city）"
    m = _SEED_MSG.match(message)
    if m:
        return f"seeded from {m['folder']}" if en else f"初始数据（{m['folder']}）"
    return message
