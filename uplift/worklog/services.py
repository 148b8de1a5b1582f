"""Writes to the worklog: every change of tasks goes through these functions."""

import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.estimates.services import estimates_refresh_on_commit
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.selectors import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    PLANNING_ROLES,
    tool_names_by_task,
)
from uplift.worklog.worklog_csv import (
    Problem,
    TaskRecord,
    WorklogFileError,
    format_minutes,
    format_timestamp,
)

IMPORT_SOURCE = "worklog"
# Planned allocation assumed for imported randomized tasks, which carry no allocation of their own.
IMPORTED_ALLOCATION_AI = 0.5
_BATCH = 2000


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def worklog_import(
    *, records: list[TaskRecord], source: str = IMPORT_SOURCE, actor: User | None = None
) -> ImportResult:
    """Import task records whole or not at all; re-importing an id updates that task.

    A change to a locked field of an existing task (forecasts, assignment, condition) refuses the
    whole file, and each refused change is written to the audit log.
    """
    try:
        with transaction.atomic():
            result = _import_records(records=records, source=source)
            if result.created or result.updated:
                estimates_refresh_on_commit()
            return result
    except _LockedFieldsChanged as refused:
        audit_record_refusals(refusals=refused.refusals, actor=actor, via="import")
        raise WorklogFileError([problem for _, problem, _, _ in refused.refusals]) from None


class _LockedFieldsChanged(Exception):
    def __init__(self, refusals):
        self.refusals = refusals


def _import_records(*, records: list[TaskRecord], source: str) -> ImportResult:
    teams = _named(Team, {r.team for r in records})
    task_types = _named(TaskType, {r.task_type for r in records})
    tools = _named(Tool, {name for r in records for name in r.tools})
    researchers = _researchers({r.researcher for r in records})
    _ensure_memberships({(researchers[r.researcher].pk, teams[r.team].pk) for r in records})

    existing = {
        task.external_id: task
        for task in Task.objects.filter(
            source=source, external_id__in=[r.task_id for r in records]
        ).prefetch_related("tool_uses__tool")
    }
    now = timezone.now()
    to_create, to_update, refusals = [], [], []
    unchanged = 0
    for record in records:
        values = {
            "owner": researchers[record.researcher],
            "team": teams[record.team],
            "task_type": task_types[record.task_type],
            "title": record.title,
            "status": record.status,
            "actual_minutes": record.actual_minutes,
            "actual_imputed": record.actual_imputed,
            "started_at": record.started_at,
            "completed_at": record.completed_at,
            "perceived_other_minutes": record.perceived_other_minutes,
        }
        locked = {
            "forecast_no_ai_minutes": record.forecast_no_ai_minutes,
            "forecast_ai_minutes": record.forecast_ai_minutes,
            "assignment": record.assignment,
            "condition": record.condition,
        }
        task = existing.get(record.task_id)
        if task is None:
            randomized = record.assignment == Task.Assignment.RANDOMIZED
            to_create.append(
                Task(
                    source=source,
                    external_id=record.task_id,
                    randomized_at=(record.started_at or record.completed_at or now)
                    if randomized
                    else None,
                    allocation_ai=IMPORTED_ALLOCATION_AI if randomized else None,
                    block="imported" if randomized else "",
                    **locked,
                    **values,
                )
            )
            continue
        for name, value in locked.items():
            if getattr(task, name) != value:
                problem = Problem(
                    record.row,
                    name,
                    f"cannot change after assignment (task {record.task_id} has "
                    f"{_shown(getattr(task, name))}, the file has {_shown(value)})",
                )
                refusals.append((task, problem, getattr(task, name), value))
        changed = [name for name, value in values.items() if getattr(task, name) != value]
        same_tools = sorted(use.tool.name for use in task.tool_uses.all()) == record.tools
        if not changed and same_tools:
            unchanged += 1
            continue
        for name in changed:
            setattr(task, name, values[name])
        to_update.append((task, changed))
    if refusals:
        raise _LockedFieldsChanged(refusals)

    Task.objects.bulk_create(to_create, batch_size=_BATCH)
    for task, changed in to_update:
        if changed:
            task.save(update_fields=[*changed, "updated_at"])
    touched = {task.external_id: task for task in to_create}
    touched.update({task.external_id: task for task, _ in to_update})
    _replace_tool_uses(
        records=[r for r in records if r.task_id in touched], tasks=touched, tools=tools
    )
    return ImportResult(created=len(to_create), updated=len(to_update), unchanged=unchanged)


