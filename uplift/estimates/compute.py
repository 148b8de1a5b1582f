"""A refresh of the estimates: read every task, run ``estimate_all``, store a snapshot.

Worker side only (the Celery tasks and ``compute_estimates``): it loads numpy, pandas and the
statistics, which the web processes never import. Requests ask for a refresh with
``services.estimates_refresh_queue``.
"""

import hashlib
import logging
import time
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce, Least
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
from uplift.worklog.models import Task

logger = logging.getLogger(__name__)

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
# A piece's rough cost for planning: an estimate_all call's fixed cost counted as this many
# tasks (at 1M tasks a team slice of ~20,000 tasks took ~0.25 s, an organisation window ~1.2 s).
SLICE_COST_TASKS = 200_000
INTERRUPTED = "Interrupted: the worker stopped before the run finished."


def estimates_refresh(*, only_if_pending: bool = False, trigger: str = Snapshot.Trigger.MANUAL):
    """Run one refresh now, in this process: take the queued snapshot (or start one), compute
    every piece, publish.

    With ``only_if_pending`` nothing happens unless a run is queued (an earlier job already
    covered it). Raises ``RefreshBusy`` if another refresh is running. The pieces are those a
    worker would run (``refresh_piece``), on one read of the tasks; the new snapshot's success
    is committed with its last piece; on failure it is marked failed, its rows are removed and
    the previous snapshot stays the latest.
    """
    snapshot = refresh_start(only_if_pending=only_if_pending, trigger=trigger)
    if snapshot is None:
        return None
    _compute(snapshot)
    snapshot.refresh_from_db()
    return snapshot


def refresh_dispatch(*, only_if_pending: bool = False, trigger: str = Snapshot.Trigger.MANUAL):
    """Start a refresh and queue one Celery job per piece, heaviest first; whichever workers
    are running compute them. Returns the snapshot, or None (see ``estimates_refresh``).

    Pieces that cannot be queued (the broker went away) are computed here, one after another.
    """
    from uplift.estimates.tasks import estimates_refresh_piece

    snapshot = refresh_start(only_if_pending=only_if_pending, trigger=trigger)
    if snapshot is None:
        return None
    for index in range(len(snapshot.pieces)):
        try:
            estimates_refresh_piece.apply_async(args=(snapshot.pk, index))
        except Exception:
            logger.warning("Could not queue pieces of refresh %s; computing them here", snapshot.pk)
            for rest in range(index, len(snapshot.pieces)):
                refresh_piece(snapshot.pk, rest)
            break
    return snapshot


def refresh_start(*, only_if_pending: bool = False, trigger: str = Snapshot.Trigger.MANUAL):
    """Move the queued snapshot (or a new one) to running and record its pieces.

    One run at a time: a running snapshot that still shows signs of life makes this raise
    ``RefreshBusy``; one silent for ``ESTIMATES_REFRESH_STALE_SECONDS`` is marked interrupted.
    The lock only keeps two starters apart; the running snapshot itself holds the run.
    """
    with refresh_lock() as acquired:
        if not acquired:
            raise RefreshBusy
        silent_since = timezone.now() - timedelta(seconds=settings.ESTIMATES_REFRESH_STALE_SECONDS)
        silent = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=silent_since)
        for stale in Snapshot.objects.filter(silent, status=Snapshot.Status.RUNNING):
            # Its workers died or were stopped without finishing: say so.
            refresh_fail(stale.pk, INTERRUPTED, only_if=silent)
        if Snapshot.objects.filter(status=Snapshot.Status.RUNNING).exists():
            raise RefreshBusy
        snapshot = Snapshot.objects.filter(status=Snapshot.Status.PENDING).first()
        if snapshot is None:
            if only_if_pending:
                return None
            snapshot, _ = snapshot_request(trigger=trigger)
        now = timezone.now()
        # Leaving "pending" lets changes made from now on queue the next run.
        snapshot.status = Snapshot.Status.RUNNING
        snapshot.started_at = snapshot.heartbeat_at = now
        snapshot.method_version = METHOD_VERSION
        snapshot.pieces = piece_plan(today=timezone.localdate(now))
        snapshot.pieces_done = []
        snapshot.progress_done, snapshot.progress_total = 0, PROGRESS_STEPS
        snapshot.save(
            update_fields=[
                "status", "started_at", "heartbeat_at", "method_version", "pieces",
                "pieces_done", "progress_done", "progress_total",
            ]
        )  # fmt: skip
        return snapshot


