"""What a load did: counts, assignment reasons and the rejected rows with their reasons.

Rejects are collected column-wise (a mask per check) so that validating a million rows stays
vectorised; they become one line per rejected row only when reported or written out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.assign import REASONS


@dataclass(frozen=True)
class Reject:
    """One rejected row: ``row`` is the line number in the file (header = 1) or feature no."""

    row: int
    field: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        shown = f" ({self.value!r})" if self.value else ""
        return f"row {self.row}, {self.field}: {self.reason}{shown}"


class Rejects:
    """Problems found per row; a row with any problem is not loaded."""

    def __init__(self, n_rows: int, first_row: int = 2) -> None:
        self.n_rows = n_rows
        self.first_row = first_row  # file line of data row 0 (header on line 1)
        self.bad = np.zeros(n_rows, dtype=bool)
        self._items: list[tuple[np.ndarray, str, str, Any]] = []

    def add(self, mask: Any, field: str, reason: str, values: Any = None) -> int:
        """Reject rows where ``mask`` is true (rows already rejected keep their first
        reason and get this one too); returns how many rows this check hit."""
        mask = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(mask)
        if len(idx):
            vals = None if values is None else np.asarray(values, dtype=object)[idx]
            self._items.append((idx, field, reason, vals))
            self.bad[idx] = True
        return len(idx)

    def add_rows(self, idx: Any, field: str, reason: str, values: Any = None) -> None:
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[np.asarray(idx, dtype=np.int64)] = True
        vals = None
        if values is not None:
            vals = np.empty(self.n_rows, dtype=object)
            vals[np.asarray(idx, dtype=np.int64)] = list(values)
        self.add(mask, field, reason, vals)

    @property
    def ok(self) -> np.ndarray:
        return ~self.bad

    @property
    def count(self) -> int:
        return int(self.bad.sum())

    def items(self) -> list[Reject]:
        """All problems, ordered by row (then in the order the checks ran)."""
        out: list[tuple[int, int, Reject]] = []
        for order, (idx, fld, reason, vals) in enumerate(self._items):
            for j, i in enumerate(idx):
                value = "" if vals is None or vals[j] is None else str(vals[j])
                out.append((int(i), order, Reject(int(i) + self.first_row, fld, reason, value)))
        out.sort(key=lambda t: (t[0], t[1]))
        return [r for _, _, r in out]

    def by_row(self) -> dict[int, list[Reject]]:
        rows: dict[int, list[Reject]] = {}
        for r in self.items():
            rows.setdefault(r.row, []).append(r)
        return rows


@dataclass
class LoadReport:
    """The outcome of one load (or dry run), printed by the command and shown by the planner."""

    kind: str
    path: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejects_path: str | None = None
    dry_run: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    unmapped_categories: dict[str, int] = field(default_factory=dict)  # name → rows (→ other)
    repairs: list[dict] = field(default_factory=list)  # boundaries --repair: every change

    @property
    def loaded(self) -> int:
        """Rows that are in the database after the load (new, updated or unchanged)."""
        return self.inserted + self.updated + self.unchanged

    def summary(self, max_rejects: int = 20) -> str:
        """The text the command prints at the end."""
        what = "DRY RUN — nothing written. " if self.dry_run else ""
        lines = [
            f"{what}{self.kind} from {Path(self.path).name}: {self.rows} rows",
            f"  new {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}",
        ]
        if any(self.reasons.values()):
            lines.append("  assigned: " + ", ".join(f"{k} {v}" for k, v in self.reasons.items()))
        lines += [f"  note: {n}" for n in self.notes]
        if self.rejects:
            rows = {r.row for r in self.rejects}
            lines.append(f"  rejected rows ({len(rows)}):")
            lines += [f"    {r}" for r in self.rejects[:max_rejects]]
            if len(self.rejects) > max_rejects:
                lines.append(f"    … {len(self.rejects) - max_rejects} more")
        if self.rejects_path:
            lines.append(f"  rejects written to {self.rejects_path}")
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the planner page (JSON-ready)."""
        return {
            "kind": self.kind, "path": self.path, "rows": self.rows, "loaded": self.loaded,
            "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "reasons": dict(self.reasons), "notes": list(self.notes),
            "rejects": [r.__dict__ for r in self.rejects], "dry_run": self.dry_run,
            "rejects_path": self.rejects_path,
        }


def write_rejects(path: Path, table: pd.DataFrame | None, rejects: Rejects) -> Path:
    """The rejected rows as CSV (UTF-8 with BOM so Excel shows Chinese): ``_row``, ``_field``,
    ``_reason`` first, then the row's original columns — fix the cells and load the file again.
    """
    by_row = rejects.by_row()
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(table.columns) if table is not None else []
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["_row", "_field", "_reason", *columns])
        for row, problems in sorted(by_row.items()):
            original = [] if table is None else [
                "" if v is None else str(v) for v in table.iloc[row - rejects.first_row]]
            out.writerow([row, "; ".join(dict.fromkeys(p.field for p in problems)),
                          "; ".join(p.reason + (f" ({p.value!r})" if p.value else "")
                                    for p in problems), *original])
    return path
