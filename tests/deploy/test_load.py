"""A short run of the load benchmark: researchers in browsers against the production stack.

gunicorn, a Celery worker on the test Redis and a database of the test's own on the test
PostgreSQL; the same code as ``python -m bench.load``, bounded to a few researchers and seconds.
"""

import uuid

import psycopg
import pytest
import redis
from django.conf import settings
from psycopg import sql

from bench.load import Load, refreshes_since, report, researchers_create, writes_verify
from bench.servers import (
    CeleryWorker,
    Gunicorn,
    app_env,
    bench_database_create,
    static_collect,
)
from tests.processes import database_url, wait_until

USERS = 8
SECONDS = 10
WEB_WORKERS = 2


@pytest.fixture
def bench_database():
    """A new, empty database for the run, dropped afterwards."""
    name = f"uplift_bench_test_{uuid.uuid4().hex[:8]}"
    url = database_url(name)
    bench_database_create(url)
    yield url
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(drop)


@pytest.fixture
def broker_url():
    """The test Redis database, emptied before and after: the worker's queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield settings.CELERY_BROKER_URL
    client.flushdb()
    client.close()


@pytest.mark.servers
@pytest.mark.worker
def test_researchers_under_load_get_no_error_and_lose_no_acknowledged_write(
    bench_database, broker_url, tmp_path
):
    # A refresh during the run, not after it: the worker competes with the web server.
    env = app_env(
        database_url=bench_database,
        broker_url=broker_url,
        ESTIMATES_REFRESH_DELAY="1",
        ESTIMATES_REFRESH_MAX_WAIT="3",
    )
    usernames = researchers_create(env=env, count=USERS)
    static_collect(env, only_if_missing=True)
    with (
        CeleryWorker(env=env, log_dir=tmp_path) as worker,
        Gunicorn(env=env, workers=WEB_WORKERS, log_dir=tmp_path) as web,
    ):
        load = Load(base_url=web.url, usernames=usernames, seconds=SECONDS)
        load.start()
        result = load.join()
        # The worker took the refresh queued by the completions while the researchers worked.
        refreshes = wait_until(
            lambda: refreshes_since(bench_database, result.window_started_at), timeout=20
        )
        assert worker.is_running() and web.is_running()
        web_log = web.output()

    assert result.signed_in == USERS
    assert [(f.kind, f.path, f.problem) for f in result.failures] == []
    assert "Traceback" not in web_log

    requests = [s for s in result.measured if s.method != "CHECK"]
    assert len(requests) >= 100
    assert {s.kind for s in requests} >= {
        "today", "plan", "timer_start", "timer_stop", "task", "tools", "complete", "history",
    }  # fmt: skip
    completed = [t for t in result.tasks if t.expected.get("status") == "completed"]
    typed = [t for t in completed if t.expected["sessions"] == 0]
    timed = [t for t in completed if t.expected["sessions"] == 1]
    assert typed and timed
    # Every researcher got work done, not only the first ones to sign in.
    assert {t.owner for t in completed} == set(usernames)
    assert all(t.expected["condition"] in ("ai", "no_ai") for t in completed)

    verification = writes_verify(bench_database, result)
    print(report(result, verification))  # shown when the test fails, or with -s
    assert (verification.missing, verification.different, verification.unexplained) == (
        [],
        [],
        [],
    )
    planned = [t for t in result.tasks if t.planned]
    assert verification.tasks_found == verification.tasks_checked == len(planned)
    assert verification.writes_checked == result.acknowledged_writes >= 4 * len(completed)
    assert refreshes.total() >= 1 and set(refreshes) <= {"running", "succeeded"}

    # The check has teeth: change one acknowledged value and drop one tool use behind its back.
    changed = typed[0]
    with_tool = next(t for t in completed if t.expected["tools"])
    with psycopg.connect(bench_database, autocommit=True) as conn:
        conn.execute(
            "UPDATE worklog_task SET actual_minutes = actual_minutes + 1 WHERE id = %s",
            [changed.task_id],
        )
        conn.execute("DELETE FROM worklog_tooluse WHERE task_id = %s", [with_tool.task_id])
    tampered = writes_verify(bench_database, result)
    assert any(f"id {changed.task_id}): actual_minutes" in d for d in tampered.different)
    assert any(f"id {with_tool.task_id}): tools is frozenset()" in d for d in tampered.different)


def test_the_benchmark_refuses_an_existing_database_not_made_for_it():
    with pytest.raises(SystemExit, match="does not contain 'bench'"):
        bench_database_create(database_url("postgres"))
