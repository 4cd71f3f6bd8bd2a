"""Benchmark: point-to-grid assignment — geo.assign engine vs geopandas.sjoin vs PostGIS.

    python bench/assign.py [--grids 10000] [--points 1000000] [--seed 42] [--database-url URL]

Synthetic irregular grids (geo.testing.make_units: Voronoi cells with wiggly shared edges,
~20-300 vertices) and clustered points with 1 % outside the jurisdiction, deterministic by
seed.  Prints one table: build time, assignment time, points/s, peak memory and the number of
points whose grid differs from the engine's (the engine is exact: a point covered by one grid
gets it, by several the lowest code).  Points on shared edges are counted apart, since
``within`` / ``ST_Contains`` exclude boundaries by definition.

Peak memory is the peak RSS growth of the process during that step (sampled every 2 ms with
psutil); for PostGIS it is the growth of the server backend's RSS (same machine).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd  # noqa: E402
import numpy as np
import psutil
import shapely  # noqa: E402

from geo.assign import AssignmentEngine  # noqa: E402
from geo.testing import make_points, make_units  # noqa: E402


class PeakRSS:
    """Peak RSS growth of a process while the ``with`` block runs (psutil sampling)."""

    def __init__(self, pid: int | None = None, every_s: float = 0.002) -> None:
        self.proc = psutil.Process(pid or os.getpid())
        self.every_s = every_s
        self.peak_mb = 0.0

    def __enter__(self) -> PeakRSS:
        self.base = self.proc.memory_info().rss
        self.top = self.base
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while not self.stop.is_set():
            try:
                self.top = max(self.top, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.every_s)

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        self.top = max(self.top, self.proc.memory_info().rss)
        self.peak_mb = (self.top - self.base) / 2**20


def timed(fn: Callable[[], Any], pid: int | None = None) -> tuple[Any, float, float]:
    with PeakRSS(pid) as mem:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return out, dt, mem.peak_mb


def run_sjoin(grids: gpd.GeoDataFrame, pts: gpd.GeoDataFrame) -> np.ndarray:
    joined = gpd.sjoin(pts, grids[["id", "geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["id"].fillna(-1).to_numpy(dtype=np.int64)


def run_postgis(url: str, grids: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> dict:
    """Load scratch tables with COPY, index, ANALYZE; time only the UPDATE … FROM join."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    tag = f"bench_assign_{os.getpid()}"
    g_tab, p_tab = f"{tag}_grid", f"{tag}_pt"
    out: dict[str, Any] = {}
    with eng.connect() as conn:
        raw = conn.connection.driver_connection
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        try:
            t0 = time.perf_counter()
            conn.execute(text(f"CREATE UNLOGGED TABLE {g_tab} (id bigint, geom geometry)"))
            conn.execute(
                text(f"CREATE UNLOGGED TABLE {p_tab} (id bigint, geom geometry, grid_id bigint)")
            )
            gw = shapely.to_wkb(
                shapely.set_srid(np.asarray(grids.geometry.values), 4326),
                hex=True,
                include_srid=True,
            )
            pw = shapely.to_wkb(
                shapely.set_srid(shapely.points(x, y), 4326), hex=True, include_srid=True
            )
            with raw.cursor() as cur:
                with cur.copy(f"COPY {g_tab} (id, geom) FROM STDIN") as cp:
                    cp.write(
                        "".join(
                            f"{i}\t{w}\n" for i, w in zip(grids["id"].tolist(), gw, strict=True)
                        )
                    )
                with cur.copy(f"COPY {p_tab} (id, geom) FROM STDIN") as cp:
                    buf = io.StringIO()
                    for start in range(0, len(pw), 200_000):
                        chunk = pw[start : start + 200_000]
                        ids = range(start, start + len(chunk))
                        buf.write("".join(f"{i}\t{w}\n" for i, w in zip(ids, chunk, strict=True)))
                        cp.write(buf.getvalue())
                        buf.seek(0)
                        buf.truncate()
            conn.execute(text(f"CREATE INDEX ON {g_tab} USING gist (geom)"))
            conn.execute(text(f"ANALYZE {g_tab}"))
            conn.execute(text(f"ANALYZE {p_tab}"))
            conn.commit()
            out["load_s"] = time.perf_counter() - t0

            def join() -> None:
                conn.execute(
                    text(
                        f"UPDATE {p_tab} p SET grid_id = g.id FROM {g_tab} g "
                        "WHERE ST_Contains(g.geom, p.geom)"
                    )
                )
                conn.commit()

            _, out["assign_s"], out["peak_mb"] = timed(join, pid=backend)
            rows = conn.execute(text(f"SELECT id, grid_id FROM {p_tab}")).all()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            gid = np.fromiter(
                (-1 if r[1] is None else r[1] for r in rows), dtype=np.int64, count=len(rows)
            )
            res = np.full(len(x), -1, dtype=np.int64)
            res[ids] = gid
            out["grid_id"] = res
        finally:
            conn.rollback()
            conn.execute(text(f"DROP TABLE IF EXISTS {g_tab}, {p_tab}"))
            conn.commit()
    eng.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None)
    args, _unknown = ap.parse_known_args(argv)  # bench/run.py forwards its own arguments

    t0 = time.perf_counter()
    units = make_units(args.grids, seed=args.seed)
    x, y = make_points(units, args.points, seed=args.seed + 1, outside_fraction=0.01)
    grids = units[units["level"] == units["level"].max()].reset_index(drop=True)
    nv = shapely.get_num_coordinates(np.asarray(grids.geometry.values))
    print(
        f"data: {len(grids)} grids ({len(units)} units, 4 levels), vertices per grid "
        f"min {nv.min()} / median {int(np.median(nv))} / max {nv.max()}; {len(x):,} points "
        f"(1 % outside); generated in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    rows = []
    engine, build_s, build_mb = timed(lambda: AssignmentEngine.build(units))
    res, assign_s, assign_mb = timed(lambda: engine.assign(x, y))
    exact = np.where(np.isin(res.reason, ["inside", "edge"]), res.grid_id, -1)
    on_edge = res.reason == "edge"
    rows.append(("geo.assign engine", build_s, assign_s, max(build_mb, assign_mb), None))
    st = engine.stats()
    print(
        f"engine: lookup {st['lookup_cells'] / 1e6:.1f} M cells of {st['lookup_cell_m']:.1f} m, "
        f"{st['lookup_boundary_fraction']:.1%} need exact tests; reasons {res.counts()}",
        flush=True,
    )

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)  # not timed
    sj, sj_s, sj_mb = timed(lambda: run_sjoin(grids, pts))
    rows.append(('geopandas.sjoin(predicate="within")', None, sj_s, sj_mb, sj))

    if args.database_url:
        try:
            pg = run_postgis(args.database_url, grids, x, y)
            print(
                f"postgis: loaded scratch tables with COPY + GiST + ANALYZE in "
                f"{pg['load_s']:.1f} s (not timed)",
                flush=True,
            )
            rows.append(
                (
                    "PostGIS UPDATE…FROM ST_Contains",
                    None,
                    pg["assign_s"],
                    pg["peak_mb"],
                    pg["grid_id"],
                )
            )
        except Exception as exc:  # a benchmark reports, it does not crash the run
            print(f"postgis: FAILED ({type(exc).__name__}: {exc}); row skipped", flush=True)
    else:
        print("postgis: skipped (no --database-url and no DATABASE_URL)", flush=True)

    n = len(x)
    head = (
        f"{'method':<36} {'build s':>8} {'assign s':>9} {'points/s':>11} {'peak MB':>8} "
        f"{'mismatch':>9} {'on edges':>9} {'speed-up':>9}"
    )
    print()
    print(head)
    print("-" * len(head))
    for name, b, a, mb, ids in rows:
        if ids is None:
            mism, edge_m = "-", "-"
        else:
            diff = ids != exact
            mism, edge_m = f"{int((diff & ~on_edge).sum())}", f"{int((diff & on_edge).sum())}"
        speed = f"{a / assign_s:.1f}x" if name != rows[0][0] else "1.0x"
        build = f"{b:.2f}" if b is not None else "-"
        print(
            f"{name:<36} {build:>8} {a:>9.3f} "
            f"{n / a:>11,.0f} {mb:>8.0f} {mism:>9} {edge_m:>9} {speed:>9}"
        )
    print(
        "\nmismatch: points whose grid differs from the engine's, away from shared edges; "
        "on edges: differences at points on a shared edge (within/ST_Contains exclude "
        "boundaries).  speed-up: method's assign time / engine's.  peak MB: RSS growth "
        "(psutil), the PostGIS row measures the server backend."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
