"""`onemap bulk households|incidents [--scheduler local|none|tcp://host:8786] [--workers N]`:
bulk jobs as partitioned tasks on Dask (:mod:`planning.bulk`); a re-run resumes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import open_runtime, say
from onemap.settings import Settings


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[onemap] {'█' * filled}{'·' * (width - filled)} {done}/{total} parts",
          end="" if done < total else "\n", file=sys.stderr, flush=True)


def cmd_bulk(settings: Settings, args: argparse.Namespace) -> int:
    from accounts.audit import audit
    from planning import bulk

    rt = open_runtime(settings, migrate=True)
    url = rt.engine.url.render_as_string(hide_password=False)
    scheduler = None if args.scheduler == "none" else args.scheduler
    result = bulk.run(url, args.kind, actor=rt.actor.label, scheduler=scheduler,
                      workers=args.workers, parts=args.parts, snap_m=settings.snap_m,
                      progress=_bar)
    audit(rt, f"bulk.{args.kind}", object_type="bulk_job", object_id=result.job,
          result="ok" if result.finished else "failed",
          detail={"parts": result.parts, "done": result.done_now, "rows": result.rows,
                  "changed": result.changed, "workers": result.workers,
                  "scheduler": args.scheduler, "resumed": result.resumed})
    what = "resumed" if result.resumed else "ran"
    say(f"job {result.job} {what}: {result.done_now}/{result.parts} parts on "
        f"{result.workers} worker(s), {result.rows:,} rows read, {result.changed:,} changed, "
        f"{result.seconds:.1f} s")
    for line in result.failed:
        say(f"failed: {line}")
    if not result.finished:
        say("the job is not finished: run the same command again to resume it")
        return 1
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("bulk", help="bulk jobs on Dask: re-assign households, back-fill "
                                    "incidents' unit ids")
    p.add_argument("kind", choices=["households", "incidents"],
                   help="households: every located household to its grid now; incidents: "
                        "unit ids for located incidents that have none")
    p.add_argument("--scheduler", default="local",
                   help="local (a LocalCluster, the default), none (this process only), or "
                        "a running scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--parts", type=int, default=None,
                   help="id ranges to split the rows into (default 4 per worker)")
    p.set_defaults(func=cmd_bulk)
