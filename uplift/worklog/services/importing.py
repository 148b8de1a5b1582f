"""Importing the worklog CSV: whole files or nothing, re-imports updating their tasks."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.batches import BATCH, chunks
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse
from uplift.worklog.services._common import shown
from uplift.worklog.services.refusals import LockedFieldRefusal, audit_record_refusals
from uplift.worklog.signals import tasks_changed
from uplift.worklog.worklog_csv import TaskRecord, WorklogFileError

IMPORT_SOURCE = "worklog"
# Planned allocation assumed for a new imported randomized task whose row gives none.
IMPORTED_ALLOCATION_AI = 0.5


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
        raise WorklogFileError([refusal.problem() for refusal in refused.refusals]) from None


class _LockedFieldsChanged(Exception):
    def __init__(self, refusals: list[LockedFieldRefusal]):
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
    for ids in chunks((r.task_id for r in records), _LOOKUP_CHUNK):
        tasks = Task.objects.filter(source=source, external_id__in=ids).select_related("owner")
        existing.update({task.external_id: task for task in tasks})
    tools_of = {}
    for task_ids in chunks((task.pk for task in existing.values()), _LOOKUP_CHUNK):
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
                message = (
                    f"cannot change after assignment (task {record.task_id} has "
                    f"{shown(old)}, the file has {shown(new)})"
                )
                refusals.append(
                    LockedFieldRefusal(
                        task=task, field=name, old=old, new=new, message=message, row=record.row
                    )
                )
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
    for batch in chunks(new_records, BATCH):
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
        draw=Task.Draw.IMPORTED if randomized else "",
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
        batch_size=BATCH,
    )


def _audit_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, User):
        return value.email or value.username
    return shown(value) if isinstance(value, float) else str(value)


# Values per lookup query: SQLite allows 32,766 variables in one statement.
_LOOKUP_CHUNK = 5000


def _named(model, names: set[str]) -> dict:
    """The objects of ``model`` with these names, by lower-cased name; missing ones created.

    Names match whatever their case: "alignment" finds the team "Alignment".
    """
    wanted = {name.lower(): name for name in sorted(names)}
    found = {}
    for chunk in chunks(sorted(wanted), _LOOKUP_CHUNK):
        objects = model.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=chunk)
        found.update({obj.name.lower(): obj for obj in objects})
    for key in sorted(wanted.keys() - found.keys()):
        found[key] = model.objects.create(name=wanted[key])
    return found


def _researchers(emails: set[str]) -> dict[str, User]:
    """The users with these emails (any case), by lower-cased email; missing ones created with
    the email as username (a number added if another account has it) and no password."""
    found = {}
    for chunk in chunks(sorted(emails), _LOOKUP_CHUNK):
        users = User.objects.annotate(lower_email=Lower("email")).filter(lower_email__in=chunk)
        for user in users.order_by("pk"):
            found.setdefault(user.email.lower(), user)
    missing = sorted(emails - found.keys())
    taken = set()
    for chunk in chunks([email[:140] for email in missing], _LOOKUP_CHUNK):
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
    for user in User.objects.bulk_create(new_users, batch_size=BATCH):
        found[user.email] = user
    return found


def _ensure_memberships(pairs: set[tuple[int, int]]) -> None:
    Membership.objects.bulk_create(
        [
            Membership(user_id=u, team_id=t, role=Membership.Role.RESEARCHER)
            for u, t in sorted(pairs)
        ],
        ignore_conflicts=True,
        batch_size=BATCH,
    )


def _replace_tool_uses(*, records: list[TaskRecord], tasks: dict[str, Task], tools: dict) -> None:
    for chunk in chunks((tasks[r.task_id].pk for r in records), _LOOKUP_CHUNK):
        ToolUse.objects.filter(task__in=chunk).delete()
    ToolUse.objects.bulk_create(
        [
            ToolUse(task=tasks[r.task_id], tool=tools[name.lower()])
            for r in records
            for name in r.tools
        ],
        batch_size=BATCH,
    )
