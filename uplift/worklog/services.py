"""Writes to the worklog: every change of tasks goes through these functions."""

import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Lower
from django.utils import timezone

from uplift.accounts.access import PLANNING_ROLES
from uplift.accounts.models import Membership, Team, User
from uplift.worklog.bounds import MAX_MINUTES, MIN_MINUTES, minutes_problem, moment_problem
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.selectors import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    tool_names_by_task,
)
from uplift.worklog.signals import tasks_changed
from uplift.worklog.worklog_csv import (
    Problem,
    TaskRecord,
    WorklogFileError,
    format_minutes,
    format_probability,
    format_timestamp,
)

IMPORT_SOURCE = "worklog"
# Planned allocation assumed for a new imported randomized task whose row gives none.
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

    A change to a locked field of an existing task (forecasts, assignment, condition, and the
    allocation of a randomized task) refuses the whole file, and each refused change is written
    to the audit log. A new randomized task's allocation is its record's, or
    ``IMPORTED_ALLOCATION_AI`` when the record has none; an existing task whose record has none
    keeps its own.
    """
    try:
        with transaction.atomic():
            result = _import_records(records=records, source=source, actor=actor)
            if result.created or result.updated:
                tasks_changed.send(sender=Task)
            return result
    except _LockedFieldsChanged as refused:
        audit_record_refusals(refusals=refused.refusals, actor=actor, via="import")
        raise WorklogFileError([problem for _, problem, _, _ in refused.refusals]) from None


class _LockedFieldsChanged(Exception):
    def __init__(self, refusals):
        self.refusals = refusals


# Values of an existing task that a re-import may change, each change written to the audit log.
AUDITED_ON_IMPORT = ("owner", "team", "status", "actual_minutes", "perceived_other_minutes")


def _import_records(*, records: list[TaskRecord], source: str, actor: User | None) -> ImportResult:
    teams = _named(Team, {r.team for r in records})
    task_types = _named(TaskType, {r.task_type for r in records})
    tools = _named(Tool, {name for r in records for name in r.tools})
    researchers = _researchers({r.researcher for r in records})
    _ensure_memberships({(researchers[r.researcher].pk, teams[r.team.lower()].pk) for r in records})

    existing = {}
    for ids in _chunks((r.task_id for r in records), _LOOKUP_CHUNK):
        tasks = Task.objects.filter(source=source, external_id__in=ids).select_related("owner")
        existing.update({task.external_id: task for task in tasks})
    tools_of = {}
    for task_ids in _chunks((task.pk for task in existing.values()), _LOOKUP_CHUNK):
        uses = ToolUse.objects.filter(task_id__in=task_ids).values_list("task_id", "tool_id")
        for task_id, tool_id in uses:
            tools_of.setdefault(task_id, set()).add(tool_id)
    now = timezone.now()
    new_records, to_update, refusals, changes = [], [], [], []
    unchanged = 0

    def values_of(record: TaskRecord) -> dict:
        return {
            "owner": researchers[record.researcher],
            "team": teams[record.team.lower()],
            "task_type": task_types[record.task_type.lower()],
            "title": record.title,
            "status": record.status,
            "actual_minutes": record.actual_minutes,
            "actual_imputed": record.actual_imputed,
            "started_at": record.started_at,
            "completed_at": record.completed_at,
            "perceived_other_minutes": record.perceived_other_minutes,
        }

    for record in records:
        task = existing.get(record.task_id)
        if task is None:
            new_records.append(record)
            continue
        for name in _locked_on_import(task, record):
            old, new = getattr(task, name), getattr(record, name)
            if old != new:
                problem = Problem(
                    record.row,
                    name,
                    f"cannot change after assignment (task {record.task_id} has "
                    f"{_shown(old)}, the file has {_shown(new)})",
                )
                refusals.append((task, problem, old, new))
        values = values_of(record)
        changed = [name for name, value in values.items() if getattr(task, name) != value]
        same_tools = tools_of.get(task.pk, set()) == {tools[n.lower()].pk for n in record.tools}
        if not changed and same_tools:
            unchanged += 1
            continue
        changes += [
            (task, name, getattr(task, name), values[name])
            for name in changed
            if name in AUDITED_ON_IMPORT
        ]
        for name in changed:
            setattr(task, name, values[name])
        to_update.append((task, changed, record))
    if refusals:
        raise _LockedFieldsChanged(refusals)

    for task, changed, _ in to_update:
        if changed:
            task.save(update_fields=[*changed, "updated_at"])
    _audit_import_changes(changes=changes, actor=actor)
    _replace_tool_uses(
        records=[record for _, _, record in to_update],
        tasks={task.external_id: task for task, _, _ in to_update},
        tools=tools,
    )
    # New tasks are built and written a batch at a time: a large file never holds them all.
    for batch in _chunks(new_records, _BATCH):
        created = Task.objects.bulk_create(
            [_new_task(record, values_of(record), source=source, now=now) for record in batch]
        )
        ToolUse.objects.bulk_create(
            [
                ToolUse(task=task, tool=tools[name.lower()])
                for task, record in zip(created, batch, strict=True)
                for name in record.tools
            ]
        )
    return ImportResult(created=len(new_records), updated=len(to_update), unchanged=unchanged)


def _locked_on_import(task: Task, record: TaskRecord) -> tuple[str, ...]:
    """The fields a re-import may not change: the locked ones, and the allocation (fixed, as the
    database holds it, when the task was drawn) when the record gives one for a task of the
    same assignment (a changed assignment is refused on its own)."""
    if record.allocation_ai is not None and record.assignment == task.assignment:
        return (*Task.LOCKED_FIELDS, "allocation_ai")
    return Task.LOCKED_FIELDS


def _new_task(record: TaskRecord, values: dict, *, source: str, now) -> Task:
    randomized = record.assignment == Task.Assignment.RANDOMIZED
    allocation_ai = record.allocation_ai
    if randomized and allocation_ai is None:
        allocation_ai = IMPORTED_ALLOCATION_AI
    return Task(
        source=source,
        external_id=record.task_id,
        randomized_at=(record.started_at or record.completed_at or now) if randomized else None,
        allocation_ai=allocation_ai,
        block="imported" if randomized else "",
        forecast_no_ai_minutes=record.forecast_no_ai_minutes,
        forecast_ai_minutes=record.forecast_ai_minutes,
        assignment=record.assignment,
        condition=record.condition,
        **values,
    )


def _audit_import_changes(*, changes, actor: User | None) -> None:
    """Record who changed which task's owner, team, status or minutes by importing a file."""
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                task=task,
                action=AuditEntry.Action.CHANGED,
                field=name,
                old_value=_audit_value(old),
                new_value=_audit_value(new),
                via="import",
                detail=f"Changed by importing task {task.external_id} again.",
            )
            for task, name, old, new in changes
        ],
        batch_size=_BATCH,
    )


