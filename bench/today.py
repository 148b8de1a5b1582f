"""Server time of the Today page for a researcher with 5,000 tasks of history.

Run from the repository root:

    .venv/bin/python bench/today.py [--tasks 5000] [--requests 300]

It runs with production settings (DEBUG off, hashed static files collected into
var/bench-static) on its own database, `uplift_bench_today` (created and migrated if missing;
DATABASE_URL wins if set, and must name a database containing "bench"). It empties it, seeds one
researcher with --tasks tasks (about 98% completed or abandoned, each with a work session and
most with a tool use, plus a few open ones and a running timer) beside 20 other researchers'
tasks, then requests "/" through Django's test Client and prints p50/p95 of the server time
and the number of SQL queries per request.
Target: p95 under 50 ms, queries independent of the history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.seed_tasks import bench_database_setup, production_like_environment  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench_today"
TARGET_MS = 50.0
OPEN_TASKS = 12
OTHER_RESEARCHERS = 20
TABLES = (
    "worklog_auditentry, worklog_tooluse, worklog_worksession, worklog_task, worklog_tool, "
    "worklog_tasktype, accounts_membership, accounts_team, accounts_user"
)


def seed(n_tasks: int):
    """Empty the database's worklog and accounts, then seed; returns the researcher."""
    import random

    from django.db import connection, transaction
    from django.utils import timezone

    from uplift.accounts.models import Membership, Team, User
    from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession

    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("Refusing to empty a database whose name does not contain 'bench'.")
    rng = random.Random(1)
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        team = Team.objects.create(name="Alignment")
        types = TaskType.objects.bulk_create([TaskType(name=f"Task type {i}") for i in range(8)])
        tools = Tool.objects.bulk_create([Tool(name=f"Tool {i}") for i in range(5)])
        users = User.objects.bulk_create(
            [
                User(username=f"r{i}", email=f"r{i}@bench.invalid")
                for i in range(1 + OTHER_RESEARCHERS)
            ]
        )
        Membership.objects.bulk_create([Membership(user=u, team=team) for u in users])
        researcher = users[0]

        tasks, sessions, uses = [], [], []
        for owner in users:
            count = n_tasks if owner is researcher else 500
            # History runs back from now: one session of 10-120 minutes every ~3 hours.
            cursor_at = now - timedelta(hours=1)
            for i in range(count):
                is_open = owner is researcher and i < OPEN_TASKS
                length = timedelta(minutes=rng.uniform(10, 120))
                start = cursor_at - length
                cursor_at = start - timedelta(minutes=rng.uniform(30, 180))
                status = (
                    rng.choice(["planned", "in_progress"])
                    if is_open
                    else ("abandoned" if rng.random() < 0.05 else "completed")
                )
                ai = rng.random() < 0.5
                task = Task(
                    owner=owner,
                    team=team,
                    task_type=rng.choice(types),
                    title=f"Task {i}",
                    forecast_no_ai_minutes=rng.uniform(20, 200),
                    forecast_ai_minutes=rng.uniform(15, 180),
                    assignment="randomized",
                    condition="ai" if ai else "no_ai",
                    randomized_at=start - timedelta(minutes=5),
                    allocation_ai=0.5,
                    draw=Task.Draw.IMPORTED,
                    status=status,
                    started_at=start,
                    completed_at=start + length if status == "completed" else None,
                    actual_minutes=length.total_seconds() / 60 if status == "completed" else None,
                    abandoned_reason="Superseded" if status == "abandoned" else "",
                )
                tasks.append(task)
                sessions.append((task, owner, start, start + length))
                if ai or rng.random() < 0.03:
                    uses.append((task, rng.choice(tools)))
        Task.objects.bulk_create(tasks, batch_size=2000)
        WorkSession.objects.bulk_create(
            [WorkSession(task=t, owner=o, started_at=s, ended_at=e) for t, o, s, e in sessions],
            batch_size=2000,
        )
        ToolUse.objects.bulk_create(
            [ToolUse(task=t, tool=tool, minutes=10) for t, tool in uses], batch_size=2000
        )
        # A running timer on one of the open tasks.
        open_task = next(
            t for t in tasks if t.owner_id == researcher.pk and t.status == "in_progress"
        )
        WorkSession.objects.create(
            task=open_task, owner=researcher, started_at=now - timedelta(minutes=20)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return researcher


def measure(researcher, n_requests: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # No setup_test_environment(): its template instrumentation is not part of serving.
    client = Client(HTTP_HOST="localhost")
    client.force_login(researcher)
    for _ in range(20):  # warm caches: templates, connection, PostgreSQL buffers
        assert client.get("/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    # Counted now: the next request clears the log that ``queries`` reads from.
    query_count = len(queries)
    assert response.status_code == 200 and b"Timer running" in response.content
    timings = []
    for _ in range(n_requests):
        started = time.perf_counter()
        client.get("/")
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(0.95 * (len(timings) - 1))],
        "max": timings[-1],
        "queries": query_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    # Production settings (DEBUG off, manifest static files), as the page is really served.
    production_like_environment(DATABASE_URL)
    bench_database_setup()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.perf_counter()
    researcher = seed(args.tasks)
    print(f"seeded {args.tasks} tasks for one researcher in {time.perf_counter() - started:.1f} s")
    result = measure(researcher, args.requests)
    print(
        f"Today page, {args.requests} requests: p50 {result['p50']:.1f} ms, "
        f"p95 {result['p95']:.1f} ms, max {result['max']:.1f} ms, "
        f"{result['queries']} queries per request"
    )
    verdict = "OK" if result["p95"] < TARGET_MS else "OVER TARGET"
    print(f"target p95 < {TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
