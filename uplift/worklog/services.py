"""Writes to the worklog: every change of tasks goes through these functions."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.estimates.services import estimates_refresh_on_commit
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse
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


def task_complete(
    *,
    task: Task,
    actual_minutes: float | None = None,
    perceived_other_minutes: float | None = None,
    completed_at=None,
) -> Task:
    """Mark a task completed; its actual minutes default to the sum of its work sessions."""
    if actual_minutes is None:
        actual_minutes = sum(s.minutes or 0 for s in task.sessions.all()) or None
    task.status = Task.Status.COMPLETED
    task.actual_minutes = actual_minutes
    task.perceived_other_minutes = perceived_other_minutes
    task.completed_at = completed_at or timezone.now()
    with transaction.atomic():
        task.save(
            update_fields=[
                "status",
                "actual_minutes",
                "perceived_other_minutes",
                "completed_at",
                "updated_at",
            ]
        )
        estimates_refresh_on_commit()
    return task


def audit_record_refusals(*, refusals, actor: User | None, via: str) -> None:
    """Write one audit entry per refused change of a locked field."""
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


def worklog_rows(*, tasks: QuerySet[Task]) -> Iterator[dict[str, str]]:
    """The worklog CSV row of each task, in id order, reading the database in chunks."""
    tasks = tasks.select_related("owner", "team", "task_type").order_by("id")
    for chunk in _chunks(tasks.iterator(chunk_size=_BATCH), _BATCH):
        tools_of = _tool_names(task_ids=[task.pk for task in chunk])
        for task in chunk:
            yield {
                "task_id": task.external_id or str(task.pk),
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


def _tool_names(*, task_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for task_id, name in (
        ToolUse.objects.filter(task_id__in=task_ids)
        .order_by("task_id", "tool__name")
        .values_list("task_id", "tool__name")
    ):
        names.setdefault(task_id, []).append(name)
    return names


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
