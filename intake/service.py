"""Intake and handling: report → locate → assign to grid → store once → act → escalate.

Every channel (native API, Open311, batch, the command wall) goes through this module, so a
report is validated, placed and deduplicated the same way whatever door it came in by.  Each
public function owns one transaction: when it returns, what it reports is committed; when it
raises, nothing was written.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection

from accounts.audit import audit
from geo.catalog import CATEGORY_BY_CODE
from geo.crs import to_wgs84
from geo.deadlines import DeadlineRules
from geo.levels import COUNTY, GRID, LEVEL_COLUMNS, LEVEL_KEYS, level_zh, unit_columns
from geo.privacy import mask_name
from geo.workflow import (
    FIELD_ACTIONS,
    NOTE_ACTIONS,
    OPEN_STATES,
    TOP_LEVEL,
    WorkflowError,
    step,
)
from intake import citizen, oversight
from intake import field as field_work
from intake.schema import ActionIn, Location, ReportError, ReportIn, parse_report
from onemap.access import SYSTEM, can
from onemap.context import Runtime
from store import incidents as db_incidents
from store import scope
from store.units import Places

SYSTEM_ACTOR = SYSTEM.name


# -- placing a report ------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    lon: float | None
    lat: float | None
    reason: str  # inside / edge / gap / outside / snapped / address / unmatched
    unit_ids: dict[int, int | None]  # level → unit id
    distance_m: float | None = None

    @property
    def located(self) -> bool:
        return any(v is not None for v in self.unit_ids.values())

    @property
    def handling_level(self) -> int | None:
        levels = [lvl for lvl, uid in self.unit_ids.items() if uid is not None]
        return max(levels) if levels else None


def _assign(p: Places, lon: float, lat: float, snap_m: float,
            reason_override: str | None = None) -> Placement:
    if p.engine is None:
        return Placement(lon, lat, "outside", {k: None for k in LEVEL_KEYS})
    result = p.engine.assign(np.array([lon]), np.array([lat]), snap_m=snap_m)
    reason = str(result.reason[0])
    ids = result.unit_ids[0]
    unit_ids = {lvl: (int(ids[lvl]) if lvl < len(ids) and ids[lvl] >= 0 else None)
                for lvl in LEVEL_KEYS}
    if reason == "outside":
        unit_ids = {k: None for k in LEVEL_KEYS}
    return Placement(lon, lat, reason_override if reason != "outside" and reason_override
                     else reason, unit_ids, float(result.distance_m[0]))


def _wgs84(location: Location) -> tuple[float, float]:
    x, y = to_wgs84(location.lon, location.lat, location.datum)
    return float(np.asarray(x).ravel()[0]), float(np.asarray(y).ravel()[0])


def place(conn: Connection, p: Places, report: ReportIn, snap_m: float) -> Placement:
    """Where the report is: its coordinates (in WGS84), else its address on the register."""
    if report.location is not None:
        return _assign(p, *_wgs84(report.location), snap_m)
    match = db_incidents.locate_address(conn, report.address or "")
    if match is None:
        return Placement(None, None, "unmatched", {k: None for k in LEVEL_KEYS})
    return _assign(p, match.lon, match.lat, snap_m, reason_override="address")


# -- submitting ------------------------------------------------------------------------------

@dataclass
class SubmitResult:
    created: bool
    incident: dict[str, Any]
    duplicate_of: int | None = None
    warnings: list[str] = field(default_factory=list)
    citizen_url: str | None = None  # /r/<token>: progress and rating for the reporter

    @property
    def http_status(self) -> int:
        return 201 if self.created else 200


def _check_channel(report: ReportIn, rt: Runtime) -> None:
    key = rt.actor
    if not can(key, "incident.submit", report):
        raise ReportError(
            f"this API key belongs to channel {key.source!r} and cannot submit reports of "
            f"{report.source!r}", [("source", f"must be {key.source!r} for this API key")],
            status=403, code="forbidden")


def _local(dt: datetime | None, tz: str) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=ZoneInfo(tz)) if dt.tzinfo is None else dt


def submit(rt: Runtime, report: ReportIn, *, idempotency_key: str | None = None,
           received_at: datetime | None = None, conn: Connection | None = None
           ) -> SubmitResult:
    """Store one validated report exactly once.

    The same (source, external_id) or the same ``idempotency_key`` returns the stored case
    (``created`` False) and writes nothing.  An Idempotency-Key reused for a different report
    is refused.  With ``conn`` the caller owns the transaction (batches use savepoints).
    """
    _check_channel(report, rt)
    settings, policy = rt.settings, rt.policy
    if conn is None:
        with rt.engine.begin() as own:
            return submit(rt, report, idempotency_key=idempotency_key,
                          received_at=received_at, conn=own)
    fingerprint = report.fingerprint()
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise ReportError("Idempotency-Key must be 1-200 characters",
                          [("Idempotency-Key", "must be 1-200 characters")], status=400)
    # Keys are scoped by channel: two channels may happen to choose the same key.
    scoped_key = f"{report.source}:{idempotency_key}" if idempotency_key else None
    p = rt.units.places()
    where = place(conn, p, report, policy.snap_m)
    placed = {"source": report.source,
              "unit_ids": [u for u in where.unit_ids.values() if u is not None]
              if where.located else []}
    if not can(rt.actor, "incident.submit", placed):
        raise ReportError(
            "this report lies outside the area of this key or user (its scope); nothing was "
            "stored", [("location", "outside your area")], status=403, code="out_of_scope")
    now = received_at or datetime.now(UTC)
    severity = report.effective_severity
    level = where.handling_level
    rules = policy.deadlines
    duplicate_of = None
    if where.located and where.lon is not None:
        duplicate_of = db_incidents.near_duplicate(
            conn, report.category, where.lon, where.lat, now, policy.duplicate_radius_m,
            policy.duplicate_seconds)
    category = CATEGORY_BY_CODE[report.category]
    grid_id = where.unit_ids.get(GRID)
    row = {
        "source": report.source, "external_id": report.external_id,
        "category": report.category, "subcategory": report.subcategory, "severity": severity,
        "description": report.description, "address": report.address,
        "location_reason": where.reason,
        "reported_at": _local(report.reported_at, settings.timezone), "received_at": now,
        "status": "received" if where.located else "unlocated",
        **unit_columns(where.unit_ids),
        "handling_level": level,
        "department_id": p.department(category.department, where.unit_ids.get(COUNTY)),
        "grid_worker_id": p.workers.get(grid_id) if grid_id is not None else None,
        "due_at": rules.due(now, level, severity),
        "idempotency_key": scoped_key, "request_hash": fingerprint,
        "duplicate_of": duplicate_of,
        "reporter": report.reporter.model_dump(exclude_none=True) if report.reporter else None,
        "media_urls": list(report.photo_urls) or None,
    }
    incident = db_incidents.insert_incident(conn, row, where.lon, where.lat,
                                            citizen_hash=lambda i: citizen.hash_for(rt, i))
    if incident is None:
        existing = db_incidents.find_existing(conn, report.source, report.external_id,
                                              scoped_key)
        if existing is None:  # pragma: no cover - a conflict implies a row
            raise ReportError("the report conflicts with a stored one; retry", status=409,
                              code="conflict")
        if idempotency_key and existing["request_hash"] != fingerprint and (
                existing["source"], existing["external_id"]) != (report.source,
                                                                 report.external_id):
            raise ReportError(
                f"Idempotency-Key {idempotency_key!r} was already used for another report "
                f"(incident {existing['id']}); use a new key for a new report",
                [("Idempotency-Key", "already used for a different report")],
                status=422, code="idempotency_conflict")
        known = db_incidents.get_incident(conn, existing["id"], with_events=False)
        return SubmitResult(False, known, known.get("duplicate_of"),
                            citizen_url=citizen.issue(rt, conn, existing["id"]))
    new_id = incident["id"]
    note = None
    if not where.located:
        note = ("地址未能匹配，待人工定位" if where.reason == "unmatched"
                else f"位置不在辖区内（距最近网格 {where.distance_m or 0:.0f} 米），待人工定位")
    elif duplicate_of is not None:
        note = policy.duplicate_note(duplicate_of)
    db_incidents.append_event(conn, new_id, rt.actor.name, "receive", None, row["status"],
                              note, at=now)
    citizen_url = citizen.PATH + citizen.token_for(rt, new_id)  # its hash came with the row
    warnings = []
    if not where.located:
        warnings.append("unlocated: an operator must place this report on the map")
    if duplicate_of is not None:
        warnings.append(f"near-duplicate of incident {duplicate_of}")
    # Last: the audit row takes the hash chain's lock until commit, so nothing else may run
    # while it is held (this ordering alone lifted the intake ceiling, bench/ingest.py).
    audit(rt, "incident.submit", object_type="incident", object_id=new_id, conn=conn,
          detail={"source": report.source, "external_id": report.external_id})
    return SubmitResult(True, incident, duplicate_of, warnings, citizen_url=citizen_url)


@dataclass
class BatchItem:
    index: int
    status: int
    result: SubmitResult | None = None
    error: ReportError | None = None


def submit_batch(rt: Runtime, items: list[Any]) -> list[BatchItem]:
    """Up to 10,000 reports, one result each, committed together at the end.

    A bad item is answered with its error and does not stop the others (each item runs in a
    savepoint).  If the final commit fails, the caller answers 5xx: nothing was stored.
    """
    out: list[BatchItem] = []
    with rt.engine.begin() as conn:
        for i, raw in enumerate(items):
            try:
                report = parse_report(raw, prefix=f"items[{i}]")
                with conn.begin_nested():
                    result = submit(rt, report, conn=conn)
                out.append(BatchItem(i, result.http_status, result))
            except ReportError as err:
                out.append(BatchItem(i, err.status, error=err))
    return out


# -- acting on a case ------------------------------------------------------------------------

REPORTER_ACTIONS = frozenset({"rate"})


def client_key(rt: Runtime, idempotency_key: str | None) -> str | None:
    """The stored form of an action's ``Idempotency-Key``: scoped to who sends it."""
    if idempotency_key is None:
        return None
    if not 1 <= len(idempotency_key) <= 120:
        raise ReportError("Idempotency-Key must be 1-120 characters",
                          [("Idempotency-Key", "1-120 characters")])
    return f"{rt.actor.kind}:{rt.actor.id}:{idempotency_key}"


