"""The refresh's input: every task as the table ``estimate_all`` reads (worker side only).

Imported by the refresh (``compute``) alone: it needs numpy and pandas, which the web
processes never load.
"""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max

from uplift.accounts.models import Team
from uplift.estimates.stats_table import COLUMNS
from uplift.worklog.models import Task, TaskType, Tool

# Status and assignment travel as small codes (a value's place in its vocabulary); labels are
# attached in Python.
STATUS_CODES = tuple(Task.Status.values)
ASSIGNMENT_CODES = tuple(Task.Assignment.values)

# Every column fixed-width and never null. PostgreSQL sends them as arrays of up to 65,536
# values (array_agg over slices of ids) because a COPY row per task costs ~3 us each in the
# client, three times the server's work. No joins, no ORDER BY and no date arithmetic: names
# come from the small catalog tables, months are computed in numpy, and estimate_all orders
# rows by task_id itself.
_STATUS_CODE = (
    "CAST(CASE t.status "
    + " ".join(f"WHEN '{status}' THEN {code}" for code, status in enumerate(STATUS_CODES[:-1]))
    + f" ELSE {len(STATUS_CODES) - 1} END AS SMALLINT)"
)
# When the task got its arm (see ASSIGNED_MONTH).
_ASSIGNED_AT = "COALESCE(t.randomized_at, LEAST(t.created_at, t.started_at))"
# (column, binary type in the COPY, SQL expression); NaN stands for a missing minute count.
_TASK_FIELDS = [
    ("task_id", ">i8", "t.id"),
    ("researcher", ">i8", "t.owner_id"),
    ("team", ">i8", "t.team_id"),
    ("task_type", ">i8", "t.task_type_id"),
    ("randomized", "?", f"t.assignment = '{Task.Assignment.RANDOMIZED.value}'"),
    ("ai", "?", f"t.condition = '{Task.Condition.AI.value}'"),
    ("status", ">i2", _STATUS_CODE),
    ("allocation", ">f8", "COALESCE(t.allocation_ai, 'NaN')"),
    ("forecast_no_ai", ">f8", "t.forecast_no_ai_minutes"),
    ("forecast_ai", ">f8", "t.forecast_ai_minutes"),
    ("actual_minutes", ">f8", "COALESCE(t.actual_minutes, 'NaN')"),
    ("perceived_other_minutes", ">f8", "COALESCE(t.perceived_other_minutes, 'NaN')"),
    # When the task got its arm (see ASSIGNED_MONTH), in microseconds since 2000-01-01 UTC.
    ("assigned_at", ">i8", _ASSIGNED_AT),
    # Microseconds since 2000-01-01 UTC; -infinity when not completed.
    ("completed_at", ">i8", "COALESCE(t.completed_at, '-infinity')"),
]
# The month (YYYY-MM) a task got its arm, which places it in a window (compute.scope_plan):
# randomized_at for randomized tasks; for self-selected tasks, which have none, the earlier of
# created_at and started_at (an imported task was created after it started). Not an input of
# estimate_all: the frame carries it beside COLUMNS.
ASSIGNED_MONTH = "assigned_month"
_TOOL_USE_FIELDS = [("task_id", ">i8", "t.task_id"), ("tool_id", ">i8", "t.tool_id")]
_SLICE_BITS = 16
# A binary COPY starts with a 19-byte header; a one-dimensional array with a 20-byte header.
_COPY_HEADER, _ARRAY_HEADER = 19, 20
_POSTGRES_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


def _copy_columns(
    table: str, fields: list[tuple[str, str, str]], where: str = "TRUE", params: tuple = ()
) -> dict:
    """Read columns with one binary COPY of array_agg slices; returns one array per field."""
    select = ", ".join(f"array_agg({expression})" for _, _, expression in fields)
    sql = (
        f"COPY (SELECT {select} FROM {table} WHERE {where} GROUP BY t.id >> {_SLICE_BITS}) "
        "TO STDOUT WITH (FORMAT binary)"
    )
    blocks = []
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params or None) as copy:
        blocks.extend(copy)
    data = b"".join(blocks)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in fields}
    offset = _COPY_HEADER
    while int.from_bytes(data[offset : offset + 2], "big", signed=True) != -1:
        offset += 2
        for name, kind, _ in fields:
            # A field: its byte length, then the array header (dimensions, null flag, element
            # type, length of the one dimension, lower bound), then length-prefixed values.
            length = int.from_bytes(data[offset : offset + 4], "big", signed=True)
            count = int.from_bytes(data[offset + 16 : offset + 20], "big", signed=True)
            element = np.dtype([("length", ">i4"), ("value", kind)])
            values = np.frombuffer(
                data, dtype=element, count=count, offset=offset + 4 + _ARRAY_HEADER
            )
            chunks[name].append(values["value"])
            offset += 4 + length
    return {
        name: np.concatenate(chunks[name]) if chunks[name] else np.empty(0, dtype=kind)
        for name, kind, _ in fields
    }


