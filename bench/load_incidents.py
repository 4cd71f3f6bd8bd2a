"""Benchmark: loading incidents from CSV — `onemap load incidents` vs geopandas sjoin+to_postgis.

    python bench/load_incidents.py [--rows 1000000] [--grids 2000] [--alt-rows 100000] [--keep]

Works in a scratch database ``<app db>_bench_loaders`` on the server of ``DATABASE_URL``
(`make bench` sets it), created fresh, migrated, filled with synthetic units
(geo.testing.make_units, loaded through the boundary importer) and dropped at the end — the
app's data is never touched.  The CSV is a 12345-style export with Chinese headers (工单编号,
受理时间, 诉求内容, 地址, 事件类型, 经度, 纬度), written to a temp dir first (not timed).

Rows of the table:

* ``onemap load`` — the importer: read (pandas, all text), validate (coordinates, dates,
  categories, duplicates) + assign (geo.assign), store (COPY into a staging table, one
  INSERT … ON CONFLICT merge into ``incident`` with its indexes, plus the history events);
* ``onemap re-load`` — the same file again: every row found unchanged, nothing written;
* ``geopandas sjoin + to_postgis`` — the obvious alternative (read_csv with numeric columns,
  points_from_xy, ``sjoin(predicate="within")`` against the grids, ``to_postgis`` into a
  plain table without indexes, constraints or validation).  It is run on ``--alt-rows`` rows
  and extrapolated linearly to ``--rows`` (marked "≈").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geo.catalog import CATEGORIES  # noqa: E402
from geo.testing import make_points, make_units  # noqa: E402
from loaders.importers import core  # noqa: E402
from loaders.importers.options import LoadOptions  # noqa: E402
from store import migrate  # noqa: E402
from store.engine import ensure_database  # noqa: E402

CENTER = (97.05, 40.30)


def scratch_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        from onemap.settings import load_settings
        from store.engine import database_url

        url = database_url(load_settings())
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    name = f"{parsed.database or 'onemap'}_bench_loaders"
    return parsed.set(database=name).render_as_string(hide_password=False)


def write_units(folder: Path, n_grids: int) -> Path:
    units = make_units(n_grids, center=CENTER, county_code="620981", seed=7)
    code_of = dict(zip(units["id"], units["code"], strict=True))
    units["parent_code"] = [code_of.get(p) if pd.notna(p) else None for p in units["parent_id"]]
    units["name"] = "单元" + units["code"].astype(str)
    path = folder / "units.gpkg"
    units[["code", "name", "level", "parent_code", "geometry"]].to_file(path, driver="GPKG",
                                                                        engine="pyogrio")
    return path


def write_csv(folder: Path, units_path: Path, n: int) -> Path:
    import geopandas as gpd

    units = gpd.read_file(units_path)
    units["id"] = np.arange(1, len(units) + 1)
    id_of = dict(zip(units["code"], units["id"], strict=True))
    units["parent_id"] = pd.array([id_of.get(p) for p in units["parent_code"]], dtype="Int64")
    lon, lat = make_points(units, n, seed=3, outside_fraction=0.002)
    rng = np.random.default_rng(5)
    received = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86400, n),
                                                            unit="s")
    frame = pd.DataFrame({
        "工单编号": np.char.add("GD", np.arange(n).astype(str)),
        "受理时间": received.strftime("%Y-%m-%d %H:%M:%S"),
        "诉求内容": rng.choice(["楼道堆放杂物影响通行", "夜间施工噪音扰民", "小区路灯不亮",
                             "邻里因停车发生纠纷", "垃圾清运不及时"], n),
        "地址": np.char.add("示例路", (np.arange(n) % 997).astype(str)),
        "事件类型": rng.choice([c.zh for c in CATEGORIES], n),
        "经度": np.round(lon, 6),
        "纬度": np.round(lat, 6),
    })
    path = folder / "incidents.csv"
    frame.to_csv(path, index=False)
    return path


def alternative(engine: object, csv_path: Path, units_path: Path, rows: int) -> dict[str, float]:
    """geopandas: read_csv → points_from_xy → sjoin(within grids) → to_postgis (plain table)."""
    import geopandas as gpd

    t0 = time.perf_counter()
    frame = pd.read_csv(csv_path, nrows=rows)
    t1 = time.perf_counter()
    grids = gpd.read_file(units_path)
    grids = grids[grids["level"] == grids["level"].max()][["code", "geometry"]]
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["经度"], frame["纬度"]),
                              crs=4326)
    joined = gpd.sjoin(points, grids, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].drop(columns=["index_right"])
    t2 = time.perf_counter()
    joined.to_postgis("incident_alt", engine, if_exists="replace", index=False,
                      chunksize=50_000)
    t3 = time.perf_counter()
    return {"read": t1 - t0, "validate+assign": t2 - t1, "store": t3 - t2}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--grids", type=int, default=2000)
    ap.add_argument("--alt-rows", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args, _ = ap.parse_known_args()

    url = scratch_url()
    ensure_database(url, fresh=True)
    engine = create_engine(url)
    results: list[tuple[str, int, dict[str, float], str]] = []
    try:
        migrate.upgrade(engine)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            units_path = write_units(folder, args.grids)
            units = core.run("boundaries", units_path, LoadOptions(allow_overlaps=True),
                             db=engine)
            print(f"units: {units.inserted} loaded ({args.grids} grids requested)", flush=True)
            t = time.perf_counter()
            csv_path = write_csv(folder, units_path, args.rows)
            size_mb = csv_path.stat().st_size / 1e6
            print(f"csv: {args.rows} rows, {size_mb:.0f} MB written in "
                  f"{time.perf_counter() - t:.1f} s (not timed)", flush=True)

            report = core.run("incidents", csv_path, LoadOptions(source="12345", progress=False),
                              db=engine)
            assert report.rejected == 0, report.summary()
            results.append(("onemap load (COPY + merge)", args.rows, report.seconds, ""))
            print(report.summary(max_rejects=3), flush=True)
            again = core.run("incidents", csv_path, LoadOptions(source="12345", progress=False),
                             db=engine)
            assert again.unchanged == report.loaded
            results.append(("onemap re-load (all unchanged)", args.rows, again.seconds, ""))

            alt_rows = min(args.alt_rows, args.rows)
            alt = alternative(engine, csv_path, units_path, alt_rows)
            scale = args.rows / alt_rows
            results.append(("geopandas sjoin + to_postgis", args.rows,
                            {k: v * scale for k, v in alt.items()},
                            "≈" if scale != 1 else ""))
    finally:
        engine.dispose()
        if not args.keep:
            admin = create_engine(make_url(url).set(database="postgres"),
                                  isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" '
                                  "WITH (FORCE)"))
            admin.dispose()

    print()
    head = (f"{'method':34} {'rows':>9} {'read s':>8} {'valid+assign s':>15} {'store s':>8} "
            f"{'total s':>8} {'rows/s':>10}")
    print(head)
    print("-" * len(head))
    for name, rows, secs, mark in results:
        read = secs.get("read", 0.0)
        va = secs.get("validate+assign", 0.0)
        store = secs.get("store", 0.0)
        total = read + va + store
        print(f"{name:34} {rows:>9} {mark}{read:>7.1f} {mark}{va:>14.1f} {mark}{store:>7.1f} "
              f"{mark}{total:>7.1f} {rows / total:>10,.0f}")
    print(f"\n(geopandas row: measured on {min(args.alt_rows, args.rows)} rows and extrapolated "
          "linearly; no validation, no natural-key merge, no indexes on its table.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
