"""Writes of the estimates that requests make: asking for a refresh.

No numpy or pandas here: every web process imports this module. The refresh itself runs in
the Celery worker (``compute``).
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from uplift.estimates.models import Snapshot
from uplift.fixed_sql import fetch_one

logger = logging.getLogger(__name__)


def snapshot_request(*, trigger: str = Snapshot.Trigger.CHANGE) -> tuple[Snapshot, bool]:
    """The queued snapshot, created if none is queued. Returns (snapshot, created).

    A burst of changes joins one queued run: only the request that created it enqueues a job.
    In a busy lab one is nearly always queued: it is read first (one query), before trying
    to create one (a transaction, an insert refused by the unique index, a rollback).
    """
    pending = Snapshot.objects.filter(status=Snapshot.Status.PENDING).first()
    if pending is not None:
        return pending, False
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
    transaction.on_commit(estimates_refresh_queue_unless_queued)


# One row is enough to know (uplift/fixed_sql.py): reading the queued snapshot whole through the
# ORM cost more than the rest of a timer start.
_PENDING_SQL = f'SELECT 1 FROM "{Snapshot._meta.db_table}" WHERE "status" = %s LIMIT 1'


def estimates_refresh_queue_unless_queued() -> None:
    """``estimates_refresh_queue``, unless a refresh is queued already: that run starts after
    this change committed, so it reads it. Every logging post ends here, and in a busy lab a
    refresh is nearly always queued."""
    row, _ = fetch_one(_PENDING_SQL, [Snapshot.Status.PENDING])
    if row is None:
        estimates_refresh_queue()


def estimates_refresh_on_tasks_changed(sender, **kwargs) -> None:
    """Receiver of the worklog's ``tasks_changed``: queue a refresh once the change commits."""
    estimates_refresh_on_commit()
