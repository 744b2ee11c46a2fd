"""Tests for app.geo.crs: GCJ-02 / BD-09 shifts, CRS parsing and pyproj conversions."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from app.geo.crs import (
    CRSError,
    CrsSpec,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

_GEOD = pyproj.Geod(ellps="WGS84")
JYG = (98.29, 39.77)  # Jiayuguan city centre (lon, lat)

# Published WGS84 -> GCJ-02 vectors, (lon, lat) -> (lon, lat).
VECTORS = [
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
]


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres on WGS84."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    return np.asarray(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize(("wgs", "gcj"), VECTORS)
def test_wgs84_to_gcj02_published_vectors(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert lon == pytest.approx(gcj[0], abs=1e-6)
    assert lat == pytest.approx(gcj[1], abs=1e-6)


def test_vectorised_matches_scalar():
    lons = np.array([w[0] for w, _ in VECTORS])
    lats = np.array([w[1] for w, _ in VECTORS])
    glon, glat = wgs84_to_gcj02(lons, lats)
    assert isinstance(glon, np.ndarray) and glon.shape == (3,)
    np.testing.assert_allclose(glon, [g[0] for _, g in VECTORS], atol=1e-6)
    np.testing.assert_allclose(glat, [g[1] for _, g in VECTORS], atol=1e-6)
    # Lists and 2-D arrays keep their shape.
    glon2, _ = wgs84_to_gcj02(lons.reshape(3, 1), lats.reshape(3, 1))
    assert glon2.shape == (3, 1)
    glon3, _ = wgs84_to_gcj02(list(lons), list(lats))
    assert isinstance(glon3, np.ndarray)


def test_gcj02_round_trip_within_half_metre_at_jiayuguan():
    lon, lat = np.meshgrid(np.linspace(98.10, 98.50, 41), np.linspace(39.60, 39.95, 36))
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = gcj02_to_wgs84(glon, glat)
    err = _metres(lon, lat, blon, blat)
    assert err.max() < 0.5
    assert err.max() < 1e-3  # in fact far better: the iteration stops at 1e-9 degree


def test_gcj02_to_wgs84_scalar_and_published_vectors_reverse():
    for wgs, gcj in VECTORS:
        lon, lat = gcj02_to_wgs84(*gcj)
        assert isinstance(lon, float)
        assert _metres(lon, lat, *wgs) < 0.5


def test_jiayuguan_offset_magnitudes():
    glon, glat = wgs84_to_gcj02(*JYG)
    gcj_m = float(_metres(*JYG, glon, glat))
    east = float(_metres(JYG[0], JYG[1], glon, JYG[1])) * np.sign(glon - JYG[0])
    north = float(_metres(JYG[0], JYG[1], JYG[0], glat)) * np.sign(glat - JYG[1])
    assert 90 < gcj_m < 120  # about 106 m
    assert 40 < east < 60 and 80 < north < 105  # about 51 m east, 93 m north
    blon, blat = wgs84_to_bd09(*JYG)
    bd_m = float(_metres(*JYG, blon, blat))
    assert 850 < bd_m < 1050  # about 950 m
    # Beijing's offset is much larger, which is why the tolerances above are tighter than Beijing's.
    (wlon, wlat), (clon, clat) = VECTORS[0]
    assert float(_metres(wlon, wlat, clon, clat)) > 500


@pytest.mark.parametrize("pt", [(-0.1276, 51.5072), (139.6917, 35.6895), (151.2093, -33.8688), (103.85, 1.29 - 2)])
def test_outside_china_unchanged(pt):
    assert wgs84_to_gcj02(*pt) == pt
    assert gcj02_to_wgs84(*pt) == pytest.approx(pt, abs=1e-12)


@pytest.mark.parametrize("pt", [(-0.1276, 51.5072), (24.9384, 60.1699), (-122.4194, 37.7749), (151.2093, -33.8688)])
def test_gcj02_and_bd09_are_the_identity_outside_china_both_ways(pt):
    for forward, back in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84),
                          (gcj02_to_bd09, bd09_to_gcj02)):
        assert forward(*pt) == pt
        assert back(*pt) == pt
    for crs in ("gcj02", "bd09"):
        x, y = to_wgs84(np.array([pt[0]]), np.array([pt[1]]), crs)
        assert (float(x[0]), float(y[0])) == pt
        x, y = from_wgs84(np.array([pt[0]]), np.array([pt[1]]), crs)
        assert (float(x[0]), float(y[0])) == pt


def test_mixed_inside_outside_array():
    lon = np.array([98.29, -0.1276])
    lat = np.array([39.77, 51.5072])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon[0] != lon[0]
    assert (glon[1], glat[1]) == (lon[1], lat[1])


def test_bd09_round_trip():
    lon, lat = np.meshgrid(np.linspace(98.10, 98.50, 21), np.linspace(39.60, 39.95, 21))
    blon, blat = gcj02_to_bd09(lon, lat)
    glon, glat = bd09_to_gcj02(blon, blat)
    assert _metres(lon, lat, glon, glat).max() < 0.01
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert _metres(lon, lat, wlon, wlat).max() < 0.01
    b = gcj02_to_bd09(98.29, 39.77)
    assert isinstance(b[0], float)


def test_nan_passes_through():
    lon, lat = gcj02_to_wgs84(np.array([98.29, np.nan]), np.array([39.77, np.nan]))
    assert np.isfinite(lon[0]) and np.isnan(lon[1]) and np.isnan(lat[1])


def test_shape_mismatch_is_error():
    with pytest.raises(ValueError, match="shapes"):
        wgs84_to_gcj02(np.zeros(3), np.zeros(2))


@pytest.mark.parametrize(
    ("text", "kind", "epsg"),
    [
        ("EPSG:4326", "epsg", 4326),
        ("epsg:4326", "epsg", 4326),
        ("4326", "epsg", 4326),
        (4326, "epsg", 4326),
        ("wgs84", "epsg", 4326),
        ("WGS-84", "epsg", 4326),
        ("cgcs2000", "epsg", 4490),
        ("EPSG:4490", "epsg", 4490),
        ("gcj02", "gcj02", None),
        ("GCJ-02", "gcj02", None),
        ("amap", "gcj02", None),
        ("高德", "gcj02", None),
        ("bd09", "bd09", None),
        ("BD-09", "bd09", None),
        ("baidu", "bd09", None),
        ("百度", "bd09", None),
        ("EPSG:4542", "epsg", 4542),
        (4542, "epsg", 4542),
        ("32647", "epsg", 32647),
        ("OGC:CRS84", "epsg", 4326),
    ],
)
def test_parse_crs_variants(text, kind, epsg):
    spec = parse_crs(text)
    assert isinstance(spec, CrsSpec)
    assert (spec.kind, spec.epsg) == (kind, epsg)
    assert spec.label
    assert parse_crs(spec) is spec


def test_crs_spec_is_frozen():
    spec = parse_crs("EPSG:4542")
    assert "4542" in spec.label and "Gauss" in spec.label
    with pytest.raises(AttributeError):
        spec.epsg = 4326  # type: ignore[misc]


@pytest.mark.parametrize("text", ["mars", "EPSG:99999", "", "  ", 0, -4326, True, 4.5])
def test_parse_crs_unknown(text):
    with pytest.raises(CRSError) as info:
        parse_crs(text)
    assert isinstance(info.value, ValueError)
    assert repr(text.strip() if isinstance(text, str) else text) in str(info.value) or "empty" in str(info.value)


def test_parse_crs_error_names_input():
    with pytest.raises(CRSError, match="'mars'"):
        parse_crs("mars")
    with pytest.raises(CRSError, match="EPSG:99999"):
        parse_crs("EPSG:99999")


def test_epsg4542_round_trip_city_centre():
    x, y = from_wgs84(*JYG, "EPSG:4542")
    assert isinstance(x, np.ndarray)
    assert float(x) == pytest.approx(439167, abs=5)
    assert float(y) == pytest.approx(4404233, abs=5)
    lon, lat = to_wgs84(x, y, 4542)
    assert _metres(lon, lat, *JYG) < 1e-3
    xs, ys = from_wgs84(np.array([98.2, 98.3]), np.array([39.7, 39.8]), parse_crs("EPSG:4542"))
    assert xs.shape == (2,) and np.all(np.diff(xs) > 0)


def test_utm_round_trip():
    x, y = from_wgs84(*JYG, "EPSG:32647")
    lon, lat = to_wgs84(x, y, "32647")
    assert _metres(lon, lat, *JYG) < 1e-3


def test_geographic_pass_through_and_shifted_crs():
    lon = np.array([98.29, 98.30])
    lat = np.array([39.77, 39.78])
    for crs in ("wgs84", "EPSG:4490", 4326):
        x, y = to_wgs84(lon, lat, crs)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)
        assert x is not lon
    glon, glat = from_wgs84(lon, lat, "gcj02")
    np.testing.assert_allclose(glon, wgs84_to_gcj02(lon, lat)[0])
    back = to_wgs84(glon, glat, "amap")
    assert _metres(*back, lon, lat).max() < 0.5
    blon, blat = from_wgs84(lon, lat, "baidu")
    back = to_wgs84(blon, blat, "bd09")
    assert _metres(*back, lon, lat).max() < 0.5


def test_to_wgs84_unknown_crs():
    with pytest.raises(CRSError, match="nope"):
        to_wgs84(1.0, 2.0, "nope")
