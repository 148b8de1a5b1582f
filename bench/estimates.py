"""Benchmark of the whole estimates refresh on PostgreSQL against a minimal baseline.

Run from the repository root:

    .venv/bin/python bench/estimates.py [--tasks N] [--reuse] [--repeat 3]

It uses the `uplift_bench` database (created and migrated if missing; DATABASE_URL wins if set),
seeds N generated tasks (skipped with --reuse when the table already holds N tasks), then on warm
caches times, best of --repeat and median:

a. `estimates_refresh()`: read with `estimate_input`, compute with `estimate_all`, store the
   snapshot and its estimates; split into those three parts (and the lock/snapshot bookkeeping);
b. the six columns one fit needs, by COPY into pandas, plus one statsmodels OLS of
   log(actual) ~ ai + log(forecast_no_ai) on completed randomized tasks, clustered by researcher;
c. the same rows with all the data the refresh reads (team and task type names, month, tool
   names), by a plain CSV COPY with joins into pandas, plus the same one fit.

Targets: refresh <= 15 s and <= 3x (c), reading the same rows with COPY plus one fit. The
ratio to (b) is printed too, as is the organisation's part of the refresh alone (reading plus
its own estimate_all, without the dashboards' slices).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed_tasks import bench_database_setup, seed_tasks  # noqa: E402

REFRESH_TARGET_SECONDS = 15.0
RATIO_TARGET = 3.0
# b: only the six columns one overall fit needs.
BASELINE_SQL = """
COPY (
    SELECT owner_id, condition = 'ai' AS ai, assignment, status, forecast_no_ai_minutes,
           actual_minutes
    FROM worklog_task
) TO STDOUT WITH (FORMAT csv)
"""
BASELINE_COLUMNS = ["researcher", "ai", "assignment", "status", "forecast_no_ai", "actual"]
# c: the same rows with everything the refresh reads (team and task type names, the month of
# completion and the tool names used), read the plain way: CSV COPY with joins, then pandas.
SAME_DATA_SQL = """
COPY (
    SELECT t.id, t.owner_id, t.condition = 'ai' AS ai, t.assignment, t.status,
           t.forecast_no_ai_minutes, t.actual_minutes, tm.name, tt.name, t.allocation_ai,
           t.forecast_ai_minutes, t.perceived_other_minutes,
           to_char(t.completed_at AT TIME ZONE 'UTC', 'YYYY-MM'), tu.tools
    FROM worklog_task t
    JOIN accounts_team tm ON tm.id = t.team_id
    JOIN worklog_tasktype tt ON tt.id = t.task_type_id
    LEFT JOIN (
        SELECT u.task_id, string_agg(tl.name, ';' ORDER BY tl.name) AS tools
        FROM worklog_tooluse u JOIN worklog_tool tl ON tl.id = u.tool_id
        GROUP BY u.task_id
    ) tu ON tu.task_id = t.id
) TO STDOUT WITH (FORMAT csv)
"""
SAME_DATA_COLUMNS = [
    "task_id",
    "researcher",
    "ai",
    "assignment",
    "status",
    "forecast_no_ai",
    "actual",
    "team",
    "task_type",
    "allocation",
    "forecast_ai",
    "perceived_other",
    "month",
    "tools",
]


def machine_facts() -> list[str]:
    import numpy as np
    import pandas as pd
    import scipy
    import statsmodels
    from django.db import connection

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    facts = [
        f"cpus: {os.cpu_count()} (usable: {affinity})",
        f"python {platform.python_version()} on {platform.platform()}",
        f"numpy {np.__version__}, pandas {pd.__version__}, scipy {scipy.__version__}, "
        f"statsmodels {statsmodels.__version__}",
    ]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = _numpy_blas()
        facts.append(f"BLAS (numpy config; threadpoolctl not installed): {blas}")
    else:
        for pool in threadpool_info():
            facts.append(
                f"threadpool {pool.get('internal_api')} {pool.get('version')}: "
                f"{pool.get('num_threads')} threads ({pool.get('threading_layer', '-')})"
            )
    threads = {
        name: os.environ[name]
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if name in os.environ
    }
    facts.append(f"thread env: {threads or 'none set'}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('shared_buffers'), current_database()")
        version, shared_buffers, database = cursor.fetchone()
    facts.append(f"{version.split(' on ')[0]}, shared_buffers {shared_buffers}, db {database}")
    return facts


def _numpy_blas() -> str:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception as error:  # older numpy or an unexpected layout
        return f"unknown ({type(error).__name__})"


def task_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM worklog_task")
        return cursor.fetchone()[0]


class RefreshProbe:
    """Times the parts of `estimates_refresh` by wrapping what the refresh module calls."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.compute_calls: list[float] = []

    def install(self) -> None:
        from uplift.estimates import compute

        self._wrap(compute, "estimate_input", "input")
        self._wrap(compute, "estimate_all", "compute")
        self._wrap(compute, "_compute", "compute_and_store")

    def _wrap(self, module, name: str, key: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                # Summed: a refresh calls estimate_all once per slice it recomputes.
                elapsed = time.perf_counter() - start
                self.last[key] = self.last.get(key, 0.0) + elapsed
                if key == "compute":
                    self.compute_calls.append(elapsed)

        setattr(module, name, timed)


def run_refresh(probe: RefreshProbe) -> dict[str, float]:
    from uplift.estimates.compute import estimates_refresh

    probe.last = {}
    probe.compute_calls = []
    start = time.perf_counter()
    snapshot = estimates_refresh()
    total = time.perf_counter() - start
    if snapshot is None or snapshot.status != "succeeded":
        raise RuntimeError(f"refresh did not succeed: {snapshot}")
    parts = probe.last
    return {
        "total": total,
        "input": parts["input"],
        "compute": parts["compute"],
        "store": parts["compute_and_store"] - parts["input"] - parts["compute"],
        "bookkeeping": total - parts["compute_and_store"],
        # The first call is the organisation over all time; the rest are dashboard slices.
        "org_compute": probe.compute_calls[0],
        "slice_calls": float(len(probe.compute_calls) - 1),
    }


def run_baseline(sql: str = BASELINE_SQL, columns: list[str] = BASELINE_COLUMNS) -> dict:
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm
    from django.db import connection

    start = time.perf_counter()
    buffer = io.BytesIO()
    with connection.cursor() as wrapper, wrapper.cursor.copy(sql) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        names=columns,
        true_values=["t"],
        false_values=["f"],
    )
    read = time.perf_counter()
    done = frame[(frame["assignment"] == "randomized") & (frame["status"] == "completed")]
    exog = np.column_stack(
        [
            np.ones(len(done)),
            done["ai"].to_numpy(dtype=float),
            np.log(done["forecast_no_ai"].to_numpy()),
        ]
    )
    fit = sm.OLS(np.log(done["actual"].to_numpy()), exog).fit(
        cov_type="cluster", cov_kwds={"groups": done["researcher"].to_numpy()}
    )
    end = time.perf_counter()
    if not np.isfinite(fit.bse[1]):
        raise RuntimeError("baseline fit failed")
    return {"total": end - start, "read": read - start, "fit": end - read, "beta_ai": fit.params[1]}


