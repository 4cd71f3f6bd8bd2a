"""A read-only standby: PostgreSQL streaming replication, and the choice of engine for reads.

``onemap db replica up`` makes a local standby of the embedded cluster with ``pg_basebackup -R``
(which writes ``standby.signal`` and ``primary_conninfo``) on a replication slot, under
``var/replica`` on the next port.  The app reads from any standby named by
``DATABASE_REPLICA_URL`` through :class:`Replica`: the wall's aggregates and layers, the monthly
report and exports take ``Runtime.for_reading()``; writes and reads of one's own writes (intake
answers, the desk after an action) keep ``Runtime.engine``, the primary.  When the standby is
down or further behind than ``ONEMAP_REPLICA_MAX_LAG_S``, reads fall back to the primary.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from sqlalchemy import Engine, text

from store.cluster import Cluster

SLOT = "onemap_replica"
_LAG_SQL = """
SELECT pg_is_in_recovery(),
       (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming') > 0,
       pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),
       now(), pg_last_xact_replay_timestamp()
"""


# --- the local standby ---------------------------------------------------------------------
def standby(primary: Cluster) -> Cluster:
    """The local standby's cluster object (``var/replica``, the primary's port + 1)."""
    return Cluster(primary.settings, primary.bins, root=primary.settings.var_path / "replica",
                   port=primary.port + 1)


def _primary_conn(primary: Cluster) -> psycopg.Connection:
    url = primary.url("postgres").replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def up(primary: Cluster, *, say=print) -> Cluster:
    """Make (first time: a base backup over the replication protocol) and start the standby."""
    primary.start()
    replica = standby(primary)
    if not replica.initialised:
        with _primary_conn(primary) as conn:
            exists = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                                  (SLOT,)).fetchone()
            if not exists:
                conn.execute("SELECT pg_create_physical_replication_slot(%s)", (SLOT,))
        say(f"copying the primary into {replica.datadir} (pg_basebackup) …")
        replica.root.mkdir(parents=True, exist_ok=True)
        replica.give_to_server(replica.root)
        primary.run_tool("pg_basebackup", "-D", str(replica.datadir), "-Fp", "-X", "stream",
                         "-R", "-S", SLOT, "-c", "fast")
    replica.start()
    return replica


def drop(primary: Cluster) -> None:
    """Stop and delete the local standby and drop its slot (else the primary keeps its WAL)."""
    replica = standby(primary)
    replica.stop()
    shutil.rmtree(replica.root, ignore_errors=True)
    if primary.status().running:
        with _primary_conn(primary) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = %s AND NOT active", (SLOT,))


def describe(primary: Cluster) -> str:
    replica = standby(primary)
    state = replica.status().describe()
    if not replica.status().running:
        return f"standby {state}"
    url = replica.url(primary.settings.db_name).replace("postgresql+psycopg://",
                                                        "postgresql://", 1)
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        lag = _lag(conn.execute(_LAG_SQL).fetchone())
    return f"standby {state}; {lag.describe()}"


# --- reading from a standby ----------------------------------------------------------------
@dataclass(frozen=True)
class Lag:
    streaming: bool
    seconds: float
    as_of: datetime | None

    def describe(self) -> str:
        if not self.streaming:
            return f"not streaming; data as of {self.as_of}"
        return f"streaming, {self.seconds:.1f} s behind (data as of {self.as_of})"


def _lag(row) -> Lag:
    in_recovery, streaming, caught_up, now, replayed = row
    if not in_recovery:  # a promoted standby is a primary of its own
        return Lag(True, 0.0, now)
    if streaming and caught_up:
        return Lag(True, 0.0, now)
    if replayed is None:
        return Lag(streaming, float("inf"), None)
    return Lag(streaming, max(0.0, (now - replayed).total_seconds()), replayed)


class Replica:
    """A standby's engine and its freshness, checked at most every ``every`` seconds."""

    def __init__(self, engine: Engine, max_lag_s: float, every: float = 2.0) -> None:
        self.engine = engine
        self.max_lag_s = max_lag_s
        self.every = every
        self._checked = 0.0
        self._lag: Lag | None = None
        self._lock = threading.Lock()

    def lag(self) -> Lag | None:
        """The standby's lag (None when it cannot be reached)."""
        with self._lock:
            if time.monotonic() - self._checked < self.every:
                return self._lag
            try:
                with self.engine.connect() as conn:
                    self._lag = _lag(conn.execute(text(_LAG_SQL)).one())
            except Exception:  # noqa: BLE001 - any failure means: read the primary
                self._lag = None
            self._checked = time.monotonic()
            return self._lag

    def fresh(self) -> Lag | None:
        """The lag when the standby may serve reads now, else None."""
        lag = self.lag()
        if lag is None or lag.seconds > self.max_lag_s:
            return None
        return lag
