"""A refresh of the estimates: read every task, run ``estimate_all``, store a snapshot.

Worker side only (the Celery tasks and ``compute_estimates``): it loads numpy, pandas and the
statistics, which the web processes never import. Requests ask for a refresh with
``services.estimates_refresh_queue``.
"""

import hashlib
import time
from datetime import date

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from uplift.accounts.models import Team
from uplift.estimates.compute_input import ASSIGNED_MONTH, estimate_input
from uplift.estimates.lock import RefreshBusy, refresh_lock
from uplift.estimates.models import (
    WINDOW_MONTHS,
    Estimate,
    ScopedEstimate,
    Snapshot,
    SnapshotScope,
    calendar_months,
)
from uplift.estimates.selectors import snapshot_latest
from uplift.estimates.services import snapshot_request
from uplift.estimates.stats import METHOD_VERSION, RowCache, estimate_all

# Progress is written at most this often (seconds): enough for a progress bar.
PROGRESS_INTERVAL = 0.5
PROGRESS_STEPS = 1000
# The precomputed windows of each kind of scope. At 1M tasks and 50 teams (bench/dashboard.py)
# a team slice costs ~0.25 s and an organisation window ~1.2 s; unchanged team slices are
# reused from the previous snapshot window by window, so a refresh after a change recomputes
# only that team's windows holding the change. Teams' windows (4 slices a team, not 1),
# measured on 50 teams (docs/performance.md, "Team date ranges: refresh cost"): a refresh of
# every slice took 40-46 s CPU instead of 17 s at 25,000 tasks and 63-70 s instead of 19-21 s
# at 100,000; after a change in one team 6 s instead of 4 s, and 8-10 s instead of 4-5 s.
# Per-call overhead since cut ("Refresh: per-call overhead of `estimate_all`"): a full
# refresh takes 25 s CPU at 25,000 tasks and 35 s at 100,000.
SCOPE_WINDOWS = {"org": ("all", "12m", "6m", "3m"), "team": ("all", "12m", "6m", "3m")}


def estimates_refresh(*, only_if_pending: bool = False, trigger: str = Snapshot.Trigger.MANUAL):
    """Run one refresh now: take the queued snapshot (or start one), compute, publish.

    With ``only_if_pending`` nothing happens unless a run is queued (an earlier job already
    covered it). Raises ``RefreshBusy`` if another refresh is running. The new snapshot's
    estimates and its success are committed together; on failure it is marked failed and the
    previous snapshot stays the latest.
    """
    with refresh_lock() as acquired:
        if not acquired:
            raise RefreshBusy
        # A run that was holding the lock died without finishing: say so.
        Snapshot.objects.filter(status=Snapshot.Status.RUNNING).update(
            status=Snapshot.Status.FAILED,
            finished_at=timezone.now(),
            message="Interrupted: the worker stopped before the run finished.",
        )
        snapshot = Snapshot.objects.filter(status=Snapshot.Status.PENDING).first()
        if snapshot is None:
            if only_if_pending:
                return None
            snapshot, _ = snapshot_request(trigger=trigger)
        # Leaving "pending" lets changes made from now on queue the next run.
        snapshot.status = Snapshot.Status.RUNNING
        snapshot.started_at = timezone.now()
        snapshot.method_version = METHOD_VERSION
        snapshot.save(update_fields=["status", "started_at", "method_version"])
        try:
            _compute(snapshot)
        except BaseException as error:
            Snapshot.objects.filter(pk=snapshot.pk).update(
                status=Snapshot.Status.FAILED,
                finished_at=timezone.now(),
                message=f"{type(error).__name__}: {error}"[:2000],
            )
            raise
        return snapshot


