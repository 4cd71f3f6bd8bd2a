"""Grid planning: edits of the grids of one parent unit, as proposals that can be checked,
previewed and then saved as new boundary versions.

Pure: functions on shapely geometries and numpy arrays; the database side is
:mod:`store.planning`, the page is :mod:`dashboard.planner`.

A :class:`Proposal` says which current grids of one parent are retired and which new grids
replace them.  A new grid with the code of a retired one is that grid's next version; other
codes are new grids.  Every edit (split, merge, reshape, create, suggested split, file
import) produces a proposal, so validation, impact preview and saving are one path.
"""

from __future__ import annotations

from geo.planning.checks import (
    applied,
    apply,
    assign,
    band_for,
    band_status,
    compose,
    impact,
    successors,
    validate,
)
from geo.planning.edits import (
    create,
    merge,
    reshape,
    split,
    suggest_split,
)
from geo.planning.model import (
    BANDS,
    KINDS,
    MEASURES,
    Impact,
    NewUnit,
    PlanContext,
    PointSet,
    Proposal,
    UnitImpact,
    Validation,
)
from geo.planning.repair import repair
from geo.planning.retiling import (
    next_code,
)

__all__ = [
    "BANDS",
    "KINDS",
    "MEASURES",
    "Impact",
    "NewUnit",
    "PlanContext",
    "PointSet",
    "Proposal",
    "UnitImpact",
    "Validation",
    "applied",
    "apply",
    "assign",
    "band_for",
    "band_status",
    "compose",
    "create",
    "impact",
    "merge",
    "next_code",
    "repair",
    "reshape",
    "split",
    "successors",
    "suggest_split",
    "validate",
]
