"""The AI tools logged on a task."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from uplift.worklog.models import Task, Tool, ToolUse
from uplift.worklog.services._common import check_minutes
from uplift.worklog.signals import tasks_changed


@dataclass(frozen=True)
class ToolUseEntry:
    tool: Tool
    minutes: float | None = None
    mode: str = ToolUse.Mode.OTHER


def tool_use_minutes(*, uses: Iterable[ToolUseEntry]) -> dict[str, float | None]:
    """Each tool's minutes under the name its refusal carries: ``minutes_<tool id>``."""
    return {f"minutes_{use.tool.pk}": use.minutes for use in uses}


def tool_use_set(*, task: Task, uses: Iterable[ToolUseEntry]) -> list[ToolUse]:
    """Replace the AI tools logged on a task.

    Logging AI on a "No AI" task is allowed: it is recorded as it happened and shown as
    non-compliance, never hidden.
    """
    uses = list(uses)
    check_minutes(**tool_use_minutes(uses=uses))
    with transaction.atomic():
        ToolUse.objects.filter(task=task).delete()
        created = ToolUse.objects.bulk_create(
            [ToolUse(task=task, tool=u.tool, minutes=u.minutes, mode=u.mode) for u in uses]
        )
        Task.objects.filter(pk=task.pk).update(updated_at=timezone.now())
        tasks_changed.send(sender=Task)
    return created
