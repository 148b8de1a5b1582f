"""Benchmark the task export and the task list over HTTP, against PostgreSQL's own COPY.

    .venv/bin/python -m bench.export            # 1,000,000 tasks in `uplift_bench_export`
    DATABASE_URL=postgres://.../uplift_bench_x .venv/bin/python -m bench.export --tasks 100000

The database (its name must contain "bench") is seeded with ``bench.seed_tasks`` unless it
already holds exactly ``--tasks`` tasks. The app runs in gunicorn (one sync worker, production
settings). ``--rounds`` times (3), one after the other in each round so that the machine's load
weighs on each alike, the script times:

- ``COPY worklog_task TO STDOUT`` (CSV): the task table alone, nothing joined or formatted;
- the export's own statement (``export_copy_statement``: the same SELECT, joins, escaping and
  pseudonyms the export runs), COPY'd by ``psql`` into /dev/null: the fair floor of the export;
- ``GET /api/v1/tasks/export/?format=csv`` as an admin, and as an analyst (pseudonyms), read
  in full by a client (requests, 1 MB reads), with the worker's peak resident memory (VmHWM);

then once ``?format=jsonl`` (with its own COPY floor), and ``GET /api/v1/tasks/`` (first page,
filtered, deep cursor): latency percentiles. Medians over the rounds; the load average
(``os.getloadavg``) before and after, since the machine may be shared.

Targets: the CSV export at least 0.8x the COPY of its own SELECT, the worker's peak memory
under 150 MB, list p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_export"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import Gunicorn, _cpu_seconds, app_env  # noqa: E402

PLAIN_SQL = "COPY (SELECT * FROM worklog_task) TO STDOUT WITH (FORMAT csv)"


def _setup(n_tasks: int) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    from bench.seed_tasks import bench_database_setup, seed_tasks

    bench_database_setup()
    from uplift.worklog.models import Task

    if Task.objects.count() != n_tasks:
        seed_tasks(n_tasks)


def _token(username: str, *, analyst: bool) -> tuple[str, object]:
    """An API token of an admin, or of an analyst of the first team; and the user's Access."""
    from uplift.accounts.access import access_for
    from uplift.accounts.models import Membership, Team, User
    from uplift.api.models import ApiToken

    user, _ = User.objects.get_or_create(
        username=username, defaults={"is_staff": not analyst, "email": f"{username}@bench.example"}
    )
    if analyst:
        Membership.objects.get_or_create(
            user=user, team=Team.objects.order_by("id").first(), role=Membership.Role.ANALYST
        )
    ApiToken.objects.filter(user=user).delete()
    _, secret = ApiToken.objects.create(user=user, expiry=None, name="bench")
    return secret, access_for(user)


def _statement(access, *, jsonl: bool) -> str:
    """The export's COPY statement for ``access`` (every task), its parameters inlined."""
    import psycopg
    from django.db import connection

    from uplift.api.export import export_copy_statement
    from uplift.worklog.models import Task

    sql, params = export_copy_statement(
        tasks=access.visible_tasks(Task.objects.all()), access=access, jsonl=jsonl
    )
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, params)


def _memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found")


def _time_psql(statement: str) -> tuple[float, int]:
    """Seconds and rows of ``statement`` (a COPY ... TO STDOUT) run by psql into /dev/null."""
    assert statement.startswith("COPY (") and statement.count(" TO STDOUT ") == 1, statement
    line = "\\copy " + statement.removeprefix("COPY ").replace(" TO STDOUT ", " TO '/dev/null' ")
    started = time.perf_counter()
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", os.environ["DATABASE_URL"], "-c", line],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, int(result.stdout.split()[-1])  # "COPY 1000000"


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


