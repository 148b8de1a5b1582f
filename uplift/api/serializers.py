"""What the API reads and writes; every serializer lists its fields.

Read serializers show what a user may see (the researcher's email, or a pseudonym for
analysts). Write serializers only validate the input's shape: the services decide.
"""

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from uplift.accounts.models import Team
from uplift.estimates.models import Snapshot
from uplift.estimates.vocabulary import Dimension, RowStatus, WarningCode
from uplift.worklog.bounds import (
    FORECAST_RULE_TEXT,
    MAX_MINUTES,
    MIN_MINUTES,
    MOMENT_WINDOW_TEXT,
    validate_minutes,
    validate_moment,
)
from uplift.worklog.durations import DURATION_FORMS_TEXT, parse_duration, session_bounds
from uplift.worklog.models import (
    CONDITION_CODES_TEXT,
    TITLE_MAX_LENGTH,
    Task,
    TaskType,
    Tool,
    ToolUse,
    WorkSession,
    title_is_one_line,
)
from uplift.worklog.selectors import tool_names_by_task

DURATION_MAX_LENGTH = 40


class MinutesField(serializers.FloatField):
    """Minutes within the accepted range (uplift.worklog.bounds), NaN refused too.

    The bounds are checked by the one shared validator; they are set as attributes afterwards
    so that the schema states them without a second, differently worded check.
    """

    def __init__(self, **kwargs):
        super().__init__(validators=[validate_minutes], **kwargs)
        self.min_value, self.max_value = MIN_MINUTES, MAX_MINUTES


def minutes_field(**kwargs) -> serializers.FloatField:
    return MinutesField(**kwargs)


def moment_field(**kwargs) -> serializers.DateTimeField:
    """A date and time within the accepted window (uplift.worklog.bounds)."""
    kwargs.setdefault("help_text", MOMENT_WINDOW_TEXT)
    return serializers.DateTimeField(validators=[validate_moment], **kwargs)


class WriteSerializer(serializers.Serializer):
    """Input that names only the fields the operation writes: any other key is refused.

    A key the operation would ignore (a typo, or a field it cannot change) is refused by
    name, rather than answered 200 with nothing changed. ``read_only_names`` are fields the
    reader sees but this operation cannot change: they are named as such.
    """

    read_only_names: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            refused = {
                str(key): [
                    "Read-only: this field cannot be changed here."
                    if key in self.read_only_names
                    else "Unknown field."
                ]
                for key in data
                if key not in writable
            }
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)


class TaskField(serializers.PrimaryKeyRelatedField):
    """A task id among those the user may see: another researcher's task reads as missing."""

    default_error_messages = {
        "required": "Give the task's id.",
        "does_not_exist": "No such task.",
        "incorrect_type": "No such task: a task's id is a number.",
    }

    def __init__(self, **kwargs):
        super().__init__(queryset=Task.objects.all(), **kwargs)

    def get_queryset(self):
        return self.context["request"].access.visible_tasks(Task.objects.all())


class ResearcherField(serializers.Field):
    """The task's researcher: email for researchers, leads and admins, pseudonym for analysts."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj):
        # The views annotate the email (possibly blank); a task from elsewhere reads its owner.
        email = getattr(obj, "researcher_email", None)
        if email is None:
            email = obj.owner.email
        return self.context["request"].access.researcher_label(user_id=obj.owner_id, email=email)


extend_schema_field(OpenApiTypes.STR)(ResearcherField)


class ExternalIdField(serializers.Field):
    """The task's id in an imported file; for analysts a pseudonym, as in their export.

    An external id such as ``demo-ada-000`` can name the researcher; analysts read
    ``task_pseudonym`` instead, the ``task_id`` of their export, for every task.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "The task's id in the file it was imported from (blank if planned here). "
            "Analysts read a stable pseudonym of the task instead: the task_id of their export.",
        )
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj):
        access = self.context["request"].access
        return access.task_label(task_id=obj.pk, external_id=obj.external_id)


extend_schema_field(OpenApiTypes.STR)(ExternalIdField)


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "allocation_ai", "observational"]


class TaskTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskType
        fields = ["id", "name", "description", "observational"]


class ToolSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tool
        fields = ["id", "name", "vendor", "model_version"]


