"""Parsing table cells into typed columns, vectorised, with the bad cells reported per row.

Each parser returns the parsed array and leaves empty cells as missing; cells that are not empty
but cannot be read are put in ``rejects`` with the field name and a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from loaders.importers.report import Rejects

_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
_CJK_DATE = str.maketrans({"年": "-", "月": "-", "日": " ", "时": ":", "点": ":", "分": ":",
                           "秒": " ", "/": "-", ".": "-", "T": " "})
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d%H%M%S")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _clean(cells: pd.Series) -> pd.Series:
    return cells.astype(str).str.strip()


def parse_times(cells: pd.Series, tz: str, rejects: Rejects, field: str,
                *, future_limit: pd.Timestamp | None = None) -> np.ndarray:
    """Epoch seconds (float, NaN when empty) for a text column of date-times.

    Naive times are local time in ``tz``; times with an offset (``+08:00``, ``Z``) keep it.
    Accepts ISO 8601, ``2024/1/5 8:30``, ``2024年1月5日 8时30分`` and Excel serial numbers.
    """
    text = _clean(cells)
    n = len(text)
    out = np.full(n, np.nan)
    present = (text != "").to_numpy()
    if not present.any():
        return out
    idx = np.flatnonzero(present)
    values = text.iloc[idx]
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    has_tz = values.str.contains(_TZ_SUFFIX)
    if has_tz.any():
        parsed[has_tz] = pd.to_datetime(values[has_tz], format="ISO8601", utc=True,
                                        errors="coerce")
    naive_vals = values[~has_tz]
    local = pd.Series(pd.NaT, index=naive_vals.index, dtype="datetime64[ns]")
    todo = naive_vals
    for fmt in _FORMATS:
        if todo.empty:
            break
        got = pd.to_datetime(todo, format=fmt, errors="coerce")
        ok = got.notna()
        local[ok[ok].index] = got[ok]
        todo = todo[~ok]
    if not todo.empty:  # rarer shapes: slashes, Chinese units, single-digit fields, serials
        norm = todo.str.translate(_CJK_DATE).str.replace(r"\s+", " ", regex=True).str.strip()
        norm = norm.str.replace(r":$", "", regex=True)
        got = pd.to_datetime(norm, format="mixed", errors="coerce")
        serial = pd.to_numeric(todo, errors="coerce")
        is_serial = serial.between(20000, 80000)
        if is_serial.any():
            got[is_serial] = _EXCEL_EPOCH + pd.to_timedelta(serial[is_serial] * 86400.0,
                                                            unit="s").dt.round("s")
        local[got.index] = got
    if len(local):
        parsed[local.index] = local.dt.tz_localize(tz, ambiguous="NaT",
                                                   nonexistent="NaT").dt.tz_convert("UTC")
    bad = parsed.isna().to_numpy()
    secs = np.full(len(parsed), np.nan)
    good = ~bad
    secs[good] = _epoch(parsed[good])
    rejects.add_rows(idx[bad], field, "bad date", values.to_numpy()[bad])
    if future_limit is not None:
        late = good & (secs > future_limit.timestamp())
        rejects.add_rows(idx[late], field, "date in the future", values.to_numpy()[late])
    out[idx] = secs
    return out


def _epoch(times: pd.Series) -> np.ndarray:
    return (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


def parse_numbers(cells: pd.Series, rejects: Rejects, field: str, *, lo: float | None = None,
                  hi: float | None = None, integer: bool = False) -> np.ndarray:
    """Floats (NaN when empty); non-numbers and values outside [lo, hi] are rejected."""
    text = _clean(cells)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    empty = (text == "").to_numpy()
    rejects.add(np.isnan(values) & ~empty, field, "not a number", text)
    finite = np.isfinite(values)
    if integer:
        rejects.add(finite & (values != np.round(values)), field, "not a whole number", text)
    if lo is not None:
        rejects.add(finite & (values < lo), field, f"must be ≥ {lo:g}", text)
    if hi is not None:
        rejects.add(finite & (values > hi), field, f"must be ≤ {hi:g}", text)
    return values


TRUE_WORDS = {"1", "是", "y", "yes", "true", "t", "有", "√", "✓", "对", "x"}
FALSE_WORDS = {"0", "否", "n", "no", "false", "f", "无", "", "×", "不是"}


def parse_flags(cells: pd.Series, rejects: Rejects, field: str) -> np.ndarray:
    """Booleans from 是/否, 1/0, yes/no, √ …; empty is False; anything else is rejected."""
    text = _clean(cells).str.lower()
    true = text.isin(TRUE_WORDS).to_numpy()
    false = text.isin(FALSE_WORDS).to_numpy()
    rejects.add(~true & ~false, field, "not yes/no (是/否)", text)
    return true


def map_choices(cells: pd.Series, choices: Mapping[str, str], rejects: Rejects, field: str,
                reason: str, *, default: str | None = None) -> np.ndarray:
    """Map cells through ``choices`` (keys compared lower-cased and trimmed); empty cells get
    ``default`` (rejected as missing when it is None); unknown values are rejected."""
    lowered = {str(k).strip().lower(): v for k, v in choices.items()}
    text = _clean(cells)
    mapped = text.str.lower().map(lowered)
    empty = (text == "").to_numpy()
    unknown = mapped.isna().to_numpy() & ~empty
    rejects.add(unknown, field, reason, text)
    if default is None:
        rejects.add(empty, field, "missing")
    out = mapped.to_numpy(dtype=object)
    out[empty] = default
    out[unknown] = None
    return out


def text_or_none(cells: pd.Series) -> np.ndarray:
    """Trimmed text, None for empty cells."""
    text = _clean(cells).to_numpy(dtype=object)
    text[text == ""] = None
    return text


def int_or_none(values: np.ndarray) -> np.ndarray:
    """Python ints (None where NaN) in an object array, ready for COPY."""
    out = np.full(len(values), None, dtype=object)
    ok = np.isfinite(values)
    out[ok] = values[ok].astype(np.int64).tolist()
    return out