def _session(token: str):
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--list-requests", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args()

    _setup(args.tasks)
    admin_token, admin = _token("bench-export-admin", analyst=False)
    analyst_token, analyst = _token("bench-export-analyst", analyst=True)
    statements = {
        "csv": _statement(admin, jsonl=False),
        "jsonl": _statement(admin, jsonl=True),
        "analyst": _statement(analyst, jsonl=False),
    }
    env = app_env(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/"),
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench"),
        SECURE_SSL_REDIRECT="0",
    )
    load_before = os.getloadavg()
    timings: dict[str, list[float]] = {}

    def timed(name: str, seconds: float, rows: int) -> None:
        assert rows == args.tasks, (name, rows)
        timings.setdefault(name, []).append(seconds)

    # One sync worker; a timeout long enough for a million-row download.
    with (
        tempfile.TemporaryDirectory(prefix="bench-export-") as log_dir,
        Gunicorn(env=env, workers=1, log_dir=Path(log_dir), timeout=900) as server,
    ):
        base = f"{server.url}/api/v1"
        session, analyst_session = _session(admin_token), _session(analyst_token)
        # Warm the worker (imports, connection) before measuring anything.
        session.get(f"{base}/tasks/", timeout=60).raise_for_status()
        analyst_session.get(f"{base}/tasks/", timeout=60).raise_for_status()
        worker = server.worker_pids()[0]
        rss_idle = _memory_mb(worker, "VmRSS")

        lists = _list_latencies(session, base, args.list_requests)
        peak_before_export = _memory_mb(worker, "VmHWM")
        sizes, worker_cpu = {}, []
        for _ in range(args.rounds):
            timed("plain_copy", *_time_psql(PLAIN_SQL))
            timed("export_copy", *_time_psql(statements["csv"]))
            cpu = _cpu_seconds(worker)
            seconds, sizes["csv"], lines = _time_download(
                session, f"{base}/tasks/export/?format=csv"
            )
            worker_cpu.append(_cpu_seconds(worker) - cpu)
            timed("csv", seconds, lines - 1)
            timed("analyst_copy", *_time_psql(statements["analyst"]))
            seconds, sizes["analyst"], lines = _time_download(
                analyst_session, f"{base}/tasks/export/?format=csv"
            )
            timed("analyst", seconds, lines - 1)
        peak_after_csv = _memory_mb(worker, "VmHWM")
        timed("jsonl_copy", *_time_psql(statements["jsonl"]))
        seconds, sizes["jsonl"], lines = _time_download(
            session, f"{base}/tasks/export/?format=jsonl"
        )
        timed("jsonl", seconds, lines)
        peak = _memory_mb(worker, "VmHWM")
        rss_after = _memory_mb(worker, "VmRSS")
        # Again after the exports, which pushed millions of rows through the worker and the cache.
        lists_after = _list_latencies(session, base, args.list_requests)
    load_after = os.getloadavg()

    seconds = {name: statistics.median(values) for name, values in timings.items()}
    rate = {name: args.tasks / value for name, value in seconds.items()}
    figures = {
        "tasks": args.tasks,
        "rounds": args.rounds,
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
        **{f"{name}_seconds": [round(value, 3) for value in timings[name]] for name in timings},
        **{f"{name}_rows_per_second": round(value) for name, value in rate.items()},
        **{f"{name}_mb": round(size / 1e6, 1) for name, size in sizes.items()},
        "csv_vs_export_copy": round(rate["csv"] / rate["export_copy"], 3),
        "csv_vs_plain_copy": round(rate["csv"] / rate["plain_copy"], 3),
        "analyst_vs_analyst_copy": round(rate["analyst"] / rate["analyst_copy"], 3),
        "analyst_vs_plain_copy": round(rate["analyst"] / rate["plain_copy"], 3),
        "jsonl_vs_jsonl_copy": round(rate["jsonl"] / rate["jsonl_copy"], 3),
        "jsonl_vs_plain_copy": round(rate["jsonl"] / rate["plain_copy"], 3),
        "worker_cpu_seconds_per_csv": [round(value, 2) for value in worker_cpu],
        "worker_rss_idle_mb": round(rss_idle, 1),
        "worker_rss_after_mb": round(rss_after, 1),
        "worker_peak_mb_before_exports": round(peak_before_export, 1),
        "worker_peak_mb_after_csv": round(peak_after_csv, 1),
        "worker_peak_mb": round(peak, 1),
    }
    for when, measured in (("", lists), ("_after_export", lists_after)):
        figures[f"list_p50_ms{when}"] = round(_percentile(measured["first"], 50), 1)
        for name, values in measured.items():
            figures[f"list_{name}_p95_ms{when}"] = round(_percentile(values, 95), 1)

    def line(label: str, name: str, floor: str | None = None) -> str:
        text = f"  {label:<34} {seconds[name]:6.2f} s  {rate[name]:>9,.0f} rows/s"
        if floor:
            text += (
                f"  = {rate[name] / rate[floor]:.2f} x its COPY,"
                f" {rate[name] / rate['plain_copy']:.2f} x the plain COPY"
            )
        return text

    print(
        f"{args.tasks:,} tasks, median of {args.rounds} rounds (jsonl: one); load average"
        f" {' '.join(f'{v:.2f}' for v in load_before)} before,"
        f" {' '.join(f'{v:.2f}' for v in load_after)} after\n"
        + "\n".join(
            (
                line("COPY worklog_task (plain table)", "plain_copy"),
                line("COPY of the export's SELECT", "export_copy"),
                line("export CSV over HTTP (admin)", "csv", "export_copy"),
                line("COPY of the analyst's SELECT", "analyst_copy"),
                line("export CSV over HTTP (analyst)", "analyst", "analyst_copy"),
                line("COPY of the JSON lines SELECT", "jsonl_copy"),
                line("export JSON lines over HTTP", "jsonl", "jsonl_copy"),
            )
        )
        + f"\n  the worker's CPU per admin CSV export: {statistics.median(worker_cpu):.2f} s"
        + f"\n  sizes: CSV {figures['csv_mb']} MB, analyst CSV {figures['analyst_mb']} MB,"
        f" JSON lines {figures['jsonl_mb']} MB"
        f"\n  worker memory: idle {rss_idle:.0f} MB, peak {peak_before_export:.0f} MB before the"
        f" exports, {peak_after_csv:.0f} MB after the CSV ones, {peak:.0f} MB after all"
        f" (VmHWM; target < 150 MB), {rss_after:.0f} MB resident after"
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