def act(rt: Runtime, incident_id: int, action: ActionIn, *,
        idempotency_key: str | None = None) -> dict[str, Any]:
    """Apply one workflow action (locked, validated by :func:`geo.workflow.step`, recorded as
    an event).  Raises :class:`ReportError` (404/403/409/422) when it cannot be done.

    With an ``idempotency_key`` an action sent again (a phone that lost the answer, an
    offline queue replayed) is stored once: the second call returns the case as it is."""
    key = rt.actor
    ckey = client_key(rt, idempotency_key)
    with rt.engine.begin() as conn:
        row = db_incidents.lock_incident(conn, incident_id)
        if row is None:
            raise ReportError(f"there is no incident {incident_id}", status=404,
                              code="not_found")
        if ckey is not None and db_incidents.has_client_key(conn, incident_id, ckey):
            return db_incidents.get_incident(conn, incident_id)
        if action.action in NOTE_ACTIONS:
            return oversight.note_from_above(rt, conn, row, action, client_key=ckey)
        if action.action in FIELD_ACTIONS:
            return field_work.check_in(rt, conn, row, action, client_key=ckey)
        if not can(key, "incident.act", row):
            if action.action not in REPORTER_ACTIONS or not can(key, "incident.rate", row):
                audit(rt, "incident.act", object_type="incident", object_id=incident_id,
                      result="denied", detail={"action": action.action})
                raise ReportError(
                    f"a {key.source} reporter key may only rate its own channel's cases; "
                    f"{action.action!r} needs an operator key", status=403, code="forbidden")
        try:
            s = step(row["status"], action.action, level=row["handling_level"],
                     note=action.note, rating=action.rating, current_rating=row["rating"])
        except WorkflowError as err:
            raise ReportError(str(err), [("action", str(err))], status=409,
                              code="illegal_transition") from None
        now = datetime.now(UTC)
        values: dict[str, Any] = {"status": s.to_status}
        note = action.note
        rules = rt.policy.deadlines
        if s.action == "locate":
            values.update(_locate_values(rt, action))
            s_level = values["handling_level"]
        else:
            s_level = s.to_level
        if s.action in ("escalate", "return"):
            column = LEVEL_COLUMNS[s.to_level]
            if row[column] is None:
                raise ReportError(f"cannot {s.action}: the incident has no "
                                  f"{LEVEL_KEYS[s.to_level]} unit (it lies in a blank area)",
                                  [("action", "no unit at that level")], status=409,
                                  code="illegal_transition")
            values["handling_level"] = s.to_level
        if s.restarts_deadline:
            values["due_at"] = rules.due(now, s_level, row["severity"])
        if s.done:
            values["closed_at"] = now
        if s.action == "rate":
            values["rating"] = action.rating
            note = f"评价：{action.rating}" + (f"；{note}" if note else "")
        if s.action == "reopen":
            values.update(closed_at=None, rating=None)
        if s.action == "dispatch":
            values.update(_dispatch_values(rt, row, action))
            note = _dispatch_note(conn, values) + (f"；{note}" if note else "")
        db_incidents.update_incident(conn, incident_id, values)
        db_incidents.append_event(conn, incident_id, action.actor or key.name, s.action,
                                  s.from_status, s.to_status, note, at=now, client_key=ckey)
        audit(rt, "incident.act", object_type="incident", object_id=incident_id, conn=conn,
              detail={"action": s.action, "from": s.from_status, "to": s.to_status})
        return db_incidents.get_incident(conn, incident_id)


