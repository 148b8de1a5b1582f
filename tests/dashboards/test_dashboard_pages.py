"""The dashboards as served: who may see what, and that they show the snapshot's figures."""

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.conftest import shared_copy
from tests.dashboards.pages import read_dashboard
from tests.factories import MembershipFactory, UserFactory
from uplift.accounts.models import Membership
from uplift.estimates import compute, stats
from uplift.estimates.models import ScopedEstimate, Snapshot, SnapshotScope
from uplift.worklog.models import TaskType, Tool

pytestmark = pytest.mark.django_db


# Every test here reads the same organisation: written once for the module (tests/conftest.py).
@pytest.fixture
def organisation(db, organisation_shared):
    return shared_copy(organisation_shared["organisation"])


@pytest.fixture
def team(db, organisation_shared):
    return shared_copy(organisation_shared["team"])


@pytest.fixture
def researcher(db, organisation_shared):
    return shared_copy(organisation_shared["researcher"])


@pytest.fixture
def lead_client(client, organisation, django_user_model):
    client.force_login(django_user_model.objects.get(username="lin"))
    return client


@pytest.fixture
def admin_client_(client, organisation, django_user_model):
    client.force_login(django_user_model.objects.get(username="root"))
    return client


def scope_rows(*, team=None, window="all") -> dict[tuple[str, str], dict]:
    scope = SnapshotScope.objects.get(
        snapshot=Snapshot.objects.get(status="succeeded"),
        kind="org" if team is None else "team",
        team=team,
        window=window,
    )
    return {(e.dimension, e.group): e.data for e in ScopedEstimate.objects.filter(scope=scope)}


def as_percent(text: str) -> float:
    return float(text.replace("%", "").replace("×", ""))


def test_researcher_is_refused_the_team_dashboard(client, organisation, researcher):
    client.force_login(researcher)
    assert client.get(reverse("dashboards:team")).status_code == 403
    assert client.get(reverse("dashboards:team_csv", args=["trend"])).status_code == 403
    assert client.post(reverse("dashboards:recompute")).status_code == 403


def test_analyst_reads_every_dashboard_and_changes_nothing(client, organisation):
    # Analysts read every task already (pseudonymized): the aggregates too, read-only.
    analyst = UserFactory(username="ana")
    MembershipFactory(user=analyst, team=organisation["tiny"], role=Membership.Role.ANALYST)
    client.force_login(analyst)
    other = organisation["evaluations"]
    response = client.get(reverse("dashboards:team"), {"team": other.pk})
    assert response.status_code == 200
    assert response.context["team"] == other
    assert [t.name for t in response.context["teams"]] == ["Alignment", "Evaluations", "Tiny"]
    html = response.content.decode()
    assert '<option value="org">Whole organisation</option>' in html
    assert reverse("dashboards:recompute") not in html
    assert client.get(reverse("dashboards:org")).status_code == 200
    csv_url = reverse("dashboards:team_csv", args=["by-task-type"])
    assert client.get(csv_url, {"team": other.pk}).status_code == 200
    assert client.post(reverse("dashboards:recompute")).status_code == 403


def test_lead_cannot_see_another_team(lead_client, organisation):
    other = organisation["evaluations"].pk
    assert lead_client.get(reverse("dashboards:team"), {"team": other}).status_code == 403
    csv_url = reverse("dashboards:team_csv", args=["by-task-type"])
    assert lead_client.get(csv_url, {"team": other}).status_code == 403
    assert lead_client.get(reverse("dashboards:org")).status_code == 403


def test_lead_sees_own_team_by_default(lead_client, organisation):
    response = lead_client.get(reverse("dashboards:team"))
    assert response.status_code == 200
    assert response.context["team"] == organisation["alignment"]
    assert [t.name for t in response.context["teams"]] == ["Alignment"]


def test_admin_sees_every_team_and_the_organisation(admin_client_, organisation):
    response = admin_client_.get(reverse("dashboards:team"), {"team": organisation["tiny"].pk})
    assert response.status_code == 200
    assert [t.name for t in response.context["teams"]] == ["Alignment", "Evaluations", "Tiny"]
    org = admin_client_.get(reverse("dashboards:org"))
    tables, _ = read_dashboard(org.content.decode())
    assert [row[0] for row in tables["by-team"][1:]] == ["Alignment", "Evaluations", "Tiny"]


