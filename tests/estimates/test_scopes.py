"""The refresh also stores the slices the dashboards read: organisation windows and teams."""

import io
import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import TaskFactory, TeamFactory, UserFactory
from uplift.estimates import compute
from uplift.estimates.compute import estimates_refresh, scope_plan, window_months
from uplift.estimates.compute_input import estimate_input
from uplift.estimates.models import Estimate, ScopedEstimate, SnapshotScope
from uplift.estimates.selectors import snapshot_as_json
from uplift.estimates.stats import estimate_all

pytestmark = pytest.mark.django_db


def months_frame(months: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team": ["A"] * len(months),
            "month": months,
            "assigned_month": months,
            "task_id": range(len(months)),
        }
    )


def test_windows_are_calendar_months_ending_this_month_by_month_of_randomization():
    tasks = months_frame(["2025-01", "2025-03", "2025-05", "2025-06", "2025-08"])
    tasks["month"] = [None, "2025-04", None, "2025-06", None]  # completion does not matter
    plan = scope_plan(tasks, team_ids={"A": 1}, today=date(2025, 8, 15))
    org = {item["window"]: item for item in plan if item["kind"] == "org"}
    assert org["all"]["tasks"] is None and org["all"]["n_tasks"] == 5
    # Not the last three months with completions (2025-04 to 2025-06): calendar months.
    assert (org["3m"]["first_month"], org["3m"]["last_month"]) == ("2025-06", "2025-08")
    assert org["3m"]["tasks"]["task_id"].tolist() == [3, 4]
    assert (org["6m"]["first_month"], org["6m"]["last_month"]) == ("2025-03", "2025-08")
    assert org["6m"]["tasks"]["task_id"].tolist() == [1, 2, 3, 4]
    assert [i["window"] for i in plan if i["kind"] == "team"] == ["all", "12m", "6m", "3m"]
    assert window_months(3, today=date(2026, 2, 1)) == ["2025-12", "2026-01", "2026-02"]


def test_a_window_in_which_no_task_was_randomized_is_left_out():
    tasks = months_frame(["2025-01", "2025-04"])
    plan = scope_plan(tasks, team_ids={"A": 1}, today=date(2025, 8, 15))
    assert [i["window"] for i in plan if i["kind"] == "org"] == ["all", "12m", "6m"]


