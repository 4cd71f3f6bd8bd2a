"""reports.monthly.build: the report carries store.monthly's numbers unchanged, hot spots
from geo.hotspots, and refuses bad arguments with a message."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geo import hotspots
from reports import monthly as rm
from store import monthly as sm
from store import monthly_totals as st

pytestmark = pytest.mark.db


def test_report_numbers_are_store_monthly_numbers(town_report, reports_engine, report_month,
                                                  settings):
    tz = settings.timezone
    head = st.headline(reports_engine, report_month, tz)
    assert town_report.headline["received"] == head["received"] > 0
    assert town_report.headline["prev_received"] == head["prev_received"]
    for key in ("resolution_rate", "on_time_rate", "closed_share_grid"):
        a, b = town_report.headline[key], head[key]
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)

    measures = sm.month_measures(reports_engine, 1, report_month, tz)
    units = town_report.units
    assert list(units.index) == list(measures.index)
    pd.testing.assert_series_equal(units["received"], measures["received"],
                                   check_names=False, check_dtype=False)
    pd.testing.assert_series_equal(units["per_1000_households"], measures["per_1000_households"],
                                   check_names=False)
    tops = sm.top_categories(reports_engine, 1, report_month, tz)
    assert {uid: list(v) for uid, v in tops.items()} == dict(units["top_categories"])
    assert town_report.top_categories == st.top_categories_total(reports_engine,
                                                                 report_month, tz)
    assert list(town_report.trend["month"])[-1] == report_month
    assert town_report.month_zh.endswith("月") and town_report.level_name_en == "town"
    assert town_report.narrative[0].startswith(
        f"本月共受理事件 {town_report.headline['received']:,} 件")


def test_hot_spots_are_gi_star_of_grid_counts(town_report, reports_engine, report_month,
                                              settings):
    spots = town_report.hotspots
    assert {"id", "code", "name", "geometry", "count", "z", "p", "confidence", "hot",
            "new"} <= set(spots.columns)
    counts = sm.grid_counts(reports_engine, report_month, settings.timezone)
    assert list(spots["id"]) == list(counts.index)
    assert list(spots["count"]) == list(counts)
    expected = hotspots.hot_spots(np.asarray(spots.geometry.values), counts.to_numpy())
    np.testing.assert_allclose(spots["z"].to_numpy(), expected["z"].to_numpy(), atol=1e-9)
    assert list(spots["hot"]) == list(expected["hot"])
    assert not (spots["new"] & ~spots["hot"]).any()
    assert "Gi*" in town_report.hotspot_method


def test_new_hot_spots_against_previous_three_months(town_report, reports_engine,
                                                     report_month, settings):
    tz = settings.timezone
    before = set()
    for back in (1, 2, 3):
        month = rm.previous_month(report_month, back)
        counts = sm.grid_counts(reports_engine, month, tz)
        year, mon = rm.parse_month(month)
        grids = sm.units_as_of(reports_engine, 3, rm.Period.month(year, mon, tz).end)
        hot = hotspots.hot_spots(np.asarray(grids.geometry.values), counts.to_numpy())["hot"]
        before |= set(grids["code"][hot.to_numpy()])
    spots = town_report.hotspots
    expected_new = spots["hot"] & ~spots["code"].isin(before)
    assert list(spots["new"]) == list(expected_new)


def test_every_level_builds(reports_engine, report_month, settings):
    for level in ("county", 2, "grid"):
        report = rm.build(reports_engine, report_month, level, settings)
        assert len(report.units) == report.headline["units"][report.level]
        assert int(report.units["received"].sum()) <= report.headline["received"]


def test_bad_arguments_are_refused_with_a_message(reports_engine, settings):
    with pytest.raises(rm.ReportError, match="YYYY-MM"):
        rm.build(reports_engine, "2026-13", "town", settings)
    with pytest.raises(rm.ReportError, match="county, town, village, grid"):
        rm.build(reports_engine, "2026-10", "street", settings)
    with pytest.raises(rm.ReportError, match="level 7"):
        rm.build(reports_engine, "2026-10", 7, settings)
    with pytest.raises(rm.ReportError, match="No incidents were received in 1999-01"):
        rm.build(reports_engine, "1999-01", "town", settings, require_data=True)
    empty = rm.build(reports_engine, "1999-01", "town", settings)  # the page shows it empty
    assert empty.headline["received"] == 0 and empty.narrative == ["本月未受理事件。"]
    assert not empty.hotspots["hot"].any()


def test_month_helpers():
    assert rm.previous_month("2026-01") == "2025-12"
    assert rm.previous_month("2026-10", 3) == "2026-07"
    assert rm.parse_level("grid") == 3 and rm.parse_level("1") == 1