def _shown(value) -> str:
    return format_minutes(value) if isinstance(value, float) else repr(value)


def _named(model, names: set[str]) -> dict:
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    missing = [model(name=name) for name in sorted(names - found.keys())]
    for obj in missing:
        obj.save()
        found[obj.name] = obj
    return found


def _researchers(emails: set[str]) -> dict[str, User]:
    found = {user.email.lower(): user for user in User.objects.filter(email__in=emails)}
    for email in sorted(emails - found.keys()):
        user = User(username=email[:150], email=email)
        user.set_unusable_password()
        user.save()
        found[email] = user
    return found


def _ensure_memberships(pairs: set[tuple[int, int]]) -> None:
    Membership.objects.bulk_create(
        [
            Membership(user_id=u, team_id=t, role=Membership.Role.RESEARCHER)
            for u, t in sorted(pairs)
        ],
        ignore_conflicts=True,
    )


def _replace_tool_uses(*, records: list[TaskRecord], tasks: dict[str, Task], tools: dict) -> None:
    ToolUse.objects.filter(task__in=[tasks[r.task_id].pk for r in records]).delete()
    ToolUse.objects.bulk_create(
        [ToolUse(task=tasks[r.task_id], tool=tools[name]) for r in records for name in r.tools],
        batch_size=_BATCH,
    )


def audit_record_refusals(*, refusals, actor: User | None, via: str) -> None:
    """Write one audit entry per refused change of a locked field.

    ``refusals`` holds ``(task, problem, old, new)`` tuples; ``problem`` has a ``column`` (the
    field) and reads as the detail. Call it outside any transaction that will be rolled back,
    or the record of the refusal would be rolled back with it.
    """
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                task=task,
                action=AuditEntry.Action.REFUSED,
                field=problem.column,
                old_value=_shown(old),
                new_value=_shown(new),
                via=via,
                detail=str(problem),
            )
            for task, problem, old, new in refusals
        ]
    )


def worklog_task_id(task: Task) -> str:
    """A task's ``task_id`` in the worklog CSV: its external id, or its id here."""
    return task.external_id or str(task.pk)


def worklog_rows(
    *, tasks: QuerySet[Task], task_id: Callable[[Task], str] = worklog_task_id
) -> Iterator[dict[str, str]]:
    """The worklog CSV row of each task, in id order, reading the database in chunks.

    ``task_id`` gives the ``task_id`` cell (the export gives analysts a pseudonym instead).
    """
    tasks = tasks.select_related("owner", "team", "task_type").order_by("id")
    for chunk in _chunks(tasks.iterator(chunk_size=_BATCH), _BATCH):
        tools_of = tool_names_by_task(task_ids=[task.pk for task in chunk])
        for task in chunk:
            yield {
                "task_id": task_id(task),
                "researcher": task.owner.email,
                "team": task.team.name,
                "task_type": task.task_type.name,
                "title": task.title,
                "assignment": task.assignment,
                "condition": task.condition,
                "forecast_no_ai_minutes": format_minutes(task.forecast_no_ai_minutes),
                "forecast_ai_minutes": format_minutes(task.forecast_ai_minutes),
                "status": task.status,
                "actual_minutes": format_minutes(task.actual_minutes),
                "started_at": format_timestamp(task.started_at),
                "completed_at": format_timestamp(task.completed_at),
                "perceived_other_minutes": format_minutes(task.perceived_other_minutes),
                "tools": ";".join(tools_of.get(task.pk, [])),
            }


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Planning and randomization -------------------------------------------------------------

# Unpredictable to anyone, researcher included: drawn from the operating system's entropy.
_random = secrets.SystemRandom()
# Largest permuted block; allocations that need more fall back to a biased coin.
MAX_BLOCK_SIZE = 20
_BLOCK_RE = re.compile(r"^(?P<key>r\d+-t\d+-b(?P<n>\d+)):(?P<pos>\d+)/(?P<size>\d+)$")


class TaskLocked(ValidationError):
    """A change to a field that is locked after assignment was refused (and audited)."""


@dataclass(frozen=True)
class LockedFieldRefusal:
    """Why one change was refused, in the shape ``audit_record_refusals`` records."""

    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}"


def block_base_size(*, allocation_ai: float) -> int | None:
    """The smallest block size holding a whole number of each arm, or None above the cap."""
    for size in range(2, MAX_BLOCK_SIZE + 1):
        n_ai = allocation_ai * size
        if abs(n_ai - round(n_ai)) < 1e-9 and 0 < round(n_ai) < size:
            return size
    return None


