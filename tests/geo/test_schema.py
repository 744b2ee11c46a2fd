"""Tests for app.geo.schema: the metric CRS chosen from a data extent (Gauss-Kruger in China, UTM elsewhere)."""

from __future__ import annotations

import math

import pyproj
import pytest

from app.geo.schema import GK_ZONES, METRIC_CRS, METRIC_CRS_AREA, metric_crs_for

JIAYUGUAN = (98.151639, 39.66592, 98.450728, 39.871643)


def test_area_of_use_matches_the_epsg_registry():
    a = pyproj.CRS(METRIC_CRS).area_of_use
    assert (a.west, a.south, a.east, a.north) == pytest.approx(METRIC_CRS_AREA)


def test_jiayuguan_uses_epsg4542():
    assert metric_crs_for(JIAYUGUAN) == "EPSG:4542" == METRIC_CRS


@pytest.mark.parametrize(("bounds", "expected"), [
    ((103.0, 35.5, 104.5, 37.0), "EPSG:4544"),     # Lanzhou (centre 103.75°E): CGCS2000 GK CM 105E
    ((100.0, 38.0, 101.0, 39.0), "EPSG:4543"),     # centre on 4542's eastern edge: the next zone, CM 102E
    ((116.2, 39.7, 116.6, 40.1), "EPSG:4548"),     # Beijing: CM 117E
    ((73.9, 39.3, 76.2, 39.6), "EPSG:4534"),       # Kashgar: the westernmost zone, CM 75E
    ((134.0, 47.0, 134.5, 47.5), "EPSG:4554"),     # Fuyuan: the easternmost zone, CM 135E
])
def test_china_uses_the_gauss_kruger_zone_of_the_centre(bounds, expected):
    assert metric_crs_for(bounds) == expected
    crs = pyproj.CRS(expected)
    a = crs.area_of_use
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    assert "CGCS2000 / 3-degree Gauss-Kruger" in crs.name
    assert a.west - 0.01 <= lon <= a.east + 0.01 and a.south <= lat <= a.north


def test_gauss_kruger_table_matches_the_epsg_registry():
    for cm, (code, south, north) in GK_ZONES.items():
        crs = pyproj.CRS(code)
        assert crs.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"
        assert (crs.area_of_use.south, crs.area_of_use.north) == (south, north)
    assert sorted(GK_ZONES) == list(range(75, 136, 3))


@pytest.mark.parametrize(("bounds", "expected"), [
    ((98.0, 43.0, 98.5, 43.5), "EPSG:32647"),      # north of 4542's area of use (Mongolia)
    ((126.9, 37.4, 127.1, 37.6), "EPSG:32652"),    # Seoul: inside China's rough box, outside every GK zone
    ((150.9, -34.1, 151.3, -33.7), "EPSG:32756"),  # Sydney: southern hemisphere
    ((-70.8, -33.6, -70.5, -33.3), "EPSG:32719"),  # Santiago
    ((179.8, 10.0, 180.0, 10.2), "EPSG:32660"),
    ((-180.0, 10.0, -179.8, 10.2), "EPSG:32601"),
])
def test_elsewhere_uses_the_utm_zone_of_the_centre(bounds, expected):
    assert metric_crs_for(bounds) == expected
    assert pyproj.CRS(expected).is_projected


def test_empty_extent_falls_back_to_the_default():
    assert metric_crs_for((math.nan,) * 4) == METRIC_CRS


def test_code_schemes():
    from app.geo.schema import CODE_PATTERNS, CODE_SCHEMES, DEFAULT_CODE_SCHEME, committee_kind_from_code

    assert CODE_SCHEMES["free"] == {} and DEFAULT_CODE_SCHEME == "free"
    assert CODE_SCHEMES["cn-9-12-15"] is CODE_PATTERNS
    cn = CODE_SCHEMES["cn-9-12-15"]
    assert cn["divisions"].match("620201001") and cn["committees"].match("620201001001")
    assert cn["grids"].match("620201001001001") and not cn["grids"].match("G-07")
    assert committee_kind_from_code("620201001001") == "community"
    assert committee_kind_from_code("620201102200") == "village"
    assert committee_kind_from_code("620201102200", "free") is None
    assert committee_kind_from_code("C-7") is None
