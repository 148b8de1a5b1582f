"""The timer over the API: a forgotten timer is confirmed or corrected, never recorded blindly."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TaskFactory, WorkSessionFactory
from uplift.worklog.models import Task, WorkSession

REFUSED = {
    "confirm_long": [
        "The timer on “Fix the loader” has run for over 16 hours: was it forgotten? "
        "Correct the end of that session, or confirm it."
    ]
}


@pytest.fixture
def forgotten(world):
    """ada's timer on her task started five days ago and was never stopped."""
    world.session.delete()
    started = timezone.now() - timedelta(days=5)
    return WorkSessionFactory(task=world.own_task, started_at=started, ended_at=None)


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("work-sessions/start/", "other"),
        ("work-sessions/stop/", {}),
        ("tasks/{own}/complete/", {}),
        ("tasks/{own}/abandon/", {"reason": "Superseded"}),
    ],
)
def test_every_way_of_ending_a_forgotten_timer_asks_for_confirmation(
    world, forgotten, path, payload
):
    client = world.client("researcher")
    if payload == "other":
        other = TaskFactory(owner=world.users["researcher"], team=world.alignment)
        payload = {"task": other.pk}
    url = "/api/v1/" + path.format(own=world.own_task.pk)
    before = Task.objects.values().get(pk=world.own_task.pk)

    response = client.post(url, payload, format="json")
    assert response.status_code == 400
    assert response.json() == REFUSED
    forgotten.refresh_from_db()
    assert forgotten.ended_at is None
    assert WorkSession.objects.filter(ended_at__isnull=True).get() == forgotten
    assert Task.objects.values().get(pk=world.own_task.pk) == before

    response = client.post(url, {**payload, "confirm_long": True}, format="json")
    assert response.status_code in (200, 201)
    forgotten.refresh_from_db()
    assert forgotten.minutes == pytest.approx(5 * 24 * 60, abs=1)