def _locate_values(rt: Runtime, action: ActionIn) -> dict[str, Any]:
    if action.location is None:
        raise ReportError("locate needs a 'location' (lon, lat, datum)",
                          [("location", "is required to locate")])
    p = rt.units.places()
    where = _assign(p, *_wgs84(action.location), rt.policy.snap_m, reason_override="manual")
    if not where.located:
        raise ReportError("that place is outside every unit of the jurisdiction; place the "
                          "report inside a grid", [("location", "outside the jurisdiction")])
    grid_id = where.unit_ids.get(GRID)
    return {"lon": where.lon, "lat": where.lat, "location_reason": "manual",
            **unit_columns(where.unit_ids),
            "handling_level": where.handling_level,
            "grid_worker_id": p.workers.get(grid_id) if grid_id is not None else None}


def _dispatch_values(rt: Runtime, row: dict[str, Any], action: ActionIn
                     ) -> dict[str, Any]:
    p = rt.units.places()
    code = action.department or CATEGORY_BY_CODE.get(row["category"],
                                                     CATEGORY_BY_CODE["other"]).department
    dept_id = p.department(code, row["county_id"])
    if dept_id is None:
        raise ReportError(f"unknown department {code!r}",
                          [("department", "must be a department code, e.g. "
                            + ", ".join(sorted(p.departments)[:5]))])
    support: list[int] = []
    for other in action.support or ():
        other_id = p.department(other, row["county_id"])
        if other_id is None:
            raise ReportError(f"unknown supporting department {other!r}",
                              [("support", "must be department codes")])
        if other_id != dept_id and other_id not in support:
            support.append(other_id)
    worker = row["grid_worker_id"] or (p.workers.get(row["grid_id"]) if row["grid_id"]
                                       else None)
    return {"department_id": dept_id, "support_department_ids": support,
            "grid_worker_id": worker}


