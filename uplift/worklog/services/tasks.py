"""Changing, completing and abandoning a task."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from uplift.accounts.models import User
from uplift.worklog.bounds import minutes_problem
from uplift.worklog.models import Task
from uplift.worklog.selectors import CLOSED_STATUSES
from uplift.worklog.services._common import check_minutes
from uplift.worklog.services.refusals import LockedFieldRefusal, audit_record_refusals
from uplift.worklog.services.sessions import (
    sessions_close_running,
    sessions_first_start,
    sessions_minutes,
)
from uplift.worklog.services.tools import ToolUseEntry, tool_use_minutes, tool_use_set
from uplift.worklog.signals import tasks_changed


class TaskLocked(ValidationError):
    """A change to a field that is locked after assignment was refused (and audited)."""


EDITABLE_FIELDS = ("title", "perceived_other_minutes", "abandoned_reason")


def task_update(
    *, task: Task, actor: User | None, changes: dict[str, object], via: str = "web"
) -> Task:
    """Change the unlocked fields of a task; any change of a locked field is refused.

    Each refused field is written to the audit log (before anything else, outside a
    transaction) and ``TaskLocked`` is raised: nothing of the change is applied.
    """
    refusals = [
        LockedFieldRefusal(task=task, field=field, old=getattr(task, field), new=value)
        for field, value in changes.items()
        if field in Task.LOCKED_FIELDS and value != getattr(task, field)
    ]
    if refusals:
        audit_record_refusals(refusals=refusals, actor=actor, via=via)
        raise TaskLocked(
            {r.field: "Locked after assignment: this cannot change." for r in refusals}
        )
    unknown = set(changes) - set(EDITABLE_FIELDS) - set(Task.LOCKED_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    check_minutes(perceived_other_minutes=changes.get("perceived_other_minutes"))
    reason = changes.get("abandoned_reason")
    if task.status == Task.Status.ABANDONED and reason is not None and not str(reason).strip():
        raise ValidationError({"abandoned_reason": "Say why the task was abandoned."})

    changed = [f for f in EDITABLE_FIELDS if f in changes and changes[f] != getattr(task, f)]
    if not changed:
        return task
    for field in changed:
        setattr(task, field, changes[field])
    with transaction.atomic():
        try:
            task.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as error:
            raise ValidationError(str(error)) from error
        tasks_changed.send(sender=Task)
    return task


def task_complete(
    *,
    task: Task,
    actual_minutes: float | None = None,
    perceived_other_minutes: float | None = None,
    completed_at=None,
    confirm_long: bool = False,
    tool_uses: Iterable[ToolUseEntry] | None = None,
) -> Task:
    """Mark a task completed; its actual minutes default to the sum of its work sessions.

    A running timer on the task is stopped first (``LongSession`` if it ran over 16 hours,
    unless ``confirm_long``). Without sessions and without ``actual_minutes`` the task cannot
    be completed (ValidationError).

    ``tool_uses``, when given, replace the AI tools logged on the task in the same transaction
    (as ``tool_use_set`` does, non-compliance included): the tools and the completion are
    saved together or not at all. ``None`` leaves the logged tools as they are.
    """
    if task.status == Task.Status.ABANDONED:
        raise ValidationError("An abandoned task cannot be completed.")
    tool_uses = None if tool_uses is None else list(tool_uses)
    check_minutes(
        actual_minutes=actual_minutes,
        perceived_other_minutes=perceived_other_minutes,
        **tool_use_minutes(uses=tool_uses or []),
    )
    now = timezone.now()
    with transaction.atomic():
        if tool_uses is not None:
            tool_use_set(task=task, uses=tool_uses)
        sessions_close_running(task=task, at=now, confirm_long=confirm_long)
        if actual_minutes is None:
            actual_minutes = sessions_minutes(task=task) or None
            if actual_minutes is None:
                raise ValidationError(
                    {"actual_minutes": "No time logged: enter how many minutes it took."}
                )
            if minutes_problem(actual_minutes):
                raise ValidationError(
                    {
                        "actual_minutes": f"{actual_minutes:,.0f} minutes logged: correct the "
                        "sessions, or enter how many minutes it took."
                    }
                )
        task.status = Task.Status.COMPLETED
        task.actual_minutes = actual_minutes
        task.perceived_other_minutes = perceived_other_minutes
        task.completed_at = completed_at or now
        fields = ["status", "actual_minutes", "perceived_other_minutes", "completed_at"]
        if task.started_at is None or task.started_at > task.completed_at:
            task.started_at = min(
                sessions_first_start(task=task) or task.completed_at, task.completed_at
            )
            fields.append("started_at")
        task.save(update_fields=[*fields, "updated_at"])
        tasks_changed.send(sender=Task)
    return task


def task_abandon(*, task: Task, reason: str, confirm_long: bool = False) -> Task:
    """Abandon a task, keeping it (and its assignment) with the reason given.

    A running timer on the task is stopped, as by ``task_complete``.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the task is abandoned."})
    if task.status in CLOSED_STATUSES:
        raise ValidationError(f"This task is already {task.get_status_display().lower()}.")
    with transaction.atomic():
        sessions_close_running(task=task, at=timezone.now(), confirm_long=confirm_long)
        task.status = Task.Status.ABANDONED
        task.abandoned_reason = reason
        task.save(update_fields=["status", "abandoned_reason", "updated_at"])
        tasks_changed.send(sender=Task)
    return task
