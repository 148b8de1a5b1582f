"""The refresh job on a real Celery worker consuming the test Redis."""

import time

import pytest
from django.conf import settings
from django.utils import timezone

from tests.estimates.test_pieces import lab, stored
from tests.factories import MembershipFactory, TaskFactory, TaskTypeFactory, TeamFactory
from tests.processes import Worker, wait_until
from uplift.estimates.compute import estimates_refresh
from uplift.estimates.models import Snapshot
from uplift.estimates.selectors import snapshot_latest
from uplift.estimates.services import estimates_refresh_queue
from uplift.worklog.models import Task
from uplift.worklog.services import task_complete

pytestmark = [pytest.mark.servers, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(broker, tmp_path):
    workers = []

    def start(env: dict | None = None) -> Worker:
        workers.append(Worker(tmp_path, env=env))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def planned_tasks(n: int, researchers: int = 4) -> list[Task]:
    team = TeamFactory()
    task_type = TaskTypeFactory()
    owners = [MembershipFactory(team=team).user for _ in range(researchers)]
    return [
        TaskFactory(
            owner=owners[i % researchers],
            team=team,
            task_type=task_type,
            condition="ai" if i % 2 else "no_ai",
            forecast_no_ai_minutes=60 + i,
        )
        for i in range(n)
    ]


def test_a_burst_of_completions_produces_one_or_two_snapshots_within_seconds(start_worker):
    start_worker()
    tasks = planned_tasks(1000, researchers=10)
    started = time.monotonic()
    for i, task in enumerate(tasks):
        task_complete(task=task, actual_minutes=40 + (i * 7) % 50)
    burst_seconds = time.monotonic() - started

    def covers_every_completion():
        snapshot = snapshot_latest()
        overall = snapshot and snapshot.estimates.get(dimension="overall")
        return overall if overall and overall.n_tasks == 1000 else None

    overall = wait_until(covers_every_completion, timeout=30)
    assert overall.data["n_ai"] == overall.data["n_no_ai"] == 500
    assert overall.status == "ok"
    assert time.monotonic() - started < burst_seconds + settings.ESTIMATES_REFRESH_DELAY + 10
    time.sleep(1)
    assert Snapshot.objects.filter(status="succeeded").count() in (1, 2)
    assert not Snapshot.objects.exclude(status="succeeded").exists()


def test_killing_the_worker_mid_refresh_keeps_the_old_snapshot_and_the_next_run_completes(
    start_worker, settings
):
    settings.ESTIMATES_REFRESH_DELAY = 0
    # The killed worker's piece comes back only after the broker's visibility timeout: the
    # next run takes the silent snapshot as interrupted (here after 2 s, not 5 minutes).
    quick = {"ESTIMATES_REFRESH_STALE_SECONDS": "2"}
    tasks = planned_tasks(40, researchers=8)
    for i, task in enumerate(tasks):
        Task.objects.filter(pk=task.pk).update(
            status="completed", actual_minutes=30 + i, completed_at=timezone.now()
        )
    previous = estimates_refresh()
    # Enough tasks that a refresh takes long enough to be caught running.
    bulk = [
        Task(
            owner=t.owner, team=t.team, task_type=t.task_type, forecast_no_ai_minutes=60,
            forecast_ai_minutes=45, assignment="randomized", condition=t.condition,
            randomized_at=timezone.now(), allocation_ai=0.5, draw="imported", status="completed",
            actual_minutes=20 + (n % 97), completed_at=timezone.now(),
        )
        for n in range(60_000)
        for t in [tasks[n % len(tasks)]]
    ]  # fmt: skip
    Task.objects.bulk_create(bulk, batch_size=5000)

    worker = start_worker(quick)
    estimates_refresh_queue()
    running = wait_until(
        lambda: Snapshot.objects.filter(status="running").first(), timeout=30, interval=0.01
    )
    worker.kill()
    assert snapshot_latest() == previous
    assert Snapshot.objects.get(pk=running.pk).status == "running"

    start_worker(quick)
    estimates_refresh_queue()
    latest = wait_until(lambda: (s := snapshot_latest()) != previous and s, timeout=60)
    assert latest.n_tasks == 60_040
    assert Snapshot.objects.get(pk=running.pk).status == "failed"
    assert Snapshot.objects.get(pk=running.pk).message.startswith("Interrupted")


def test_two_worker_processes_share_the_pieces_and_store_what_the_inline_run_stores(
    start_worker, settings
):
    settings.ESTIMATES_REFRESH_DELAY = 0
    lab()
    inline = estimates_refresh()
    # Nothing to reuse from it: the workers compute every slice again.
    Snapshot.objects.filter(pk=inline.pk).update(method_version="older")
    workers = [start_worker(), start_worker()]
    estimates_refresh_queue()
    seen = set()

    def published():
        latest = snapshot_latest()
        seen.add(latest.pk)  # pages only ever see a whole snapshot: the old one or the new
        return latest if latest.pk != inline.pk else None

    snapshot = wait_until(published, timeout=120, interval=0.01)
    assert seen == {inline.pk, snapshot.pk}
    assert snapshot.pieces_done and sorted(snapshot.pieces_done) == list(
        range(len(snapshot.pieces))
    )
    assert stored(snapshot) == stored(inline)
    # Both processes computed pieces.
    for worker in workers:
        assert "estimates_refresh_piece" in worker.output()
