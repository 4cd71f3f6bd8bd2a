"""Monthly partitions of ``incident_event`` (migration 0016): make them ahead, list them,
archive old months.

Future months are made by the app itself — the escalation scheduler calls :func:`ahead` once
an hour, and ``onemap db partitions`` does on demand — rather than by pg_partman: that needs
an extension installed by a superuser on every server and its background worker preloaded
(a restart), for what is one ``CREATE TABLE … PARTITION OF`` a month; the SQL function
``onemap_event_partitions`` does it wherever OneMap runs, managed PostgreSQL included.  Rows
outside every month land in ``incident_event_default``, so an insert never fails for want of
a partition.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from store import tally

MONTHS_AHEAD = 12


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: the DEFAULT partition
    end: datetime | None
    rows: int


def ensure(conn: Connection, lo: datetime, hi: datetime) -> int:
    """Make the months from ``lo`` to ``hi`` that are missing; returns how many were made
    (0 on a schema from before the partitioning, migration 0016)."""
    if conn.execute(text("SELECT to_regprocedure("
                         "'onemap_event_partitions(timestamptz, timestamptz)')")).scalar() is None:
        return 0
    return int(conn.execute(text("SELECT onemap_event_partitions(:lo, :hi)"),
                            {"lo": lo, "hi": hi}).scalar_one())


def ahead(conn: Connection, months: int = MONTHS_AHEAD) -> int:
    """This month and the next ``months``."""
    return int(conn.execute(text(
        "SELECT onemap_event_partitions(now(), now() + make_interval(months => :m))"),
        {"m": months}).scalar_one())


def listing(conn: Connection, *, counts: bool = True) -> list[Partition]:
    rows = conn.execute(text("""
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'FROM \\(''([^'']+)''\\) TO'))[1] AS lo,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'TO \\(''([^'']+)''\\)'))[1] AS hi
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'incident_event'::regclass
        ORDER BY lo NULLS LAST, c.relname""")).all()
    out = []
    for name, lo, hi in rows:
        n = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one() if counts else -1
        out.append(Partition(name, datetime.fromisoformat(lo) if lo else None,
                             datetime.fromisoformat(hi) if hi else None, int(n)))
    return out


@dataclass(frozen=True)
class Archived:
    partition: str
    rows: int
    path: Path
    sha256: str


def archive(engine: Engine, before: date, directory: Path) -> list[Archived]:
    """Detach every month that ends on or before ``before`` and move its rows to
    ``directory/<partition>.csv.gz`` (+ ``.json`` with the count and the file's sha256).

    One transaction per month: detach, take its escalations out of the monthly tallies,
    write and fsync the file, check the rows written, drop the table, commit — a failure
    leaves that month attached and its file removed."""
    directory.mkdir(parents=True, exist_ok=True)
    cutoff = datetime(before.year, before.month, before.day, tzinfo=UTC)  # months are UTC
    done: list[Archived] = []
    with engine.connect() as conn:
        months = [p for p in listing(conn, counts=False)
                  if p.end is not None and p.end <= cutoff]
    for part in months:
        path = directory / f"{part.name}.csv.gz"
        try:
            with engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE incident_event DETACH PARTITION "{part.name}"'))
                if conn.execute(text("SELECT to_regclass('incident_tally')")).scalar():
                    tally.forget_events(conn, part.name)  # its escalations leave the report
                raw = conn.connection.driver_connection
                digest = hashlib.sha256()
                with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb") as gz, \
                        raw.cursor() as cur, \
                        cur.copy(f'COPY "{part.name}" TO STDOUT (FORMAT csv, HEADER)') as copy:
                    for chunk in copy:
                        gz.write(chunk)
                with open(path, "rb") as written:
                    for block in iter(lambda: written.read(1 << 20), b""):
                        digest.update(block)
                    os.fsync(written.fileno())
                with gzip.open(path, "rt", encoding="utf-8", newline="") as back:
                    rows = sum(1 for _ in csv.reader(back)) - 1  # notes may hold newlines
                expected = conn.execute(text(f'SELECT count(*) FROM "{part.name}"')).scalar_one()
                if rows != expected:
                    raise OSError(f"{path} holds {rows} rows, the month {expected}")
                conn.execute(text(f'DROP TABLE "{part.name}"'))
        except Exception:
            path.unlink(missing_ok=True)
            raise
        meta = {"partition": part.name, "from": part.start.isoformat(),
                "to": part.end.isoformat(), "rows": rows, "sha256": digest.hexdigest(),
                "archived_at": datetime.now().astimezone().isoformat()}
        path.with_suffix("").with_suffix(".json").write_text(json.dumps(meta, indent=1))
        done.append(Archived(part.name, rows, path, digest.hexdigest()))
    return done
