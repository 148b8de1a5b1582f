"""Forecasts that look like a typo are confirmed before the draw; a wrong one is abandoned."""

import re

import pytest
from django.urls import reverse

from tests.factories import TaskFactory
from uplift.worklog.bounds import FORECAST_MAX_RATIO, WORKING_DAY_MINUTES, forecast_doubts
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("no_ai", "ai", "rules"),
    [
        (60, 40, []),
        (240, 60, []),  # exactly 4 times
        (60, 240, []),
        (240.1, 60, ["ratio"]),
        (15, 60.5, ["ratio"]),
        (480, 480, []),  # exactly a working day
        (480.5, 400, ["day"]),
        (300, 481, ["day"]),
        (1200, 90, ["ratio", "day"]),
        (600, 700, ["day", "day"]),
        (0.1, 0.4, []),
        (0.1, 0.41, ["ratio"]),
    ],
)
def test_the_rule_and_its_boundaries(no_ai, ai, rules):
    doubts = forecast_doubts(no_ai, ai)
    found = ["ratio" if "times" in d else "day" for d in doubts]
    assert found == rules
    assert (FORECAST_MAX_RATIO, WORKING_DAY_MINUTES) == (4, 480)


@pytest.fixture
def signed_in(client, plain_http, researcher):
    client.force_login(researcher)
    return client


def form(task_type, no_ai, ai, **more):
    return {
        "title": "Sweep",
        "task_type": task_type.pk,
        "forecast_no_ai_minutes": str(no_ai),
        "forecast_ai_minutes": str(ai),
        **more,
    }


@pytest.mark.parametrize(("no_ai", "ai"), [(60, 40), (240, 60), (480, 480)])
def test_plausible_forecasts_plan_in_one_submit(signed_in, task_type, no_ai, ai):
    response = signed_in.post("/", form(task_type, no_ai, ai))
    assert (response.status_code, response["Location"]) == (302, "/")
    assert Task.objects.get().forecast_no_ai_minutes == no_ai
    page = signed_in.get("/").content.decode()
    assert 'name="confirm_forecasts"' not in page  # no extra step is offered
    assert "more than 4 times the other, or either is over a working day" in page


def test_doubtful_forecasts_come_back_to_confirm_and_then_plan(signed_in, task_type):
    response = signed_in.post("/", form(task_type, 1200, 90))
    assert response.status_code == 400
    assert not Task.objects.exists()
    page = response.content.decode()
    warning = re.search(r'<div id="id_confirm_forecasts_error">(.*?)</div>', page, re.S)
    assert "1,200 minutes without AI is more than 4 times 90 minutes with AI" in warning[1]
    assert "more than a working day (480 minutes)" in warning[1]
    for name in ("forecast_no_ai_minutes", "forecast_ai_minutes"):
        control = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)[0]
        assert 'aria-describedby="id_confirm_forecasts_error"' in control
    assert 'value="1200"' in page and 'value="90"' in page and 'value="Sweep"' in page
    checkbox = re.search(r'<input[^>]*name="confirm_forecasts"[^>]*>', page)[0]
    assert 'aria-describedby="id_confirm_forecasts_helptext id_confirm_forecasts_error"' in (
        checkbox
    )
    assert '<label for="id_confirm_forecasts">Yes, these forecasts are right</label>' in page

    response = signed_in.post("/", form(task_type, 1200, 90, confirm_forecasts="on"))
    assert (response.status_code, response["Location"]) == (302, "/")
    task = Task.objects.get()
    assert (task.forecast_no_ai_minutes, task.forecast_ai_minutes) == (1200, 90)


def test_corrected_forecasts_plan_without_the_confirmation(signed_in, task_type):
    assert signed_in.post("/", form(task_type, 1200, 90)).status_code == 400
    assert signed_in.post("/", form(task_type, 120, 90)).status_code == 302
    assert Task.objects.get().forecast_no_ai_minutes == 120


def test_a_confirmed_form_with_another_error_keeps_the_confirmation(signed_in, task_type):
    response = signed_in.post("/", form(task_type, 1200, 90, confirm_forecasts="on", title="a\nb"))
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["title"]
    assert re.search(r'<input[^>]*name="confirm_forecasts"[^>]*checked', response.content.decode())


def test_the_task_page_says_how_to_correct_a_wrong_forecast(signed_in, researcher, team):
    task = TaskFactory(owner=researcher, team=team)
    page = signed_in.get(reverse("worklog:task_detail", args=[task.pk])).content.decode()
    assert "Entered a forecast or the task type wrongly?" in page
    assert 'name="entered_wrongly"' in page


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("", "Entered wrongly"), ("  1200 for 120 ", "Entered wrongly: 1200 for 120")],
)
def test_entered_wrongly_is_one_click_and_keeps_the_text(
    signed_in, researcher, team, typed, reason
):
    task = TaskFactory(owner=researcher, team=team)
    url = reverse("worklog:task_abandon", args=[task.pk])
    response = signed_in.post(url, {"reason": typed, "entered_wrongly": "1"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.abandoned_reason) == (Task.Status.ABANDONED, reason)


def test_abandoning_still_takes_free_text_and_needs_a_reason(signed_in, researcher, team):
    task = TaskFactory(owner=researcher, team=team)
    url = reverse("worklog:task_abandon", args=[task.pk])
    response = signed_in.post(url, {"reason": " "})
    assert response.status_code == 400
    assert response.context["abandon_form"].errors == {"reason": ["Say why the task is abandoned."]}
    assert 'aria-describedby="id_reason_error"' in response.content.decode()
    assert signed_in.post(url, {"reason": "Superseded"}).status_code == 302
    task.refresh_from_db()
    assert task.abandoned_reason == "Superseded"
