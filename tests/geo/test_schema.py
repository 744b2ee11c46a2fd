"""Tests for app.geo.schema: the metric CRS chosen from a data extent."""

from __future__ import annotations

import math

import pyproj
import pytest

from app.geo.schema import METRIC_CRS, METRIC_CRS_AREA, metric_crs_for

JIAYUGUAN = (98.151639, 39.66592, 98.450728, 39.871643)


def test_area_of_use_matches_the_epsg_registry():
    a = pyproj.CRS(METRIC_CRS).area_of_use
    assert (a.west, a.south, a.east, a.north) == pytest.approx(METRIC_CRS_AREA)


def test_jiayuguan_uses_epsg4542():
    assert metric_crs_for(JIAYUGUAN) == "EPSG:4542" == METRIC_CRS


@pytest.mark.parametrize(("bounds", "expected"), [
    ((103.0, 35.5, 104.5, 37.0), "EPSG:32648"),    # Lanzhou: east of 4542's 97.5-100.5°E
    ((100.0, 38.0, 101.0, 39.0), "EPSG:32647"),    # straddles 4542's eastern edge
    ((98.0, 43.0, 98.5, 43.5), "EPSG:32647"),      # north of 4542's area of use
    ((116.2, 39.7, 116.6, 40.1), "EPSG:32650"),    # Beijing
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
