"""Work sessions through the API: typed durations (the pages' reader), moves and deletions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TaskFactory
from uplift.worklog.models import AuditEntry, WorkSession

pytestmark = pytest.mark.django_db

API = "/api/v1/work-sessions/"


@pytest.fixture
def end():
    # Before the world's own session (two hours ago, for half an hour).
    return timezone.now().replace(microsecond=0) - timedelta(hours=3)


@pytest.mark.parametrize(
    ("times", "duration"),
    [("started_at", "1h30"), ("ended_at", 90), ("ended_at", "1.5h"), ("started_at", "1:30")],
)
def test_a_session_is_added_with_a_typed_duration(world, end, times, duration):
    start = end - timedelta(minutes=90)
    payload = {"task": world.own_task.pk, "duration": duration}
    payload[times] = (start if times == "started_at" else end).isoformat()
    response = world.client("researcher").post(API, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["minutes"] == pytest.approx(90)
    assert WorkSession.objects.get(pk=body["id"]).started_at == start


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("1h75", "“1h75”: the minutes after the hours must be under 60 (75 given)."),
        ("-5m", "A duration cannot be negative."),
        (-5, "A duration cannot be negative."),
        ("abc", "“abc” is not a duration: write it like 1h30, 90m, 1.5h, 1:30 or 90 (minutes)."),
        ("50000", "“50000” is 50,000 minutes: a duration must be between 0.1 and 43,200 minutes"),
        (True, "Give the duration like 1h30, 90m, 1.5h, 1:30 or 90 (minutes)."),
        ("9" * 41, "Give the duration like 1h30"),
    ],
)
def test_a_wrong_duration_is_refused_by_name(world, end, duration, message):
    response = world.client("researcher").post(
        API,
        {"task": world.own_task.pk, "ended_at": end.isoformat(), "duration": duration},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["duration"]
    assert response.json()["duration"][0].startswith(message)


def test_a_duration_alone_or_a_start_alone_is_not_a_session(world):
    client = world.client("researcher")
    alone = client.post(API, {"task": world.own_task.pk, "duration": "1h"}, format="json")
    assert alone.status_code == 400
    assert alone.json() == {"started_at": ["Give the start or the end, with the duration."]}
    start = client.post(
        API,
        {"task": world.own_task.pk, "started_at": timezone.now().isoformat()},
        format="json",
    )
    assert start.json() == {
        "ended_at": ["Give the start and the end, or one of them and a duration."]
    }


def test_a_correction_moves_the_session_to_another_own_task_and_is_audited(world, end):
    other = TaskFactory(owner=world.users["researcher"], team=world.alignment, title="Review")
    session = world.session
    response = world.client("researcher").put(
        f"{API}{session.pk}/",
        {"task": other.pk, "started_at": (end - timedelta(hours=1)).isoformat(), "duration": "45m"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["task"], response.json()["minutes"]) == (other.pk, 45)
    entry = AuditEntry.objects.get(field="work_session")
    assert (entry.task, entry.new_value, entry.via) == (world.own_task, f"task {other.pk}", "api")


def test_a_session_cannot_move_to_a_task_of_someone_else(world):
    session = world.session
    response = world.client("researcher").put(
        f"{API}{session.pk}/",
        {
            "task": world.other_team_task.pk,
            "started_at": session.started_at.isoformat(),
            "ended_at": session.ended_at.isoformat(),
        },
        format="json",
    )
    assert (response.status_code, response.json()) == (400, {"task": ["No such task."]})
    # A lead sees the team's tasks, but moves no one's sessions.
    lead_task = TaskFactory(owner=world.users["lead"], team=world.alignment)
    response = world.client("researcher").put(
        f"{API}{session.pk}/",
        {
            "task": lead_task.pk,
            "started_at": session.started_at.isoformat(),
            "ended_at": session.ended_at.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    session.refresh_from_db()
    assert session.task == world.own_task


def test_deleting_a_session_answers_204_and_is_audited(world):
    session = world.session
    response = world.client("researcher").delete(f"{API}{session.pk}/")
    assert response.status_code == 204
    assert not WorkSession.objects.filter(pk=session.pk).exists()
    entry = AuditEntry.objects.get(field="work_session")
    assert (entry.task, entry.actor, entry.via) == (
        world.own_task,
        world.users["researcher"],
        "api",
    )
