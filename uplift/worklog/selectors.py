"""Reads of the worklog, narrowed to what the caller may see."""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Ln, TruncWeek

from uplift.accounts.models import Team, User
from uplift.worklog.batches import BATCH, chunks
from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.worklog_csv import worklog_row

OPEN_STATUSES = (Task.Status.PLANNED, Task.Status.IN_PROGRESS)
CLOSED_STATUSES = (Task.Status.COMPLETED, Task.Status.ABANDONED)


def _noncompliant() -> Q:
    """AI tools logged on a "No AI" task: shown, never hidden."""
    return Q(condition=Task.Condition.NO_AI) & Q(
        Exists(ToolUse.objects.filter(task=OuterRef("pk")))
    )


def task_list_for_owner(*, owner: User) -> QuerySet[Task]:
    """Every task of the owner: the only tasks a researcher may open or change."""
    return Task.objects.filter(owner=owner).select_related("task_type", "team")


def task_list_session_targets(*, session: WorkSession) -> QuerySet[Task]:
    """The tasks a session may move to (``services.work_session_move_problem``): its own, and
    the researcher's open tasks and completed tasks timed by sessions, newest first."""
    timed = WorkSession.objects.filter(task=OuterRef("pk"), ended_at__isnull=False)
    return task_list_for_owner(owner=session.owner).filter(
        Q(pk=session.task_id)
        | Q(status__in=OPEN_STATUSES)
        | Q(status=Task.Status.COMPLETED) & Exists(timed)
    )


def task_list_for_team(*, team: Team, ids) -> QuerySet[Task]:
    """The team's tasks among `ids`, with their type and researcher (a lead's reading)."""
    return Task.objects.filter(team=team, pk__in=list(ids)).select_related("task_type", "owner")


def task_exists(*, team: Team | None = None) -> bool:
    """Whether any task was logged, in ``team`` or anywhere."""
    tasks = Task.objects.all() if team is None else Task.objects.filter(team=team)
    return tasks.exists()


def task_list_open(*, owner: User) -> QuerySet[Task]:
    """The owner's planned and in-progress tasks, newest first, with minutes logged so far."""
    logged = (
        WorkSession.objects.filter(task=OuterRef("pk"), ended_at__isnull=False)
        .order_by()
        .values("task")
        .annotate(total=Sum(F("ended_at") - F("started_at")))
        .values("total")
    )
    return (
        Task.objects.filter(owner=owner, status__in=OPEN_STATUSES)
        .select_related("task_type", "team")
        .annotate(
            logged=Subquery(logged, output_field=DurationField()),
            noncompliant=Case(When(_noncompliant(), then=Value(True)), default=Value(False)),
        )
        .order_by("-created_at", "-id")
    )


def task_type_last_planned(*, owner: User) -> int | None:
    """The id of the task type of the owner's most recently planned task, or None."""
    return (
        Task.objects.filter(owner=owner)
        .order_by("-created_at")
        .values_list("task_type_id", flat=True)
        .first()
    )


def work_session_running(*, owner: User) -> WorkSession | None:
    """The owner's running timer, with its task, or None."""
    return (
        WorkSession.objects.filter(owner=owner, ended_at__isnull=True)
        .select_related("task", "task__task_type")
        .first()
    )


def work_session_list(*, task: Task) -> QuerySet[WorkSession]:
    return WorkSession.objects.filter(task=task).order_by("started_at")


def tool_use_list(*, task: Task) -> QuerySet[ToolUse]:
    return ToolUse.objects.filter(task=task).select_related("tool")


def tool_names_by_task(*, task_ids: list[int]) -> dict[int, list[str]]:
    """The sorted tool names of each task, in one query for a whole page or export chunk.

    Cheaper than ``prefetch_related``, which builds a queryset and two objects per tool use.
    """
    names: dict[int, list[str]] = {}
    for task_id, name in (
        ToolUse.objects.filter(task_id__in=task_ids)
        .order_by("task_id", "tool__name")
        .values_list("task_id", "tool__name")
    ):
        names.setdefault(task_id, []).append(name)
    return names


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
    for chunk in chunks(tasks.iterator(chunk_size=BATCH), BATCH):
        tools_of = tool_names_by_task(task_ids=[task.pk for task in chunk])
        for task in chunk:
            yield worklog_row(task, task_id=task_id(task), tools=tools_of.get(task.pk, []))


def tool_list() -> QuerySet[Tool]:
    return Tool.objects.order_by("name")


def task_type_list() -> QuerySet[TaskType]:
    return TaskType.objects.order_by("name")


def task_history(
    *, owner: User, task_type_id: int | None = None, condition: str | None = None
) -> QuerySet[Task]:
    """The owner's completed and abandoned tasks, newest first, each with its week."""
    tasks = Task.objects.filter(owner=owner, status__in=CLOSED_STATUSES)
    if task_type_id:
        tasks = tasks.filter(task_type_id=task_type_id)
    if condition:
        tasks = tasks.filter(condition=condition)
    return (
        tasks.select_related("task_type")
        .annotate(
            closed_at=Coalesce("completed_at", "started_at", "created_at"),
            week=TruncWeek("closed_at"),
            noncompliant=Case(When(_noncompliant(), then=Value(True)), default=Value(False)),
        )
        .order_by("-closed_at", "-id")
    )


def task_history_weeks(*, history: QuerySet[Task]) -> dict:
    """Per week of ``history``: tasks completed, abandoned and minutes spent."""
    rows = (
        history.order_by()
        .values("week")
        .annotate(
            completed=Count("id", filter=Q(status=Task.Status.COMPLETED)),
            abandoned=Count("id", filter=Q(status=Task.Status.ABANDONED)),
            minutes=Sum("actual_minutes", filter=Q(status=Task.Status.COMPLETED)),
        )
    )
    return {row["week"]: row for row in rows}


@dataclass
class Calibration:
    condition: str
    label: str
    n: int
    ratio: float | None  # geometric mean of actual / forecast
    within_forecast: int


def researcher_calibration(*, owner: User) -> list[Calibration]:
    """How the owner's forecasts compare with their actual time, per condition.

    The ratio is actual / forecast for the condition the task ran under, as a geometric mean
    (ratios multiply, so over- and under-runs of the same factor cancel).
    """
    forecast = Case(
        When(Q(condition=Task.Condition.AI), then=F("forecast_ai_minutes")),
        default=F("forecast_no_ai_minutes"),
        output_field=FloatField(),
    )
    rows = (
        Task.objects.filter(owner=owner, status=Task.Status.COMPLETED)
        .annotate(forecast=forecast)
        .values("condition")
        .annotate(
            n=Count("id"),
            mean_log=ExpressionWrapper(
                Sum(Ln(F("actual_minutes") / F("forecast"))) / Count("id"),
                output_field=FloatField(),
            ),
            within=Count("id", filter=Q(actual_minutes__lte=F("forecast"))),
        )
        .order_by("condition")
    )
    found = {row["condition"]: row for row in rows}
    result = []
    for condition, label in Task.Condition.choices:
        row = found.get(condition)
        result.append(
            Calibration(
                condition=condition,
                label=label,
                n=row["n"] if row else 0,
                ratio=math.exp(row["mean_log"]) if row else None,
                within_forecast=row["within"] if row else 0,
            )
        )
    return result
