"""The timesheet: every logged minute, by task and day, in h:mm; the week grid, the day view,
the history's week totals, Today's "today so far" and the researcher's own CSV."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import MembershipFactory, TaskFactory, UserFactory, WorkSessionFactory
from uplift.worklog import timesheet
from uplift.worklog.templatetags.worklog import hours_minutes
from uplift.worklog.worklog_csv import COLUMNS, read_worklog

MONDAY = date(2026, 11, 23)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def week_logged(researcher, team):
    """A week of one researcher's work, each kind of task and time once, and a colleague's."""
    made = {"owner": researcher, "team": team}
    done = TaskFactory(
        **made,
        title="Done",
        status="completed",
        actual_minutes=95,
        completed_at=at(MONDAY + timedelta(days=2), 15),
    )
    dropped = TaskFactory(**made, title="Dropped", status="abandoned", abandoned_reason="x")
    typed = TaskFactory(
        **made,
        title="Typed",
        status="completed",
        actual_minutes=50,
        completed_at=at(MONDAY + timedelta(days=3), 17),
    )
    # Monday 60 min and Wednesday 30 min on one task; Tuesday 45 min on an abandoned one.
    WorkSessionFactory(task=done, started_at=at(MONDAY, 9), ended_at=at(MONDAY, 10))
    WorkSessionFactory(
        task=done,
        started_at=at(MONDAY + timedelta(2), 14),
        ended_at=at(MONDAY + timedelta(2), 14, 30),
    )
    WorkSessionFactory(
        task=dropped,
        started_at=at(MONDAY + timedelta(1), 11),
        ended_at=at(MONDAY + timedelta(1), 11, 45),
    )
    # Started on the Sunday before, ending on this Monday: it counts on that Sunday.
    WorkSessionFactory(
        task=dropped, started_at=at(MONDAY - timedelta(1), 23, 30), ended_at=at(MONDAY, 0, 30)
    )
    colleague = UserFactory(username="bo")
    MembershipFactory(user=colleague, team=team)
    theirs = TaskFactory(owner=colleague, team=team, title="Theirs")
    WorkSessionFactory(task=theirs, started_at=at(MONDAY, 9), ended_at=at(MONDAY, 17))
    return done, dropped, typed


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (None, "—"),
        (0, "0:00"),
        (0.4, "<0:01"),
        (0.5, "0:01"),
        (59.6, "1:00"),
        (90, "1:30"),
        (90.4, "1:30"),
        (24071.5, "401:12"),
        (timedelta(minutes=125), "2:05"),
    ],
)
def test_hours_minutes_rounds_to_the_minute(minutes, shown):
    assert hours_minutes(minutes) == shown


def test_the_week_grid_counts_every_session_and_typed_minutes_on_their_day(researcher, week_logged):
    done, dropped, typed = week_logged
    week = timesheet.week_grid(owner=researcher, day=MONDAY + timedelta(days=4))
    assert week.days == [MONDAY + timedelta(days=i) for i in range(7)]
    grid = {row.task.title: row.cells for row in week.rows}
    assert grid == {
        "Done": [60.0, None, 30.0, None, None, None, None],
        "Dropped": [None, 45.0, None, None, None, None, None],
        "Typed": [None, None, None, 50.0, None, None, None],
    }
    assert [row.total for row in week.rows] == [90.0, 45.0, 50.0]
    assert week.day_totals == [60.0, 45.0, 30.0, 50.0, 0, 0, 0]
    assert week.total == 185.0
    earlier = timesheet.week_grid(owner=researcher, day=MONDAY - timedelta(days=1))
    assert [(row.task.title, row.cells[6]) for row in earlier.rows] == [("Dropped", 60.0)]


def test_a_running_timer_counts_up_to_now(researcher, team):
    now = timezone.now()
    task = TaskFactory(owner=researcher, team=team, status="in_progress")
    WorkSessionFactory(task=task, started_at=now - timedelta(minutes=20), ended_at=None)
    assert timesheet.minutes_on(owner=researcher, day=timezone.localdate(now), now=now) == 20.0
    later = now + timedelta(minutes=10)
    assert timesheet.minutes_on(owner=researcher, day=timezone.localdate(now), now=later) == 30.0


def test_the_week_page_shows_the_grid_in_hours_and_minutes(client_of, researcher, week_logged):
    client = client_of(researcher)
    page = client.get(reverse("worklog:history_week"), {"week": "2026-11-26"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="week-total">3:05<' in html
    assert [row.total for row in page.context["week"].rows] == [90.0, 45.0, 50.0]
    assert "Theirs" not in html
    assert "?week=2026-11-16" in html and "?week=2026-11-30" in html
    # Not a date: this week, not an error.
    assert client.get(reverse("worklog:history_week"), {"week": "soon"}).status_code == 200


def test_the_week_page_makes_the_same_number_of_queries_whatever_it_holds(
    client_of, researcher, team
):
    client = client_of(researcher)
    url = reverse("worklog:history_week") + "?week=2026-11-23"

    logged = []

    def log(n: int) -> int:
        for _ in range(n):
            task = TaskFactory(owner=researcher, team=team, status="in_progress")
            start = at(MONDAY, 0) + timedelta(hours=2 * len(logged) + 1)
            logged.append(task)
            WorkSessionFactory(task=task, started_at=start, ended_at=start + timedelta(hours=1))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    assert log(2) == log(30)


def test_the_day_view_lists_the_days_sessions_and_typed_tasks(client_of, researcher, week_logged):
    client = client_of(researcher)
    page = client.get(reverse("worklog:history_day"), {"date": "2026-11-23"})
    items = page.context["items"]
    assert [(i.task.title, i.minutes, i.typed) for i in items] == [("Done", 60.0, False)]
    assert 'data-testid="day-total">1:00 logged<' in page.content.decode()
    thursday = client.get(reverse("worklog:history_day"), {"date": "2026-11-26"})
    assert [(i.task.title, i.minutes, i.typed) for i in thursday.context["items"]] == [
        ("Typed", 50.0, True)
    ]
    assert "typed in" in thursday.content.decode()


def test_history_week_totals_count_abandoned_and_unfinished_time(
    client_of, researcher, week_logged
):
    done, dropped, typed = week_logged
    dropped.completed_at = at(MONDAY + timedelta(days=4), 12)
    dropped.save()
    page = client_of(researcher).get(reverse("worklog:history"))
    weeks = page.context["weeks"]
    assert [w["logged"] for w in weeks] == [185.0]  # with the abandoned task's 45 minutes
    assert page.context["total_logged"] == 245.0  # and the Sunday before
    html = page.content.decode()
    assert "3:05 logged" in html and "4:05 logged" in html
    assert " min<" not in html


def test_today_shows_the_time_logged_so_far(client_of, researcher, team):
    now = timezone.now()
    task = TaskFactory(owner=researcher, team=team, status="in_progress")
    start = max(now - timedelta(minutes=65), timezone.localtime(now).replace(hour=0, minute=0))
    WorkSessionFactory(task=task, started_at=start, ended_at=start + timedelta(minutes=5))
    html = client_of(researcher).get(reverse("home")).content.decode()
    assert 'data-testid="today-so-far">Today so far: 0:05<' in html


def test_a_researcher_downloads_their_own_worklog(client_of, researcher, week_logged):
    response = client_of(researcher).get(reverse("worklog:history_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="uplift-worklog-ada-')
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    assert sorted(row["title"] for row in rows) == ["Done", "Dropped", "Typed"]
    assert len(read_worklog(io.StringIO(text))) == 3  # the importer reads it back