def _dispatch_note(conn: Connection, values: dict[str, Any]) -> str:
    dept, worker = db_incidents.dispatch_names(conn, values["department_id"],
                                               values.get("grid_worker_id"))
    # The history is read by everyone who sees the case: the worker's name goes in masked.
    supervise = f"网格员{mask_name(worker)}督办" if worker else "无网格员督办"
    support = db_incidents.department_names(conn, values.get("support_department_ids") or [])
    helpers = f"，{'、'.join(support)}协办" if support else ""
    return f"双派单：{dept}主办{helpers}，{supervise}"


# -- the escalation job ----------------------------------------------------------------------

@dataclass
class EscalationRun:
    escalated: int = 0
    marked_at_top: int = 0
    marked_no_parent: int = 0  # no unit above (a blank area): marked, left for an operator
    skipped: bool = False  # another run held the job lock

    def __str__(self) -> str:
        if self.skipped:
            return "another escalation run is in progress; nothing done"
        text_ = (f"escalated {self.escalated} overdue incident(s); {self.marked_at_top} "
                 "overdue at the top level marked (no level above)")
        if self.marked_no_parent:
            text_ += f"; {self.marked_no_parent} with no unit above marked for an operator"
        return text_


JOB_LOCK = 0x4F4E454D  # 'ONEM': the advisory lock id of the escalation job


