"""After a refused form, the page takes the eye to the first error, wherever it is."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import TaskFactory
from tests.worklog.test_browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_refused_plan_focuses_its_first_error_in_view(
    page: Page, live_server, researcher, team, password, task_type, width
):
    # Enough open tasks that the plan form is far below the top of Today.
    for i in range(25):
        TaskFactory(owner=researcher, team=team, task_type=task_type, title=f"Open task {i}")
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, live_server, "ada", password)
    page.get_by_label("Title").fill("Forecasts forgotten")
    page.get_by_label("Task type").select_option(label="Experiment code")
    page.get_by_label("Forecast with AI (minutes)").fill("30")
    page.get_by_role("button", name="Plan and draw condition").click()

    first_error = page.get_by_label("Forecast without AI (minutes)")
    expect(first_error).to_have_attribute("aria-invalid", "true")
    expect(first_error).to_be_focused()
    expect(first_error).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0
