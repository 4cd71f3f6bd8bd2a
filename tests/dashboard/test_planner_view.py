"""The planner page's pure helpers: proposals through the browser store, drawn shapes in the
basemap's datum, effective times in local days, parts for an oversized grid."""

from __future__ import annotations

from datetime import UTC, datetime

import shapely
from shapely.geometry import Polygon

from dashboard import planner_view as pv
from geo import crs
from geo.planning import NewUnit, Proposal


def test_a_proposal_survives_the_browser_store() -> None:
    square = Polygon([(116, 40), (116.01, 40), (116.01, 40.01), (116, 40.01)])
    proposal = Proposal(7, "split", (11, 12), (NewUnit("A1", "甲", square, (11,)),),
                        {11: 3, 12: 1}, "说明")
    back = pv.proposal_from_store(pv.proposal_to_store(proposal))
    assert back.parent_id == 7 and back.kind == "split" and back.removed == (11, 12)
    assert back.versions == {11: 3, 12: 1} and back.note == "说明"
    assert back.added[0].code == "A1" and back.added[0].replaces == (11,)
    assert back.added[0].geometry.equals(square)


def test_a_drawn_line_on_a_gcj02_basemap_comes_back_in_wgs84() -> None:
    lon, lat = 103.8, 36.06
    gx, gy = crs.from_wgs84([lon, lon + 0.01], [lat, lat], "gcj02")
    drawn = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"type": "polyline"},
         "geometry": {"type": "LineString", "coordinates": [[float(gx[0]), float(gy[0])],
                                                            [float(gx[1]), float(gy[1])]]}}]}
    geom = pv.drawn_geometry(drawn, "gcj02")
    x, y = shapely.get_coordinates(geom).T
    assert abs(x[0] - lon) < 1e-6 and abs(y[0] - lat) < 1e-6  # GCJ-02 shifts ~500 m here
    assert abs(gx[0] - lon) > 1e-3
    assert pv.drawn_geometry({"type": "FeatureCollection", "features": []}, "wgs84") is None


def test_the_vertex_editor_message_is_read_as_a_shape() -> None:
    message = {"geometry": {"type": "Polygon", "coordinates": [[[116, 40], [116.01, 40],
                                                                [116.01, 40.01], [116, 40]]]},
               "at": 1}
    assert pv.drawn_geometry(message, "wgs84").geom_type == "Polygon"


def test_effective_time_is_now_today_and_midnight_of_an_earlier_local_day() -> None:
    now = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # already the 22nd in Shanghai
    assert pv.effective_time("2026-11-22", "Asia/Shanghai", now) == now
    assert pv.effective_time(None, "Asia/Shanghai", now) == now
    past = pv.effective_time("2026-11-01", "Asia/Shanghai", now)
    assert past.astimezone(UTC) == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    end = pv.local_day_end("2026-11-01", "Asia/Shanghai")
    assert end.astimezone(UTC).date().isoformat() == "2026-11-01"
    assert end.hour == 23 and end.minute == 59


def test_suggested_parts_bring_an_oversized_grid_into_the_band() -> None:
    assert pv.suggested_parts(1200, (300, 500)) == 3
    assert pv.suggested_parts(520, (300, 500)) == 2  # at least two
    for households in (501, 999, 2500):
        k = pv.suggested_parts(households, (300, 500))
        assert households / k <= 500
