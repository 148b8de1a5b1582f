"""Write input: only the fields an operation writes, and only tasks the user may see."""

import pytest

from uplift.worklog.models import Task


def test_another_researchers_task_reads_as_a_missing_one_on_work_sessions(world):
    client = world.client("researcher")
    missing = Task.objects.order_by("-pk").first().pk + 1000
    now = "2026-01-01T10:00:00Z"
    for url, extra in [
        ("/api/v1/work-sessions/start/", {}),
        ("/api/v1/work-sessions/", {"started_at": now, "ended_at": "2026-01-01T11:00:00Z"}),
    ]:
        other = client.post(url, {"task": world.other_team_task.pk, **extra}, format="json")
        absent = client.post(url, {"task": missing, **extra}, format="json")
        assert (other.status_code, other.json()) == (absent.status_code, absent.json())
        assert (other.status_code, other.json()) == (400, {"task": ["No such task."]})


@pytest.mark.parametrize("task", [10**40, "abc", [1]])
def test_a_task_id_that_cannot_exist_is_no_such_task_without_echo(world, task):
    response = world.client("researcher").post(
        "/api/v1/work-sessions/start/", {"task": task}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["task"][0].startswith("No such task")


def test_a_lead_may_not_log_time_on_a_task_they_can_see(world):
    response = world.client("lead").post(
        "/api/v1/work-sessions/start/", {"task": world.own_task.pk}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        ({"status": "completed"}, {"status": ["Read-only: this field cannot be changed here."]}),
        (
            {"title": "Kept?", "owner": 1, "team": 2, "actual_minutes": 5},
            {
                "owner": ["Unknown field."],
                "team": ["Read-only: this field cannot be changed here."],
                "actual_minutes": ["Read-only: this field cannot be changed here."],
            },
        ),
        ({"titel": "typo"}, {"titel": ["Unknown field."]}),
    ],
)
def test_patch_refuses_fields_it_would_ignore_naming_each(world, payload, refused):
    before = Task.objects.values().get(pk=world.own_task.pk)
    response = world.client("researcher").patch(
        f"/api/v1/tasks/{world.own_task.pk}/", payload, format="json"
    )
    assert response.status_code == 400
    assert response.json() == refused
    assert Task.objects.values().get(pk=world.own_task.pk) == before


def test_every_write_refuses_unknown_keys_nested_ones_too(world):
    client = world.client("researcher")
    own = world.own_task.pk
    response = client.put(
        f"/api/v1/tasks/{own}/tool-uses/",
        {"uses": [{"tool": world.tool.pk, "minute": 5}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"uses": {"0": {"minute": ["Unknown field."]}}}
    response = client.post(f"/api/v1/tasks/{own}/complete/", {"actual": 5}, format="json")
    assert response.json() == {"actual": ["Unknown field."]}
    response = client.post("/api/v1/work-sessions/stop/", {"confirm": True}, format="json")
    assert response.json() == {"confirm": ["Unknown field."]}
