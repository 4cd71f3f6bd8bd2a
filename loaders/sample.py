"""A small built-in sample: one county, two towns, four villages, twelve grids near 玉门市.

It exists so a fresh `make run` shows a real map before the demo regions are loaded.  The units
are rectangles that tile their parents exactly (shared edges, no gaps), so every later check
(coverage, assignment) passes on it.
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import box

from geo.crs import area_m2

# South-west corner and size of the sample county, in WGS84 degrees (near 玉门市 玉门镇).
ORIGIN = (97.00, 40.25)
SIZE = (0.12, 0.08)

TOWNS = ("西城示例街道", "东城示例街道")
VILLAGES = ("南社区", "北社区")
GRIDS_PER_VILLAGE = 3


def build_sample_units() -> list[dict[str, Any]]:
    """Units top-down with code, name, level, parent_code, wkt and area_m2."""
    x0, y0 = ORIGIN
    width, height = SIZE
    rows: list[dict[str, Any]] = []

    def add(code: str, name: str, level: int, parent: str | None, geom) -> None:
        rows.append({"code": code, "name": name, "level": level, "parent_code": parent,
                     "wkt": geom.wkt, "geom": geom})

    county = "620981900"
    add(county, "示例县（内置样例）", 0, None, box(x0, y0, x0 + width, y0 + height))
    town_w = width / len(TOWNS)
    for t, town_name in enumerate(TOWNS):
        town = f"{county}{t + 1:03d}"
        tx = x0 + t * town_w
        add(town, town_name, 1, county, box(tx, y0, tx + town_w, y0 + height))
        village_h = height / len(VILLAGES)
        for v, village_name in enumerate(VILLAGES):
            village = f"{town}{v + 1:03d}"
            vy = y0 + v * village_h
            add(village, f"{town_name[:2]}{village_name}", 2, town,
                box(tx, vy, tx + town_w, vy + village_h))
            grid_w = town_w / GRIDS_PER_VILLAGE
            for g in range(GRIDS_PER_VILLAGE):
                gx = tx + g * grid_w
                add(f"{village}{g + 1:03d}", f"{town_name[:2]}{village_name}第{g + 1}网格", 3,
                    village, box(gx, vy, gx + grid_w, vy + village_h))
    areas = area_m2([r.pop("geom") for r in rows])
    for row, area in zip(rows, areas, strict=True):
        row["area_m2"] = float(area)
    return rows