def _compute(snapshot: Snapshot) -> None:
    started = time.monotonic()
    last_write = 0.0

    tasks, n_tasks, changed_at = estimate_input()
    # The windows' months: those of the run's start, as the pages say them.
    plan = scope_plan(
        tasks,
        team_ids=dict(Team.objects.values_list("name", "id")),
        today=timezone.localdate(snapshot.started_at),
    )
    reused = _scope_rows_to_reuse(plan)
    # Progress counts estimate_all calls, each split by its own (done, total).
    calls = 1 + sum(
        1
        for i, item in enumerate(plan)
        if item["tasks"] is not None and item["same_as"] is None and i not in reused
    )
    call_index = 0

    def progress(done: int, total: int) -> None:
        nonlocal last_write
        now = time.monotonic()
        finished = call_index + (done / total if total else 1.0)
        if now - last_write >= PROGRESS_INTERVAL or finished == calls:
            last_write = now
            Snapshot.objects.filter(pk=snapshot.pk).update(
                progress_done=int(PROGRESS_STEPS * finished / calls), progress_total=PROGRESS_STEPS
            )

    # Slices overlap (a team's overall row is the organisation's row for the team): each row's
    # tasks are estimated once per refresh.
    cache = RowCache()
    result = estimate_all(tasks, progress=progress, cache=cache)
    estimates = Estimate.from_rows(result["estimates"], snapshot=snapshot)
    scoped = []
    results: dict[int, dict] = {}
    for index, item in enumerate(plan):
        if item["tasks"] is None:  # the organisation over all time: the result above
            scope_result = result
        elif index in reused:  # same input as in the previous snapshot: same numbers
            scope_result = reused[index]
        elif item["same_as"] is not None:  # a team window holding all the team's tasks
            scope_result = results[item["same_as"]]
        else:
            call_index += 1
            scope_result = estimate_all(item["tasks"], progress=progress, cache=cache)
        results[index] = scope_result
        scope = SnapshotScope(
            snapshot=snapshot,
            kind=item["kind"],
            team_id=item["team_id"],
            label=item["label"],
            window=item["window"],
            first_month=item["first_month"],
            last_month=item["last_month"],
            n_tasks=item["n_tasks"],
            lab=scope_result["lab"],
            input_hash=item["input_hash"],
        )
        scoped.append((scope, scope_result["estimates"]))

    with transaction.atomic():
        Estimate.insert_all(estimates)
        SnapshotScope.objects.bulk_create([scope for scope, _ in scoped])
        ScopedEstimate.insert_all(
            [row for scope, rows in scoped for row in ScopedEstimate.from_rows(rows, scope=scope)]
        )
        snapshot.status = Snapshot.Status.SUCCEEDED
        snapshot.finished_at = timezone.now()
        snapshot.duration_seconds = time.monotonic() - started
        snapshot.n_tasks = n_tasks
        snapshot.data_changed_at = changed_at
        snapshot.method = result["method"]
        snapshot.lab = result["lab"]
        snapshot.scope_windows = {kind: list(windows) for kind, windows in SCOPE_WINDOWS.items()}
        snapshot.progress_done = snapshot.progress_total = PROGRESS_STEPS
        snapshot.save()


def window_months(n_months: int, *, today: date | None = None) -> list[str]:
    """The N calendar months ("YYYY-MM") ending with the current one, in the configured zone."""
    return calendar_months(n_months, today or timezone.localdate())


