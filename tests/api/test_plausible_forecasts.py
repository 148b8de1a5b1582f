"""Planning through the API refuses forecasts that look like a typo unless they are confirmed."""

import yaml

from uplift.worklog.models import Task


def plan(world, **fields):
    return world.client("researcher").post(
        "/api/v1/tasks/",
        {"team": world.alignment.pk, "task_type": world.task_type.pk, **fields},
        format="json",
    )


def test_doubtful_forecasts_are_refused_naming_the_rule_until_confirmed(world):
    before = Task.objects.count()
    response = plan(world, forecast_no_ai_minutes=1200, forecast_ai_minutes=90)
    assert response.status_code == 400
    assert response.json() == {
        "confirm_forecasts": [
            "Check the forecasts: 1,200 minutes without AI is more than 4 times 90 minutes "
            "with AI; 1,200 minutes without AI is more than a working day (480 minutes). They "
            "cannot change after the draw: correct them, or confirm that they are right."
        ]
    }
    assert Task.objects.count() == before

    response = plan(
        world, forecast_no_ai_minutes=1200, forecast_ai_minutes=90, confirm_forecasts=True
    )
    assert response.status_code == 201
    task = Task.objects.get(pk=response.json()["id"])
    assert (task.forecast_no_ai_minutes, task.forecast_ai_minutes) == (1200, 90)
    assert task.condition in ("ai", "no_ai")


def test_plausible_forecasts_plan_without_the_confirmation(world):
    assert plan(world, forecast_no_ai_minutes=240, forecast_ai_minutes=60).status_code == 201
    assert plan(world, forecast_no_ai_minutes=480, forecast_ai_minutes=480).status_code == 201
    refused = plan(
        world, forecast_no_ai_minutes=480, forecast_ai_minutes=481, confirm_forecasts=False
    )
    assert refused.status_code == 400 and list(refused.json()) == ["confirm_forecasts"]


def test_the_schema_documents_the_confirmation(client):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    field = schema["components"]["schemas"]["TaskPlanRequest"]["properties"]["confirm_forecasts"]
    assert field["type"] == "boolean" and field["default"] is False
    assert "more than 4 times the other" in field["description"]
    assert "working day (480 minutes)" in field["description"]