def estimate_input(
    *, team_ids: list[int] | None = None, assigned_since: datetime | None = None
) -> tuple[pd.DataFrame, int, object]:
    """Every task as the table ``estimate_all`` reads, with the input watermark.

    Returns (tasks, task count, latest change). Team, task type, status, assignment and month
    are categoricals; PostgreSQL sends the columns by binary COPY. Beside ``COLUMNS`` the table
    has ``ASSIGNED_MONTH``, which the refresh uses to cut windows.

    A piece of a refresh reads only what it needs: the tasks of ``team_ids``, or those that got
    their arm at or after ``assigned_since``. The watermark is the whole table's either way.
    """
    watermark = Task.objects.aggregate(n=Count("id"), changed_at=Max("updated_at"))
    if connection.vendor == "postgresql":
        columns, tool_uses = _read_postgres(team_ids, assigned_since)
    else:
        columns, tool_uses = _read_generic()
        keep = np.ones(len(columns["task_id"]), dtype=bool)
        if team_ids is not None:
            keep &= np.isin(columns["team"], team_ids)
        if assigned_since is not None:
            since = np.datetime64(assigned_since.astimezone(UTC).replace(tzinfo=None), "us")
            keep &= columns["assigned_at"] >= since
        columns = {name: values[keep] for name, values in columns.items()}
    return _task_frame(columns, tool_uses), watermark["n"], watermark["changed_at"]


def _task_filter(team_ids: list[int] | None, assigned_since: datetime | None) -> tuple:
    """SQL condition on ``worklog_task t`` for a piece's tasks, and its parameters."""
    conditions, params = [], []
    if team_ids is not None:
        conditions.append("t.team_id = ANY(%s)")
        params.append(list(team_ids))
    if assigned_since is not None:
        conditions.append(f"{_ASSIGNED_AT} >= %s")
        params.append(assigned_since)
    return " AND ".join(conditions) or "TRUE", tuple(params)


def _read_postgres(
    team_ids: list[int] | None = None, assigned_since: datetime | None = None
) -> tuple[dict, np.ndarray]:
    where, params = _task_filter(team_ids, assigned_since)
    columns = _copy_columns("worklog_task t", _TASK_FIELDS, where, params)
    for name in ("assigned_at", "completed_at"):
        moments = columns.pop(name)
        known = moments != np.iinfo(np.int64).min
        columns[name] = np.where(
            known, _POSTGRES_EPOCH + moments.astype("timedelta64[us]"), np.datetime64("NaT")
        )
    if where == "TRUE":
        uses = _copy_columns("worklog_tooluse t", _TOOL_USE_FIELDS)
    else:
        uses = _copy_columns(
            "worklog_tooluse t",
            _TOOL_USE_FIELDS,
            f"t.task_id IN (SELECT t.id FROM worklog_task t WHERE {where})",
            params,
        )
    return columns, np.column_stack([uses["task_id"], uses["tool_id"]])


def _read_generic() -> tuple[dict, np.ndarray]:
    # SQLite has no NaN or infinity literals: missing values stay NULL (NaN in pandas). Nor
    # LEAST that skips NULLs: the moments are read as stored and combined here.
    moments = ("randomized_at", "created_at", "started_at", "completed_at")
    numbers = [
        (name, expression)
        for name, _, expression in _TASK_FIELDS
        if name not in ("assigned_at", "completed_at")
    ]
    expressions = [expression for _, expression in numbers] + [f"t.{m}" for m in moments]
    sql = f"SELECT {', '.join(expressions)} FROM worklog_task t"
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("'NaN'", "NULL"))
        rows = cursor.fetchall()
        cursor.execute("SELECT task_id, tool_id FROM worklog_tooluse")
        uses = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 2)
    names = [name for name, _ in numbers]
    table = pd.DataFrame.from_records(rows, columns=names + list(moments))
    columns = {name: table[name].to_numpy(dtype=float) for name in names}
    at = {m: pd.to_datetime(table[m], utc=True).to_numpy(dtype="datetime64[us]") for m in moments}
    earliest = np.fmin(at["created_at"], at["started_at"])
    columns["assigned_at"] = np.where(np.isnat(at["randomized_at"]), earliest, at["randomized_at"])
    columns["completed_at"] = at["completed_at"]
    return columns, uses


