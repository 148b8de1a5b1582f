"""The tokens page in Chromium: the new token and its lines copy by keyboard, fit a phone."""

import pytest
from playwright.sync_api import Page, expect

from tests.worklog.test_browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_http"),
]


def test_new_token_and_its_curl_line_copy_by_keyboard_and_fit_a_phone(
    page: Page, live_server, researcher, password
):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, live_server, "ada", password)
    page.goto(f"{live_server.url}/api/v1/tokens/")
    page.get_by_label("Name").fill("notebook")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("token-secret").inner_text()
    assert secret.startswith("upl_")

    page.get_by_role("button", name="Copy token").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.get_by_role("button", name="Copy the curl line").focus()
    page.keyboard.press("Space")
    curl = page.evaluate("navigator.clipboard.readText()")
    assert curl.startswith("curl -H") and secret in curl and f"{live_server.url}/api/v1/" in curl

    # Nothing wider than the phone's screen: the long lines wrap, the token list scrolls.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert problems == []
