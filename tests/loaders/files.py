"""Test files for the importers, written into tmp dirs: points inside the built-in sample
(lon 97.00-97.12, lat 40.25-40.33) and a separate small county for boundary loads."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from geo.crs import from_wgs84, gk_crs

SAMPLE_BOX = (97.0, 40.25, 97.12, 40.33)
# A test county away from the sample and every demo region (玉门 ends at 98.33°E); its codes
# start with "TQ" so nothing else uses them.
TQ_ORIGIN = (100.30, 40.25)


def inside_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points well inside the sample (away from its outer edge)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = SAMPLE_BOX
    return (np.round(rng.uniform(x0 + 0.002, x1 - 0.002, n), 6),
            np.round(rng.uniform(y0 + 0.002, y1 - 0.002, n), 6))


def incidents_frame(n: int, seed: int = 0, prefix: str = "GD") -> pd.DataFrame:
    """A 12345-style export with Chinese headers."""
    rng = np.random.default_rng(seed)
    lon, lat = inside_points(n, seed)
    return pd.DataFrame({
        "工单编号": [f"{prefix}{i:07d}" for i in range(n)],
        "受理时间": (pd.Timestamp("2026-03-01 08:00") + pd.to_timedelta(
            rng.integers(0, 30 * 86400, n), unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
        "诉求内容": rng.choice(["楼道堆放杂物", "夜间施工噪音扰民", "路灯不亮", "邻里纠纷调解"], n),
        "地址": [f"示例路{i % 97 + 1}号" for i in range(n)],
        "事件类型": rng.choice(["矛盾纠纷", "环境卫生", "基础设施", "治安", "市容"], n),
        "经度": lon.astype(str),
        "纬度": lat.astype(str),
    })


def tq_units() -> gpd.GeoDataFrame:
    """County → town → village → 2 grids, in WGS84, with Chinese attribute names."""
    x, y = TQ_ORIGIN
    whole = box(x, y, x + 0.1, y + 0.08)
    rows = [
        ("TQ01", "测试旗", "县", None, whole),
        ("TQ01001", "乌兰镇", "乡镇", "TQ01", whole),
        ("TQ01001001", "巴音嘎查", "村", "TQ01001", whole),
        ("TQ01001001001", "巴音嘎查第一网格", "网格", "TQ01001001", box(x, y, x + 0.05, y + 0.08)),
        ("TQ01001001002", "巴音嘎查第二网格（东片）", "网格", "TQ01001001",
         box(x + 0.05, y, x + 0.1, y + 0.08)),
    ]
    return gpd.GeoDataFrame(
        {"网格编码": [r[0] for r in rows], "网格名称": [r[1] for r in rows],
         "层级": [r[2] for r in rows], "上级编码": [r[3] for r in rows]},
        geometry=[r[4] for r in rows], crs=4326)


def write_gbk_shapefile(folder: Path, units: gpd.GeoDataFrame) -> Path:
    """The layer in CGCS2000 3° Gauss-Krüger (zone of its centre), GBK attributes, no .cpg."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grids.shp"
    crs = gk_crs(float(units.union_all().centroid.x))
    units.to_crs(crs).to_file(path, encoding="gbk", engine="pyogrio")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()
    return path


def to_gcj02(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same layer with coordinates in GCJ-02 (as Amap would deliver it)."""
    import shapely

    def shift(c: np.ndarray) -> np.ndarray:
        return np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02"))

    out = units.copy()
    out.geometry = shapely.transform(np.asarray(units.geometry.values), shift)
    return out
