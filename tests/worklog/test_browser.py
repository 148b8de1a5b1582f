"""The researcher's daily flows, walked in Chromium against the live server."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import swap_settled
from tests.factories import MembershipFactory, TaskFactory, ToolFactory, UserFactory
from uplift.worklog.models import Task
from uplift.worklog.templatetags.worklog import hours_minutes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]


@pytest.fixture
def catalog(db):
    return [ToolFactory(name="ChatGPT"), ToolFactory(name="Claude")]


def sign_in(page: Page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Today")).to_be_visible()


def plan_task(page: Page, title: str, no_ai: str = "60", ai: str = "40") -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Task type").select_option(label="Experiment code")
    page.get_by_label("Forecast without AI (minutes)").fill(no_ai)
    page.get_by_label("Forecast with AI (minutes)").fill(ai)
    with swap_settled(page):
        page.get_by_role("button", name="Plan and draw condition").click()


def local_input(page: Page, minutes_ago: int) -> str:
    """A datetime-local value in the browser's zone, ``minutes_ago`` before now."""
    return page.evaluate(
        """(m) => { const d = new Date(Date.now() - m * 60000);
             const p = (n) => String(n).padStart(2, "0");
             return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
                    `${p(d.getHours())}:${p(d.getMinutes())}`; }""",
        minutes_ago,
    )


def test_a_researcher_plans_times_logs_tools_completes_and_finds_it_in_history(
    page: Page, live_server, researcher, password, task_type, catalog
):
    sign_in(page, live_server, "ada", password)
    plan_task(page, "Sweep learning rates")
    task = Task.objects.get(title="Sweep learning rates")
    label = "AI allowed" if task.condition == "ai" else "No AI"
    expect(page.get_by_role("status")).to_contain_text(f"Planned “Sweep learning rates”: {label}")
    item = page.locator(".task-item", has_text="Sweep learning rates")
    expect(item.locator(".condition")).to_contain_text(label)

    # Start the timer from Today; it keeps running across a reload.
    item.get_by_role("button", name="Start timer on Sweep learning rates").click()
    timer = page.locator(".timer-card .timer")
    expect(timer).to_have_text(re.compile(r"^0:00:0\d$"))
    page.wait_for_timeout(1200)
    page.reload()
    expect(page.locator(".timer-card")).to_contain_text("Sweep learning rates")
    expect(timer).to_have_text(re.compile(r"^0:00:0[1-9]$"))
    page.locator(".timer-card").get_by_role("button", name="Stop").click()

    # Stop keeps the researcher on Today, the timer gone from the page and its header; the
    # task is one click away, ready to complete. Add a forgotten half hour by hand.
    expect(page.get_by_role("heading", name="Today")).to_be_visible()
    expect(page.locator(".timer-card")).to_have_count(0)
    expect(page.get_by_test_id("header-timer")).to_have_count(0)
    page.locator(".task-item").get_by_role("link", name="Sweep learning rates").click()
    expect(page.get_by_role("heading", name="Sweep learning rates")).to_be_visible()
    expect(page.locator(".task-head .condition")).to_contain_text(label)
    page.get_by_text("Add a session by hand").click()
    page.get_by_label("Start").fill(local_input(page, 120))
    page.get_by_label("End").fill(local_input(page, 90))
    page.get_by_role("button", name="Add session").click()
    expect(page.get_by_role("status")).to_contain_text("Work session added")

    page.get_by_label("Claude", exact=True).check()
    page.get_by_label("Minutes with Claude").fill("20")
    page.get_by_label("Mode of Claude").select_option("chat")
    page.get_by_role("button", name="Save tools").click()
    expect(page.get_by_role("status")).to_contain_text("AI tools used: Claude")
    if task.condition == "no_ai":
        expect(page.locator(".task-head .flag")).to_contain_text("non-compliance")

    page.get_by_label(re.compile("how long would it have taken")).fill("75")
    page.get_by_role("button", name="Complete task").click()
    expect(page.get_by_role("status")).to_contain_text("Completed “Sweep learning rates”")

    task.refresh_from_db()
    assert task.status == "completed"
    assert 30 < task.actual_minutes < 31
    assert task.perceived_other_minutes == 75
    assert [(u.tool.name, u.minutes, u.mode) for u in task.tool_uses.all()] == [
        ("Claude", 20, "chat")
    ]

    page.get_by_role("link", name="History").click()
    row = page.locator("tr", has_text="Sweep learning rates")
    # Its time from its sessions, in h:mm: the task's row and the time logged in all.
    expect(row.get_by_test_id("minutes")).to_have_text(hours_minutes(task.actual_minutes))
    expect(page.get_by_test_id("totals")).to_contain_text(
        f"{hours_minutes(task.actual_minutes)} logged"
    )
    expect(page.get_by_test_id("totals")).to_contain_text("1 completed")


