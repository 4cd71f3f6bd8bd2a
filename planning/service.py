"""The grid-planning service: one preview, one save and one file import, used by the planner
page, the QGIS round trip (`onemap plan import`) and the tests.

The path of a boundary edit reads in one place: edit (a :class:`geo.planning.Proposal`) →
:func:`preview` (validate + impact, with the household band of :func:`band`) → :func:`save`
(lock, write, reassign in :mod:`store.planning`) → the runtime's "units changed" signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from accounts.audit import audit
from geo.planning import KINDS, Proposal, band_for, impact, validate
from geo.planning import assign as assign_points
from geo.planning import successors as gp_successors
from loaders.importers.options import LoadError
from loaders.planner_files import proposals_from_layer, read_layer
from onemap.access import can
from onemap.context import Runtime
from onemap.settings import Settings
from store import planning as sp


def band(settings: Settings, parent_name: str) -> tuple[int, int]:
    """Target households per grid for a parent (communities urban, villages rural)."""
    return band_for(parent_name, settings.grid_households_urban,
                    settings.grid_households_rural)


@dataclass
class Preview:
    """A proposal checked and previewed: what the page shows and the import prints."""

    context: Any  # geo.planning.PlanContext
    proposal: Proposal
    validation: Any  # geo.planning.Validation
    impact: Any  # geo.planning.Impact
    saved: Any = None  # store.planning.SaveResult once saved


def preview(rt: Runtime, proposal: Proposal, *, db: Any = None) -> Preview:
    """Validate ``proposal`` against the current units of its parent and count what moves.
    Raises :class:`onemap.errors.OneMapError` when the parent changed under the proposal."""
    db = rt.engine if db is None else db
    context = sp.plan_context(db, proposal.parent_id)
    validation = validate(context, proposal)
    points = sp.plan_points(db, proposal)
    result = impact(context, proposal, households=points["households"],
                    cameras=points["cameras"], incidents=points["incidents"],
                    workers=points["workers"], band=band(rt.settings, context.parent_name))
    return Preview(context, proposal, validation, result)


def save(rt: Runtime, proposal: Proposal, *, actor: str, effective: datetime | None = None,
         note: str = "", db: Any = None) -> Any:
    """Save one proposal in one transaction (a savepoint when ``db`` is the caller's
    Connection): lock, re-validate against the grids as they are now, decide which new grid
    holds every household, camera and open incident (the same points and rule as the
    preview, so the saved result equals it), write, and signal that the units changed.
    Raises :class:`store.planning.PlanConflict` or :class:`store.planning.PlanError`; then
    nothing was written."""
    if not actor or not actor.strip():
        raise sp.PlanError("请填写操作人 / actor is required (who saves the plan)")
    if proposal.kind not in KINDS:
        raise sp.PlanError(f"未知的编辑类型 {proposal.kind!r} / unknown kind "
                           f"{proposal.kind!r}; expected one of {', '.join(KINDS)}")
    if not proposal.removed and not proposal.added:
        raise sp.PlanError("提案没有任何改动 / the proposal changes nothing")
    # The parent must be one of the actor's units (the scoped tree holds only those).
    if not can(rt.actor, "plan.save") or proposal.parent_id not in rt.units.tree().units:
        audit(rt, "plan.save", object_type="unit", object_id=proposal.parent_id,
              result="denied")
        raise sp.PlanError("无权调整该单元的网格 / you may not redraw the grids of this unit")
    detail = {"kind": proposal.kind, "removed": list(proposal.removed),
              "added": [u.code for u in proposal.added], "note": note or proposal.note}
    if db is None or isinstance(db, Engine):
        with (db or rt.engine).begin() as conn:
            result = _save(conn, proposal, actor=actor, effective=effective, note=note)
            audit(rt, "plan.save", object_type="unit", object_id=proposal.parent_id,
                  conn=conn, detail=detail)
        rt.units.changed()
        return result
    with db.begin_nested():
        result = _save(db, proposal, actor=actor, effective=effective, note=note)
        audit(rt, "plan.save", object_type="unit", object_id=proposal.parent_id, conn=db,
              detail=detail)
        return result


def _save(conn: Connection, proposal: Proposal, *, actor: str, effective: datetime | None,
          note: str) -> Any:
    locked = sp.lock_plan(conn, proposal, effective)
    ctx = sp.plan_context(conn, proposal.parent_id)  # as it is now, after the locks
    _refuse_errors(validate(ctx, proposal))
    successors = gp_successors(ctx, proposal) if proposal.removed else {}
    points = sp.plan_points(conn, proposal)  # before any write: the preview's points
    codes = {key: (list(assign_points(proposal.added, points[key].xy))
                   if len(points[key].ids) else [])
             for key in ("households", "cameras", "incidents")}
    unlocated = sp.unlocated_open_incidents(conn, locked.removed)
    return sp.write_plan(conn, proposal, locked, points=points, codes=codes,
                         successors=successors, unlocated=unlocated, actor=actor, note=note)


def _refuse_errors(validation: Any) -> None:
    if validation.ok:
        return
    errors = [p for p in validation.introduced if p.severity == "error"]
    lines = "；".join(p.message for p in errors[:5])
    more = f"（另有 {len(errors) - 5} 个）/ (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    raise sp.PlanError(f"规划有 {len(errors)} 个错误，未保存：{lines}{more} / the plan has "
                       f"{len(errors)} error(s) and was not saved; fix them and save again")


ParentImport = Preview


@dataclass
class ImportOutcome:
    """What `onemap plan import` found and did."""

    path: str
    rows: int
    parts: list[ParentImport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """No introduced errors in any parent (warnings such as gaps allowed)."""
        return all(part.validation.ok for part in self.parts)

    @property
    def saved(self) -> bool:
        return bool(self.parts) and all(part.saved is not None for part in self.parts)


def import_file(rt: Runtime, path: Path | str, *, actor: str, effective: Any = None,
                dry_run: bool = False) -> ImportOutcome:
    """Read, compare, validate and preview an edited file; save every parent's proposal in
    one transaction (all parents or none) unless ``dry_run`` or any validation error.
    Row problems raise :class:`loaders.planner_files.PlanFileError`; a stale file raises
    :class:`store.planning.PlanConflict` — in both cases nothing is written."""
    frame = read_layer(path)
    outcome = ImportOutcome(path=str(path), rows=len(frame), notes=list(frame.attrs["notes"]),
                            dry_run=dry_run)
    with rt.engine.connect() as conn:
        for proposal in proposals_from_layer(conn, frame):
            outcome.parts.append(preview(rt, proposal, db=conn))
    if outcome.parts and outcome.ok and not dry_run:
        with rt.engine.begin() as conn:  # every parent or none
            saved = [save(rt, part.proposal, actor=actor, effective=effective,
                          note=part.proposal.note, db=conn) for part in outcome.parts]
        rt.units.changed()
        for part, result in zip(outcome.parts, saved, strict=True):
            part.saved = result
    return outcome


# --- text for the command ---------------------------------------------------------------------
_COUNTS = ("households", "persons", "cameras", "workers", "open_incidents")


def describe(outcome: ImportOutcome) -> str:
    """The report `onemap plan import` prints: per parent what changes, the problems the edit
    introduces and the before → after table."""
    name = Path(outcome.path).name
    lines = [f"{name}: {outcome.rows} grid(s) in the file"]
    lines += [f"  note: {n}" for n in outcome.notes]
    if not outcome.parts:
        lines.append("  no changes: the file matches the current grids")
        return "\n".join(lines)
    for part in outcome.parts:
        ctx, val, imp = part.context, part.validation, part.impact
        statuses = [u.status for u in imp.units]
        lines.append("")
        lines.append(f"{ctx.parent_name} ({ctx.parent_code}): "
                     f"{statuses.count('changed')} changed, {statuses.count('new')} new, "
                     f"{statuses.count('retired')} retired")
        errors = [p for p in val.introduced if p.severity == "error"]
        warns = [p for p in val.introduced if p.severity != "error"]
        verdict = "OK" if val.ok else "REFUSED"
        lines.append(f"  validation: {verdict} — {len(errors)} error(s), {len(warns)} "
                     f"warning(s) introduced; {len(val.existing)} already there before")
        codes = dict(zip(ctx.units["id"].astype(int), ctx.units["code"], strict=True))
        codes.update({-(i + 1): u.code for i, u in enumerate(part.proposal.added)})
        for p in errors + warns:
            which = ", ".join(str(codes.get(int(i), i)) for i in p.unit_ids)
            lines.append(f"    {p.severity} {p.kind}: {p.message}"
                         + (f" [grids {which}]" if which else ""))
        header = f"    {'code':<18} {'status':<8} " + " ".join(f"{c:>16}" for c in _COUNTS) \
            + "  band    name"
        lines.append("  impact (before → after):")
        lines.append(header)
        for u in imp.units:
            cells = " ".join(f"{u.before.get(c, 0):>7} → {u.after.get(c, 0):<6}"
                             for c in _COUNTS)
            lines.append(f"    {u.code:<18} {u.status:<8} {cells}  {u.band:<7} {u.name}")
        if imp.moved_incidents:
            shown = ", ".join(f"#{i} → {code or 'no grid'}"
                              for i, _, code in imp.moved_incidents[:10])
            more = f" … {len(imp.moved_incidents) - 10} more" \
                if len(imp.moved_incidents) > 10 else ""
            lines.append(f"  open incidents changing grid: {len(imp.moved_incidents)} "
                         f"({shown}{more})")
        left = {k: v for k, v in imp.unassigned.items() if v}
        if left:
            lines.append("  left in no grid: " + ", ".join(f"{k} {v}" for k, v in left.items()))
        if part.saved is not None:
            lines.append(f"  saved as change #{part.saved.change_id}")
    lines.append("")
    if not outcome.ok:
        lines.append("Nothing saved: fix the errors above and import again.")
    elif outcome.dry_run:
        lines.append("DRY RUN — nothing saved.")
    elif outcome.saved:
        lines.append(f"Saved {len(outcome.parts)} change(s).")
    return "\n".join(lines)


def local_time(value: str | None, tz: str, *, end_of_day: bool = False) -> datetime | None:
    """A time from the command line: ``YYYY-MM-DD`` is a local day in ``tz`` (its start, or
    its last instant with ``end_of_day``); a full ISO time without offset is local too.
    None → None (now)."""
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    zone = ZoneInfo(tz)
    text_value = value.strip()
    try:
        if len(text_value) == 10:
            day = date.fromisoformat(text_value)
            start = datetime.combine(day, time.min, tzinfo=zone)
            if end_of_day:
                return datetime.combine(day + timedelta(days=1), time.min,
                                        tzinfo=zone) - timedelta(microseconds=1)
            return start
        moment = datetime.fromisoformat(text_value)
    except ValueError:
        raise LoadError(f"{value!r} is not a date (YYYY-MM-DD) or time "
                        "(YYYY-MM-DDTHH:MM).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
