"""The grid worker's phone page (``/m``, #16): what it loads once and caches (the worker's
grids and their neighbours, the categories), the worker's tasks, and reports sent under the
worker's own identity with ``source=grid_app`` — each through the one intake service.

A report's ``Idempotency-Key`` (made by the phone when the worker presses "send", kept with
the report in the phone's offline queue) also makes its ``external_id``, so a report the
phone sends twice — the answer lost on a weak network, the queue replayed — is stored once.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from geo.catalog import CATEGORIES
from geo.workflow import ACTION_LABELS, FIELD_ACTIONS, GRID, OPEN_FOR_NOTES, STATE_LABELS
from intake import desk, service
from intake.schema import ActionIn, ReportError, parse_report
from onemap.access import can
from onemap.context import Runtime
from store import grids as db_grids

SOURCE = "grid_app"
#: What the phone offers on a task (the rest is on the desk).
PHONE_ACTIONS = ("accept", "start", "resolve", "escalate")
TASK_QUEUES = ("overdue", "to_accept", "in_hand")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def boot(rt: Runtime, lang: str = "zh") -> dict[str, Any]:
    """What the phone caches: who it is, the categories, and the worker's grids with their
    neighbours (for showing, before sending, which grid a report will fall in)."""
    tree = rt.units.tree()
    bottom = max((u["level"] for u in tree.units.values()), default=None)
    mine = [] if bottom is None else [i for i, u in tree.units.items() if u["level"] == bottom]
    grids = db_grids.grids_near(rt.engine, mine[:200], bottom) if mine else []
    en = lang == "en"
    return {
        "user": {"name": rt.actor.name, "role": rt.actor.role},
        "lang": "en" if en else "zh",
        "categories": [{"code": c.code, "name": c.en if en else c.zh} for c in CATEGORIES],
        "grids": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": json.loads(g["geometry"]),
             "properties": {"id": g["id"], "code": g["code"], "name": g["name"],
                            "mine": bool(g["mine"])}} for g in grids]},
        "actions": {a: ACTION_LABELS[a][1 if en else 0] for a in (*PHONE_ACTIONS,
                                                                   *FIELD_ACTIONS)},
        "at": datetime.now(UTC).isoformat(),
    }


def tasks(rt: Runtime, lang: str = "zh", limit: int = 50) -> list[dict[str, Any]]:
    """The worker's open cases (overdue first, then to accept, then in hand; soonest due
    first), each with what the phone lets the worker do on it."""
    en = lang == "en"
    seen: set[int] = set()
    out = []
    cats = {c.code: (c.en if en else c.zh) for c in CATEGORIES}
    for name in TASK_QUEUES:
        for row in desk.queue(rt, name, limit=limit):
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            allowed = desk.actions_for(rt, row)
            acts = [a for a in PHONE_ACTIONS if a in allowed]
            if row["status"] in OPEN_FOR_NOTES and can(rt.actor, "incident.act", row):
                acts += list(FIELD_ACTIONS)
            out.append({
                "id": row["id"], "category": cats.get(row["category"], row["category"]),
                "status": STATE_LABELS.get(row["status"], (row["status"],) * 2)[1 if en else 0],
                "description": row["description"], "grid": row["grid_name"],
                "due_at": row["due_at"].isoformat() if row["due_at"] else None,
                "overdue": name == "overdue", "urged": row["urged_count"],
                "supervised": row["supervised_due"] is not None, "actions": acts})
    return out[:limit]


def report(rt: Runtime, body: Any, idempotency_key: str | None) -> service.SubmitResult:
    """A report from the phone: the worker's own identity, ``source=grid_app``.

    网格员填单 — 村接单: what a grid worker files goes to the village (community) desk to be
    taken — the case, placed in its grid, is handed up one level by the worker (an
    ``escalate`` event in its history, under the worker's name).  Done by the case's state,
    so a report sent again after a lost answer is neither stored nor handed up twice."""
    if not idempotency_key or not _KEY.match(idempotency_key):
        raise ReportError("send the report with an Idempotency-Key header (8-100 letters, "
                          "digits or _.:-) so that sending it twice stores it once",
                          [("Idempotency-Key", "is required")], status=400)
    if not isinstance(body, dict):
        raise ReportError("the report must be a JSON object", [("(body)", "must be an object")])
    fields = {k: body[k] for k in ("category", "description", "location", "address",
                                   "reported_at", "severity") if body.get(k) is not None}
    fields.update(source=SOURCE, external_id=f"m{rt.actor.id}-{idempotency_key}")
    result = service.submit(rt, parse_report(fields), idempotency_key=idempotency_key)
    row = result.incident
    if row["status"] == "received" and row.get("handling_level") == GRID \
            and row.get("village_id") is not None:
        result.incident = service.act(rt, row["id"], ActionIn(
            action="escalate", note="网格员上报，请村（社区）接单"))
    return result
