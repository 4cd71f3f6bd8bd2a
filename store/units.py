"""The one cache of the unit hierarchy, with the one "units changed" signal.

Every part of the app that needs the current units — the wall's navigation and labels, the
planner, the intake's assignment engine, the simplified boundaries, the monthly maps — reads
them through one :class:`UnitCache` per database (held by the runtime context).  The cache
checks the cheap units signature (:func:`store.wall.units_signature`) at most every
``check_every_s`` seconds, so a change saved by another process is picked up within that time;
a change saved by this process calls :meth:`UnitCache.changed`, which re-checks at once and
drops what was built from the old units.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from geo.assign import AssignmentEngine
from onemap.access import SYSTEM
from store import scope

CHECK_EVERY_S = 10.0
PLACES_EVERY_S = 30.0


@dataclass
class UnitTree:
    """Current units (id → row with level, parent, code, name, bbox, label point, households),
    so navigation and labels need no SQL per click."""

    units: dict[int, dict[str, Any]]

    def level_of(self) -> dict[int, int]:
        return {i: u["level"] for i, u in self.units.items()}

    def tops(self) -> list[int]:
        return [i for i, u in self.units.items() if u["parent_id"] is None]

    def below(self, parent: int | None, level: int) -> list[int]:
        """Ids of the current units of ``level`` under ``parent`` (any depth); all of that
        level when ``parent`` is None."""
        if parent is None:
            return sorted(i for i, u in self.units.items() if u["level"] == level)
        out, frontier = [], [parent]
        children: dict[int, list[int]] = {}
        for i, u in self.units.items():
            children.setdefault(u["parent_id"], []).append(i)
        while frontier:
            nxt = []
            for p in frontier:
                for c in children.get(p, ()):
                    if self.units[c]["level"] == level:
                        out.append(c)
                    elif self.units[c]["level"] < level:
                        nxt.append(c)
            frontier = nxt
        return sorted(out)

    def towns(self) -> list[int]:
        return sorted((i for i, u in self.units.items() if u["level"] == 1),
                      key=lambda i: self.units[i]["code"])

    def within(self, homes: frozenset[int]) -> UnitTree:
        """The part of the tree an actor with home units ``homes`` may see: each home unit
        that is current and everything below it (the roots of the result are the homes)."""
        children: dict[int | None, list[int]] = {}
        for i, u in self.units.items():
            children.setdefault(u["parent_id"], []).append(i)
        keep: set[int] = set()
        stack = [h for h in homes if h in self.units]
        while stack:
            uid = stack.pop()
            if uid in keep:
                continue
            keep.add(uid)
            stack.extend(children.get(uid, ()))
        return UnitTree({i: ({**u, "parent_id": None} if u["parent_id"] not in keep else u)
                         for i, u in self.units.items() if i in keep})


@dataclass
class Places:
    """What intake needs to place a report: the assignment engine of the current units, the
    worker of each grid, departments by code and county codes by id."""

    engine: AssignmentEngine | None
    workers: dict[int, int]
    departments: dict[str, int]
    county_codes: dict[int, str]
    stamp: tuple[Any, ...]

    def department(self, code: str, county_id: int | None) -> int | None:
        """A department by code; departments are per county (``<county code>-<code>``)."""
        county = self.county_codes.get(county_id) if county_id is not None else None
        if county and f"{county}-{code}" in self.departments:
            return self.departments[f"{county}-{code}"]
        return self.departments.get(code)


class UnitCache:
    """Current units of one database, rebuilt when the units signature changes."""

    def __init__(self, engine: Engine, *, check_every_s: float = CHECK_EVERY_S,
                 keep_root: Path | None = None) -> None:
        self.engine = engine
        # where the assignment engine's rasters are kept for other processes
        # (store.kept_engine); None: each process builds its own
        self.keep_root = keep_root
        self.check_every_s = check_every_s
        self._lock = threading.RLock()
        # the assignment engine builds under its own lock: on a province that takes seconds,
        # and the signature checks and the tree every page needs must not wait for it
        self._places_lock = threading.Lock()
        self._signature: tuple | None = None
        self._checked = -1e9
        self._tree: UnitTree | None = None
        self._places: Places | None = None
        self._places_checked = -1e9
        self._scoped: dict[tuple, UnitTree] = {}

    def for_actor(self, actor: Any) -> ScopedUnits:
        """This cache as ``actor`` sees it (:class:`ScopedUnits`)."""
        return ScopedUnits(self, getattr(actor, "units", None))

    # -- the signal ---------------------------------------------------------------------
    def signature(self, *, force: bool = False) -> tuple:
        """The units signature, re-read from the database when due (or ``force``)."""
        from store.wall import units_signature

        now = time.monotonic()
        if not force and self._signature is not None and now - self._checked < \
                self.check_every_s:
            return self._signature
        with self._lock, scope.acting(SYSTEM):  # aggregates of every unit, for every actor
            signature = tuple(units_signature(self.engine))
            self._checked = time.monotonic()
            if signature != self._signature:
                self._signature = signature
                self._tree = None
                self._places = None
            return signature

    def changed(self) -> None:
        """The one "units changed" signal: this process saved units; re-check now."""
        self._places_checked = -1e9
        self.signature(force=True)

    # -- what is derived from the units --------------------------------------------------
    def tree(self) -> UnitTree:
        signature = self.signature()
        tree = self._tree
        if tree is None:
            from store.wall import unit_tree

            with self._lock, scope.acting(SYSTEM):
                if self._tree is None or self._signature != signature:
                    self._tree = UnitTree({u["id"]: u for u in unit_tree(self.engine)})
                tree = self._tree
        return tree

    def places(self, *, force: bool = False) -> Places:
        """The assignment engine and lookups, rebuilt when units, workers or departments
        change (workers and departments checked at most every :data:`PLACES_EVERY_S`)."""
        from store.incidents import departments_by_code, grid_workers_by_grid, places_stamp
        from store.kept_engine import build_engine, database_of
        from store.repository import county_codes, load_units_frame

        self.signature(force=force)
        now = time.monotonic()
        cached = self._places
        if cached is not None and not force and now - self._places_checked < PLACES_EVERY_S:
            return cached
        with self._places_lock, scope.acting(SYSTEM):
            with self.engine.connect() as conn:
                stamp = (self._signature, *places_stamp(conn))
                if self._places is not None and not force and stamp == self._places.stamp:
                    self._places_checked = now
                    return self._places
                old = self._places
                if old is not None and not force and old.stamp[0] == self._signature:
                    engine = old.engine  # only workers or departments changed
                else:
                    units = load_units_frame(conn)
                    engine = build_engine(units, root=self.keep_root,
                                          database=database_of(self.engine.url),
                                          signature=self._signature) if len(units) else None
                fresh = Places(engine, grid_workers_by_grid(conn), departments_by_code(conn),
                               county_codes(conn), stamp)
            self._places = fresh
            self._places_checked = now
            return fresh


class ScopedUnits:
    """The unit cache as one actor sees it: :meth:`tree` holds only the actor's units (its
    home units and below); placing reports (:meth:`places`) and the change signal are the
    shared cache's.  ``Runtime.acting_as`` hands this out, so every page reading
    ``runtime().units.tree()`` is scoped without asking."""

    def __init__(self, base: UnitCache, homes: frozenset[int] | None) -> None:
        self.base, self.homes = base, homes
        self.engine = base.engine

    def signature(self, *, force: bool = False) -> tuple:
        return self.base.signature(force=force)

    def changed(self) -> None:
        self.base.changed()

    def places(self, *, force: bool = False) -> Places:
        return self.base.places(force=force)

    def tree(self) -> UnitTree:
        tree = self.base.tree()
        if self.homes is None:
            return tree
        key = (id(tree), self.homes)
        with self.base._lock:
            hit = self.base._scoped.get(key)
            if hit is None:
                if len(self.base._scoped) > 256:
                    self.base._scoped.clear()
                hit = self.base._scoped[key] = tree.within(self.homes)
        return hit

    def for_actor(self, actor: Any) -> ScopedUnits:
        return self.base.for_actor(actor)


_caches: dict[tuple, UnitCache] = {}
_caches_lock = threading.Lock()


def unit_cache(engine: Engine, keep_root: Path | None = None) -> UnitCache:
    """The process's one cache for this database (shared by every runtime on it);
    ``keep_root``: the var directory where its assignment engine is kept for other
    processes."""
    key = (engine.url.render_as_string(hide_password=False),
           getattr(engine, "_onemap_scoped", None))
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None or cache.engine is not engine:
            cache = _caches[key] = UnitCache(engine, keep_root=keep_root)
        elif keep_root is not None and cache.keep_root is None:
            cache.keep_root = keep_root
        return cache


def forget_all() -> None:
    """Drop every cache (tests that rewrite units behind the app's back call this)."""
    with _caches_lock:
        for cache in _caches.values():
            cache._signature = None
            cache._tree = None
            cache._places = None
            cache._scoped.clear()


def levels_mismatch(db: Any) -> tuple[str, str] | None:
    """``("error" | "warning", sentence)`` when the current units do not fit this deployment's
    levels (``ONEMAP_LEVELS``), else None (also with no units yet).

    Units deeper than the grid level cannot be drawn or assigned: the database was built for
    more levels (a five-level database under the four-level default).  No unit at the grid
    level means either an import still in progress or a database of fewer levels read with a
    city on top (its counties would be taken for cities): said as a warning.
    """
    from geo.levels import ACTIVE_KEYS, BOTTOM
    from store.db import scalar

    deepest = scalar(db, "SELECT max(level) FROM unit WHERE valid_to IS NULL")
    if deepest is None or int(deepest) == BOTTOM:
        return None
    named = f"ONEMAP_LEVELS names {len(ACTIVE_KEYS)} ({','.join(ACTIVE_KEYS)})"
    if int(deepest) > BOTTOM:
        return ("error", f"the units in this database go {int(deepest) + 1} levels deep, but "
                f"{named}: this database was built for another deployment. Start with the "
                "ONEMAP_LEVELS it was built with, or use a database of its own for these "
                "levels (README, \"Five levels\").")
    return ("warning", f"the units in this database go only {int(deepest) + 1} levels deep, "
            f"but {named}: no unit is at the grid level, so no report can be placed in a "
            "grid. Load the grids, or start with the ONEMAP_LEVELS this database was built "
            "with.")