def task_plan(
    *,
    owner: User,
    team: Team,
    task_type: TaskType,
    title: str,
    forecast_no_ai_minutes: float,
    forecast_ai_minutes: float,
    uses_ai: bool | None = None,
) -> Task:
    """Create a planned task and assign its condition, once and for all.

    Randomized tasks are drawn from permuted blocks per (researcher, task type) holding exactly
    the team's planned share of "AI allowed"; the block, the draw position, the time and the
    allocation are recorded on the task. If the team or the task type is observational, the
    researcher's statement ``uses_ai`` sets the condition and the task is self-selected.
    """
    errors = {}
    for field, value in (
        ("forecast_no_ai_minutes", forecast_no_ai_minutes),
        ("forecast_ai_minutes", forecast_ai_minutes),
    ):
        if value is None or not value > 0:
            errors[field] = "A forecast must be more than 0 minutes."
    observational = team.observational or task_type.observational
    if observational and uses_ai is None:
        errors["uses_ai"] = "This task is observational: say whether you will use AI."
    if not Membership.objects.filter(user=owner, team=team, role__in=PLANNING_ROLES).exists():
        errors["team"] = "You can only plan tasks in a team where you are a researcher or lead."
    if errors:
        raise ValidationError(errors)

    task = Task(
        owner=owner,
        team=team,
        task_type=task_type,
        title=title.strip(),
        forecast_no_ai_minutes=forecast_no_ai_minutes,
        forecast_ai_minutes=forecast_ai_minutes,
    )
    with transaction.atomic():
        if observational:
            task.assignment = Task.Assignment.SELF_SELECTED
            task.condition = Task.Condition.AI if uses_ai else Task.Condition.NO_AI
        else:
            # One researcher plans one task at a time: the block state read below stays true.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            task.assignment = Task.Assignment.RANDOMIZED
            task.allocation_ai = team.allocation_ai
            task.condition, task.block = _draw(
                owner=owner, task_type=task_type, allocation_ai=team.allocation_ai
            )
            task.randomized_at = timezone.now()
        task.save()
    return task


def _draw(*, owner: User, task_type: TaskType, allocation_ai: float) -> tuple[str, str]:
    """The next condition of the (researcher, task type) stratum and its block label."""
    base = block_base_size(allocation_ai=allocation_ai)
    stratum = f"r{owner.pk}-t{task_type.pk}"
    if base is None:
        ai = _random.random() < allocation_ai
        return (Task.Condition.AI if ai else Task.Condition.NO_AI), f"{stratum}-coin"

    last = (
        Task.objects.filter(
            owner=owner,
            task_type=task_type,
            assignment=Task.Assignment.RANDOMIZED,
            block__startswith=f"{stratum}-b",
        )
        .order_by("-randomized_at", "-id")
        .values_list("block", "allocation_ai")
        .first()
    )
    match = _BLOCK_RE.match(last[0]) if last else None
    if match and int(match["pos"]) < int(match["size"]) and last[1] == allocation_ai:
        key, pos, size = match["key"], int(match["pos"]) + 1, int(match["size"])
        drawn_ai = Task.objects.filter(
            owner=owner,
            task_type=task_type,
            block__startswith=f"{key}:",
            condition=Task.Condition.AI,
        ).count()
    else:
        # A new block (also when the team's allocation changed); its size varies so that the
        # end of a block, where the last draw is forced, cannot be foreseen.
        n = int(match["n"]) + 1 if match else 1
        sizes = [s for s in (base, 2 * base) if s <= MAX_BLOCK_SIZE]
        key, pos, size, drawn_ai = f"{stratum}-b{n}", 1, _random.choice(sizes), 0
    # Drawing without replacement from what is left of the block: a uniform random permutation.
    remaining_ai = round(allocation_ai * size) - drawn_ai
    ai = _random.randrange(size - pos + 1) < remaining_ai
    return (Task.Condition.AI if ai else Task.Condition.NO_AI), f"{key}:{pos}/{size}"


# --- Changing, completing, abandoning ---------------------------------------------------------

EDITABLE_FIELDS = ("title", "perceived_other_minutes", "abandoned_reason")


