"""The registry of measures: one name per measure, on every page that shows it."""

from __future__ import annotations

import pytest

from geo import measures


def test_one_name_per_measure_and_known_kinds() -> None:
    keys = [m.key for m in measures.MEASURES]
    assert len(keys) == len(set(keys))
    assert all(m.kind in measures.KINDS and m.good in ("high", "low") for m in measures.MEASURES)
    assert "per_1000" not in keys and "closed_in_grid" not in keys and "incidents" not in keys


def test_pages_read_the_registry() -> None:
    from dashboard import monthly_view
    from reports import export
    from store import wall

    assert wall.MEASURES == measures.keys("wall")
    assert tuple(m.key for m in monthly_view.MEASURES) == measures.keys("monthly")
    assert tuple(export.MEASURES) == measures.keys("export")
    with pytest.raises(ValueError, match="unknown page"):
        measures.on("desk")
