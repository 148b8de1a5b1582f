"""The hot reads written in SQL (uplift/fixed_sql.py) return what the ORM returns: the same
rows, in the same order, with every field and the related rows the pages read."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import ConnectionHandler, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    ToolUseFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.fixed_sql import Columns
from uplift.worklog import selectors, timesheet
from uplift.worklog.forms import TaskPlanForm
from uplift.worklog.models import Task, Tool, ToolUse, WorkSession


def fields(instance) -> dict:
    """Every concrete field's value: what the ORM and the SQL must agree on."""
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.fixture
def lab(researcher, team):
    """Open, closed and other people's tasks, with sessions and tools."""
    other = UserFactory()
    now = timezone.now()
    observed = TaskTypeFactory(name="Reading", observational=True)
    planned = TaskFactory(owner=researcher, team=team, title="Planned", condition="ai")
    started = TaskFactory(
        owner=researcher,
        team=team,
        task_type=observed,
        title="Started",
        condition="no_ai",
        status=Task.Status.IN_PROGRESS,
        started_at=now - timedelta(hours=3),
    )
    WorkSessionFactory(
        task=started,
        started_at=now - timedelta(hours=3),
        ended_at=now - timedelta(hours=2, minutes=20),
    )
    WorkSessionFactory(
        task=started,
        started_at=now - timedelta(hours=1),
        ended_at=now - timedelta(minutes=55, seconds=30),
    )
    running = WorkSessionFactory(
        task=started, started_at=now - timedelta(minutes=10), ended_at=None
    )
    ToolUseFactory(task=started, tool=ToolFactory(name="Zed assistant"), minutes=5)
    ToolUseFactory(task=started, tool=ToolFactory(name="Autocomplete"), minutes=None)
    TaskFactory(
        owner=researcher,
        team=team,
        title="Done",
        status=Task.Status.COMPLETED,
        actual_minutes=42,
        completed_at=now - timedelta(minutes=5),
    )
    TaskFactory(owner=other, team=TeamFactory(), title="Someone else's")
    WorkSessionFactory(task=TaskFactory(owner=other), ended_at=None)
    return {"planned": planned, "started": started, "running": running, "other": other}


def test_the_running_timer_is_the_orm_s_with_its_task_and_type(researcher, lab):
    read = selectors.work_session_running(owner=researcher)
    orm = (
        WorkSession.objects.filter(owner=researcher, ended_at__isnull=True)
        .select_related("task", "task__task_type")
        .get()
    )
    assert read.pk == lab["running"].pk
    assert fields(read) == fields(orm)
    assert fields(read.task) == fields(orm.task)
    assert fields(read.task.task_type) == fields(orm.task.task_type)
    assert read.task.title == "Started"
    assert read.started_at.tzinfo is not None


def test_no_running_timer_reads_none(researcher, lab):
    lab["running"].delete()
    assert selectors.work_session_running(owner=researcher) is None


def test_open_tasks_are_the_orm_s_with_logged_minutes_and_the_flag(researcher, lab, monkeypatch):
    read = selectors.task_list_open(owner=researcher)
    monkeypatch.setattr(selectors, "is_postgresql", lambda: False)
    orm = selectors.task_list_open(owner=researcher)
    assert [t.title for t in read] == [t.title for t in orm] == ["Started", "Planned"]
    for sql_task, orm_task in zip(read, orm, strict=True):
        assert fields(sql_task) == fields(orm_task)
        assert fields(sql_task.task_type) == fields(orm_task.task_type)
        assert fields(sql_task.team) == fields(orm_task.team)
        assert (sql_task.logged, sql_task.noncompliant) == (orm_task.logged, orm_task.noncompliant)
    started, planned = read
    # Two finished sessions: 40 min and 4.5 min; the running one does not count yet.
    assert started.logged == timedelta(minutes=44, seconds=30)
    assert started.noncompliant is True  # tools logged on a No AI task
    assert planned.logged is None
    assert planned.noncompliant is False


def test_today_so_far_is_the_orm_s(researcher, lab, monkeypatch):
    today = timezone.localdate()
    now = timezone.now()
    read = timesheet.minutes_on(owner=researcher, day=today, now=now)
    monkeypatch.setattr(timesheet, "is_postgresql", lambda: False)
    orm = timesheet.minutes_on(owner=researcher, day=today, now=now)
    assert read == pytest.approx(orm)


