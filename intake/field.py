"""到场 (check-in, #16): the person in the field says "I am at the case" — the phone's GPS
fix, its accuracy and the time go into the case's history (the state does not change), with
the distance from the case's point so a desk sees at a glance whether the worker went there.
Called by :func:`intake.service.act`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from accounts.audit import audit
from geo.crs import to_wgs84
from geo.workflow import OPEN_FOR_NOTES
from intake.schema import ActionIn, ReportError
from onemap.access import can
from onemap.context import Runtime
from store import incidents as db_incidents

EARTH_M = 6_371_008.8


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine; ample for a check-in's tens of metres)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def check_in(rt: Runtime, conn: Connection, row: dict[str, Any], action: ActionIn, *,
             client_key: str | None = None) -> dict[str, Any]:
    if not can(rt.actor, "incident.act", row):
        audit(rt, "incident.act", object_type="incident", object_id=row["id"],
              result="denied", detail={"action": "checkin"})
        raise ReportError("checkin: your role may not act on this case", status=403,
                          code="forbidden")
    if row["status"] not in OPEN_FOR_NOTES:
        raise ReportError(f"cannot check in: the case is {row['status']}, not open",
                          status=409, code="illegal_transition")
    if action.location is None:
        raise ReportError("checkin needs the phone's position as 'location' (lon, lat)",
                          [("location", "is required to check in")])
    loc = action.location
    lon, lat = (float(v) for v in to_wgs84(loc.lon, loc.lat, loc.datum))
    note = "到场打卡"
    if action.accuracy_m is not None:
        note += f"（定位精度 ±{action.accuracy_m:.0f} 米）"
    point = db_incidents.point_of(conn, row["id"])
    if point is not None:
        note += f"，距事发点 {distance_m(lon, lat, *point):.0f} 米"
    if action.note:
        note += f"；{action.note}"
    now = datetime.now(UTC)
    db_incidents.append_event(conn, row["id"], action.actor or rt.actor.name, "checkin",
                              row["status"], row["status"], note, at=now, lon=lon, lat=lat,
                              client_key=client_key)
    db_incidents.update_incident(conn, row["id"], {})
    audit(rt, "incident.act", object_type="incident", object_id=row["id"], conn=conn,
          detail={"action": "checkin", "accuracy_m": action.accuracy_m})
    return db_incidents.get_incident(conn, row["id"])