def test_headline_figures_equal_the_snapshot(lead_client, organisation):
    row = scope_rows(team=organisation["alignment"])[("overall", "")]
    _, figures = read_dashboard(lead_client.get(reverse("dashboards:team")).content.decode())
    # Displayed with one decimal in percent: no drift beyond half a displayed unit.
    assert as_percent(figures["time-change"]) == pytest.approx(row["time_change"] * 100, abs=0.05)
    assert as_percent(figures["ci-low"]) == pytest.approx(row["ci_low"] * 100, abs=0.05)
    assert as_percent(figures["ci-high"]) == pytest.approx(row["ci_high"] * 100, abs=0.05)
    assert as_percent(figures["speedup"]) == pytest.approx(row["speedup"], abs=0.005)
    assert int(figures["n-tasks"]) == row["n_tasks"] == 98
    assert int(figures["n-researchers"]) == row["n_researchers"] == 6
    # The interval crosses zero: no finding, and the sentence says so before any number.
    assert row["ci_low"] < 0 < row["ci_high"]
    assert figures["verdict"] == "◆ No clear difference yet"
    words = "longer" if row["time_change"] >= 0 else "less time"
    assert figures["sentence"] == (
        f"No clear difference yet: tasks with AI allowed took "
        f"{abs(row['time_change']) * 100:.0f}% {words} on average, but the 95% CI runs from "
        f"{abs(row['ci_low']) * 100:.0f}% less to {row['ci_high'] * 100:.0f}% longer."
    )


def test_chart_tables_equal_the_snapshot_rows(lead_client, organisation):
    rows = scope_rows(team=organisation["alignment"])
    tables, _ = read_dashboard(lead_client.get(reverse("dashboards:team")).content.decode())
    header, *body = tables["by-task-type"]
    assert header[:6] == [
        "Task type", "Tasks", "Researchers", "Time change %", "95% CI low %", "95% CI high %",
    ]  # fmt: skip
    assert [r[0] for r in body] == ["Experiment code", "Paper writing", "Rare"]
    for cells in body:
        row = rows[("task_type", cells[0])]
        assert int(cells[1]) == row["n_tasks"]
        if row["status"] == "ok":
            for cell, key in zip(cells[3:6], ("time_change", "ci_low", "ci_high"), strict=True):
                assert float(cell) == pytest.approx(row[key] * 100, abs=0.05)
            if row["pooled"] is None:  # fewer than four task types with an estimate
                assert cells[6:9] == ["", "", ""]
            else:
                pooled = row["pooled"]["time_change"] * 100
                assert float(cells[6]) == pytest.approx(pooled, abs=0.05)
    months = [r[0] for r in tables["trend"][1:]]
    assert months == sorted(g for (d, g) in rows if d == "month")


def test_insufficient_data_is_shown_as_such_not_as_a_number(admin_client_, organisation):
    row = scope_rows(team=organisation["tiny"])[("overall", "")]
    assert row["status"] == "insufficient_data"
    html = admin_client_.get(reverse("dashboards:team"), {"team": organisation["tiny"].pk})
    page = html.content.decode()
    tables, figures = read_dashboard(page)
    assert figures["verdict"] == "○ Not enough data yet"
    assert figures["sentence"].startswith("Not enough data for an estimate: it needs")
    assert "%" not in figures["sentence"]
    assert "ci-low" not in figures and "speedup" not in figures and "time-change" not in figures
    # One state for the page: progress towards the rule, and no chart, table or lab figure.
    assert figures["progress"] == (
        f"Completed AI allowed tasks {row['n_ai']} of 5 "
        f"Completed No AI tasks {row['n_no_ai']} of 5 "
        f"Researchers with completed tasks {row['n_researchers']} of 3"
    )
    assert tables == {}
    assert "<details" not in page and "chart-box" not in page and "×1.00" not in page


def test_insufficient_task_type_has_no_figures_in_its_row(lead_client, organisation):
    tables, _ = read_dashboard(lead_client.get(reverse("dashboards:team")).content.decode())
    rare = next(r for r in tables["by-task-type"] if r[0] == "Rare")
    assert rare[3:10] == [""] * 7
    assert rare[-1] == "Not enough data yet"


def test_task_type_filter_changes_the_headline(lead_client, organisation):
    row = scope_rows(team=organisation["alignment"])[("task_type", "Experiment code")]
    response = lead_client.get(reverse("dashboards:team"), {"type": "Experiment code"})
    _, figures = read_dashboard(response.content.decode())
    assert as_percent(figures["time-change"]) == pytest.approx(row["time_change"] * 100, abs=0.05)
    assert int(figures["n-tasks"]) == row["n_tasks"]


def test_window_filter_offers_only_precomputed_windows(admin_client_, organisation):
    response = admin_client_.get(reverse("dashboards:org"), {"window": "3m"})
    assert response.context["scope"].window == "3m"
    row = scope_rows(window="3m")[("overall", "")]
    _, figures = read_dashboard(response.content.decode())
    assert int(figures["n-tasks"]) == row["n_tasks"]
    # A malformed range: all time, said so, no error.
    odd = admin_client_.get(reverse("dashboards:org"), {"window": "<b>12m"})
    assert odd.status_code == 200
    assert odd.context["scope"].window == "all"
    assert odd.context["notices"] == ["There is no such date range: showing all time."]
    assert "&lt;b&gt;12m" not in odd.content.decode()


