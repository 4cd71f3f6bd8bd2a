"""Coordinates from table cells: decimal or degree-minute-second text, any datum, per-row checks.

The rules are those of :func:`geo.crs.check_lonlat` (swapped lon/lat is corrected; missing,
impossible or not-in-China coordinates are refused) applied row by row, so that one bad row is
rejected with its reason instead of failing the file.  Datum conversion is
:func:`geo.crs.to_wgs84`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from geo.crs import in_china, to_wgs84
from loaders.importers.report import Rejects

_DMS = re.compile(
    r"^\s*(?P<h1>[NSEWnsew东西南北]|东经|西经|北纬|南纬)?\s*(?P<sign>[-+])?\s*"
    r"(?P<d>\d+(?:\.\d*)?)\s*(?:°|º|度|d|:|\s)\s*"
    r"(?:(?P<m>\d+(?:\.\d*)?)\s*(?:'|′|’|分|m|:|\s)?\s*)?"
    r"(?:(?P<s>\d+(?:\.\d*)?)\s*(?:\"|″|”|''|′′|秒|s)?\s*)?"
    r"(?P<h2>[NSEWnsew东西南北])?\s*$"
)
_NEGATIVE = {"s", "w", "南", "西", "西经", "南纬"}


def parse_dms(text: str) -> float:
    """97°2'30.5"E, 40度15分10秒, N40 15 10, 97.5 → decimal degrees; NaN if not a coordinate
    (or minutes/seconds ≥ 60)."""
    t = text.strip()
    if not t:
        return np.nan
    try:
        return float(t)
    except ValueError:
        pass
    m = _DMS.match(t)
    if not m:
        return np.nan
    deg = float(m["d"])
    minutes = float(m["m"]) if m["m"] else 0.0
    seconds = float(m["s"]) if m["s"] else 0.0
    if minutes >= 60 or seconds >= 60 or (minutes != int(minutes) and m["s"]):
        return np.nan
    value = deg + minutes / 60.0 + seconds / 3600.0
    hemis = {(m["h1"] or "").lower(), (m["h2"] or "").lower()} - {""}
    if len(hemis) > 1:
        return np.nan
    if m["sign"] == "-" or hemis & _NEGATIVE:
        value = -value
    return value


def parse_degrees(cells: pd.Series) -> np.ndarray:
    """Decimal degrees for a text column; NaN where empty or not a coordinate.

    The fast vectorised path handles plain numbers; only the other cells go through the
    degree-minute-second parser.
    """
    values = np.array(pd.to_numeric(cells, errors="coerce"), dtype=np.float64)
    slow = np.flatnonzero(np.isnan(values))
    if len(slow):
        texts = cells.to_numpy(dtype=object)[slow]
        values[slow] = [parse_dms(str(t)) for t in texts]
    return values


def lonlat_from_cells(lon_cells: pd.Series, lat_cells: pd.Series, datum: str,
                      rejects: Rejects, *, lon_field: str, lat_field: str,
                      allow_missing: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """WGS84 (lon, lat) per row and the number of swapped rows; bad rows go to ``rejects``
    (their coordinates become NaN).  With ``allow_missing`` rows with both cells empty stay
    NaN without being rejected."""
    x = parse_degrees(lon_cells)
    y = parse_degrees(lat_cells)
    empty_x = lon_cells.str.strip().to_numpy() == ""
    empty_y = lat_cells.str.strip().to_numpy() == ""
    both_empty = empty_x & empty_y
    skip = both_empty if allow_missing else np.zeros(len(x), dtype=bool)
    rejects.add(empty_x & ~skip, lon_field, "missing coordinate")
    rejects.add(empty_y & ~skip & ~empty_x, lat_field, "missing coordinate")
    rejects.add(np.isnan(x) & ~empty_x, lon_field, "not a coordinate", lon_cells)
    rejects.add(np.isnan(y) & ~empty_y & ~np.isnan(x), lat_field, "not a coordinate", lat_cells)
    finite = np.isfinite(x) & np.isfinite(y)
    direct = in_china(x, y)
    swapped = finite & ~direct & in_china(y, x)
    x[swapped], y[swapped] = y[swapped], x[swapped].copy()
    impossible = finite & ((np.abs(y) > 90.0) | (np.abs(x) > 180.0))
    far = finite & ~impossible & ~(direct | swapped)
    pair = None
    if impossible.any() or far.any():
        pair = (lon_cells.astype(str) + ", " + lat_cells.astype(str)).to_numpy()
    rejects.add(impossible, f"{lon_field}/{lat_field}",
                "impossible coordinate (|lat| > 90 or |lon| > 180)", pair)
    rejects.add(far, f"{lon_field}/{lat_field}",
                "not in China in either order (expected lon 73-135, lat 18-54)", pair)
    good = finite & ~impossible & ~far
    out_x = np.full(len(x), np.nan)
    out_y = np.full(len(y), np.nan)
    if good.any():
        gx, gy = to_wgs84(x[good], y[good], datum)
        out_x[good], out_y[good] = gx, gy
    return out_x, out_y, int(swapped.sum())
