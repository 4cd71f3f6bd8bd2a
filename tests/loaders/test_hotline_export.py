"""A 12345 export as a hotline clerk hands it over (#17): the usual headers without --map,
category names through the catalogue's aliases (unknown ones kept as 'other' and listed),
the caller as the (masked) reporter, one ticket id twice (the first row wins), and GCJ-02
coordinates under a plain 经度/纬度 header found out before anything is stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, text

from geo.crs import wgs84_to_gcj02
from loaders.importers import core
from loaders.importers.options import LoadError, LoadOptions

pytestmark = pytest.mark.db

CATEGORIES = ["城市管理", "环境保护", "噪音扰民", "供暖季投诉", "物业管理", "城市管理"]


def homes(conn: Connection, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """A register of ``n`` households spread over the grids (inside this test's
    transaction), and their points."""
    pts = conn.execute(text("""
        SELECT ST_X(p.geom) AS x, ST_Y(p.geom) AS y FROM unit u
        CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(u.geom, :k, 7)) AS p
        WHERE u.level = 3 AND u.valid_to IS NULL"""), {"k": max(1, n // 10)}).all()
    xs = np.array([p.x for p in pts])
    ys = np.array([p.y for p in pts])
    conn.execute(text("INSERT INTO household (code, geom, address) SELECT 'HX' || i, "
                      "ST_SetSRID(ST_MakePoint(x, y), 4326), '测试地址' || i FROM "
                      "unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY "
                      "AS t(x, y, i)"), {"x": xs.tolist(), "y": ys.tolist()})
    return xs, ys


def export(path: Path, xs: np.ndarray, ys: np.ndarray, *, gcj: bool) -> pd.DataFrame:
    """A hotline export: six tickets at households (the second id twice), in GCJ-02 when
    ``gcj`` (what Amap-based systems write)."""
    x, y = xs[:6], ys[:6]
    if gcj:
        x, y = wgs84_to_gcj02(x, y)
    frame = pd.DataFrame({
        "受理编号": ["RX-1", "RX-2", "RX-3", "RX-4", "RX-5", "RX-2"],
        "来电时间": ["2026-11-01 08:00"] * 6,
        "受理时间": ["2026-11-01 08:05"] * 6,
        "诉求类型": CATEGORIES,
        "诉求内容": [f"诉求 {i}" for i in range(6)],
        "事发地址": [f"幸福路 {i} 号" for i in range(6)],
        "经度": [f"{v:.7f}" for v in x], "纬度": [f"{v:.7f}" for v in y],
        "来电人": ["张三", "李四", "王五", "赵六", "钱七", "孙八"],
        "联系电话": ["13900001111", "13900002222", "", "13900004444", "13900005555", ""],
    })
    frame.to_csv(path, index=False)
    return frame


def test_a_hotline_export_loads_without_a_map(conn: Connection, tmp_path: Path) -> None:
    xs, ys = homes(conn)
    path = tmp_path / "12345工单导出.csv"
    export(path, xs, ys, gcj=False)
    report = core.run("incidents", path, LoadOptions(source="12345"), db=conn)
    assert (report.inserted, report.rejected) == (5, 1), report.summary()
    rows = conn.execute(text(
        "SELECT external_id, category, subcategory, description, address, reporter, "
        "reported_at FROM incident WHERE external_id LIKE 'RX-%' ORDER BY external_id"
    )).mappings().all()
    assert [r["category"] for r in rows] == ["cityscape", "environment", "public_order",
                                             "other", "dispute"]
    assert rows[3]["subcategory"] == "供暖季投诉"  # kept, so it can be re-classified
    assert report.unmapped_categories == {"供暖季投诉": 1}
    assert "stored as 'other': 供暖季投诉 ×1" in report.summary()
    assert rows[1]["description"] == "诉求 1" and rows[1]["address"] == "幸福路 1 号"
    assert rows[0]["reporter"] == {"name": "张三", "phone": "13900001111"}
    assert rows[2]["reporter"] == {"name": "王五"}
    # RX-2 is on rows 3 and 7: the first is loaded, the later one named as its duplicate.
    (dup,) = report.rejects
    assert dup.row == 7 and "duplicate of row 3" in dup.reason


def test_on_duplicate_last_and_reject(conn: Connection, tmp_path: Path) -> None:
    xs, ys = homes(conn)
    path = tmp_path / "dup.csv"
    export(path, xs, ys, gcj=False)
    last = core.run("incidents", path, LoadOptions(source="12345", on_duplicate="last",
                                                   dry_run=True), db=conn)
    assert [(r.row, "duplicate of row 7" in r.reason) for r in last.rejects] == [(3, True)]
    none = core.run("incidents", path, LoadOptions(source="12345", on_duplicate="reject",
                                                   dry_run=True), db=conn)
    assert sorted(r.row for r in none.rejects) == [3, 7] and none.inserted == 4


def test_gcj02_points_are_found_out(conn: Connection, tmp_path: Path) -> None:
    xs, ys = homes(conn)
    path = tmp_path / "gcj.csv"
    export(path, xs, ys, gcj=True)
    before = conn.execute(text("SELECT count(*) FROM incident")).scalar()
    with pytest.raises(LoadError) as refused:
        core.run("incidents", path, LoadOptions(source="12345"), db=conn)
    message = str(refused.value)
    assert "GCJ02" in message and "--datum gcj02" in message and "--datum auto" in message
    assert "nearest household" in message  # the evidence, per datum
    assert conn.execute(text("SELECT count(*) FROM incident")).scalar() == before
    report = core.run("incidents", path, LoadOptions(source="12345", datum="auto"), db=conn)
    assert report.inserted == 5 and "read as gcj02" in report.summary()
    got = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incident WHERE external_id "
                            "= 'RX-1'")).one()
    assert got[0] == pytest.approx(xs[0], abs=2e-5) and got[1] == pytest.approx(ys[0], abs=2e-5)
    # Saying the datum skips the check (the user knows best): read as WGS84 the points move.
    plain = core.run("incidents", path, LoadOptions(source="12345", datum="wgs84",
                                                    dry_run=True), db=conn)
    assert plain.updated == 5
