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
    from store.runtime import build_runtime

    start_server(settings)
    engine = prepare_database(settings, demo=False) if migrate else None
    return build_runtime(settings, engine=engine,
                         actor=cli_actor(os.environ.get("USER") or "unknown"))
