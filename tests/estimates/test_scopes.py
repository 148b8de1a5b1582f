"""The refresh also stores the slices the dashboards read: organisation windows and teams."""

import io
import json

import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import TaskFactory, TeamFactory
from uplift.estimates import services
from uplift.estimates.models import Estimate, ScopedEstimate, SnapshotScope
from uplift.estimates.selectors import estimate_input, snapshot_as_json
from uplift.estimates.services import estimates_refresh, scope_plan
from uplift.estimates.stats import estimate_all

pytestmark = pytest.mark.django_db


def months_frame(months: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"team": ["A"] * len(months), "month": months, "task_id": range(len(months))}
    )


def test_windows_end_at_the_latest_month_with_completed_tasks():
    tasks = months_frame(["2025-01", "2025-03", "2025-05", "2025-06", None])
    plan = scope_plan(tasks, team_ids={"A": 1})
    org = {item["window"]: item for item in plan if item["kind"] == "org"}
    assert org["all"]["tasks"] is None and org["all"]["n_tasks"] == 5
    assert (org["3m"]["first_month"], org["3m"]["last_month"]) == ("2025-03", "2025-06")
    assert org["3m"]["n_tasks"] == 3
    assert [i["window"] for i in plan if i["kind"] == "team"] == ["all"]


def test_a_team_renamed_since_the_input_was_read_gets_no_scope():
    tasks = months_frame(["2025-01", "2025-02"]).assign(team=["A", "Renamed"])
    plan = scope_plan(tasks, team_ids={"A": 1})
    assert [(i["kind"], i["team_id"], i["window"]) for i in plan] == [
        ("org", None, "all"),
        ("org", None, "6m"),
        ("org", None, "3m"),
        ("team", 1, "all"),
    ]


def test_refresh_stores_a_scope_per_team_and_org_window():
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    TaskFactory.create_batch(
        3, team=alpha, status="completed", actual_minutes=30, completed_at=timezone.now()
    )
    TaskFactory.create_batch(2, team=beta)
    snapshot = estimates_refresh()
    scopes = {(s.kind, s.team_id, s.window): s for s in snapshot.scopes.all()}
    assert set(scopes) == {
        ("org", None, "all"),
        ("org", None, "6m"),
        ("org", None, "3m"),
        ("team", alpha.pk, "all"),
        ("team", beta.pk, "all"),
    }
    assert scopes[("team", alpha.pk, "all")].n_tasks == 3
    assert scopes[("team", beta.pk, "all")].label == "Beta"


def test_no_windows_without_completed_months():
    TaskFactory.create_batch(2)
    snapshot = estimates_refresh()
    assert [(s.kind, s.window) for s in snapshot.scopes.filter(kind="org")] == [("org", "all")]


def test_team_scope_holds_estimate_all_of_the_team_tasks():
    team = TeamFactory(name="Alpha")
    TaskFactory.create_batch(4, team=team, status="completed", actual_minutes=30)
    TaskFactory.create_batch(2, status="completed", actual_minutes=20)
    snapshot = estimates_refresh()
    tasks, _, _ = estimate_input()
    expected = estimate_all(tasks[tasks["team"] == "Alpha"])["estimates"]
    scope = SnapshotScope.objects.get(snapshot=snapshot, team=team)
    stored = [e.data for e in ScopedEstimate.objects.filter(scope=scope).order_by("position")]
    assert stored == json.loads(json.dumps(expected))


def test_org_scope_repeats_the_estimates_and_show_estimates_is_unchanged():
    TaskFactory.create_batch(3, status="completed", actual_minutes=30)
    snapshot = estimates_refresh()
    org = SnapshotScope.objects.get(snapshot=snapshot, kind="org", window="all")
    assert [e.data for e in org.estimates.order_by("position")] == [
        e.data for e in Estimate.objects.filter(snapshot=snapshot).order_by("position")
    ]
    assert org.lab == snapshot.lab
    document = snapshot_as_json(snapshot=snapshot)
    assert set(document) == {"snapshot", "estimates", "lab"}
    assert len(document["estimates"]) == Estimate.objects.filter(snapshot=snapshot).count()
    out = io.StringIO()
    call_command("show_estimates", json=True, stdout=out)
    assert json.loads(out.getvalue())["estimates"] == document["estimates"]


def test_next_refresh_reuses_unchanged_teams_and_recomputes_changed_ones(monkeypatch):
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    TaskFactory.create_batch(3, team=alpha, status="completed", actual_minutes=30)
    TaskFactory.create_batch(3, team=beta, status="completed", actual_minutes=30)
    first = estimates_refresh()
    teams_fitted = []

    def recording(tasks, **kwargs):
        teams_fitted.append(sorted(set(tasks["team"])))
        return estimate_all(tasks, **kwargs)

    monkeypatch.setattr(services, "estimate_all", recording)
    TaskFactory(team=beta, status="completed", actual_minutes=40)
    second = estimates_refresh()
    assert teams_fitted == [["Alpha", "Beta"], ["Beta"]]  # the organisation, then Beta only
    old, new = (
        SnapshotScope.objects.get(snapshot=s, team=alpha, window="all") for s in (first, second)
    )
    assert new.input_hash == old.input_hash != ""
    assert [e.data for e in new.estimates.order_by("position")] == [
        e.data for e in old.estimates.order_by("position")
    ]
    assert new.lab == old.lab
    changed = [SnapshotScope.objects.get(snapshot=s, team=beta) for s in (first, second)]
    assert changed[0].input_hash != changed[1].input_hash
    assert changed[1].n_tasks == 4


def test_input_hash_does_not_depend_on_row_order():
    tasks = pd.DataFrame(
        {
            "task_id": [1, 2, 3, 4],
            "team": ["A", "A", "B", "A"],
            "month": ["2025-01", "2025-02", "2025-02", None],
            "tools": [("claude",), (), ("copilot", "claude"), ()],
        }
    )
    shuffled = tasks.iloc[[3, 1, 0, 2]].reset_index(drop=True)
    plans = [scope_plan(frame, team_ids={"A": 1, "B": 2}) for frame in (tasks, shuffled)]
    hashes = [[item["input_hash"] for item in plan] for plan in plans]
    assert hashes[0] == hashes[1]
    assert hashes[0][-2] != hashes[0][-1] != ""  # teams A and B
