"""Reads of the time a researcher logged: the timesheet's week grid, its day view, week totals.

What counts, and where:

- A work session counts on the day (and in the week) it started, as time trackers such as
  Toggl and Clockify count an entry; a running one counts up to now. Sessions count whatever
  became of their task: planned, in progress, completed or abandoned.
- A task completed with its minutes typed in and no session counts those minutes on the day
  it was completed.

Days and weeks (Monday to Sunday) are those of the current time zone, the researcher's own on
their pages.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate, TruncWeek
from django.utils import timezone

from uplift.accounts.models import User
from uplift.fixed_sql import fetch_one, is_postgresql
from uplift.worklog.models import Task, WorkSession


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def _moment(day: date) -> datetime:
    """The start of ``day`` in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _length(now: datetime) -> ExpressionWrapper:
    until = Coalesce("ended_at", Value(now, output_field=DateTimeField()))
    return ExpressionWrapper(until - F("started_at"), output_field=DurationField())


def _typed_only(owner: User) -> QuerySet[Task]:
    """The owner's tasks completed with typed minutes and no work session."""
    return Task.objects.filter(
        owner=owner, status=Task.Status.COMPLETED, actual_minutes__isnull=False
    ).exclude(Exists(WorkSession.objects.filter(task=OuterRef("pk"))))


def _minutes(value: timedelta | float | None) -> float:
    if value is None:
        return 0.0
    return value.total_seconds() / 60 if isinstance(value, timedelta) else float(value)


def minutes_by_week(
    *,
    owner: User,
    task_type_id: int | None = None,
    condition: str | None = None,
    now: datetime | None = None,
) -> dict[datetime, float]:
    """Minutes logged per week (the key: the week's Monday, as ``TruncWeek`` gives it)."""
    now = now or timezone.now()
    task_filter = {}
    if task_type_id:
        task_filter["task_type_id"] = task_type_id
    if condition:
        task_filter["condition"] = condition
    sessions = (
        WorkSession.objects.filter(owner=owner, **{f"task__{k}": v for k, v in task_filter.items()})
        .annotate(week=TruncWeek("started_at"))
        .order_by()
        .values("week")
        .annotate(total=Sum(_length(now)))
    )
    typed = (
        _typed_only(owner)
        .filter(**task_filter)
        .annotate(week=TruncWeek("completed_at"))
        .order_by()
        .values("week")
        .annotate(total=Sum("actual_minutes"))
    )
    weeks: dict[datetime, float] = defaultdict(float)
    for row in [*sessions, *typed]:
        weeks[row["week"]] += _minutes(row["total"])
    return dict(weeks)


@dataclass(frozen=True)
class Logged:
    """One task's time on one day."""

    task: Task
    day: date
    minutes: float


def _day_rows(*, owner: User, first_day: date, last_day: date, now: datetime) -> list[dict]:
    """``task_id``, ``day`` and ``total`` (a duration or minutes) per task and day."""
    start, end = _moment(first_day), _moment(last_day + timedelta(days=1))
    sessions = (
        WorkSession.objects.filter(owner=owner, started_at__gte=start, started_at__lt=end)
        .annotate(day=TruncDate("started_at"))
        .order_by()
        .values("task_id", "day")
        .annotate(total=Sum(_length(now)))
    )
    typed = (
        _typed_only(owner)
        .filter(completed_at__gte=start, completed_at__lt=end)
        .annotate(day=TruncDate("completed_at"), task_id=F("id"), total=F("actual_minutes"))
        .values("task_id", "day", "total")
    )
    return [*sessions, *typed]


def logged_by_day(
    *, owner: User, first_day: date, last_day: date, now: datetime | None = None
) -> list[Logged]:
    """Each task's minutes on each day from ``first_day`` to ``last_day`` (inclusive)."""
    rows = _day_rows(owner=owner, first_day=first_day, last_day=last_day, now=now or timezone.now())
    tasks = Task.objects.select_related("task_type").in_bulk({row["task_id"] for row in rows})
    return [Logged(tasks[row["task_id"]], row["day"], _minutes(row["total"])) for row in rows]