class TaskSerializer(serializers.ModelSerializer):
    """A task as its reader may see it, with the names of the AI tools used on it."""

    researcher = ResearcherField()
    external_id = ExternalIdField()
    team_name = serializers.CharField(read_only=True)
    task_type_name = serializers.CharField(read_only=True)
    tools = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id",
            "researcher",
            "team",
            "team_name",
            "task_type",
            "task_type_name",
            "title",
            "assignment",
            "condition",
            "forecast_no_ai_minutes",
            "forecast_ai_minutes",
            "randomized_at",
            "allocation_ai",
            "status",
            "abandoned_reason",
            "started_at",
            "completed_at",
            "actual_minutes",
            "perceived_other_minutes",
            "tools",
            "source",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tools(self, task: Task) -> list[str]:
        tools_of = self.context.get("tools_of")
        if tools_of is None:
            tools_of = tool_names_by_task(task_ids=[task.pk])
        return tools_of.get(task.pk, [])


class TaskPlanSerializer(WriteSerializer):
    """A new task: the forecasts come before the condition is drawn."""

    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    task_type = serializers.PrimaryKeyRelatedField(queryset=TaskType.objects.all())
    title = serializers.CharField(
        max_length=TITLE_MAX_LENGTH, allow_blank=True, default="", validators=[title_is_one_line]
    )
    forecast_no_ai_minutes = minutes_field()
    forecast_ai_minutes = minutes_field()
    uses_ai = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only for observational teams or task types: will you use AI?",
    )
    confirm_forecasts = serializers.BooleanField(
        default=False,
        help_text=f"{FORECAST_RULE_TEXT} Such forecasts are refused (400, under "
        "`confirm_forecasts`, naming the rule) unless this is true.",
    )


class TaskChangeSerializer(WriteSerializer):
    """A change to a task. Forecasts, assignment and condition are accepted only to refuse
    (and record) any attempt to change them after randomization."""

    read_only_names = tuple(TaskSerializer.Meta.fields)

    title = serializers.CharField(
        max_length=TITLE_MAX_LENGTH,
        allow_blank=True,
        required=False,
        validators=[title_is_one_line],
    )
    perceived_other_minutes = minutes_field(required=False, allow_null=True)
    abandoned_reason = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    forecast_no_ai_minutes = minutes_field(required=False)
    forecast_ai_minutes = minutes_field(required=False)
    assignment = serializers.ChoiceField(choices=Task.Assignment.choices, required=False)
    condition = serializers.ChoiceField(
        choices=Task.Condition.choices,
        required=False,
        error_messages={
            "invalid_choice": f"“{{input}}” is not a condition: give {CONDITION_CODES_TEXT}."
        },
    )


class TaskCompleteSerializer(WriteSerializer):
    actual_minutes = minutes_field(
        required=False, allow_null=True, help_text="Default: the sum of the work sessions."
    )
    perceived_other_minutes = minutes_field(required=False, allow_null=True)
    confirm_long = serializers.BooleanField(
        default=False,
        help_text="Stop a timer that has run over 16 hours as it is (else refused, 400).",
    )


class TaskAbandonSerializer(WriteSerializer):
    reason = serializers.CharField(max_length=2000)
    confirm_long = serializers.BooleanField(
        default=False,
        help_text="Stop a timer that has run over 16 hours as it is (else refused, 400).",
    )


class ToolUseEntrySerializer(WriteSerializer):
    tool = serializers.PrimaryKeyRelatedField(queryset=Tool.objects.all())
    minutes = minutes_field(required=False, allow_null=True, default=None)
    mode = serializers.ChoiceField(choices=ToolUse.Mode.choices, default=ToolUse.Mode.OTHER)


class ToolUseSetSerializer(WriteSerializer):
    """Every AI tool used on the task: replaces what was logged before."""

    uses = ToolUseEntrySerializer(many=True, max_length=100)

    def validate_uses(self, uses):
        tools = [use["tool"].pk for use in uses]
        if len(tools) != len(set(tools)):
            raise serializers.ValidationError("Each tool can be listed once.")
        return uses


class ToolUseSerializer(serializers.ModelSerializer):
    tool_name = serializers.CharField(source="tool.name", read_only=True)

    class Meta:
        model = ToolUse
        fields = ["id", "task", "tool", "tool_name", "minutes", "mode"]
        read_only_fields = fields


class WorkSessionSerializer(serializers.ModelSerializer):
    minutes = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = WorkSession
        fields = ["id", "task", "started_at", "ended_at", "minutes"]
        read_only_fields = fields


