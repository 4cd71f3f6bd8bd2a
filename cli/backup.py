"""`onemap db backup [--verify|--list]`, `onemap db restore --to T` and `onemap db replica …`:
thin parsers over :mod:`store.backup` and :mod:`store.replica`."""

from __future__ import annotations

import argparse
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cli.common import say
from onemap.errors import ConfigError
from onemap.settings import Settings
from store.cluster import port_in_use


def _primary(settings: Settings):
    from cli.bootstrap import embedded_cluster

    if not settings.embedded:
        raise ConfigError("DATABASE_URL is set: OneMap does not manage that server's backups "
                          "or standbys. Use that server's own tools (pg_basebackup, WAL "
                          "archiving), or unset DATABASE_URL to use the embedded cluster.")
    cluster = embedded_cluster(settings)
    cluster.start()
    return cluster


def _free_port(start: int) -> int:
    port = start
    while port_in_use(port):
        port += 1
    return port


def _audit(settings: Settings, action: str, detail: dict) -> None:
    from accounts.audit import audit
    from cli.common import open_runtime

    audit(open_runtime(settings), action, object_type="cluster", object_id="embedded",
          detail=detail)


def parse_time(value: str, tz: str) -> datetime:
    """'2026-12-01 10:00' (in the configured time zone) or an ISO time with an offset."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError as exc:
        raise ConfigError(f"--to {value!r} is not a time; write it as \"2026-12-01 10:00\" "
                          f"(read in {tz}) or with an offset, \"2026-12-01 10:00+08:00\".") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} KB"


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from store import backup

    primary = _primary(settings)
    root = settings.backup_path
    if args.list:
        found = backup.backups(root)
        if not found:
            say(f"no backups in {root} yet: run `onemap db backup`")
        for b in found:
            print(f"{b.name}  finished {b.finished_at.astimezone(ZoneInfo(settings.timezone))}"
                  f"  {_size(b.bytes)}")
        return 0
    if args.verify:
        scratch = settings.var_path / "restore" / "verify"
        shutil.rmtree(scratch, ignore_errors=True)
        result = backup.verify(primary, settings.db_name, scratch=scratch,
                               port=_free_port(settings.pg_port + 3))
        width = max(len(k) for k in result.expected)
        print(f"{'':{width}}  {'primary':>22}  {'restored':>22}")
        for key in sorted(result.expected):
            mark = "" if result.expected[key] == result.found.get(key) else "   ← differs"
            print(f"{key:{width}}  {result.expected[key]!s:>22}  "
                  f"{result.found.get(key, '—')!s:>22}{mark}")
        for step, secs in result.seconds.items():
            say(f"{step}: {secs:.1f} s")
        _audit(settings, "db.backup.verify", {"backup": result.backup.name, "ok": result.ok,
                                              "differences": result.differences})
        if result.ok:
            say(f"backup {result.backup.name} restores and matches the primary "
                f"({len(result.expected)} figures)")
            return 0
        say(f"backup {result.backup.name} does NOT match the primary: "
            + ", ".join(result.differences))
        return 1
    taken = backup.take(primary, say=say)
    say(f"base backup {taken.name} ({_size(taken.bytes)}) in {taken.path}; WAL is archived "
        f"continuously into {root / 'wal'}")
    _audit(settings, "db.backup", {"backup": taken.name, "bytes": taken.bytes})
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from store import backup

    if not args.to:
        raise ConfigError('Say which moment to restore: onemap db restore --to "2026-12-01 '
                          '10:00" (use `onemap db backup --list` to see what is restorable).')
    to = parse_time(args.to, settings.timezone)
    primary = _primary(settings)
    into = Path(args.into) if args.into else (
        settings.var_path / "restore" / to.strftime("%Y%m%d-%H%M%S"))
    port = args.port or _free_port(settings.pg_port + 2)
    restored = backup.restore(primary, into=into, port=port, to=to)
    _audit(settings, "db.restore", {"to": to.isoformat(), "into": str(into), "port": port})
    say(f"restored to {to.isoformat(sep=' ')} in {into}, running on 127.0.0.1:{port}")
    print(restored.url(settings.db_name))
    say(f"stop it with `onemap stop` (it stops every cluster under {settings.var_path})")
    return 0


def cmd_replica(settings: Settings, args: argparse.Namespace) -> int:
    from store import replica

    what = args.what or "status"
    primary = _primary(settings)
    if what == "up":
        standby = replica.up(primary, say=say)
        say(f"standby running on 127.0.0.1:{standby.port}; point the app at it with "
            f"DATABASE_REPLICA_URL=$(onemap db replica url)")
        return 0
    if what == "url":
        print(replica.standby(primary).url(settings.db_name))
        return 0
    if what == "down":
        say("standby stopped" if replica.standby(primary).stop() else "standby was not running")
        return 0
    if what == "drop":
        replica.drop(primary)
        say("standby stopped and removed, its replication slot dropped")
        return 0
    print(replica.describe(primary))
    return 0