def _months(moments_utc: np.ndarray) -> pd.Categorical:
    """Month of each moment (naive UTC), YYYY-MM in the configured time zone; NaT: missing."""
    moments = pd.DatetimeIndex(moments_utc).tz_localize("UTC")
    if settings.TIME_ZONE != "UTC":
        moments = moments.tz_convert(settings.TIME_ZONE)
    months = moments.tz_localize(None).to_numpy(dtype="datetime64[M]")
    done = ~np.isnat(months)
    values = np.unique(months[done])
    codes = np.where(done, np.searchsorted(values, months), -1)
    return pd.Categorical.from_codes(codes, categories=[str(m) for m in values])


def _labels(model, ids: np.ndarray) -> pd.Categorical:
    names = dict(model.objects.values_list("id", "name"))
    order = sorted(names)
    codes = np.searchsorted(order, ids)
    return pd.Categorical.from_codes(codes, categories=[names[i] for i in order])


def _task_frame(columns: dict, tool_uses: np.ndarray) -> pd.DataFrame:
    task_id = columns["task_id"].astype(np.int64)
    frame = pd.DataFrame(
        {
            "task_id": task_id,
            "researcher": columns["researcher"].astype(np.int64),
            "team": _labels(Team, columns["team"].astype(np.int64)),
            "task_type": _labels(TaskType, columns["task_type"].astype(np.int64)),
            "assignment": pd.Categorical.from_codes(
                np.where(columns["randomized"].astype(bool), 0, 1), categories=ASSIGNMENT_CODES
            ),
            "ai_allowed": columns["ai"].astype(bool),
            "allocation": columns["allocation"].astype(float),
            "forecast_no_ai": columns["forecast_no_ai"].astype(float),
            "forecast_ai": columns["forecast_ai"].astype(float),
            "status": pd.Categorical.from_codes(
                columns["status"].astype(np.int64), categories=STATUS_CODES
            ),
            "actual_minutes": columns["actual_minutes"].astype(float),
            "perceived_other_minutes": columns["perceived_other_minutes"].astype(float),
            "month": _months(columns["completed_at"]),
            "tools": _tool_sets(task_id, tool_uses),
            ASSIGNED_MONTH: _months(columns["assigned_at"]),
        }
    )
    return frame[[*COLUMNS, ASSIGNED_MONTH]]


def _tool_sets(task_id: np.ndarray, tool_uses: np.ndarray) -> np.ndarray:
    """Each task's tool names as a sorted tuple, via a bitmask per task (few tools, many tasks)."""
    names = dict(Tool.objects.values_list("id", "name"))
    tool_ids = sorted(names, key=lambda i: names[i])
    sets = np.empty(len(task_id), dtype=object)
    sets[:] = [()]
    if not len(tool_uses) or not tool_ids or not len(task_id):
        return sets
    order = np.argsort(task_id)
    # A tool use of a task not read (added between the two reads) is left out.
    found = np.minimum(np.searchsorted(task_id, tool_uses[:, 0], sorter=order), len(order) - 1)
    tool_uses = tool_uses[task_id[order[found]] == tool_uses[:, 0]]
    if not len(tool_uses):
        return sets
    rows = order[np.searchsorted(task_id, tool_uses[:, 0], sorter=order)]
    bits = np.searchsorted(tool_ids, tool_uses[:, 1], sorter=np.argsort(tool_ids))
    bits = np.argsort(tool_ids)[bits]
    mask = np.zeros(len(task_id), dtype=np.int64)
    np.bitwise_or.at(mask, rows, np.left_shift(1, bits))
    combos, codes = np.unique(mask, return_inverse=True)
    labels = [names[i] for i in tool_ids]
    tuples = np.empty(len(combos), dtype=object)
    tuples[:] = [tuple(labels[b] for b in range(len(labels)) if combo >> b & 1) for combo in combos]
    return tuples[codes]
