"""The timer and work sessions: one running timer per researcher, no overlaps; sessions
corrected, moved to another task or deleted."""

from collections.abc import Iterable
from datetime import UTC, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from uplift import dates
from uplift.accounts.models import User
from uplift.worklog.bounds import MAX_MINUTES, MIN_MINUTES, moment_problem
from uplift.worklog.models import AuditEntry, Task, WorkSession
from uplift.worklog.selectors import OPEN_STATUSES, user_lock, work_session_running_locked
from uplift.worklog.signals import tasks_changed

# A session longer than this is more likely a forgotten timer than work: it needs confirmation.
LONG_SESSION = timedelta(hours=16)
# The audit log's field for sessions deleted, or moved to another task.
SESSION_AUDIT_FIELD = "work_session"


class LongSession(ValidationError):
    """The session is over 16 hours; repeat with ``confirm_long=True`` if it is right.

    ``session`` is the running session that would have been ended, when there is one: the
    pages offer to correct its end.
    """

    session: WorkSession | None = None


def _running_end(*, session: WorkSession, at, confirm_long: bool) -> None:
    """End a running session at ``at``: every path that stops a timer comes through here.

    A timer that ran over 16 hours was probably forgotten: it is not ended unless confirmed,
    so that its end can be corrected instead (``work_session_update``).
    """
    if at - session.started_at > LONG_SESSION and not confirm_long:
        error = LongSession(
            {
                "confirm_long": f"The timer on “{session.task}” has run for over 16 hours: "
                "was it forgotten? Correct the end of that session, or confirm it."
            }
        )
        error.session = session
        raise error
    _session_end(session=session, at=at)


def work_session_start(*, task: Task, confirm_long: bool = False) -> WorkSession:
    """Start the timer on a task; a timer running on another task of the owner is stopped.

    One running timer per researcher (the database refuses a second). Starting the task
    that is already running returns its session unchanged, also when two starts arrive at
    once (a double click, two tabs): they are taken one after the other. Stopping a timer
    on another task that ran over 16 hours needs ``confirm_long`` (``LongSession``).
    """
    if task.status not in OPEN_STATUSES:
        raise ValidationError(f"This task is {task.get_status_display().lower()}.")
    with transaction.atomic():
        # One start at a time per researcher: the second sees the first's session.
        user_lock(user_id=task.owner_id)
        now = timezone.now()
        running = work_session_running_locked(owner_id=task.owner_id)
        if running is not None and running.task_id == task.pk:
            return running
        if running is not None:
            _running_end(session=running, at=now, confirm_long=confirm_long)
        try:
            with transaction.atomic():
                session = WorkSession.objects.create(
                    task=task, owner_id=task.owner_id, started_at=now
                )
        except IntegrityError as error:
            raise ValidationError("A work session already covers this time.") from error
        if task.status == Task.Status.PLANNED or task.started_at is None:
            task.status = Task.Status.IN_PROGRESS
            task.started_at = task.started_at or now
            task.save(update_fields=["status", "started_at", "updated_at"])
            tasks_changed.send(sender=Task)
    return session


def work_session_stop(*, owner: User, confirm_long: bool = False) -> WorkSession | None:
    """Stop (pause) the owner's running timer now; None if no timer runs.

    Over 16 hours it is not stopped unless confirmed (``LongSession``).
    """
    with transaction.atomic():
        # Taken one after the other with starts (``work_session_start``).
        user_lock(user_id=owner.pk)
        now = timezone.now()
        session = work_session_running_locked(owner_id=owner.pk)
        if session is None:
            return None
        _running_end(session=session, at=now, confirm_long=confirm_long)
    return session


def work_session_add(
    *, task: Task, started_at, ended_at, confirm_long: bool = False
) -> WorkSession:
    """Add a finished work session by hand (for a forgotten timer).

    Refused: an end before the start or in the future, an overlap with another session of
    the researcher, and over 16 hours unless ``confirm_long``.
    """
    work_session_check(
        owner_id=task.owner_id,
        started_at=started_at,
        ended_at=ended_at,
        confirm_long=confirm_long,
    )
    with transaction.atomic():
        session = WorkSession(
            task=task, owner_id=task.owner_id, started_at=started_at, ended_at=ended_at
        )
        _session_save(session)
        _task_after_session_change(task=task)
    return session


