"""The timer and work sessions; completing and abandoning; tool use."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.factories import TaskFactory, ToolFactory, UserFactory, WorkSessionFactory
from uplift.worklog import selectors
from uplift.worklog.models import Task, WorkSession
from uplift.worklog.services import (
    LongSession,
    ToolUseEntry,
    task_abandon,
    task_complete,
    tool_use_set,
    work_session_add,
    work_session_start,
    work_session_stop,
    work_session_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(researcher, team):
    return TaskFactory(owner=researcher, team=team, condition=Task.Condition.NO_AI)


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def test_starting_the_timer_puts_the_task_in_progress(task):
    session = work_session_start(task=task)
    task.refresh_from_db()
    assert session.ended_at is None
    assert task.status == Task.Status.IN_PROGRESS
    assert task.started_at == session.started_at


def test_one_running_timer_per_researcher_starting_another_stops_the_first(task, researcher):
    other = TaskFactory(owner=researcher)
    first = work_session_start(task=task)
    second = work_session_start(task=other)
    first.refresh_from_db()
    assert first.ended_at is not None and first.ended_at <= second.started_at
    assert list(WorkSession.objects.filter(ended_at__isnull=True)) == [second]


def test_starting_the_running_task_again_keeps_its_session(task):
    assert work_session_start(task=task) == work_session_start(task=task)
    assert WorkSession.objects.count() == 1


def test_stop_ends_the_running_session(task, researcher):
    work_session_start(task=task)
    stopped = work_session_stop(owner=researcher)
    assert stopped.ended_at > stopped.started_at
    assert selectors.work_session_running(owner=researcher) is None


def test_a_timer_running_over_16_hours_is_not_stopped_without_confirmation(task, researcher):
    WorkSessionFactory(task=task, started_at=ago(hours=17), ended_at=None)
    with pytest.raises(LongSession):
        work_session_stop(owner=researcher)
    assert work_session_stop(owner=researcher, confirm_long=True).minutes > 16 * 60


def test_a_session_added_by_hand_counts(task):
    session = work_session_add(task=task, started_at=ago(hours=3), ended_at=ago(hours=2))
    assert session.minutes == pytest.approx(60, abs=0.01)
    task.refresh_from_db()
    assert task.status == Task.Status.IN_PROGRESS


def test_an_overlapping_session_is_refused(task, researcher):
    work_session_add(task=task, started_at=ago(hours=3), ended_at=ago(hours=2))
    other = TaskFactory(owner=researcher)
    with pytest.raises(ValidationError) as refused:
        work_session_add(task=other, started_at=ago(hours=2, minutes=30), ended_at=ago(hours=1))
    assert "Overlaps your session" in refused.value.message_dict["started_at"][0]
    assert WorkSession.objects.count() == 1


def test_a_session_overlapping_the_running_timer_is_refused(task):
    WorkSessionFactory(task=task, started_at=ago(minutes=30), ended_at=None)
    with pytest.raises(ValidationError, match="running"):
        work_session_add(task=task, started_at=ago(minutes=10), ended_at=ago(minutes=5))


def test_another_researchers_sessions_do_not_count_as_overlap(task):
    WorkSessionFactory(
        task=TaskFactory(owner=UserFactory()), started_at=ago(hours=3), ended_at=ago(hours=2)
    )
    work_session_add(task=task, started_at=ago(hours=3), ended_at=ago(hours=2))
    assert WorkSession.objects.count() == 2


def test_a_session_ending_in_the_future_is_refused(task):
    with pytest.raises(ValidationError) as refused:
        work_session_add(
            task=task, started_at=ago(hours=1), ended_at=timezone.now() + timedelta(minutes=5)
        )
    assert refused.value.message_dict == {"ended_at": ["The end cannot be in the future."]}


def test_a_session_ending_before_it_starts_is_refused(task):
    with pytest.raises(ValidationError, match="after the start"):
        work_session_add(task=task, started_at=ago(hours=1), ended_at=ago(hours=2))


def test_a_session_over_16_hours_needs_confirmation(task):
    with pytest.raises(LongSession):
        work_session_add(task=task, started_at=ago(hours=20), ended_at=ago(hours=3))
    session = work_session_add(
        task=task, started_at=ago(hours=20), ended_at=ago(hours=3), confirm_long=True
    )
    assert session.minutes == pytest.approx(17 * 60, abs=0.01)


def test_correcting_a_session_cannot_make_it_overlap(task):
    now = timezone.now()
    hour = timedelta(hours=1)
    first = work_session_add(task=task, started_at=now - 5 * hour, ended_at=now - 4 * hour)
    work_session_add(task=task, started_at=now - 3 * hour, ended_at=now - 2 * hour)
    with pytest.raises(ValidationError, match="Overlaps"):
        work_session_update(session=first, started_at=now - 5 * hour, ended_at=now - 2.5 * hour)
    # Back to back is fine: a session may end when the next one starts.
    work_session_update(session=first, started_at=now - 5 * hour, ended_at=now - 3 * hour)
    first.refresh_from_db()
    assert first.minutes == pytest.approx(120, abs=0.01)


def test_correcting_a_session_of_a_completed_task_updates_its_actual_minutes(task):
    session = work_session_add(task=task, started_at=ago(hours=3), ended_at=ago(hours=2))
    task_complete(task=task)
    work_session_update(session=session, started_at=ago(hours=3), ended_at=ago(hours=1.5))
    task.refresh_from_db()
    assert task.actual_minutes == pytest.approx(90, abs=0.01)


def test_completing_sums_the_sessions_and_stops_the_timer(task):
    work_session_add(task=task, started_at=ago(hours=5), ended_at=ago(hours=4))
    work_session_add(task=task, started_at=ago(hours=3), ended_at=ago(hours=2, minutes=30))
    WorkSessionFactory(task=task, started_at=ago(minutes=15), ended_at=None)
    task_complete(task=task, perceived_other_minutes=200)
    task.refresh_from_db()
    assert task.status == Task.Status.COMPLETED
    assert task.actual_minutes == pytest.approx(105, abs=0.05)
    assert task.perceived_other_minutes == 200
    assert not WorkSession.objects.filter(ended_at__isnull=True).exists()
    assert task.started_at <= task.completed_at


def test_completing_with_no_time_logged_asks_for_the_minutes(task):
    with pytest.raises(ValidationError) as refused:
        task_complete(task=task)
    assert "actual_minutes" in refused.value.message_dict
    task.refresh_from_db()
    assert task.status == Task.Status.PLANNED


def test_the_existing_keyword_call_still_works(task):
    done = task_complete(task=task, actual_minutes=30, perceived_other_minutes=None)
    assert (done.status, done.actual_minutes) == ("completed", 30)


def test_completing_and_abandoning_queue_an_estimate_refresh(
    researcher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        task_complete(task=TaskFactory(owner=researcher), actual_minutes=30)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        task_abandon(task=TaskFactory(owner=researcher), reason="Superseded")
    assert len(callbacks) == 1


def test_abandoning_keeps_the_task_with_its_reason(task):
    work_session_start(task=task)
    task_abandon(task=task, reason="  Superseded by another project ")
    task.refresh_from_db()
    assert (task.status, task.abandoned_reason) == ("abandoned", "Superseded by another project")
    assert not WorkSession.objects.filter(ended_at__isnull=True).exists()


def test_abandoning_needs_a_reason(task):
    with pytest.raises(ValidationError, match="why"):
        task_abandon(task=task, reason=" ")


def test_ai_logged_on_a_no_ai_task_is_kept_and_flagged(task, researcher):
    claude = ToolFactory(name="Claude")
    tool_use_set(task=task, uses=[ToolUseEntry(tool=claude, minutes=20, mode="chat")])
    [use] = task.tool_uses.all()
    assert (use.tool, use.minutes, use.mode) == (claude, 20, "chat")
    [shown] = selectors.task_list_open(owner=researcher)
    assert shown.noncompliant is True


def test_tool_use_is_replaced_not_added(task):
    claude, cursor = ToolFactory(name="Claude"), ToolFactory(name="Cursor")
    tool_use_set(task=task, uses=[ToolUseEntry(tool=claude)])
    tool_use_set(task=task, uses=[ToolUseEntry(tool=cursor)])
    assert [u.tool.name for u in task.tool_uses.all()] == ["Cursor"]


def test_ai_on_an_ai_task_is_not_flagged(researcher, team):
    task = TaskFactory(owner=researcher, team=team, condition=Task.Condition.AI)
    tool_use_set(task=task, uses=[ToolUseEntry(tool=ToolFactory(name="Claude"))])
    [shown] = selectors.task_list_open(owner=researcher)
    assert shown.noncompliant is False


def test_calibration_is_the_geometric_mean_of_actual_over_forecast(researcher, team):
    # AI tasks forecast 45 min: one took 90 (2x), one 22.5 (0.5x): calibrated overall.
    for actual in (90, 22.5):
        task_complete(task=TaskFactory(owner=researcher, team=team), actual_minutes=actual)
    task_complete(
        task=TaskFactory(owner=researcher, team=team, condition="no_ai"), actual_minutes=120
    )
    rows = {row.condition: row for row in selectors.researcher_calibration(owner=researcher)}
    assert (rows["ai"].n, rows["ai"].within_forecast) == (2, 1)
    assert rows["ai"].ratio == pytest.approx(1.0)
    assert rows["no_ai"].ratio == pytest.approx(2.0)


@pytest.fixture
def forgotten(task):
    """The timer on ``task`` started three days ago and was never stopped."""
    return WorkSessionFactory(task=task, started_at=ago(days=3), ended_at=None)


def _still_running(session) -> bool:
    session.refresh_from_db()
    return session.ended_at is None


def test_switching_away_from_a_forgotten_timer_needs_confirmation(forgotten, researcher):
    other = TaskFactory(owner=researcher)
    with pytest.raises(LongSession) as refused:
        work_session_start(task=other)
    assert refused.value.session == forgotten
    assert _still_running(forgotten) and not other.sessions.exists()
    work_session_start(task=other, confirm_long=True)
    forgotten.refresh_from_db()
    assert forgotten.minutes == pytest.approx(3 * 24 * 60, abs=1)


def test_completing_a_task_with_a_forgotten_timer_needs_confirmation(task, forgotten):
    with pytest.raises(LongSession):
        task_complete(task=task)
    task.refresh_from_db()
    assert task.status != Task.Status.COMPLETED and task.actual_minutes is None
    assert _still_running(forgotten)
    # Corrected to the hour it really took, it completes with that hour.
    work_session_update(
        session=forgotten,
        started_at=forgotten.started_at,
        ended_at=ago(days=3) + timedelta(hours=1),
    )
    assert task_complete(task=task).actual_minutes == pytest.approx(60, abs=0.1)


def test_completing_with_a_confirmed_forgotten_timer_records_it(task, forgotten):
    done = task_complete(task=task, confirm_long=True)
    assert done.actual_minutes == pytest.approx(3 * 24 * 60, abs=1)


def test_abandoning_a_task_with_a_forgotten_timer_needs_confirmation(task, forgotten):
    with pytest.raises(LongSession):
        task_abandon(task=task, reason="Superseded")
    task.refresh_from_db()
    assert task.status != Task.Status.ABANDONED and _still_running(forgotten)
    assert task_abandon(task=task, reason="Superseded", confirm_long=True).status == "abandoned"
    assert not _still_running(forgotten)


def test_a_timer_under_16_hours_ends_on_every_path_without_confirmation(task, researcher):
    WorkSessionFactory(task=task, started_at=ago(hours=15), ended_at=None)
    work_session_start(task=TaskFactory(owner=researcher))
    assert WorkSession.objects.get(task=task).minutes == pytest.approx(15 * 60, abs=1)
