"""A hand-built jurisdiction where every reason code has a known answer.

Coordinates are given in a local unit u = 0.001° around (116.4, 39.9); ``lonlat`` converts.

    y=3 +-------+-------+---------------+
        |g7a|  gap  |g7b|               |
    y=2 +---+---+---+---+   g5 (with a  |
        |  g3   |  g4   |   hole that   |
    y=1 +-------+-------+   holds g6)    |
        |  g1   |  g2   |               |
    y=0 +-------+-------+---------------+
        x=0     1       2               4

county (id 1) = [0,4]x[0,3]; streets 10 = [0,2]x[0,3], 20 = [2,4]x[0,3];
communities 100 = [0,2]x[0,2] (g1-g4), 101 = [0,2]x[2,3] (g7), 200 = [2,4]x[0,3] (g5, g6).
Codes are chosen so that the lowest code is not the lowest id.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely import MultiPolygon, box

LON0, LAT0, U = 116.4, 39.9, 0.001


def lonlat(x, y):
    return LON0 + np.asarray(x, dtype=float) * U, LAT0 + np.asarray(y, dtype=float) * U


def ubox(x0, y0, x1, y1):
    (a, c), (b, d) = lonlat([x0, x1], [y0, y1])
    return box(a, b, c, d)


HOLE = (2.5, 0.5, 3.5, 1.5)
G5 = ubox(2, 0, 4, 3).difference(ubox(*HOLE))
G6 = ubox(2.8, 0.8, 3.2, 1.2)
G7 = MultiPolygon([ubox(0, 2, 0.5, 3), ubox(1.5, 2, 2, 3)])

ROWS = [
    # id, code, level, parent, geometry
    (1, "110101", 0, None, ubox(0, 0, 4, 3)),
    (10, "110101001", 1, 1, ubox(0, 0, 2, 3)),
    (20, "110101002", 1, 1, ubox(2, 0, 4, 3)),
    (100, "110101001001", 2, 10, ubox(0, 0, 2, 2)),
    (101, "110101001002", 2, 10, ubox(0, 2, 2, 3)),
    (200, "110101002001", 2, 20, ubox(2, 0, 4, 3)),
    (1001, "110101001001004", 3, 100, ubox(0, 0, 1, 1)),  # g1
    (1002, "110101001001002", 3, 100, ubox(1, 0, 2, 1)),  # g2: lower code than g1
    (1003, "110101001001003", 3, 100, ubox(0, 1, 1, 2)),  # g3
    (1004, "110101001001001", 3, 100, ubox(1, 1, 2, 2)),  # g4: lowest code of the four
    (1005, "110101002001001", 3, 200, G5),
    (1006, "110101002001002", 3, 200, G6),
    (1007, "110101001002001", 3, 101, G7),
]


def make_hand_units() -> gpd.GeoDataFrame:
    ids, codes, levels, parents, geoms = zip(*ROWS, strict=True)
    gdf = gpd.GeoDataFrame(
        {"id": ids, "code": codes, "level": levels, "parent_id": parents},
        geometry=list(geoms),
        crs=4326,
    )
    gdf["parent_id"] = gdf["parent_id"].astype("Int64")
    return gdf
