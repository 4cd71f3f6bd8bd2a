"""Bulk jobs in the database: the job record, its id ranges, reading a range's points and
writing a range's results (COPY into a temporary table, one UPDATE, the range marked done —
one transaction, so a re-run resumes exactly where the stored results end).

What a job may touch is a fixed table of targets (:data:`TARGETS`); nothing here is built from
user input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from geo.levels import LEVEL_COLUMNS


@dataclass(frozen=True)
class Target:
    table: str
    where: str          # which rows the job works on ({a}: the table's alias and a dot)
    columns: tuple[str, ...]  # the unit-id columns it writes, deepest level first


TARGETS: dict[str, Target] = {
    # every located household gets the grid its point lies in now (after a redraw, an import)
    "households": Target("household", "{a}geom IS NOT NULL", ("grid_id",)),
    # located incidents whose unit ids were never frozen (loaded before their units existed)
    # get them; ids frozen at receipt are never overwritten
    "incidents": Target("incident", "{a}geom IS NOT NULL AND {a}grid_id IS NULL",
                        tuple(LEVEL_COLUMNS[d] for d in sorted(LEVEL_COLUMNS, reverse=True))),
}


def target(kind: str) -> Target:
    if kind not in TARGETS:
        raise KeyError(f"unknown bulk job {kind!r}; known: {', '.join(TARGETS)}")
    return TARGETS[kind]


def _where(t: Target, alias: str = "") -> str:
    return t.where.format(a=f"{alias}." if alias else "")


def id_ranges(conn: Connection, kind: str, parts: int) -> list[tuple[int, int]]:
    """Split the target rows into at most ``parts`` id ranges of about equal row counts."""
    t = target(kind)
    rows = conn.execute(text(f"""
        SELECT min(id), max(id) FROM (
          SELECT id, ntile(:n) OVER (ORDER BY id) AS part FROM {t.table} WHERE {_where(t)}) s
        GROUP BY part ORDER BY part"""), {"n": max(1, parts)}).all()
    return [(int(lo), int(hi)) for lo, hi in rows]


def open_job(conn: Connection, kind: str, params: dict[str, Any]) -> int | None:
    """The unfinished job of ``kind`` with the same parameters (a re-run resumes it)."""
    return conn.execute(text("""
        SELECT id FROM bulk_job WHERE kind = :k AND finished_at IS NULL
          AND params = CAST(:p AS jsonb) ORDER BY id DESC LIMIT 1"""),
        {"k": kind, "p": json.dumps(params, sort_keys=True)}).scalar()


def create_job(conn: Connection, kind: str, params: dict[str, Any], actor: str,
               ranges: list[tuple[int, int]]) -> int:
    job = conn.execute(text("""
        INSERT INTO bulk_job (kind, params, actor) VALUES (:k, CAST(:p AS jsonb), :a)
        RETURNING id"""), {"k": kind, "p": json.dumps(params, sort_keys=True),
                           "a": actor}).scalar_one()
    if ranges:
        conn.execute(text("""
            INSERT INTO bulk_job_part (job_id, part, lo, hi)
            SELECT :j, n, lo, hi FROM unnest(CAST(:lo AS bigint[]), CAST(:hi AS bigint[]))
                 WITH ORDINALITY AS r(lo, hi, n)"""),
            {"j": job, "lo": [r[0] for r in ranges], "hi": [r[1] for r in ranges]})
    return int(job)


def parts_todo(conn: Connection, job: int) -> list[tuple[int, int, int]]:
    return [(int(r.part), int(r.lo), int(r.hi)) for r in conn.execute(text(
        "SELECT part, lo, hi FROM bulk_job_part WHERE job_id = :j AND done_at IS NULL "
        "ORDER BY part"), {"j": job})]


def finish_if_done(conn: Connection, job: int) -> bool:
    left = conn.execute(text("SELECT count(*) FROM bulk_job_part WHERE job_id = :j "
                             "AND done_at IS NULL"), {"j": job}).scalar_one()
    if left == 0:
        conn.execute(text("UPDATE bulk_job SET finished_at = now() WHERE id = :j "
                          "AND finished_at IS NULL"), {"j": job})
    return left == 0


def summary(conn: Connection, job: int) -> dict[str, Any]:
    row = conn.execute(text("""
        SELECT j.kind, j.created_at, j.finished_at, count(p.part) AS parts,
               count(p.done_at) AS done, coalesce(sum(p.rows), 0) AS rows,
               coalesce(sum(p.changed), 0) AS changed,
               count(DISTINCT p.worker) AS workers
        FROM bulk_job j LEFT JOIN bulk_job_part p ON p.job_id = j.id
        WHERE j.id = :j GROUP BY j.id"""), {"j": job}).mappings().one()
    return dict(row, job=job)


_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length


def _binary_rows(types: str) -> np.dtype:
    """Rows of binary COPY with one 8-byte field per letter of ``types`` (i: bigint,
    f: float8), none NULL: a field count, then each field's length and value."""
    parts: list[tuple[str, str]] = [("n", ">i2")]
    for k, kind in enumerate(types):
        parts += [(f"len{k}", ">i4"), (f"f{k}", ">i8" if kind == "i" else ">f8")]
    return np.dtype(parts)


