"""The refresh's cost against the number of tasks: a full refresh at each size.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/uplift_bench_refresh \\
      .venv/bin/python bench/refresh_curve.py [--max-tasks N] [--sizes 1000,3000,...]

For each size (1,000 / 3,000 / 10,000 / 25,000 / 100,000 / 1,000,000 by default; --max-tasks
stops earlier) it seeds the database (`bench/seed_tasks.py` defaults: 2,000 researchers,
50 teams, 12 task types, tasks over the 12 months before the current one), deletes every
snapshot so that no slice is reused, runs one refresh (`compute.estimates_refresh`) and prints
its wall time, this process's CPU time (BLAS threads included), the slices stored, the
`estimate_all` calls and the load average. The database name must contain "bench"; the machine
may be shared, so compare CPU times.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seed_tasks import bench_database_setup, seed_tasks  # noqa: E402

SIZES = (1_000, 3_000, 10_000, 25_000, 100_000, 1_000_000)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def full_refresh() -> dict:
    """One refresh with no previous snapshot, timed; every slice is computed."""
    from uplift.estimates import compute
    from uplift.estimates.models import Snapshot

    Snapshot.objects.all().delete()
    calls = 0
    original = compute.estimate_all

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    compute.estimate_all = counted
    try:
        load_before = os.getloadavg()
        start, cpu = time.perf_counter(), _cpu()
        snapshot = compute.estimates_refresh()
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
    finally:
        compute.estimate_all = original
    return {
        "wall": wall,
        "cpu": cpu,
        "slices": snapshot.scopes.count(),
        "calls": calls,
        "load": (load_before, os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-tasks", type=int, default=SIZES[-1], help="largest size to run")
    parser.add_argument("--sizes", help="comma-separated sizes instead of the default ones")
    parser.add_argument("--repeat", type=int, default=1, help="refreshes per size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)

    bench_database_setup()
    from django.db import connection

    print(f"database {connection.settings_dict['NAME']}", flush=True)
    print("tasks      wall (s)  CPU (s)  slices  estimate_all calls  load 1 min (before/after)")
    for n_tasks in sizes:
        if n_tasks > args.max_tasks:
            break
        seed_tasks(n_tasks, verbose=False)
        for _ in range(args.repeat):
            r = full_refresh()
            (before, _, _), (after, _, _) = r["load"]
            print(
                f"{n_tasks:>9,}  {r['wall']:8.2f}  {r['cpu']:7.2f}  {r['slices']:6d}  "
                f"{r['calls']:18d}  {before:.1f} / {after:.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
