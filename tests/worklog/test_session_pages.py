"""Adding, correcting, moving and deleting sessions through the pages (Django's test client)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import TaskFactory, UserFactory, WorkSessionFactory
from uplift.worklog.models import AuditEntry, Task, WorkSession
from uplift.worklog.services import task_abandon, task_complete

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def task(researcher, team):
    return TaskFactory(owner=researcher, team=team, title="Sweep")


def local(moment) -> str:
    """A moment as the browser's date and time picker sends it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def a_minute_ago():
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)


def test_a_forgotten_session_from_a_start_and_a_typed_duration(client_of, researcher, task):
    start = a_minute_ago() - 3 * HOUR
    client = client_of(researcher)
    response = client.post(
        reverse("worklog:session_add", args=[task.pk]),
        {"started_at": local(start), "duration": "1h30"},
        follow=True,
    )
    session = task.sessions.get()
    assert (session.started_at, session.minutes) == (start, 90)
    cell = response.content.decode().split('data-testid="session-duration">')[1]
    assert cell.startswith('1:30 <span class="muted">(90 min)</span>')


@pytest.mark.parametrize("typed", ["90m", "1.5h", "1:30", "90", "1h 30m"])
def test_a_forgotten_session_from_an_end_and_a_typed_duration(client_of, researcher, task, typed):
    end = a_minute_ago()
    response = client_of(researcher).post(
        reverse("worklog:session_add", args=[task.pk]), {"ended_at": local(end), "duration": typed}
    )
    assert response.status_code == 302
    session = task.sessions.get()
    assert (session.started_at, session.ended_at) == (end - 1.5 * HOUR, end)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"duration": "1h75"},
            {"duration": ["“1h75”: the minutes after the hours must be under 60 (75 given)."]},
        ),
        ({"duration": "-5m"}, {"duration": ["A duration cannot be negative."]}),
        (
            {"duration": "abc"},
            {
                "duration": [
                    "“abc” is not a duration: write it like 1h30, 90m, 1.5h, 1:30 or 90 (minutes)."
                ]
            },
        ),
        (
            {"duration": "90", "started_at": None, "ended_at": None},
            {"started_at": ["Give the start or the end, with the duration."]},
        ),
        (
            {"ended_at": None},
            {"ended_at": ["Give the start and the end, or one of them and a duration."]},
        ),
        (
            {"duration": "2h"},
            {
                "duration": [
                    "The start and the end are 1:00 apart, not 2:00: leave the end or the "
                    "duration empty."
                ]
            },
        ),
    ],
)
def test_a_wrong_duration_is_refused_next_to_its_field(client_of, researcher, task, data, errors):
    end = a_minute_ago()
    posted = {"started_at": local(end - HOUR), "ended_at": local(end), **data}
    posted = {name: value for name, value in posted.items() if value is not None}
    response = client_of(researcher).post(reverse("worklog:session_add", args=[task.pk]), posted)
    assert response.status_code == 400
    assert response.context["session_form"].errors == errors
    field = next(iter(errors))
    page = response.content.decode()
    assert f'<div id="id_{field}_error"><p class="field-error">' in page
    assert f'value="{posted["duration"]}"' in page if "duration" in posted else True
    assert not WorkSession.objects.exists()


def test_a_correction_by_duration_moves_the_end_shown(client_of, researcher, task):
    end = a_minute_ago()
    session = WorkSessionFactory(task=task, started_at=end - 3 * HOUR, ended_at=end - 2 * HOUR)
    url = reverse("worklog:session_edit", args=[task.pk, session.pk])
    client = client_of(researcher)
    shown = client.get(url).context["form"]
    posted = {
        "task": task.pk,
        "started_at": local(session.started_at),
        "ended_at": shown["ended_at"].value().strftime("%Y-%m-%dT%H:%M"),
        "duration": "45m",
    }
    assert client.post(url, posted).status_code == 302
    session.refresh_from_db()
    assert (session.started_at, session.minutes) == (end - 3 * HOUR, 45)


def test_a_session_moves_to_another_task_of_the_researcher(client_of, researcher, team, task):
    end = a_minute_ago()
    session = WorkSessionFactory(task=task, started_at=end - 2 * HOUR, ended_at=end - HOUR)
    other = TaskFactory(owner=researcher, team=team, title="Review")
    dropped = task_abandon(task=TaskFactory(owner=researcher, team=team), reason="Cancelled")
    typed = task_complete(task=TaskFactory(owner=researcher, team=team), actual_minutes=5)
    theirs = TaskFactory(owner=UserFactory(username="bo"))
    url = reverse("worklog:session_edit", args=[task.pk, session.pk])
    client = client_of(researcher)

    offered = client.get(url).context["form"].fields["task"].queryset
    assert set(offered) == {task, other}
    assert {dropped, typed, theirs}.isdisjoint(offered)

    times = {"started_at": local(session.started_at), "ended_at": local(session.ended_at)}
    response = client.post(url, {**times, "task": theirs.pk})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["task"]

    response = client.post(url, {**times, "task": other.pk}, follow=True)
    assert response.redirect_chain == [(reverse("worklog:task_detail", args=[other.pk]), 302)]
    assert "Work session moved to “Review”." in response.content.decode()
    session.refresh_from_db()
    assert session.task == other
    assert AuditEntry.objects.get().new_value == f"task {other.pk}"


def test_deleting_a_session_asks_first_then_deletes_and_audits(client_of, researcher, task):
    session = WorkSessionFactory(task=task)
    url = reverse("worklog:session_delete", args=[task.pk, session.pk])
    client = client_of(researcher)
    detail = client.get(reverse("worklog:task_detail", args=[task.pk])).content.decode()
    assert f'href="{url}"' in detail

    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert '<form method="post"' in page and "Delete the session</button>" in page
    assert WorkSession.objects.exists()

    response = client.post(url, follow=True)
    assert "Work session deleted." in response.content.decode()
    assert not WorkSession.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.task, entry.actor, entry.field, entry.via) == (
        task,
        researcher,
        "work_session",
        "web",
    )


def test_the_last_session_of_a_completed_task_is_kept(client_of, researcher, task):
    end = a_minute_ago()
    WorkSessionFactory(task=task, started_at=end - HOUR, ended_at=end)
    task_complete(task=task)
    session = task.sessions.get()
    url = reverse("worklog:session_delete", args=[task.pk, session.pk])
    response = client_of(researcher).post(url, follow=True)
    assert "This is the only session of completed “Sweep”" in response.content.decode()
    assert task.sessions.exists()
    task.refresh_from_db()
    assert task.status == Task.Status.COMPLETED and task.actual_minutes == 60


@pytest.mark.parametrize(
    ("name", "method"),
    [("session_edit", "post"), ("session_delete", "get"), ("session_delete", "post")],
)
def test_another_researchers_session_is_not_found(client_of, researcher, task, name, method):
    session = WorkSessionFactory(task=TaskFactory(owner=UserFactory(username="bo")))
    client = client_of(researcher)
    theirs = reverse(f"worklog:{name}", args=[session.task_id, session.pk])
    # Nor through one of the researcher's own tasks.
    mixed = reverse(f"worklog:{name}", args=[task.pk, session.pk])
    for url in (theirs, mixed):
        assert getattr(client, method)(url, {"task": task.pk}).status_code == 404
    assert WorkSession.objects.get() == session
    session.refresh_from_db()
    assert session.task_id != task.pk
