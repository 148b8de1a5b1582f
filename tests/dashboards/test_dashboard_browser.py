"""The dashboards in Chromium: charts drawn from the snapshot, filters, CSV and recompute.

Screenshots of each page at desktop and phone width go to test-artifacts/ for review.
"""

import csv
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from uplift.estimates.compute import estimates_refresh
from uplift.estimates.models import ScopedEstimate, SnapshotScope

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def sign_in(page: Page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_have_text(username)


def screenshots(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(400)  # charts resize and redraw
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


def chart_data(page: Page, slug: str) -> dict:
    """The data Chart.js itself holds for a chart, and whether its canvas has pixels drawn."""
    return page.evaluate(
        """(slug) => {
            const canvas = document.getElementById("chart-" + slug);
            const chart = Chart.getChart(canvas);
            const pixels = canvas.getContext("2d")
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let drawn = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
            return {
                type: chart.config.type,
                labels: chart.data.labels,
                datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data})),
                drawn: drawn,
            };
        }""",
        slug,
    )


def table_rows(page: Page, slug: str) -> list[list[str]]:
    return page.evaluate(
        """(slug) => Array.from(document.querySelectorAll(
                `table[data-chart="${slug}"] tr`)).map(tr =>
                Array.from(tr.children).map(c => c.textContent.trim()))""",
        slug,
    )


def open_sections(page: Page) -> None:
    """Open every section under the summary, as a reader clicking each one would."""
    ids = page.eval_on_selector_all(
        "details[data-section]:not([open])", "sections => sections.map(s => s.id)"
    )
    for section in ids:
        page.locator(f"#{section} > summary").click()


def wait_for_charts(page: Page) -> None:
    open_sections(page)
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll(".chart-box canvas"))
                .every(c => window.Chart && Chart.getChart(c))"""
    )
    page.wait_for_timeout(500)  # let the entry animation finish drawing


def test_lead_sees_charts_drawn_from_the_snapshot(
    page: Page, live_server, organisation, password, plain_http
):
    sign_in(page, live_server, "lin", password)
    page.get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Alignment dashboard")).to_be_visible()
    wait_for_charts(page)

    scope = SnapshotScope.objects.get(kind="team", team=organisation["alignment"], window="all")
    rows = {(e.dimension, e.group): e.data for e in ScopedEstimate.objects.filter(scope=scope)}
    forest = chart_data(page, "by-task-type")
    assert forest["type"] == "scatterWithErrorBars"  # rows on a numeric axis, points offset
    assert forest["labels"] == ["Experiment code", "Paper writing", "Rare (not enough data yet)"]
    raw = forest["datasets"][0]["data"]
    for point, name in zip(raw, ["Experiment code", "Paper writing"], strict=False):
        row = rows[("task_type", name)]
        assert point["x"] == pytest.approx(row["time_change"] * 100, abs=1e-9)
        assert point["xMin"] == pytest.approx(row["ci_low"] * 100, abs=1e-9)
        assert point["xMax"] == pytest.approx(row["ci_high"] * 100, abs=1e-9)
    assert raw[2]["x"] is None  # insufficient data: no point drawn

    trend = chart_data(page, "trend")
    months = sorted(g for (d, g) in rows if d == "month")
    assert trend["labels"] == months
    values = trend["datasets"][2]["data"]
    assert values == pytest.approx([rows[("month", m)]["time_change"] * 100 for m in months])

    for slug in ("by-task-type", "trend", "perception", "time-share", "bottlenecks"):
        assert chart_data(page, slug)["drawn"] > 500, slug
    screenshots(page, "team")


def test_changing_a_filter_changes_the_data_and_the_url(
    page: Page, live_server, organisation, password, plain_http
):
    sign_in(page, live_server, "root", password)
    page.goto(f"{live_server.url}/dashboards/org/")
    wait_for_charts(page)
    before = chart_data(page, "trend")
    page.get_by_label("Date range", exact=True).select_option("3m")
    expect(page).to_have_url(f"{live_server.url}/dashboards/org/?window=3m")
    wait_for_charts(page)
    after = chart_data(page, "trend")
    assert len(after["labels"]) < len(before["labels"])
    assert after["labels"] == before["labels"][-len(after["labels"]) :]
    screenshots(page, "org-3-months")

    page.get_by_label("Task type", exact=True).select_option("Experiment code")
    expect(page).to_have_url(f"{live_server.url}/dashboards/org/?window=3m&type=Experiment+code")
    expect(
        page.get_by_role("heading", name="Does AI help the organisation with Experiment code?")
    ).to_be_visible()

    page.get_by_label("Team", exact=True).select_option("Evaluations")
    team = organisation["evaluations"].pk
    expect(page).to_have_url(f"{live_server.url}/dashboards/?team={team}&window=3m")
    expect(page.get_by_role("heading", name="Evaluations dashboard")).to_be_visible()
    # Teams have the organisation's date ranges: the team's last 3 months, no notice.
    expect(page.get_by_label("Date range", exact=True)).to_have_value("3m")
    expect(page.locator("p.notice")).to_have_count(0)


def test_csv_download_matches_the_table(
    page: Page, live_server, organisation, password, plain_http, tmp_path
):
    sign_in(page, live_server, "root", password)
    page.goto(f"{live_server.url}/dashboards/org/")
    wait_for_charts(page)
    screenshots(page, "org")
    for slug in ("by-team", "by-task-type", "trend", "bottlenecks"):
        with page.expect_download() as download:
            page.locator(f"#{slug} a.csv").click()
        path = tmp_path / f"{slug}.csv"
        download.value.save_as(path)
        with path.open(newline="", encoding="utf-8") as f:
            assert list(csv.reader(f)) == table_rows(page, slug), slug


def test_insufficient_team_shows_no_number(
    page: Page, live_server, organisation, password, plain_http
):
    sign_in(page, live_server, "tina", password)
    page.goto(f"{live_server.url}/dashboards/")
    sentence = page.locator("[data-figure=sentence]")
    expect(sentence).to_have_attribute("data-status", "insufficient_data")
    expect(sentence).to_contain_text("Not enough data for an estimate")
    expect(page.locator("[data-figure=verdict]")).to_have_text("○ Not enough data yet")
    expect(page.locator("[data-figure=time-change]")).to_have_count(0)
    screenshots(page, "team-insufficient")


def test_recompute_shows_progress_and_refreshes_when_done(
    page: Page, live_server, organisation, password, plain_http, monkeypatch
):
    from uplift.estimates.tasks import estimates_refresh_task

    monkeypatch.setattr(estimates_refresh_task, "apply_async", lambda **kwargs: None)
    sign_in(page, live_server, "lin", password)
    page.goto(f"{live_server.url}/dashboards/")
    old = organisation["snapshot"].pk
    page.locator("#details-evidence > summary").click()  # stays open on the next pages
    expect(page.locator("[data-figure=provenance]")).to_contain_text(f"snapshot {old})")
    page.get_by_role("button", name="Recompute estimates").click()
    expect(page.locator("#job")).to_contain_text("Recompute queued")
    expect(page.locator("#job")).not_to_contain_text(f"run {old + 1}")
    screenshots(page, "team-recompute")
    new = estimates_refresh(only_if_pending=True)  # what the worker would run
    expect(page.locator("[data-figure=provenance]")).to_contain_text(
        f"snapshot {new.pk})", timeout=10_000
    )
    expect(page.locator("#job")).to_have_count(0)
    assert json.loads(page.locator("#chart-data-trend").text_content())["kind"] == "trend"
