"""The task page and History at phone width (390 px), measured in Chromium on the demo data.

The figures, before and after the compact tool picker and History's cards, are in
docs/performance.md ("Task page and History at phone width"); ``-s`` prints them.
"""

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from uplift.worklog.demo import TOOLS
from uplift.worklog.models import Task

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Before: 2,834 px and 30 Tab stops (every tool's checkbox, minutes and mode on lines of their own).
MAX_TASK_PAGE_HEIGHT = 2400
MAX_TAB_STOPS_TO_COMPLETE = 21


@pytest.fixture
def demo(db):
    call_command("seed_demo", force=True, verbosity=0)
    return Task.objects.filter(owner__username="ada", status=Task.Status.PLANNED).first()


def sign_in(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("uplift-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Today")).to_be_visible()


def tab_stops_to(page: Page, name: str, limit: int = 100) -> int:
    """Tab presses from the top of the page until the button ``name`` has the focus."""
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    for stops in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(
            "(name) => document.activeElement.tagName === 'BUTTON'"
            " && document.activeElement.textContent.trim() === name",
            name,
        ):
            return stops
    raise AssertionError(f"“{name}” not reached in {limit} Tab stops")


def page_height(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def sideways(page: Page) -> int:
    """How far the page scrolls sideways, in px (0: not at all)."""
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_the_task_page_at_phone_width_is_short_and_reaches_complete_in_few_tab_stops(
    page: Page, live_server, demo
):
    assert len(TOOLS) == 5
    page.set_viewport_size(PHONE)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/tasks/{demo.pk}/")
    height, stops = page_height(page), tab_stops_to(page, "Complete task")
    print(f"\ntask page at 390 px: {height} px tall, {stops} Tab stops to “Complete task”")
    assert height <= MAX_TASK_PAGE_HEIGHT
    assert stops <= MAX_TAB_STOPS_TO_COMPLETE
    assert sideways(page) == 0

    # One line per tool; its minutes and mode come once it is ticked, right after it by Tab.
    minutes = page.get_by_label("Minutes with GitHub Copilot")
    expect(minutes).to_be_hidden()
    page.get_by_label("GitHub Copilot", exact=True).check()
    expect(minutes).to_be_visible()
    expect(page.get_by_label("Mode of GitHub Copilot")).to_be_visible()
    page.keyboard.press("Tab")
    expect(minutes).to_be_focused()
    rows = page.locator(".tools .tool-row:not(.tool-head)")
    expect(rows).to_have_count(5)
    box, field = page.get_by_label("GitHub Copilot", exact=True), minutes.bounding_box()
    assert abs(box.bounding_box()["y"] - field["y"]) < field["height"]  # on one line
    # The labels are read, not shown: one header line names the columns.
    expect(page.locator("label", has_text="Minutes with GitHub Copilot")).to_have_css(
        "position", "absolute"
    )
    expect(page.locator(".tool-head")).to_have_text("ToolMinutesMode")


def test_without_javascript_every_tool_field_is_shown(browser: Browser, live_server, demo):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/tasks/{demo.pk}/")
    for name, _vendor, _model in TOOLS:
        expect(page.get_by_label(f"Minutes with {name}")).to_be_visible()
        expect(page.get_by_label(f"Mode of {name}")).to_be_visible()
    context.close()


def test_history_at_phone_width_shows_cards_without_sideways_scroll_and_a_table_on_desktop(
    page: Page, live_server, demo
):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server)
    for path in ("/history/", "/history/week/", "/history/day/"):
        page.goto(f"{live_server.url}{path}")
        print(f"\n{path} at 390 px: scrolls sideways by {sideways(page)} px")
        assert sideways(page) == 0, path

    page.goto(f"{live_server.url}/history/")
    row = page.locator(".week tbody tr").first
    card = row.evaluate(
        """(tr) => ({display: getComputedStyle(tr).display,
                     labels: [...tr.cells].map(td => getComputedStyle(td, "::before")
                       .content.replace(/ \\/ "".*$/, "")),
                     shown: [...tr.cells].map(td => td.getBoundingClientRect().height > 0)})"""
    )
    assert card["display"] == "block"
    assert card["labels"] == ['"Task"', '"Type"', '"Condition"', '"Status"', '"Time"']
    assert card["shown"] == [True] * 5
    # Still a table for assistive technology, its column names read with each value.
    table = page.get_by_role("table").nth(1)
    expect(table.get_by_role("columnheader", name="Type")).to_have_count(1)

    page.set_viewport_size(DESKTOP)
    assert row.evaluate("(tr) => getComputedStyle(tr).display") == "table-row"
    expect(page.locator(".week thead").first).to_be_visible()
    assert page.locator(".week th").first.bounding_box()["height"] > 10
