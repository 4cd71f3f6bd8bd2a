"""Datums, swapped coordinates and Chinese projected CRSs."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely

from geo.crs import (
    Datum,
    area_m2,
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_lonlat,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gk_crs,
    length_m,
    metric_crs_for,
    out_of_china,
    to_metric,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CoordinateError, DatumError

GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance, independent of the code under test."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def china_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(75, 134, n), rng.uniform(19, 53, n)


# Published outputs of the widely used open implementation (wandergis/coordtransform README)
# for the input (116.404, 39.915): its forward transforms are the reference formulas.
def test_wgs84_to_gcj02_matches_published_reference() -> None:
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)


def test_gcj02_to_bd09_matches_published_reference() -> None:
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)


def test_bd09_to_gcj02_close_to_published_closed_form() -> None:
    # The published inverse is the approximate closed form; ours is refined by iteration,
    # so it may differ by centimetres, never by metres.
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert metres(lon, lat, 116.39762729119315, 39.90865673957631) < 0.1


def test_gcj02_offset_in_beijing_is_a_few_hundred_metres() -> None:
    lon, lat = wgs84_to_gcj02(116.397428, 39.90923)
    d = metres(116.397428, 39.90923, lon, lat)
    assert 100 < d < 1000


def test_gcj02_round_trip_under_a_centimetre() -> None:
    lon, lat = china_points(20_000)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01
    # and the other way round: the forward transform of the inverse hits the input
    glon, glat = gcj02_to_wgs84(lon, lat)
    assert metres(lon, lat, *wgs84_to_gcj02(glon, glat)).max() < 0.01


def test_bd09_round_trips_under_a_centimetre() -> None:
    lon, lat = china_points(20_000, seed=1)
    assert metres(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat))).max() < 0.01
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))).max() < 0.01


@pytest.mark.parametrize("datum", list(Datum))
def test_to_and_from_wgs84_round_trip(datum: Datum) -> None:
    lon, lat = china_points(2_000, seed=2)
    back = to_wgs84(*from_wgs84(lon, lat, datum), datum)
    assert metres(lon, lat, *back).max() < 0.01


def test_cgcs2000_is_taken_as_wgs84() -> None:
    lon, lat = to_wgs84([116.4, 121.5], [39.9, 31.2], "cgcs2000")
    assert np.array_equal(lon, [116.4, 121.5]) and np.array_equal(lat, [39.9, 31.2])
    assert lon.dtype == np.float64


def test_gcj02_offset_only_inside_china() -> None:
    lon = np.array([2.35, -74.0, 139.7, 116.4])  # Paris, New York, Tokyo, Beijing
    lat = np.array([48.85, 40.7, 35.7, 39.9])
    assert out_of_china(lon, lat).tolist() == [True, True, True, False]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon[:3], lon[:3]) and np.array_equal(glat[:3], lat[:3])
    assert glon[3] != lon[3]
    # BD-09 is Baidu's own offset and applies everywhere
    assert gcj02_to_bd09(2.35, 48.85)[0] != 2.35


def test_scalars_and_arrays_give_float_arrays() -> None:
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert isinstance(lon, np.ndarray) and lon.dtype == np.float64 and lon.shape == ()
    lon, lat = wgs84_to_gcj02([116.4, 117.0], [39.9, 40.0])
    assert lon.shape == (2,)


def test_unknown_datum_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(DatumError, match="gcj02"):
        to_wgs84(116.4, 39.9, "mars")
    assert to_wgs84(116.4, 39.9, "GCJ-02")[0] != 116.4  # spelling variants accepted


def test_check_lonlat_corrects_swapped_rows() -> None:
    res = check_lonlat([116.4, 39.9, 121.5], [39.9, 116.4, 31.2])
    assert res.lon.tolist() == [116.4, 116.4, 121.5]
    assert res.lat.tolist() == [39.9, 39.9, 31.2]
    assert res.swapped.tolist() == [False, True, False]
    assert res.n_swapped == 1


def test_check_lonlat_names_missing_rows() -> None:
    with pytest.raises(CoordinateError, match=r"row 1\b"):
        check_lonlat([116.4, np.nan], [39.9, 39.9])


def test_check_lonlat_rejects_impossible_values() -> None:
    with pytest.raises(CoordinateError, match=r"row 0: lon=200"):
        check_lonlat([200.0], [10.0])


def test_check_lonlat_rejects_points_outside_china_when_required() -> None:
    with pytest.raises(CoordinateError, match=r"row 1: lon=2.35"):
        check_lonlat([116.4, 2.35], [39.9, 48.85])
    ok = check_lonlat([116.4, 2.35], [39.9, 48.85], require_china=False)
    assert ok.swapped.tolist() == [False, False]


def _param(crs: pyproj.CRS, name: str) -> float:
    return next(p.value for p in crs.coordinate_operation.params if p.name == name)


@pytest.mark.parametrize(
    ("lon", "width", "epsg", "cm"),
    [
        (116.4, 3, 4548, 117),
        (75.0, 3, 4534, 75),
        (135.2, 3, 4554, 135),
        (118.6, 3, 4549, 120),
        (116.4, 6, 4509, 117),
        (73.0, 6, 4502, 75),
        (121.5, 6, 4510, 123),
    ],
)
def test_gauss_kruger_zone_for_longitude(lon: float, width: int, epsg: int, cm: int) -> None:
    crs = gk_crs(lon, width)
    assert crs.to_epsg() == epsg
    assert _param(crs, "Longitude of natural origin") == cm
    assert abs(lon - cm) <= width / 2 + 1e-9
    assert _param(crs, "False easting") == 500000  # no zone prefix in the false easting


def test_gauss_kruger_rejects_longitudes_outside_china() -> None:
    with pytest.raises(DatumError, match="10"):
        gk_crs(10.0)
    with pytest.raises(DatumError):
        gk_crs(116.0, zone_width=4)


def test_metric_crs_outside_china_falls_back_to_utm() -> None:
    assert metric_crs_for(2.35, 48.85).to_epsg() == 32631
    assert metric_crs_for(116.4).to_epsg() == 4548


def test_area_and_length_agree_with_geodesic_values() -> None:
    polys = [shapely.box(116.40, 39.90, 116.41, 39.91), shapely.box(87.60, 43.80, 87.62, 43.81)]
    geodesic = [abs(GEOD.geometry_area_perimeter(p)[0]) for p in polys]
    np.testing.assert_allclose(area_m2(polys), geodesic, rtol=1e-3)
    perim = [GEOD.geometry_area_perimeter(p)[1] for p in polys]
    np.testing.assert_allclose(length_m(polys), perim, rtol=1e-3)


def test_to_metric_projects_geodataframes_and_arrays() -> None:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(116.4, 39.9)], crs=4326)
    out = to_metric(gdf)
    assert out.crs.to_epsg() == 4548
    arr = to_metric(np.array([shapely.Point(117.0, 0.0 + 39.9)]))
    assert math.isclose(arr[0].x, 500000, abs_tol=1e-3)  # on the central meridian
