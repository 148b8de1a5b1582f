"""A first full refresh through real Celery workers: 1 and 2 worker processes, then inline.

Run from the repository root (PostgreSQL and Redis running):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/uplift_bench_refresh \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \\
      .venv/bin/python bench/refresh_workers.py [--tasks 1000000] [--concurrency 1,2] [--inline]

It seeds the database (`bench/seed_tasks.py` defaults: 2,000 researchers, 50 teams, tasks over
the 12 months before the current one) unless it already holds exactly that many tasks, then
for each concurrency: deletes every snapshot (nothing to reuse), starts one `celery worker
--concurrency N` (prefork, as the production compose runs it), queues the nightly refresh job
through the broker and waits for its snapshot to succeed. It prints the wall time from queuing
to success, the snapshot's own duration, the workers' CPU time, the pieces and the load average
before and after. `--inline` also times `compute.estimates_refresh()` in this process (the same
pieces one after another on one read: what `manage.py compute_estimates` does). The database
name must contain "bench"; the machine may be shared, so the load is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seed_tasks import bench_database_setup, seed_tasks  # noqa: E402


def worker_refresh(concurrency: int, log_dir: Path) -> dict:
    """One refresh with no previous snapshot, through a worker of ``concurrency`` processes."""
    from django.db import connection

    from bench.servers import CeleryWorker, app_env
    from uplift.estimates.models import Snapshot
    from uplift.estimates.tasks import estimates_refresh_scheduled

    Snapshot.objects.all().delete()
    env = app_env(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ["CELERY_BROKER_URL"],
    )
    with CeleryWorker(env=env, log_dir=log_dir, concurrency=concurrency) as worker:
        time.sleep(2)  # the pool's processes have imported the app
        cpu, load_before = worker.cpu_seconds(), os.getloadavg()
        start = time.perf_counter()
        estimates_refresh_scheduled.delay()
        while True:
            snapshot = Snapshot.objects.exclude(status=Snapshot.Status.PENDING).first()
            if snapshot and snapshot.status in (Snapshot.Status.SUCCEEDED, Snapshot.Status.FAILED):
                break
            connection.close_if_unusable_or_obsolete()
            time.sleep(0.05)
        wall = time.perf_counter() - start
        cpu = worker.cpu_seconds() - cpu
    if snapshot.status != Snapshot.Status.SUCCEEDED:
        raise RuntimeError(f"the refresh failed: {snapshot.message}")
    return {
        "wall": wall,
        "duration": snapshot.duration_seconds,
        "cpu": cpu,
        "pieces": len(snapshot.pieces),
        "slices": snapshot.scopes.count(),
        "load": (load_before, os.getloadavg()),
    }


def inline_refresh() -> dict:
    import resource

    from uplift.estimates import compute
    from uplift.estimates.models import Snapshot

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    Snapshot.objects.all().delete()
    load_before = os.getloadavg()
    start, cpu_start = time.perf_counter(), cpu()
    snapshot = compute.estimates_refresh()
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "duration": snapshot.duration_seconds,
        "cpu": cpu() - cpu_start,
        "pieces": len(snapshot.pieces),
        "slices": snapshot.scopes.count(),
        "load": (load_before, os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--concurrency", default="1,2", help="comma-separated worker sizes")
    parser.add_argument("--inline", action="store_true", help="also time the inline refresh")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        parser.error("set CELERY_BROKER_URL to a Redis database the benchmark may use")

    bench_database_setup()
    from django.db import connection

    from uplift.worklog.models import Task

    if Task.objects.count() != args.tasks:
        seed_tasks(args.tasks, verbose=False)
    print(f"database {connection.settings_dict['NAME']}, {args.tasks:,} tasks", flush=True)
    print("run           wall (s)  snapshot (s)  CPU (s)  pieces  slices  load (before/after)")
    runs = [(f"worker -c {c}", int(c)) for c in args.concurrency.split(",")]
    if args.inline:
        runs.append(("inline", None))
    with tempfile.TemporaryDirectory() as log_dir:
        for _ in range(args.repeat):
            for name, concurrency in runs:
                if concurrency is None:
                    r = inline_refresh()
                else:
                    r = worker_refresh(concurrency, Path(log_dir))
                (before, _, _), (after, _, _) = r["load"]
                print(
                    f"{name:<13} {r['wall']:9.2f}  {r['duration']:12.2f}  {r['cpu']:7.2f}  "
                    f"{r['pieces']:6d}  {r['slices']:6d}  {before:.1f} / {after:.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
