"""Households (with synthetic personal data), grid workers, departments and cameras for a
generated region — all placed by the region's population density and assigned to grids with
the one assignment engine (`geo.assign`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.assign import AssignmentEngine
from geo.catalog import DEPARTMENTS
from loaders.demo_spec import RegionSpec
from loaders.generate_units import Density
from store.bulk import ewkb_hex

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉兰红梅文斌志强海燕晓"
    "东春花宝山金凤德福永红"
)
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = "10X98765432"


def _names(n: int, rng: np.random.Generator) -> np.ndarray:
    surname = np.array(SURNAMES)[rng.integers(len(SURNAMES), size=n)]
    first = np.array(GIVEN)[rng.integers(len(GIVEN), size=n)]
    second = np.where(rng.random(n) < 0.6, np.array(GIVEN)[rng.integers(len(GIVEN), size=n)], "")
    return np.char.add(np.char.add(surname, first), second)


def _phones(n: int, rng: np.random.Generator) -> np.ndarray:
    prefix = rng.choice(["13", "15", "17", "18", "19"], size=n)
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**9, size=n).astype(str), 9))


def _id_numbers(adcode: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """18-digit resident ID numbers with a valid GB 11643 check digit (all synthetic)."""
    birth = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 65 * 365, n), "D")
    body = [f"{adcode}{b:%Y%m%d}{s:03d}" for b, s in zip(birth, rng.integers(1, 999, n),
                                                          strict=True)]
    digits = np.array([list(map(int, b)) for b in body])
    check = np.array(list(ID_CHECK))[(digits * ID_WEIGHTS).sum(axis=1) % 11]
    return np.char.add(np.array(body), check)


def build_households(spec: RegionSpec, density: Density, county, engine: AssignmentEngine,
                     grid_codes: dict[int, str], unit_names: dict[int, str],
                     rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Households (~2.6 persons each) and their heads' personal data."""
    n = spec.households
    pts = density.sample(county, n, rng)
    result = engine.assign(pts[:, 0], pts[:, 1], snap_m=None)
    grid = result.grid_id
    ok = grid >= 0
    pts, grid = pts[ok], grid[ok]
    n = len(pts)
    size = np.clip(1 + rng.poisson(1.6, n), 1, 8)
    rental = rng.random(n) < (0.22 if spec.urban else 0.08)
    floating = np.where(rental, size, np.where(rng.random(n) < 0.05, 1, 0))
    registered = np.maximum(size - floating, 0)
    # Numbered within the village, so that every address is unique (the register is what
    # address-only reports are located by).
    village_ids = result.unit_ids[ok][:, 2]
    order = np.lexsort((grid, village_ids))
    seq = np.empty(n, dtype=int)
    _, starts, counts = np.unique(village_ids[order], return_index=True, return_counts=True)
    seq[order] = np.arange(n) - np.repeat(starts, counts)
    codes = np.array([grid_codes[g] for g in grid])
    building = (seq // 24) + 1
    room = (seq % 24 // 4 + 1) * 100 + seq % 4 + 1
    village_names = np.array([unit_names.get(int(v), "") for v in village_ids])
    if spec.urban:
        address = [f"{spec.name}{v}{b}号楼{r}室" for v, b, r in
                   zip(village_names, building, room, strict=True)]
        building_col, room_col = building.astype(str), room.astype(str)
    else:
        address = [f"{spec.name}{v}{s + 1}号" for v, s in zip(village_names, seq, strict=True)]
        building_col, room_col = np.full(n, None), np.full(n, None)
    tags = np.where(rng.random(n) < 0.02, "{低保户}", "{}")
    households = pd.DataFrame({
        "code": np.char.add(np.char.add("H", codes), np.char.zfill(seq.astype(str), 5)),
        "geom": ewkb_hex(shapely.points(pts)),
        "address": address, "building": building_col, "room": room_col,
        "size": size, "registered": registered, "floating": floating,
        "is_rental": rental, "is_elderly_alone": (size == 1) & (rng.random(n) < 0.35),
        "is_special_care": rng.random(n) < 0.03, "tags": tags, "grid_id": grid,
    })
    persons = pd.DataFrame({
        "household_code": households["code"], "is_head": True, "name": _names(n, rng),
        "phone": _phones(n, rng), "id_number": _id_numbers(spec.adcode, n, rng),
    })
    return households, persons


def build_workers(spec: RegionSpec, grid_ids: np.ndarray, grid_codes: dict[int, str],
                  households_per_grid: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Grid workers: one per grid first, the rest to the most populous grids."""
    n = spec.workers
    weights = households_per_grid.reindex(grid_ids).fillna(0).to_numpy() + 1.0
    extra = max(n - len(grid_ids), 0)
    assigned = np.concatenate([grid_ids[: min(n, len(grid_ids))],
                               rng.choice(grid_ids, size=extra, p=weights / weights.sum())])
    order = np.argsort(assigned, kind="stable")
    seq = np.empty(len(assigned), dtype=int)
    _, starts, counts = np.unique(assigned[order], return_index=True, return_counts=True)
    seq[order] = np.arange(len(assigned)) - np.repeat(starts, counts)
    return pd.DataFrame({
        "code": [f"W{grid_codes[g]}{s + 1:02d}" for g, s in zip(assigned, seq, strict=True)],
        "name": _names(len(assigned), rng), "phone": _phones(len(assigned), rng),
        "grid_id": assigned, "full_time": rng.random(len(assigned)) < 0.8,
    })


def build_departments(spec: RegionSpec) -> pd.DataFrame:
    return pd.DataFrame({"code": [f"{spec.adcode}-{c}" for c, _, _ in DEPARTMENTS],
                         "name": [name for _, name, _ in DEPARTMENTS],
                         "kind": [kind for _, _, kind in DEPARTMENTS]})


def build_cameras(spec: RegionSpec, density: Density, county, engine: AssignmentEngine,
                  village_centroids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """雪亮 cameras where people are, 村村通 at village centres, 社会面 scattered; ~5 % offline."""
    n = spec.cameras
    n_village = min(len(village_centroids) * 2, n // 4)
    at_villages = village_centroids[rng.integers(len(village_centroids), size=n_village)]
    at_villages = at_villages + rng.normal(0, 0.002, at_villages.shape)
    near_people = density.sample(county, n - n_village, rng)
    pts = np.vstack([near_people, at_villages])
    kind = np.concatenate([np.where(rng.random(n - n_village) < 0.8, "xueliang", "social"),
                           np.full(n_village, "cuncuntong")])
    result = engine.assign(pts[:, 0], pts[:, 1], snap_m=None)
    ok = result.grid_id >= 0
    pts, kind, grid = pts[ok], kind[ok], result.grid_id[ok]
    m = len(pts)
    labels = {"xueliang": "雪亮", "cuncuntong": "村村通", "social": "社会面"}
    codes = [f"C{spec.adcode}{i:06d}" for i in range(m)]
    return pd.DataFrame({
        "code": codes,
        "name": [f"{labels[k]}监控点{i + 1:05d}" for i, k in enumerate(kind)],
        "geom": ewkb_hex(shapely.points(pts)),
        "kind": kind, "status": np.where(rng.random(m) < 0.05, "offline", "online"),
        "stream_url": [f"rtsp://video.{spec.key}.local/live/{c}" for c in codes],
        "heading_deg": rng.uniform(0, 360, m).round(1), "fov_deg": rng.choice([60, 75, 90], m),
        "range_m": rng.choice([50, 80, 120, 150], m), "grid_id": grid,
    })
