"""Pages show dates and times in one style ("Fri 4 Dec 2026, 14:05", uplift/dates.py), in the
reader's time zone from the browser's ``tz`` cookie, and in settings.TIME_ZONE without it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests.factories import TaskFactory, WorkSessionFactory
from uplift.api.models import ApiToken

# 22:05 UTC on Friday 27 November 2026: already Saturday in Kolkata (+05:30).
MOMENT = datetime(2026, 11, 27, 22, 5, tzinfo=UTC)
KOLKATA = {"tz": "Asia/Kolkata"}


@pytest.fixture
def logged(researcher, team):
    task = TaskFactory(owner=researcher, team=team, title="Sweep", randomized_at=MOMENT)
    session = WorkSessionFactory(
        task=task, started_at=MOMENT, ended_at=MOMENT + timedelta(minutes=50)
    )
    return task, session


def _page(client, url, cookies=None, **params) -> str:
    for name, value in (cookies or {}).items():
        client.cookies[name] = value
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_task_page_shows_its_draw_and_sessions_in_the_readers_zone(
    client_of, researcher, logged
):
    task, _ = logged
    page = _page(client_of(researcher), reverse("worklog:task_detail", args=[task.pk]), KOLKATA)
    assert "Randomized Sat 28 Nov 2026, 03:35" in page
    # The sessions' table gives the short form of the same style.
    assert "<td>Sat 28 Nov, 03:35</td>" in page
    assert "<td>Sat 28 Nov, 04:25</td>" in page


def test_without_a_zone_the_server_zone_is_used(client_of, researcher, logged, settings):
    assert settings.TIME_ZONE == "UTC"
    task, _ = logged
    page = _page(client_of(researcher), reverse("worklog:task_detail", args=[task.pk]))
    assert "Randomized Fri 27 Nov 2026, 22:05" in page
    # A cookie that names no zone is the same as none.
    page = _page(
        client_of(researcher), reverse("worklog:task_detail", args=[task.pk]), {"tz": "Mars/Base"}
    )
    assert "Randomized Fri 27 Nov 2026, 22:05" in page


def test_deleting_a_session_names_it_by_its_local_start_and_end(client_of, researcher, logged):
    task, session = logged
    url = reverse("worklog:session_delete", args=[task.pk, session.pk])
    page = _page(client_of(researcher), url, KOLKATA)
    assert "from Sat 28 Nov 2026, 03:35 to Sat 28 Nov 2026, 04:25:" in page


def test_the_day_and_week_pages_name_their_days_in_the_one_style(client_of, researcher, logged):
    client = client_of(researcher)
    day = _page(client, reverse("worklog:history_day"), KOLKATA, date="2026-11-28")
    assert "<title>Sat 28 Nov 2026" in day
    assert '<h2 id="day-heading">Sat 28 Nov 2026 ' in day
    assert "<td>03:35–04:25</td>" in day
    week = _page(client, reverse("worklog:history_week"), KOLKATA, week="2026-11-28")
    assert '<h2 id="week-heading">Week of Mon 23 Nov 2026</h2>' in week
    assert '<abbr title="Sat 28 Nov 2026">Sat 28</abbr>' in week


def test_the_tokens_page_shows_times_in_the_readers_zone(client_of, researcher):
    token, _ = ApiToken.objects.create(user=researcher, expiry=None, name="notebook")
    ApiToken.objects.filter(pk=token.pk).update(created=MOMENT, last_used_at=MOMENT, expiry=MOMENT)
    page = _page(client_of(researcher), reverse("api:tokens"), KOLKATA)
    assert "<td>Sat 28 Nov 2026, 03:35</td>" in page  # created
    assert "Sat 28 Nov 2026</td>" in page  # expiry: a date
    assert page.count("Sat 28 Nov 2026, 03:35") == 2  # created and last used
    page = _page(client_of(researcher), reverse("api:tokens"), {"tz": "America/New_York"})
    assert page.count("Fri 27 Nov 2026, 17:05") == 2
