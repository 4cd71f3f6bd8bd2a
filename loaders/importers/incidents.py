"""Incidents from CSV/XLSX exports (12345 hotline, grid app, 110 transfers…).

Natural key: (source, external_id).  Categories are the catalogue's codes (`geo.catalog`);
Chinese or English names and unambiguous subcategory names are accepted, anything else rejects
the row.  A first insert also writes the incident's 'import' history event.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from geo.catalog import CATEGORIES, CATEGORY_ALIASES, CATEGORY_BY_CODE, SOURCE_ALIASES, SOURCES
from geo.workflow import OPEN_STATES, STATES
from loaders.importers.options import LoadError
from loaders.importers.points import PointContext
from loaders.importers.values import (
    int_or_none,
    map_choices,
    parse_numbers,
    parse_times,
    text_or_none,
)
from store import bulk

KIND = "incidents"
REQUIRED = ("external_id",)
KEY = ("source", "external_id")
STAGING = bulk.INCIDENT_STAGING
ALLOW_UNLOCATED = True

SEVERITY_WORDS = {
    "high": "high", "高": "high", "紧急": "high", "特急": "high", "重大": "high", "严重": "high",
    "medium": "medium", "中": "medium", "一般": "medium", "较急": "medium", "较大": "medium",
    "low": "low", "低": "low", "普通": "low", "较小": "low", "轻微": "low",
}
# File wordings of the workflow states (geo.workflow.STATES).
STATUS_WORDS = {
    **{s: s for s in STATES},
    "受理": "received", "已受理": "received", "待受理": "received", "待处理": "received",
    "已登记": "received", "新建": "received", "待派单": "received", "待办理": "received",
    "已派单": "dispatched", "已分派": "dispatched", "已转办": "dispatched", "已交办": "dispatched",
    "派单": "dispatched", "待签收": "dispatched",
    "已签收": "accepted", "办理中": "in_progress", "处理中": "in_progress",
    "已接单": "accepted", "处置中": "in_progress", "正在处置": "in_progress",
    "已上报": "escalated", "上报": "escalated", "已升级": "escalated",
    "已处置": "resolved", "已解决": "resolved", "待回访": "resolved", "待评价": "resolved",
    "已评价": "rated", "已回访": "rated", "已退回": "returned", "退回": "returned",
    "重办": "reopened", "已重办": "reopened",
    "已办结": "closed", "办结": "closed", "已完成": "closed", "已关闭": "closed",
    "已结案": "closed", "结案": "closed", "已归档": "closed",
    "未定位": "unlocated",
}
RATING_WORDS = {"非常满意": "5", "满意": "5", "基本满意": "4", "一般": "3", "不满意": "2",
                "非常不满意": "1"}
_SPLIT = re.compile(r"\s*[-/>＞－—|｜]+\s*")


def source_choices() -> dict[str, str]:
    choices = {code: code for code in SOURCES}
    for code, (zh, en) in SOURCES.items():
        choices[zh] = code
        choices[en] = code
    choices.update(SOURCE_ALIASES)
    return choices


def category_choices() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """({name or code: category code}, {unambiguous subcategory: (category, subcategory)})."""
    main: dict[str, str] = dict(CATEGORY_ALIASES)
    for c in CATEGORIES:
        main[c.code] = main[c.zh] = main[c.en] = c.code
    owners: dict[str, list[str]] = {}
    for c in CATEGORIES:
        for sub in c.subcategories:
            owners.setdefault(sub, []).append(c.code)
    subs = {s: (cs[0], s) for s, cs in owners.items() if len(cs) == 1 and s not in main}
    return main, subs


def _source(ctx: PointContext) -> np.ndarray:
    choices = source_choices()
    default = None
    if ctx.options.source:
        default = choices.get(ctx.options.source.strip()) or choices.get(
            ctx.options.source.strip().lower())
        if default is None:
            raise LoadError(f"--source {ctx.options.source!r} is not a channel; use one of "
                            f"{', '.join(SOURCES)} (or 12345, 网格员, 随手拍, 110…).")
    cells = ctx.cells("source")
    if cells is None:
        if default is None:
            ctx.report.notes.append("no source column and no --source: channel 'other'")
        return np.full(len(ctx.table), default or "other", dtype=object)
    return map_choices(cells, choices, ctx.rejects, ctx.label("source"), "unknown source",
                       default=default or "other")


def _category(ctx: PointContext) -> tuple[np.ndarray, np.ndarray]:
    n = len(ctx.table)
    sub = text_or_none(ctx.cells("subcategory")) if "subcategory" in ctx.found \
        else np.full(n, None, dtype=object)
    cells = ctx.cells("category")
    if cells is None:
        ctx.report.notes.append("no category column: every incident gets category 'other' "
                                "(map one with --map category=<column>)")
        return np.full(n, "other", dtype=object), sub
    main, subs = category_choices()
    text = cells.astype(str).str.strip()
    code = text.map(main)
    rest = code.isna() & (text != "")
    if rest.any():  # "矛盾纠纷-邻里纠纷", or a subcategory alone
        for i in np.flatnonzero(rest.to_numpy()):
            value = text.iat[i]
            parts = _SPLIT.split(value, maxsplit=1)
            if parts[0] in main:
                code.iat[i] = main[parts[0]]
                if len(parts) > 1 and sub[i] is None:
                    sub[i] = parts[1]
            elif value in subs:
                code.iat[i], found_sub = subs[value]
                if sub[i] is None:
                    sub[i] = found_sub
    out = code.to_numpy(dtype=object)
    empty = (text == "").to_numpy()
    unknown = pd.isna(out) & ~empty
    if unknown.any():  # kept as 'other', and said: which names, how many rows
        names = text[unknown].value_counts()
        listed = "、".join(f"{name} ×{n}" for name, n in names.head(20).items())
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        ctx.report.notes.append(
            f"{int(unknown.sum())} row(s) with a category name the catalogue does not know "
            f"were stored as 'other': {listed}{more}. Add the names to "
            "geo.catalog.CATEGORY_ALIASES (or fix the file) and load again to classify them.")
        ctx.report.unmapped_categories = {str(k): int(v) for k, v in names.items()}
        sub[unknown] = np.where(pd.isna(sub[unknown]), text[unknown].to_numpy(dtype=object),
                                sub[unknown])
        out[unknown] = "other"
    ctx.rejects.add(empty, ctx.label("category"), "missing category")
    out[empty] = None
    return out, sub


def _times(ctx: PointContext, fld: str, *, required: bool = False,
           future: bool = True) -> np.ndarray:
    cells = ctx.cells(fld)
    if cells is None:
        return np.full(len(ctx.table), np.nan)
    limit = ctx.now + pd.Timedelta(days=1) if future else None
    secs = parse_times(cells, ctx.timezone, ctx.rejects, ctx.label(fld), future_limit=limit)
    if required:
        ctx.rejects.add(cells.astype(str).str.strip().to_numpy() == "", ctx.label(fld),
                        "missing date")
    return secs


def prepare(ctx: PointContext) -> dict[str, Any]:
    """Typed columns of every row (rejected rows included; the pipeline drops them)."""
    n = len(ctx.table)
    external_id = text_or_none(ctx.cells("external_id"))
    ctx.rejects.add(pd.isna(external_id), ctx.label("external_id"), "missing")
    ctx.rejects.add(np.array([v is not None and len(v) > 128 for v in external_id]),
                    ctx.label("external_id"), "longer than 128 characters")
    source = _source(ctx)
    category, subcategory = _category(ctx)
    severity_default = np.array([CATEGORY_BY_CODE[c].severity if c else None for c in category],
                                dtype=object)
    if "severity" in ctx.found:
        severity = map_choices(ctx.cells("severity"), SEVERITY_WORDS, ctx.rejects,
                               ctx.label("severity"), "unknown severity (高/中/低)",
                               default="")
        severity = np.where(severity == "", severity_default, severity)
    else:
        severity = severity_default
    if "status" in ctx.found:
        status = map_choices(ctx.cells("status"), STATUS_WORDS, ctx.rejects, ctx.label("status"),
                             "unknown status", default="received")
    else:
        status = np.full(n, "received", dtype=object)
    rating = np.full(n, np.nan)
    if "rating" in ctx.found:
        words = ctx.cells("rating").astype(str).str.strip().replace(RATING_WORDS)
        rating = parse_numbers(words, ctx.rejects, ctx.label("rating"), lo=1, hi=5,
                               integer=True)
    text_col = {f: text_or_none(ctx.cells(f)) if f in ctx.found else np.full(n, None, object)
                for f in ("description", "address")}
    received = _times(ctx, "received_at", required="received_at" in ctx.found)
    return {
        "reporter": _reporter(ctx),
        "source": source,
        "external_id": external_id,
        "category": category,
        "subcategory": subcategory,
        "severity": severity,
        "description": text_col["description"],
        "address": text_col["address"],
        "reported_at": _times(ctx, "reported_at"),
        "received_at": received,
        "status": status,
        "due_at": _times(ctx, "due_at", future=False),
        "closed_at": _times(ctx, "closed_at"),
        "rating": int_or_none(rating),
    }


def _reporter(ctx: PointContext) -> np.ndarray:
    """The caller's name and phone (来电人, 联系电话) as the incident's reporter (JSON text),
    masked on every read like the API's reporters."""
    n = len(ctx.table)
    names = text_or_none(ctx.cells("reporter_name")) if "reporter_name" in ctx.found \
        else np.full(n, None, dtype=object)
    phones = text_or_none(ctx.cells("reporter_phone")) if "reporter_phone" in ctx.found \
        else np.full(n, None, dtype=object)
    out = np.full(n, None, dtype=object)
    for i in np.flatnonzero([a is not None or b is not None for a, b in zip(names, phones,
                                                                           strict=True)]):
        out[i] = json.dumps({k: v for k, v in (("name", names[i]), ("phone", phones[i]))
                             if v is not None}, ensure_ascii=False)
    return out


