"""The refresh job as a service: snapshots, the lock, coalescing and what readers see."""

import io
import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import TaskFactory
from tests.processes import celery_app_publishes_to
from uplift.estimates import compute, services
from uplift.estimates.compute import estimates_refresh
from uplift.estimates.lock import ADVISORY_LOCK_KEY, RefreshBusy
from uplift.estimates.models import Snapshot
from uplift.estimates.selectors import refresh_wait_seconds, snapshot_latest
from uplift.estimates.services import snapshot_request
from uplift.worklog.models import Task
from uplift.worklog.services import task_complete
from uplift.worklog.signals import tasks_changed

pytestmark = pytest.mark.django_db

METR_CSV = Path(__file__).parent.parent / "fixtures" / "metr-early-2025" / "data_complete.csv"


def show_estimates() -> dict:
    out = io.StringIO()
    call_command("show_estimates", json=True, stdout=out)
    return json.loads(out.getvalue())


def overall(document: dict) -> dict:
    return next(row for row in document["estimates"] if row["dimension"] == "overall")


def test_metr_import_and_compute_reproduce_the_published_figures():
    call_command("import_worklog", str(METR_CSV), format="metr", stdout=io.StringIO())
    call_command("compute_estimates", stdout=io.StringIO())
    row = overall(show_estimates())
    assert (row["n_tasks"], row["n_ai"], row["n_no_ai"], row["n_researchers"]) == (
        246,
        136,
        110,
        16,
    )
    assert round(row["time_change"], 3) == 0.188
    rounded = {key: [round(v, 3) for v in ci] for key, ci in row["ci_z"].items()}
    assert rounded == {
        "nonrobust": [0.013, 0.395],
        "hc3": [0.013, 0.394],
        "cluster": [0.016, 0.390],
    }
    assert row["group"] is None
    assert row["status"] == "ok"


def test_show_estimates_json_has_the_documented_shape():
    call_command("import_worklog", str(METR_CSV), format="metr", stdout=io.StringIO())
    call_command("compute_estimates", stdout=io.StringIO())
    document = show_estimates()
    snapshot = Snapshot.objects.get(status="succeeded")
    assert document["snapshot"]["id"] == snapshot.pk
    assert document["snapshot"]["n_tasks"] == 246
    assert document["snapshot"]["method_version"] == snapshot.method_version != ""
    assert document["snapshot"]["computed_at"] == snapshot.finished_at.isoformat()
    row = overall(document)
    for key in [
        "dimension", "group", "status", "n_tasks", "n_ai", "n_no_ai", "n_researchers", "beta",
        "time_change", "ci_low", "ci_high", "se", "ci_z", "p_value", "q_value", "mde",
        "forecast_time_change", "posthoc_time_change", "warnings",
    ]:  # fmt: skip
        assert key in row, key
    assert set(row["se"]) == {"nonrobust", "hc3", "cluster", "cr2"}
    groups = {(r["dimension"], r["group"]) for r in document["estimates"]}
    assert ("team", "METR early-2025 study") in groups
    assert ("task_type", "Open-source issue") in groups


def test_snapshot_records_watermark_duration_and_progress():
    tasks = TaskFactory.create_batch(3)
    snapshot = estimates_refresh()
    snapshot.refresh_from_db()
    assert snapshot.status == "succeeded"
    assert snapshot.n_tasks == 3
    assert snapshot.data_changed_at == max(t.updated_at for t in tasks)
    assert snapshot.duration_seconds > 0
    assert snapshot.progress == 1.0
    assert snapshot.progress_done == snapshot.progress_total > 0


def test_a_scope_without_enough_data_says_so_and_shows_no_figure():
    # Three AI-allowed tasks, each by a different researcher.
    TaskFactory.create_batch(3, status="completed", actual_minutes=30)
    estimates_refresh()
    row = overall(show_estimates())
    assert row["status"] == "insufficient_data"
    assert row["time_change"] is None and row["ci_low"] is None
    assert row["tasks_more_needed"] == {"ai": 2, "no_ai": 5, "researchers": 0}


def test_failed_run_leaves_the_previous_snapshot_served(monkeypatch):
    first = estimates_refresh()

    def broken(*args, **kwargs):
        raise RuntimeError("statistics exploded")

    monkeypatch.setattr(compute, "estimate_all", broken)
    with pytest.raises(RuntimeError):
        estimates_refresh()
    failed = Snapshot.objects.exclude(pk=first.pk).get()
    assert failed.status == "failed"
    assert failed.message == "RuntimeError: statistics exploded"
    assert failed.estimates.count() == 0
    assert snapshot_latest() == first