def test_a_task_is_read_only_by_its_owner_with_its_type_and_team(researcher, lab):
    task = lab["started"]
    read = selectors.task_of_owner(owner=researcher, task_id=task.pk)
    orm = Task.objects.select_related("task_type", "team").get(pk=task.pk)
    assert fields(read) == fields(orm)
    assert fields(read.task_type) == fields(orm.task_type)
    assert fields(read.team) == fields(orm.team)
    assert selectors.task_of_owner(owner=lab["other"], task_id=task.pk) is None
    assert selectors.task_of_owner(owner=researcher, task_id=10**6) is None
    # An id beyond the column's range matches nothing, as in the ORM (no database error).
    assert selectors.task_of_owner(owner=researcher, task_id=2**63) is None


def test_sessions_tool_uses_and_tools_are_the_orm_s(researcher, lab):
    task = lab["started"]
    sessions = selectors.work_sessions_of(task=task)
    assert [fields(s) for s in sessions] == [
        fields(s) for s in WorkSession.objects.filter(task=task).order_by("started_at")
    ]
    assert [s.ended_at is None for s in sessions] == [False, False, True]
    uses = selectors.tool_uses_of(task=task)
    orm_uses = list(ToolUse.objects.filter(task=task).select_related("tool"))
    assert [fields(u) for u in uses] == [fields(u) for u in orm_uses]
    assert [u.tool.name for u in uses] == ["Autocomplete", "Zed assistant"]
    assert [fields(t) for t in selectors.tools_read()] == [
        fields(t) for t in Tool.objects.order_by("name")
    ]


def test_last_planned_type_is_that_of_the_newest_task(researcher, lab):
    newest = TaskFactory(owner=researcher, team=lab["planned"].team)
    assert selectors.task_type_last_planned(owner=researcher) == newest.task_type_id
    assert selectors.task_type_last_planned(owner=UserFactory()) is None


def test_sqlite_values_become_the_fields_types():
    """Local mode's SQLite returns dates as text: the backend's converters make them datetimes."""
    sqlite = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )["default"]
    columns = Columns(WorkSession, "s")
    session = columns.instance((7, 3, 5, "2026-03-02 09:15:00.250000", None), 0, sqlite)
    assert (session.pk, session.task_id, session.owner_id) == (7, 3, 5)
    assert session.started_at == datetime(2026, 3, 2, 9, 15, 0, 250000, tzinfo=UTC)
    assert session.ended_at is None


def test_the_plan_form_takes_only_a_listed_team_and_type_without_a_query(researcher, team):
    other_team, task_type = TeamFactory(name="Other"), TaskTypeFactory(name="Coding")
    teams = selectors.teams_read(ids=[team.pk, other_team.pk, 2**63])
    assert [t.name for t in teams] == sorted([team.name, "Other"])
    data = {"forecast_no_ai_minutes": "60", "forecast_ai_minutes": "45"}

    def cleaned(**posted):
        with CaptureQueriesContext(connection) as queries:
            form = TaskPlanForm({**data, **posted}, teams=teams[:1])
            valid = form.is_valid()
        assert len(queries) == 1  # the task types, once: no query per field's check
        return form.cleaned_data if valid else form.errors

    chosen = cleaned(team=str(teams[0].pk), task_type=f" 0{task_type.pk}")
    assert (chosen["team"], chosen["task_type"]) == (teams[0], task_type)
    assert chosen["team"].name == teams[0].name
    refused = "Select a valid choice. That choice is not one of the available choices."
    # A team the researcher does not plan in, a type that does not exist, garbage.
    assert cleaned(team=str(teams[1].pk), task_type=str(task_type.pk))["team"] == [refused]
    assert cleaned(team="x", task_type=str(task_type.pk + 99))["task_type"] == [refused]
    nul = cleaned(team="", task_type="nul\x00")["task_type"]
    assert nul == ["Null characters are not allowed."]
    assert cleaned(team="", task_type=str(task_type.pk))["team"] == teams[0]  # the one team

    options = TaskPlanForm(teams=teams)["task_type"].as_widget()
    assert f'<option value="{task_type.pk}">Coding</option>' in options
    assert selectors.teams_read(ids=[]) == []
