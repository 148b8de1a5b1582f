"""A lead picks a date range of their team's dashboard in Chromium: the figures follow.

Screenshots at desktop and phone width go to test-artifacts/dashboards/team-range-*.png.
"""

import pytest
from playwright.sync_api import Page, expect

from tests.dashboards.test_dashboard_browser import screenshots, sign_in, wait_for_charts
from uplift.estimates.models import SnapshotScope

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lead_picks_the_last_3_months_of_their_team(
    page: Page, live_server, organisation, password, plain_http
):
    alignment = organisation["alignment"]
    scopes = {s.window: s for s in SnapshotScope.objects.filter(kind="team", team=alignment)}
    every, three = scopes["all"].n_tasks, scopes["3m"].n_tasks
    assert 0 < three < every
    sign_in(page, live_server, "lin", password)
    page.get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Alignment dashboard")).to_be_visible()
    wait_for_charts(page)
    expect(page.locator("[data-figure=n-tasks]")).to_have_text(str(every))
    select = page.get_by_label("Date range", exact=True)
    labels = [text.strip() for text in select.locator("option").all_text_contents()]
    three_label = f"Last 3 months ({scopes['3m'].first_month} to {scopes['3m'].last_month})"
    assert labels == [
        "All time",
        f"Last 12 months ({scopes['12m'].first_month} to {scopes['12m'].last_month})",
        f"Last 6 months ({scopes['6m'].first_month} to {scopes['6m'].last_month})",
        three_label,
    ]

    select.select_option(label=three_label)  # the filters apply themselves
    expect(page).to_have_url(f"{live_server.url}/dashboards/?team={alignment.pk}&window=3m")
    expect(page.locator("[data-figure=n-tasks]")).to_have_text(str(three))
    expect(page.get_by_label("Date range", exact=True)).to_have_value("3m")
    expect(page.locator("p.notice")).to_have_count(0)
    wait_for_charts(page)
    screenshots(page, "team-range-3-months")
