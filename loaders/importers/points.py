"""The shared pipeline of point tables (households, cameras, incidents):

read → map columns → parse coordinates and fields (bad rows rejected with row, field, reason)
→ drop duplicate keys → assign to grids (`geo.assign.AssignmentEngine`) → COPY into a staging
table → merge on the natural key (`store.bulk`).  The per-kind modules only say how to parse
their fields and which upsert to call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from geo.assign import REASONS
from geo.levels import ALL_COLUMNS
from geo.levels import LEVEL_COLUMNS as _COLUMNS
from geo.policy import IntakePolicy
from loaders.importers.columns import require, resolve_columns
from loaders.importers.coords import lonlat_from_cells
from loaders.importers.options import LoadError, LoadOptions
from loaders.importers.progress import Progress
from loaders.importers.report import LoadReport, Rejects
from loaders.importers.tables import promote_header, read_table
from store import bulk

# Unit id columns by level (0 = county … 3 = grid) for tables that freeze every level.
LEVEL_COLUMNS = tuple(_COLUMNS.values())


@dataclass
class PointContext:
    """What a kind's ``prepare`` gets: the text table, its column map and the settings."""

    path: Path
    options: LoadOptions
    policy: IntakePolicy
    table: pd.DataFrame
    found: dict[str, str]
    rejects: Rejects
    report: LoadReport
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    @property
    def timezone(self) -> str:
        return self.policy.deadlines.timezone

    def cells(self, fld: str) -> pd.Series | None:
        """The text column of ``fld``, or None when the file has none."""
        col = self.found.get(fld)
        return None if col is None else self.table[col]

    def label(self, fld: str) -> str:
        """How to name ``fld`` in a reject: the file's own column name."""
        return self.found.get(fld, fld)


class PointKind(Protocol):
    KIND: str
    REQUIRED: tuple[str, ...]
    KEY: tuple[str, ...]
    STAGING: dict[str, str]
    ALLOW_UNLOCATED: bool

    def prepare(self, ctx: PointContext) -> dict[str, Any]: ...

    def store(self, conn: Connection, staging: str, ctx: PointContext) -> tuple[int, int]: ...


