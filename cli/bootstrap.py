"""From nothing to a migrated database with data: the steps behind `make run` and `make test`.

Each step is idempotent, so running them again is cheap: the cluster is reused, the database
kept, migrations skipped when at head, demo data loaded only into an empty database.
"""

from __future__ import annotations

from sqlalchemy import Engine

from onemap.settings import Settings
from store import migrate
from store.cluster import Cluster
from store.engine import database_url, ensure_database, get_engine
from store.postgres_bin import ensure_postgres


def embedded_cluster(settings: Settings) -> Cluster:
    """The embedded cluster object (finding, or installing, PostgreSQL + PostGIS first)."""
    return Cluster(settings, ensure_postgres(settings),
                   archive_to=settings.backup_path / "wal")


def start_server(settings: Settings) -> Cluster | None:
    """Start the embedded cluster; with DATABASE_URL nothing is started and None returned."""
    if not settings.embedded:
        return None
    cluster = embedded_cluster(settings)
    cluster.start()
    return cluster


def prepare_database(settings: Settings, dbname: str | None = None, *, fresh: bool = False,
                     demo: bool = True) -> Engine:
    """Create (or recreate) the database, migrate it to head, and load demo data if empty."""
    url = database_url(settings, dbname)
    ensure_database(url, fresh=fresh)
    engine = get_engine(url)
    migrate.upgrade(engine)
    if demo:
        from loaders.demo import load_demo_if_empty

        if load_demo_if_empty(engine, settings.demo_region, tz=settings.timezone,
                              var_dir=settings.var_dir):
            from accounts.bootstrap import DEMO_PASSWORD, demo_users
            from cli.common import say
            from cli.demo import keep_boundaries
            from store.runtime import build_runtime

            keep_boundaries(settings, engine)
            made = demo_users(build_runtime(settings, engine=engine))
            if made:
                say(f"demo users (demo data only; password {DEMO_PASSWORD}): "
                    + ", ".join(u["username"] + (f" ({u['department']})" if u.get("department")
                                                 else "") for u in made))
    return engine
