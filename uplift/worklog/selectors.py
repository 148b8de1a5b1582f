"""Reads of the worklog, narrowed to what the caller may see."""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection
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
from uplift.fixed_sql import BIGINT_RANGE, Columns, fetch_one, is_postgresql, select
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


def task_list_open_query(*, owner: User) -> QuerySet[Task]:
    """The owner's planned and in-progress tasks, newest first, with minutes logged so far
    (``logged``, a duration, None without any) and ``noncompliant``."""
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


_TASK = Columns(Task, "t")
_TASK_TYPE = Columns(TaskType, "y")
_TEAM = Columns(Team, "m")
_TASK_WITH_TYPE_AND_TEAM = (
    f"SELECT {_TASK.sql}, {_TASK_TYPE.sql}, {_TEAM.sql}"
    f' FROM "{Task._meta.db_table}" t'
    f' INNER JOIN "{TaskType._meta.db_table}" y ON y."id" = t."task_type_id"'
    f' INNER JOIN "{Team._meta.db_table}" m ON m."id" = t."team_id"'
)
# task_list_open_query's SQL (Today asks on every visit; the ORM took 5 ms to build it).
_OPEN_TASKS_SQL = (
    f"SELECT {_TASK.sql}, {_TASK_TYPE.sql}, {_TEAM.sql},"
    f' (SELECT SUM(s."ended_at" - s."started_at") FROM "{WorkSession._meta.db_table}" s'
    '   WHERE s."task_id" = t."id" AND s."ended_at" IS NOT NULL),'
    f' (t."condition" = %s AND EXISTS (SELECT 1 FROM "{ToolUse._meta.db_table}" u'
    '   WHERE u."task_id" = t."id"))'
    f' FROM "{Task._meta.db_table}" t'
    f' INNER JOIN "{TaskType._meta.db_table}" y ON y."id" = t."task_type_id"'
    f' INNER JOIN "{Team._meta.db_table}" m ON m."id" = t."team_id"'
    ' WHERE t."owner_id" = %s AND t."status" IN (%s, %s)'
    ' ORDER BY t."created_at" DESC, t."id" DESC'
)


def task_list_open(*, owner: User) -> list[Task]:
    """``task_list_open_query``, read: in SQL written once on PostgreSQL (uplift/fixed_sql.py)."""
    if not is_postgresql():
        return list(task_list_open_query(owner=owner))
    tasks = []
    params = [Task.Condition.NO_AI, owner.pk, *OPEN_STATUSES]
    for task, task_type, team, logged, noncompliant in select(
        _OPEN_TASKS_SQL, params, _TASK, _TASK_TYPE, _TEAM
    ):
        task.task_type, task.team = task_type, team
        task.logged, task.noncompliant = logged, bool(noncompliant)
        tasks.append(task)
    return tasks


def task_of_owner(*, owner: User, task_id: int) -> Task | None:
    """The owner's task ``task_id`` with its type and team; None if they have no such task
    (the task page and every form posted from it ask first)."""
    if task_id not in BIGINT_RANGE:
        return None
    found = select(
        f'{_TASK_WITH_TYPE_AND_TEAM} WHERE t."id" = %s AND t."owner_id" = %s',
        [task_id, owner.pk],
        _TASK,
        _TASK_TYPE,
        _TEAM,
    )
    if not found:
        return None
    task, task_type, team = found[0]
    task.task_type, task.team = task_type, team
    return task


def task_type_last_planned(*, owner: User) -> int | None:
    """The id of the task type of the owner's most recently planned task, or None."""
    row, _ = fetch_one(
        f'SELECT "task_type_id" FROM "{Task._meta.db_table}" WHERE "owner_id" = %s'
        ' ORDER BY "created_at" DESC LIMIT 1',
        [owner.pk],
    )
    return None if row is None else row[0]


_SESSION = Columns(WorkSession, "s")
# Every page's header asks (uplift/fixed_sql.py: the ORM took 1.9 ms to build this join).
_RUNNING_SQL = (
    f"SELECT {_SESSION.sql}, {_TASK.sql}, {_TASK_TYPE.sql}"
    f' FROM "{WorkSession._meta.db_table}" s'
    f' INNER JOIN "{Task._meta.db_table}" t ON t."id" = s."task_id"'
    f' INNER JOIN "{TaskType._meta.db_table}" y ON y."id" = t."task_type_id"'
    ' WHERE s."owner_id" = %s AND s."ended_at" IS NULL ORDER BY s."started_at" LIMIT 1'
)


