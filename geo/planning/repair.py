"""修复拓扑: a village's grids made a valid coverage as one planner edit (#17) — the same
repair as ``onemap load boundaries --repair`` (:mod:`geo.coverage_repair`), proposed for
preview like any other edit: every grid the repair changes is retired and re-added (same
code and name, next version), and the proposal's note lists what changed where."""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely

from geo.coverage import _polygonal
from geo.coverage_repair import Change, repair_coverage
from geo.crs import area_m2
from geo.errors import GeometryError
from geo.planning.model import NewUnit, PlanContext, Proposal
from geo.planning.retiling import _grids, _versions

LABELS = {"snapped": "吸附", "overlap_taken": "重叠划入", "overlap_clipped": "重叠划出",
          "gap_filled": "缝隙补入", "gap_kept": "缝隙保留", "outside_clipped": "越界切除"}


def describe(changes: list[Change], codes: np.ndarray) -> str:
    """One line a planner reads: counts by kind, then the changes with area and place."""
    counts = Counter(c.kind for c in changes)
    head = "，".join(f"{LABELS.get(k, k)} {n}" for k, n in counts.items())
    items = [f"{codes[c.index] if c.index >= 0 else '-'} {LABELS.get(c.kind, c.kind)} "
             f"{c.area_m2:.1f} m² @ {c.lon:.6f},{c.lat:.6f}" for c in changes[:20]]
    more = f"（另 {len(changes) - 20} 处）" if len(changes) > 20 else ""
    return f"修复拓扑：{head}。" + "；".join(items) + more


def repair(ctx: PlanContext, tolerance_m: float = 1.0) -> tuple[Proposal, list[Change]]:
    """The village's grids repaired (see the module doc); GeometryError when nothing needs
    it."""
    g = _grids(ctx)
    fixed, changes = repair_coverage(g.geoms, tolerance_m, parent=ctx.parent_geometry)
    changed = [i for i in range(len(g.ids)) if not shapely.equals_exact(
        g.geoms[i], fixed[i], 0.0)]
    # only vertices added or floating-point dust (under a tenth of a square metre a grid):
    # nothing a planner needs to save (a grid that gained vertices is re-added with the
    # others when one really changed, so the shared edges stay matched)
    moved = [i for i in changed if area_m2([shapely.symmetric_difference(
        g.geoms[i], fixed[i])])[0] > 0.1]
    if not moved:
        raise GeometryError("拓扑无需修复：这些网格已是有效覆盖 / Nothing to repair: these "
                            "grids already form a valid coverage.")
    added = tuple(NewUnit(str(g.codes[i]), str(g.names[i]), _polygonal(fixed[i]),
                          (int(g.ids[i]),)) for i in changed)
    return Proposal(parent_id=ctx.parent_id, kind="repair",
                    removed=tuple(int(g.ids[i]) for i in changed), added=added,
                    versions=_versions(g, changed),
                    note=describe(changes, g.codes)), changes
