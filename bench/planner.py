"""Benchmark: the grid planner on the 东海 demo — validation + impact preview, and saving.

    python bench/planner.py [--database-url URL] [--edits 10]

The issue's targets (#7), with the 东海 demo (1,076 grids, ~400k households): validation plus
impact preview for one edit under 500 ms server time; saving with reassignment under 2 s.

* Uses the wall benchmark's database (name + ``_wall``; loads the 东海 demo once, about 70 s).
  Saves run inside a transaction that is rolled back, so the database stays as it was.
* **Edits**: the ``--edits`` grids with the most households, each split in two by a line
  through its centre (what a planner does first with an oversized grid), plus a merge of two
  neighbours and a suggested split into three balanced parts.
* **Preview** is what the page's callback does: load the village (``plan_context``), make the
  proposal, ``validate``, load the affected points (``plan_points``) and compute ``impact``.
* **Save** is ``planning.service.save``: lock, close and insert versions, re-validate, reassign
  households, cameras, workers and open incidents, write events and the change record.
* **The obvious alternatives**, same run: counting the households of the new grids with a plain
  PostGIS query (``ST_Covers`` of the proposed polygons against every household of the
  village's grids), and geopandas ``sjoin`` of those households with the proposed grids.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import _auth  # noqa: E402  (bench/_auth.py, next to this script)
import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from geo import planning as gp  # noqa: E402
from onemap.access import cli_actor  # noqa: E402
from onemap.settings import load_settings  # noqa: E402
from planning import service as planning_service  # noqa: E402
from store import planning as sp  # noqa: E402
from store.runtime import build_runtime  # noqa: E402


def _say(message: str) -> None:
    print(f"[bench/planner] {message}", file=sys.stderr, flush=True)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _split_line(geom) -> shapely.LineString:
    """A west-east line through the grid's label point, longer than the grid."""
    x0, _y0, x1, _y1 = geom.bounds
    p = shapely.point_on_surface(geom)
    pad = (x1 - x0) * 0.2
    return shapely.LineString([(x0 - pad, p.y), (x1 + pad, p.y)])


def preview(engine, proposal_of, band) -> tuple[float, gp.Proposal, gp.Impact]:
    """The page's preview path for one edit; returns (ms, proposal, impact)."""
    start = time.perf_counter()
    context, proposal = proposal_of()
    validation = gp.validate(context, proposal)
    points = sp.plan_points(engine, proposal)
    impact = gp.impact(context, proposal, households=points["households"],
                       cameras=points["cameras"], incidents=points["incidents"],
                       workers=points["workers"], band=band(context))
    elapsed = _ms(start)
    if not validation.ok:
        _say(f"edit of {proposal.removed} does not validate: "
             f"{[p.message for p in validation.introduced][:2]}")
    return elapsed, proposal, impact


def postgis_counts(engine, proposal: gp.Proposal) -> tuple[float, list[int]]:
    """The obvious alternative: households per proposed grid by ST_Covers in PostGIS (those
    of the retired grids and those in no grid, as the preview counts)."""
    start = time.perf_counter()
    wkts = [shapely.to_wkt(u.geometry, rounding_precision=-1) for u in proposal.added]
    with engine.connect() as conn:
        rows = conn.execute(text("""
            WITH p AS (SELECT ord, ST_GeomFromText(w, 4326) AS g
                       FROM unnest(CAST(:w AS text[])) WITH ORDINALITY AS x(w, ord))
            SELECT p.ord, count(h.id) FROM p
            LEFT JOIN household h ON (h.grid_id = ANY(CAST(:removed AS bigint[]))
                                      OR h.grid_id IS NULL)
                                 AND ST_Covers(p.g, h.geom)
            GROUP BY p.ord ORDER BY p.ord"""),
            {"w": wkts, "removed": list(proposal.removed)}).all()
    return _ms(start), [int(n) for _o, n in rows]


def sjoin_counts(engine, proposal: gp.Proposal) -> tuple[float, list[int]]:
    """The other obvious alternative: load the households, geopandas sjoin."""
    start = time.perf_counter()
    with engine.connect() as conn:
        homes = gpd.read_postgis(text(
            "SELECT id, geom FROM household WHERE grid_id = ANY(CAST(:removed AS bigint[]))"),
            conn, geom_col="geom", params={"removed": list(proposal.removed)})
    grids = gpd.GeoDataFrame({"code": [u.code for u in proposal.added]},
                             geometry=[u.geometry for u in proposal.added], crs="EPSG:4326")
    joined = gpd.sjoin(homes, grids, predicate="within")
    counts = joined.groupby("code").size()
    return _ms(start), [int(counts.get(u.code, 0)) for u in proposal.added]


def page_client(url: str):
    """The real Dash app (as gunicorn serves it) on the bench database, for callback timing."""
    from dashboard.app import create_app

    settings = load_settings({**os.environ, "DATABASE_URL": url, "ONEMAP_ESCALATE_EVERY": "0"})
    app = create_app(settings)
    key = next(k for k in app.callback_map if "p-proposed.data" in k)
    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
               for part in key.strip(".").split("...")]
    return _auth.client(app, _auth.bench_user(url, "planner")), key, outputs


