"""Near-duplicates in bulk agree with the rule applied one report at a time, in (t, id) order."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo.duplicates import Reports, first_reports

GEOD = Geod(ellps="WGS84")
R, W = 50.0, 86_400.0


def _reports(rng, n: int, id0: int, stored: bool) -> Reports:
    return Reports(
        id=np.arange(id0, id0 + n), category=rng.choice(["a", "b"], n),
        lon=97 + rng.random(n) * 0.01, lat=40 + rng.random(n) * 0.01,
        t=rng.integers(0, 5 * 86_400, n).astype(float),
        duplicate_of=np.where(rng.random(n) < 0.3, rng.integers(1, 5, n), -1) if stored
        else None)


def _one_at_a_time(new: Reports, stored: Reports) -> np.ndarray:
    """The API's rule, report by report in arrival order, with nothing vectorised."""
    result: dict[int, int] = {}
    for i in np.lexsort((new.id, new.t)):
        best = None
        for src, rep, j in [("s", stored, j) for j in range(len(stored))] + \
                [("n", new, j) for j in range(len(new))]:
            if src == "n" and (j == i or (rep.t[j], rep.id[j]) >= (new.t[i], new.id[i])):
                continue
            if rep.category[j] != new.category[i] or abs(rep.t[j] - new.t[i]) > W:
                continue
            if GEOD.inv(new.lon[i], new.lat[i], rep.lon[j], rep.lat[j])[2] > R:
                continue
            if best is None or (rep.t[j], rep.id[j]) < best[:2]:
                best = (rep.t[j], rep.id[j], src, j)
        if best is None:
            result[i] = -1
        elif best[2] == "s":
            dup = stored.duplicate_of[best[3]]
            result[i] = dup if dup >= 0 else stored.id[best[3]]
        else:
            result[i] = result[best[3]] if result[best[3]] >= 0 else new.id[best[3]]
    return np.array([result[i] for i in range(len(new))])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_equals_one_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    new, stored = _reports(rng, 300, 1000, False), _reports(rng, 200, 1, True)
    got = first_reports(new, stored, R, W)
    expected = _one_at_a_time(new, stored)
    assert (expected >= 0).sum() > 50  # the data really has near-duplicates and chains
    np.testing.assert_array_equal(got, expected)


def test_edges_of_radius_and_window() -> None:
    lat = 40.0
    east = 49.9 / (111_320 * np.cos(np.radians(lat)))  # just inside 50 m
    far = 50.2 / (111_320 * np.cos(np.radians(lat)))  # just outside
    new = Reports(id=np.array([10, 11, 12, 13]), category=np.array(["a", "a", "a", "b"]),
                  lon=np.array([97 + east, 97 + far, 97.0, 97.0]), lat=np.full(4, lat),
                  t=np.array([100.0, 100.0, 100.0 + W + 1, 100.0]))
    stored = Reports(id=np.array([1]), category=np.array(["a"]), lon=np.array([97.0]),
                     lat=np.array([lat]), t=np.array([100.0]), duplicate_of=np.array([-1]))
    # 10 is 49.9 m away; 11 is 50.2 m from 1 but 0.3 m from 10 (a new report before it in
    # (t, id) order), so it follows 10 to 1; 12 is a second past the window; 13 another
    # category
    np.testing.assert_array_equal(first_reports(new, stored, R, W), [1, 1, -1, -1])
    assert (first_reports(new, stored, 0.0, W) == -1).all()