def test_refresh_refuses_to_run_while_another_holds_the_lock():
    other = psycopg.connect(
        host=connection.settings_dict["HOST"] or None,
        port=connection.settings_dict["PORT"] or None,
        user=connection.settings_dict["USER"],
        dbname=connection.settings_dict["NAME"],
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        with pytest.raises(RefreshBusy):
            estimates_refresh()
        assert not Snapshot.objects.filter(status="running").exists()
        other.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    finally:
        other.close()
    assert estimates_refresh().status == "succeeded"


def test_next_run_marks_an_interrupted_run_failed():
    Snapshot.objects.create(status="running")
    estimates_refresh()
    interrupted = Snapshot.objects.get(status="failed")
    assert interrupted.message.startswith("Interrupted")
    assert snapshot_latest().status == "succeeded"


def test_only_one_run_is_queued_at_a_time():
    first, created_first = snapshot_request()
    second, created_second = snapshot_request()
    assert (created_first, created_second) == (True, False)
    assert first == second


def test_a_queued_refresh_waits_until_changes_stop(settings):
    settings.ESTIMATES_REFRESH_DELAY = 5
    settings.ESTIMATES_REFRESH_MAX_WAIT = 120
    assert refresh_wait_seconds() == 0  # nothing queued
    task = TaskFactory()
    snapshot_request()
    assert 4 < refresh_wait_seconds() <= 5
    Task.objects.filter(pk=task.pk).update(updated_at=timezone.now() - timedelta(seconds=6))
    assert refresh_wait_seconds() == 0


def test_a_steady_stream_of_changes_still_refreshes_after_the_maximum_wait(settings):
    settings.ESTIMATES_REFRESH_MAX_WAIT = 120
    TaskFactory()
    pending, _ = snapshot_request()
    assert refresh_wait_seconds() > 0
    Snapshot.objects.filter(pk=pending.pk).update(
        requested_at=timezone.now() - timedelta(seconds=121)
    )
    assert refresh_wait_seconds() == 0


def test_a_burst_of_completions_queues_one_refresh(broker, django_capture_on_commit_callbacks):
    # One researcher's thousand tasks: the burst is in the completions, not in the people.
    first = TaskFactory()
    tasks = [first] + TaskFactory.create_batch(
        999, owner=first.owner, team=first.team, task_type=first.task_type
    )
    with django_capture_on_commit_callbacks(execute=True):
        pass
    broker.flushdb()
    Snapshot.objects.all().delete()
    for task in tasks:
        with django_capture_on_commit_callbacks(execute=True):
            task_complete(task=task, actual_minutes=30)
    assert Snapshot.objects.filter(status="pending").count() == 1
    assert broker.llen("celery") == 1


def test_announced_task_changes_queue_one_refresh_once_committed(
    broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tasks_changed.send(sender=Task)
        tasks_changed.send(sender=Task)
        assert not Snapshot.objects.exists()  # nothing is queued before the commit
    assert list(Snapshot.objects.values_list("status", "trigger")) == [("pending", "change")]
    assert broker.llen("celery") == 1


def test_a_change_while_a_refresh_is_queued_joins_it_with_one_read(
    broker, django_capture_on_commit_callbacks
):
    queued = Snapshot.objects.create(status="pending")
    Snapshot.objects.create(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        tasks_changed.send(sender=Task)
    with django_capture_on_commit_callbacks(execute=False) as hooks:
        tasks_changed.send(sender=Task)
    with CaptureQueriesContext(connection) as queries:
        hooks[0]()
    [read] = queries.captured_queries  # one read, and not of the snapshot's columns
    assert '"message"' not in read["sql"] and '"method"' not in read["sql"]
    assert Snapshot.objects.filter(status="pending").get() == queued  # nothing new queued
    assert broker.llen("celery") == 0

    queued.status = "running"
    queued.save()
    with django_capture_on_commit_callbacks(execute=True):
        tasks_changed.send(sender=Task)  # the queued run started: this change queues another
    assert Snapshot.objects.filter(status="pending").count() == 1
    assert broker.llen("celery") == 1


def test_a_refresh_requested_while_the_broker_is_down_is_caught_up(monkeypatch, caplog):
    from uplift.estimates.tasks import estimates_refresh_catch_up

    # Nothing listens on port 1: the broker is down. (The end-to-end version, with a real
    # Redis, worker and beat, is tests/estimates/test_broker_outage.py.)
    celery_app_publishes_to("redis://127.0.0.1:1/0", monkeypatch=monkeypatch)
    task = TaskFactory()
    task_complete(task=task, actual_minutes=30)  # no on-commit: call what it would call
    services.estimates_refresh_queue()
    pending = Snapshot.objects.get()
    assert pending.status == "pending"
    assert f"Could not queue estimates refresh {pending.pk}" in caplog.text
    snapshot_id = estimates_refresh_catch_up()
    assert Snapshot.objects.get(pk=snapshot_id).status == "succeeded"
