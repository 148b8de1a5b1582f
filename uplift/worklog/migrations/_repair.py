"""Bring rows written before the worklog's bounds existed inside them, so that the CHECK
constraints can be added. Nothing is dropped silently: every changed value is written to the
audit log with its old value (via "migration").

- Names are trimmed; a name equal to another but for case becomes "name (2)", "name (3)", ...
- Minutes outside the accepted range are brought to its nearest end.
- Dates outside the window that the database keeps are emptied; a work session whose start
  is outside it is removed (its times stay in the audit log).
"""

from django.db.models import F, Q, TextField
from django.db.models.functions import Cast

from uplift.worklog.bounds import (
    DB_LATEST,
    EARLIEST,
    MAX_MINUTES,
    MIN_MINUTES,
    normalize_name,
)
from uplift.worklog.migrations import _guards

DETAIL = "Brought inside the accepted values when the bounds were introduced."


def rename_names(model) -> None:
    taken: set[str] = set()
    for obj in model.objects.order_by("pk"):
        name = normalize_name(obj.name) or f"Unnamed {obj.pk}"
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{name} ({n})"
        taken.add(candidate.lower())
        if candidate != obj.name:
            model.objects.filter(pk=obj.pk).update(name=candidate)


def _audit(apps, entries) -> None:
    AuditEntry = apps.get_model("worklog", "AuditEntry")
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                task_id=task_id,
                action="changed",
                field=field,
                old_value=str(old),
                new_value=str(new),
                via="migration",
                detail=DETAIL,
            )
            for task_id, field, old, new in entries
        ]
    )


def _out_of_range_minutes(field: str) -> Q:
    return Q(**{f"{field}__lt": MIN_MINUTES}) | Q(**{f"{field}__gt": MAX_MINUTES})


def _out_of_window(field: str) -> Q:
    return Q(**{f"{field}__lt": EARLIEST}) | Q(**{f"{field}__gte": DB_LATEST})


def _clamp(value: float) -> float:
    return MIN_MINUTES if value < MIN_MINUTES else MAX_MINUTES


def _without_lock_trigger(schema_editor, change) -> None:
    """Run ``change`` with the trigger that locks forecasts off: a forecast out of range
    cannot be kept, and the audit log records the change."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("ALTER TABLE worklog_task DISABLE TRIGGER worklog_task_locked")
        change()
        schema_editor.execute("ALTER TABLE worklog_task ENABLE TRIGGER worklog_task_locked")
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS worklog_task_locked")
        change()
        for statement in _guards.sqlite_statements(_guards.LOCKED_COLUMNS):
            schema_editor.execute(statement)


def repair_worklog(apps, schema_editor) -> None:
    Task = apps.get_model("worklog", "Task")
    ToolUse = apps.get_model("worklog", "ToolUse")
    WorkSession = apps.get_model("worklog", "WorkSession")
    for name in ("TaskType", "Tool"):
        rename_names(apps.get_model("worklog", name))

    entries = []
    forecasts = ("forecast_no_ai_minutes", "forecast_ai_minutes")
    for field in (*forecasts, "actual_minutes", "perceived_other_minutes"):
        rows = list(Task.objects.filter(_out_of_range_minutes(field)).values_list("pk", field))

        def change(rows=rows, field=field):
            for pk, value in rows:
                Task.objects.filter(pk=pk).update(**{field: _clamp(value)})

        if rows and field in forecasts:
            _without_lock_trigger(schema_editor, change)
        else:
            change()
        entries += [(pk, field, value, _clamp(value)) for pk, value in rows]
    for pk, task_id, value in ToolUse.objects.filter(_out_of_range_minutes("minutes")).values_list(
        "pk", "task_id", "minutes"
    ):
        ToolUse.objects.filter(pk=pk).update(minutes=None)
        entries.append((task_id, "tool minutes", value, ""))
    for field in ("started_at", "completed_at", "randomized_at"):
        rows = list(
            Task.objects.filter(_out_of_window(field))
            .annotate(old=Cast(field, TextField()))
            .values_list("pk", "old")
        )
        if not rows:
            continue
        if field == "randomized_at":
            # A randomized task keeps a draw time: the moment it was created.
            _without_lock_trigger(
                schema_editor,
                lambda: Task.objects.filter(_out_of_window("randomized_at")).update(
                    randomized_at=F("created_at")
                ),
            )
            entries += [(pk, field, old, "the task's creation time") for pk, old in rows]
        else:
            Task.objects.filter(_out_of_window(field)).update(**{field: None})
            entries += [(pk, field, old, "") for pk, old in rows]
    stale = WorkSession.objects.filter(_out_of_window("started_at") | _out_of_window("ended_at"))
    for task_id, start, end in stale.annotate(
        start=Cast("started_at", TextField()), end=Cast("ended_at", TextField())
    ).values_list("task_id", "start", "end"):
        entries.append((task_id, "work session", f"{start} to {end}", "removed"))
    stale.delete()
    _audit(apps, entries)
