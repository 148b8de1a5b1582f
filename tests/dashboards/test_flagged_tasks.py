"""Flagged tasks on the dashboards: the robustness row without them, and the list of their
records for the team's lead (the same access as the team dashboard)."""

import csv
import io

import pytest
from django.urls import reverse

from tests.conftest import shared_copy
from tests.dashboards.pages import read_dashboard
from tests.factories import MembershipFactory, UserFactory
from uplift import dates
from uplift.accounts.models import Membership
from uplift.accounts.pseudonyms import researcher_pseudonym
from uplift.dashboards import charts
from uplift.estimates import compute
from uplift.estimates.models import ScopedEstimate
from uplift.estimates.selectors import snapshot_latest
from uplift.estimates.vocabulary import WarningCode
from uplift.worklog.models import Task

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


# The largest time a task may record (uplift/worklog/bounds.py): hundreds of times a forecast.
ABSURD_MINUTES = 43_200


@pytest.fixture
def flagged(organisation):
    """One Alignment and one Evaluations task recorded at 30 days, then a refresh."""
    absurd = {}
    for key in ("alignment", "evaluations"):
        task = (
            Task.objects.filter(team=organisation[key], task_type__name="Experiment code")
            .order_by("pk")
            .first()
        )
        Task.objects.filter(pk=task.pk).update(actual_minutes=ABSURD_MINUTES)
        task.refresh_from_db()
        absurd[key] = task
    compute.estimates_refresh()
    return absurd


def scope_rows(*, team) -> dict[tuple[str, str], dict]:
    """The rows of the team's all-time slice of the latest snapshot."""
    rows = ScopedEstimate.objects.filter(
        scope__snapshot=snapshot_latest(), scope__team=team, scope__window="all"
    )
    return {(e.dimension, e.group): e.data for e in rows}


def signed_in(client, django_user_model, username):
    client.force_login(django_user_model.objects.get(username=username))
    return client


def flagged_table(response) -> list[list[str]]:
    tables, _ = read_dashboard(response.content.decode())
    return tables["flagged"]


def test_a_lead_lists_the_flagged_tasks_of_their_team(
    client, django_user_model, organisation, flagged
):
    lead = signed_in(client, django_user_model, "lin")
    overall = scope_rows(team=organisation["alignment"])[("overall", "")]
    task = flagged["alignment"]
    assert overall["outliers"]["task_ids"] == [task.pk]

    response = lead.get(reverse("dashboards:flagged"))
    assert response.status_code == 200
    header, *rows = flagged_table(response)
    assert header == [
        "Completed",
        "Task type",
        "Title",
        "Researcher",
        "Forecast without AI (min)",
        "Actual (min)",
        "Actual ÷ forecast",
        "Condition",
    ]
    ratio = ABSURD_MINUTES / task.forecast_no_ai_minutes
    assert rows == [
        [
            dates.local_date(task.completed_at),  # in the server zone: no tz cookie
            "Experiment code",
            task.title,
            task.owner.email,
            f"{task.forecast_no_ai_minutes:.1f}",
            "43200.0",
            f"×{ratio:,.0f}" if ratio >= 100 else f"×{ratio:.2f}",
            task.get_condition_display(),
        ]
    ]
    html = response.content.decode()
    # The other team's flagged task is not shown, and a lead cannot open a researcher's task.
    assert flagged["evaluations"].owner.email not in html
    assert reverse("worklog:task_detail", args=[task.pk]) not in html
    assert "<caption>" in html
    _, figures = read_dashboard(html)
    typical = charts.ratio_words(2.718281828459045 ** overall["outliers"]["median_log_ratio"])
    assert typical in figures["typical"]
    without = overall["sensitivity"]["without_outliers"]
    assert f"{without['time_change'] * 100:+.1f}%" in figures["comparison"]


def test_a_lead_is_refused_another_team_and_an_unknown_one(
    client, django_user_model, organisation, flagged
):
    lead = signed_in(client, django_user_model, "lin")
    url = reverse("dashboards:flagged")
    assert lead.get(url, {"team": organisation["evaluations"].pk}).status_code == 403
    assert lead.get(url, {"team": 987654}).status_code == 404
    assert lead.get(url, {"team": "x"}).status_code == 404


def test_researchers_and_strangers_are_refused(client, django_user_model, organisation, flagged):
    url = reverse("dashboards:flagged")
    assert client.get(url).status_code == 302  # to sign in
    researcher = signed_in(client, django_user_model, "r00")
    assert researcher.get(url).status_code == 403


def test_an_admin_lists_any_team(client, django_user_model, organisation, flagged):
    admin = signed_in(client, django_user_model, "root")
    response = admin.get(reverse("dashboards:flagged"), {"team": organisation["evaluations"].pk})
    assert response.status_code == 200
    rows = flagged_table(response)[1:]
    assert [r[3] for r in rows] == [flagged["evaluations"].owner.email]