def scope_plan(
    tasks: pd.DataFrame, *, team_ids: dict[str, int], today: date | None = None
) -> list[dict]:
    """The slices the dashboards can show: the organisation and each team, over the windows.

    The window rule: "last N months" is the N calendar months ending with the current month
    (``window_months``), whether or not they hold completed tasks. A window holds every task
    that got its arm in those months (``ASSIGNED_MONTH``: randomized_at, or for a self-selected
    task when it was created or started), whatever its status: completed, abandoned, planned or
    in progress. So every figure and diagnostic of a window (abandonment, sample ratio) is
    computed on all the tasks randomized in it; a task completed in the window but randomized
    before it is not in it. A window in which no task got its arm is left out. Which windows
    each kind gets is ``SCOPE_WINDOWS``. ``tasks`` is None for the organisation over all time,
    which is the main result itself, and for an organisation window that holds every task (its
    figures are the same). A team window that holds every task of the team names the team's
    all-time item in ``same_as`` (its figures are the same: computed once); else it is None.
    """
    today = today or timezone.localdate()  # one month for every window of the refresh
    row_hashes = _row_hashes(tasks)
    plan = []
    teams = [(SnapshotScope.Kind.ORG, None, "Organisation", tasks)] + [
        (SnapshotScope.Kind.TEAM, team_ids[name], name, subset)
        for name, subset in tasks.groupby("team", sort=True, observed=True)
        # A team renamed since the input was read is left out: the next refresh shows it.
        if name in team_ids
    ]
    for kind, team_id, label, subset in teams:
        all_time = None  # the position of this scope's all-time item in the plan
        for window in SCOPE_WINDOWS[kind]:
            n_months = WINDOW_MONTHS[window]
            covered = window_months(n_months, today=today) if n_months else []
            if n_months:
                subset_in_window = subset[subset[ASSIGNED_MONTH].isin(covered)]
                if subset_in_window.empty:
                    continue
            else:
                subset_in_window = subset
            whole = kind == SnapshotScope.Kind.ORG and len(subset_in_window) == len(tasks)
            same_as = None
            if kind == SnapshotScope.Kind.TEAM and n_months:
                if all_time is not None and len(subset_in_window) == len(subset):
                    same_as = all_time
            elif not n_months:
                all_time = len(plan)
            plan.append(
                {
                    "kind": kind,
                    "team_id": team_id,
                    "label": label,
                    "window": window,
                    "first_month": covered[0] if covered else "",
                    "last_month": covered[-1] if covered else "",
                    "n_tasks": len(subset_in_window),
                    "tasks": None if whole else subset_in_window,
                    "same_as": same_as,
                    # Teams are reused when unchanged; the organisation changes with any team.
                    "input_hash": ""
                    if kind == SnapshotScope.Kind.ORG
                    else _input_hash(subset_in_window, row_hashes),
                }
            )
    return plan


def _row_hashes(tasks: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per task row over every input column, indexed like ``tasks``."""
    frame = tasks
    if "tools" in tasks:
        # Few distinct tool sets: join each distinct one once.
        try:
            codes, uniques = pd.factorize(tasks["tools"], use_na_sentinel=False)
        except TypeError:  # lists are unhashable
            codes, uniques = pd.factorize(tasks["tools"].map(tuple), use_na_sentinel=False)
        names = np.array([";".join(map(str, u or ())) for u in uniques], dtype=object)
        frame = tasks.drop(columns="tools").assign(tools=names[codes])
    return pd.util.hash_pandas_object(frame, index=False)


def _input_hash(subset: pd.DataFrame, row_hashes: pd.Series) -> str:
    # In task_id order: the input rows may arrive in any order.
    order = np.argsort(subset["task_id"].to_numpy(), kind="stable")
    return hashlib.sha256(row_hashes.loc[subset.index].to_numpy()[order].tobytes()).hexdigest()


def _scope_rows_to_reuse(plan: list[dict]) -> dict[int, dict]:
    """Results of the previous snapshot for the plan's slices whose input has not changed.

    estimate_all gives the same numbers for the same rows (inputs are ordered by task id and
    the only random draws, the lab view's, are seeded by name), so a team whose rows are
    identical keeps its figures; only the changed teams are computed again. Keys are
    positions in ``plan``.
    """
    previous = snapshot_latest()
    if previous is None or previous.method_version != METHOD_VERSION:
        return {}
    earlier = {
        (scope.team_id, scope.window, scope.input_hash): scope
        for scope in SnapshotScope.objects.filter(snapshot=previous)
        .exclude(input_hash="")
        .only("id", "team_id", "window", "input_hash", "lab")
    }
    matches = {
        index: earlier[(item["team_id"], item["window"], item["input_hash"])]
        for index, item in enumerate(plan)
        if item["input_hash"] and (item["team_id"], item["window"], item["input_hash"]) in earlier
    }
    rows: dict[int, list[dict]] = {scope.pk: [] for scope in matches.values()}
    for scope_id, data in (
        ScopedEstimate.objects.filter(scope_id__in=rows)
        .order_by("scope_id", "position")
        .values_list("scope_id", "data")
    ):
        rows[scope_id].append(data)
    return {
        index: {"estimates": rows[scope.pk], "lab": scope.lab} for index, scope in matches.items()
    }
