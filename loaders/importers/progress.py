"""A tiny progress bar on stderr for long loads (no dependency; silent when not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Stages and a bar: ``stage("assign")``, then ``start("store", total)`` / ``update(n)``."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None,
                 min_total: int = 20_000) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.min_total = min_total
        self._label = ""
        self._total = 0
        self._done = 0
        self._last = 0.0
        self._t0 = time.perf_counter()
        self._bar = False

    def stage(self, label: str) -> None:
        """A step without a count (reading, validating, assigning…)."""
        self.finish()
        if self.enabled:
            self.stream.write(f"[onemap] {label}…\n")
            self.stream.flush()

    def start(self, label: str, total: int) -> None:
        self.finish()
        self._label, self._total, self._done = label, total, 0
        self._t0 = time.perf_counter()
        self._bar = self.enabled and total >= self.min_total
        self._draw(force=True)

    def update(self, n: int) -> None:
        self._done += n
        self._draw()

    def finish(self) -> None:
        if self._bar:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        self._bar = False

    def _draw(self, force: bool = False) -> None:
        if not self._bar:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        frac = min(self._done / self._total, 1.0) if self._total else 1.0
        width = 30
        filled = int(frac * width)
        rate = self._done / max(now - self._t0, 1e-9)
        self.stream.write(f"\r[onemap] {self._label} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{frac:4.0%} {self._done}/{self._total} ({rate:,.0f}/s)")
        self.stream.flush()
