"""Live changes through PostgreSQL LISTEN/NOTIFY, so walls stop polling the database.

Every statement that inserts or updates incidents sends one NOTIFY on :data:`CHANNEL` at
commit, naming the units it touched (migration 0015).  Each app process keeps one
:class:`Listener` (a thread with its own connection to the primary — a standby delivers no
notifications).  A wall's tick asks :meth:`Listener.should_query`: only when something changed
in the wall's units since its last look (or the listener cannot vouch for that: starting,
reconnecting) does it read the database.  With hundreds of walls open, the database sees one
listening connection per process instead of a query per wall every few seconds.

The wall keeps querying for ``settle_s`` after a change, because a NOTIFY can arrive before a
standby has replayed the change, and because ``updated_at`` is the writer's start time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import psycopg

CHANNEL = "onemap_incident"


class Listener:
    """One process's view of what changed when (``time.time()`` seconds)."""

    def __init__(self, url: str, *, retry_s: float = 2.0) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.retry_s = retry_s
        self.healthy_since: float | None = None  # None: not listening right now
        self.last_any = 0.0       # any change at all
        self.last_global = 0.0    # a change every wall must look at (unplaced, bulk)
        self.last_unit: dict[int, float] = {}
        self.received = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- the listening thread ----------------------------------------------------------
    def start(self) -> Listener:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="onemap-listen")
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                     keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                     keepalives_count=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.healthy_since = time.time()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.heard(note.payload)
            except psycopg.Error:
                pass  # the server went away: say so (below), wait, and listen again
            self.healthy_since = None
            self._stop.wait(self.retry_s)

    def heard(self, payload: str, at: float | None = None) -> None:
        """Record one notification (the thread calls this; tests may too)."""
        at = time.time() if at is None else at
        try:
            body = json.loads(payload or "{}")
        except ValueError:
            body = {"g": True}
        with self._lock:
            self.received += 1
            self.last_any = at
            if body.get("g") or not body.get("u"):
                self.last_global = at
            for unit in body.get("u") or ():
                self.last_unit[int(unit)] = at

    # --- the question a wall asks ------------------------------------------------------
    def last_change(self, units: Iterable[int] | None) -> float:
        """When something last changed that a viewer of ``units`` (None: all) may see."""
        with self._lock:
            if units is None:
                return self.last_any
            return max([self.last_global, *(self.last_unit.get(u, 0.0) for u in units)])

    def should_query(self, units: Iterable[int] | None, checked: float | None, *,
                     settle_s: float = 6.0) -> bool:
        """Whether a wall that last read the database at ``checked`` must read it now."""
        since = self.healthy_since
        if checked is None or since is None or since > checked - settle_s:
            return True  # never looked, not listening, or listening for too short a time
        return self.last_change(units) > checked - settle_s


_LISTENERS: dict[str, Listener] = {}
_GUARD = threading.Lock()


def listener_for(url: str) -> Listener:
    """The process's listener for the database at ``url`` (started on first use)."""
    with _GUARD:
        found = _LISTENERS.get(url)
        if found is None:
            found = _LISTENERS[url] = Listener(url)
    return found.start()


def scope_units(actor: Any) -> frozenset[int] | None:
    """The units whose changes a wall of ``actor`` shows (None: every change)."""
    if actor is None or getattr(actor, "units", None) is None \
            or getattr(actor, "department", None) is not None:
        return None
    return frozenset(actor.units)
