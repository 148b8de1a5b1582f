"""Concurrent timer starts (a double click, two tabs, the API and the web page at once).

Real concurrency: each request runs in its own thread with its own database connection,
against committed data (transactional tests), on PostgreSQL.
"""

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.factories import TaskFactory
from uplift.worklog.models import WorkSession

pytestmark = pytest.mark.django_db(transaction=True)

N = 20


def _at_once(calls):
    """Run every call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _starts(world, tasks, settings):
    """Half the starts from the API, half from the task page, alternating the tasks given."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_writes": "100000/minute"},
    }
    researcher = world.users["researcher"]
    calls = []
    for i in range(N):
        task = tasks[i % len(tasks)]
        if i % 2:
            api = world.client("researcher")
            calls.append(
                lambda api=api, task=task: api.post(
                    "/api/v1/work-sessions/start/", {"task": task.pk}, format="json"
                )
            )
        else:
            web = Client()
            web.force_login(researcher)
            url = reverse("worklog:task_timer", args=[task.pk])
            calls.append(
                lambda web=web, url=url: web.post(
                    url, {"action": "start", "next": "/"}, secure=True
                )
            )
    return _at_once(calls)


def _refusals(responses) -> list:
    """Every failed start: an exception, an API error or an error message on the page."""
    problems = []
    for response in responses:
        if isinstance(response, Exception):
            problems.append(repr(response))
        elif response.status_code not in (201, 302):
            problems.append(response.content[:200])
        elif response.status_code == 302:
            problems += [
                str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"
            ]
    return problems


def test_a_double_click_on_start_is_harmless(world, settings):
    responses = _starts(world, [world.own_task], settings)
    assert _refusals(responses) == []
    running = WorkSession.objects.get(ended_at__isnull=True)
    assert running.task == world.own_task
    # Every API start answered the same running session.
    assert {r.json()["id"] for r in responses if r.status_code == 201} == {running.pk}
    assert WorkSession.objects.filter(task=world.own_task).count() == 2  # + the finished one


def test_concurrent_starts_of_two_tasks_switch_between_them(world, settings):
    other = TaskFactory(owner=world.users["researcher"], team=world.alignment)
    responses = _starts(world, [world.own_task, other], settings)
    assert _refusals(responses) == []
    assert WorkSession.objects.filter(ended_at__isnull=True).count() == 1
    sessions = list(WorkSession.objects.order_by("started_at"))
    for earlier, later in zip(sessions, sessions[1:], strict=False):
        assert earlier.ended_at is not None and earlier.ended_at <= later.started_at
