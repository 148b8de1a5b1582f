"""Who gets what from every endpoint: docs/product.md, "Who may see what", as exact codes."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import ROLES
from tests.conftest import shared_copy
from uplift.accounts.models import Membership, Team, User
from uplift.accounts.pseudonyms import researcher_pseudonym
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool

# Columns: anonymous, expired token, researcher, lead (same team), analyst, admin, outsider
# (a researcher of another team). 401: not authenticated; 404: exists but not visible.
MATRIX = {
    "list tasks": (401, 401, 200, 200, 200, 200, 200),
    "own task": (401, 401, 200, 200, 200, 200, 404),
    "other team's task": (401, 401, 404, 404, 200, 200, 200),
    "plan task": (401, 401, 201, 201, 403, 403, 400),
    "change task": (401, 401, 200, 403, 403, 200, 404),
    "refused locked change": (401, 401, 400, 403, 403, 400, 404),
    "complete task": (401, 401, 200, 403, 403, 200, 404),
    "abandon task": (401, 401, 200, 403, 403, 200, 404),
    "set tool uses": (401, 401, 200, 403, 403, 200, 404),
    "export csv": (401, 401, 200, 200, 200, 200, 200),
    "export jsonl": (401, 401, 200, 200, 200, 200, 200),
    "list work sessions": (401, 401, 200, 200, 200, 200, 200),
    "own work session": (401, 401, 200, 200, 200, 200, 404),
    "add work session": (401, 401, 201, 403, 403, 201, 400),
    "correct work session": (401, 401, 200, 403, 403, 200, 404),
    "delete work session": (401, 401, 204, 403, 403, 204, 404),
    "start timer": (401, 401, 201, 403, 403, 201, 400),
    "stop timer": (401, 401, 204, 204, 204, 204, 204),
    "list tool uses": (401, 401, 200, 200, 200, 200, 200),
    "own tool use": (401, 401, 200, 200, 200, 200, 404),
    "list teams": (401, 401, 200, 200, 200, 200, 200),
    "other team": (401, 401, 404, 404, 200, 200, 200),
    "list task types": (401, 401, 200, 200, 200, 200, 200),
    "task type": (401, 401, 200, 200, 200, 200, 200),
    "list tools": (401, 401, 200, 200, 200, 200, 200),
    "tool": (401, 401, 200, 200, 200, 200, 200),
    "estimates": (401, 401, 403, 403, 200, 200, 403),
    "list snapshots": (401, 401, 403, 403, 200, 200, 403),
    "snapshot": (401, 401, 403, 403, 200, 200, 403),
    # An import writes into anyone's records: admins only, not analysts.
    "import": (401, 401, 403, 403, 403, 200, 403),
    # Public, but a bad credential is refused wherever it is sent.
    "schema": (200, 401, 200, 200, 200, 200, 200),
    "docs": (200, 401, 200, 200, 200, 200, 200),
}


@pytest.fixture
def world(db, world_shared):
    # Hundreds of tests here, each on the same world: written once (tests/conftest.py).
    return shared_copy(world_shared)


IMPORT_CSV = (
    "task_id,researcher,team,task_type,assignment,condition,forecast_no_ai_minutes,"
    "forecast_ai_minutes,status\n"
    "old-1,someone@example.org,Alignment,Debugging,randomized,ai,60,40,planned\n"
)


def _request(world, endpoint: str, client):
    """Make the request named ``endpoint`` with ``client``; returns the response."""
    own, other = world.own_task.pk, world.other_team_task.pk
    now = timezone.now()
    api = "/api/v1"
    requests = {
        "list tasks": lambda: client.get(f"{api}/tasks/"),
        "own task": lambda: client.get(f"{api}/tasks/{own}/"),
        "other team's task": lambda: client.get(f"{api}/tasks/{other}/"),
        "plan task": lambda: client.post(
            f"{api}/tasks/",
            {
                "team": world.alignment.pk,
                "task_type": world.task_type.pk,
                "title": "New",
                "forecast_no_ai_minutes": 30,
                "forecast_ai_minutes": 20,
            },
            format="json",
        ),
        "change task": lambda: client.patch(
            f"{api}/tasks/{own}/", {"title": "Renamed"}, format="json"
        ),
        "refused locked change": lambda: client.patch(
            f"{api}/tasks/{own}/", {"forecast_ai_minutes": 1}, format="json"
        ),
        "complete task": lambda: client.post(
            f"{api}/tasks/{own}/complete/", {"actual_minutes": 50}, format="json"
        ),
        "abandon task": lambda: client.post(
            f"{api}/tasks/{own}/abandon/", {"reason": "Superseded"}, format="json"
        ),
        "set tool uses": lambda: client.put(
            f"{api}/tasks/{own}/tool-uses/",
            {"uses": [{"tool": world.tool.pk, "minutes": 5, "mode": "chat"}]},
            format="json",
        ),
        "export csv": lambda: client.get(f"{api}/tasks/export/?format=csv"),
        "export jsonl": lambda: client.get(f"{api}/tasks/export/?format=jsonl"),
        "list work sessions": lambda: client.get(f"{api}/work-sessions/"),
        "own work session": lambda: client.get(f"{api}/work-sessions/{world.session.pk}/"),
        "add work session": lambda: client.post(
            f"{api}/work-sessions/",
            {
                "task": own,
                "started_at": (now - timedelta(hours=5)).isoformat(),
                "ended_at": (now - timedelta(hours=4)).isoformat(),
            },
            format="json",
        ),
        "correct work session": lambda: client.put(
            f"{api}/work-sessions/{world.session.pk}/",
            {
                "started_at": (now - timedelta(hours=3)).isoformat(),
                "ended_at": (now - timedelta(hours=2, minutes=30)).isoformat(),
            },
            format="json",
        ),
        "delete work session": lambda: client.delete(f"{api}/work-sessions/{world.session.pk}/"),
        "start timer": lambda: client.post(
            f"{api}/work-sessions/start/", {"task": own}, format="json"
        ),
        "stop timer": lambda: client.post(f"{api}/work-sessions/stop/", {}, format="json"),
        "list tool uses": lambda: client.get(f"{api}/tool-uses/"),
        "own tool use": lambda: client.get(f"{api}/tool-uses/{world.tool_use.pk}/"),
        "list teams": lambda: client.get(f"{api}/teams/"),
        "other team": lambda: client.get(f"{api}/teams/{world.interpretability.pk}/"),
        "list task types": lambda: client.get(f"{api}/task-types/"),
        "task type": lambda: client.get(f"{api}/task-types/{world.task_type.pk}/"),
        "list tools": lambda: client.get(f"{api}/tools/"),
        "tool": lambda: client.get(f"{api}/tools/{world.tool.pk}/"),
        "estimates": lambda: client.get(f"{api}/estimates/"),
        "list snapshots": lambda: client.get(f"{api}/snapshots/"),
        "snapshot": lambda: client.get(f"{api}/snapshots/{world.snapshot.pk}/"),
        "import": lambda: client.post(
            f"{api}/import/",
            {"file": io.BytesIO(IMPORT_CSV.encode())},
            format="multipart",
        ),
        "schema": lambda: client.get(f"{api}/schema/"),
        "docs": lambda: client.get(f"{api}/docs/"),
    }
    return requests[endpoint]()


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_role_gets_exactly_the_expected_status(world, endpoint, role):
    response = _request(world, endpoint, world.client(role))
    body = _body(response)
    assert response.status_code == MATRIX[endpoint][ROLES.index(role)], body[:500]
    if response.status_code >= 400 and endpoint not in ("schema", "docs"):
        assert response["Content-Type"].startswith("application/json"), body[:200]
    if role == "analyst" and endpoint not in ("schema", "docs"):
        # No email of anyone, in any analyst response or export.
        assert b"@example.org" not in body


def test_analyst_sees_the_stable_pseudonym_of_each_researcher(world):
    response = world.client("analyst").get(f"/api/v1/tasks/{world.own_task.pk}/")
    pseudonym = researcher_pseudonym(world.users["researcher"].pk)
    assert response.json()["researcher"] == pseudonym
    assert pseudonym.startswith("researcher-") and len(pseudonym) == len("researcher-") + 12
    # The same pseudonym in the list as in the detail: analyses can join on it.
    listed = world.client("analyst").get("/api/v1/tasks/").json()["results"]
    assert {t["researcher"] for t in listed if t["id"] == world.own_task.pk} == {pseudonym}


def test_lead_sees_the_researchers_email(world):
    response = world.client("lead").get(f"/api/v1/tasks/{world.own_task.pk}/")
    assert response.json()["researcher"] == "ada@example.org"


def test_researcher_lists_only_own_tasks(world):
    response = world.client("researcher").get("/api/v1/tasks/")
    assert [task["id"] for task in response.json()["results"]] == [world.own_task.pk]


def test_analyst_lists_every_task(world):
    response = world.client("analyst").get("/api/v1/tasks/")
    ids = {task["id"] for task in response.json()["results"]}
    assert ids == {world.own_task.pk, world.other_team_task.pk}


def test_analyst_import_is_refused_and_writes_nothing(world):
    """An analyst's file naming ada, a new person, a new team and ada's task id: all refused."""
    own = world.own_task
    own.source, own.external_id = "worklog", "ada-1"
    own.save()
    hostile = (
        "task_id,researcher,team,task_type,assignment,condition,forecast_no_ai_minutes,"
        "forecast_ai_minutes,status,actual_minutes,completed_at,tools\n"
        "fake-1,ada@example.org,Alignment,Debugging,randomized,ai,60,40,planned,,,\n"
        "fake-2,mallory@example.org,Stealth,Snooping,randomized,ai,60,40,planned,,,spyglass\n"
        # Ada's own task moved to the analyst and completed: the locked fields as they are.
        f"ada-1,ana@example.org,Alignment,Debugging,{own.assignment},{own.condition},"
        f"{own.forecast_no_ai_minutes:g},{own.forecast_ai_minutes:g},completed,5,"
        "2025-01-01T00:00:00+00:00,\n"
    )
    tables = (Task, User, Membership, Team, TaskType, Tool, AuditEntry)
    before = {model: list(model.objects.order_by("pk").values()) for model in tables}

    response = world.client("analyst").post(
        "/api/v1/import/", {"file": io.BytesIO(hostile.encode())}, format="multipart"
    )

    assert response.status_code == 403, response.content
    assert response.json() == {
        "detail": "Only admins may import worklog files: ask an admin to import this file."
    }
    assert {model: list(model.objects.order_by("pk").values()) for model in tables} == before
    own.refresh_from_db()
    assert (own.owner, own.status) == (world.users["researcher"], Task.Status.PLANNED)
    assert not User.objects.filter(email="mallory@example.org").exists()


def test_admin_import_of_the_same_kind_of_file_still_works(world):
    response = world.client("admin").post(
        "/api/v1/import/", {"file": io.BytesIO(IMPORT_CSV.encode())}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert Task.objects.get(external_id="old-1").owner.email == "someone@example.org"