def refresh_fail(snapshot_id: int, message: str, *, only_if: Q | None = None) -> None:
    """Mark a running snapshot failed and remove what its finished pieces stored; its other
    pieces then skip. The previous snapshot stays the latest. ``only_if``: a condition the
    snapshot must still meet once locked (still silent)."""
    with transaction.atomic():
        snapshot = (
            Snapshot.objects.select_for_update()
            .filter(only_if or Q(), pk=snapshot_id, status=Snapshot.Status.RUNNING)
            .first()
        )
        if snapshot is None:
            return
        ScopedEstimate.objects.filter(scope__snapshot=snapshot).delete()
        SnapshotScope.objects.filter(snapshot=snapshot).delete()
        Estimate.objects.filter(snapshot=snapshot).delete()
        snapshot.status = Snapshot.Status.FAILED
        snapshot.finished_at = timezone.now()
        snapshot.message = message[:2000]
        snapshot.save(update_fields=["status", "finished_at", "message"])


def piece_plan(*, today: date) -> list[dict]:
    """The run's pieces: each organisation window alone, and the teams packed into the rest.

    Weights are rough costs counted in tasks: a slice's tasks plus ``SLICE_COST_TASKS`` per
    ``estimate_all`` call. Teams go, heaviest first, to the lightest piece so far. Pieces are
    listed heaviest first: queued in that order, the longest starts first. Each piece's
    "share" is its part of the progress bar.
    """
    by_team = Task.objects.order_by().values("team_id").annotate(n=Count("id"))
    counts = dict(by_team.values_list("team_id", "n"))
    org_counts = _org_window_counts(today)
    # A window holding every task (or none) goes with the organisation's all-time slice: its
    # figures are the all-time result, computed once (``scope_plan``'s rule).
    joined = [
        w for w in SCOPE_WINDOWS["org"] if org_counts[w] in (0, org_counts["all"]) or w == "all"
    ]
    # The all-time slice has the most rows (every task type, tool and month): three times the
    # cost of a window of as many tasks, measured at 1,000,000 tasks (~3 s against ~1.2 s).
    units = [({"org": joined}, SLICE_COST_TASKS + 3 * org_counts["all"])] + [
        ({"org": [w]}, SLICE_COST_TASKS + org_counts[w])
        for w in SCOPE_WINDOWS["org"]
        if w not in joined
    ]
    team_units = sorted(
        ((team_id, 4 * SLICE_COST_TASKS + 2 * n) for team_id, n in counts.items()),
        key=lambda unit: (-unit[1], unit[0]),
    )
    if team_units:
        bins = [[0, []] for _ in range(max(1, settings.ESTIMATES_REFRESH_PIECES - len(units)))]
        for team_id, weight in team_units:
            lightest = min(bins, key=lambda b: b[0])
            lightest[0] += weight
            lightest[1].append(team_id)
        units += [({"teams": sorted(ids)}, weight) for weight, ids in bins if ids]
    units.sort(key=lambda unit: -unit[1])
    total = sum(weight for _, weight in units)
    return [
        {**piece, "share": PROGRESS_STEPS * weight / total, "weight": weight}
        for piece, weight in units
    ]


def _org_window_counts(today: date) -> dict[str, int]:
    """Tasks in each organisation window: those that got their arm from the start of its first
    month to the end of the current one, in the configured time zone (``scope_plan``'s cut)."""
    assigned = Coalesce("randomized_at", Least("created_at", "started_at"))
    year, month = today.year + today.month // 12, today.month % 12 + 1
    end = _month_start(f"{year:04d}-{month:02d}")  # the next month's first moment
    counts = {"all": Count("id")}
    for window in SCOPE_WINDOWS["org"]:
        if WINDOW_MONTHS[window]:
            since = _month_start(window_months(WINDOW_MONTHS[window], today=today)[0])
            counts[window] = Count("id", filter=Q(assigned_at__gte=since, assigned_at__lt=end))
    return Task.objects.order_by().annotate(assigned_at=assigned).aggregate(**counts)


