"""Celery entry points for the estimates: each only calls a service.

Web processes import this module to queue a refresh, so the refresh itself (``compute``, with
numpy, pandas and the statistics) is imported inside the tasks, where only the worker runs them.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from uplift.estimates.lock import RefreshBusy
from uplift.estimates.models import Snapshot
from uplift.estimates.selectors import refresh_wait_seconds

# Retry while another refresh holds the lock, for up to about ten minutes.
BUSY_RETRY_SECONDS = 5
BUSY_RETRIES = 120


@shared_task(
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def estimates_refresh_task(self) -> int | None:
    """Start the queued refresh (a no-op if an earlier run already covered it): queue its
    pieces, which any worker computes (``estimates_refresh_piece``).

    While tasks are still changing it waits for the burst to end, so the burst shares one run.
    """
    wait = refresh_wait_seconds()
    if wait > 0:
        estimates_refresh_task.apply_async(countdown=wait)
        return None
    from uplift.estimates.compute import refresh_dispatch

    try:
        snapshot = refresh_dispatch(only_if_pending=True)
    except RefreshBusy as busy:
        raise self.retry(exc=busy, countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_RETRIES) from None
    return snapshot.pk if snapshot else None


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=6)
def estimates_refresh_scheduled() -> int | None:
    """The nightly full refresh, whatever is queued."""
    from uplift.estimates.compute import refresh_dispatch

    try:
        snapshot = refresh_dispatch(trigger=Snapshot.Trigger.SCHEDULE)
    except RefreshBusy:
        return None  # a refresh is running right now: it is as fresh as this one would be
    return snapshot.pk


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, max_retries=3)
def estimates_refresh_catch_up() -> int | None:
    """Run a refresh that was requested but never queued (the broker was down)."""
    from uplift.estimates.compute import refresh_dispatch

    try:
        snapshot = refresh_dispatch(only_if_pending=True)
    except RefreshBusy:
        return None
    return snapshot.pk if snapshot else None


@shared_task
def estimates_refresh_piece(snapshot_id: int, index: int) -> int | None:
    """Compute one piece of a running refresh; the last piece to finish publishes the snapshot.

    Not retried: a failing piece fails the run (the previous snapshot stays the latest) and the
    next change or the nightly run starts a new one. A piece whose worker died is delivered
    again (late acknowledgement); if none comes, the next run finds the snapshot silent and
    marks it interrupted.
    """
    from uplift.estimates.compute import refresh_piece

    snapshot = refresh_piece(snapshot_id, index)
    return snapshot.pk if snapshot else None
