"""Households (personal data kept apart, derived codes) and cameras (types, statuses)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, text

from loaders.importers import core
from loaders.importers.households import address_code
from loaders.importers.options import LoadOptions
from onemap import crypto
from onemap.settings import Settings
from tests.loaders.files import inside_points

pytestmark = pytest.mark.db


def test_households_with_persons_and_derived_codes(conn: Connection, tmp_path: Path) -> None:
    lon, lat = inside_points(4, seed=7)
    frame = pd.DataFrame({
        "住址": ["示例路1号", "示例路1号", "示例路2号", ""],
        "楼栋": ["3栋", "3栋", "", "1栋"],
        "房号": ["101", "102", "", "1"],
        "户主姓名": ["张三", "李四", "", "王五"],
        "联系电话": ["13800000000", "", "", ""],
        "身份证号": ["620981199001011234", "", "", ""],
        "家庭人数": ["3", "", "-1", "2"],
        "户籍人口": ["2", "1", "", ""],
        "流动人口": ["1", "1", "", ""],
        "是否出租": ["否", "是", "", ""],
        "独居老人": ["", "", "是", ""],
        "标签": ["低保户、退役军人", "", "", ""],
        "经度": lon.astype(str), "纬度": lat.astype(str),
    })
    path = tmp_path / "住户.csv"
    frame.to_csv(path, index=False, encoding="gb18030")
    report = core.run("households", path, LoadOptions(), db=conn)
    assert (report.inserted, report.rejected) == (2, 2), report.summary()
    assert {(r.row, r.field) for r in report.rejects} == {(4, "家庭人数"), (5, "住址")}
    code = address_code("示例路1号", "3栋", "101")
    row = conn.execute(text(
        "SELECT h.size, h.registered, h.floating, h.is_rental, h.tags, h.grid_id IS NOT NULL, "
        "p.name, p.phone_sealed, p.id_number_sealed, p.is_head FROM household h "
        "JOIN household_person p ON p.household_id = h.id WHERE h.code = :c"), {"c": code}).one()
    var_dir = Settings().var_dir  # phones and ID numbers are sealed at rest (onemap.crypto)
    opened = (crypto.unseal(var_dir, row[7], crypto.PERSON_PHONE),
              crypto.unseal(var_dir, row[8], crypto.PERSON_ID_NUMBER))
    assert (*row[:7], *opened, row[9]) == (3, 2, 1, False, ["低保户", "退役军人"], True, "张三",
                                           "13800000000", "620981199001011234", True)
    assert b"13800000000" not in bytes(row[7])
    second = conn.execute(text("SELECT size, is_rental FROM household WHERE code = :c"),
                          {"c": address_code(" 示例路1号", "3栋 ", "102")}).one()
    assert second == (2, True)  # size from registered + floating; spaces do not matter
    columns = {r[0] for r in conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'household'"))}
    assert not columns & {"name", "phone", "id_number"}
    again = core.run("households", path, LoadOptions(), db=conn)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert conn.execute(text("SELECT count(*) FROM household_person p JOIN household h "
                             "ON h.id = p.household_id WHERE h.code = :c"),
                        {"c": code}).scalar() == 1


def test_cameras_map_chinese_types_and_statuses(conn: Connection, tmp_path: Path) -> None:
    lon, lat = inside_points(4, seed=8)
    frame = pd.DataFrame({
        "设备编码": ["62098100001", "62098100002", "62098100003", "62098100004"],
        "设备名称": ["示例路口", "", "村委会门口", "广场"],
        "类型": ["雪亮工程", "村村通", "社会面", "无人机"],
        "在线状态": ["在线", "离线", "", "在线"],
        "朝向": ["90", "", "400", ""],
        "经度": lon.astype(str), "纬度": lat.astype(str),
    })
    path = tmp_path / "cameras.csv"
    frame.to_csv(path, index=False)
    report = core.run("cameras", path, LoadOptions(), db=conn)
    assert (report.inserted, report.rejected) == (2, 2), report.summary()
    assert {(r.row, r.field) for r in report.rejects} == {(4, "朝向"), (5, "类型")}
    rows = conn.execute(text("SELECT code, name, kind, status, heading_deg, grid_id IS NOT NULL "
                             "FROM camera WHERE code LIKE '620981000%' ORDER BY code")).all()
    assert rows == [("62098100001", "示例路口", "xueliang", "online", 90.0, True),
                    ("62098100002", "62098100002", "cuncuntong", "offline", None, True)]
