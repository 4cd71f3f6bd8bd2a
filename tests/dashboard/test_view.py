"""The wall's page-state rules (dashboard/view.py): drill, breadcrumb, level switch, windows,
choropleth classes.  Pure functions, no database."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dashboard import view as v

SH = ZoneInfo("Asia/Shanghai")


def test_drill_opens_the_children_and_grids_stop():
    start = v.View()
    town = v.drill(start, {"id": 7, "level": 1})
    assert town == v.View(2, 7, (7,))
    village = v.drill(town, {"id": 70, "level": 2})
    assert village == v.View(3, 70, (7, 70))
    assert v.drill(village, {"id": 700, "level": 3}) is None


def test_breadcrumb_goes_back_up_the_path():
    levels = {7: 1, 70: 2}
    deep = v.View(3, 70, (7, 70))
    assert v.back_to(deep, -1, levels) == v.View()
    assert v.back_to(deep, 0, levels) == v.View(2, 7, (7,))
    assert v.back_to(deep, 1, levels) == deep


def test_level_switch_keeps_a_parent_above_the_new_level():
    inside_town = v.View(2, 7, (7,))
    assert v.with_level(inside_town, 3, parent_level=1) == v.View(3, 7, (7,))
    # The county level cannot sit under a town: the switch goes back to the whole area.
    assert v.with_level(inside_town, 0, parent_level=1) == v.View(0)
    assert v.with_level(inside_town, 1, parent_level=1) == v.View(1)
    with pytest.raises(ValueError, match="level must be one of"):
        v.with_level(inside_town, 9, parent_level=1)


def test_store_round_trip_and_bad_store_values():
    view = v.View(3, 70, (7, 70))
    assert v.View.from_store(view.to_store()) == view
    assert v.View.from_store(None) == v.View()
    assert v.View.from_store({"level": 12}).level == v.DEFAULT_LEVEL


def test_today_is_the_local_day():
    # 23:30 UTC on 20 Nov is 07:30 on 21 Nov in Shanghai: "today" is the 21st, local time.
    now = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    period = v.period_for("today", now, "Asia/Shanghai")
    assert period.start == datetime(2026, 11, 21, tzinfo=SH)
    assert period.end == datetime(2026, 11, 22, tzinfo=SH)


def test_rolling_and_custom_windows():
    now = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    week = v.period_for("7d", now, "Asia/Shanghai")
    assert (week.end - week.start).days == 7 and week.end == now
    custom = v.period_for("custom", now, "Asia/Shanghai", "2026-11-10", "2026-11-01")
    assert custom.start == datetime(2026, 11, 1, tzinfo=SH)  # swapped ends are put in order
    assert custom.end == datetime(2026, 11, 11, tzinfo=SH)  # the last day is included
    with pytest.raises(ValueError, match="window must be one of"):
        v.period_for("fortnight", now, "Asia/Shanghai")


def test_count_breaks_are_increasing_and_cover_the_maximum():
    values = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, None]
    limits = v.breaks(values, "received")
    assert limits == sorted(set(limits))
    assert limits[-1] >= 144
    classes = [v.class_of(x, limits) for x in values[:-1]]
    assert classes == sorted(classes)  # bigger values never fall in a lower class
    assert v.class_of(None, limits) is None
    assert v.class_of(math.nan, limits) is None


def test_rate_breaks_are_fixed_and_colours_reverse_for_good_rates():
    assert v.breaks([0.1, 0.9], "resolution_rate") == [0.2, 0.4, 0.6, 0.8, 1.0]
    bad = v.colours_for("overdue", 5)
    good = v.colours_for("resolution_rate", 5)
    assert good == list(reversed(bad))
    assert len(v.colours_for("received", 2)) == 2


def test_empty_values_still_give_a_legend():
    assert v.breaks([], "received") == [1.0]
    assert v.breaks([0, 0, None], "overdue") == [1.0]


def test_value_formats():
    assert v.format_value(0.456, "resolution_rate") == "46%"
    assert v.format_value(12.345, "per_1000_households") == "12.3"
    assert v.format_value(12345, "received") == "12,345"
    assert v.format_value(None, "received") == "–"


def test_zoom_bands_and_bounds():
    assert [v.zoom_band(z) for z in (None, 5, 8, 9.5, 12, 13, 14, 15)] == [
        10, 8, 8, 10, 12, 14, 14, 16]
    assert v.bbox_from_bounds([[40.0, 97.0], [41.0, 98.0]]) == (97.0, 40.0, 98.0, 41.0)
    assert v.bbox_from_bounds(None) is None


def test_legend_labels_do_not_overlap_for_counts():
    assert [v.class_label([0, 2, 6, 9], k, "received") for k in range(4)] == [
        "≤ 0", "1 – 2", "3 – 6", "7 – 9"]
    assert v.class_label([1.0, 2.0], 1, "overdue") == "2"
    assert v.class_label([0.2, 0.4], 1, "resolution_rate") == "20% – 40%"


def test_the_wall_opens_below_one_home_and_on_many_top_units():
    from dashboard.view import opening_level

    assert opening_level([0]) == 1  # a county (or a city): its towns (its counties)
    assert opening_level([1]) == 1 and opening_level([2]) == 2  # a town's, a village's own
    assert opening_level([3]) == 3  # grids have nothing below
    assert opening_level([0] * 86) == 0  # 全域 over a province's counties: the counties
    assert opening_level([]) == 1
