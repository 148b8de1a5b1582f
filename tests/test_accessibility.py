"""Every page, as each role sees it, at desktop and phone width: axe-core (WCAG 2.1 A and AA
rules) run in Chromium finds no serious or critical violation.

axe-core comes from npm, pinned in package-lock.json (``scripts/install-axe.sh``, which
``make test`` runs). The pages are the demo organisation's, with its estimates computed.
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Page

from tests.factories import TaskFactory, WorkSessionFactory
from uplift.estimates.compute import estimates_refresh
from uplift.worklog.models import Task, WorkSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1280, "phone": 390}
BLOCKING = {"serious", "critical"}
DEMO_PASSWORD = "uplift-demo"


def researcher_at_work() -> tuple[Task, WorkSession]:
    """Ada's day: a session logged this morning, and a timer running on another task."""
    ada = Task.objects.filter(owner__username="ada").first()
    first, second = (
        TaskFactory(owner=ada.owner, team=ada.team, task_type=ada.task_type, title=title)
        for title in ("Read the related work", "Sweep learning rates")
    )
    now = timezone.now()
    session = WorkSessionFactory(
        task=first, started_at=now - timedelta(hours=3), ended_at=now - timedelta(hours=2)
    )
    WorkSessionFactory(task=second, started_at=now - timedelta(minutes=10), ended_at=None)
    return second, session


def pages_of(role: str) -> list[str]:
    if role == "researcher":
        task, session = researcher_at_work()
        return [
            "/",
            f"/tasks/{task.pk}/",
            f"/tasks/{session.task_id}/sessions/{session.pk}/",
            f"/tasks/{session.task_id}/sessions/{session.pk}/delete/",
            "/history/",
            "/history/week/",
            "/history/day/",
            "/how-it-works/",
            "/accounts/password/",
        ]
    if role == "lead":
        return ["/dashboards/", "/dashboards/flagged/"]
    if role == "analyst":
        return ["/api/v1/tokens/", "/dashboards/"]
    return ["/dashboards/org/"]  # the admin


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def violations(page: Page) -> list[dict]:
    # Evaluated through the browser's debugging protocol, which the page's CSP does not govern.
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag",
              values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def test_no_page_has_a_serious_accessibility_violation(browser: Browser, live_server):
    assert AXE.is_file(), "axe-core is missing: run scripts/install-axe.sh (make test does)"
    call_command("seed_demo", force=True, verbosity=0)
    estimates_refresh()
    roles = {"researcher": "ada", "lead": "lin", "analyst": "ana", "admin": "admin"}
    pages = {"anonymous": ["/accounts/login/"], **{role: pages_of(role) for role in roles}}
    found = []
    for width_name, width in WIDTHS.items():
        for role, paths in pages.items():
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            if role in roles:
                sign_in(page, live_server.url, roles[role])
            for path in paths:
                response = page.goto(live_server.url + path)
                assert response.status == 200, (role, path, response.status)
                # Every section of the dashboards open, so that their tables are checked too.
                page.evaluate(
                    "() => document.querySelectorAll('details').forEach(d => d.open = true)"
                )
                page.wait_for_timeout(100)
                found += [
                    (
                        width_name,
                        role,
                        path,
                        v["id"],
                        v["help"],
                        json.dumps(v["nodes"][0]["target"]),
                    )
                    for v in violations(page)
                ]
            context.close()
    assert found == [], "\n".join(map(str, found))
