"""Benchmark the task export and the task list over HTTP, against PostgreSQL's own COPY.

    .venv/bin/python -m bench.export            # 1,000,000 tasks in `uplift_bench_export`
    DATABASE_URL=postgres://.../uplift_bench_x .venv/bin/python -m bench.export --tasks 100000

The database (its name must contain "bench") is seeded with ``bench.seed_tasks`` unless it
already holds exactly ``--tasks`` tasks. The app runs in gunicorn (one sync worker, production
settings); in the same run the script times:

- ``COPY (SELECT ...) TO STDOUT`` of the same rows and information (names joined, tool names
  aggregated, values in PostgreSQL's own text), read by psycopg: the baseline;
- ``GET /api/v1/tasks/export/?format=csv`` (and jsonl) as an admin, read in full by a client,
  with the worker's peak resident memory (VmHWM) before and after;
- ``GET /api/v1/tasks/`` (first page and filtered pages): latency percentiles.

Targets: export at least half COPY's throughput, worker peak memory under 200 MB, list p95
under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_export"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import Gunicorn, app_env  # noqa: E402

# The baseline: the same rows and columns as the export, as PostgreSQL writes them unformatted.
BASELINE_SQL = """
COPY (
    SELECT t.id, t.external_id, u.email, tm.name, tt.name, t.title, t.assignment, t.condition,
           t.allocation_ai, t.forecast_no_ai_minutes, t.forecast_ai_minutes, t.status,
           t.actual_minutes, t.started_at, t.completed_at, t.perceived_other_minutes, x.tools
    FROM worklog_task t
    JOIN accounts_user u ON u.id = t.owner_id
    JOIN accounts_team tm ON tm.id = t.team_id
    JOIN worklog_tasktype tt ON tt.id = t.task_type_id
    LEFT JOIN (SELECT tu.task_id, string_agg(tl.name, ';' ORDER BY tl.name) AS tools
               FROM worklog_tooluse tu JOIN worklog_tool tl ON tl.id = tu.tool_id
               GROUP BY tu.task_id) x ON x.task_id = t.id
    ORDER BY t.id
) TO STDOUT WITH (FORMAT csv)
"""


def _setup(n_tasks: int) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    from bench.seed_tasks import bench_database_setup, seed_tasks

    bench_database_setup()
    from uplift.worklog.models import Task

    if Task.objects.count() != n_tasks:
        seed_tasks(n_tasks)


def _admin_token() -> str:
    from uplift.accounts.models import User
    from uplift.api.models import ApiToken

    admin, _ = User.objects.get_or_create(
        username="bench-export-admin", defaults={"is_staff": True, "email": "admin@bench.example"}
    )
    ApiToken.objects.filter(user=admin).delete()
    _, secret = ApiToken.objects.create(user=admin, expiry=None, name="bench")
    return secret


def _memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found")


def _time_copy() -> tuple[float, int, int]:
    """Seconds, bytes and rows of the baseline COPY, read by psycopg in this process."""
    from django.db import connection

    started = time.perf_counter()
    size = rows = 0
    with connection.cursor() as cursor, cursor.cursor.copy(BASELINE_SQL) as copy:
        for data in copy:
            size += len(data)
            rows += 1
    return time.perf_counter() - started, size, rows


def _time_download(session, url: str) -> tuple[float, int, int]:
    """Seconds, bytes and lines of one streamed download, read in full."""
    started = time.perf_counter()
    size = lines = 0
    with session.get(url, stream=True, timeout=900) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines


def _latencies(session, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = session.get(url, timeout=60)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _list_latencies(session, base: str, n: int) -> dict[str, list[float]]:
    """Milliseconds per request: first page, a filtered page, a page 50 cursors deep."""
    url = f"{base}/tasks/?page_size=100"
    for _ in range(50):
        url = session.get(url, timeout=60).json()["next"]
    return {
        "first": _latencies(session, f"{base}/tasks/", n),
        "filtered": _latencies(session, f"{base}/tasks/?status=completed&team=1&condition=ai", n),
        "deep": _latencies(session, url, n),
    }


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--list-requests", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()

    _setup(args.tasks)
    import requests

    token = _admin_token()
    env = app_env(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/"),
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench"),
        SECURE_SSL_REDIRECT="0",
    )
    # One sync worker; a timeout long enough for a million-row download.
    with (
        tempfile.TemporaryDirectory(prefix="bench-export-") as log_dir,
        Gunicorn(env=env, workers=1, log_dir=Path(log_dir), timeout=900) as server,
    ):
        base = f"{server.url}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        # Warm the worker (imports, connection) before measuring anything.
        session.get(f"{base}/tasks/", timeout=60).raise_for_status()
        worker = server.worker_pids()[0]
        rss_idle = _memory_mb(worker, "VmRSS")

        lists = _list_latencies(session, base, args.list_requests)

        peak_before_export = _memory_mb(worker, "VmHWM")
        copy_s, copy_bytes, copy_rows = _time_copy()
        csv_s, csv_bytes, csv_lines = _time_download(session, f"{base}/tasks/export/?format=csv")
        peak_after_csv = _memory_mb(worker, "VmHWM")
        jsonl_s, jsonl_bytes, jsonl_lines = _time_download(
            session, f"{base}/tasks/export/?format=jsonl"
        )
        peak = _memory_mb(worker, "VmHWM")
        # Again after the exports, which pushed a million rows through the worker and the cache.
        lists_after = _list_latencies(session, base, args.list_requests)

    rows = csv_lines - 1  # the header
    figures = {
        "tasks": args.tasks,
        "copy_seconds": round(copy_s, 3),
        "copy_rows_per_second": round(copy_rows / copy_s),
        "copy_mb": round(copy_bytes / 1e6, 1),
        "csv_seconds": round(csv_s, 3),
        "csv_rows_per_second": round(rows / csv_s),
        "csv_mb": round(csv_bytes / 1e6, 1),
        "csv_vs_copy": round((rows / csv_s) / (copy_rows / copy_s), 3),
        "jsonl_seconds": round(jsonl_s, 3),
        "jsonl_rows_per_second": round(jsonl_lines / jsonl_s),
        "jsonl_mb": round(jsonl_bytes / 1e6, 1),
        "jsonl_vs_copy": round((jsonl_lines / jsonl_s) / (copy_rows / copy_s), 3),
        "worker_rss_idle_mb": round(rss_idle, 1),
        "worker_peak_mb_before_exports": round(peak_before_export, 1),
        "worker_peak_mb_after_csv": round(peak_after_csv, 1),
        "worker_peak_mb": round(peak, 1),
    }
    for when, measured in (("", lists), ("_after_export", lists_after)):
        figures[f"list_p50_ms{when}"] = round(_percentile(measured["first"], 50), 1)
        for name, values in measured.items():
            figures[f"list_{name}_p95_ms{when}"] = round(_percentile(values, 95), 1)
    assert rows == args.tasks == copy_rows == jsonl_lines, (rows, copy_rows, jsonl_lines)
    print(
        f"{args.tasks:,} tasks\n"
        f"  COPY baseline   {copy_s:6.2f} s  {figures['copy_rows_per_second']:>9,} rows/s"
        f"  {figures['copy_mb']} MB\n"
        f"  export CSV      {csv_s:6.2f} s  {figures['csv_rows_per_second']:>9,} rows/s"
        f"  {figures['csv_mb']} MB  = {figures['csv_vs_copy']:.2f} x COPY (target >= 0.5)\n"
        f"  export JSONL    {jsonl_s:6.2f} s  {figures['jsonl_rows_per_second']:>9,} rows/s"
        f"  {figures['jsonl_mb']} MB  = {figures['jsonl_vs_copy']:.2f} x COPY\n"
        f"  worker memory   idle {rss_idle:.0f} MB, peak {peak_before_export:.0f} MB before the"
        f" exports, {peak:.0f} MB after (target < 200 MB)"
        + "".join(
            f"\n  list{label}: p50 {figures['list_p50_ms' + when]} ms, "
            f"p95 {figures['list_first_p95_ms' + when]} ms; "
            f"filtered p95 {figures['list_filtered_p95_ms' + when]} ms; "
            f"deep cursor p95 {figures['list_deep_p95_ms' + when]} ms (target < 50 ms)"
            for label, when in (("", ""), (" after the exports", "_after_export"))
        )
    )
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
