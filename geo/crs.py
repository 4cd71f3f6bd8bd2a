"""Datums and coordinate reference systems used by Chinese systems.

Real inputs arrive as WGS84 (GPS), GCJ-02 (Amap, Tencent, WeChat mini-programs), BD-09 (Baidu)
or CGCS2000 (official surveys, EPSG:4490).  OneMap stores everything in WGS84 (EPSG:4326);
CGCS2000 is taken as WGS84 (they differ by a few centimetres, below any grid's precision).

GCJ-02 is the published obfuscation formula (the one in every open implementation); it has no
closed-form inverse, so :func:`gcj02_to_wgs84` iterates until the forward transform of its
answer lands within ``tol_m`` of the input.  The offset is applied only inside China's
bounding box (:func:`out_of_china`), as the official devices do.

Metric work (areas, lengths, distances) uses CGCS2000 Gauss-Krüger projections.  We use the
"CM" variants (EPSG:4534-4554 for 3° zones, 4502-4512 for 6° zones) whose false easting is
500 000 m *without* the zone-number prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
import pyproj
import shapely

from geo.errors import CoordinateError, DatumError

__all__ = [
    "CheckedLonLat",
    "Datum",
    "area_m2",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk_crs",
    "in_china",
    "length_m",
    "metric_crs_for",
    "out_of_china",
    "to_metric",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]


class Datum(StrEnum):
    """Geographic datums OneMap accepts for incoming lon/lat."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    CGCS2000 = "cgcs2000"


WGS84_EPSG = 4326
CGCS2000_EPSG = 4490

# Parameters of the GCJ-02 formula (Krasovsky ellipsoid).
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_M_PER_DEG = 111_320.0  # metres per degree of latitude, for convergence tests only

# Rough box of mainland China used by every GCJ-02 implementation to decide where to offset.
CHINA_OFFSET_BOX = (72.004, 0.8293, 137.8347, 55.8271)
# Plausible box for points in China, used to detect swapped lon/lat.
CHINA_LON = (73.0, 135.0)
CHINA_LAT = (18.0, 54.0)


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        raise CoordinateError(f"lon and lat must have the same shape, got {x.shape} and {y.shape}.")
    return x, y


def _out(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Always float64 arrays (0-d for scalar input), never numpy scalars."""
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def out_of_china(lon: Any, lat: Any) -> np.ndarray:
    """True where the GCJ-02 offset does not apply (outside China's bounding box)."""
    x, y = _as_arrays(lon, lat)
    x0, y0, x1, y1 = CHINA_OFFSET_BOX
    with np.errstate(invalid="ignore"):
        return ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))


def in_china(lon: Any, lat: Any) -> np.ndarray:
    """True where lon is in 73-135 and lat in 18-54: the box used to detect swapped input."""
    x, y = _as_arrays(lon, lat)
    with np.errstate(invalid="ignore"):
        return (x >= CHINA_LON[0]) & (x <= CHINA_LON[1]) & (y >= CHINA_LAT[0]) & (y <= CHINA_LAT[1])


def _gcj_delta(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) at WGS84 (x, y); zero outside China."""
    dx0 = x - 105.0
    dy0 = y - 35.0
    sq = np.sqrt(np.abs(dx0))
    common = (20.0 * np.sin(6.0 * dx0 * np.pi) + 20.0 * np.sin(2.0 * dx0 * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * dx0 + 3.0 * dy0 + 0.2 * dy0 * dy0 + 0.1 * dx0 * dy0 + 0.2 * sq + common
    dlat += (20.0 * np.sin(dy0 * np.pi) + 40.0 * np.sin(dy0 / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(dy0 / 12.0 * np.pi) + 320.0 * np.sin(dy0 * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + dx0 + 2.0 * dy0 + 0.1 * dx0 * dx0 + 0.1 * dx0 * dy0 + 0.1 * sq + common
    dlon += (20.0 * np.sin(dx0 * np.pi) + 40.0 * np.sin(dx0 / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(dx0 / 12.0 * np.pi) + 300.0 * np.sin(dx0 / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = y / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(x, y)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 ("Mars coordinates" of Amap/Tencent); identity outside China."""
    x, y = _as_arrays(lon, lat)
    dx, dy = _gcj_delta(x, y)
    return _out(x + dx, y + dy)


