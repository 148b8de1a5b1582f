"""Hostile and malformed worklog values: refused with row and column by the importer, refused by
the forms and the API with a message, and refused by the database itself."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    MembershipFactory,
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.accounts.models import Membership, Team, User
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.services import task_complete, worklog_import
from uplift.worklog.worklog_csv import (
    MAX_PROBLEMS_LISTED,
    WorklogFileError,
    read_worklog,
)

pytestmark = pytest.mark.django_db

HEADER = (
    "task_id,researcher,team,task_type,title,assignment,condition,allocation_ai,"
    "forecast_no_ai_minutes,forecast_ai_minutes,status,actual_minutes,started_at,completed_at,"
    "perceived_other_minutes,tools\n"
)
DONE = "2025-03-03T10:30:00+00:00"


def row(task_id="T1", **values) -> str:
    cells = {
        "task_id": task_id,
        "researcher": "ada@example.org",
        "team": "Alignment",
        "task_type": "Code review",
        "title": "",
        "assignment": "randomized",
        "condition": "ai",
        "allocation_ai": "",
        "forecast_no_ai_minutes": "60",
        "forecast_ai_minutes": "45",
        "status": "completed",
        "actual_minutes": "50",
        "started_at": "2025-03-03T09:00:00+00:00",
        "completed_at": DONE,
        "perceived_other_minutes": "",
        "tools": "",
    }
    cells.update(values)
    return ",".join(cells.values()) + "\n"


def import_text(text: str, actor=None):
    return worklog_import(records=read_worklog(io.StringIO(text, newline="")), actor=actor)


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorklogFileError) as caught:
        import_text(text)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actual_minutes", "1e308"),
        ("actual_minutes", "1e-300"),
        ("actual_minutes", "1e-20"),
        ("actual_minutes", "0.05"),
        ("actual_minutes", "43201"),
        ("actual_minutes", "nan"),
        ("forecast_no_ai_minutes", "1e308"),
        ("forecast_ai_minutes", "inf"),
        ("perceived_other_minutes", "1e-20"),
    ],
)
def test_minutes_outside_the_range_are_refused_by_row_and_column(column, value):
    problems = problems_of(HEADER + row(**{column: value}))
    assert problems == [
        f"row 2, column {column}: must be between 0.1 and 43,200 minutes (30 days), not {value}"
    ]
    assert Task.objects.count() == 0


def test_the_ends_of_the_minutes_range_are_accepted():
    import_text(HEADER + row(actual_minutes="0.1", forecast_no_ai_minutes="43200"))
    task = Task.objects.get()
    assert (task.actual_minutes, task.forecast_no_ai_minutes) == (0.1, 43200)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999-12-31T23:59:59-05:00", "cannot be more than a day in the future"),
        ("9999-12-31T23:59:59+00:00", "cannot be more than a day in the future"),
        ("0001-01-01T00:00:00+00:00", "must be on or after Sat 1 Jan 2000"),
        ("0001-01-01T00:00:00+05:00", "must be on or after Sat 1 Jan 2000"),
        ("1999-12-31T23:59:59+00:00", "must be on or after Sat 1 Jan 2000"),
        ("2025-03-03T10:30:00+23:59", "has a UTC offset outside -12:00 to +14:00"),
        ("2025-03-03T10:30:00-13:00", "has a UTC offset outside -12:00 to +14:00"),
    ],
)
def test_dates_outside_the_window_are_refused_by_row_and_column(value, message):
    problems = problems_of(HEADER + row(started_at="", completed_at=value))
    assert problems == [f"row 2, column completed_at: {message} ({value})"]
    assert Task.objects.count() == 0


def test_a_date_a_little_ahead_is_accepted_two_days_ahead_is_not():
    soon = (timezone.now() + timedelta(hours=20)).isoformat()
    import_text(HEADER + row(started_at="", completed_at=soon))
    later = (timezone.now() + timedelta(days=2)).isoformat()
    assert problems_of(HEADER + row("T2", started_at="", completed_at=later)) == [
        f"row 2, column completed_at: cannot be more than a day in the future ({later})"
    ]


def test_the_database_refuses_minutes_and_dates_outside_the_bounds():
    task = TaskFactory()
    for field, value in [
        ("actual_minutes", 1e308),
        ("actual_minutes", 1e-20),
        ("forecast_ai_minutes", 0.0),  # a new task: the lock trigger does not apply yet
        ("completed_at", datetime(2100, 1, 1, tzinfo=UTC)),
        ("started_at", datetime(1999, 12, 31, tzinfo=UTC)),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            TaskFactory(**{field: value})
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(perceived_other_minutes=50_000)
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkSessionFactory(
            task=task,
            started_at=datetime(1, 1, 1, tzinfo=UTC),
            ended_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ToolUse.objects.create(task=task, tool=ToolFactory(), minutes=1e-9)


def test_names_match_whatever_their_case_and_spacing():
    team = TeamFactory(name="Alignment")
    task_type = TaskTypeFactory(name="Code review")
    claude = ToolFactory(name="Claude")
    import_text(
        HEADER
        + row(team="alignment", task_type="code  REVIEW ", tools="claude;CLAUDE; Claude ")
        + row("T2", team=" ALIGNMENT", task_type="Code review", tools="cursor;Cursor")
    )
    assert list(Team.objects.values_list("name", flat=True)) == ["Alignment"]
    assert list(TaskType.objects.values_list("name", flat=True)) == ["Code review"]
    assert sorted(Tool.objects.values_list("name", flat=True)) == ["Claude", "cursor"]
    first = Task.objects.get(external_id="T1")
    assert (first.team, first.task_type) == (team, task_type)
    assert list(first.tool_uses.values_list("tool", flat=True)) == [claude.pk]
    # Importing the same file again changes nothing, whatever the spelling of the tools.
    result = import_text(HEADER + row(team="ALIGNMENT", tools="CLAUDE"))
    assert (result.updated, result.unchanged) == (0, 1)


def test_the_database_keeps_names_unique_whatever_their_case():
    TeamFactory(name="Alignment")
    TaskTypeFactory(name="Code review")
    ToolFactory(name="Claude")
    for model, name in [(Team, "ALIGNMENT"), (TaskType, "code review"), (Tool, "claude")]:
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(name=name)
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(name=" Padded ")


def test_an_existing_email_matches_whatever_its_case():
    ada = UserFactory(username="ada", email="Ada@Example.org")
    import_text(HEADER + row(researcher="ADA@example.org"))
    assert Task.objects.get().owner == ada
    assert User.objects.count() == 1


def test_a_username_taken_by_another_account_gets_a_number():
    UserFactory(username="bo@example.org", email="someone-else@example.org")
    import_text(HEADER + row(researcher="bo@example.org"))
    assert Task.objects.get().owner.username == "bo@example.org-2"


def test_unreadable_values_are_problems_not_crashes():
    long_name = "x" * 121
    problems = problems_of(
        HEADER
        + row("T1", title="nul\x00byte")
        + row("T2", team=long_name)
        + row("T3", task_type=long_name)
        + row("T4", tools="y" * 121)
        + row("T" + "5" * 120)
        + row("T6", researcher="a" * 250 + "@example.org")
    )
    assert problems == [
        "row 2, column title: contains a NUL character",
        "row 3, column team: must be at most 120 characters, not 121",
        "row 4, column task_type: must be at most 120 characters, not 121",
        "row 5, column tools: a tool's name must be at most 120 characters",
        "row 6, column task_id: must be at most 120 characters, not 121",
        "row 7, column researcher: must be at most 254 characters, not 262",
    ]


def test_a_value_over_128_kib_is_a_problem_of_its_row():
    text = HEADER + row("T1") + row("T2", title='"' + "x" * (128 * 1024 + 1) + '"')
    assert problems_of(text) == ["row 3, column -: holds a value longer than 131,072 characters"]
    assert Task.objects.count() == 0


@pytest.mark.parametrize("email", ["@", "a@b@c", "<script>@x", "ada@", "ada@.org"])
def test_emails_are_checked_with_djangos_validator(email):
    assert problems_of(HEADER + row(researcher=email)) == [
        f"row 2, column researcher: must be an email address, not {email!r}"
    ]
    assert User.objects.count() == 0


def test_a_row_whose_values_contradict_its_status_is_refused():
    problems = problems_of(
        HEADER
        + row("P1", status="planned", started_at="")
        + row("P2", status="planned", actual_minutes="", completed_at="")
        + row("I1", status="in_progress", perceived_other_minutes="30")
        + row("A1", status="abandoned", actual_minutes="")
    )
    assert problems == [
        "row 2, column completed_at: must be empty when status is planned",
        "row 2, column actual_minutes: must be empty when status is planned",
        "row 3, column started_at: must be empty when status is planned",
        "row 4, column completed_at: must be empty when status is in_progress",
        "row 4, column perceived_other_minutes: must be empty when status is in_progress",
        "row 5, column completed_at: must be empty when status is abandoned",
    ]


def test_rows_are_numbered_as_a_spreadsheet_shows_them_despite_line_breaks():
    text = HEADER + row("T1", title='"two\nlines"') + row("T2", condition="maybe")
    assert problems_of(text) == [
        "row 2, column title: must be one line (it contains a line break)",
        "row 3, column condition: must be one of ai, no_ai, not 'maybe'",
    ]


def test_a_file_of_bad_rows_lists_the_first_problems_and_counts_them_all():
    text = HEADER + "".join(row(f"T{i}", condition="maybe") for i in range(1000))
    with pytest.raises(WorklogFileError) as caught:
        import_text(text)
    error = caught.value
    assert len(error.problems) == MAX_PROBLEMS_LISTED == 100
    assert error.total == 1000
    assert error.report().endswith("... and 900 more problems")


def test_reimporting_with_another_owner_status_or_minutes_is_audited():
    admin = UserFactory(username="root", is_staff=True)
    import_text(HEADER + row(status="in_progress", actual_minutes="", completed_at=""))
    import_text(HEADER + row(researcher="bo@example.org", actual_minutes="75"), actor=admin)
    task = Task.objects.get()
    assert task.owner.email == "bo@example.org"
    entries = {
        e.field: (e.old_value, e.new_value, e.action, e.via, e.actor)
        for e in AuditEntry.objects.filter(task=task)
    }
    assert entries == {
        "owner": ("ada@example.org", "bo@example.org", "changed", "import", admin),
        "status": ("in_progress", "completed", "changed", "import", admin),
        "actual_minutes": ("", "75", "changed", "import", admin),
    }


def test_the_plan_form_and_the_api_refuse_minutes_outside_the_range(client):
    team = TeamFactory(name="Alignment")
    ada = UserFactory(username="ada")
    MembershipFactory(user=ada, team=team, role=Membership.Role.RESEARCHER)
    task_type = TaskTypeFactory()
    client.force_login(ada)
    for value in ("1e-20", "0.05", "1e308", "43201"):
        response = client.post(
            "/",
            {"task_type": task_type.pk, "forecast_no_ai_minutes": value, "forecast_ai_minutes": 5},
        )
        assert response.status_code == 400
        assert response.context["form"].errors == {
            "forecast_no_ai_minutes": ["Minutes must be between 0.1 and 43,200 minutes (30 days)."]
        }
    for value in (1e-20, 0, 43201):
        response = client.post(
            "/api/v1/tasks/",
            {
                "team": team.pk,
                "task_type": task_type.pk,
                "forecast_no_ai_minutes": value,
                "forecast_ai_minutes": 5,
            },
            content_type="application/json",
        )
        assert response.status_code == 400, value
        assert response.json() == {
            "forecast_no_ai_minutes": ["Minutes must be between 0.1 and 43,200 minutes (30 days)."]
        }
    assert Task.objects.count() == 0


def test_a_year_one_session_is_a_form_error_not_a_server_error(client):
    team = TeamFactory(name="Alignment")
    ada = UserFactory(username="ada")
    MembershipFactory(user=ada, team=team)
    task = TaskFactory(owner=ada, team=team)
    client.force_login(ada)
    response = client.post(
        f"/tasks/{task.pk}/sessions/",
        {"started_at": "0001-01-01T00:00", "ended_at": "0001-01-01T01:00"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["started_at"] == [
        "The date must be on or after Sat 1 Jan 2000."
    ]
    response = client.post(
        "/api/v1/work-sessions/",
        {
            "task": task.pk,
            "started_at": "0001-01-01T00:00:00Z",
            "ended_at": "0001-01-01T01:00:00Z",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["started_at"] == ["The date must be on or after Sat 1 Jan 2000."]
    assert WorkSession.objects.count() == 0


def test_lookups_go_in_chunks_and_a_file_over_the_row_limit_is_refused(monkeypatch):
    """SQLite refuses a query with more than 250,000 values: lookups by email and name go in
    chunks (task ids are joined in the database, never listed), and a file holds at most
    MAX_ROWS rows (shrunk here to keep the test small)."""
    monkeypatch.setattr("uplift.worklog.services.importing._LOOKUP_CHUNK", 7)
    rows = [row(f"T{i}", researcher=f"r{i}@example.org", tools=f"tool {i}") for i in range(30)]
    with CaptureQueriesContext(connection) as queries:
        import_text(HEADER + "".join(rows))
    assert Task.objects.count() == 30
    emails = [q["sql"] for q in queries if 'LOWER("accounts_user"."email") IN' in q["sql"]]
    assert len(emails) == 5  # 30 researchers, 7 at a time
    tools = [q["sql"] for q in queries if 'LOWER("worklog_tool"."name") IN' in q["sql"]]
    assert len(tools) == 5
    assert not [q["sql"] for q in queries if '"external_id" IN' in q["sql"]]
    monkeypatch.setattr("uplift.worklog.worklog_csv.MAX_ROWS", 29)
    with pytest.raises(WorklogFileError) as caught:
        import_text(HEADER + "".join(rows))
    assert [str(p) for p in caught.value.problems] == [
        "row 31, column -: the file has more than 29 task rows: split it into smaller files"
    ]


def test_a_timer_stopped_after_a_second_records_the_smallest_time():
    task = TaskFactory(status="in_progress")
    start = timezone.now() - timedelta(minutes=5)
    WorkSessionFactory(task=task, started_at=start, ended_at=start + timedelta(seconds=1))
    task_complete(task=task)
    task.refresh_from_db()
    assert task.actual_minutes == 0.1
