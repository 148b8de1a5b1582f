"""What logging costs a researcher: inputs and full page loads per timer action, counted in
Chromium at desktop and phone width (the table in docs/performance.md, "Logging effort").

An input is one thing the researcher does (a field filled, a click, a key); a page load is a
navigation of the page (a request for a document), counted from the browser's own requests.
Every request must go to the server itself: nothing is loaded from elsewhere."""

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser import swap_settled
from tests.factories import TaskFactory, ToolFactory
from tests.worklog.test_browser import local_input, sign_in
from uplift.worklog.models import Task, WorkSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]

WIDTHS = {"desktop": 1280, "phone": 390}


class Counter:
    """The page's navigations and every request's origin, from when it is made."""

    def __init__(self, page: Page, origin: str):
        self.page, self.origin = page, origin
        self.loads: list[str] = []
        self.foreign: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if not request.url.startswith(self.origin) and not request.url.startswith("data:"):
            self.foreign.append(request.url)
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.loads.append(request.url)

    def reset(self) -> None:
        self.loads.clear()


@pytest.fixture(params=list(WIDTHS))
def counted(request, page: Page, live_server, team, researcher, password, task_type):
    page.set_viewport_size({"width": WIDTHS[request.param], "height": 900})
    # A researcher on an ordinary day: two open tasks and a task type used before.
    for title in ("Review the data loader", "Write the ablation"):
        TaskFactory(owner=researcher, team=team, task_type=task_type, title=title)
    counter = Counter(page, live_server.url)
    sign_in(page, live_server, "ada", password)
    counter.reset()
    yield counter
    assert counter.foreign == []


def running_title(researcher) -> str | None:
    session = WorkSession.objects.filter(owner=researcher, ended_at__isnull=True).first()
    return session.task.title if session else None


def test_start_brand_new_work_in_one_submit_without_a_page_load(counted, page: Page, researcher):
    # The title field is ready for typing; the task type is the one used last.
    expect(page.get_by_label("Title")).to_be_focused()
    page.keyboard.type("Profile the tokenizer")  # input 1
    page.get_by_label("Forecast without AI (minutes)").fill("90")  # input 2
    page.get_by_label("Forecast with AI (minutes)").fill("60")  # input 3
    with swap_settled(page):
        page.keyboard.press("Control+Enter")  # input 4: plan and start
    expect(page.get_by_test_id("header-timer")).to_contain_text("Profile the tokenizer")
    assert counted.loads == []
    task = Task.objects.get(title="Profile the tokenizer")
    assert task.task_type.name == "Experiment code"
    assert running_title(researcher) == "Profile the tokenizer"
    expect(page.locator(".message-success")).to_contain_text(
        f"Planned “Profile the tokenizer”: {task.get_condition_display()}. Timer started."
    )


def test_switch_and_stop_are_one_input_each_without_a_page_load(
    counted, page: Page, researcher, live_server
):
    start = page.get_by_role("button", name="Start timer on Review the data loader")
    with swap_settled(page):
        start.click()
    expect(page.get_by_test_id("header-timer")).to_contain_text("Review the data loader")
    # The focus stays on the task's timer button, now its Stop.
    loader = Task.objects.get(title="Review the data loader")
    expect(page.locator(f"#timer-{loader.pk}")).to_be_focused()
    expect(page.locator(f"#timer-{loader.pk}")).to_have_text("Stop")
    with swap_settled(page):
        page.get_by_role("button", name="Start timer on Write the ablation").click()  # switch
    expect(page.get_by_test_id("header-timer")).to_contain_text("Write the ablation")
    assert running_title(researcher) == "Write the ablation"
    assert counted.loads == []

    # Stop from the header of another page: the researcher stays there.
    page.goto(f"{live_server.url}/history/")
    counted.reset()
    with swap_settled(page):
        page.get_by_test_id("header-timer").get_by_role("button", name="Stop").click()
    expect(page.get_by_test_id("header-timer")).to_have_count(0)
    expect(page.locator(".message-success")).to_contain_text("Stopped “Write the ablation”")
    assert page.url == f"{live_server.url}/history/"
    assert counted.loads == []
    assert running_title(researcher) is None


def test_the_s_key_stops_the_timer_and_question_mark_lists_the_shortcuts(
    counted, page: Page, researcher
):
    with swap_settled(page):
        page.get_by_role("button", name="Start timer on Review the data loader").click()
    page.locator("h1").click()  # out of any field
    with swap_settled(page):
        page.keyboard.press("s")
    expect(page.get_by_test_id("header-timer")).to_have_count(0)
    assert running_title(researcher) is None
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    # Single-key shortcuts can be turned off (WCAG 2.1.4), and stay off.
    dialog.get_by_label("Single-key shortcuts (N, S and ?) on").uncheck()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    assert counted.loads == []


def test_every_timer_form_still_works_without_javascript(
    browser, live_server, team, researcher, password, task_type
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    TaskFactory(owner=researcher, team=team, task_type=task_type, title="Tidy")
    sign_in(page, live_server, "ada", password)
    page.get_by_label("Title").fill("Plan without scripts")
    page.get_by_label("Forecast without AI (minutes)").fill("30")
    page.get_by_label("Forecast with AI (minutes)").fill("20")
    page.get_by_role("button", name="Plan and start").click()
    expect(page.get_by_test_id("header-timer")).to_contain_text("Plan without scripts")
    page.get_by_role("button", name="Start timer on Tidy").click()
    expect(page.get_by_test_id("header-timer")).to_contain_text("Tidy")
    page.get_by_test_id("header-timer").get_by_role("button", name="Stop").click()
    expect(page.get_by_test_id("header-timer")).to_have_count(0)
    assert running_title(researcher) is None
    context.close()


def test_a_forgotten_session_and_two_tools_are_logged_without_a_page_load(
    counted, page: Page, researcher, live_server
):
    ToolFactory(name="ChatGPT")
    ToolFactory(name="Claude")
    task = Task.objects.get(title="Review the data loader")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    counted.reset()

    page.get_by_text("Add a session by hand").click()  # input 1
    page.get_by_label("End").fill(local_input(page, 10))  # input 2
    page.get_by_label("Duration").fill("1h30")  # input 3
    with swap_settled(page):
        page.get_by_role("button", name="Add session").click()  # input 4
    expect(page.locator(".message-success")).to_contain_text("Work session added")
    assert [round(s.minutes) for s in task.sessions.all()] == [90]

    page.get_by_label("ChatGPT", exact=True).check()  # input 5
    page.get_by_label("Minutes with ChatGPT").fill("20")  # input 6
    page.get_by_label("Claude", exact=True).check()  # input 7
    page.get_by_label("Minutes with Claude").fill("15")  # input 8
    with swap_settled(page):
        page.get_by_role("button", name="Save tools").click()  # input 9
    expect(page.locator(".message-success")).to_contain_text("AI tools used")
    assert sorted((u.tool.name, u.minutes) for u in task.tool_uses.all()) == [
        ("ChatGPT", 20),
        ("Claude", 15),
    ]
    assert counted.loads == []
