"""Messages told apart by more than colour: each level has its class, icon, word and role
(templates/base.html, static/css/uplift.css)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import TaskFactory, WorkSessionFactory
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, researcher):
    client.force_login(researcher)
    return client


def messages_in(html: str) -> list[tuple[str, str, str]]:
    """(class, role, text) of each message shown."""
    found = re.findall(r'<p class="message ([\w-]+)" role="(\w+)">(.*?)</p>', html, re.S)
    return [
        (cls, role, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip())
        for cls, role, text in found
    ]


def test_each_message_level_has_its_class_word_and_role(signed_in, researcher, team, task_type):
    planned = signed_in.post(
        "/",
        {
            "title": "Sweep",
            "task_type": task_type.pk,
            "forecast_no_ai_minutes": "60",
            "forecast_ai_minutes": "40",
        },
        secure=True,
        follow=True,
    )
    task = Task.objects.get(title="Sweep")
    [(cls, role, text)] = messages_in(planned.content.decode())
    assert (cls, role) == ("message-success", "status")
    assert text.startswith("✓ Done: Planned “Sweep”")

    timer = reverse("worklog:task_timer", args=[task.pk])
    info = signed_in.post(timer, {"action": "pause"}, secure=True, follow=True)
    assert messages_in(info.content.decode()) == [
        ("message-info", "status", "i Note: The timer was not running on this task.")
    ]

    done = TaskFactory(owner=researcher, team=team, status=Task.Status.COMPLETED, actual_minutes=5)
    refused = signed_in.post(
        reverse("worklog:task_timer", args=[done.pk]), {"action": "start"}, secure=True, follow=True
    )
    [(cls, role, text)] = messages_in(refused.content.decode())
    assert (cls, role) == ("message-error", "alert") and text.startswith("✗ Error: ")

    WorkSessionFactory(task=task, started_at=timezone.now() - timedelta(hours=17), ended_at=None)
    long = signed_in.post(timer, {"action": "pause"}, secure=True, follow=True)
    [(cls, role, text)] = messages_in(long.content.decode())
    assert (cls, role) == ("message-warning", "alert")
    assert text.startswith("! Warning: The timer on “Sweep” has run for over 16 hours.")
