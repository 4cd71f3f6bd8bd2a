"""The four demo regions: the counts the source documents give, and how people are spread.

Figures marked "doc" come from the documents in shared/seeds (see DIGEST.md); the rest are
plausible estimates chosen so the demo behaves like the place (an oasis city, a dense
Jiangsu county, a pastoral banner, a provincial capital's core district).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from onemap.settings import PROJECT_ROOT

BOUNDARIES = PROJECT_ROOT / "data" / "boundaries"


@dataclass(frozen=True)
class RegionSpec:
    key: str
    adcode: str
    name: str
    towns: int
    villages: int
    grids: int
    households: int
    workers: int
    cameras: int
    incidents_per_year: int
    seat: tuple[float, float]  # county seat, WGS84 lon/lat
    seat_share: float  # share of people living in the seat
    settlements: int  # other population centres
    background: float  # share of people spread thinly (pastoral / farmland)
    town_names: tuple[str, ...]
    village_suffix: str  # 村 / 社区 / 嘎查
    urban: bool = False
    seed: int = 0
    outline: BaseGeometry | None = None  # a generated county's own boundary (no file)
    parent_code: str | None = None  # the city (市) above the county, in a five-level deployment

    def boundary(self, directory: Path = BOUNDARIES) -> BaseGeometry:
        if self.outline is not None:
            return self.outline
        feature = json.loads((directory / f"{self.adcode}.geojson").read_text(encoding="utf-8"))
        return shape(feature["geometry"])


REGIONS: dict[str, RegionSpec] = {
    "yumen": RegionSpec(
        key="yumen", adcode="620981", name="玉门市",
        towns=12, villages=84, grids=550,  # doc: 550 grids, 84 second-level grids
        households=60_000, workers=1_807,  # doc: 1,807 grid workers
        cameras=1_600, incidents_per_year=60_000,
        seat=(97.045, 40.286), seat_share=0.45, settlements=14, background=0.08,
        town_names=("玉门镇", "赤金镇", "花海镇", "老君庙镇", "黄闸湾镇", "下西号镇", "柳河镇",
                    "昌马镇", "柳湖镇", "六墩镇", "小金湾东乡族乡", "独山子东乡族乡"),
        village_suffix="村", seed=620981),
    "donghai": RegionSpec(
        key="donghai", adcode="320722", name="东海县",
        towns=21, villages=371, grids=1_076,  # doc: 19 towns + 2 streets, 346 + 25, 1,076
        households=400_000, workers=2_911,  # doc: 2,911 grid workers
        cameras=4_000, incidents_per_year=240_000,
        seat=(118.77, 34.54), seat_share=0.25, settlements=40, background=0.35,
        town_names=("牛山街道", "石榴街道", "白塔埠镇", "黄川镇", "石梁河镇", "青湖镇", "温泉镇",
                    "双店镇", "桃林镇", "洪庄镇", "安峰镇", "房山镇", "平明镇", "驼峰乡",
                    "李埝乡", "山左口乡", "石湖乡", "曲阳乡", "张湾乡", "横沟乡", "黄川乡"),
        village_suffix="村", seed=320722),
    "etuoke": RegionSpec(
        key="etuoke", adcode="150623", name="鄂托克前旗",
        towns=4, villages=84, grids=401,  # doc: 1 / 4 / 84 / 401
        households=30_000, workers=520,
        cameras=700, incidents_per_year=25_000,
        seat=(107.48, 38.18), seat_share=0.4, settlements=8, background=0.3,
        town_names=("敖勒召其镇", "上海庙镇", "城川镇", "昂素镇"),
        village_suffix="嘎查", seed=150623),
    "chengguan": RegionSpec(
        key="chengguan", adcode="620102", name="兰州市城关区",
        towns=25, villages=200, grids=1_700,  # doc: 1,700+ grids
        households=450_000, workers=2_100,
        cameras=6_000, incidents_per_year=680_000,  # doc: 680k requests in 2024
        seat=(103.83, 36.06), seat_share=0.2, settlements=40, background=0.2,
        town_names=("酒泉路街道", "张掖路街道", "雁南街道", "临夏路街道", "雁北街道", "五泉街道",
                    "白银路街道", "皋兰路街道", "广武门街道", "伏龙坪街道", "靖远路街道",
                    "草场街街道", "火车站街道", "拱星墩街道", "东岗街道", "团结新村街道",
                    "东岗西路街道", "铁路东村街道", "铁路西村街道", "渭源路街道", "盐场路街道",
                    "嘉峪关路街道", "焦家湾街道", "青白石街道", "雁园街道"),
        village_suffix="社区", urban=True, seed=620102),
}

# Syllables for generated village / community names (two are joined: 红柳 + 新 …).
NAME_HEADS = ("东风", "红柳", "新华", "建设", "幸福", "和平", "胜利", "团结", "光明", "向阳",
              "春光", "金湾", "白杨", "青松", "丰收", "长城", "永安", "兴隆", "安康", "清泉",
              "石桥", "沙河", "杏林", "梨园", "朝阳", "民主", "文化", "南关", "北关", "西湖",
              "东岗", "五里", "柳沟", "榆林", "红星", "黄河", "祁连", "草原", "马莲", "苏木")
NAME_TAILS = ("", "新", "东", "西", "南", "北", "一", "二", "三", "上", "下", "中")

#: the city (市) above each demo county, for a five-level deployment (``ONEMAP_LEVELS``).
#: Only the county's boundary is shipped, so the demo city is drawn as its one county.
CITIES: dict[str, tuple[str, str]] = {
    "yumen": ("620900", "酒泉市"), "donghai": ("320700", "连云港市"),
    "etuoke": ("150600", "鄂尔多斯市"), "chengguan": ("620100", "兰州市"),
}