def _bd_forward(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (Baidu); Baidu applies its offset everywhere, not only in China."""
    x, y = _as_arrays(lon, lat)
    return _out(*_bd_forward(x, y))


def _invert(
    forward: Any, tx: np.ndarray, ty: np.ndarray, x: np.ndarray, y: np.ndarray, tol_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point inversion of a near-identity transform: x ← x − (f(x) − target)."""
    tol_deg = tol_m / _M_PER_DEG
    x = x.copy()
    y = y.copy()
    for _ in range(30):
        fx, fy = forward(x, y)
        ex = fx - tx
        ey = fy - ty
        x -= ex
        y -= ey
        with np.errstate(invalid="ignore"):
            worst = np.nanmax(np.abs(np.concatenate([ex.ravel(), ey.ravel(), [0.0]])))
        if worst < tol_deg * 0.1:
            break
    return _out(x, y)


def bd09_to_gcj02(lon: Any, lat: Any, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02: the usual closed-form inverse, refined by iteration to ``tol_m``."""
    bx, by = _as_arrays(lon, lat)
    x = bx - 0.0065
    y = by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(_bd_forward, bx, by, z * np.cos(theta), z * np.sin(theta), tol_m)


def gcj02_to_wgs84(lon: Any, lat: Any, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 by iteration: the forward transform of the answer is within ``tol_m``."""
    gx, gy = _as_arrays(lon, lat)
    return _invert(wgs84_to_gcj02, gx, gy, gx, gy, tol_m)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09 through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Any, lat: Any, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS84 through GCJ-02, both steps iterated to ``tol_m``."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat, tol_m), tol_m)


def _datum(datum: Datum | str) -> Datum:
    try:
        return Datum(str(datum).lower().replace("-", "").replace("_", ""))
    except ValueError:
        known = ", ".join(d.value for d in Datum)
        raise DatumError(f"Unknown datum {datum!r}; use one of: {known}.") from None


def to_wgs84(lon: Any, lat: Any, datum: Datum | str) -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat given in ``datum`` to WGS84 (CGCS2000 is taken as WGS84)."""
    d = _datum(datum)
    if d is Datum.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if d is Datum.BD09:
        return bd09_to_wgs84(lon, lat)
    x, y = _as_arrays(lon, lat)
    return x.copy(), y.copy()


def from_wgs84(lon: Any, lat: Any, datum: Datum | str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat to ``datum`` (e.g. to place markers on an Amap or Baidu base map)."""
    d = _datum(datum)
    if d is Datum.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if d is Datum.BD09:
        return wgs84_to_bd09(lon, lat)
    x, y = _as_arrays(lon, lat)
    return x.copy(), y.copy()


@dataclass(frozen=True)
class CheckedLonLat:
    """Validated coordinates; ``swapped[i]`` tells that row i arrived as (lat, lon)."""

    lon: np.ndarray
    lat: np.ndarray
    swapped: np.ndarray

    @property
    def n_swapped(self) -> int:
        return int(self.swapped.sum())


def _describe(idx: np.ndarray, x: np.ndarray, y: np.ndarray, limit: int = 5) -> str:
    parts = [f"row {int(i)}: lon={float(x.flat[i])}, lat={float(y.flat[i])}" for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return "; ".join(parts) + more


def check_lonlat(lon: Any, lat: Any, *, require_china: bool = True) -> CheckedLonLat:
    """Validate lon/lat, swapping rows that clearly arrived as (lat, lon).

    A row is swapped when (lon, lat) is not in China's box (lon 73-135, lat 18-54) but
    (lat, lon) is.  Impossible rows raise :class:`CoordinateError` naming their indexes:
    NaN/inf, |lat| > 90 or |lon| > 180 (after the swap), and — when ``require_china`` —
    rows in China in neither order.
    """
    x, y = _as_arrays(lon, lat)
    x = np.atleast_1d(x).astype(np.float64, copy=True)
    y = np.atleast_1d(y).astype(np.float64, copy=True)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise CoordinateError(
            f"{len(idx)} point(s) have a missing or non-finite coordinate ({_describe(idx, x, y)})."
            " Fix or drop these rows."
        )
    direct = in_china(x, y)
    swapped = ~direct & in_china(y, x)
    x[swapped], y[swapped] = y[swapped], x[swapped].copy()
    impossible = (np.abs(y) > 90.0) | (np.abs(x) > 180.0)
    if impossible.any():
        idx = np.flatnonzero(impossible)
        raise CoordinateError(
            f"{len(idx)} point(s) have impossible coordinates, |lat| > 90 or |lon| > 180 "
            f"({_describe(idx, x, y)}). Check the column order and units (degrees expected)."
        )
    if require_china:
        far = ~(direct | swapped)
        if far.any():
            idx = np.flatnonzero(far)
            raise CoordinateError(
                f"{len(idx)} point(s) are not in China in either lon/lat order "
                f"({_describe(idx, x, y)}). Expected lon 73-135 and lat 18-54 (degrees)."
            )
    return CheckedLonLat(lon=x, lat=y, swapped=swapped)


@lru_cache(maxsize=128)
def _epsg(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


def gk_crs(lon: float, zone_width: int = 3) -> pyproj.CRS:
    """CGCS2000 Gauss-Krüger CRS whose central meridian is nearest ``lon``.

    3° zones → EPSG:4534-4554 (CM 75°E-135°E), 6° zones → EPSG:4502-4512 (CM 75°E-135°E);
    both are the variants without the zone number in the false easting (500 000 m).
    """
    if not np.isfinite(lon):
        raise CoordinateError(f"Cannot pick a Gauss-Krüger zone for longitude {lon!r}.")
    if zone_width == 3:
        cm = 3 * int(np.floor(lon / 3.0 + 0.5))
        if not 75 <= cm <= 135:
            raise DatumError(
                f"Longitude {lon} is outside CGCS2000 3° Gauss-Krüger zones (73.5°E-136.5°E)."
            )
        return _epsg(4534 + (cm - 75) // 3)
    if zone_width == 6:
        zone = int(np.floor(lon / 6.0)) + 1
        if not 13 <= zone <= 23:
            raise DatumError(
                f"Longitude {lon} is outside CGCS2000 6° Gauss-Krüger zones (72°E-138°E)."
            )
        return _epsg(4502 + zone - 13)
    raise DatumError(f"zone_width must be 3 or 6, got {zone_width!r}.")


def metric_crs_for(lon: float, lat: float = 30.0) -> pyproj.CRS:
    """A metric CRS suited to ``lon``: the CGCS2000 3° GK zone in China, else WGS84 UTM."""
    if 73.5 <= lon < 136.5:
        return gk_crs(lon, 3)
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return _epsg((32600 if lat >= 0 else 32700) + zone)


def _center_lon(geoms: np.ndarray) -> tuple[float, float]:
    b = shapely.total_bounds(geoms)
    if not np.all(np.isfinite(b)):
        return 117.0, 30.0
    return float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2)


@lru_cache(maxsize=32)
def _transformer(crs_wkt: str) -> pyproj.Transformer:
    """WGS84 → ``crs``; cached because building a transformer costs milliseconds."""
    return pyproj.Transformer.from_crs(WGS84_EPSG, pyproj.CRS.from_wkt(crs_wkt), always_xy=True)


def to_metric(geoms_or_gdf: Any, crs: pyproj.CRS | None = None) -> Any:
    """Project WGS84 geometries (array / GeoSeries / GeoDataFrame) to one metric CRS.

    Without ``crs`` the GK zone of the layer's centre is used — fine for a city or county;
    use :func:`area_m2` when a layer spans several zones.
    """
    if hasattr(geoms_or_gdf, "to_crs"):
        obj = geoms_or_gdf
        if obj.crs is None:
            obj = obj.set_crs(WGS84_EPSG)
        if crs is None:
            crs = metric_crs_for(*_center_lon(np.asarray(obj.geometry.values)))
        return obj.to_crs(crs)
    geoms = np.asarray(geoms_or_gdf, dtype=object)
    if crs is None:
        crs = metric_crs_for(*_center_lon(geoms))
    tr = _transformer(crs.to_wkt())
    return shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def _per_zone(geoms: Any, measure: Any) -> np.ndarray:
    """Apply ``measure`` to each geometry in the GK zone of its own centroid."""
    if hasattr(geoms, "geometry"):
        geoms = geoms.geometry.values
    arr = np.asarray(geoms, dtype=object).ravel()
    out = np.zeros(len(arr), dtype=np.float64)
    if len(arr) == 0:
        return out
    b = shapely.bounds(arr)
    cx = (b[:, 0] + b[:, 2]) / 2
    ok = np.isfinite(cx)
    cm = np.where(ok, np.clip(3 * np.floor(np.nan_to_num(cx) / 3.0 + 0.5), 75, 135), 0)
    for c in np.unique(cm[ok]):
        sel = ok & (cm == c)
        out[sel] = measure(to_metric(arr[sel], gk_crs(float(c), 3)))
    return out


def area_m2(geoms: Any) -> np.ndarray:
    """Areas in m² of WGS84 geometries, each in the CGCS2000 3° GK zone of its centre."""
    return _per_zone(geoms, shapely.area)


def length_m(geoms: Any) -> np.ndarray:
    """Lengths (perimeters for polygons) in m, each in the GK zone of its centre."""
    return _per_zone(geoms, shapely.length)