def after_assign(ctx: PointContext, columns: dict[str, Any], located: np.ndarray,
                 keep: np.ndarray, assigned: Any) -> None:
    """Rows without a location are 'unlocated' (not 'received'); each row's handling level is
    its deepest unit (as the API sets it); open incidents without a deadline get the intake
    policy's (``ONEMAP_LEVEL_DEADLINE_DAYS``, ``ONEMAP_SEVERITY_DEADLINE_DAYS``,
    ``ONEMAP_WORKING_DAYS``) — the same due time the API would give."""
    status = columns["status"]
    n = len(status)
    levels = np.full(n, -1, dtype=np.int64)
    if len(assigned.unit_ids):
        ids = assigned.unit_ids
        depth = np.where(ids >= 0, np.arange(ids.shape[1])[None, :], -1).max(axis=1)
        levels[located] = depth
    in_unit = levels >= 0
    status[keep & ~in_unit & (status == "received")] = "unlocated"
    columns["handling_level"] = np.array([int(v) if v >= 0 else None for v in levels],
                                         dtype=object)
    due = columns["due_at"]
    received = columns["received_at"]
    todo = keep & np.isnan(due) & np.isfinite(received) & np.isin(status, OPEN_STATES)
    if todo.any():
        times = pd.to_datetime(received[todo], unit="s", utc=True)
        deadline = ctx.policy.deadlines.due_many(times, levels[todo],
                                                 columns["severity"][todo])
        due[todo] = (deadline - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        ctx.report.notes.append(f"{int(todo.sum())} open incident(s) without a deadline: "
                                "due_at set by the configured deadline rules")


def store(conn: Connection, staging: str, ctx: PointContext) -> tuple[int, int]:
    actor = ctx.options.actor or f"import:{ctx.path.name}"
    keep_received = bulk.staged_has_null(conn, staging, "received_at")
    policy = ctx.policy
    counts = bulk.upsert_incidents(conn, staging, actor, keep_received=keep_received,
                                   duplicates=(policy.duplicate_radius_m,
                                               policy.duplicate_seconds,
                                               policy.duplicate_note("{first}")))
    marked = bulk.last_duplicates_marked(conn)
    if marked:
        ctx.report.notes.append(f"{marked} near-duplicate(s) marked and linked to the first "
                                f"report ({policy.duplicate_radius_m:g} m, "
                                f"{policy.duplicate_hours:g} h)")
    return counts