def window_select(html: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option of the Date range select."""
    select = html[
        html.index('<select id="filter-window"') : html.index(
            "</select>", html.index('<select id="filter-window"')
        )
    ]
    options = []
    for part in select.split("<option")[1:]:
        head, label = part.split(">", 1)
        value = head.split('value="', 1)[1].split('"', 1)[0]
        options.append((value, label.split("</option", 1)[0], " selected" in head))
    return options


def test_team_date_range_shows_the_team_figures_of_those_months(lead_client, organisation):
    alignment = organisation["alignment"]
    months = {
        s.window: (s.first_month, s.last_month)
        for s in SnapshotScope.objects.filter(kind="team", team=alignment)
    }
    assert set(months) == {"all", "12m", "6m", "3m"}
    response = lead_client.get(reverse("dashboards:team"), {"window": "3m"})
    assert response.context["scope"].window == "3m"
    assert response.context["notices"] == []
    row = scope_rows(team=alignment, window="3m")[("overall", "")]
    every = scope_rows(team=alignment)[("overall", "")]
    assert 0 < row["n_tasks"] < every["n_tasks"]
    _, figures = read_dashboard(response.content.decode())
    assert int(figures["n-tasks"]) == row["n_tasks"]
    assert as_percent(figures["time-change"]) == pytest.approx(row["time_change"] * 100, abs=0.05)
    first, last = months["3m"]
    assert window_select(response.content.decode()) == [
        ("all", "All time", False),
        ("12m", f"Last 12 months ({months['12m'][0]} to {months['12m'][1]})", False),
        ("6m", f"Last 6 months ({months['6m'][0]} to {months['6m'][1]})", False),
        ("3m", f"Last 3 months ({first} to {last})", True),
    ]


def test_csv_download_is_the_table(lead_client, organisation):
    page = lead_client.get(reverse("dashboards:team"), {"type": "Paper writing"})
    tables, _ = read_dashboard(page.content.decode())
    for slug in ("by-task-type", "trend", "perception", "evidence", "time-share", "tools"):
        response = lead_client.get(
            reverse("dashboards:team_csv", args=[slug]), {"type": "Paper writing"}
        )
        assert response["Content-Type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(response.content.decode()))) == tables[slug], slug


def test_pages_compute_no_statistics(
    admin_client_, organisation, monkeypatch, django_assert_max_num_queries
):
    def refuse(*args, **kwargs):
        raise AssertionError("statistics computed inside a request")

    monkeypatch.setattr(compute, "estimate_all", refuse)
    monkeypatch.setattr(stats, "estimate_all", refuse)
    # The organisation page (a chart row per team) and a team page, read cold (empty cache):
    # the same few queries whatever the number of teams, and the stored figures shown.
    for url, params, team in (
        (reverse("dashboards:org"), {}, None),
        (reverse("dashboards:team"), {"team": organisation["alignment"].pk}, "alignment"),
    ):
        with django_assert_max_num_queries(10):
            response = admin_client_.get(url, params)
        row = scope_rows(team=team and organisation[team])[("overall", "")]
        _, figures = read_dashboard(response.content.decode())
        assert int(figures["n-tasks"]) == row["n_tasks"]


def test_recompute_queues_a_run_and_reports_its_progress(lead_client, organisation, monkeypatch):
    from uplift.estimates.tasks import estimates_refresh_task

    monkeypatch.setattr(estimates_refresh_task, "apply_async", lambda **kwargs: None)
    response = lead_client.post(reverse("dashboards:recompute"), {"next": "/dashboards/?type=Rare"})
    assert response.status_code == 302 and response["Location"] == "/dashboards/?type=Rare"
    queued = Snapshot.objects.get(status="pending")
    assert queued.trigger == "manual"
    job = lead_client.get(reverse("dashboards:job", args=[queued.pk])).json()
    assert job == {"id": queued.pk, "status": "pending", "progress": 0.0, "message": ""}
    page = lead_client.get(reverse("dashboards:team"))
    assert page.context["job"] == queued
    # Internal numbers stay in "Where these figures come from", out of the main text.
    html = page.content.decode()
    start = html.index('<dl class="provenance"')
    main = html[:start] + html[html.index("</dl>", start) :]
    assert re.findall(r"(?i)\b(?:run|snapshot) \d+", main) == []
    assert "Recompute requested: the figures update when it finishes." in html
    assert re.search(r"Recompute queued</strong> <span[^>]*>\(0% done\)", html)


def test_recompute_refuses_a_redirect_off_site(lead_client, organisation, monkeypatch):
    from uplift.estimates.tasks import estimates_refresh_task

    monkeypatch.setattr(estimates_refresh_task, "apply_async", lambda **kwargs: None)
    response = lead_client.post(
        reverse("dashboards:recompute"), {"next": "https://elsewhere.example/"}
    )
    assert response["Location"] == reverse("dashboards:team")


def test_chart_csvs_neutralise_formula_names_and_keep_numbers(
    lead_client, admin_client_, organisation
):
    """A task type, team and tool named like formulas reach no spreadsheet as formulas."""
    hyperlink = '=HYPERLINK("http://x","y")'
    TaskType.objects.filter(name="Experiment code").update(name=hyperlink)
    Tool.objects.filter(name="claude").update(name="-Tool()")
    organisation["alignment"].name = "@SUM(1)"
    organisation["alignment"].save()
    compute.estimates_refresh()

    def download(client, name: str, slug: str) -> list[list[str]]:
        response = client.get(reverse(f"dashboards:{name}", args=[slug]))
        assert response.status_code == 200
        return list(csv.reader(io.StringIO(response.content.decode())))

    by_type = download(lead_client, "team_csv", "by-task-type")
    row = next(r for r in by_type if r[0] == "'" + hyperlink)
    # The time change and its interval (AI speeds this type up): negative numbers, unquoted.
    assert all(float(cell) < 0 for cell in row[3:5]), row
    assert row[3].startswith("-")
    tools = download(lead_client, "team_csv", "tools")
    assert sorted(r[0] for r in tools[1:]) == ["'-Tool()", "copilot"]
    by_team = download(admin_client_, "org_csv", "by-team")
    assert "'@SUM(1)" in [r[0] for r in by_team]
    time_share = download(lead_client, "team_csv", "time-share")
    assert "'" + hyperlink in [r[0] for r in time_share]
    for table in (by_type, tools, by_team, time_share):
        cells = [cell for r in table for cell in r]
        assert [c for c in cells if c and c[0] in "=+-@\t\r" and not _is_number(c)] == [], cells


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_the_paired_estimate_and_sensitivity_fits_stand_beside_the_headline(
    lead_client, organisation
):
    overall = scope_rows(team=organisation["alignment"])[("overall", "")]
    response = lead_client.get(reverse("dashboards:team_csv", args=["robustness"]))
    assert response.status_code == 200
    table = {r[0]: r for r in csv.reader(io.StringIO(response.content.decode()))}
    assert table["Headline (primary fit)"][1] == f"{overall['time_change'] * 100:+.1f}"
    effective = overall["effective_researchers"]
    assert table["Headline (primary fit)"][5] == f"{effective:.1f} effective researchers"
    paired = overall["paired"]
    assert table["Paired within researcher and task type"][1:4] == [
        f"{paired[key] * 100:+.1f}" for key in ("time_change", "ci_low", "ci_high")
    ]
    assert table["Paired within researcher and task type"][5] == (
        f"{paired['n_blocks']} blocks from {paired['n_researchers']} researchers"
    )
    fixed = overall["sensitivity"]["researcher_fixed_effects"]
    assert table["Researcher fixed effects"][1] == f"{fixed['time_change'] * 100:+.1f}"
    mixed = table["Mixed model (random researcher intercepts)"]
    shown = overall["sensitivity"]["mixed_model"]
    assert mixed[1] == f"{shown['time_change'] * 100:+.1f}"
    assert mixed[4] == str(overall["n_tasks"])
    note = "converged" if shown["converged"] else "did not converge: ignore"
    if shown["converged"] and shown["boundary"]:
        note += ", no variance between researchers"
    assert mixed[5] == note
    html = lead_client.get(reverse("dashboards:team")).content.decode()
    assert "Other ways of estimating it" in html


def test_the_snapshot_time_is_in_each_readers_zone(lead_client, organisation):
    """The body is cached per slice: a reader in another zone gets their own copy, not the
    first reader's times; the flagged tasks' page says the same."""
    moment = datetime(2026, 11, 27, 22, 5, tzinfo=UTC)
    Snapshot.objects.filter(pk=organisation["snapshot"].pk).update(finished_at=moment)
    seen = {}
    for zone in ("Asia/Kolkata", "America/New_York"):
        lead_client.cookies["tz"] = zone
        seen[zone] = lead_client.get(reverse("dashboards:team")).content.decode()
    snapshot = "Figures as of <time datetime="
    assert (
        f'{snapshot}"2026-11-28T03:35:00+05:30">Sat 28 Nov 2026, 03:35</time>'
        in seen["Asia/Kolkata"]
    )
    assert (
        f'{snapshot}"2026-11-27T17:05:00-05:00">Fri 27 Nov 2026, 17:05</time>'
        in seen["America/New_York"]
    )
    flagged = lead_client.get(reverse("dashboards:flagged")).content.decode()
    assert "Fri 27 Nov 2026, 17:05</time>" in flagged
