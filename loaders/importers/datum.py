"""Which datum a file's points are in, when the user did not say (#17).

Chinese exports often carry GCJ-02 (Amap, Tencent) or BD-09 (Baidu) coordinates under a
plain "经度/纬度" header; read as WGS84 they land 100–700 m off, inside the wrong grid or a
street away, with nothing to show for it.  Before a load without ``--datum``, a sample of the
file's points is read as each datum and compared with what the database knows: the share that
falls inside a unit, and the median distance to the nearest household of the register.  When
another datum fits clearly better the load is refused with that evidence and the flag to add
(``--datum gcj02``), or, with ``--datum auto``, the best one is taken and said.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection

from geo.crs import to_wgs84
from store import repository

CANDIDATES = ("wgs84", "gcj02", "bd09")
SAMPLE = 2_000
M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Fit:
    datum: str
    inside: float  # share of the sample inside a unit (0-1)
    median_m: float | None  # median distance to the nearest household (None: no register)

    def line(self) -> str:
        near = "–" if self.median_m is None else f"{self.median_m:,.0f} m"
        return f"{self.datum:>6}: {self.inside:6.1%} inside a unit, nearest household {near}"


def _sample(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    good = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if len(good) > SAMPLE:
        good = np.random.default_rng(0).choice(good, SAMPLE, replace=False)
    return lon[good], lat[good]


def fits(conn: Connection, lon: np.ndarray, lat: np.ndarray, assign_engine,
         use_households: bool = True) -> list[Fit]:
    """``lon``/``lat`` as the file has them (not converted), read as each candidate datum."""
    x, y = _sample(lon, lat)
    homes = repository.household_points(conn, limit=200_000) if use_households else None
    tree = None
    if homes is not None and len(homes[0]):
        k = np.cos(np.radians(np.nanmean(homes[1])))
        tree = shapely.STRtree(shapely.points(homes[0] * k, homes[1]))
    out = []
    for datum in CANDIDATES:
        wx, wy = to_wgs84(x, y, datum)
        result = assign_engine.assign(np.asarray(wx), np.asarray(wy), snap_m=0)
        inside = float(np.isin(result.reason, ("inside", "edge")).mean()) if len(x) else 0.0
        median = None
        if tree is not None and len(x):
            pts = shapely.points(np.asarray(wx) * k, np.asarray(wy))
            _idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
            median = float(np.median(dist) * M_PER_DEG)
        out.append(Fit(datum, inside, median))
    return out


def clearly_best(found: list[Fit]) -> Fit | None:
    """The datum that fits clearly better than every other, or None when they are alike:
    half the median distance to the households and at least 30 m closer, or (without a
    register) 10 points more inside the units."""
    def better(a: Fit, b: Fit) -> bool:
        if a.median_m is not None and b.median_m is not None:
            return a.median_m <= 0.5 * b.median_m and b.median_m - a.median_m >= 30
        return a.inside - b.inside >= 0.10
    for candidate in found:
        if all(better(candidate, other) for other in found if other is not candidate):
            return candidate
    return None
