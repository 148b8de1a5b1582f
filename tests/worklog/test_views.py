"""The researcher's pages through Django's test client: ownership, forms, query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    MembershipFactory,
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    ToolUseFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.worklog.models import AuditEntry, Task, WorkSession

pytestmark = pytest.mark.django_db


def test_planning_from_today_assigns_a_condition_and_shows_it(client_of, researcher, task_type):
    client = client_of(researcher)
    response = client.post(
        "/",
        {
            "title": "Sweep",
            "task_type": task_type.pk,
            "forecast_no_ai_minutes": "60",
            "forecast_ai_minutes": "40",
        },
        follow=True,
    )
    task = Task.objects.get()
    assert (task.owner, task.title, task.forecast_ai_minutes) == (researcher, "Sweep", 40)
    label = "AI allowed" if task.condition == "ai" else "No AI"
    assert f"Planned “Sweep”: {label}." in response.content.decode()


def test_an_invalid_forecast_is_shown_next_to_the_field_and_the_input_kept(
    client_of, researcher, task_type
):
    response = client_of(researcher).post(
        "/",
        {
            "title": "Keep me",
            "task_type": task_type.pk,
            "forecast_no_ai_minutes": "-5",
            "forecast_ai_minutes": "40",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {
        "forecast_no_ai_minutes": ["Minutes must be between 0.1 and 43,200 minutes (30 days)."]
    }
    html = response.content.decode()
    assert 'value="Keep me"' in html and 'value="-5"' in html
    assert Task.objects.count() == 0


def test_a_title_with_a_line_break_is_refused_next_to_the_field(client_of, researcher, task_type):
    response = client_of(researcher).post(
        "/",
        {
            "title": "one\r\ntwo",
            "task_type": task_type.pk,
            "forecast_no_ai_minutes": "60",
            "forecast_ai_minutes": "40",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "title": ["A title is one line: remove the line breaks."]
    }
    assert Task.objects.count() == 0


def test_several_teams_are_offered_as_a_choice(client_of, researcher, task_type):
    MembershipFactory(user=researcher, team=TeamFactory(name="Evals"), role="lead")
    response = client_of(researcher).post(
        "/",
        {"task_type": task_type.pk, "forecast_no_ai_minutes": 5, "forecast_ai_minutes": 5},
    )
    assert response.context["form"].errors == {"team": ["This field is required."]}


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("task_detail", "get"),
        ("task_timer", "post"),
        ("session_add", "post"),
        ("tool_uses", "post"),
        ("task_complete", "post"),
        ("task_abandon", "post"),
        ("task_edit", "post"),
    ],
)
def test_another_researchers_task_is_not_found(client_of, researcher, name, method):
    theirs = TaskFactory(owner=UserFactory(username="bo"))
    response = getattr(client_of(researcher), method)(
        reverse(f"worklog:{name}", args=[theirs.pk]), {"action": "start", "reason": "x"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Task.Status.PLANNED


def test_another_researchers_session_is_not_found(client_of, researcher):
    session = WorkSessionFactory(task=TaskFactory(owner=UserFactory(username="bo")))
    url = reverse("worklog:session_edit", args=[session.task_id, session.pk])
    assert client_of(researcher).get(url).status_code == 404


def test_a_posted_change_of_a_locked_field_is_refused_and_audited(client_of, researcher, team):
    task = TaskFactory(owner=researcher, team=team, title="Sweep")
    response = client_of(researcher).post(
        reverse("worklog:task_edit", args=[task.pk]),
        {"title": "Sweep 2", "forecast_ai_minutes": "5", "condition": "no_ai"},
    )
    assert response.status_code == 400
    task.refresh_from_db()
    assert (task.title, task.forecast_ai_minutes, task.condition) == ("Sweep", 45, "ai")
    refused = AuditEntry.objects.filter(task=task, action="refused", via="web")
    assert sorted(refused.values_list("field", "new_value")) == [
        ("condition", "'no_ai'"),
        ("forecast_ai_minutes", "5"),
    ]


def test_the_edit_form_does_not_offer_locked_fields(client_of, researcher, team):
    task = TaskFactory(owner=researcher, team=team)
    form = (
        client_of(researcher)
        .get(reverse("worklog:task_detail", args=[task.pk]))
        .context["edit_form"]
    )
    assert set(form.fields) == {"title"}


def test_a_future_session_is_refused_next_to_the_field(client_of, researcher, team):
    task = TaskFactory(owner=researcher, team=team)
    later = timezone.localtime() + timedelta(hours=2)
    response = client_of(researcher).post(
        reverse("worklog:session_add", args=[task.pk]),
        {
            "started_at": (later - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ended_at": later.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 400
    assert response.context["session_form"].errors == {
        "ended_at": ["The end cannot be in the future."]
    }


def test_history_groups_by_week_filters_and_totals(client_of, researcher, team):
    kinds = TaskTypeFactory(name="Code review"), TaskTypeFactory(name="Paper writing")
    now = timezone.now()
    for weeks, kind, condition, minutes in [
        (0, kinds[0], "ai", 30),
        (0, kinds[1], "no_ai", 50),
        (1, kinds[0], "no_ai", 70),
    ]:
        TaskFactory(
            owner=researcher,
            team=team,
            task_type=kind,
            condition=condition,
            status="completed",
            actual_minutes=minutes,
            completed_at=now - timedelta(weeks=weeks),
        )
    TaskFactory(owner=UserFactory(username="bo"), status="completed", actual_minutes=999)
    client = client_of(researcher)
    response = client.get(reverse("worklog:history"))
    weeks = response.context["weeks"]
    assert [len(w["tasks"]) for w in weeks] == [2, 1]
    assert [w["totals"]["minutes"] for w in weeks] == [80, 70]
    assert response.context["total_minutes"] == 150
    filtered = client.get(
        reverse("worklog:history"), {"task_type": kinds[0].pk, "condition": "no_ai"}
    )
    assert [t.actual_minutes for w in filtered.context["weeks"] for t in w["tasks"]] == [70]
    assert filtered.context["total_minutes"] == 70


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_today_makes_the_same_number_of_queries_whatever_the_number_of_tasks(
    client_of, researcher, team
):
    client = client_of(researcher)
    claude = ToolFactory(name="Claude")
    now = timezone.now()

    def add_tasks(n, offset):
        for i in range(n):
            open_task = TaskFactory(owner=researcher, team=team, status="in_progress")
            WorkSessionFactory(
                task=open_task,
                started_at=now - timedelta(hours=offset + i + 1),
                ended_at=now - timedelta(hours=offset + i + 0.5),
            )
            ToolUseFactory(task=open_task, tool=claude)
            TaskFactory(owner=researcher, team=team, status="completed", actual_minutes=10)

    add_tasks(2, 0)
    WorkSessionFactory(task=Task.objects.first(), started_at=now, ended_at=None)
    few = _queries(client, "/")
    add_tasks(40, 10)
    assert _queries(client, "/") == few
    assert few <= 12  # session, user, open tasks, running timer, form choices


def test_history_makes_the_same_number_of_queries_whatever_the_number_of_tasks(
    client_of, researcher, team
):
    client = client_of(researcher)
    claude = ToolFactory(name="Claude")
    now = timezone.now()

    def add_tasks(n, offset):
        # Each with its own task type, over several weeks, flagged as AI used on No AI.
        for i in range(n):
            task = TaskFactory(
                owner=researcher,
                team=team,
                condition="no_ai",
                status="completed",
                actual_minutes=10,
                completed_at=now - timedelta(days=offset + i),
            )
            ToolUseFactory(task=task, tool=claude)

    add_tasks(2, 0)
    few = _queries(client, reverse("worklog:history"))
    add_tasks(40, 10)
    assert _queries(client, reverse("worklog:history")) == few


def test_a_task_page_makes_the_same_number_of_queries_whatever_it_logged(
    client_of, researcher, team
):
    client = client_of(researcher)
    task = TaskFactory(owner=researcher, team=team, status="in_progress")
    url = reverse("worklog:task_detail", args=[task.pk])
    now = timezone.now()

    def add_logs(n, offset):
        for i in range(n):
            WorkSessionFactory(
                task=task,
                started_at=now - timedelta(hours=offset + i + 1),
                ended_at=now - timedelta(hours=offset + i + 0.5),
            )
            ToolUseFactory(task=task, tool=ToolFactory(name=f"Tool {offset + i}"))

    add_logs(1, 0)
    few = _queries(client, url)
    add_logs(10, 10)
    assert _queries(client, url) == few


def test_an_observational_team_asks_whether_ai_will_be_used(client_of, researcher, team, task_type):
    team.observational = True
    team.save()
    client = client_of(researcher)
    form = {"task_type": task_type.pk, "forecast_no_ai_minutes": 30, "forecast_ai_minutes": 20}
    refused = client.post("/", form)
    assert refused.context["form"].errors == {
        "uses_ai": ["This task is observational: say whether you will use AI."]
    }
    client.post("/", {**form, "uses_ai": "no"})
    task = Task.objects.get()
    assert (task.assignment, task.condition) == ("self_selected", "no_ai")


def test_the_timer_redirects_only_within_the_site(client_of, researcher, team):
    task = TaskFactory(owner=researcher, team=team)
    response = client_of(researcher).post(
        reverse("worklog:task_timer", args=[task.pk]),
        {"action": "start", "next": "https://evil.example/"},
    )
    assert response.url == reverse("worklog:task_detail", args=[task.pk])
    assert task.sessions.get().ended_at is None


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("switch", {"action": "start", "next": "/"}),
        ("stop", {"action": "stop"}),
        ("task_complete", {}),
        ("task_abandon", {"reason": "Superseded"}),
    ],
)
def test_a_forgotten_timer_is_corrected_or_confirmed_before_any_action_ends_it(
    client_of, researcher, team, name, data
):
    task = TaskFactory(owner=researcher, team=team, title="Sweep")
    started = timezone.now() - timedelta(days=3)
    forgotten = WorkSessionFactory(task=task, started_at=started, ended_at=None)
    if name == "switch":
        url = reverse("worklog:task_timer", args=[TaskFactory(owner=researcher, team=team).pk])
    elif name == "stop":
        url = reverse("worklog:task_timer", args=[task.pk])
    else:
        url = reverse(f"worklog:{name}", args=[task.pk])
    client = client_of(researcher)

    response = client.post(url, data, follow=True)
    edit = reverse("worklog:session_edit", args=[task.pk, forgotten.pk])
    assert response.redirect_chain == [(edit, 302)]
    page = response.content.decode()
    assert "The timer on “Sweep” has run for over 16 hours. Correct its end below" in page
    assert 'name="confirm_long"' in page
    forgotten.refresh_from_db()
    task.refresh_from_db()
    assert forgotten.ended_at is None and task.status == Task.Status.PLANNED
    assert WorkSession.objects.count() == 1

    # Corrected to the hour it really took, the action then goes through with that hour.
    local = timezone.localtime(started)
    correction = {
        "started_at": local.strftime("%Y-%m-%dT%H:%M"),
        "ended_at": (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    assert client.post(edit, correction).status_code == 302
    forgotten.refresh_from_db()
    assert forgotten.minutes == pytest.approx(60, abs=1)
    assert client.post(url, data).status_code == 302
    task.refresh_from_db()
    expected = {
        "switch": Task.Status.IN_PROGRESS,
        "stop": Task.Status.IN_PROGRESS,
        "task_complete": Task.Status.COMPLETED,
        "task_abandon": Task.Status.ABANDONED,
    }
    assert task.status == expected[name]


def test_starting_the_running_timer_again_says_so_and_keeps_it(client_of, researcher, team):
    task = TaskFactory(owner=researcher, team=team, title="Sweep")
    client = client_of(researcher)
    url = reverse("worklog:task_timer", args=[task.pk])
    first = client.post(url, {"action": "start", "next": "/"}, follow=True)
    assert "already running" not in first.content.decode()
    again = client.post(url, {"action": "start", "next": "/"}, follow=True)
    assert "The timer was already running on “Sweep”." in again.content.decode()
    assert task.sessions.get().ended_at is None


def test_the_pages_word_each_task_by_its_status_condition_and_assignment(client_of, researcher):
    """The templates compare with the model's choices: each branch shows for its own tasks."""
    client = client_of(researcher)
    made = {"owner": researcher, "team": researcher.memberships.get().team}
    planned = TaskFactory(**made, title="Planned one", condition=Task.Condition.NO_AI)
    running = TaskFactory(**made, title="Running one", status=Task.Status.IN_PROGRESS)
    done = TaskFactory(
        **made, status=Task.Status.COMPLETED, actual_minutes=42, completed_at=timezone.now()
    )
    dropped = TaskFactory(
        **made,
        status=Task.Status.ABANDONED,
        abandoned_reason="Out of scope",
        assignment=Task.Assignment.SELF_SELECTED,
        randomized_at=None,
        allocation_ai=None,
        draw="",
    )
    today = client.get("/").content.decode()
    assert 'aria-label="Start timer on Planned one">Start<' in today
    assert 'aria-label="Start timer on Running one">Resume<' in today
    assert "✓ AI allowed" in today and "✗ No AI" in today

    def detail(task) -> str:
        return client.get(reverse("worklog:task_detail", args=[task.pk])).content.decode()

    assert "This is a No AI task" in detail(planned)
    assert "This is a No AI task" not in detail(running)
    assert 'data-testid="actual">42 min' in detail(done)
    assert 'data-testid="actual"' not in detail(running)
    assert "Abandoned: Out of scope" in detail(dropped)
    assert "Abandoned:" not in detail(done)
    assert "Self-selected (observational)" in detail(dropped)
    assert "Randomized " in detail(done)