def _month_start(month: str) -> datetime:
    """The first moment of a month ("YYYY-MM") in the configured time zone."""
    start = datetime(int(month[:4]), int(month[5:]), 1)
    return timezone.make_aware(start, timezone.get_default_timezone())


def _window_start(window: str, today: date) -> datetime:
    """A moment a day before the window's first month starts: the SQL filter of the window's
    piece, with a margin (the exact cut by month is ``scope_plan``'s)."""
    first = window_months(WINDOW_MONTHS[window], today=today)[0]
    return _month_start(first) - timedelta(days=1)


def refresh_piece(snapshot_id: int, index: int, *, tasks=None, watermark=None):
    """Compute one piece of a running snapshot and commit its rows; the piece that completes
    the set publishes the snapshot in the same transaction.

    Skips a piece already committed (a job delivered twice) or of a run that failed. A failure
    marks the whole run failed (``refresh_fail``) and is raised. ``tasks`` (with ``watermark``:
    task count, latest change) is the whole table when the caller has read it already;
    otherwise the piece reads only the tasks it needs.
    """
    snapshot = Snapshot.objects.filter(pk=snapshot_id).first()
    if (
        snapshot is None
        or snapshot.status != Snapshot.Status.RUNNING
        or index in snapshot.pieces_done
    ):
        return None
    try:
        return _piece_run(snapshot, index, tasks, watermark)
    except BaseException as error:
        refresh_fail(snapshot_id, f"{type(error).__name__}: {error}")
        raise


def _compute(snapshot: Snapshot) -> None:
    """Every piece of ``snapshot``, in this process, on one read of the tasks."""
    try:
        tasks, n_tasks, changed_at = estimate_input()
    except BaseException as error:
        refresh_fail(snapshot.pk, f"{type(error).__name__}: {error}")
        raise
    for index in range(len(snapshot.pieces)):
        refresh_piece(snapshot.pk, index, tasks=tasks, watermark=(n_tasks, changed_at))


def _piece_run(snapshot: Snapshot, index: int, tasks, watermark) -> Snapshot | None:
    piece = snapshot.pieces[index]
    windows, team_ids = tuple(piece.get("org", ())), piece.get("teams", [])
    today = timezone.localdate(snapshot.started_at)
    _heartbeat(snapshot.pk, 0)
    if tasks is None:
        if "all" in windows:
            tasks, *watermark = estimate_input()
        elif windows:
            tasks, *watermark = estimate_input(assigned_since=_window_start(windows[0], today))
        else:
            tasks, *watermark = estimate_input(team_ids=team_ids)
    teams = dict(Team.objects.filter(id__in=team_ids).values_list("name", "id"))
    if team_ids:
        tasks = tasks[tasks["team"].isin(list(teams))]
    plan = scope_plan(tasks, team_ids=teams, today=today, org_windows=windows)
    reused = _scope_rows_to_reuse(plan)
    whole = any(item["tasks"] is None for item in plan)
    # Progress counts this piece's estimate_all calls, each split by its own (done, total).
    calls = int(whole) + sum(
        1
        for i, item in enumerate(plan)
        if item["tasks"] is not None and item["same_as"] is None and i not in reused
    )
    share = piece["share"]
    calls_done, written, last_write = 0, 0, time.monotonic()

    def progress(done: int, total: int) -> None:
        nonlocal written, last_write
        now = time.monotonic()
        if now - last_write >= PROGRESS_INTERVAL:
            finished = (calls_done + (done / total if total else 1.0)) / max(calls, 1)
            step = max(0, int(share * finished) - written)
            _heartbeat(snapshot.pk, step)
            written, last_write = written + step, now

    # Slices overlap (a team's overall row is its own overall row in each of its date ranges
    # that hold the same tasks, and so are most month rows): each row's tasks are estimated
    # once per piece.
    cache = RowCache()
    result = None
    if whole:
        result = estimate_all(tasks, progress=progress, cache=cache)
        calls_done += 1
    scoped = []
    results: dict[int, dict] = {}
    for position, item in enumerate(plan):
        if item["tasks"] is None:  # the organisation over all time: the result above
            scope_result = result
        elif position in reused:  # same input as in the previous snapshot: same numbers
            scope_result = reused[position]
        elif item["same_as"] is not None:  # a team window holding all the team's tasks
            scope_result = results[item["same_as"]]
        else:
            scope_result = estimate_all(item["tasks"], progress=progress, cache=cache)
            calls_done += 1
        results[position] = scope_result
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
        # The snapshot's row lock orders the pieces' commits: exactly one sees the set complete.
        locked = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        if locked.status != Snapshot.Status.RUNNING or index in locked.pieces_done:
            return None
        if result is not None:
            Estimate.insert_all(Estimate.from_rows(result["estimates"], snapshot=locked))
            locked.method, locked.lab = result["method"], result["lab"]
            locked.n_tasks, locked.data_changed_at = watermark
        SnapshotScope.objects.bulk_create([scope for scope, _ in scoped])
        ScopedEstimate.insert_all(
            [row for scope, rows in scoped for row in ScopedEstimate.from_rows(rows, scope=scope)]
        )
        locked.pieces_done = [*locked.pieces_done, index]
        locked.progress_done = min(
            locked.progress_done + max(0, round(share) - written), PROGRESS_STEPS - 1
        )
        locked.heartbeat_at = timezone.now()
        if len(locked.pieces_done) == len(locked.pieces):
            locked.status = Snapshot.Status.SUCCEEDED
            locked.finished_at = timezone.now()
            locked.duration_seconds = (locked.finished_at - locked.started_at).total_seconds()
            locked.scope_windows = {kind: list(ws) for kind, ws in SCOPE_WINDOWS.items()}
            locked.progress_done = PROGRESS_STEPS
        locked.save()
    return locked