def work_session_update(
    *,
    session: WorkSession,
    started_at,
    ended_at,
    confirm_long: bool = False,
    task: Task | None = None,
    actor: User | None = None,
    via: str = "web",
) -> WorkSession:
    """Correct a work session's times (same rules as ``work_session_add``), and move it to
    ``task`` when given (``work_session_move_problem``; the move is audited).

    Giving a running session an end stops it at that time. The actual minutes of a completed
    task come from its sessions: those of both tasks follow the move.
    """
    source = session.task
    target = task if task is not None and task.pk != source.pk else None
    if target is not None:
        problem = work_session_move_problem(session=session, task=target)
        if problem:
            raise ValidationError({"task": problem})
    work_session_check(
        owner_id=session.owner_id,
        started_at=started_at,
        ended_at=ended_at,
        confirm_long=confirm_long,
        exclude_ids=[session.pk],
    )
    with transaction.atomic():
        before = _session_text(session)
        session.started_at, session.ended_at = started_at, ended_at
        if target is not None:
            session.task = target
        _session_save(session)
        if target is not None:
            _task_after_session_change(task=target)
            AuditEntry.objects.create(
                actor=actor,
                task=source,
                action=AuditEntry.Action.CHANGED,
                field=SESSION_AUDIT_FIELD,
                old_value=f"task {source.pk}",
                new_value=f"task {target.pk}",
                via=via,
                detail=f"Moved work session {session.pk} ({before}) to task {target.pk} "
                f"“{target}”.",
            )
        _task_after_session_change(task=source)
    return session


def work_session_move_problem(*, session: WorkSession, task: Task) -> str | None:
    """Why ``session`` cannot move to ``task``, or None if it can.

    Only to another task of the session's researcher, one that is open or completed with its
    actual time taken from its sessions (a time typed in by hand would be overwritten), and
    never the last session of a completed task (its actual time would have nothing left).
    """
    if task.owner_id != session.owner_id:
        return "A session can only move to one of your own tasks."
    if task.status == Task.Status.ABANDONED:
        return f"“{task}” is abandoned: time is no longer logged on it."
    if task.status == Task.Status.COMPLETED and not _has_finished_sessions(task):
        return (
            f"“{task}” was completed with a time typed in, not timed: a session moved there "
            "would replace that time."
        )
    if session.task.status == Task.Status.COMPLETED and _last_finished_session(session):
        return (
            f"This is the only session of completed “{session.task}”, whose actual time comes "
            "from it: correct its times instead."
        )
    return None


def work_session_delete(*, session: WorkSession, actor: User | None, via: str = "web") -> None:
    """Delete a work session (a running one too), and record it in the audit log.

    The last session of a completed task is kept: the task's actual time comes from it.
    A completed task's actual minutes follow its remaining sessions.
    """
    task = session.task
    if task.status == Task.Status.COMPLETED and _last_finished_session(session):
        raise ValidationError(
            f"This is the only session of completed “{task}”, whose actual time comes from "
            "it: correct its times instead."
        )
    with transaction.atomic():
        AuditEntry.objects.create(
            actor=actor,
            task=task,
            action=AuditEntry.Action.CHANGED,
            field=SESSION_AUDIT_FIELD,
            old_value=_session_text(session),
            new_value="",
            via=via,
            detail=f"Deleted work session {session.pk}.",
        )
        session.delete()
        _task_after_session_change(task=task)


def _session_text(session: WorkSession) -> str:
    """A session as the audit log shows it: its start, end and minutes, in UTC."""
    start = session.started_at.astimezone(UTC).isoformat(timespec="seconds")
    if session.ended_at is None:
        return f"{start} to running"
    end = session.ended_at.astimezone(UTC).isoformat(timespec="seconds")
    return f"{start} to {end} ({round(session.minutes, 1):g} min)"


def _has_finished_sessions(task: Task) -> bool:
    return WorkSession.objects.filter(task=task, ended_at__isnull=False).exists()


def _last_finished_session(session: WorkSession) -> bool:
    """Whether ``session`` is the only finished session of its task."""
    others = WorkSession.objects.filter(task_id=session.task_id, ended_at__isnull=False)
    return session.ended_at is not None and not others.exclude(pk=session.pk).exists()


