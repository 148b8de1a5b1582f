"""Reads of the estimates for pages, the API and the job: snapshots and the refresh queue.

Plain ORM reads, with no numpy or pandas: every web process imports this module. The refresh's
own input table is read by ``compute_input``, in the worker only.
"""

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from uplift.estimates.models import Estimate, ScopedEstimate, Snapshot, SnapshotScope
from uplift.worklog.models import Task


def refresh_wait_seconds() -> float:
    """How long a queued refresh should still wait for a burst of changes to end.

    Zero once no task has changed for ``ESTIMATES_REFRESH_DELAY`` seconds, or once the queued
    run has waited ``ESTIMATES_REFRESH_MAX_WAIT`` (a steady stream of changes still refreshes).
    """
    pending = Snapshot.objects.filter(status=Snapshot.Status.PENDING).first()
    if pending is None:
        return 0.0
    now = timezone.now()
    if (now - pending.requested_at).total_seconds() >= settings.ESTIMATES_REFRESH_MAX_WAIT:
        return 0.0
    changed_at = Task.objects.aggregate(latest=Max("updated_at"))["latest"]
    if changed_at is None:
        return 0.0
    quiet_for = (now - changed_at).total_seconds()
    return max(0.0, settings.ESTIMATES_REFRESH_DELAY - quiet_for)


def snapshot_latest() -> Snapshot | None:
    """The latest succeeded snapshot: what every page and the API show."""
    return (
        Snapshot.objects.filter(status=Snapshot.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def estimate_list(*, snapshot: Snapshot, dimension: str | None = None) -> list[Estimate]:
    estimates = Estimate.objects.filter(snapshot=snapshot)
    if dimension is not None:
        estimates = estimates.filter(dimension=dimension)
    return list(estimates.order_by("position"))


def snapshot_as_json(*, snapshot: Snapshot) -> dict:
    """The snapshot in the shape of ``show_estimates --json`` and the API."""
    return {
        "snapshot": {
            "id": snapshot.pk,
            "computed_at": snapshot.finished_at.isoformat() if snapshot.finished_at else None,
            "method_version": snapshot.method_version,
            "n_tasks": snapshot.n_tasks,
            "duration_seconds": snapshot.duration_seconds,
        },
        "estimates": [estimate.data for estimate in estimate_list(snapshot=snapshot)],
        "lab": snapshot.lab,
    }


def scoped_estimate_list(*, scope: SnapshotScope) -> list[ScopedEstimate]:
    """Every estimate row of one precomputed slice, in the order estimate_all gave them."""
    return list(ScopedEstimate.objects.filter(scope=scope).order_by("position"))


def scoped_estimate_get(
    *, scope: SnapshotScope, dimension: str, group: str = ""
) -> ScopedEstimate | None:
    """One row of a precomputed slice (the overall row has the group ""), or None."""
    return ScopedEstimate.objects.filter(scope=scope, dimension=dimension, group=group).first()


def snapshot_in_progress() -> Snapshot | None:
    """The queued or running refresh, if any: what a page's progress bar follows."""
    return (
        Snapshot.objects.filter(status__in=[Snapshot.Status.PENDING, Snapshot.Status.RUNNING])
        .only("id", "status", "progress_done", "progress_total", "requested_at")
        .order_by("-id")
        .first()
    )


def snapshot_scope_windows(*, snapshot: Snapshot, team_id: int | None) -> list[SnapshotScope]:
    """The windows precomputed for the organisation (``team_id`` None) or one team, with labs."""
    scopes = SnapshotScope.objects.filter(snapshot=snapshot)
    if team_id is None:
        scopes = scopes.filter(kind=SnapshotScope.Kind.ORG)
    else:
        scopes = scopes.filter(kind=SnapshotScope.Kind.TEAM, team_id=team_id)
    order = {window: i for i, window in enumerate(SnapshotScope.Window.values)}
    return sorted(scopes, key=lambda scope: order[scope.window])