@extend_schema_field(
    {"oneOf": [{"type": "string", "maxLength": DURATION_MAX_LENGTH}, {"type": "number"}]}
)
class DurationField(serializers.Field):
    """A duration as the pages read it (``uplift.worklog.durations``): "1h30", "90m", "1.5h",
    "1:30", or a number of minutes (90 or "90"). Cleaned to minutes."""

    default_error_messages = {"invalid": f"Give the duration {DURATION_FORMS_TEXT}."}

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            f"With the start or the end instead of the other: {DURATION_FORMS_TEXT}.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        text = str(data)
        if len(text) > DURATION_MAX_LENGTH:
            self.fail("invalid")
        try:
            return parse_duration(text)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error

    def to_representation(self, value):
        return value


class WorkSessionTimesSerializer(WriteSerializer):
    """A finished session's times: two of its start, end and duration."""

    started_at = moment_field(required=False)
    ended_at = moment_field(required=False)
    duration = DurationField(required=False)
    confirm_long = serializers.BooleanField(
        default=False, help_text="Confirm a session over 16 hours."
    )

    def validate(self, attrs):
        started_at, ended_at = attrs.get("started_at"), attrs.get("ended_at")
        minutes = attrs.pop("duration", None)
        if minutes is None and not (started_at and ended_at):
            missing = "ended_at" if started_at else "started_at"
            raise serializers.ValidationError(
                {missing: ["Give the start and the end, or one of them and a duration."]}
            )
        try:
            attrs["started_at"], attrs["ended_at"] = session_bounds(
                started_at=started_at, ended_at=ended_at, minutes=minutes
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return attrs


class WorkSessionWriteSerializer(WorkSessionTimesSerializer):
    """A finished work session entered by hand."""

    task = TaskField()


class WorkSessionChangeSerializer(WorkSessionTimesSerializer):
    """A correction of a session's times; with ``task``, it moves to that task too."""

    task = TaskField(
        required=False,
        help_text="Move the session to another of your tasks (open, or completed and timed "
        "by its sessions).",
    )


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Snapshot
        fields = [
            "id",
            "status",
            "trigger",
            "requested_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "n_tasks",
            "method_version",
            "message",
        ]
        read_only_fields = fields


class EstimatesSnapshotInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)
    method_version = serializers.CharField()
    n_tasks = serializers.IntegerField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)


class EstimateRowSerializer(serializers.Serializer):
    """What names an estimate row and says whether it has figures; the figures are beside them."""

    dimension = serializers.ChoiceField(choices=Dimension.choices())
    group = serializers.CharField(
        allow_null=True,
        help_text="The team, task type, month or tool; null in the overall and observational rows.",
    )
    status = serializers.ChoiceField(choices=RowStatus.choices())
    warnings = serializers.ListField(
        child=serializers.ChoiceField(choices=WarningCode.choices()),
        help_text=(
            'The codes of docs/estimation.md, "Warnings"; a row without figures starts with its '
            "status."
        ),
    )


class EstimatesSerializer(serializers.Serializer):
    """The latest snapshot, exactly as ``manage.py show_estimates --json`` prints it."""

    snapshot = EstimatesSnapshotInfoSerializer()
    estimates = serializers.ListField(
        child=EstimateRowSerializer(),
        help_text=(
            "One row per scope, as docs/estimation.md describes. ci_low, ci_high and p_value "
            "use se.cr2 (CR2 by researcher) on t with df (Bell-McCaffrey) degrees of freedom; "
            "effective_researchers is df + 1; ci_z keeps the z intervals of the nonrobust, HC3 "
            "and CR1 (se.cluster) errors. A subgroup row's pooled.raw_weight is the weight "
            "kept on its own estimate when partially pooled (1: as fitted, 0: fully shrunk to "
            "the mean of its dimension)."
        ),
    )
    lab = serializers.DictField(allow_null=True)


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ImportSerializer(WriteSerializer):
    file = serializers.FileField(help_text="A worklog CSV in UTF-8 (docs/worklog-csv.md).")


class WorkSessionStartSerializer(WriteSerializer):
    task = TaskField()
    confirm_long = serializers.BooleanField(
        default=False,
        help_text="Stop a timer on another task that ran over 16 hours (else refused, 400).",
    )


class WorkSessionStopSerializer(WriteSerializer):
    confirm_long = serializers.BooleanField(
        default=False, help_text="Stop a timer that has run over 16 hours."
    )
