"""Task writes over the API go through the services: lock rules, audit, per-field errors."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import TaskFactory, ToolUseFactory, UserFactory
from uplift.worklog.models import AuditEntry, Task


def test_researcher_plans_a_task_and_gets_its_condition(world):
    response = world.client("researcher").post(
        "/api/v1/tasks/",
        {
            "team": world.alignment.pk,
            "task_type": world.task_type.pk,
            "title": "Write the eval",
            "forecast_no_ai_minutes": 90,
            "forecast_ai_minutes": 60,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get(pk=body["id"])
    assert task.owner == world.users["researcher"] and task.assignment == "randomized"
    assert body["condition"] == task.condition in ("ai", "no_ai")
    assert body["researcher"] == "ada@example.org"


def test_changing_a_forecast_is_refused_and_recorded(world):
    task = world.own_task
    response = world.client("researcher").patch(
        f"/api/v1/tasks/{task.pk}/", {"forecast_no_ai_minutes": 5, "title": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "forecast_no_ai_minutes" in response.json()
    entry = AuditEntry.objects.get(task=task)
    assert (entry.action, entry.field, entry.via) == ("refused", "forecast_no_ai_minutes", "api")
    task.refresh_from_db()
    assert (task.forecast_no_ai_minutes, task.title) == (60.0, "Fix the loader")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"forecast_no_ai_minutes": "soon"}, "forecast_no_ai_minutes"),
        ({"forecast_no_ai_minutes": 0, "forecast_ai_minutes": 10}, "forecast_no_ai_minutes"),
        ({"team": 10**12}, "team"),
        ({"task_type": "x"}, "task_type"),
        ({"title": "two\nlines"}, "title"),
    ],
)
def test_invalid_plan_gets_a_message_per_field(world, payload, field):
    data = {
        "team": world.alignment.pk,
        "task_type": world.task_type.pk,
        "forecast_no_ai_minutes": 30,
        "forecast_ai_minutes": 20,
        **payload,
    }
    response = world.client("researcher").post("/api/v1/tasks/", data, format="json")
    assert response.status_code == 400
    assert isinstance(response.json()[field], list)


def test_list_filters_by_status_and_team(world):
    world.other_team_task.status = Task.Status.ABANDONED
    world.other_team_task.save()
    client = world.client("admin")
    body = client.get("/api/v1/tasks/", {"status": "abandoned"}).json()
    assert [task["id"] for task in body["results"]] == [world.other_team_task.pk]
    body = client.get("/api/v1/tasks/", {"team": world.alignment.pk}).json()
    assert [task["id"] for task in body["results"]] == [world.own_task.pk]


def test_list_pages_with_a_cursor(world):
    client = world.client("admin")
    first = client.get("/api/v1/tasks/", {"page_size": 1}).json()
    assert [task["id"] for task in first["results"]] == [world.other_team_task.pk]
    second = client.get(first["next"]).json()
    assert [task["id"] for task in second["results"]] == [world.own_task.pk]


def test_estimates_have_the_show_estimates_shape_and_filter(world):
    body = world.client("analyst").get("/api/v1/estimates/", {"dimension": "team"}).json()
    assert set(body) == {"snapshot", "estimates", "lab"}
    assert body["snapshot"]["id"] == world.snapshot.pk
    assert [row["group"] for row in body["estimates"]] == ["Alignment", "Interpretability"]
    body = world.client("analyst").get("/api/v1/estimates/", {"group": "Alignment"}).json()
    assert [row["dimension"] for row in body["estimates"]] == ["team"]


def test_writes_are_throttled_per_user(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_writes": "2/minute"},
    }
    client = world.client("researcher")
    url = f"/api/v1/tasks/{world.own_task.pk}/"
    codes = [client.patch(url, {"title": f"t{i}"}, format="json").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert client.get(url).status_code == 200  # reads are not throttled
    assert world.client("lead").patch(url, {"title": "t"}, format="json").status_code == 403


def test_swagger_ui_is_served_from_local_static_files(world):
    page = world.client("researcher").get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_unknown_api_path_answers_json_404(world):
    response = world.client("researcher").get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_known_path_without_slash_redirects(world):
    response = world.client("researcher").get("/api/v1/tokens")
    assert response.status_code == 301 and response["Location"] == "/api/v1/tokens/"


def test_list_reads_a_page_in_the_same_queries_however_many_tasks(world):
    # A researcher without an email is still one column of the page query, not a query each.
    nameless = UserFactory(username="noemail", email="")
    client = world.client("admin")
    client.get("/api/v1/teams/")  # records the token's first use, a write of its own

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/v1/tasks/").json()
        assert len(body["results"]) == Task.objects.count()
        return len(queries)

    before = page_queries()
    for _ in range(3):
        task = TaskFactory(owner=nameless, team=world.alignment, task_type=world.task_type)
        ToolUseFactory(task=task, tool=world.tool)
    assert page_queries() == before