def window_attrition_tasks() -> pd.DataFrame:
    """1,200 tasks randomized in March-August 2025, 600 per arm; the AI arm abandons 20%, the
    no-AI arm 2%; and 240 earlier tasks, all completed, randomized in 2024."""
    n_recent, n_old, n_researchers = 1200, 240, 24
    i = np.arange(n_recent + n_old)
    recent = i < n_recent
    researcher = i % n_researchers
    ai = (i // n_researchers) % 2 == 0
    # Every 5th AI task and every 50th no-AI task of the recent ones is abandoned.
    rank = np.where(ai, np.cumsum(ai), np.cumsum(~ai)) - 1
    abandoned = recent & np.where(ai, rank % 5 == 0, rank % 50 == 0)
    months = np.array([f"2025-{m:02d}" for m in range(3, 9)], dtype=object)
    assigned = np.where(recent, months[i % 6], "2024-06")
    rng = np.random.default_rng(3)
    forecast = np.exp(rng.normal(4.0, 0.6, i.size))
    return pd.DataFrame(
        {
            "task_id": i + 1,
            "researcher": researcher,
            "team": "A",
            "task_type": np.where(i % 3 == 0, "bugfix", "feature"),
            "assignment": "randomized",
            "ai_allowed": ai,
            "allocation": 0.5,
            "forecast_no_ai": forecast,
            "forecast_ai": forecast * 0.8,
            "status": np.where(abandoned, "abandoned", "completed"),
            "actual_minutes": np.where(
                abandoned, np.nan, forecast * np.exp(rng.normal(-0.1 * ai, 0.4))
            ),
            "perceived_other_minutes": np.nan,
            # Completed the month they were randomized.
            "month": np.where(abandoned, None, assigned),
            "tools": [()] * i.size,
            "assigned_month": assigned,
        }
    )


def test_windows_keep_abandoned_tasks_and_their_diagnostics():
    tasks = window_attrition_tasks()
    plan = scope_plan(tasks, team_ids={"A": 1}, today=date(2025, 8, 20))
    six = next(i for i in plan if i["kind"] == "org" and i["window"] == "6m")
    assert six["n_tasks"] == 1200  # abandoned tasks included, 2024 tasks not
    overall = estimate_all(six["tasks"])["estimates"][0]
    assert overall["dimension"] == "overall"
    attrition = overall["diagnostics"]["attrition"]
    assert (attrition["abandoned_ai"], attrition["abandoned_no_ai"]) == (120, 12)
    assert (attrition["ai"], attrition["no_ai"]) == (0.2, 0.02)
    assert "differential_attrition" in overall["warnings"]
    # The arms were randomized 600 and 600: no sample-ratio alarm (counting completed tasks
    # only, 480 against 588, gave p = 0.0009).
    assert overall["diagnostics"]["sample_ratio"]["p_value"] == pytest.approx(1.0)
    assert "sample_ratio_mismatch" not in overall["warnings"]
    three = next(i for i in plan if i["kind"] == "org" and i["window"] == "3m")
    assert three["n_tasks"] == 600
    assert (three["tasks"]["status"] == "abandoned").sum() == 64  # 60 with AI, 4 without


def test_refresh_windows_hold_the_tasks_randomized_in_them():
    now = timezone.now()
    recent_abandoned = TaskFactory(status="abandoned", randomized_at=now)
    completed_now_randomized_long_ago = TaskFactory(
        status="completed",
        actual_minutes=30,
        randomized_at=now - timedelta(days=300),
        started_at=now - timedelta(days=300),
        completed_at=now,
    )
    # Imported self-selected task: created now, started weeks ago.
    self_selected = TaskFactory(
        assignment="self_selected",
        randomized_at=None,
        allocation_ai=None,
        started_at=now - timedelta(days=40),
    )
    tasks, _, _ = estimate_input()
    assigned = dict(zip(tasks["task_id"], tasks["assigned_month"].astype(str), strict=True))

    def month(moment):
        return timezone.localtime(moment).strftime("%Y-%m")

    assert assigned == {
        recent_abandoned.pk: month(now),
        completed_now_randomized_long_ago.pk: month(now - timedelta(days=300)),
        self_selected.pk: month(now - timedelta(days=40)),
    }
    snapshot = estimates_refresh()
    windows = {s.window: s for s in snapshot.scopes.filter(kind="org")}
    assert {w: s.n_tasks for w, s in windows.items()} == {"all": 3, "12m": 3, "6m": 2, "3m": 2}
    assert windows["3m"].last_month == month(now)


def test_refresh_stores_a_scope_per_team_and_org_window():
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    TaskFactory.create_batch(
        3, team=alpha, status="completed", actual_minutes=30, completed_at=timezone.now()
    )
    TaskFactory.create_batch(2, team=beta)
    snapshot = estimates_refresh()
    scopes = {(s.kind, s.team_id, s.window): s for s in snapshot.scopes.all()}
    assert set(scopes) == {
        (kind, team, window)
        for kind, team in (("org", None), ("team", alpha.pk), ("team", beta.pk))
        for window in ("all", "12m", "6m", "3m")
    }
    assert scopes[("team", alpha.pk, "all")].n_tasks == 3
    assert scopes[("team", beta.pk, "all")].label == "Beta"


def test_windows_hold_tasks_not_yet_completed(monkeypatch):
    TaskFactory.create_batch(2)
    calls = []

    def recording(tasks, **kwargs):
        calls.append(len(tasks))
        return estimate_all(tasks, **kwargs)

    monkeypatch.setattr(compute, "estimate_all", recording)
    snapshot = estimates_refresh()
    windows = snapshot.scopes.filter(kind="org")
    assert [(s.window, s.n_tasks) for s in windows] == [
        ("12m", 2),
        ("3m", 2),
        ("6m", 2),
        ("all", 2),
    ]
    # Windows that hold every task are the all-time result, not computed again: the
    # organisation's and each team's (one task each, in all four windows), in the order of the
    # refresh's pieces.
    assert sorted(calls) == [1, 1, 2]
    assert [e.data for e in windows[1].estimates.order_by("position")] == [
        e.data for e in windows[3].estimates.order_by("position")
    ]
    team_windows = snapshot.scopes.filter(kind="team")
    assert team_windows.count() == 8
    assert {s.n_tasks for s in team_windows} == {1}


def test_team_scope_holds_estimate_all_of_the_team_tasks():
    team = TeamFactory(name="Alpha")
    TaskFactory.create_batch(4, team=team, status="completed", actual_minutes=30)
    TaskFactory.create_batch(2, status="completed", actual_minutes=20)
    snapshot = estimates_refresh()
    tasks, _, _ = estimate_input()
    expected = estimate_all(tasks[tasks["team"] == "Alpha"])["estimates"]
    scope = SnapshotScope.objects.get(snapshot=snapshot, team=team, window="all")
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

    monkeypatch.setattr(compute, "estimate_all", recording)
    TaskFactory(team=beta, status="completed", actual_minutes=40)
    second = estimates_refresh()
    # The organisation (its windows hold every task: the same result), and Beta only.
    assert sorted(teams_fitted) == [["Alpha", "Beta"], ["Beta"]]
    old, new = (
        SnapshotScope.objects.get(snapshot=s, team=alpha, window="all") for s in (first, second)
    )
    assert new.input_hash == old.input_hash != ""
    assert [e.data for e in new.estimates.order_by("position")] == [
        e.data for e in old.estimates.order_by("position")
    ]
    assert new.lab == old.lab
    changed = [
        SnapshotScope.objects.get(snapshot=s, team=beta, window="all") for s in (first, second)
    ]
    assert changed[0].input_hash != changed[1].input_hash
    assert changed[1].n_tasks == 4


def test_input_hash_does_not_depend_on_row_order():
    tasks = pd.DataFrame(
        {
            "task_id": [1, 2, 3, 4],
            "team": ["A", "A", "B", "A"],
            "month": ["2025-01", "2025-02", "2025-02", None],
            "assigned_month": ["2025-01", "2025-02", "2025-02", "2025-02"],
            "tools": [("claude",), (), ("copilot", "claude"), ()],
        }
    )
    shuffled = tasks.iloc[[3, 1, 0, 2]].reset_index(drop=True)
    plans = [scope_plan(frame, team_ids={"A": 1, "B": 2}) for frame in (tasks, shuffled)]
    hashes = [[item["input_hash"] for item in plan] for plan in plans]
    assert hashes[0] == hashes[1]
    assert hashes[0][-2] != hashes[0][-1] != ""  # teams A and B


def test_scope_plan_gives_each_team_all_time_and_the_last_12_6_and_3_months():
    tasks = pd.DataFrame(
        {
            "task_id": range(1, 9),
            "team": ["A", "A", "A", "A", "A", "B", "B", "B"],
            "assigned_month": [
                "2024-06",  # A: before the last 12 months
                "2025-01",  # A: in the last 12 months only
                "2025-05",  # A: in the last 6
                "2025-07",  # A: in the last 3
                "2025-08",  # A: in the last 3
                "2025-08",  # B: every task in the last 3 months
                "2025-07",
                "2025-06",
            ],
        }
    )
    tasks["month"] = tasks["assigned_month"]
    plan = scope_plan(tasks, team_ids={"A": 1, "B": 2}, today=date(2025, 8, 31))
    teams = {(i["team_id"], i["window"]): i for i in plan if i["kind"] == "team"}
    assert [(i["team_id"], i["window"]) for i in plan if i["kind"] == "team"] == [
        (team, window) for team in (1, 2) for window in ("all", "12m", "6m", "3m")
    ]
    expected = {"all": [1, 2, 3, 4, 5], "12m": [2, 3, 4, 5], "6m": [3, 4, 5], "3m": [4, 5]}
    for window, ids in expected.items():
        item = teams[(1, window)]
        assert sorted(item["tasks"]["task_id"]) == ids, window
        assert item["n_tasks"] == len(ids)
        assert item["same_as"] is None
    assert (teams[(1, "12m")]["first_month"], teams[(1, "12m")]["last_month"]) == (
        "2024-09",
        "2025-08",
    )
    assert teams[(1, "3m")]["first_month"] == "2025-06"
    # B's windows hold all its tasks: the same input as its all-time slice, computed once.
    b_all = plan.index(teams[(2, "all")])
    assert [teams[(2, w)]["same_as"] for w in ("12m", "6m", "3m")] == [b_all] * 3
    assert {teams[(2, w)]["input_hash"] for w in ("all", "12m", "6m", "3m")} == {
        teams[(2, "all")]["input_hash"]
    }


# Days before now that fall in the last 3 months, in the last 6 but not 3, in the last 12 but
# not 6, and before the last 12 (calendar months ending with this one).
BANDS = {"3m": 5, "6m": 120, "12m": 250, "older": 450}


def team_tasks_over_a_year(team, *, per_band: int = 6) -> None:
    """Randomized tasks of ``team`` in each band of ``BANDS``: four researchers, both arms,
    completed with varied times (AI about 20% faster), so that every window has estimates."""
    researchers = [UserFactory() for _ in range(4)]
    now = timezone.now()
    n = 0
    for days in BANDS.values():
        for i in range(per_band):
            for researcher in researchers:
                n += 1
                ai = (i + n) % 2 == 0
                forecast = 30 + 7 * (n % 9)
                randomized = now - timedelta(days=days)
                TaskFactory(
                    team=team,
                    owner=researcher,
                    condition="ai" if ai else "no_ai",
                    forecast_no_ai_minutes=forecast,
                    randomized_at=randomized,
                    started_at=randomized,
                    completed_at=min(now, randomized + timedelta(days=1)),
                    status="completed",
                    actual_minutes=forecast * (0.8 if ai else 1.0) * (1 + 0.05 * (n % 5)),
                )


def test_refresh_stores_team_windows_as_estimate_all_on_the_tasks_randomized_in_them():
    alpha = TeamFactory(name="Alpha")
    team_tasks_over_a_year(alpha)
    snapshot = estimates_refresh()
    tasks, _, _ = estimate_input()
    scopes = {s.window: s for s in snapshot.scopes.filter(kind="team", team=alpha)}
    assert {w: s.n_tasks for w, s in scopes.items()} == {"all": 96, "12m": 72, "6m": 48, "3m": 24}
    today = timezone.localdate(snapshot.started_at)
    for window, n_months in (("12m", 12), ("6m", 6), ("3m", 3)):
        months = window_months(n_months, today=today)
        subset = tasks[(tasks["team"] == "Alpha") & tasks["assigned_month"].isin(months)]
        expected = json.loads(json.dumps(estimate_all(subset)["estimates"]))
        scope = scopes[window]
        assert (scope.first_month, scope.last_month) == (months[0], months[-1])
        assert scope.n_tasks == len(subset)
        stored = [e.data for e in scope.estimates.order_by("position")]
        assert stored[0]["dimension"] == "overall"
        assert stored[0]["n_tasks"] == expected[0]["n_tasks"] == len(subset)
        assert stored[0]["status"] == "ok"
        assert stored[0]["time_change"] == expected[0]["time_change"]
        assert (stored[0]["ci_low"], stored[0]["ci_high"]) == (
            expected[0]["ci_low"],
            expected[0]["ci_high"],
        )
        assert stored == expected
    # Not the all-time figures.
    assert (
        scopes["3m"].estimates.get(dimension="overall").data["time_change"]
        != (scopes["all"].estimates.get(dimension="overall").data["time_change"])
    )
    assert snapshot.scope_windows["team"] == ["all", "12m", "6m", "3m"]


def test_next_refresh_reuses_each_window_of_an_unchanged_team(monkeypatch):
    alpha, beta = TeamFactory(name="Alpha"), TeamFactory(name="Beta")
    team_tasks_over_a_year(alpha, per_band=2)
    team_tasks_over_a_year(beta, per_band=2)
    first = estimates_refresh()
    fitted = []

    def recording(tasks, **kwargs):
        fitted.append((sorted(set(tasks["team"])), len(tasks)))
        return estimate_all(tasks, **kwargs)

    monkeypatch.setattr(compute, "estimate_all", recording)
    # One of Beta's tasks of the last 3 months changes: it is in every window of Beta.
    changed = beta.tasks.order_by("-randomized_at").first()
    changed.actual_minutes += 5
    changed.save()
    second = estimates_refresh()
    # The organisation over all time and its three windows, and Beta's four slices only (in
    # the order of the refresh's pieces).
    assert sorted(fitted) == sorted(
        [
            (["Alpha", "Beta"], 64),
            (["Alpha", "Beta"], 48),
            (["Alpha", "Beta"], 32),
            (["Alpha", "Beta"], 16),
            (["Beta"], 32),
            (["Beta"], 24),
            (["Beta"], 16),
            (["Beta"], 8),
        ]
    )
    for window in ("all", "12m", "6m", "3m"):
        old, new = (
            SnapshotScope.objects.get(snapshot=s, team=alpha, window=window)
            for s in (first, second)
        )
        assert new.input_hash == old.input_hash != "", window
        assert new.n_tasks == old.n_tasks
        assert [e.data for e in new.estimates.order_by("position")] == [
            e.data for e in old.estimates.order_by("position")
        ]
        assert new.lab == old.lab
        before, after = (
            SnapshotScope.objects.get(snapshot=s, team=beta, window=window) for s in (first, second)
        )
        assert before.input_hash != after.input_hash
