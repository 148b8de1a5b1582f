"""The running timer on every page: in the header, with a stop that keeps the researcher where
they were, and a question on every page once it has run past a working day."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import TaskFactory, WorkSessionFactory
from tests.worklog.test_browser import sign_in
from uplift.worklog.models import WorkSession


@pytest.fixture
def running(researcher, team):
    task = TaskFactory(owner=researcher, team=team, title="Sweep learning rates", condition="no_ai")
    return WorkSessionFactory(
        task=task, started_at=timezone.now() - timedelta(minutes=25), ended_at=None
    )


@pytest.mark.parametrize("path", ["/", "/history/", "/history/week/", "/how-it-works/"])
def test_every_page_shows_the_running_timer_and_stops_it_in_place(
    client_of, researcher, running, path
):
    client = client_of(researcher)
    html = client.get(path).content.decode()
    header = html.split('data-testid="header-timer"', 1)[1].split("</header>", 1)[0]
    assert "Sweep learning rates" in header
    assert "✗ No AI" in header
    assert f'data-timer-start="{running.started_at.isoformat()}"' in header
    assert f'name="next" value="{path}"' in header
    assert "long-timer" not in html

    stopped = client.post(
        reverse("worklog:task_timer", args=[running.task_id]), {"action": "stop", "next": path}
    )
    assert stopped.status_code == 302 and stopped["Location"] == path
    running.refresh_from_db()
    assert running.ended_at is not None
    assert 'data-testid="header-timer"' not in client.get(path).content.decode()


def test_a_stop_without_a_page_to_return_to_goes_on_to_completing(client_of, researcher, running):
    stopped = client_of(researcher).post(
        reverse("worklog:task_timer", args=[running.task_id]), {"action": "stop"}
    )
    assert (
        stopped["Location"] == reverse("worklog:task_detail", args=[running.task_id]) + "#complete"
    )


def test_past_a_working_day_every_page_asks_whether_it_is_still_running(
    client_of, researcher, running
):
    WorkSession.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(hours=9))
    client = client_of(researcher)
    for path in ["/", "/history/"]:
        html = client.get(path).content.decode()
        banner = html.split('data-testid="long-timer"', 1)[1].split("</div>\n    </div>", 1)[0]
        assert "Still working on “Sweep learning rates”?" in banner
        edit = reverse("worklog:session_edit", args=[running.task_id, running.pk])
        assert f'href="{edit}"' in banner
        assert f'name="next" value="{path}"' in banner


@pytest.mark.django_db
def test_no_timer_no_header_and_no_query_for_a_signed_out_visitor(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        html = client.get(reverse("login")).content.decode()
    assert "header-timer" not in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("plain_http")
def test_the_tab_title_shows_the_timer_and_stop_keeps_the_page(
    page: Page, live_server, researcher, password, running
):
    sign_in(page, live_server, "ada", password)
    page.goto(f"{live_server.url}/history/week/")
    header = page.get_by_test_id("header-timer")
    expect(header).to_contain_text("Sweep learning rates")
    expect(header.locator(".timer")).to_have_text(re.compile(r"^0:2\d:\d\d$"))
    assert page.title().startswith("▶ 0:2")
    assert "Sweep learning rates · Week of" in page.title()
    header.get_by_role("button", name="Stop the timer on Sweep learning rates").click()
    page.wait_for_url(f"{live_server.url}/history/week/")
    expect(page.get_by_test_id("header-timer")).to_have_count(0)
    assert not page.title().startswith("▶")


def test_today_reads_the_running_session_once_for_the_page_and_its_header(
    client_of, researcher, running
):
    client = client_of(researcher)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/").content.decode()
    assert 'data-testid="header-timer"' in html and "timer-card" in html
    running_reads = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "worklog_worksession"' in q["sql"] and '"ended_at" IS NULL' in q["sql"]
    ]
    assert len(running_reads) == 1
