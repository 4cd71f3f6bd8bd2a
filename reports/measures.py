"""How a monthly measure is classed and printed — one rule for the page and the exports, so
a leader sees the same classes on the screen, in the HTML file and on the printed page
(colours differ by medium: a dark wall theme on screen, light ink on paper).

The command wall's choropleth classes counts and rates by the same rule
(:func:`dashboard.view.breaks` calls :func:`class_limits`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Change from last month, percent: fixed limits so two months read alike.
CHANGE_LIMITS = (-20.0, -5.0, 5.0, 20.0)
RATE_LIMITS = (0.2, 0.4, 0.6, 0.8, 1.0)


def _nice(value: float) -> float:
    """Round a class limit up to 2 significant figures so the legend reads cleanly."""
    if value <= 0:
        return 0.0
    magnitude = 10 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / magnitude) * magnitude


def class_limits(values: Sequence[float | None], kind: str, classes: int = 5) -> list[float]:
    """Upper class limits: fixed fifths for rates (``kind="rate"``, comparable across months
    and drills), fixed steps for the change (``"change"``; the last limit is infinite), and
    rounded quantiles for counts and other amounts so each colour holds a similar number of
    units (equal quantiles merge: a skewed month gets fewer classes)."""
    if kind == "change":
        return [*CHANGE_LIMITS, math.inf]
    if kind == "rate":
        return list(RATE_LIMITS[:classes])
    finite = sorted(float(v) for v in values
                    if v is not None and math.isfinite(float(v)))
    if not finite or finite[-1] <= 0:
        return [1.0]
    limits: list[float] = []
    for k in range(1, classes + 1):
        q = _nice(finite[min(len(finite) - 1, math.ceil(k * len(finite) / classes) - 1)])
        if not limits or q > limits[-1]:
            limits.append(q)
    if limits[-1] < finite[-1]:
        limits.append(_nice(finite[-1]))
    return limits
