"""Tests for app.geo.network: noding, the snapping rule and walking distances."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from app.geo.network import build_network


def cross() -> list:
    """A plus sign of two 200 m roads crossing at (100, 100) without a shared vertex, and a spur."""
    return [shapely.LineString([(0, 100), (200, 100)]), shapely.LineString([(100, 0), (100, 200)]),
            shapely.LineString([(200, 100), (200, 300)])]


def test_crossing_roads_are_noded():
    net = build_network(cross())
    assert net.node_count == 6  # 4 ends of the plus, the crossing, the spur's end
    assert net.segment_count == 5
    assert net.seg_len.sum() == pytest.approx(600)


def test_snap_is_perpendicular_and_clamped():
    net = build_network(cross())
    snap = net.snap(np.array([[50, 110], [-30, 100], [130, 40]]))
    np.testing.assert_allclose(snap.xy, [[50, 100], [0, 100], [100, 40]])
    np.testing.assert_allclose(snap.access, [10, 30, 30])


def test_distances_through_the_network():
    net = build_network(cross())
    src = net.snap(np.array([[10, 95]]))  # on the west arm, 5 m off the road
    nd = net.node_distances(src)
    tgt = net.snap(np.array([[100, 180], [200, 290], [40, 100]]))
    d = net.distances(nd, src, tgt)
    # 5 access + 90 to the crossing + 80 north
    assert d[0] == pytest.approx(5 + 90 + 80)
    assert d[1] == pytest.approx(5 + 90 + 100 + 190)
    # same segment: walk straight along it
    assert d[2] == pytest.approx(5 + 30)


def test_cutoff_and_unreachable():
    lines = cross() + [shapely.LineString([(500, 500), (600, 500)])]
    net = build_network(lines)
    src = net.snap(np.array([[0, 100]]))
    nd = net.node_distances(src, cutoff=150)
    assert np.isinf(nd).sum() >= 3
    full = net.node_distances(src)
    far = net.snap(np.array([[550, 505]]))
    assert np.isinf(net.distances(full, src, far))[0]


def test_reached_lines_length():
    net = build_network(cross())
    src = net.snap(np.array([[100, 100]]))
    lines = net.reached_lines(net.node_distances(src), 50)
    assert lines.length == pytest.approx(4 * 50)
    assert net.reached_lines(net.node_distances(src), 1000).length == pytest.approx(600)


def test_empty_network():
    net = build_network([])
    assert net.segment_count == 0
    with pytest.raises(ValueError, match="empty"):
        net.snap(np.array([[0, 0]]))