def work_session_check(
    *, owner_id: int, started_at, ended_at, confirm_long: bool, exclude_ids: Iterable[int] = ()
) -> None:
    """The rules of a finished session (ValidationError): both ends, the end after the start
    and not in the future, no overlap with the researcher's other sessions (but those of
    ``exclude_ids``), and over 16 hours only if ``confirm_long`` (``LongSession``)."""
    now = timezone.now()
    if started_at is None or ended_at is None:
        raise ValidationError({"ended_at": "Give both the start and the end."})
    for field, moment in (("started_at", started_at), ("ended_at", ended_at)):
        problem = moment_problem(moment, now=now)
        if problem:
            raise ValidationError({field: f"The date {problem}."})
    if ended_at <= started_at:
        raise ValidationError({"ended_at": "The end must be after the start."})
    if ended_at > now:
        raise ValidationError({"ended_at": "The end cannot be in the future."})
    overlapping = (
        WorkSession.objects.filter(owner_id=owner_id, started_at__lt=ended_at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=started_at))
        .exclude(pk__in=[pk for pk in exclude_ids if pk is not None])
        .select_related("task")
        .first()
    )
    if overlapping is not None:
        end = dates.local_time(overlapping.ended_at) if overlapping.ended_at else "now (running)"
        raise ValidationError(
            {
                "started_at": f"Overlaps your session on “{overlapping.task}” from "
                f"{dates.local_datetime(overlapping.started_at)} to {end}."
            }
        )
    if (ended_at - started_at).total_seconds() / 60 > MAX_MINUTES:
        raise ValidationError({"ended_at": f"A session lasts at most {MAX_MINUTES:,} minutes."})
    if ended_at - started_at > LONG_SESSION and not confirm_long:
        raise LongSession(
            {"confirm_long": "This session is over 16 hours: tick to confirm it is right."}
        )


def _session_save(session: WorkSession) -> None:
    # The exclusion constraint is the last word when two requests race past the check above.
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as error:
        raise ValidationError({"started_at": "Overlaps another work session."}) from error


def _session_end(*, session: WorkSession, at) -> None:
    # The end must come strictly after the start, even for a stop in the same instant.
    session.ended_at = max(at, session.started_at + timedelta(microseconds=1))
    session.save(update_fields=["ended_at"])


# The task's own sessions, for completing and abandoning it (``services.tasks``) as well.


def sessions_close_running(*, task: Task, at, confirm_long: bool) -> None:
    """End the task's running timer, if any, at ``at`` (``LongSession`` over 16 hours)."""
    running = WorkSession.objects.select_for_update().filter(task=task, ended_at__isnull=True)
    for session in running.select_related("task"):
        _running_end(session=session, at=at, confirm_long=confirm_long)


def sessions_minutes(*, task: Task) -> float:
    """The minutes of the task's finished sessions; 0 without any, and otherwise at least
    MIN_MINUTES, the smallest time Uplift records (a timer stopped after 2 seconds is 0.1)."""
    total = WorkSession.objects.filter(task=task, ended_at__isnull=False).aggregate(
        total=Sum(F("ended_at") - F("started_at"))
    )["total"]
    return max(total.total_seconds() / 60, MIN_MINUTES) if total else 0.0


def sessions_first_start(*, task: Task):
    """When the task's first session started; None without sessions."""
    return task.sessions.order_by("started_at").values_list("started_at", flat=True).first()


def _task_after_session_change(*, task: Task) -> None:
    """Keep the task's status and actual minutes in step with its sessions."""
    if task.status == Task.Status.PLANNED:
        task.status = Task.Status.IN_PROGRESS
        task.started_at = sessions_first_start(task=task)
        task.save(update_fields=["status", "started_at", "updated_at"])
    elif task.status == Task.Status.COMPLETED:
        minutes = sessions_minutes(task=task)
        if minutes > MAX_MINUTES:
            raise ValidationError(
                {"ended_at": f"The task's sessions would then total {minutes:g} minutes."}
            )
        if minutes > 0:
            task.actual_minutes = minutes
            task.save(update_fields=["actual_minutes", "updated_at"])
            tasks_changed.send(sender=Task)
