"""Bulk jobs on Dask (a real LocalCluster) give the single-process answers, and resume.

On the 玉门 demo (test scale): households' grids and incidents' unit ids are damaged on
purpose, then repaired by the job; the answer must be the demo's own assignment, row for row.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from planning import bulk
from tests.helpers import fresh_demo_database, sibling_database

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def yumen(db_url):
    url = sibling_database(db_url, "bulk")
    engine = fresh_demo_database(url, "yumen", scale=0.05)
    yield url, engine
    engine.dispose()


def _grids(engine) -> dict[int, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT id, grid_id FROM household WHERE geom IS NOT NULL")).all())


def _damage_households(engine) -> int:
    """Clear every 7th household's grid and move every 11th to another grid."""
    with engine.begin() as conn:
        cleared = conn.execute(text(
            "UPDATE household SET grid_id = NULL WHERE id % 7 = 0 AND geom IS NOT NULL"
        )).rowcount
        moved = conn.execute(text("""
            UPDATE household h SET grid_id = (SELECT min(id) FROM unit
                                               WHERE level = 3 AND id <> h.grid_id)
            WHERE id % 11 = 0 AND id % 7 <> 0 AND geom IS NOT NULL""")).rowcount
    return cleared + moved


def _unit_ids(engine) -> dict[int, tuple]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT id, grid_id, village_id, town_id, county_id FROM incident "
            "WHERE geom IS NOT NULL"))}


def test_dask_gives_the_single_process_answers_row_for_row(yumen):
    url, engine = yumen
    truth = _grids(engine)
    assert len(truth) > 1000 and all(g is not None for g in truth.values())

    first = bulk.run(url, "households", actor="test", scheduler=None, parts=6)
    assert first.finished and first.changed == 0 and first.rows == len(truth)

    damaged = _damage_households(engine)
    assert damaged > 100 and _grids(engine) != truth
    single = bulk.run(url, "households", actor="test", scheduler=None, parts=6)
    assert single.finished and not single.resumed
    assert single.changed == damaged
    assert _grids(engine) == truth

    assert _damage_households(engine) == damaged
    on_dask = bulk.run(url, "households", actor="test", scheduler="local", workers=2, parts=8)
    assert on_dask.finished and on_dask.failed == [] and on_dask.workers == 2
    assert on_dask.changed == damaged and on_dask.rows == len(truth)
    assert _grids(engine) == truth
    with engine.connect() as conn:
        workers = conn.execute(text(
            "SELECT array_agg(DISTINCT worker) FROM bulk_job_part WHERE job_id = :j"),
            {"j": on_dask.job}).scalar()
    assert workers and "local" not in workers  # the ranges really ran on Dask workers


def test_an_interrupted_job_resumes_and_writes_each_range_once(yumen):
    url, engine = yumen
    truth = _grids(engine)
    damaged = _damage_households(engine)
    cut = bulk.run(url, "households", actor="test", scheduler=None, parts=5, stop_after=2)
    assert not cut.finished and cut.done_now == 2
    assert _grids(engine) != truth
    again = bulk.run(url, "households", actor="test", scheduler="local", workers=2, parts=5)
    assert again.resumed and again.job == cut.job
    assert again.parts == 3 and again.finished  # only the ranges not stored yet
    assert cut.changed + again.changed == damaged
    assert _grids(engine) == truth
    with engine.connect() as conn:
        parts = conn.execute(text(
            "SELECT count(*), count(done_at), sum(changed) FROM bulk_job_part "
            "WHERE job_id = :j"), {"j": cut.job}).one()
        finished = conn.execute(text("SELECT finished_at FROM bulk_job WHERE id = :j"),
                                {"j": cut.job}).scalar()
    assert tuple(parts) == (5, 5, damaged) and finished is not None
    # Finished: the same command starts a new job (nothing to change) instead of resuming.
    fresh = bulk.run(url, "households", actor="test", scheduler=None, parts=5)
    assert fresh.job != cut.job and fresh.changed == 0


