"""Sessions fixed after the fact: moved to another task of the researcher, or deleted."""

from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import TaskFactory, UserFactory, WorkSessionFactory
from uplift.worklog.models import AuditEntry, Task, WorkSession
from uplift.worklog.services import (
    task_abandon,
    task_complete,
    work_session_add,
    work_session_delete,
    work_session_update,
)

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def task(researcher, team):
    return TaskFactory(owner=researcher, team=team, title="Sweep")


def move(session, task, **times):
    return work_session_update(
        session=session,
        started_at=times.get("started_at", session.started_at),
        ended_at=times.get("ended_at", session.ended_at),
        task=task,
        actor=session.owner,
    )


def completed(task, now, *hours_ago):
    """``task`` timed by a one-hour session starting at each of ``hours_ago``, then completed."""
    for h in hours_ago:
        work_session_add(task=task, started_at=now - h * HOUR, ended_at=now - (h - 1) * HOUR)
    return task_complete(task=task)


def test_moving_keeps_both_completed_tasks_actual_minutes_right(task, researcher, team, now):
    other = TaskFactory(owner=researcher, team=team, title="Review")
    completed(task, now, 10, 8)
    completed(other, now, 6)
    session = task.sessions.order_by("started_at").first()

    move(session, other)

    task.refresh_from_db()
    other.refresh_from_db()
    assert task.actual_minutes == pytest.approx(60)
    assert other.actual_minutes == pytest.approx(120)
    assert session.task == other
    entry = AuditEntry.objects.get(field="work_session")
    assert (entry.task, entry.actor, entry.old_value, entry.new_value, entry.via) == (
        task,
        researcher,
        f"task {task.pk}",
        f"task {other.pk}",
        "web",
    )
    assert f"to task {other.pk} “Review”" in entry.detail


def test_moving_to_a_planned_task_puts_it_in_progress(task, researcher, team, now):
    session = work_session_add(task=task, started_at=now - 2 * HOUR, ended_at=now - HOUR)
    planned = TaskFactory(owner=researcher, team=team)

    move(session, planned)

    planned.refresh_from_db()
    assert planned.status == Task.Status.IN_PROGRESS
    assert planned.started_at == session.started_at
    assert list(task.sessions.all()) == []


def test_a_session_moved_and_corrected_at_once_still_cannot_overlap(task, researcher, team, now):
    first = work_session_add(task=task, started_at=now - 5 * HOUR, ended_at=now - 4 * HOUR)
    work_session_add(task=task, started_at=now - 3 * HOUR, ended_at=now - 2 * HOUR)
    other = TaskFactory(owner=researcher, team=team)

    with pytest.raises(ValidationError, match="Overlaps"):
        move(first, other, ended_at=now - 2.5 * HOUR)

    first.refresh_from_db()
    assert (first.task, first.ended_at) == (task, now - 4 * HOUR)
    assert not AuditEntry.objects.exists()


def test_a_session_cannot_move_to_another_researchers_task(task, now):
    session = work_session_add(task=task, started_at=now - 2 * HOUR, ended_at=now - HOUR)
    theirs = TaskFactory(owner=UserFactory(username="bo"))

    with pytest.raises(ValidationError) as refused:
        move(session, theirs)

    assert refused.value.message_dict == {
        "task": ["A session can only move to one of your own tasks."]
    }
    session.refresh_from_db()
    assert session.task == task and not theirs.sessions.exists()


def test_a_session_cannot_move_to_an_abandoned_task(task, researcher, team, now):
    session = work_session_add(task=task, started_at=now - 2 * HOUR, ended_at=now - HOUR)
    dropped = task_abandon(task=TaskFactory(owner=researcher, team=team), reason="Cancelled")

    with pytest.raises(ValidationError) as refused:
        move(session, dropped)

    assert "is abandoned" in refused.value.message_dict["task"][0]


def test_a_session_cannot_replace_an_actual_time_typed_in(task, researcher, team, now):
    session = work_session_add(task=task, started_at=now - 2 * HOUR, ended_at=now - HOUR)
    typed = task_complete(task=TaskFactory(owner=researcher, team=team), actual_minutes=25)

    with pytest.raises(ValidationError) as refused:
        move(session, typed)

    assert "completed with a time typed in" in refused.value.message_dict["task"][0]
    typed.refresh_from_db()
    assert typed.actual_minutes == 25


def test_the_last_session_of_a_completed_task_stays(task, researcher, team, now):
    completed(task, now, 3)
    session = task.sessions.get()
    other = TaskFactory(owner=researcher, team=team)

    with pytest.raises(ValidationError, match="only session of completed “Sweep”"):
        move(session, other)
    with pytest.raises(ValidationError, match="only session of completed “Sweep”"):
        work_session_delete(session=session, actor=researcher)

    assert task.sessions.count() == 1
    assert not AuditEntry.objects.exists()


def test_deleting_a_session_is_audited_and_the_actual_time_follows(task, researcher, now):
    completed(task, now, 5, 3)
    session = task.sessions.order_by("started_at").first()
    start = session.started_at

    work_session_delete(session=session, actor=researcher)

    task.refresh_from_db()
    assert task.actual_minutes == pytest.approx(60)
    assert not WorkSession.objects.filter(started_at=start).exists()
    entry = AuditEntry.objects.get()
    assert (entry.task, entry.actor, entry.action, entry.field, entry.new_value, entry.via) == (
        task,
        researcher,
        AuditEntry.Action.CHANGED,
        "work_session",
        "",
        "web",
    )
    assert entry.old_value.endswith("(60 min)")
    assert entry.old_value.startswith(start.astimezone(UTC).isoformat()[:16])


def test_a_running_session_can_be_deleted(task, researcher):
    session = WorkSessionFactory(task=task, started_at=timezone.now() - HOUR, ended_at=None)
    work_session_delete(session=session, actor=researcher, via="api")
    assert not WorkSession.objects.exists()
    entry = AuditEntry.objects.get()
    assert entry.old_value.endswith("to running") and entry.via == "api"