def load_points(conn: Connection, kind: PointKind, path: Path, options: LoadOptions,
                policy: IntakePolicy, progress: Progress, report: LoadReport
                ) -> tuple[Rejects, pd.DataFrame]:
    """Run the pipeline inside the caller's transaction; fills ``report`` and returns the
    rejects and the text table (the caller writes the rejects file once the transaction has
    succeeded)."""
    t0 = time.perf_counter()
    progress.stage(f"reading {path.name}")
    table, how = read_table(path, encoding=options.encoding, sheet=options.sheet)
    report.rows = len(table)
    report.notes.append(f"read as {how}")
    def has_required(columns: list[str]) -> bool:
        try:
            got = resolve_columns(kind.KIND, columns, options.mapping)
        except LoadError:
            return False
        return all(f in got for f in kind.REQUIRED)

    table = promote_header(table, has_required)
    found = resolve_columns(kind.KIND, table.columns, options.mapping)
    require(kind.KIND, found, kind.REQUIRED, table.columns)
    rejects = Rejects(len(table), first_row=table.attrs.get("first_row", 2))
    ctx = PointContext(path, options, policy, table, found, rejects, report)
    t1 = time.perf_counter()
    report.seconds["read"] = t1 - t0

    progress.stage("validating")
    engines: dict[str, Any] = {}

    def engine_of(c: Connection) -> Any:
        """One assignment engine per load (the datum check and the assignment share it)."""
        if "units" not in engines:
            engines["units"] = build_engine(c)
        return engines["units"]

    allow_missing = kind.ALLOW_UNLOCATED and options.allow_unlocated
    if not allow_missing or "lon" in found or "lat" in found:
        require(kind.KIND, found, ("lon", "lat"), table.columns)
    if "lon" in found:
        datum = options.datum or "wgs84"
        if datum in ("auto", "wgs84") and options.datum != "wgs84":
            datum = _check_datum(conn, kind, table, found, options, report, engine_of)
        lon, lat, swapped = lonlat_from_cells(
            table[found["lon"]], table[found["lat"]], datum, rejects,
            lon_field=found["lon"], lat_field=found["lat"], allow_missing=allow_missing)
        if swapped:
            report.notes.append(f"{swapped} row(s) had longitude and latitude swapped; "
                                "corrected")
    else:
        lon = lat = np.full(len(table), np.nan)
        report.notes.append("no coordinate columns: incidents are stored without location")
    columns = kind.prepare(ctx)
    _reject_duplicate_keys(ctx, columns, kind.KEY)
    keep = rejects.ok
    report.rejected = rejects.count

    progress.stage("assigning to grids")
    located = keep & np.isfinite(lon)
    snap_m = options.snap_m if options.snap_m is not None else policy.snap_m
    assigned = assign(conn, lon[located], lat[located], snap_m, engine_factory=engine_of)
    for reason, count in assigned.counts.items():
        report.reasons[reason] += count
    after = getattr(kind, "after_assign", None)
    if after is not None:
        after(ctx, columns, located, keep, assigned)
    n_unlocated = int((keep & ~np.isfinite(lon)).sum())
    if n_unlocated:
        report.notes.append(f"{n_unlocated} row(s) without coordinates stored unlocated")
    staged: dict[str, Any] = {}
    for name in kind.STAGING:
        if name == "lon":
            staged[name] = lon[keep]
        elif name == "lat":
            staged[name] = lat[keep]
        elif name in LEVEL_COLUMNS or name == "location_reason":
            staged[name] = assigned.spread(name, located, keep)
        elif name in ALL_COLUMNS:  # a level this deployment does not have
            staged[name] = np.full(int(keep.sum()), None, dtype=object)
        else:
            staged[name] = np.asarray(columns[name])[keep]
    t2 = time.perf_counter()
    report.seconds["validate+assign"] = t2 - t1

    n = int(keep.sum())
    staging = bulk.create_staging(conn, f"_load_{kind.KIND}", kind.STAGING)
    progress.start(f"storing {kind.KIND}", n)
    bulk.copy_columns(conn, staging, staged, progress=progress.update)
    progress.finish()
    progress.stage("merging")
    inserted, updated = kind.store(conn, staging, ctx)
    bulk.drop_staging(conn, staging)
    report.inserted, report.updated = inserted, updated
    report.unchanged = n - inserted - updated
    report.seconds["store"] = time.perf_counter() - t2
    return rejects, table


def _check_datum(conn: Connection, kind: PointKind, table: pd.DataFrame,
                 found: dict[str, str], options: LoadOptions, report: LoadReport,
                 engine_of: Callable[[Connection], Any]) -> str:
    """The datum to read the file's points in when the user did not name one (or said
    ``auto``): WGS84 unless another fits the units and the household register clearly better
    — then refused (with the evidence and the flag), or taken with ``--datum auto``."""
    from loaders.importers.coords import parse_degrees
    from loaders.importers.datum import clearly_best, fits

    sample = table.sample(min(len(table), 20_000), random_state=0)
    lon = parse_degrees(sample[found["lon"]])
    lat = parse_degrees(sample[found["lat"]])
    swap = np.isfinite(lon) & (lon < 60) & (lat > 60)  # the usual swapped columns
    lon[swap], lat[swap] = lat[swap], lon[swap].copy()
    try:
        engine = engine_of(conn)
    except LoadError:
        return "wgs84"  # no units yet: nothing to compare with
    found_fits = fits(conn, lon, lat, engine, use_households=kind.KIND != "households")
    best = clearly_best(found_fits)
    evidence = "\n".join("  " + f.line() for f in found_fits)
    if best is None or best.datum == "wgs84":
        if options.datum == "auto":
            report.notes.append("--datum auto: read as wgs84 (no other datum fits better)")
        return "wgs84"
    if options.datum == "auto":
        report.notes.append(f"--datum auto: read as {best.datum}, which fits clearly "
                            f"best:\n{evidence}")
        return best.datum
    raise LoadError(
        f"The coordinates look like {best.datum.upper()}, not WGS84: read each way, this "
        f"file's points compare with the units and the household register as\n{evidence}\n"
        f"Load it again with --datum {best.datum} (or --datum wgs84 to keep them as they "
        "are, or --datum auto to take the best fit).")