def minutes_on(*, owner: User, day: date, now: datetime | None = None) -> float:
    """Minutes logged on ``day``, a running timer up to now (Today's "today so far").

    The same time as ``logged_by_day`` counts for the day, summed by the database: Today asks
    on every visit, and a day of many sessions would otherwise send every row."""
    start, end = _moment(day), _moment(day + timedelta(days=1))
    now = now or timezone.now()
    if is_postgresql():
        row, _ = fetch_one(
            _MINUTES_ON_SQL,
            [now, owner.pk, start, end, owner.pk, Task.Status.COMPLETED, start, end],
        )
        return _minutes(row[0]) + _minutes(row[1])
    sessions = WorkSession.objects.filter(owner=owner, started_at__gte=start, started_at__lt=end)
    typed = _typed_only(owner).filter(completed_at__gte=start, completed_at__lt=end)
    timed = sessions.aggregate(total=Sum(_length(now)))["total"]
    return _minutes(timed) + _minutes(typed.aggregate(total=Sum("actual_minutes"))["total"])


# minutes_on's two sums in one query, in SQL written once (uplift/fixed_sql.py) on PostgreSQL:
# the ORM took 3.5 ms to build them, on every visit to Today.
_MINUTES_ON_SQL = (
    f'SELECT (SELECT SUM(COALESCE(s."ended_at", %s) - s."started_at")'
    f'  FROM "{WorkSession._meta.db_table}" s'
    '  WHERE s."owner_id" = %s AND s."started_at" >= %s AND s."started_at" < %s),'
    f' (SELECT SUM(t."actual_minutes") FROM "{Task._meta.db_table}" t'
    '  WHERE t."owner_id" = %s AND t."status" = %s'
    '  AND t."actual_minutes" IS NOT NULL'
    '  AND t."completed_at" >= %s AND t."completed_at" < %s'
    f'  AND NOT EXISTS (SELECT 1 FROM "{WorkSession._meta.db_table}" w'
    '   WHERE w."task_id" = t."id"))'
)


@dataclass
class WeekRow:
    task: Task
    cells: list[float | None]  # minutes per day, Monday first; None: nothing logged
    total: float = 0.0


@dataclass
class Week:
    """The week grid: a row per task with time logged, a column per day."""

    days: list[date]
    rows: list[WeekRow] = field(default_factory=list)
    day_totals: list[float] = field(default_factory=list)
    total: float = 0.0

    @property
    def previous(self) -> date:
        return self.days[0] - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.days[0] + timedelta(days=7)


def week_grid(*, owner: User, day: date, now: datetime | None = None) -> Week:
    """The grid of the week holding ``day``: tasks in the order their time was first logged."""
    first = week_start(day)
    days = [first + timedelta(days=i) for i in range(7)]
    entries = logged_by_day(owner=owner, first_day=days[0], last_day=days[-1], now=now)
    rows: dict[int, WeekRow] = {}
    for entry in sorted(entries, key=lambda e: (e.day, e.task.pk)):
        row = rows.setdefault(entry.task.pk, WeekRow(entry.task, [None] * 7))
        column = (entry.day - first).days
        row.cells[column] = (row.cells[column] or 0) + entry.minutes
        row.total += entry.minutes
    day_totals = [sum(row.cells[i] or 0 for row in rows.values()) for i in range(7)]
    return Week(days, list(rows.values()), day_totals, sum(day_totals))


@dataclass(frozen=True)
class DayItem:
    """A line of the day view: a work session, or a task's typed minutes."""

    task: Task
    minutes: float
    started_at: datetime | None = None
    ended_at: datetime | None = None  # None with a start: the timer is running
    typed: bool = False


def day_items(*, owner: User, day: date, now: datetime | None = None) -> list[DayItem]:
    """The day's work sessions in the order they started, then the tasks with typed minutes."""
    now = now or timezone.now()
    start, end = _moment(day), _moment(day + timedelta(days=1))
    sessions = (
        WorkSession.objects.filter(owner=owner, started_at__gte=start, started_at__lt=end)
        .select_related("task", "task__task_type")
        .annotate(length=_length(now))
        .order_by("started_at")
    )
    typed = (
        _typed_only(owner)
        .filter(completed_at__gte=start, completed_at__lt=end)
        .select_related("task_type")
        .order_by("completed_at")
    )
    return [
        *(DayItem(s.task, _minutes(s.length), s.started_at, s.ended_at) for s in sessions),
        *(DayItem(t, t.actual_minutes, typed=True) for t in typed),
    ]
