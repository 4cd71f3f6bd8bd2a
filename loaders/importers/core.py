"""`run`: one load of one file, in one transaction — what the command and the planner call.

A failure (refused file, database error) rolls everything back; a dry run does the whole load
and then rolls back, so its counts (new / updated / unchanged / rejected, assignment reasons)
are exactly what a real load would report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from geo.policy import IntakePolicy, policy_from
from loaders.importers import cameras, households, incidents
from loaders.importers.options import KINDS, LoadError, LoadOptions
from loaders.importers.progress import Progress
from loaders.importers.report import LoadReport, Rejects, write_rejects
from onemap.settings import Settings

POINT_KINDS = {"households": households, "cameras": cameras, "incidents": incidents}


def default_rejects_path(path: Path) -> Path:
    """``<file>.rejects.csv`` next to the input."""
    return path.with_name(f"{path.stem}.rejects.csv")


@contextmanager
def _transaction(db: Engine | Connection, dry_run: bool) -> Iterator[Connection]:
    """One transaction (a savepoint when given a Connection already in one)."""
    with (db.connect() if isinstance(db, Engine) else nullcontext(db)) as conn:
        tx = conn.begin() if isinstance(db, Engine) else conn.begin_nested()
        try:
            yield conn
        except BaseException:
            tx.rollback()
            raise
        if dry_run:
            tx.rollback()
        else:
            tx.commit()


def run(kind: str, path: str | Path, options: LoadOptions | None = None, *,
        db: Engine | Connection, policy: IntakePolicy | None = None) -> LoadReport:
    """Load ``path`` as ``kind`` (boundaries, households, cameras, incidents).

    Points are placed, timed and (incidents) deduplicated by ``policy`` — the runtime
    context's intake policy, the same the API uses; the default settings' without one.

    Returns the report; raises :class:`LoadError` (or another OneMapError) when the file is
    refused as a whole, leaving the database untouched.  Rejected rows do not fail the load:
    they are listed in the report and written to the rejects file.
    """
    if kind not in KINDS:
        raise LoadError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    options = options or LoadOptions()
    policy = policy or policy_from(Settings())
    path = Path(path)
    if not path.exists():
        raise LoadError(f"File not found: {path}")
    report = LoadReport(kind=kind, path=str(path), dry_run=options.dry_run)
    progress = Progress(options.progress)
    rejects: Rejects
    table = None
    try:
        with _transaction(db, options.dry_run) as conn:
            if kind == "boundaries":
                from loaders.importers.boundaries import load_boundaries

                rejects, table = load_boundaries(conn, path, options, progress, report)
            else:
                from loaders.importers.points import load_points

                rejects, table = load_points(conn, POINT_KINDS[kind], path, options, policy,
                                             progress, report)
    except (IntegrityError, DataError) as exc:
        raise LoadError(f"The database refused the load of {path.name}; nothing was written. "
                        f"{str(exc.orig).strip().splitlines()[0]}",
                        detail=str(exc)) from exc
    finally:
        progress.finish()
    report.rejects = rejects.items()
    if rejects.count and (not options.dry_run or options.rejects_path):
        out = options.rejects_path or default_rejects_path(path)
        report.rejects_path = str(write_rejects(Path(out), table, rejects))
    if report.repairs and not options.dry_run:  # every change of --repair, for the planner
        import pandas as pd

        repairs = path.with_name(path.name + ".repairs.csv")
        pd.DataFrame(report.repairs).to_csv(repairs, index=False, encoding="utf-8-sig")
        report.notes.append(f"repairs listed in {repairs}")
    return report
