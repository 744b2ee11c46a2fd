"""A lean Mapbox Vector Tile encoder for one layer of polygons or lines (what mapbox_vector_tile writes, faster)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import shapely

_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


def _varint(out: bytearray, v: int) -> None:
    if v < 0:
        v += 1 << 64
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _bytes_field(out: bytearray, field: int, payload: bytes | bytearray) -> None:
    _varint(out, field << 3 | 2)
    _varint(out, len(payload))
    out += payload


def _packed(values: list[int]) -> bytearray:
    out = bytearray()
    for v in values:
        _varint(out, v)
    return out


def _zz(v: int) -> int:
    return (v << 1) ^ (v >> 31)


def _cmd(cmd: int, count: int) -> int:
    return (count << 3) | cmd


def _arc(geom: list[int], xy: list[tuple[int, int]], cursor: list[int], ring: bool) -> bool:
    """Append MoveTo + LineTo (+ ClosePath for a ring) of ``xy``; False (and nothing added) without a segment."""
    x0, y0 = xy[0]
    cmds = [_cmd(_MOVE_TO, 1), _zz(x0 - cursor[0]), _zz(y0 - cursor[1]), 0]
    lx, ly, pairs = x0, y0, 0
    for x, y in xy[1:-1] if ring else xy[1:]:  # a ring's closing point is implied by ClosePath
        if x == lx and y == ly:
            continue
        cmds += (_zz(x - lx), _zz(y - ly))
        lx, ly, pairs = x, y, pairs + 1
    if pairs == 0:
        return False
    cmds[3] = _cmd(_LINE_TO, pairs)
    geom += cmds
    if ring:
        geom.append(_cmd(_CLOSE, 1))
    cursor[0], cursor[1] = lx, ly
    return True


def _geometries(geoms: np.ndarray) -> list[tuple[int, list[int]]]:
    """Return ``(MVT type, commands)`` per polygon/line geometry (rounded and oriented), in one pass of arrays."""
    out: list[tuple[int, list[int]]] = [(3, []) for _ in range(len(geoms))]
    kinds = shapely.get_type_id(geoms)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    lines = np.isin(kinds, (1, 5))[part_of]
    rings, ring_of = shapely.get_rings(parts[~lines], return_index=True)
    poly_parts = np.flatnonzero(~lines)
    # every arc: its geometry, whether it is a ring, whether it starts a polygon (an exterior)
    arcs = np.concatenate([parts[lines], rings])
    arc_geom = np.concatenate([part_of[lines], part_of[poly_parts[ring_of]]])
    is_ring = np.concatenate([np.zeros(int(lines.sum()), bool), np.ones(len(rings), bool)])
    starts = np.concatenate([np.zeros(int(lines.sum()), bool),
                             np.r_[True, ring_of[1:] != ring_of[:-1]] if len(rings) else np.zeros(0, bool)])
    order = np.argsort(arc_geom, kind="stable")  # each geometry's arcs together, in their own order
    coords, coord_of = shapely.get_coordinates(arcs[order], return_index=True)
    bounds = np.searchsorted(coord_of, np.arange(len(order) + 1)).tolist()
    xy = coords.astype(np.int64).tolist()
    cursors: dict[int, list[int]] = {}
    skip = -1
    for k, a in enumerate(order.tolist()):
        g = int(arc_geom[a])
        kind, geom = out[g]
        if not is_ring[a]:
            out[g] = (2, geom)
        cursor = cursors.setdefault(g, [0, 0])
        pts = [tuple(p) for p in xy[bounds[k]:bounds[k + 1]]]
        if starts[a]:
            skip = -1
        elif skip == g:
            continue  # a hole of a polygon whose exterior was left out
        drawn = len(pts) >= 2 and _arc(geom, pts, cursor, ring=bool(is_ring[a]))
        if not drawn and starts[a]:
            skip = g
    return out


def encode_layer(name: str, features: list[dict[str, Any]], extent: int) -> bytes:
    """Encode one MVT layer as a whole tile (a tile holding only it), as ``mapbox_vector_tile.encode`` would.

    Coordinates are rounded to whole tile units (half to even), polygon rings oriented as MVT asks
    (exterior clockwise with y down: shapely's counter-clockwise, holes the other way), repeated points
    dropped, and a ring or line left without a segment omitted, with the feature when nothing is left.
    Properties take strings, booleans, integers and floats.

    Parameters
    ----------
    name : str
        The layer's name.
    features : list of dict
        ``{"geometry": shapely geometry in tile units (y down), "properties": dict, "id": int}``.
    extent : int
        Tile units across the tile.

    Returns
    -------
    bytes
        The encoded tile.
    """
    geoms = np.asarray([f["geometry"] for f in features], dtype=object)
    if len(geoms):
        geoms = shapely.orient_polygons(shapely.transform(geoms, np.rint), exterior_cw=False)
    layer = bytearray()
    _bytes_field(layer, 1, name.encode())
    keys: dict[str, int] = {}
    values: dict[Any, int] = {}
    bools: dict[bool, int] = {}
    encoded_values: list[bytearray] = []
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms) if len(geoms) else np.zeros(0, bool)
    encoded = _geometries(geoms[~empty]) if len(geoms) else []
    at = np.cumsum(~empty) - 1
    for i, f in enumerate(features):
        if empty[i]:
            continue
        kind, geom = encoded[at[i]]
        if not geom:
            continue
        tags: list[int] = []
        for k, v in (f.get("properties") or {}).items():
            if not isinstance(k, str) or not isinstance(v, (str, bool, int, float)):
                continue
            if k not in keys:
                keys[k] = len(keys)
            tags.append(keys[k])
            seen = bools if isinstance(v, bool) else values
            if v not in seen:
                seen[v] = len(encoded_values)
                val = bytearray()
                if isinstance(v, bool):
                    val += bytes((7 << 3, int(v)))
                elif isinstance(v, str):
                    _bytes_field(val, 1, v.encode())
                elif isinstance(v, int):
                    _varint(val, 4 << 3)
                    _varint(val, v)
                else:
                    val.append(3 << 3 | 1)
                    val += struct.pack("<d", v)
                encoded_values.append(val)
            tags.append(seen[v])
        feat = bytearray()
        fid = f.get("id")
        if isinstance(fid, int) and fid >= 0:
            _varint(feat, 1 << 3)
            _varint(feat, fid)
        if tags:
            _bytes_field(feat, 2, _packed(tags))
        _varint(feat, 3 << 3)
        _varint(feat, kind)
        _bytes_field(feat, 4, _packed(geom))
        _bytes_field(layer, 2, feat)
    for k in keys:
        _bytes_field(layer, 3, k.encode())
    for val in encoded_values:
        _bytes_field(layer, 4, val)
    _varint(layer, 5 << 3)
    _varint(layer, extent)
    _varint(layer, 15 << 3)
    _varint(layer, 2)
    out = bytearray()
    _bytes_field(out, 3, layer)
    return bytes(out)