def test_an_invalid_forecast_shows_an_error_by_the_field_and_keeps_the_input(
    page: Page, live_server, researcher, password, task_type
):
    sign_in(page, live_server, "ada", password)
    plan_task(page, "Write the intro", no_ai="0", ai="30")
    field = page.get_by_label("Forecast without AI (minutes)")
    expect(field).to_have_attribute("aria-invalid", "true")
    error = page.locator(".has-error .field-error")
    expect(error).to_have_text("Minutes must be between 0.1 and 43,200 minutes (30 days).")
    expect(field).to_have_value("0")
    expect(page.get_by_label("Title")).to_have_value("Write the intro")
    expect(page.get_by_label("Forecast with AI (minutes)")).to_have_value("30")
    assert Task.objects.count() == 0


def test_a_second_researcher_cannot_open_the_first_ones_task(
    page: Page, live_server, researcher, team, password
):
    task = TaskFactory(owner=researcher, team=team, title="Ada's secret sweep")
    MembershipFactory(user=UserFactory(username="bo"), team=team)
    sign_in(page, live_server, "bo", password)
    response = page.goto(f"{live_server.url}/tasks/{task.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Ada's secret sweep")


def test_today_works_at_phone_width_with_the_keyboard(
    page: Page, live_server, researcher, password, task_type
):
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "ada", password)
    page.get_by_label("Title").focus()
    page.keyboard.type("Keyboard only")
    for field, value in (("task_type", None), ("no_ai", "50"), ("ai", "35")):
        page.keyboard.press("Tab")
        if value:
            page.keyboard.type(value)
        elif field == "task_type":
            page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".task-item", has_text="Keyboard only")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


