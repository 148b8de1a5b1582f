"""The filters of the task, work session and tool use lists, shared by the export."""

from datetime import UTC

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField

from uplift.accounts.models import Team
from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, moved to UTC here: PostgreSQL refuses offsets beyond ±15:59."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as error:
            raise forms.ValidationError("This moment is out of range.") from error


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class TaskFilter(filters.FilterSet):
    """Tasks by creation or completion date range, team, task type and design variables.

    No filter joins another table, so none needs DISTINCT (which would sort every match).
    """

    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")
    completed_after = MomentFilter(field_name="completed_at", lookup_expr="gte")
    completed_before = MomentFilter(field_name="completed_at", lookup_expr="lt")
    team = filters.ModelMultipleChoiceFilter(queryset=Team.objects.all(), distinct=False)
    task_type = filters.ModelMultipleChoiceFilter(queryset=TaskType.objects.all(), distinct=False)
    condition = filters.MultipleChoiceFilter(choices=Task.Condition.choices, distinct=False)
    assignment = filters.MultipleChoiceFilter(choices=Task.Assignment.choices, distinct=False)
    status = filters.MultipleChoiceFilter(choices=Task.Status.choices, distinct=False)

    class Meta:
        model = Task
        fields = [
            "created_after",
            "created_before",
            "completed_after",
            "completed_before",
            "team",
            "task_type",
            "condition",
            "assignment",
            "status",
        ]


class WorkSessionFilter(filters.FilterSet):
    task = filters.NumberFilter(field_name="task_id")
    started_after = MomentFilter(field_name="started_at", lookup_expr="gte")
    started_before = MomentFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = WorkSession
        fields = ["task", "started_after", "started_before"]


class ToolUseFilter(filters.FilterSet):
    task = filters.NumberFilter(field_name="task_id")
    tool = filters.ModelMultipleChoiceFilter(queryset=Tool.objects.all(), distinct=False)
    mode = filters.MultipleChoiceFilter(choices=ToolUse.Mode.choices, distinct=False)

    class Meta:
        model = ToolUse
        fields = ["task", "tool", "mode"]