def task_update(
    *, task: Task, actor: User | None, changes: dict[str, object], via: str = "web"
) -> Task:
    """Change the unlocked fields of a task; any change of a locked field is refused.

    Each refused field is written to the audit log (before anything else, outside a
    transaction) and ``TaskLocked`` is raised: nothing of the change is applied.
    """
    refusals = [
        (
            task,
            LockedFieldRefusal(field, "cannot change after assignment"),
            getattr(task, field),
            value,
        )
        for field, value in changes.items()
        if field in Task.LOCKED_FIELDS and value != getattr(task, field)
    ]
    if refusals:
        audit_record_refusals(refusals=refusals, actor=actor, via=via)
        raise TaskLocked(
            {r[1].column: "Locked after assignment: this cannot change." for r in refusals}
        )
    unknown = set(changes) - set(EDITABLE_FIELDS) - set(Task.LOCKED_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    value = changes.get("perceived_other_minutes")
    if value is not None and not value > 0:
        raise ValidationError({"perceived_other_minutes": "Must be more than 0 minutes."})
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
        estimates_refresh_on_commit()
    return task


def task_complete(
    *,
    task: Task,
    actual_minutes: float | None = None,
    perceived_other_minutes: float | None = None,
    completed_at=None,
) -> Task:
    """Mark a task completed; its actual minutes default to the sum of its work sessions.

    A running timer on the task is stopped first. Without sessions and without
    ``actual_minutes`` the task cannot be completed (ValidationError).
    """
    if task.status == Task.Status.ABANDONED:
        raise ValidationError("An abandoned task cannot be completed.")
    if perceived_other_minutes is not None and not perceived_other_minutes > 0:
        raise ValidationError({"perceived_other_minutes": "Must be more than 0 minutes."})
    now = timezone.now()
    with transaction.atomic():
        _sessions_close_running(task=task, at=now)
        if actual_minutes is None:
            actual_minutes = _sessions_minutes(task=task) or None
            if actual_minutes is None:
                raise ValidationError(
                    {"actual_minutes": "No time logged: enter how many minutes it took."}
                )
        elif not actual_minutes > 0:
            raise ValidationError({"actual_minutes": "Must be more than 0 minutes."})
        task.status = Task.Status.COMPLETED
        task.actual_minutes = actual_minutes
        task.perceived_other_minutes = perceived_other_minutes
        task.completed_at = completed_at or now
        fields = ["status", "actual_minutes", "perceived_other_minutes", "completed_at"]
        if task.started_at is None or task.started_at > task.completed_at:
            task.started_at = min(
                _sessions_first_start(task=task) or task.completed_at, task.completed_at
            )
            fields.append("started_at")
        task.save(update_fields=[*fields, "updated_at"])
        estimates_refresh_on_commit()
    return task


def task_abandon(*, task: Task, reason: str) -> Task:
    """Abandon a task, keeping it (and its assignment) with the reason given."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the task is abandoned."})
    if task.status in CLOSED_STATUSES:
        raise ValidationError(f"This task is already {task.get_status_display().lower()}.")
    with transaction.atomic():
        _sessions_close_running(task=task, at=timezone.now())
        task.status = Task.Status.ABANDONED
        task.abandoned_reason = reason
        task.save(update_fields=["status", "abandoned_reason", "updated_at"])
        estimates_refresh_on_commit()
    return task


# --- Timer and work sessions ------------------------------------------------------------------

# A session longer than this is more likely a forgotten timer than work: it needs confirmation.
LONG_SESSION = timedelta(hours=16)


class LongSession(ValidationError):
    """The session is over 16 hours; repeat with ``confirm_long=True`` if it is right."""


def work_session_start(*, task: Task) -> WorkSession:
    """Start the timer on a task; a timer running on another task of the owner is stopped.

    One running timer per researcher (the database refuses a second). Starting the task
    that is already running returns its session unchanged.
    """
    if task.status not in OPEN_STATUSES:
        raise ValidationError(f"This task is {task.get_status_display().lower()}.")
    now = timezone.now()
    with transaction.atomic():
        running = (
            WorkSession.objects.select_for_update()
            .filter(owner_id=task.owner_id, ended_at__isnull=True)
            .first()
        )
        if running is not None and running.task_id == task.pk:
            return running
        if running is not None:
            _session_end(session=running, at=now)
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
            estimates_refresh_on_commit()
    return session


def work_session_stop(*, owner: User, confirm_long: bool = False) -> WorkSession | None:
    """Stop (pause) the owner's running timer now; None if no timer runs.

    A timer that ran over 16 hours was probably forgotten: it is not stopped unless
    confirmed, so that its end can be corrected instead (``work_session_update``).
    """
    now = timezone.now()
    with transaction.atomic():
        session = (
            WorkSession.objects.select_for_update()
            .filter(owner=owner, ended_at__isnull=True)
            .select_related("task")
            .first()
        )
        if session is None:
            return None
        if now - session.started_at > LONG_SESSION and not confirm_long:
            raise LongSession("The timer has run for over 16 hours: was it forgotten?")
        _session_end(session=session, at=now)
    return session


def work_session_add(
    *, task: Task, started_at, ended_at, confirm_long: bool = False
) -> WorkSession:
    """Add a finished work session by hand (for a forgotten timer).

    Refused: an end before the start or in the future, an overlap with another session of
    the researcher, and over 16 hours unless ``confirm_long``.
    """
    _session_check(
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
    *, session: WorkSession, started_at, ended_at, confirm_long: bool = False
) -> WorkSession:
    """Correct a work session's times (same rules as ``work_session_add``).

    Giving a running session an end stops it at that time.
    """
    _session_check(
        owner_id=session.owner_id,
        started_at=started_at,
        ended_at=ended_at,
        confirm_long=confirm_long,
        exclude_id=session.pk,
    )
    with transaction.atomic():
        session.started_at, session.ended_at = started_at, ended_at
        _session_save(session)
        _task_after_session_change(task=session.task)
    return session


def _session_check(
    *, owner_id: int, started_at, ended_at, confirm_long: bool, exclude_id: int | None = None
) -> None:
    now = timezone.now()
    if started_at is None or ended_at is None:
        raise ValidationError({"ended_at": "Give both the start and the end."})
    if ended_at <= started_at:
        raise ValidationError({"ended_at": "The end must be after the start."})
    if ended_at > now:
        raise ValidationError({"ended_at": "The end cannot be in the future."})
    overlapping = (
        WorkSession.objects.filter(owner_id=owner_id, started_at__lt=ended_at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=started_at))
        .exclude(pk=exclude_id)
        .select_related("task")
        .first()
    )
    if overlapping is not None:
        end = (
            f"{timezone.localtime(overlapping.ended_at):%H:%M}"
            if overlapping.ended_at
            else "now (running)"
        )
        raise ValidationError(
            {
                "started_at": f"Overlaps your session on “{overlapping.task}” from "
                f"{timezone.localtime(overlapping.started_at):%d %b %H:%M} to {end}."
            }
        )
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


def _sessions_close_running(*, task: Task, at) -> None:
    for session in WorkSession.objects.filter(task=task, ended_at__isnull=True):
        _session_end(session=session, at=at)


def _sessions_minutes(*, task: Task) -> float:
    total = WorkSession.objects.filter(task=task, ended_at__isnull=False).aggregate(
        total=Sum(F("ended_at") - F("started_at"))
    )["total"]
    return total.total_seconds() / 60 if total else 0.0


def _sessions_first_start(*, task: Task):
    return task.sessions.order_by("started_at").values_list("started_at", flat=True).first()


def _task_after_session_change(*, task: Task) -> None:
    """Keep the task's status and actual minutes in step with its sessions."""
    if task.status == Task.Status.PLANNED:
        task.status = Task.Status.IN_PROGRESS
        task.started_at = _sessions_first_start(task=task)
        task.save(update_fields=["status", "started_at", "updated_at"])
    elif task.status == Task.Status.COMPLETED:
        minutes = _sessions_minutes(task=task)
        if minutes > 0:
            task.actual_minutes = minutes
            task.save(update_fields=["actual_minutes", "updated_at"])
            estimates_refresh_on_commit()


# --- Tool use ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolUseEntry:
    tool: Tool
    minutes: float | None = None
    mode: str = ToolUse.Mode.OTHER


def tool_use_set(*, task: Task, uses: Iterable[ToolUseEntry]) -> list[ToolUse]:
    """Replace the AI tools logged on a task.

    Logging AI on a "No AI" task is allowed: it is recorded as it happened and shown as
    non-compliance, never hidden.
    """
    uses = list(uses)
    for use in uses:
        if use.minutes is not None and not use.minutes > 0:
            raise ValidationError({f"minutes_{use.tool.pk}": "Minutes must be more than 0."})
    with transaction.atomic():
        ToolUse.objects.filter(task=task).delete()
        created = ToolUse.objects.bulk_create(
            [ToolUse(task=task, tool=u.tool, minutes=u.minutes, mode=u.mode) for u in uses]
        )
        Task.objects.filter(pk=task.pk).update(updated_at=timezone.now())
        estimates_refresh_on_commit()
    return created
