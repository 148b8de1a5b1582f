"""The filters of the task, work session and tool use lists, shared by the export."""

from datetime import UTC

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField, ModelMultipleChoiceField
from drf_spectacular.utils import extend_schema_field

from uplift.accounts.models import Team
from uplift.worklog.models import (
    CONDITION_CODES_TEXT,
    Task,
    TaskType,
    Tool,
    ToolUse,
    WorkSession,
)


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


class IdOrNameField(ModelMultipleChoiceField):
    """Catalog rows (teams, task types, tools) by id or by name, any case: names are unique
    whatever their case (``name_constraints``). A value of digits only is an id."""

    def __init__(self, *args, names=None, noun="row", **kwargs):
        super().__init__(*args, **kwargs)
        self.names = names
        self.noun = noun

    def _check_values(self, value):
        values = {str(item).strip() for item in value}
        if any("\x00" in item for item in values):
            raise forms.ValidationError("Null characters are not allowed.", code="null_characters")
        ids = {item for item in values if item.isascii() and item.isdigit()}
        # Ids are read as before: an unknown one answers Django's "Select a valid choice".
        rows = list(super()._check_values(ids)) if ids else []
        names = self.queryset if self.names is None else self.names
        for name in sorted(values - ids):
            row = names.filter(name__iexact=name).first()
            if row is None:
                raise forms.ValidationError(
                    "No %(noun)s named “%(name)s”.",
                    code="invalid_choice",
                    params={"noun": self.noun, "name": name},
                )
            rows.append(row)
        return rows


@extend_schema_field(
    {
        "type": "string",
        "description": "An id, or a name (any case); repeat the parameter for several.",
    }
)
class IdOrNameFilter(filters.ModelMultipleChoiceFilter):
    """``ModelMultipleChoiceFilter`` by id or by name. ``names(request)``, when given, narrows
    the rows a name finds (a name the user may not see reads as unknown)."""

    field_class = IdOrNameField

    def __init__(self, *args, names=None, noun="row", **kwargs):
        kwargs.setdefault("distinct", False)
        super().__init__(*args, noun=noun, **kwargs)
        self.names = names

    @property
    def field(self):
        if not hasattr(self, "_field") and self.names is not None:
            self.extra["names"] = self.names(self.get_request())
        return super().field


def _team_names(request):
    # Names do not reveal the teams a user may not read; ids answer as they always have.
    return request.access.visible_teams() if request is not None else None


class TaskFilter(filters.FilterSet):
    """Tasks by creation or completion date range, team, task type and design variables.

    No filter joins another table, so none needs DISTINCT (which would sort every match).
    """

    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")
    completed_after = MomentFilter(field_name="completed_at", lookup_expr="gte")
    completed_before = MomentFilter(field_name="completed_at", lookup_expr="lt")
    team = IdOrNameFilter(queryset=Team.objects.all(), names=_team_names, noun="team")
    task_type = IdOrNameFilter(queryset=TaskType.objects.all(), noun="task type")
    condition = filters.MultipleChoiceFilter(
        choices=Task.Condition.choices,
        distinct=False,
        error_messages={
            "invalid_choice": f"“%(value)s” is not a condition: give {CONDITION_CODES_TEXT}."
        },
    )
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
    tool = IdOrNameFilter(queryset=Tool.objects.all(), noun="tool")
    mode = filters.MultipleChoiceFilter(choices=ToolUse.Mode.choices, distinct=False)

    class Meta:
        model = ToolUse
        fields = ["task", "tool", "mode"]