def _reject_duplicate_keys(ctx: PointContext, columns: dict[str, Any],
                           key: tuple[str, ...]) -> None:
    """Several good rows with one natural key (one ticket twice in a file): by
    ``--on-duplicate`` the first is loaded (default) or the last, and the others are
    rejected as duplicates of it — or all of them are rejected (``reject``)."""
    ok = ctx.rejects.ok
    idx = np.flatnonzero(ok)
    if not len(idx):
        return
    keys = pd.DataFrame({k: pd.Series(np.asarray(columns[k], dtype=object)[idx]) for k in key})
    rule = ctx.options.on_duplicate
    if rule not in ("first", "last", "reject"):
        raise LoadError(f"--on-duplicate {rule!r}: use first, last or reject")
    dup = keys.duplicated(keep=False if rule == "reject" else rule).to_numpy()
    if not dup.any():
        return
    group = keys.groupby(list(key), sort=False).ngroup().to_numpy()
    pick = "min" if rule != "last" else "max"
    kept_row = pd.Series(idx).groupby(group).transform(pick).to_numpy()
    label = "/".join(ctx.label(k) for k in key)
    first = ctx.rejects.first_row
    for i, j in zip(idx[dup], kept_row[dup], strict=True):
        why = (f"the same id is on several rows (first row {j + first}); --on-duplicate "
               "reject loads none of them") if rule == "reject" else \
            f"duplicate of row {j + first}, which is loaded (--on-duplicate {rule})"
        ctx.rejects.add_rows([i], label, why, ["/".join(str(columns[k][i]) for k in key)])


@dataclass
class Assigned:
    """Assignment of the located rows, spread back to the accepted rows when staging."""

    grid_id: np.ndarray
    unit_ids: np.ndarray
    reason: np.ndarray
    counts: dict[str, int]

    def spread(self, name: str, located: np.ndarray, keep: np.ndarray) -> np.ndarray:
        n = len(located)
        if name == "location_reason":
            full = np.full(n, None, dtype=object)
            full[located] = self.reason
        else:
            src = self.grid_id if name == "grid_id" else \
                self.unit_ids[:, LEVEL_COLUMNS.index(name)]
            vals = np.full(n, -1, dtype=np.int64)
            vals[located] = src
            full = np.full(n, None, dtype=object)
            full[vals >= 0] = vals[vals >= 0].tolist()
        return full[keep]


def assign(conn: Connection, lon: np.ndarray, lat: np.ndarray, snap_m: float | None,
           engine_factory: Callable[[Connection], Any] | None = None) -> Assigned:
    """Assign WGS84 points to grids and every level with the current units."""
    counts = dict.fromkeys(REASONS, 0)
    if len(lon) == 0:
        return Assigned(np.zeros(0, np.int64), np.zeros((0, len(LEVEL_COLUMNS)), np.int64),
                        np.zeros(0, dtype=object), counts)
    engine = (engine_factory or build_engine)(conn)
    res = engine.assign(lon, lat, snap_m=snap_m)
    counts.update(res.counts())
    unit_ids = res.unit_ids
    if unit_ids.shape[1] != len(LEVEL_COLUMNS):  # other depths: top level, …, grid level
        padded = np.full((len(lon), len(LEVEL_COLUMNS)), -1, dtype=np.int64)
        k = min(unit_ids.shape[1], len(LEVEL_COLUMNS)) - 1
        padded[:, :k] = unit_ids[:, :k]
        padded[:, -1] = unit_ids[:, -1]
        unit_ids = padded
    return Assigned(res.grid_id, unit_ids, res.reason.astype(object), counts)


def build_engine(conn: Connection) -> Any:
    """The assignment engine over the current units (refuses when there are none)."""
    from geo.assign import AssignmentEngine
    from store.repository import load_units_frame

    units = load_units_frame(conn)
    if units.empty:
        raise LoadError("There are no units in the database to assign points to; "
                        "load boundaries first (onemap load boundaries FILE).")
    return AssignmentEngine.build(units)
