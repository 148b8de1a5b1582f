"""A refresh in pieces: the plan, each piece's own reads, the join, failures and progress."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.estimates.test_scopes import team_tasks_over_a_year
from tests.factories import TaskFactory, TeamFactory, ToolFactory, ToolUseFactory
from uplift.estimates import compute
from uplift.estimates.compute import (
    estimates_refresh,
    piece_plan,
    refresh_piece,
    refresh_start,
)
from uplift.estimates.lock import RefreshBusy
from uplift.estimates.models import Estimate, ScopedEstimate, Snapshot, SnapshotScope
from uplift.estimates.selectors import snapshot_latest
from uplift.estimates.stats import estimate_all
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db


def lab(n_teams: int = 3) -> list:
    """Teams with randomized tasks over a year (every window has estimates), some with tools."""
    teams = [TeamFactory(name=f"Team {chr(65 + i)}") for i in range(n_teams)]
    for team in teams:
        team_tasks_over_a_year(team, per_band=2)
    claude = ToolFactory(name="claude")
    for task in Task.objects.filter(condition="ai").order_by("id")[::3]:
        ToolUseFactory(task=task, tool=claude)
    return teams


def stored(snapshot: Snapshot) -> dict:
    """Every row a snapshot stored, by slice (kind, team, window), and its organisation rows."""
    scopes = {
        (s.kind, s.team_id, s.window): (
            s.n_tasks,
            s.lab,
            [e.data for e in s.estimates.order_by("position")],
        )
        for s in SnapshotScope.objects.filter(snapshot=snapshot)
    }
    return {
        "scopes": scopes,
        "org": [e.data for e in Estimate.objects.filter(snapshot=snapshot).order_by("position")],
        "lab": snapshot.lab,
        "method": snapshot.method,
    }


def test_the_plan_puts_every_team_in_one_piece_and_each_partial_org_window_in_its_own(settings):
    settings.ESTIMATES_REFRESH_PIECES = 6
    teams = lab(n_teams=5)
    pieces = piece_plan(today=timezone.localdate())
    team_pieces = [p["teams"] for p in pieces if "teams" in p]
    assert sorted(t for ids in team_pieces for t in ids) == sorted(t.pk for t in teams)
    # Two pieces for the teams: six in all, less the organisation's four windows.
    assert len(team_pieces) == 2 and {len(ids) for ids in team_pieces} == {2, 3}
    # Every window holds part of the tasks (some are older than 12 months): one piece each.
    assert [p["org"] for p in pieces if "org" in p] == [["all"], ["12m"], ["6m"], ["3m"]]
    assert [p["weight"] for p in pieces] == sorted((p["weight"] for p in pieces), reverse=True)
    assert sum(p["share"] for p in pieces) == pytest.approx(compute.PROGRESS_STEPS)


def test_windows_holding_every_task_join_the_all_time_piece():
    TaskFactory.create_batch(4)  # randomized now: in every window
    pieces = piece_plan(today=timezone.localdate())
    assert [p["org"] for p in pieces if "org" in p] == [["all", "12m", "6m", "3m"]]


def test_pieces_reading_their_own_tasks_store_what_one_read_of_every_task_stores(monkeypatch):
    lab()
    inline = estimates_refresh()
    monkeypatch.setattr(compute, "_scope_rows_to_reuse", lambda plan: {})
    snapshot = refresh_start()
    for index in range(len(snapshot.pieces)):
        refresh_piece(snapshot.pk, index)  # as a worker runs it: no table handed over
    snapshot.refresh_from_db()
    assert snapshot.status == "succeeded"
    assert snapshot.n_tasks == inline.n_tasks == 3 * 32
    one_read, pieces = stored(inline), stored(snapshot)
    assert len(pieces["scopes"]) == 4 + 3 * 4
    assert pieces == one_read
    # And the team windows are estimate_all on their tasks (not a copy of a wrong result).
    overall = pieces["scopes"][("team", Task.objects.first().team_id, "all")][2][0]
    assert overall["n_tasks"] == 32 and overall["status"] == "ok"


def test_pages_see_the_previous_snapshot_until_the_last_piece_publishes():
    lab()
    previous = estimates_refresh()
    snapshot = refresh_start()
    done = []
    for index in range(len(snapshot.pieces)):
        assert snapshot_latest() == previous
        refresh_piece(snapshot.pk, index)
        done.append(Snapshot.objects.get(pk=snapshot.pk).status)
    assert done == ["running"] * (len(snapshot.pieces) - 1) + ["succeeded"]
    assert snapshot_latest().pk == snapshot.pk


def test_a_piece_delivered_twice_commits_once():
    lab()
    snapshot = refresh_start()
    assert refresh_piece(snapshot.pk, 0) is not None
    count = SnapshotScope.objects.filter(snapshot=snapshot).count()
    assert count > 0
    assert refresh_piece(snapshot.pk, 0) is None
    assert SnapshotScope.objects.filter(snapshot=snapshot).count() == count
    assert Snapshot.objects.get(pk=snapshot.pk).pieces_done == [0]


def test_a_failing_piece_fails_the_run_removes_its_rows_and_the_others_skip(monkeypatch):
    lab()
    previous = estimates_refresh()
    snapshot = refresh_start()
    # The organisation over all time is computed whatever changed (teams may be reused).
    failing = next(i for i, p in enumerate(snapshot.pieces) if "all" in p.get("org", []))
    others = [i for i in range(len(snapshot.pieces)) if i != failing]
    refresh_piece(snapshot.pk, others[0])
    refresh_piece(snapshot.pk, others[1])
    assert ScopedEstimate.objects.filter(scope__snapshot=snapshot).exists()

    def broken(*args, **kwargs):
        raise RuntimeError("statistics exploded")

    monkeypatch.setattr(compute, "estimate_all", broken)
    with pytest.raises(RuntimeError):
        refresh_piece(snapshot.pk, failing)
    monkeypatch.setattr(compute, "estimate_all", estimate_all)
    for index in others[2:]:
        assert refresh_piece(snapshot.pk, index) is None
    snapshot.refresh_from_db()
    assert snapshot.status == "failed"
    assert snapshot.message == "RuntimeError: statistics exploded"
    assert not SnapshotScope.objects.filter(snapshot=snapshot).exists()
    assert not Estimate.objects.filter(snapshot=snapshot).exists()
    assert not ScopedEstimate.objects.filter(scope__snapshot=snapshot).exists()
    assert snapshot_latest() == previous


def test_progress_only_grows_across_pieces_and_reaches_the_end_on_success(monkeypatch):
    lab()
    monkeypatch.setattr(compute, "PROGRESS_INTERVAL", 0)
    snapshot = refresh_start()
    seen = [Snapshot.objects.get(pk=snapshot.pk).progress_done]

    def recording(tasks, **kwargs):
        result = estimate_all(tasks, **kwargs)
        seen.append(Snapshot.objects.get(pk=snapshot.pk).progress_done)
        return result

    monkeypatch.setattr(compute, "estimate_all", recording)
    for index in range(len(snapshot.pieces)):
        refresh_piece(snapshot.pk, index)
        seen.append(Snapshot.objects.get(pk=snapshot.pk).progress_done)
    assert seen[0] == 0
    assert seen == sorted(seen)
    assert seen[-2] < compute.PROGRESS_STEPS == seen[-1]
    assert len(set(seen)) > len(snapshot.pieces)  # it moves within pieces too
    assert Snapshot.objects.get(pk=snapshot.pk).progress == 1.0


def test_a_live_run_makes_the_next_wait_and_a_silent_one_is_interrupted(settings):
    settings.ESTIMATES_REFRESH_STALE_SECONDS = 60
    lab(n_teams=1)
    previous = estimates_refresh()
    running = refresh_start()
    refresh_piece(running.pk, 0)  # one piece stored, then its worker stops
    with pytest.raises(RefreshBusy):
        estimates_refresh()
    Snapshot.objects.filter(pk=running.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=61)
    )
    latest = estimates_refresh()
    running.refresh_from_db()
    assert running.status == "failed"
    assert running.message == "Interrupted: the worker stopped before the run finished."
    assert not SnapshotScope.objects.filter(snapshot=running).exists()
    assert latest.status == "succeeded" and latest != previous
    # A piece of the interrupted run delivered late does nothing.
    assert refresh_piece(running.pk, 1) is None
    assert not SnapshotScope.objects.filter(snapshot=running).exists()