def test_incidents_get_unit_ids_only_where_they_had_none(yumen):
    url, engine = yumen
    truth = _unit_ids(engine)
    with engine.begin() as conn:
        blank = conn.execute(text(
            "UPDATE incident SET grid_id = NULL, village_id = NULL, town_id = NULL, "
            "county_id = NULL WHERE id % 5 = 0 AND geom IS NOT NULL")).rowcount
        # a frozen id that differs from today's grid must stay as it is
        frozen = conn.execute(text(
            "SELECT id, grid_id FROM incident WHERE id % 5 = 1 AND geom IS NOT NULL "
            "ORDER BY id LIMIT 1")).one()
        conn.execute(text("UPDATE incident SET grid_id = (SELECT max(id) FROM unit "
                          "WHERE level = 3 AND id <> :g) WHERE id = :i"),
                     {"g": frozen.grid_id, "i": frozen.id})
    assert blank > 50
    run = bulk.run(url, "incidents", actor="test", scheduler="local", workers=2, parts=4)
    assert run.finished and run.rows == blank and run.changed == blank
    after = _unit_ids(engine)
    assert {i: v for i, v in after.items() if i != frozen.id} == \
        {i: v for i, v in truth.items() if i != frozen.id}
    assert after[frozen.id][0] != truth[frozen.id][0]


def test_an_unknown_scheduler_is_named():
    from onemap.errors import OneMapError

    with pytest.raises(OneMapError, match="No Dask scheduler answers"):
        bulk._client("tcp://127.0.0.1:9", 1)


def test_the_command_runs_audits_and_says_what_it_did(yumen, monkeypatch, capsys):
    from cli import main

    url, engine = yumen
    damaged = _damage_households(engine)
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["bulk", "households", "--scheduler", "none", "--parts", "3"]) == 0
    err = capsys.readouterr().err
    assert "3/3 parts" in err and f"{damaged:,} changed" in err
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT result, detail->>'changed' FROM audit_log WHERE action = 'bulk.households' "
            "ORDER BY id DESC LIMIT 1")).one()
    assert tuple(row) == ("ok", str(damaged))


def test_a_worker_killed_mid_range_loses_nothing_and_the_job_finishes(yumen):
    """Both workers are killed while their ranges wait inside their transactions; Dask's
    nannies restart them, the ranges run again, and every row ends right, each range once."""
    import os
    import signal
    import threading
    import time

    from distributed import Client, LocalCluster

    url, engine = yumen
    truth = _grids(engine)
    damaged = _damage_households(engine)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    result: dict = {}
    try:
        with engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE household IN SHARE MODE"))  # updates must wait
            job = threading.Thread(target=lambda: result.update(run=bulk.run(
                url, "households", actor="test", scheduler=cluster.scheduler_address,
                parts=6)))
            job.start()
            deadline = time.monotonic() + 60
            while True:  # a range is inside its transaction, its UPDATE waiting
                with engine.connect() as conn:
                    waiting = conn.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%UPDATE household x%'")).scalar()
                if waiting:
                    break
                assert job.is_alive() and time.monotonic() < deadline, "no range waits"
                time.sleep(0.1)
            for pid in client.run(os.getpid).values():
                os.kill(pid, signal.SIGKILL)
            time.sleep(1.0)
            blocker.rollback()  # let the re-run ranges write
        job.join(timeout=180)
    finally:
        client.close()
        cluster.close()
    run = result["run"]
    assert run.finished and run.failed == [] and run.changed == damaged
    assert _grids(engine) == truth
    with engine.connect() as conn:
        parts = conn.execute(text("SELECT count(*), count(done_at), sum(changed) "
                                  "FROM bulk_job_part WHERE job_id = :j"), {"j": run.job}).one()
    assert tuple(parts) == (6, 6, damaged)
