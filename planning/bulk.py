"""Bulk jobs after a redraw or an import, run as partitioned jobs on Dask.

``run(url, "households")`` re-assigns every located household to the grid its point lies in
now; ``run(url, "incidents")`` back-fills the unit ids of located incidents that never had
them (ids frozen at receipt are never overwritten).  The rows are split into id ranges (a job
record in ``bulk_job``/``bulk_job_part``); each range is one task: read its points, assign them
with the one assignment engine (:class:`geo.assign.AssignmentEngine`, built once as a task
of its own and fetched once by each worker), and write the results back with COPY in one
transaction that also marks the range done.  A re-run with the same parameters resumes the
unfinished job and does only the ranges whose results are not stored; a worker killed
mid-range loses nothing (its transaction never committed; Dask runs the range again, on a
restarted or another worker).

``scheduler``: ``"local"`` starts a ``dask.distributed.LocalCluster`` of ``workers`` processes;
``"tcp://host:8786"`` uses a running scheduler (its workers need OneMap installed and must
reach the database); ``None`` runs the same tasks in this process, one after the other (the
single-process path, the reference for the others).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine

from geo.assign import AssignmentEngine
from onemap.errors import OneMapError
from store import jobs
from store.repository import load_units_frame


@dataclass
class JobRun:
    job: int
    resumed: bool
    parts: int
    done_now: int
    failed: list[str]
    rows: int
    changed: int
    seconds: float
    workers: int
    finished: bool


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    """One small pool per database URL in each worker process."""
    return create_engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


def do_part(url: str, job: int, part: int, lo: int, hi: int, kind: str,
            assigner: AssignmentEngine, snap_m: float | None) -> tuple[int, int, int]:
    """One range: read, assign, write back and mark done in one transaction.
    Returns (part, rows, changed); a range stored meanwhile by another run counts as 0, 0."""
    columns = jobs.target(kind).columns
    try:
        with _engine(url).begin() as conn:
            ids, lon, lat = jobs.read_points(conn, kind, lo, hi)
            if len(ids):
                res = assigner.assign(lon, lat, snap_m=snap_m)
                depth = {c: d for d, c in _level_columns(assigner.n_levels).items()} \
                    if len(columns) > 1 else {}
                values = np.column_stack([res.grid_id if c == "grid_id"
                                          else res.unit_ids[:, depth[c]] for c in columns])
            else:
                values = np.empty((0, len(columns)))
            changed = jobs.write_part(conn, job, part, kind, ids, values.astype(np.int64),
                                      _worker_name())
    except jobs.PartAlreadyDone:  # its transaction rolled back: the stored results stand
        return part, 0, 0
    return part, len(ids), changed


def _level_columns(n_levels: int) -> dict[int, str]:
    from geo.levels import LEVEL_COLUMNS

    if n_levels != len(LEVEL_COLUMNS):
        raise OneMapError(f"The unit layer has {n_levels} levels; incidents keep "
                          f"{len(LEVEL_COLUMNS)} ({', '.join(LEVEL_COLUMNS.values())}).")
    return dict(LEVEL_COLUMNS)


def _client(scheduler: str, workers: int) -> Any:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency
        raise OneMapError("Bulk jobs on Dask need dask.distributed: "
                          "pip install 'dask[distributed]'") from exc
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        return Client(cluster)
    try:
        return Client(scheduler, timeout=15)
    except OSError as exc:
        raise OneMapError(f"No Dask scheduler answers at {scheduler}: {exc}. Start one "
                          "(`dask scheduler`, then `dask worker " + scheduler + "`) or use "
                          "--scheduler local.") from exc


def run(url: str, kind: str, *, actor: str, scheduler: str | None = "local", workers: int = 2,
        parts: int | None = None, snap_m: float | None = 50.0, stop_after: int | None = None,
        progress: Callable[[int, int], None] | None = None) -> JobRun:
    """Run (or resume) the bulk job ``kind`` on the database at ``url`` (an owner URL)."""
    jobs.target(kind)  # a clear error for an unknown kind
    t0 = time.monotonic()
    db = _engine(url)
    with db.connect() as conn:
        units = load_units_frame(conn)
    if not len(units):
        raise OneMapError("There are no units to assign to; load boundaries first.")
    if kind == "incidents":
        _level_columns(int(units["level"].nunique()))
    params = {"snap_m": snap_m, "units": _signature(units)}
    with db.begin() as conn:
        job = jobs.open_job(conn, kind, params)
        resumed = job is not None
        if job is None:
            n = parts or max(4, 4 * workers)
            job = jobs.create_job(conn, kind, params, actor, jobs.id_ranges(conn, kind, n))
        todo = jobs.parts_todo(conn, job)
    total = len(todo)
    if stop_after is not None:
        todo = todo[:stop_after]
    failed: list[str] = []
    rows = changed = done = 0
    used = 1
    if scheduler is None:
        assigner = _build(units, snap_m)  # on Dask, a worker builds it (build_engine)
        for part, lo, hi in todo:
            _, n, c = do_part(url, job, part, lo, hi, kind, assigner, snap_m)
            rows, changed, done = rows + n, changed + c, done + 1
            if progress:
                progress(done, total)
    elif todo:
        from distributed import as_completed

        client = _client(scheduler, workers)
        try:
            used = len(client.scheduler_info()["workers"])
            # The engine as a task, not scattered data: a worker holding it may die, and a
            # task can be computed again where scattered data would be lost with it.  Each
            # worker fetches it once and keeps it for all its ranges.
            shared = client.submit(build_engine, url, snap_m, pure=False,
                                   key=f"bulk-{job}-engine")
            futures = [client.submit(do_part, url, job, part, lo, hi, kind, shared, snap_m,
                                     pure=False, key=f"bulk-{job}-{part}")
                       for part, lo, hi in todo]
            for future in as_completed(futures):
                try:
                    _, n, c = future.result()
                except Exception as exc:  # noqa: BLE001 - named to the user; re-run resumes
                    failed.append(f"{future.key}: {str(exc).splitlines()[0][:300]}")
                    continue
                rows, changed, done = rows + n, changed + c, done + 1
                if progress:
                    progress(done, total)
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if scheduler == "local" and cluster is not None:
                cluster.close()
    with db.begin() as conn:
        finished = jobs.finish_if_done(conn, job)
    return JobRun(job=job, resumed=resumed, parts=total, done_now=done, failed=failed,
                  rows=rows, changed=changed, seconds=time.monotonic() - t0, workers=used,
                  finished=finished)


def _build(units: Any, snap_m: float | None) -> AssignmentEngine:
    return AssignmentEngine.build(units, snap_m=snap_m or 50.0)


def build_engine(url: str, snap_m: float | None) -> AssignmentEngine:
    """The assignment engine of the units in force (what every range of a job uses)."""
    with _engine(url).connect() as conn:
        return _build(load_units_frame(conn), snap_m)


def _signature(units: Any) -> str:
    """Which unit layer a job assigns to: a job started on another layer is not resumed."""
    ids = np.sort(units["id"].to_numpy())
    return f"{len(ids)}:{int(ids.sum()) if len(ids) else 0}:{int(ids[-1]) if len(ids) else 0}"
