"""Reads for the estimates: the job's input table and the latest snapshot."""

import io

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max

from uplift.estimates.models import Estimate, Snapshot
from uplift.estimates.stats import COLUMNS
from uplift.worklog.models import Task

# One row per task with the columns estimate_all expects; tools as "name;name".
_INPUT_SQL = """
SELECT t.id AS task_id, t.owner_id AS researcher, tm.name AS team, tt.name AS task_type,
       t.assignment, t.condition = 'ai' AS ai_allowed, t.allocation_ai AS allocation,
       t.forecast_no_ai_minutes AS forecast_no_ai, t.forecast_ai_minutes AS forecast_ai,
       t.status, t.actual_minutes, t.perceived_other_minutes, {month} AS month,
       tu.tools
FROM worklog_task t
JOIN accounts_team tm ON tm.id = t.team_id
JOIN worklog_tasktype tt ON tt.id = t.task_type_id
LEFT JOIN (
    SELECT u.task_id, {tool_list} AS tools
    FROM worklog_tooluse u JOIN worklog_tool tl ON tl.id = u.tool_id
    GROUP BY u.task_id
) tu ON tu.task_id = t.id
ORDER BY t.id
"""


def estimate_input() -> tuple[pd.DataFrame, int, object]:
    """Every task as the table ``estimate_all`` reads, with the input watermark.

    Returns (tasks, task count, latest change). PostgreSQL streams the rows with COPY.
    """
    watermark = Task.objects.aggregate(n=Count("id"), changed_at=Max("updated_at"))
    frame = _read_postgres() if connection.vendor == "postgresql" else _read_generic()
    frame["tools"] = _tool_tuples(frame["tools"])
    frame["ai_allowed"] = frame["ai_allowed"].astype(bool)
    return frame[list(COLUMNS)], watermark["n"], watermark["changed_at"]


def _read_postgres() -> pd.DataFrame:
    sql = _INPUT_SQL.format(
        month="to_char(t.completed_at AT TIME ZONE %s, 'YYYY-MM')",
        tool_list="string_agg(tl.name, ';' ORDER BY tl.name)",
    )
    buffer = io.BytesIO()
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql, [settings.TIME_ZONE]) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    return pd.read_csv(
        buffer,
        dtype={"team": str, "task_type": str, "month": str, "tools": str, "assignment": str},
        true_values=["t"],
        false_values=["f"],
        keep_default_na=False,
        na_values={
            "allocation": [""],
            "actual_minutes": [""],
            "perceived_other_minutes": [""],
            "month": [""],
        },
    )


def _read_generic() -> pd.DataFrame:
    sql = _INPUT_SQL.format(
        month="strftime('%Y-%m', t.completed_at)", tool_list="group_concat(tl.name, ';')"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=names)
    for column in ("allocation", "actual_minutes", "perceived_other_minutes"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["tools"] = frame["tools"].fillna("")
    return frame


def _tool_tuples(tools: pd.Series) -> pd.Series:
    # Few distinct tool sets: split each distinct string once, sorted for determinism.
    codes, uniques = pd.factorize(tools.fillna(""))
    sets = np.empty(len(uniques), dtype=object)
    sets[:] = [tuple(sorted(n for n in str(u).split(";") if n)) for u in uniques]
    return pd.Series(sets[codes], index=tools.index)


def snapshot_latest() -> Snapshot | None:
    """The latest succeeded snapshot: what every page and the API show."""
    return (
        Snapshot.objects.filter(status=Snapshot.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def estimate_list(*, snapshot: Snapshot, dimension: str | None = None) -> list[Estimate]:
    estimates = Estimate.objects.filter(snapshot=snapshot)
    if dimension is not None:
        estimates = estimates.filter(dimension=dimension)
    return list(estimates.order_by("position"))


def snapshot_as_json(*, snapshot: Snapshot) -> dict:
    """The snapshot in the shape of ``show_estimates --json`` and the API."""
    return {
        "snapshot": {
            "id": snapshot.pk,
            "computed_at": snapshot.finished_at.isoformat() if snapshot.finished_at else None,
            "method_version": snapshot.method_version,
            "n_tasks": snapshot.n_tasks,
            "duration_seconds": snapshot.duration_seconds,
        },
        "estimates": [estimate.data for estimate in estimate_list(snapshot=snapshot)],
        "lab": snapshot.lab,
    }