def _heartbeat(snapshot_id: int, progress_step: int) -> None:
    """A sign of life of a running snapshot, with ``progress_step`` more steps of progress
    (never 100% before it succeeds)."""
    Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.RUNNING).update(
        heartbeat_at=timezone.now(),
        progress_done=Least(F("progress_done") + progress_step, PROGRESS_STEPS - 1),
    )


def window_months(n_months: int, *, today: date | None = None) -> list[str]:
    """The N calendar months ("YYYY-MM") ending with the current one, in the configured zone."""
    return calendar_months(n_months, today or timezone.localdate())


def scope_plan(
    tasks: pd.DataFrame,
    *,
    team_ids: dict[str, int],
    today: date | None = None,
    org_windows: tuple[str, ...] = SCOPE_WINDOWS["org"],
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

    A piece of a refresh plans only its own slices: the organisation's ``org_windows`` and the
    teams of ``team_ids`` found in ``tasks``. Without "all" in ``org_windows`` no window's
    ``tasks`` is None (there is no all-time result in that piece to stand for it).
    """
    today = today or timezone.localdate()  # one month for every window of the refresh
    row_hashes = _row_hashes(tasks) if team_ids else None
    plan = []
    windows = {SnapshotScope.Kind.ORG: org_windows, SnapshotScope.Kind.TEAM: SCOPE_WINDOWS["team"]}
    teams = [(SnapshotScope.Kind.ORG, None, "Organisation", tasks)] + [
        (SnapshotScope.Kind.TEAM, team_ids[name], name, subset)
        for name, subset in tasks.groupby("team", sort=True, observed=True)
        # A team renamed since the input was read is left out: the next refresh shows it.
        if name in team_ids
    ]
    for kind, team_id, label, subset in teams:
        all_time = None  # the position of this scope's all-time item in the plan
        for window in windows[kind]:
            n_months = WINDOW_MONTHS[window]
            covered = window_months(n_months, today=today) if n_months else []
            if n_months:
                subset_in_window = subset[subset[ASSIGNED_MONTH].isin(covered)]
                if subset_in_window.empty:
                    continue
            else:
                subset_in_window = subset
            whole = (
                kind == SnapshotScope.Kind.ORG
                and "all" in org_windows
                and len(subset_in_window) == len(tasks)
            )
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
    team_ids = {item["team_id"] for item in plan if item["input_hash"]}
    if not team_ids:
        return {}
    earlier = {
        (scope.team_id, scope.window, scope.input_hash): scope
        for scope in SnapshotScope.objects.filter(snapshot=previous, team_id__in=team_ids)
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