def callback_ms(client, key: str, outputs: list, proposal: gp.Proposal) -> float:
    """Wall time of the page's preview callback (``/_dash-update-component``) for a proposal."""
    from dashboard.planner_view import proposal_to_store

    body = {"output": key, "outputs": outputs,
            "inputs": [{"id": "p-proposal", "property": "data",
                        "value": proposal_to_store(proposal)}],
            "state": [{"id": "p-grids", "property": "data", "value": None},
                      {"id": "lang", "property": "data", "value": "zh"}],
            "changedPropIds": ["p-proposal.data"]}
    start = time.perf_counter()
    response = client.post("/_dash-update-component", json=body)
    elapsed = _ms(start)
    if response.status_code != 200:
        raise SystemExit(f"preview callback failed: {response.status_code} "
                         f"{response.get_data(as_text=True)[:300]}")
    return elapsed


def save_ms(engine, proposal: gp.Proposal) -> float:
    """save_plan inside a transaction that is rolled back afterwards."""
    with engine.connect() as conn:
        outer = conn.begin()
        start = time.perf_counter()
        rt = build_runtime(load_settings(), engine=conn.engine, actor=cli_actor("bench"))
        planning_service.save(rt, proposal, actor="bench", note="bench/planner (rolled back)",
                              db=conn)
        elapsed = _ms(start)
        outer.rollback()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    if not args.database_url:
        print("skipped: set DATABASE_URL (make bench does) to run the planner benchmark")
        return 0
    from wall import prepare  # the wall benchmark's 东海 database

    url = prepare(args.database_url)
    engine = create_engine(url)
    settings = load_settings()

    def band(context: gp.PlanContext) -> tuple[int, int]:
        return gp.band_for(context.parent_name, settings.grid_households_urban,
                           settings.grid_households_rural)

    with engine.connect() as conn:
        grid_level = conn.scalar(text("SELECT max(level) FROM unit WHERE valid_to IS NULL"))
        grids = conn.execute(text("""
            SELECT u.id, u.parent_id, count(h.id) AS n FROM unit u
            JOIN household h ON h.grid_id = u.id
            WHERE u.valid_to IS NULL AND u.level = :g
            GROUP BY u.id ORDER BY n DESC LIMIT :k"""), {"g": grid_level, "k": args.edits}).all()
        households = conn.scalar(text("SELECT count(*) FROM household"))
        n_grids = conn.scalar(text("SELECT count(*) FROM unit WHERE valid_to IS NULL "
                                   "AND level = :g"), {"g": grid_level})

    results: dict[str, list[float]] = {"preview": [], "callback": [], "save": [], "postgis": [],
                                       "sjoin": []}
    client, key, outputs = page_client(url)
    mismatches = 0
    edits: list = []
    for gid, parent, _n in grids:
        def split_edit(gid=gid, parent=parent):
            context = sp.plan_context(engine, parent)
            row = context.units[context.units["id"] == gid].iloc[0]
            return context, gp.split(context, gid, _split_line(row.geometry))
        edits.append(("split", split_edit))
    gid, parent, _n = grids[0]

    def merge_edit():
        context = sp.plan_context(engine, parent)
        geoms = np.asarray(context.units.geometry.values)
        me = int(np.flatnonzero(context.units["id"].to_numpy() == gid)[0])
        shared = shapely.length(shapely.intersection(geoms[me].boundary,
                                                     shapely.boundary(geoms)))
        shared[me] = 0
        other = int(context.units["id"].iloc[int(np.argmax(shared))])
        return context, gp.merge(context, [gid, other])

    def suggest_edit():
        context = sp.plan_context(engine, parent)
        points = sp.plan_points(engine, ((gid,), None))
        return context, gp.suggest_split(context, gid, points["households"], 3)

    edits += [("merge", merge_edit), ("suggest k=3", suggest_edit)]
    kinds: dict[str, list[float]] = {}
    for kind, make in edits:
        ms, proposal, impact = preview(engine, make, band)
        results["preview"].append(ms)
        results["callback"].append(callback_ms(client, key, outputs, proposal))
        kinds.setdefault(kind, []).append(ms)
        results["save"].append(save_ms(engine, proposal))
        pg_ms, pg_counts = postgis_counts(engine, proposal)
        sj_ms, sj_counts = sjoin_counts(engine, proposal)
        results["postgis"].append(pg_ms)
        results["sjoin"].append(sj_ms)
        ours = {u.code: u.after["households"] for u in impact.units}
        mismatches += sum(ours.get(u.code, 0) != c
                          for u, c in zip(proposal.added, pg_counts, strict=True))

    def row(name: str, values: list[float], target: str) -> str:
        return (f"| {name} | {statistics.median(values):.0f} ms | {max(values):.0f} ms | "
                f"{target} |")

    print(f"\nGrid planner, 东海 demo ({n_grids} grids, {households:,} households), "
          f"{len(edits)} edits ({', '.join(f'{k}×{len(v)}' for k, v in kinds.items())})")
    print("| measure | median | max | target |")
    print("|---|---|---|---|")
    print(row("validation + impact preview (plan_context, edit, validate, points, impact)",
              results["preview"], "< 500 ms"))
    print(row("the page's preview callback (HTTP, Dash JSON in and out; edit already made)",
              results["callback"], "< 500 ms"))
    print(row("save with reassignment (planning.service.save, rolled back)", results["save"],
              "< 2 s"))
    print(row("alternative: households per new grid, PostGIS ST_Covers", results["postgis"],
              "–"))
    print(row("alternative: households per new grid, geopandas sjoin", results["sjoin"], "–"))
    print(f"\nPreview household counts that differ from PostGIS ST_Covers: {mismatches} "
          "(points on a shared edge go to the lowest code in OneMap, to both in ST_Covers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
