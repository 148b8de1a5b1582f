"""Every page works under the Content Security Policy: nothing is refused, scripts run."""

import pytest
from playwright.sync_api import Page, expect

from tests.dashboards.test_dashboard_browser import open_sections, sign_in
from tests.factories import MembershipFactory
from uplift.accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/",
    "/history/",
    "/how-it-works/",
    "/dashboards/",
    "/dashboards/org/",
    "/dashboards/flagged/",
    "/api/v1/tokens/",
    "/api/v1/docs/",
    "/admin/",
    "/admin/worklog/task/",
]


def test_no_page_has_anything_refused_by_the_content_security_policy(
    page: Page, live_server, organisation, password, plain_http
):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    User.objects.filter(username="root").update(is_superuser=True)  # for the admin pages
    # An admin who also researches keeps Today at "/" (docs/product.md, "Landing pages").
    MembershipFactory(user=User.objects.get(username="root"), team=organisation["alignment"])
    sign_in(page, live_server, "root", password)
    for path in PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
        assert problems == [], f"{path}: {problems}"


def test_scripts_still_run_under_the_policy(
    page: Page, live_server, organisation, password, plain_http
):
    sign_in(page, live_server, "root", password)
    page.goto(f"{live_server.url}/dashboards/org/")
    open_sections(page)
    page.wait_for_function("() => Object.keys(window.Chart.instances).length > 0")
    rows = page.locator(".chart-box").first.evaluate(
        "box => getComputedStyle(box).getPropertyValue('--rows')"
    )
    assert rows.strip() == page.locator(".chart-box").first.get_attribute("data-rows")
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
