"""Telling researchers how Uplift works: the method page, its link from the plan form, and
its summary on Today until their first task."""

import re

import pytest
from django.urls import reverse

from tests.factories import TaskFactory
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db

HOW = reverse("worklog:how_it_works")


@pytest.fixture
def signed_in(client, researcher):
    client.force_login(researcher)
    return client


def test_how_it_works_explains_the_method_to_a_researcher(signed_in):
    response = signed_in.get(HOW, secure=True)
    assert response.status_code == 200
    html = response.content.decode()
    main = html.split('<main id="main">')[1].split("</main>")[0]
    headings = re.findall(r"<h2 [^>]*>([^<]+)</h2>", main)
    assert headings == [
        "1. Forecast first, both ways",
        "2. Then a random draw",
        "3. What counts as AI",
        "4. When a No AI task truly needs AI",
        "5. When a forecast was entered wrongly",
        "6. Day to day",
    ]
    # A clear rule for what counts as AI, with the borderline cases on each side.
    assert "The rule: if a language model wrote" in html
    ai, not_ai = re.findall(r"<li><strong>(?:AI|Not AI)</strong>: (.*?)</li>", html, re.S)
    assert "chat assistants" in ai and "AI code or\n    text completion" in ai
    assert "an ordinary search" in not_ai and "ordinary completion" in not_ai
    assert "it is not a fault" in html
    assert "“entered wrongly”" in html


def test_the_plan_form_links_how_it_works(signed_in, researcher, team):
    TaskFactory(owner=researcher, team=team)
    html = signed_in.get("/", secure=True).content.decode()
    plan_form = html.split('id="plan-heading"')[1]
    assert f'<a href="{HOW}">How this works</a>' in plan_form


def test_a_researcher_with_no_task_yet_sees_the_summary_until_they_hide_it(signed_in):
    html = signed_in.get("/", secure=True).content.decode()
    assert "New here? How Uplift works" in html
    assert f'href="{HOW}">Read how it works</a>' in html
    # Hidden by a plain form, without script, for the rest of the session.
    response = signed_in.post(reverse("worklog:intro_dismiss"), secure=True)
    assert response.status_code == 302 and response["Location"] == "/"
    assert "New here?" not in signed_in.get("/", secure=True).content.decode()


def test_the_summary_is_gone_once_a_task_is_planned(signed_in, researcher, team):
    TaskFactory(owner=researcher, team=team, status=Task.Status.COMPLETED, actual_minutes=5)
    assert "New here?" not in signed_in.get("/", secure=True).content.decode()


def test_hiding_the_summary_takes_a_post(signed_in):
    assert signed_in.get(reverse("worklog:intro_dismiss"), secure=True).status_code == 405
