"""Cameras (雪亮工程 / 村村通 / 社会面) from CSV/XLSX device lists; natural key: device code."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection

from loaders.importers.points import PointContext
from loaders.importers.values import map_choices, parse_numbers, text_or_none
from store import bulk

KIND = "cameras"
REQUIRED = ("code",)
KEY = ("code",)
STAGING = bulk.CAMERA_STAGING
ALLOW_UNLOCATED = False

KIND_WORDS = {
    "xueliang": "xueliang", "雪亮": "xueliang", "雪亮工程": "xueliang", "公安": "xueliang",
    "cuncuntong": "cuncuntong", "村村通": "cuncuntong", "村村通监控": "cuncuntong",
    "social": "social", "社会面": "social", "社会资源": "social", "社会": "social",
    "社会面监控": "social",
}
STATUS_WORDS = {
    "online": "online", "在线": "online", "正常": "online", "1": "online", "启用": "online",
    "offline": "offline", "离线": "offline", "故障": "offline", "0": "offline",
    "停用": "offline", "异常": "offline",
}


def prepare(ctx: PointContext) -> dict[str, Any]:
    n = len(ctx.table)
    code = text_or_none(ctx.cells("code"))
    ctx.rejects.add(np.array([c is None for c in code]), ctx.label("code"), "missing")
    ctx.rejects.add(np.array([c is not None and len(c) > 64 for c in code]), ctx.label("code"),
                    "longer than 64 characters", code)
    name = text_or_none(ctx.cells("name")) if "name" in ctx.found else code.copy()
    name = np.where(np.array([v is None for v in name]), code, name)
    if "kind" in ctx.found:
        kind = map_choices(ctx.cells("kind"), KIND_WORDS, ctx.rejects, ctx.label("kind"),
                           "unknown camera type (雪亮/村村通/社会面)")
    else:
        kind = np.full(n, "social", dtype=object)
        ctx.report.notes.append("no camera type column: every camera is 'social' (社会面)")
    if "status" in ctx.found:
        status = map_choices(ctx.cells("status"), STATUS_WORDS, ctx.rejects,
                             ctx.label("status"), "unknown status (在线/离线)", default="online")
    else:
        status = np.full(n, "online", dtype=object)

    def number(fld: str, lo: float, hi: float | None) -> np.ndarray:
        if fld not in ctx.found:
            return np.full(n, np.nan)
        return parse_numbers(ctx.cells(fld), ctx.rejects, ctx.label(fld), lo=lo, hi=hi)

    return {
        "code": code, "name": name, "kind": kind, "status": status,
        "stream_url": text_or_none(ctx.cells("stream_url")) if "stream_url" in ctx.found
        else np.full(n, None, object),
        "heading_deg": number("heading_deg", 0, 360), "fov_deg": number("fov_deg", 0, 360),
        "range_m": number("range_m", 0, None),
    }


def store(conn: Connection, staging: str, ctx: PointContext) -> tuple[int, int]:
    return bulk.upsert_cameras(conn, staging)
