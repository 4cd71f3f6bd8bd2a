"""What every command shares: messages on stderr and the runtime context it acts in."""

from __future__ import annotations

import os
import sys

from onemap.access import cli_actor
from onemap.context import Runtime
from onemap.settings import Settings


def say(message: str) -> None:
    print(f"[onemap] {message}", file=sys.stderr, flush=True)


def open_runtime(settings: Settings, *, migrate: bool = False) -> Runtime:
    """Start the embedded cluster (if that is what we use), optionally migrate the schema to
    head, and build the runtime context with the shell's user as the actor."""
    from cli.bootstrap import prepare_database, start_server
    from store.engine import database_url, get_engine
    from store.runtime import build_runtime

    start_server(settings)
    # The owner's engine: the command line is the database's administrator (row-level
    # security is for the web app's role).
    engine = prepare_database(settings, demo=False) if migrate else get_engine(
        database_url(settings))
    return build_runtime(settings, engine=engine,
                         actor=cli_actor(os.environ.get("USER") or "unknown"))
