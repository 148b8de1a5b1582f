"""Reads of the worklog, narrowed to what the caller may see."""

from django.db.models import QuerySet

from uplift.accounts.models import User
from uplift.worklog.models import Task


def task_list_open(*, owner: User) -> QuerySet[Task]:
    """The owner's planned and in-progress tasks, newest first."""
    return (
        Task.objects.filter(owner=owner, status__in=[Task.Status.PLANNED, Task.Status.IN_PROGRESS])
        .select_related("task_type", "team")
        .order_by("-created_at", "-id")
    )