def _audit_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, User):
        return value.email or value.username
    return _shown(value) if isinstance(value, float) else str(value)


def _shown(value) -> str:
    return format_minutes(value) if isinstance(value, float) else repr(value)


# Values per lookup query: SQLite allows 32,766 variables in one statement.
_LOOKUP_CHUNK = 5000


def _named(model, names: set[str]) -> dict:
    """The objects of ``model`` with these names, by lower-cased name; missing ones created.

    Names match whatever their case: "alignment" finds the team "Alignment".
    """
    wanted = {name.lower(): name for name in sorted(names)}
    found = {}
    for chunk in _chunks(sorted(wanted), _LOOKUP_CHUNK):
        objects = model.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=chunk)
        found.update({obj.name.lower(): obj for obj in objects})
    for key in sorted(wanted.keys() - found.keys()):
        found[key] = model.objects.create(name=wanted[key])
    return found


def _researchers(emails: set[str]) -> dict[str, User]:
    """The users with these emails (any case), by lower-cased email; missing ones created with
    the email as username (a number added if another account has it) and no password."""
    found = {}
    for chunk in _chunks(sorted(emails), _LOOKUP_CHUNK):
        users = User.objects.annotate(lower_email=Lower("email")).filter(lower_email__in=chunk)
        for user in users.order_by("pk"):
            found.setdefault(user.email.lower(), user)
    missing = sorted(emails - found.keys())
    taken = set()
    for chunk in _chunks([email[:140] for email in missing], _LOOKUP_CHUNK):
        users = User.objects.annotate(lower_name=Lower("username"))
        taken.update(users.filter(lower_name__in=chunk).values_list("lower_name", flat=True))
    new_users = []
    for email in missing:
        username, n = email[:140], 1
        while username.lower() in taken:
            n += 1
            username = f"{email[:140]}-{n}"
        taken.add(username.lower())
        # Unusable, as set_unusable_password makes it, with one random draw instead of forty.
        password = UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)
        new_users.append(User(username=username, email=email, password=password))
    for user in User.objects.bulk_create(new_users, batch_size=_BATCH):
        found[user.email] = user
    return found


def _ensure_memberships(pairs: set[tuple[int, int]]) -> None:
    Membership.objects.bulk_create(
        [
            Membership(user_id=u, team_id=t, role=Membership.Role.RESEARCHER)
            for u, t in sorted(pairs)
        ],
        ignore_conflicts=True,
        batch_size=_BATCH,
    )


