"""Near-duplicates in bulk: for each new report, the first earlier report of its category
within a radius and a time window — the rule :func:`store.incidents.near_duplicate` applies to
one report at a time, here for a whole file at once (pure numpy and pyproj).

A candidate for a new report ``x`` is a report ``c`` of the same category, ``c`` not ``x``,
with ``|t_c - t_x| <= window_s`` and a geodesic (WGS84 spheroid, as PostGIS geography)
distance ``<= radius_m``, that was there before ``x``: a stored report (any time in the
window), or a new one earlier in ``(t, id)`` order.  The first candidate by ``(t, id)`` wins and
``x`` is linked to *its* first report: a stored report's ``duplicate_of`` or a new report's own
result, else the candidate itself — so every duplicate points at the first report, as over the
API.

Candidates are found without comparing every pair: points are put in cells at least
``radius_m`` wide and time buckets ``window_s`` long, so a candidate lies in one of the 3×3
neighbouring cells of the same bucket or the two next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")
_M_PER_DEG_LAT_MIN = 110_574.0  # a degree of latitude is at least this long (at the equator)
_M_PER_DEG_LON_EQ = 111_320.0


@dataclass(frozen=True)
class Reports:
    """Reports as parallel arrays: id, category (any hashable code), lon/lat (WGS84), time
    (epoch seconds) and, for stored reports, ``duplicate_of`` (-1 when none)."""

    id: np.ndarray
    category: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    t: np.ndarray
    duplicate_of: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.id)


def first_reports(new: Reports, stored: Reports, radius_m: float, window_s: float
                  ) -> np.ndarray:
    """For each new report, the id of the first report it duplicates, or -1."""
    n = len(new)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or radius_m <= 0 or window_s < 0:
        return out
    m = len(stored)
    ids = np.concatenate([np.asarray(new.id, np.int64), np.asarray(stored.id, np.int64)])
    lon = np.concatenate([np.asarray(new.lon, float), np.asarray(stored.lon, float)])
    lat = np.concatenate([np.asarray(new.lat, float), np.asarray(stored.lat, float)])
    t = np.concatenate([np.asarray(new.t, float), np.asarray(stored.t, float)])
    _, cat = np.unique(np.concatenate([np.asarray(new.category, object).astype(str),
                                       np.asarray(stored.category, object).astype(str)]),
                       return_inverse=True)
    is_new = np.arange(n + m) < n

    # cells at least radius_m wide everywhere in the data, time buckets of window_s
    max_lat = float(np.max(np.abs(lat))) if len(lat) else 0.0
    dlon = radius_m / (_M_PER_DEG_LON_EQ * max(np.cos(np.radians(min(max_lat, 89.0))), 1e-6))
    dlat = radius_m / _M_PER_DEG_LAT_MIN
    cx = np.floor(lon / dlon).astype(np.int64)
    cy = np.floor(lat / dlat).astype(np.int64)
    tb = np.floor(t / max(window_s, 1.0)).astype(np.int64)
    # one int64 key per (category, cell, bucket); one spare cell on each side for the probes
    cx, cy, tb = cx - cx.min() + 1, cy - cy.min() + 1, tb - tb.min() + 1
    sx, sy, st = int(cx.max()) + 2, int(cy.max()) + 2, int(tb.max()) + 2
    if float(cat.max() + 1) * sx * sy * st >= 2.0 ** 62:
        raise ValueError("too many cells for one key: split the reports (e.g. by month)")
    key = ((cat.astype(np.int64) * sx + cx) * sy + cy) * st + tb
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]

    left_all, right_all = [], []
    new_order = np.argsort(key[:n], kind="stable")
    mine = key[:n][new_order]  # sorted probes: searchsorted walks the table once
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dt in (-1, 0, 1):
                probe = mine + (dx * sy + dy) * st + dt
                lo = np.searchsorted(sorted_key, probe, side="left")
                hi = np.searchsorted(sorted_key, probe, side="right")
                counts = hi - lo
                hit = np.flatnonzero(counts)
                if not len(hit):
                    continue
                counts, lo = counts[hit], lo[hit]
                left = np.repeat(new_order[hit], counts)
                offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
                right = order[np.repeat(lo, counts) + offsets]
                left_all.append(left)
                right_all.append(right)
    if not left_all:
        return out
    left = np.concatenate(left_all)
    right = np.concatenate(right_all)
    keep = (right != left) & (np.abs(t[right] - t[left]) <= window_s)
    earlier = (t[right] < t[left]) | ((t[right] == t[left]) & (ids[right] < ids[left]))
    keep &= ~is_new[right] | earlier
    left, right = left[keep], right[keep]
    if len(left):
        _, _, dist = _GEOD.inv(lon[left], lat[left], lon[right], lat[right])
        close = dist <= radius_m
        left, right = left[close], right[close]
    if not len(left):
        return out
    # the first candidate by (t, id) for each new report
    pick = np.lexsort((ids[right], t[right], left))
    left, right = left[pick], right[pick]
    first = np.r_[True, left[1:] != left[:-1]]
    left, right = left[first], right[first]

    stored_dup = (np.asarray(stored.duplicate_of, np.int64) if stored.duplicate_of is not None
                  else np.full(m, -1, np.int64))
    cand = np.full(n, -1, dtype=np.int64)  # row of the candidate in the combined arrays
    cand[left] = right
    has = cand >= 0
    result = np.full(n, -1, dtype=np.int64)
    from_stored = has & ~is_new[np.maximum(cand, 0)]
    rows = cand[from_stored] - n
    result[from_stored] = np.where(stored_dup[rows] >= 0, stored_dup[rows], ids[cand[from_stored]])
    from_new = has & is_new[np.maximum(cand, 0)]
    result[from_new] = ids[cand[from_new]]
    # a new candidate that is itself a duplicate passes its first report on (chains)
    for _ in range(n):
        parent = np.where(from_new, cand, 0)
        follow = from_new & (result[parent] >= 0) & (result != result[parent])
        if not follow.any():
            break
        result[follow] = result[parent[follow]]
    return result
