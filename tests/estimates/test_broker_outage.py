"""Redis stops: logging work still succeeds, and the scheduled catch-up refreshes once it is back.

A throwaway Redis serves the app (this process, through the real views), a real Celery worker
and a real Celery beat. The test kills Redis, works through a task as a researcher, then starts
Redis again on the same port and waits for beat's catch-up job to run the refresh.
"""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django import db
from django.http import HttpResponse
from django.test import Client

from tests.factories import PASSWORD, MembershipFactory, TaskTypeFactory, TeamFactory, UserFactory
from tests.processes import (
    Beat,
    RedisServer,
    ServerProcess,
    Worker,
    celery_app_publishes_to,
    wait_until,
)
from uplift.estimates.models import Snapshot
from uplift.worklog.bounds import MIN_MINUTES
from uplift.worklog.models import Task, WorkSession

pytestmark = [pytest.mark.servers, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REFRESH_DELAY_SECONDS = 0.5
CATCH_UP_SECONDS = 1
# Publishing to a stopped broker must fail fast, not hold the researcher's request.
REQUEST_SECONDS = 3
# The longest a hung Redis (accepting connections, answering nothing) may hold a request.
HUNG_BROKER_SECONDS = 8
# The worker retries the broker after 2, 4, 6... seconds; the refresh itself takes well under 1.
CATCH_UP_TIMEOUT_SECONDS = 20
HEALTHY = {"status": "ok", "checks": {"database": True, "broker": True}}
BROKER_DOWN = {"status": "unavailable", "checks": {"database": True, "broker": False}}


@pytest.fixture
def redis_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> Iterator[RedisServer]:
    """A throwaway Redis that this process publishes to, with a short refresh delay."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    celery_app_publishes_to(server.url, monkeypatch=monkeypatch)
    settings.ESTIMATES_REFRESH_DELAY = REFRESH_DELAY_SECONDS
    yield server
    server.kill()


@pytest.fixture
def celery_env(redis_server: RedisServer) -> dict[str, str]:
    """The worker's and beat's settings: the throwaway Redis and a catch-up every second."""
    return {
        "CELERY_BROKER_URL": redis_server.url,
        "ESTIMATES_REFRESH_DELAY": str(REFRESH_DELAY_SECONDS),
        "ESTIMATES_CATCH_UP_SECONDS": str(CATCH_UP_SECONDS),
    }


@pytest.fixture
def worker(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    process = Worker(tmp_path, env=celery_env)
    yield process
    process.stop()


@pytest.fixture
def start_beat(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Beat]]:
    started: list[Beat] = []

    def start() -> Beat:
        started.append(Beat(tmp_path, env=celery_env))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def researcher_client(plain_http) -> Client:
    """A researcher of one team, signed in through the login page."""
    user = UserFactory(username="ada")
    MembershipFactory(user=user, team=TeamFactory(name="Alignment"))
    client = Client()
    response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/")
    return client


def timed(send: Callable[..., HttpResponse], path: str, *args, **kwargs) -> HttpResponse:
    """Send one request; it must succeed (200 or a redirect) within REQUEST_SECONDS."""
    started = time.monotonic()
    response = send(path, *args, **kwargs)
    seconds = time.monotonic() - started
    assert response.status_code in (200, 302), (path, response.status_code)
    assert seconds < REQUEST_SECONDS, f"{path} took {seconds:.1f} s"
    return response


def healthz(client: Client) -> tuple[int, dict]:
    """/healthz as a load balancer probes it (by IP address), answered within REQUEST_SECONDS."""
    started = time.monotonic()
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert time.monotonic() - started < REQUEST_SECONDS
    return response.status_code, response.json()


def plan_task(client: Client, title: str, task_type_id: int) -> Task:
    timed(client.get, "/")
    form = {
        "title": title,
        "task_type": task_type_id,
        "forecast_no_ai_minutes": "60",
        "forecast_ai_minutes": "40",
    }
    assert timed(client.post, "/", form)["Location"] == "/"
    return Task.objects.get(title=title)


def task_results(process: ServerProcess, task: str) -> list[str]:
    """What each finished run of the estimates job ``task`` returned, as the worker logged it."""
    pattern = rf"uplift\.estimates\.tasks\.{task}\[[0-9a-f-]+\] succeeded in \S+s: (\S+)"
    return re.findall(pattern, process.output())


def test_work_logged_while_redis_is_stopped_is_refreshed_by_the_catch_up_once_it_is_back(
    redis_server: RedisServer,
    worker: Worker,
    start_beat: Callable[[], Beat],
    researcher_client: Client,
    caplog: pytest.LogCaptureFixture,
):
    client = researcher_client
    task_type = TaskTypeFactory(name="Experiment code")

    # Redis up: a completion queues a refresh and the worker computes a snapshot of it.
    before = plan_task(client, "Before the outage", task_type.pk)
    timed(client.post, f"/tasks/{before.pk}/complete/", {"actual_minutes": "30"})
    first = wait_until(lambda: Snapshot.objects.filter(status="succeeded").first(), timeout=15)
    assert first.n_tasks == 1
    wait_until(lambda: str(first.pk) in task_results(worker, "estimates_refresh_task"))
    # Beat's catch-up reaches the worker, with nothing to catch up yet.
    beat = start_beat()
    wait_until(lambda: task_results(worker, "estimates_refresh_catch_up")[:1] == ["None"])
    assert healthz(client) == (200, HEALTHY)

    redis_server.kill()

    assert healthz(client) == (503, BROKER_DOWN)
    with caplog.at_level(logging.WARNING, logger="uplift.estimates.services"):
        during = plan_task(client, "During the outage", task_type.pk)
        timed(client.get, f"/tasks/{during.pk}/")
        timed(client.post, f"/tasks/{during.pk}/timer/", {"action": "start"})
        time.sleep(0.2)  # a work session of a measurable length
        timed(client.post, f"/tasks/{during.pk}/timer/", {"action": "stop"})
        timed(client.get, f"/tasks/{during.pk}/")
        timed(client.post, f"/tasks/{during.pk}/complete/", {"perceived_other_minutes": "50"})
        home = timed(client.get, "/")
    assert "Completed “During the outage”" in home.content.decode()
    during.refresh_from_db()
    session = WorkSession.objects.get(task=during)
    assert (during.status, during.perceived_other_minutes) == ("completed", 50)
    # A session of a fraction of a second counts as the smallest time recorded, 0.1 minutes.
    assert (session.ended_at - session.started_at).total_seconds() > 0.2
    assert during.actual_minutes == MIN_MINUTES == 0.1
    pending = Snapshot.objects.get(status="pending")
    assert [r.getMessage() for r in caplog.records if r.name == "uplift.estimates.services"] == [
        f"Could not queue estimates refresh {pending.pk}; it will be caught up"
    ]
    # Beat and the worker keep running, failing to reach Redis; the refresh stays pending.
    beat.wait_for("Couldn't apply scheduled task estimates-catch-up")
    worker.wait_for("consumer: Connection to broker lost")
    assert Snapshot.objects.filter(status="pending").get() == pending

    redis_server.start()

    def caught_up() -> Snapshot | None:
        snapshot = Snapshot.objects.get(pk=pending.pk)
        return snapshot if snapshot.status == "succeeded" else None

    refreshed = wait_until(caught_up, timeout=CATCH_UP_TIMEOUT_SECONDS)
    assert (refreshed.trigger, refreshed.n_tasks) == ("change", 2)
    assert refreshed.data_changed_at == during.updated_at
    assert refreshed.estimates.get(dimension="overall").n_tasks == 2
    assert not Snapshot.objects.exclude(status="succeeded").exists()
    # The worker ran it as beat's catch-up job: nothing else could publish it.
    wait_until(lambda: str(pending.pk) in task_results(worker, "estimates_refresh_catch_up"))
    assert str(pending.pk) not in task_results(worker, "estimates_refresh_task")
    # The same worker and beat reconnected on their own.
    assert worker.is_running() and beat.is_running()
    assert worker.output().count("Connected to redis://") == 2
    assert healthz(client) == (200, HEALTHY)


def within(seconds: float, send: Callable[[], HttpResponse]) -> tuple[HttpResponse, float]:
    """Send a request in a thread; fail if it has not answered after ``seconds``."""
    answers: list[HttpResponse] = []

    def answer() -> None:
        try:
            answers.append(send())
        finally:
            db.connection.close()  # the thread's own connection

    started = time.monotonic()
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    thread.join(seconds)
    assert answers, f"no answer after {seconds} s"
    return answers[0], time.monotonic() - started


def test_a_hung_redis_holds_a_researcher_for_one_socket_timeout_at_most(
    redis_server: RedisServer, researcher_client: Client, settings
):
    client = researcher_client
    task = plan_task(client, "While Redis hangs", TaskTypeFactory().pk)
    socket_timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"]
    redis_server.pause()

    # Without a socket timeout both would wait for Redis for ever.
    response, completing = within(
        HUNG_BROKER_SECONDS,
        lambda: client.post(f"/tasks/{task.pk}/complete/", {"actual_minutes": "25"}),
    )
    probe, _ = within(HUNG_BROKER_SECONDS, lambda: client.get("/healthz", HTTP_HOST="10.0.0.7"))

    assert (response.status_code, response["Location"]) == (302, "/")
    assert completing >= socket_timeout  # it did wait for Redis, and gave up
    task.refresh_from_db()
    assert (task.status, task.actual_minutes) == ("completed", 25)
    assert Snapshot.objects.get().status == "pending"  # for the catch-up, as when stopped
    assert (probe.status_code, probe.json()) == (503, BROKER_DOWN)