def read_points(conn: Connection, kind: str, lo: int, hi: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, lon, lat of the target rows with ``lo <= id <= hi`` (binary COPY: no row objects)."""
    t = target(kind)
    sql = (f"COPY (SELECT id, ST_X(geom), ST_Y(geom) FROM {t.table} "
           f"WHERE id BETWEEN {int(lo)} AND {int(hi)} AND {_where(t)} ORDER BY id) "
           "TO STDOUT (FORMAT BINARY)")
    buf = bytearray()
    with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
        for data in copy:
            buf += data
    body = memoryview(buf)[len(_HEADER):len(buf) - 2]  # header … trailer (int16 -1)
    rows = np.frombuffer(body, dtype=_binary_rows("iff"))
    return (rows["f0"].astype(np.int64), rows["f1"].astype(np.float64),
            rows["f2"].astype(np.float64))


def write_part(conn: Connection, job: int, part: int, kind: str, ids: np.ndarray,
               values: np.ndarray, worker: str) -> int:
    """Store one range's results and mark it done, in the caller's transaction.

    ``values`` is (N, len(columns)) of unit ids (-1: none).  Rows whose ids do not change
    are not touched.  Returns how many rows changed."""
    t = target(kind)
    cols = t.columns
    tmp = f"bulk_{job}_{part}"
    conn.execute(text(f"CREATE TEMP TABLE {tmp} (id bigint, "
                      + ", ".join(f"{c} bigint" for c in cols) + ") ON COMMIT DROP"))
    # Binary COPY of fixed-size rows built by numpy; -1 stands for "no unit" (NULL below).
    rows = np.zeros(len(ids), dtype=_binary_rows("i" * (len(cols) + 1)))
    rows["n"] = len(cols) + 1
    rows["f0"] = ids
    for k in range(len(cols)):
        rows[f"f{k + 1}"] = values[:, k]
    for k in range(len(cols) + 1):
        rows[f"len{k}"] = 8
    with conn.connection.driver_connection.cursor() as cur, \
            cur.copy(f"COPY {tmp} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_HEADER + rows.tobytes() + b"\xff\xff")
    new = {c: f"nullif(s.{c}, -1)" for c in cols}
    changed = conn.execute(text(f"""
        UPDATE {t.table} x SET {', '.join(f'{c} = {new[c]}' for c in cols)}
        FROM {tmp} s WHERE x.id = s.id AND ({_where(t, 'x')})
          AND ({' OR '.join(f'x.{c} IS DISTINCT FROM {new[c]}' for c in cols)})""")).rowcount
    done = conn.execute(text("""
        UPDATE bulk_job_part SET done_at = now(), rows = :n, changed = :c, worker = :w
        WHERE job_id = :j AND part = :p AND done_at IS NULL"""),
        {"n": len(ids), "c": changed, "w": worker, "j": job, "p": part}).rowcount
    if done != 1:  # another run stored this range first: keep its results, not ours
        raise PartAlreadyDone(job, part)
    return int(changed)


class PartAlreadyDone(Exception):
    def __init__(self, job: int, part: int) -> None:
        super().__init__(f"part {part} of bulk job {job} was already stored")
        self.job, self.part = job, part