def summarize(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    values = defaultdict(list)
    for run in runs:
        for key, value in run.items():
            values[key].append(value)
    return {key: (min(v), statistics.median(v)) for key, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks to seed")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data if the table already has N tasks"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    args = parser.parse_args(argv)

    bench_database_setup()
    for fact in machine_facts():
        print(fact)

    existing = task_count()
    if args.reuse and existing == args.tasks:
        print(f"reusing the {existing:,} tasks already seeded")
    else:
        seed_tasks(args.tasks)

    probe = RefreshProbe()
    probe.install()
    print("warming up (one refresh, one baseline)...", flush=True)
    run_refresh(probe)
    run_baseline()
    run_baseline(SAME_DATA_SQL, SAME_DATA_COLUMNS)

    refreshes, baselines, same_data = [], [], []
    for i in range(args.repeat):
        refreshes.append(run_refresh(probe))
        refreshes[-1]["organisation"] = refreshes[-1]["input"] + refreshes[-1]["org_compute"]
        baselines.append(run_baseline())
        same_data.append(run_baseline(SAME_DATA_SQL, SAME_DATA_COLUMNS))
        print(
            f"run {i + 1}: refresh {refreshes[-1]['total']:.2f} s, "
            f"baseline {baselines[-1]['total']:.2f} s, same data {same_data[-1]['total']:.2f} s",
            flush=True,
        )
    refresh, baseline = summarize(refreshes), summarize(baselines)
    same = summarize(same_data)

    print()
    print(f"{args.tasks:,} tasks, best of {args.repeat} / median (seconds)")
    header = f"{'':<38}{'best':>9}{'median':>9}"
    print(header)
    print("-" * len(header))
    rows = [
        ("a. estimates_refresh() end to end", refresh["total"]),
        ("   estimate_input (COPY + pandas)", refresh["input"]),
        ("   estimate_all, all calls", refresh["compute"]),
        ("     of which organisation, all time", refresh["org_compute"]),
        ("   store estimates + snapshot", refresh["store"]),
        ("   lock + snapshot bookkeeping", refresh["bookkeeping"]),
        ("   organisation alone (read + its fit)", refresh["organisation"]),
        ("b. six columns: COPY + 1 OLS fit", baseline["total"]),
        ("   COPY + read_csv", baseline["read"]),
        ("   statsmodels OLS, clustered", baseline["fit"]),
        ("c. same rows and data: COPY + 1 fit", same["total"]),
        ("   COPY (joins, tool names) + read_csv", same["read"]),
        ("   statsmodels OLS, clustered", same["fit"]),
    ]
    for label, (best, median) in rows:
        print(f"{label:<38}{best:>9.2f}{median:>9.2f}")
    for name, numerator, denominator in [
        ("a / b", refresh["total"], baseline["total"]),
        ("a / c", refresh["total"], same["total"]),
        ("organisation alone / c", refresh["organisation"], same["total"]),
    ]:
        best, median = numerator[0] / denominator[0], numerator[1] / denominator[1]
        print(f"{'ratio ' + name:<38}{best:>8.1f}x{median:>8.1f}x")
    print(f"baseline AI coefficient (log scale): {baseline['beta_ai'][1]:+.4f}")
    print()
    # The target compares the refresh with reading the same rows (c): everything it reads.
    ratio_median = refresh["total"][1] / same["total"][1]

    refresh_ok = refresh["total"][1] <= REFRESH_TARGET_SECONDS
    ratio_ok = ratio_median <= RATIO_TARGET
    print(
        f"{'PASS' if refresh_ok else 'FAIL'}: refresh {refresh['total'][1]:.2f} s (median) "
        f"<= {REFRESH_TARGET_SECONDS:.0f} s"
    )
    print(
        f"{'PASS' if ratio_ok else 'FAIL'}: ratio a / c {ratio_median:.1f}x (median) "
        f"<= {RATIO_TARGET:.0f}x reading the same rows with COPY plus one fit"
    )
    return 0 if refresh_ok and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