def _replace_tool_uses(*, records: list[TaskRecord], tasks: dict[str, Task], tools: dict) -> None:
    for chunk in _chunks((tasks[r.task_id].pk for r in records), _LOOKUP_CHUNK):
        ToolUse.objects.filter(task__in=chunk).delete()
    ToolUse.objects.bulk_create(
        [
            ToolUse(task=tasks[r.task_id], tool=tools[name.lower()])
            for r in records
            for name in r.tools
        ],
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
                "allocation_ai": format_probability(task.allocation_ai),
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


def _check_minutes(**values: float | None) -> None:
    """Refuse minutes outside the accepted range, naming each field."""
    errors = {}
    for name, value in values.items():
        problem = minutes_problem(value)
        if problem:
            errors[name] = f"Minutes {problem}."
    if errors:
        raise ValidationError(errors)


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
        problem = "is required" if value is None else minutes_problem(value)
        if problem:
            errors[field] = f"A forecast {problem}."
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
    _check_minutes(perceived_other_minutes=changes.get("perceived_other_minutes"))
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
) -> Task:
    """Mark a task completed; its actual minutes default to the sum of its work sessions.

    A running timer on the task is stopped first (``LongSession`` if it ran over 16 hours,
    unless ``confirm_long``). Without sessions and without ``actual_minutes`` the task cannot
    be completed (ValidationError).
    """
    if task.status == Task.Status.ABANDONED:
        raise ValidationError("An abandoned task cannot be completed.")
    _check_minutes(actual_minutes=actual_minutes, perceived_other_minutes=perceived_other_minutes)
    now = timezone.now()
    with transaction.atomic():
        _sessions_close_running(task=task, at=now, confirm_long=confirm_long)
        if actual_minutes is None:
            actual_minutes = _sessions_minutes(task=task) or None
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
                _sessions_first_start(task=task) or task.completed_at, task.completed_at
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
        _sessions_close_running(task=task, at=timezone.now(), confirm_long=confirm_long)
        task.status = Task.Status.ABANDONED
        task.abandoned_reason = reason
        task.save(update_fields=["status", "abandoned_reason", "updated_at"])
        tasks_changed.send(sender=Task)
    return task


# --- Timer and work sessions ------------------------------------------------------------------

# A session longer than this is more likely a forgotten timer than work: it needs confirmation.
LONG_SESSION = timedelta(hours=16)


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
        User.objects.select_for_update().filter(pk=task.owner_id).first()
        now = timezone.now()
        running = (
            WorkSession.objects.select_for_update()
            .filter(owner_id=task.owner_id, ended_at__isnull=True)
            .select_related("task")
            .first()
        )
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
        User.objects.select_for_update().filter(pk=owner.pk).first()
        now = timezone.now()
        session = (
            WorkSession.objects.select_for_update()
            .filter(owner=owner, ended_at__isnull=True)
            .select_related("task")
            .first()
        )
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
    *, session: WorkSession, started_at, ended_at, confirm_long: bool = False
) -> WorkSession:
    """Correct a work session's times (same rules as ``work_session_add``).

    Giving a running session an end stops it at that time.
    """
    work_session_check(
        owner_id=session.owner_id,
        started_at=started_at,
        ended_at=ended_at,
        confirm_long=confirm_long,
        exclude_ids=[session.pk],
    )
    with transaction.atomic():
        session.started_at, session.ended_at = started_at, ended_at
        _session_save(session)
        _task_after_session_change(task=session.task)
    return session


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


def _sessions_close_running(*, task: Task, at, confirm_long: bool) -> None:
    running = WorkSession.objects.select_for_update().filter(task=task, ended_at__isnull=True)
    for session in running.select_related("task"):
        _running_end(session=session, at=at, confirm_long=confirm_long)


def _sessions_minutes(*, task: Task) -> float:
    """The minutes of the task's finished sessions; 0 without any, and otherwise at least
    MIN_MINUTES, the smallest time Uplift records (a timer stopped after 2 seconds is 0.1)."""
    total = WorkSession.objects.filter(task=task, ended_at__isnull=False).aggregate(
        total=Sum(F("ended_at") - F("started_at"))
    )["total"]
    return max(total.total_seconds() / 60, MIN_MINUTES) if total else 0.0


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
        if minutes > MAX_MINUTES:
            raise ValidationError(
                {"ended_at": f"The task's sessions would then total {minutes:g} minutes."}
            )
        if minutes > 0:
            task.actual_minutes = minutes
            task.save(update_fields=["actual_minutes", "updated_at"])
            tasks_changed.send(sender=Task)


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
        _check_minutes(**{f"minutes_{use.tool.pk}": use.minutes})
    with transaction.atomic():
        ToolUse.objects.filter(task=task).delete()
        created = ToolUse.objects.bulk_create(
            [ToolUse(task=task, tool=u.tool, minutes=u.minutes, mode=u.mode) for u in uses]
        )
        Task.objects.filter(pk=task.pk).update(updated_at=timezone.now())
        tasks_changed.send(sender=Task)
    return created
