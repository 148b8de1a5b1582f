"""Writes of the estimates: requesting a refresh and running one."""

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from uplift.estimates.lock import refresh_lock
from uplift.estimates.models import Estimate, Snapshot
from uplift.estimates.selectors import estimate_input
from uplift.estimates.stats import METHOD_VERSION, estimate_all

logger = logging.getLogger(__name__)
# Progress is written at most this often (seconds): enough for a progress bar.
PROGRESS_INTERVAL = 0.5


class RefreshBusy(Exception):
    """Another refresh holds the lock; this one should run again shortly."""


def snapshot_request(*, trigger: str = Snapshot.Trigger.CHANGE) -> tuple[Snapshot, bool]:
    """The queued snapshot, created if none is queued. Returns (snapshot, created).

    A burst of changes joins one queued run: only the request that created it enqueues a job.
    """
    try:
        with transaction.atomic():
            return Snapshot.objects.create(status=Snapshot.Status.PENDING, trigger=trigger), True
    except IntegrityError:
        pending = Snapshot.objects.filter(status=Snapshot.Status.PENDING).first()
        if pending is None:  # it started running in between: queue another
            return snapshot_request(trigger=trigger)
        return pending, False


def estimates_refresh_queue(*, trigger: str = Snapshot.Trigger.CHANGE) -> Snapshot:
    """Ask for a refresh after the current transaction commits; bursts coalesce into one run.

    If the broker cannot be reached the request stays queued in the database, and the
    scheduled catch-up runs it once the broker is back.
    """
    from uplift.estimates.tasks import estimates_refresh_task

    snapshot, created = snapshot_request(trigger=trigger)
    if created:
        try:
            # The delay lets a burst of changes join this run instead of queuing another.
            estimates_refresh_task.apply_async(countdown=settings.ESTIMATES_REFRESH_DELAY)
        except Exception:  # the broker is down: the scheduled catch-up will run it
            logger.warning(
                "Could not queue estimates refresh %s; it will be caught up", snapshot.pk
            )
    return snapshot


def estimates_refresh_on_commit() -> None:
    """Queue a refresh once the surrounding transaction has committed."""
    transaction.on_commit(estimates_refresh_queue)


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

    def progress(done: int, total: int) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write >= PROGRESS_INTERVAL or done == total:
            last_write = now
            Snapshot.objects.filter(pk=snapshot.pk).update(progress_done=done, progress_total=total)

    tasks, n_tasks, changed_at = estimate_input()
    result = estimate_all(tasks, progress=progress)
    estimates = [
        Estimate(
            snapshot=snapshot,
            position=position,
            dimension=row["dimension"],
            group=row["group"] or "",
            status=row["status"],
            n_tasks=row["n_tasks"],
            time_change=row["time_change"],
            ci_low=row["ci_low"],
            ci_high=row["ci_high"],
            data=row,
        )
        for position, row in enumerate(result["estimates"])
    ]
    with transaction.atomic():
        Estimate.objects.bulk_create(estimates, batch_size=500)
        snapshot.status = Snapshot.Status.SUCCEEDED
        snapshot.finished_at = timezone.now()
        snapshot.duration_seconds = time.monotonic() - started
        snapshot.n_tasks = n_tasks
        snapshot.data_changed_at = changed_at
        snapshot.method = result["method"]
        snapshot.lab = result["lab"]
        snapshot.progress_done = snapshot.progress_total = len(estimates) + 1
        snapshot.save()
