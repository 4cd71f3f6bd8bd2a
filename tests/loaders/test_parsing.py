"""Cell parsers: coordinates (decimal and DMS), dates, yes/no, encodings — no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.importers.columns import normalise_header, resolve_columns
from loaders.importers.coords import lonlat_from_cells, parse_dms
from loaders.importers.encoding import detect_bytes
from loaders.importers.options import LoadError, parse_mapping
from loaders.importers.report import Rejects
from loaders.importers.values import parse_flags, parse_times


@pytest.mark.parametrize(("text", "value"), [
    ("97.5", 97.5),
    ("97°2'30.5\"E", 97 + 2 / 60 + 30.5 / 3600),
    ("40度15分10秒", 40 + 15 / 60 + 10 / 3600),
    ("N40 15 10", 40 + 15 / 60 + 10 / 3600),
    ("东经97°30′", 97.5),
    ("97°30.5'", 97 + 30.5 / 60),
    ("西经97°30′", -97.5),
])
def test_dms_strings_parse_to_decimal_degrees(text: str, value: float) -> None:
    assert parse_dms(text) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("text", ["", "abc", "97°60'", "40°15'70\"", "N40 E97", "1.2.3"])
def test_impossible_dms_strings_are_nan(text: str) -> None:
    assert np.isnan(parse_dms(text))


@given(st.integers(73, 135), st.integers(0, 59), st.floats(0, 59.99, allow_nan=False))
def test_dms_round_trip(d: int, m: int, s: float) -> None:
    text = f"{d}°{m}'{s:.2f}\"E"
    assert parse_dms(text) == pytest.approx(d + m / 60 + round(s, 2) / 3600, abs=1e-9)


def test_coordinates_are_checked_per_row_with_geo_rules() -> None:
    lon = pd.Series(["97.05", "abc", "", "40.3", "200", "10", "97°3'0\"E"])
    lat = pd.Series(["40.3", "40.3", "40.3", "97.05", "100", "10", "40.3"])
    rejects = Rejects(len(lon))
    x, y, swapped = lonlat_from_cells(lon, lat, "wgs84", rejects, lon_field="经度",
                                      lat_field="纬度")
    assert swapped == 1 and x[3] == pytest.approx(97.05) and y[3] == pytest.approx(40.3)
    assert x[6] == pytest.approx(97.05)
    assert [(r.row, r.field) for r in rejects.items()] == [
        (3, "经度"), (4, "经度"), (6, "经度/纬度"), (7, "经度/纬度")]
    assert list(np.flatnonzero(rejects.bad)) == [1, 2, 4, 5]
    assert np.isnan(x[rejects.bad]).all()


def test_gcj02_coordinates_are_converted_to_wgs84() -> None:
    from geo.crs import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(97.05, 40.3)
    rejects = Rejects(1)
    x, y, _ = lonlat_from_cells(pd.Series([f"{float(gx):.8f}"]), pd.Series([f"{float(gy):.8f}"]),
                                "gcj02", rejects, lon_field="lon", lat_field="lat")
    assert x[0] == pytest.approx(97.05, abs=1e-6) and y[0] == pytest.approx(40.3, abs=1e-6)


def test_times_are_local_unless_they_say_otherwise() -> None:
    cells = pd.Series(["2026-03-01 08:00:00", "2026/3/1 8:00", "2026年3月1日 8时0分",
                       "2026-03-01T00:00:00Z", "", "2026-02-30 10:00", "明天"])
    rejects = Rejects(len(cells))
    secs = parse_times(cells, "Asia/Shanghai", rejects, "受理时间")
    expected = pd.Timestamp("2026-03-01 00:00", tz="UTC").timestamp()
    assert secs[:4] == pytest.approx([expected] * 4)
    assert np.isnan(secs[4]) and not rejects.bad[4]  # empty: missing, not bad
    assert [(r.row, r.reason) for r in rejects.items()] == [(7, "bad date"), (8, "bad date")]


def test_flags() -> None:
    rejects = Rejects(5)
    out = parse_flags(pd.Series(["是", "否", "", "1", "也许"]), rejects, "是否出租")
    assert out.tolist() == [True, False, False, True, False]
    assert [r.row for r in rejects.items()] == [6]


def test_encoding_detection() -> None:
    text = "工单编号,地址\nA1,玉门镇\n"
    assert detect_bytes(text.encode("utf-8")) == "utf-8"
    assert detect_bytes(text.encode("gbk")) == "gb18030"
    assert detect_bytes(text.encode("utf-8-sig")) == "utf-8-sig"


def test_columns_match_chinese_and_english_headers() -> None:
    found = resolve_columns("incidents", ["工单编号", "受理时间", "诉求内容", "地址",
                                          "经度（GCJ02）", "LAT"], {})
    assert found == {"external_id": "工单编号", "received_at": "受理时间",
                     "description": "诉求内容", "address": "地址", "lon": "经度（GCJ02）",
                     "lat": "LAT"}
    assert normalise_header(" Grid_Code ") == "gridcode"
    found = resolve_columns("boundaries", ["编号", "名字"], parse_mapping(
        ["code=编号", "name=名字"]))
    assert found == {"code": "编号", "name": "名字"}
    with pytest.raises(LoadError, match="not in the file"):
        resolve_columns("boundaries", ["编号"], {"code": "网格号"})
    with pytest.raises(LoadError, match="FIELD=COLUMN"):
        parse_mapping(["code"])
