"""The reporter hears back (#16): every case that comes in through the intake gets a citizen
link ``/r/<token>`` — its public progress, and once resolved a 1–5 rating; a rating of 2 or
less reopens the case through the workflow machine.

The token is an HMAC of the case id with the lookup key under ``var/keys`` (128 bits, so it
cannot be guessed), so a retried report gets the same link again; the database keeps only its
SHA-256.  It works for :data:`VALID_DAYS` days after the case was received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.audit import audit
from intake.schema import ActionIn, ReportError
from onemap import crypto
from onemap.access import SYSTEM, Actor, can
from onemap.context import Runtime
from store import incidents as db_incidents
from store import scope

VALID_DAYS = 90
PATH = "/r/"
#: Who rates from the citizen page: may rate that one case, nothing else.
CITIZEN = Actor(kind="citizen", id=0, name="群众", role="citizen")


def token_for(rt: Runtime, incident_id: int) -> str:
    key = crypto.keys(rt.settings.var_dir)[1]
    mac = hmac.new(key, f"citizen:{incident_id}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def link_for(rt: Runtime, case: dict[str, Any]) -> str | None:
    """The case's citizen link for staff who may send it (a hotline operator's callback, a
    desk's 回访): only for cases that have one and actors who may read the reporter's
    contact."""
    if not case.get("has_citizen_link") or not can(rt.actor, "incident.read_private", case):
        return None
    return PATH + token_for(rt, case["id"])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_for(rt: Runtime, incident_id: int) -> str:
    """What a new case stores for its link (the link itself is never stored)."""
    return token_hash(token_for(rt, incident_id))


def issue(rt: Runtime, conn: Any, incident_id: int) -> str:
    """The case's link path (``/r/<token>``), its hash stored on first issue."""
    token = token_for(rt, incident_id)
    db_incidents.set_citizen_token(conn, incident_id, token_hash(token))
    return PATH + token


def view(rt: Runtime, token: str) -> dict[str, Any] | None:
    """The case behind a token while it is valid (None: unknown or expired)."""
    if not token or len(token) > 64:
        return None
    with scope.acting(SYSTEM):
        case = db_incidents.by_citizen_token(rt.engine, token_hash(token))
    if case is None or case["received_at"] + timedelta(days=VALID_DAYS) < datetime.now(UTC):
        return None
    return case


def rate(rt: Runtime, token: str, rating: int, comment: str = "") -> dict[str, Any]:
    """Rate the case (1–5, once, after it is resolved); a poor rating reopens it."""
    from geo.workflow import POOR_RATING
    from intake import service

    case = view(rt, token)
    if case is None:
        raise ReportError("这个链接无效或已过期 / the link is unknown or expired", status=404,
                          code="not_found")
    if case["status"] != "resolved":
        raise ReportError("事件尚未办结或已评价 / the case is not waiting for a rating",
                          status=409, code="illegal_transition")
    if not 1 <= int(rating) <= 5:
        raise ReportError("评分须为 1–5 / the rating is 1 to 5", [("rating", "1-5")])
    note = (comment or "").strip()[:500] or None
    with scope.acting(SYSTEM):
        citizen = rt.acting_as(CITIZEN)
        row = service.act(citizen, case["id"], ActionIn(action="rate", rating=int(rating),
                                                          note=note, actor="群众"))
        if int(rating) <= POOR_RATING:
            row = service.act(rt.acting_as(SYSTEM), case["id"], ActionIn(
                action="reopen", actor="系统", note=f"群众评价 {rating} 分，自动重办"))
        audit(citizen, "citizen.rate", object_type="incident", object_id=case["id"],
              detail={"rating": int(rating)})
    return row