def test_a_forgotten_session_is_typed_as_a_duration_then_moved_and_deleted_by_keyboard(
    page: Page, live_server, researcher, team, password
):
    task = TaskFactory(owner=researcher, team=team, title="Read the paper")
    TaskFactory(owner=researcher, team=team, title="Write the review")
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "ada", password)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")

    page.get_by_text("Add a session by hand").click()
    page.get_by_label("Start").fill(local_input(page, 180))
    page.get_by_label("Duration").fill("1h30")
    page.get_by_role("button", name="Add session").click()
    expect(page.get_by_role("status")).to_contain_text("Work session added")
    expect(page.get_by_test_id("session-duration")).to_have_text("1:30 (90 min)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # A wrong duration is refused beside its field, as typed.
    page.get_by_text("Add a session by hand").click()
    page.get_by_label("End").fill(local_input(page, 10))
    page.get_by_label("Duration").fill("1h75")
    page.get_by_role("button", name="Add session").click()
    expect(page.locator(".has-error .field-error")).to_have_text(
        "“1h75”: the minutes after the hours must be under 60 (75 given)."
    )
    expect(page.get_by_label("Duration")).to_have_value("1h75")

    # Moved to the other task from its correction page, by keyboard.
    page.get_by_role("link", name=re.compile("^Correct or move")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Correct a work session")).to_be_visible()
    page.get_by_label("Task").focus()
    page.get_by_label("Task").select_option(label="Write the review (planned)")
    page.get_by_role("button", name="Save session").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Work session moved to “Write the review”")
    expect(page.get_by_role("heading", name="Write the review")).to_be_visible()
    expect(page.get_by_test_id("session-duration")).to_have_text("1:30 (90 min)")

    # Deleted after a confirmation page, which needs no script.
    page.get_by_role("link", name=re.compile("^Delete")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Delete this work session?")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_role("button", name="Delete the session").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Work session deleted")
    expect(page.get_by_text("No time logged yet.")).to_be_visible()
    assert not task.sessions.exists()


@pytest.mark.parametrize("condition", ["ai", "no_ai"])
def test_tools_ticked_then_complete_pressed_are_saved_with_the_completion(
    page: Page, live_server, researcher, password, team, catalog, condition
):
    task = TaskFactory(owner=researcher, team=team, title="Tidy the plots", condition=condition)
    sign_in(page, live_server, "ada", password)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.get_by_label("ChatGPT", exact=True).check()
    page.get_by_label("Minutes with ChatGPT").fill("15")
    page.get_by_label("Mode of ChatGPT").select_option("agent")
    page.get_by_label("You logged no time: how many minutes did it take?").fill("40")
    page.get_by_role("button", name="Complete task").click()  # no "Save tools" first

    expect(page.get_by_role("status")).to_contain_text(
        "Completed “Tidy the plots” in 40 min, AI tools used: ChatGPT."
    )
    task.refresh_from_db()
    assert task.status == "completed"
    assert [(u.tool.name, u.minutes, u.mode) for u in task.tool_uses.all()] == [
        ("ChatGPT", 15, "agent")
    ]
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    flag = page.locator(".task-head .flag")
    if condition == "no_ai":
        expect(flag).to_contain_text("non-compliance")
    else:
        expect(flag).to_have_count(0)


def test_another_form_asks_before_dropping_unsaved_ticks(
    page: Page, live_server, researcher, password, team, catalog
):
    task = TaskFactory(owner=researcher, team=team, title="Tidy the plots")
    sign_in(page, live_server, "ada", password)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.get_by_label("Claude", exact=True).check()
    questions = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    # Starting the timer (another form) would reload the page: it asks, and "no" stays.
    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Start timer").click()
    assert questions == [
        "Your changes in “AI tools used” are not saved yet and will be lost. Send this form anyway?"
    ]
    expect(page.get_by_label("Claude", exact=True)).to_be_checked()
    expect(page.get_by_label("Claude", exact=True)).to_be_focused()
    assert not task.sessions.exists()

    # Sending the form that holds the ticks asks nothing; then nothing is left unsaved.
    page.get_by_role("button", name="Save tools").click()
    expect(page.get_by_role("status")).to_contain_text("AI tools used: Claude")
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="Start timer").click()
    expect(page.locator("main .timer")).to_be_visible()
    assert len(questions) == 1


def test_doubtful_forecasts_are_confirmed_before_the_draw(
    page: Page, live_server, researcher, password, task_type
):
    sign_in(page, live_server, "ada", password)
    plan_task(page, "Port the loader", no_ai="1200", ai="90")
    warning = page.locator("#id_confirm_forecasts_error")
    expect(warning).to_contain_text("1,200 minutes without AI is more than 4 times 90 minutes")
    expect(page.get_by_label("Forecast without AI (minutes)")).to_have_accessible_description(
        re.compile("more than a working day")
    )
    assert Task.objects.count() == 0
    page.get_by_label("Yes, these forecasts are right").check()
    page.get_by_role("button", name="Plan and draw condition").click()
    expect(page.get_by_role("status")).to_contain_text("Planned “Port the loader”")
    task = Task.objects.get()
    assert (task.forecast_no_ai_minutes, task.forecast_ai_minutes) == (1200, 90)


def test_a_new_researcher_reads_how_it_works_and_hides_the_summary_by_keyboard_at_phone_width(
    page: Page, live_server, researcher, password, task_type
):
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "ada", password)
    summary = page.get_by_role("region", name="New here? How Uplift works")
    expect(summary).to_be_visible()
    summary.get_by_role("link", name="Read how it works").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="How Uplift works")).to_be_visible()
    expect(page.get_by_role("heading", name="3. What counts as AI")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_role("link", name="Back to Today").click()
    page.get_by_role("button", name="Hide this").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Today")).to_be_visible()
    expect(page.get_by_role("region", name="New here? How Uplift works")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
