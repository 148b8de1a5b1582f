"""Rows at numeric edges render: no estimate says why, an open interval does not divide by 0."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import MembershipFactory, TaskFactory, TaskTypeFactory, UserFactory
from uplift.accounts.models import Membership
from uplift.dashboards import charts
from uplift.dashboards.lead_views import _headline
from uplift.estimates import compute


def base_row(**figures) -> dict:
    return {
        "dimension": "team",
        "group": "core",
        "n_tasks": 12,
        "n_ai": 6,
        "n_no_ai": 6,
        "n_researchers": 3,
        "warnings": [],
        "time_change": None,
        "ci_low": None,
        "ci_high": None,
        "speedup": None,
        **figures,
    }


def test_a_not_estimable_row_says_why_on_the_headline_and_in_tables():
    reason = "Every task is fitted exactly (zero standard error), so no interval can be computed."
    row = base_row(status="not_estimable", reason=reason, warnings=["not_estimable"])
    headline = _headline(row)
    assert headline["ok"] is False
    assert headline["sentence"] == f"No estimate: {reason}"
    assert headline["verdict"].key == "not_estimable"
    assert headline["status"] == "No estimate possible"
    assert headline["progress"] == []  # more tasks would not help: nothing to count down
    assert headline["warnings"] == []  # the verdict says it
    chart = charts.forest_chart([row], "team")
    assert chart.table.rows[0][-1] == "No estimate possible"
    assert chart.config["labels"] == ["core (no estimate possible)"]
    summary = charts.summary_table([row], "team")["rows"][0]
    assert (summary["verdict"].key, summary["change"]) == ("not_estimable", reason)
    assert "bar" not in summary


def test_a_lower_bound_that_rounds_to_a_ratio_of_zero_leaves_the_speedup_open():
    row = base_row(status="ok", time_change=-0.5, ci_low=-1.0, ci_high=0.2, speedup=2.0)
    headline = _headline(row)
    assert (headline["speedup_low"], headline["speedup_high"]) == ("0.83", "")


def test_constant_forecast_warning_is_in_words():
    row = base_row(status="ok", warnings=["constant_forecast"])
    assert "same forecast" in charts.warnings_in_words(row)[0]


def test_the_mixed_model_note_says_whether_to_trust_it_and_when_researchers_do_not_differ():
    def fit(**flags):
        return {"time_change": -0.1, "ci_low": -0.2, "ci_high": 0.01, "n_tasks": 40, **flags}

    notes = {}
    for name, flags in {
        "interior": {"converged": True, "boundary": False},
        "boundary": {"converged": True, "boundary": True},
        "failed": {"converged": False, "boundary": False},
    }.items():
        row = base_row(status="ok", time_change=-0.1, ci_low=-0.2, ci_high=0.0)
        row["sensitivity"] = {"mixed_model": fit(**flags)}
        table = charts.robustness_table(row).table
        notes[name] = next(r for r in table.rows if r[0].startswith("Mixed model"))[5]
    assert notes == {
        "interior": "converged",
        "boundary": "converged, no variance between researchers",
        "failed": "did not converge: ignore",
    }


@pytest.mark.django_db
def test_a_team_of_four_tasks_sees_what_it_needs_not_x1(client, team, researcher):
    """Four completed tasks: one "not enough data" state, no lab projection of x1.00."""
    lead = UserFactory(username="lead-of-few")
    MembershipFactory(user=lead, team=team, role=Membership.Role.LEAD)
    task_type = TaskTypeFactory(name="Rare work")
    for i, condition in enumerate(["ai", "no_ai", "ai", "no_ai"]):
        TaskFactory(
            owner=researcher,
            team=team,
            task_type=task_type,
            condition=condition,
            status="completed",
            actual_minutes=30 + i,
            completed_at=timezone.now(),
        )
    compute.estimates_refresh()
    client.force_login(lead)
    html = client.get(reverse("dashboards:team")).content.decode()
    assert "Not enough data for an estimate: it needs 3 more completed AI allowed tasks" in html
    assert "×1.00" not in html
    assert "Not enough data yet" in html and "The lab view" not in html