def test_an_analyst_lists_any_team_with_researchers_pseudonymized(
    client, django_user_model, organisation, flagged
):
    analyst = UserFactory(username="ana")
    MembershipFactory(user=analyst, team=organisation["tiny"], role=Membership.Role.ANALYST)
    client.force_login(analyst)
    response = client.get(reverse("dashboards:flagged"), {"team": organisation["evaluations"].pk})
    assert response.status_code == 200
    task = flagged["evaluations"]
    rows = flagged_table(response)[1:]
    assert [(r[2], r[3]) for r in rows] == [(task.title, researcher_pseudonym(task.owner_id))]
    assert task.owner.email not in response.content.decode()


def test_the_task_type_filter_lists_that_rows_flagged_tasks(
    client, django_user_model, organisation, flagged
):
    lead = signed_in(client, django_user_model, "lin")
    rows = scope_rows(team=organisation["alignment"])
    for task_type, expected in (("Experiment code", 1), ("Paper writing", 0)):
        assert rows[("task_type", task_type)]["outliers"]["n_flagged"] == expected
        response = lead.get(reverse("dashboards:flagged"), {"type": task_type})
        assert response.status_code == 200
        html = response.content.decode()
        if expected:
            assert len(flagged_table(response)) == 2
        else:
            assert "No task is flagged" in html and 'data-chart="flagged"' not in html
    unknown = lead.get(reverse("dashboards:flagged"), {"type": "Nope"}).content.decode()
    assert "no estimate for the task type “Nope” in this team" in unknown


def test_clean_data_show_an_empty_state(client, django_user_model, organisation):
    lead = signed_in(client, django_user_model, "lin")
    assert scope_rows(team=organisation["alignment"])[("overall", "")]["outliers"]["n_flagged"] == 0
    html = lead.get(reverse("dashboards:flagged")).content.decode()
    assert "No task is flagged" in html
    assert 'data-chart="flagged"' not in html
    dashboard = lead.get(reverse("dashboards:team")).content.decode()
    assert reverse("dashboards:flagged") not in dashboard


def test_a_team_without_an_estimate_says_why(client, django_user_model, organisation):
    tina = signed_in(client, django_user_model, "tina")
    html = tina.get(reverse("dashboards:flagged")).content.decode()
    assert "Not enough data for an estimate" in html
    assert "Tasks are checked once there is an estimate." in html


def test_the_robustness_table_has_the_fit_without_flagged_tasks_and_links_them(
    client, django_user_model, organisation, flagged
):
    lead = signed_in(client, django_user_model, "lin")
    overall = scope_rows(team=organisation["alignment"])[("overall", "")]
    without = overall["sensitivity"]["without_outliers"]
    response = lead.get(reverse("dashboards:team_csv", args=["robustness"]))
    table = {r[0]: r for r in csv.reader(io.StringIO(response.content.decode()))}
    assert table["Without 1 flagged task"][1:5] == [
        f"{without[key] * 100:+.1f}" for key in ("time_change", "ci_low", "ci_high")
    ] + [str(overall["n_tasks"] - 1)]
    html = lead.get(reverse("dashboards:team")).content.decode()
    _, figures = read_dashboard(html)
    assert figures["flagged-link"].startswith("List the 1 flagged task")
    # The link keeps the dashboard's filters.
    link = f"{reverse('dashboards:flagged')}?team={organisation['alignment'].pk}&amp;window=all"
    assert f'href="{link}"' in html


def test_the_warning_and_rows_in_words():
    assert charts.warnings_in_words({"warnings": ["outliers_change_result"]}) == [
        WarningCode.OUTLIERS_CHANGE_RESULT.text
    ]
    assert "flagged as extreme" in WarningCode.OUTLIERS_CHANGE_RESULT.text
    ok = {"status": "ok", "time_change": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n_tasks": 50}
    rows = {
        "none": {**ok, "outliers": {"n_flagged": 0}, "sensitivity": {}},
        "two": {
            **ok,
            "outliers": {"n_flagged": 2},
            "sensitivity": {
                "without_outliers": {
                    "time_change": -0.05,
                    "ci_low": -0.2,
                    "ci_high": 0.1,
                    "n_tasks": 48,
                }  # fmt: skip
            },
        },
        "old": {**ok, "sensitivity": {}},  # a snapshot from before the rule
    }
    last = {key: charts.robustness_table(row).table.rows[-1] for key, row in rows.items()}
    assert last["none"] == ["Without flagged tasks", "", "", "", "", "no task flagged as extreme"]
    assert last["two"] == [
        "Without 2 flagged tasks", "-5.0", "-20.0", "+10.0", "48", "extreme against their forecast",
    ]  # fmt: skip
    assert last["old"] == ["Without flagged tasks", "", "", "", "", "not estimated"]
    assert [charts.ratio_words(v) for v in (None, 12345.6, 1.234, 0.00041)] == [
        "",
        "×12,346",
        "×1.23",
        "×0.00041",
    ]
