"""Calendar months as ``'YYYY-MM'`` strings: the one month arithmetic of the project (pure)."""

from __future__ import annotations

import re

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(month: str) -> tuple[int, int]:
    """``'2026-10'`` → ``(2026, 10)``; anything else raises ValueError showing the form."""
    match = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must be 'YYYY-MM' (e.g. '2026-10'), got {month!r}")
    return int(match.group(1)), int(match.group(2))


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift_month(month: str, delta: int) -> str:
    """``month`` moved by ``delta`` months (``shift_month('2026-01', -1) == '2025-12'``)."""
    year, mon = parse_month(month)
    k = year * 12 + (mon - 1) + int(delta)
    return month_key(k // 12, k % 12 + 1)
