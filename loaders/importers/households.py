"""Households (户) from CSV/XLSX registers.

Natural key: 户编码 (``code``); a file without one gets a stable code derived from the
normalised address, building and room ('ADDR:' + SHA-1), so re-loading it still updates.
Personal columns (户主姓名, 联系电话, 身份证号) go to ``household_person`` only, the phone and
ID number sealed (:mod:`onemap.crypto`) before they reach the database.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import numpy as np
from sqlalchemy import Connection

from loaders.importers.points import PointContext
from loaders.importers.values import int_or_none, parse_flags, parse_numbers, text_or_none
from onemap import crypto
from onemap.settings import Settings
from store import bulk

KIND = "households"
REQUIRED = ("address",)
KEY = ("code",)
STAGING = bulk.HOUSEHOLD_STAGING
ALLOW_UNLOCATED = False

_SPACES = re.compile(r"\s+")
_TAG_SPLIT = re.compile(r"[,，、;；|｜\s]+")
_SMALLINT = 32767


def _norm(value: Any) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(value or ""))).lower()


def address_code(address: Any, building: Any, room: Any) -> str:
    """Stable natural key of a household that has no 户编码."""
    key = "|".join(_norm(v) for v in (address, building, room))
    return "ADDR:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def prepare(ctx: PointContext) -> dict[str, Any]:
    n = len(ctx.table)

    def text(fld: str) -> np.ndarray:
        return text_or_none(ctx.cells(fld)) if fld in ctx.found else np.full(n, None, object)

    def count(fld: str) -> np.ndarray:
        if fld not in ctx.found:
            return np.full(n, np.nan)
        return parse_numbers(ctx.cells(fld), ctx.rejects, ctx.label(fld), lo=0, hi=_SMALLINT,
                             integer=True)

    def flag(fld: str) -> np.ndarray:
        if fld not in ctx.found:
            return np.zeros(n, dtype=bool)
        return parse_flags(ctx.cells(fld), ctx.rejects, ctx.label(fld))

    address, building, room = text("address"), text("building"), text("room")
    ctx.rejects.add(np.array([a is None for a in address]), ctx.label("address"), "missing")
    code = text("code")
    derived = np.array([c is None for c in code])
    if derived.any():
        code[derived] = [address_code(a, b, r) for a, b, r in
                         zip(address[derived], building[derived], room[derived], strict=True)]
        if "code" not in ctx.found:
            ctx.report.notes.append("no 户编码 column: codes derived from address+building+room")
    ctx.rejects.add(np.array([len(c) > 64 for c in code]), ctx.label("code"),
                    "longer than 64 characters", code)
    registered, floating = count("registered"), count("floating")
    size = count("size")
    known = np.nan_to_num(registered) + np.nan_to_num(floating)
    size = np.where(np.isfinite(size), size, np.where(known > 0, known, 1.0))
    tags = np.empty(n, dtype=object)
    tags[:] = [[t for t in _TAG_SPLIT.split(v) if t] if v else [] for v in text("tags")]
    return {
        "code": code, "address": address, "building": building, "room": room,
        "size": int_or_none(size), "registered": int_or_none(np.nan_to_num(registered)),
        "floating": int_or_none(np.nan_to_num(floating)),
        "is_rental": flag("is_rental"), "is_elderly_alone": flag("is_elderly_alone"),
        "is_special_care": flag("is_special_care"), "tags": tags,
        "head_name": text("head_name"),
        **{f"head_{k}": np.asarray(v, dtype=object) for k, v in crypto.seal_people(
            ctx.options.secrets_dir or Settings().var_dir, list(text("head_phone")),
            list(text("head_id_number"))).items()},
    }


def store(conn: Connection, staging: str, ctx: PointContext) -> tuple[int, int]:
    return bulk.upsert_households(conn, staging)