def escalate_overdue(rt: Runtime, *, batch: int = 500, exclusive: bool = True,
                     now: datetime | None = None) -> EscalationRun:
    """Escalate every open incident past its due time one level up, once per missed deadline.

    Safe to run twice at once: rows are taken ``FOR UPDATE SKIP LOCKED`` and re-checked, so a
    case is escalated by one run only; with ``exclusive`` a second run simply returns.  The
    county is the end of the line: an overdue case there is marked overdue, not moved.
    """
    run = EscalationRun()
    rules = rt.policy.deadlines
    db = rt.engine
    with db.connect() as lock_conn:
        if exclusive and not db_incidents.try_job_lock(lock_conn, JOB_LOCK):
            run.skipped = True
            return run
        try:
            while True:
                with db.begin() as conn:
                    rows = db_incidents.overdue_candidates(conn, OPEN_STATES, batch)
                    for row in rows:
                        _escalate_one(conn, row, rules, run, now or datetime.now(UTC))
                if len(rows) < batch:
                    break
        finally:
            if exclusive:
                db_incidents.release_job_lock(lock_conn, JOB_LOCK)
    return run


def _escalate_one(conn: Connection, row: dict[str, Any], rules: DeadlineRules,
                  run: EscalationRun, now: datetime) -> None:
    level = row["handling_level"]
    missed = row["due_at"]
    local_due = missed.astimezone(ZoneInfo(rules.timezone)).strftime("%Y-%m-%d %H:%M")
    up = level - 1 if level is not None and level > TOP_LEVEL else None
    if up is not None and row[LEVEL_COLUMNS[up]] is not None:
        s = step(row["status"], "escalate", level=level)
        due = rules.due(now, up, row["severity"])
        db_incidents.update_incident(conn, row["id"], {
            "status": s.to_status, "handling_level": up, "due_at": due, "overdue": True,
            "missed_due_at": missed})
        db_incidents.append_event(conn, row["id"], SYSTEM_ACTOR, "escalate", row["status"],
                                  s.to_status, f"超过办理时限（{local_due}）未办结，自动上报至"
                                  f"{level_zh(up)}", at=now)
        run.escalated += 1
    else:
        at_top = up is None
        why = ("已在最高层级（终点站），不再上报" if at_top
               else "上级单元缺失（位于空白区域），无法上报，请人工处理")
        db_incidents.update_incident(conn, row["id"], {"overdue": True, "missed_due_at": missed})
        db_incidents.append_event(conn, row["id"], SYSTEM_ACTOR, "overdue", row["status"],
                                  row["status"], f"超过办理时限（{local_due}）未办结；{why}",
                                  at=now)
        if at_top:
            run.marked_at_top += 1
        else:
            run.marked_no_parent += 1


class EscalationScheduler:
    """Runs :func:`escalate_overdue` every ``every_s`` seconds in a daemon thread (one per
    server process; the job lock makes parallel processes take turns)."""

    def __init__(self, rt: Runtime, every_s: float) -> None:
        self.rt, self.every_s = rt.acting_as(SYSTEM), every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="onemap-escalation",
                                        daemon=True)
        self.last: EscalationRun | None = None
        self.last_error: str | None = None

    def start(self) -> EscalationScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from store import partitions, tally

        months_checked = -1e9
        while not self._stop.wait(self.every_s):
            try:
                with scope.acting(SYSTEM):
                    self.last = escalate_overdue(self.rt)
                    if time.monotonic() - months_checked > 3600:  # the history's months ahead
                        with self.rt.engine.begin() as conn:
                            partitions.ahead(conn)
                            tally.compact(conn)  # fold the monthly tallies' delta rows
                        months_checked = time.monotonic()
                self.last_error = None
            except Exception as exc:  # keep the thread alive across a database restart
                self.last_error = f"{type(exc).__name__}: {exc}"