def work_session_running(*, owner: User) -> WorkSession | None:
    """The owner's running timer, with its task and the task's type, or None."""
    found = select(_RUNNING_SQL, [owner.pk], _SESSION, _TASK, _TASK_TYPE)
    if not found:
        return None
    session, task, task_type = found[0]
    task.task_type = task_type
    session.task = task
    return session


def user_lock(*, user_id: int) -> None:
    """Lock the user's row until the transaction ends: the timer's starts and stops, and
    plans, of one researcher are taken one after the other. (SQLite, which locks the whole
    database for a write transaction, needs no row lock, and Django's would send none.)"""
    if connection.features.has_select_for_update:
        fetch_one(f'SELECT 1 FROM "{User._meta.db_table}" WHERE "id" = %s FOR UPDATE', [user_id])


_TIMER_LOCK_SQL = (
    f'SELECT {_SESSION.sql}, {_TASK.sql} FROM "{WorkSession._meta.db_table}" s'
    f' INNER JOIN "{Task._meta.db_table}" t ON t."id" = s."task_id"'
    ' WHERE s."owner_id" = %s AND s."ended_at" IS NULL ORDER BY s."started_at" LIMIT 1'
)


def work_session_running_locked(*, owner_id: int) -> WorkSession | None:
    """The owner's running timer with its task, its rows locked until the transaction ends
    (the timer's start and stop ask, in SQL written once)."""
    sql = _TIMER_LOCK_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    found = select(sql, [owner_id], _SESSION, _TASK)
    if not found:
        return None
    session, task = found[0]
    session.task = task
    return session


def work_session_list(*, task: Task) -> QuerySet[WorkSession]:
    return WorkSession.objects.filter(task=task).order_by("started_at")


def work_sessions_of(*, task: Task) -> list[WorkSession]:
    """``work_session_list``, read (the task page's), in SQL written once."""
    found = select(
        f'SELECT {_SESSION.sql} FROM "{WorkSession._meta.db_table}" s'
        ' WHERE s."task_id" = %s ORDER BY s."started_at"',
        [task.pk],
        _SESSION,
    )
    return [session for (session,) in found]


def tool_use_list(*, task: Task) -> QuerySet[ToolUse]:
    return ToolUse.objects.filter(task=task).select_related("tool")


_TOOL_USE = Columns(ToolUse, "u")
_TOOL = Columns(Tool, "l")


def tool_uses_of(*, task: Task) -> list[ToolUse]:
    """``tool_use_list``, read, in its order (by tool name), in SQL written once."""
    uses = []
    for use, tool in select(
        f'SELECT {_TOOL_USE.sql}, {_TOOL.sql} FROM "{ToolUse._meta.db_table}" u'
        f' INNER JOIN "{Tool._meta.db_table}" l ON l."id" = u."tool_id"'
        ' WHERE u."task_id" = %s ORDER BY u."task_id", l."name"',
        [task.pk],
        _TOOL_USE,
        _TOOL,
    ):
        use.tool = tool
        uses.append(use)
    return uses


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


def task_types_read() -> list[TaskType]:
    """``task_type_list``, read (the plan form's), in SQL written once."""
    found = select(
        f'SELECT {_TASK_TYPE.sql} FROM "{TaskType._meta.db_table}" y ORDER BY y."name"',
        [],
        _TASK_TYPE,
    )
    return [task_type for (task_type,) in found]


def teams_read(*, ids) -> list[Team]:
    """The teams of ``ids``, by name (the plan form's), in SQL written once."""
    ids = [team_id for team_id in ids if team_id in BIGINT_RANGE]
    if not ids:
        return []
    found = select(
        f'SELECT {_TEAM.sql} FROM "{Team._meta.db_table}" m'
        f' WHERE m."id" IN ({", ".join(["%s"] * len(ids))}) ORDER BY m."name"',
        ids,
        _TEAM,
    )
    return [team for (team,) in found]


def tool_list() -> QuerySet[Tool]:
    return Tool.objects.order_by("name")


def tools_read() -> list[Tool]:
    """``tool_list``, read (the task page's tool checkboxes), in SQL written once."""
    found = select(
        f'SELECT {_TOOL.sql} FROM "{Tool._meta.db_table}" l ORDER BY l."name"', [], _TOOL
    )
    return [tool for (tool,) in found]


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
