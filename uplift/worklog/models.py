from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from uplift.worklog.bounds import (
    NAME_MAX_LENGTH,
    minutes_in_range,
    moment_in_range,
    name_constraints,
    validate_minutes,
    validate_moment,
)

TITLE_MAX_LENGTH = 300
# A title is one line: a line break inside it would also break the exported CSV row.
title_is_one_line = RegexValidator(
    r"[\r\n]", inverse_match=True, message="A title is one line: remove the line breaks."
)


class TaskType(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    description = models.TextField(blank=True)
    observational = models.BooleanField(
        default=False,
        help_text="Tasks of this type are not randomized: researchers state whether they will "
        "use AI.",
    )

    class Meta:
        ordering = ["name"]
        constraints = name_constraints("task_type")

    def __str__(self) -> str:
        return self.name


class Tool(models.Model):
    """An AI tool in the catalog."""

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    vendor = models.CharField(max_length=120, blank=True)
    model_version = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = name_constraints("tool")

    def __str__(self) -> str:
        return self.name


# A task's vocabularies, defined here once: the model's choices and CHECK constraints, the API's
# serializers and filters, the worklog CSV and the estimates' input all take them from these.
# Read them as ``Task.Assignment``, ``Task.Condition``, ``Task.Status`` (templates too:
# ``task.Status.COMPLETED``); they sit outside the class so that its Meta can use them.
class TaskAssignment(models.TextChoices):
    RANDOMIZED = "randomized", "Randomized"
    SELF_SELECTED = "self_selected", "Self-selected"


class TaskCondition(models.TextChoices):
    AI = "ai", "AI allowed"
    NO_AI = "no_ai", "No AI"


# How a message names the conditions with their codes: 'AI allowed ("ai") or No AI ("no_ai")'.
CONDITION_CODES_TEXT = " or ".join(f'{label} ("{code}")' for code, label in TaskCondition.choices)


class TaskStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"


class TaskDraw(models.TextChoices):
    """Where a randomized task's condition was drawn ("" for a self-selected task)."""

    BLOCK = "block", "Permuted block"
    COIN = "coin", "Biased coin"
    IMPORTED = "imported", "Imported"


class Task(models.Model):
    Assignment = TaskAssignment
    Condition = TaskCondition
    Status = TaskStatus
    Draw = TaskDraw

    # Fields that may not change once the task has been assigned its condition.
    LOCKED_FIELDS = ("forecast_no_ai_minutes", "forecast_ai_minutes", "assignment", "condition")

    # No index of their own: the indexes below that start with each of these serve every
    # look-up by it (a researcher's tasks, a team's, a task type's, and the foreign-key checks
    # of a delete), and every index more is one more write per task (docs/performance.md).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    task_type = models.ForeignKey(
        TaskType, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    title = models.CharField(
        max_length=TITLE_MAX_LENGTH, blank=True, validators=[title_is_one_line]
    )

    forecast_no_ai_minutes = models.FloatField(
        help_text="Forecast without AI, made before assignment.", validators=[validate_minutes]
    )
    forecast_ai_minutes = models.FloatField(
        help_text="Forecast with AI allowed, made before assignment.",
        validators=[validate_minutes],
    )

    assignment = models.CharField(max_length=20, choices=Assignment.choices)
    condition = models.CharField(max_length=10, choices=Condition.choices)
    randomized_at = models.DateTimeField(null=True, blank=True, validators=[validate_moment])
    allocation_ai = models.FloatField(
        null=True, blank=True, help_text="Planned probability of AI allowed when randomized."
    )
    # Where a randomized task's condition was drawn, set by planning (or the import) only.
    draw = models.CharField(
        max_length=10,
        choices=Draw.choices,
        blank=True,
        editable=False,
        help_text="How the condition was drawn: in a permuted block, by a biased coin when the "
        "allocation needs blocks over 20, or elsewhere (imported). Empty when self-selected.",
    )
    # The (researcher, task type) stratum of a block or coin draw: the task's owner and type
    # when it was drawn. Planning reads a stratum's tasks by both, so a task reassigned in the
    # admin later counts in neither stratum.
    stratum_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    stratum_task_type = models.ForeignKey(
        TaskType,
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    block_number = models.PositiveIntegerField(
        null=True, editable=False, help_text="The block's number in its stratum, from 1."
    )
    block_position = models.PositiveSmallIntegerField(
        null=True, editable=False, help_text="The draw's position in its block, from 1."
    )
    block_size = models.PositiveSmallIntegerField(
        null=True, editable=False, help_text="How many draws the block holds."
    )

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    abandoned_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True, validators=[validate_moment])
    completed_at = models.DateTimeField(null=True, blank=True, validators=[validate_moment])
    actual_minutes = models.FloatField(
        null=True, blank=True, help_text="Active minutes spent.", validators=[validate_minutes]
    )
    actual_imputed = models.BooleanField(
        default=False, help_text="Part of the actual time was imputed by the source study."
    )
    perceived_other_minutes = models.FloatField(
        null=True,
        blank=True,
        help_text="After completion: estimated time under the other condition.",
        validators=[validate_minutes],
    )

    source = models.CharField(
        max_length=60, blank=True, help_text="Where an imported task came from."
    )
    external_id = models.CharField(max_length=120, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=minutes_in_range("forecast_no_ai_minutes", nullable=False),
                name="task_forecast_no_ai_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(title__contains="\n") & ~Q(title__contains="\r"),
                name="task_title_one_line",
            ),
            models.CheckConstraint(
                condition=minutes_in_range("forecast_ai_minutes", nullable=False),
                name="task_forecast_ai_in_range",
            ),
            models.CheckConstraint(
                condition=minutes_in_range("actual_minutes", nullable=True),
                name="task_actual_in_range",
            ),
            models.CheckConstraint(
                condition=minutes_in_range("perceived_other_minutes", nullable=True),
                name="task_perceived_other_in_range",
            ),
            *(
                models.CheckConstraint(
                    condition=moment_in_range(field), name=f"task_{field}_in_range"
                )
                for field in ("randomized_at", "started_at", "completed_at")
            ),
            models.CheckConstraint(
                condition=Q(assignment__in=TaskAssignment.values),
                name="task_assignment_valid",
            ),
            models.CheckConstraint(
                condition=Q(condition__in=TaskCondition.values), name="task_condition_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=TaskStatus.values),
                name="task_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.COMPLETED) | Q(actual_minutes__isnull=False),
                name="task_completed_has_actual",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(completed_at__gte=F("started_at")),
                name="task_completed_not_before_started",
            ),
            models.CheckConstraint(
                condition=~Q(assignment=TaskAssignment.RANDOMIZED)
                | (
                    Q(randomized_at__isnull=False) & Q(allocation_ai__gt=0) & Q(allocation_ai__lt=1)
                ),
                name="task_randomized_has_record",
            ),
            models.CheckConstraint(
                condition=Q(draw__in=["", *TaskDraw.values]), name="task_draw_valid"
            ),
            models.CheckConstraint(
                condition=(Q(assignment=TaskAssignment.RANDOMIZED) & ~Q(draw=""))
                | Q(assignment=TaskAssignment.SELF_SELECTED, draw=""),
                name="task_draw_when_randomized",
            ),
            models.CheckConstraint(
                condition=Q(
                    draw__in=[TaskDraw.BLOCK, TaskDraw.COIN],
                    stratum_owner__isnull=False,
                    stratum_task_type__isnull=False,
                )
                | (
                    ~Q(draw__in=[TaskDraw.BLOCK, TaskDraw.COIN])
                    & Q(stratum_owner__isnull=True, stratum_task_type__isnull=True)
                ),
                name="task_draw_stratum",
            ),
            models.CheckConstraint(
                condition=Q(
                    draw=TaskDraw.BLOCK,
                    block_number__isnull=False,
                    block_position__isnull=False,
                    block_size__isnull=False,
                    block_number__gte=1,
                    block_position__gte=1,
                    block_position__lte=F("block_size"),
                )
                | (
                    ~Q(draw=TaskDraw.BLOCK)
                    & Q(
                        block_number__isnull=True,
                        block_position__isnull=True,
                        block_size__isnull=True,
                    )
                ),
                name="task_draw_block_position",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="task_unique_external_id_per_source",
            ),
        ]
        indexes = [
            # Researcher pages: own tasks, newest first, by status.
            models.Index(fields=["owner", "status", "-created_at"], name="task_owner_status"),
            # Estimation and dashboards: completed tasks by scope and completion time.
            models.Index(
                fields=["status", "assignment", "completed_at"], name="task_status_assign"
            ),
            models.Index(fields=["team", "status", "completed_at"], name="task_team_status"),
            models.Index(fields=["task_type", "status", "completed_at"], name="task_type_status"),
            # Incremental refresh watermark.
            models.Index(fields=["updated_at"], name="task_updated_at"),
        ]

    def __str__(self) -> str:
        return self.title or f"Task {self.pk}"

    @property
    def ai_allowed(self) -> bool:
        return self.condition == self.Condition.AI

    @property
    def block(self) -> str:
        """The draw in one label, as the admin shows it: "r12-t3-b2:1/4" (researcher 12, task
        type 3, block 2, first draw of 4), "r12-t3-coin", "imported"; "" when self-selected."""
        stratum = f"r{self.stratum_owner_id}-t{self.stratum_task_type_id}"
        if self.draw == self.Draw.BLOCK:
            return f"{stratum}-b{self.block_number}:{self.block_position}/{self.block_size}"
        if self.draw == self.Draw.COIN:
            return f"{stratum}-coin"
        return self.draw


class WorkSession(models.Model):
    """A stretch of active work on a task; ``ended_at`` is empty while the timer runs."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="sessions")
    # Denormalized from the task so that the database can refuse overlapping sessions.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="work_sessions"
    )
    started_at = models.DateTimeField(validators=[validate_moment])
    ended_at = models.DateTimeField(null=True, blank=True, validators=[validate_moment])

    class Meta:
        ordering = ["started_at"]
        constraints = [
            *(
                models.CheckConstraint(
                    condition=moment_in_range(field), name=f"work_session_{field}_in_range"
                )
                for field in ("started_at", "ended_at")
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="work_session_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(ended_at__isnull=True),
                name="work_session_one_running_per_owner",
            ),
        ]
        indexes = [models.Index(fields=["owner", "started_at"], name="work_session_owner_start")]

    def __str__(self) -> str:
        return f"{self.task} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def minutes(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() / 60


class ToolUseMode(models.TextChoices):
    CHAT = "chat", "Chat"
    AUTOCOMPLETE = "autocomplete", "Autocomplete"
    AGENT = "agent", "Agent"
    OTHER = "other", "Other"


class ToolUse(models.Model):
    Mode = ToolUseMode

    # No index of their own: tool_use_once_per_task starts with the task, tool_use_tool_task
    # with the tool.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="tool_uses", db_index=False
    )
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="uses", db_index=False)
    minutes = models.FloatField(null=True, blank=True, validators=[validate_minutes])
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.OTHER)

    class Meta:
        ordering = ["task_id", "tool__name"]
        constraints = [
            models.UniqueConstraint(fields=["task", "tool"], name="tool_use_once_per_task"),
            models.CheckConstraint(
                condition=minutes_in_range("minutes", nullable=True),
                name="tool_use_minutes_in_range",
            ),
            models.CheckConstraint(
                condition=Q(mode__in=ToolUseMode.values),
                name="tool_use_mode_valid",
            ),
        ]
        indexes = [models.Index(fields=["tool", "task"], name="tool_use_tool_task")]

    def __str__(self) -> str:
        return f"{self.tool} on {self.task}"


class AuditEntry(models.Model):
    """Append-only record of changes to locked fields and of refused attempts, of tasks
    changed by an import, and of work sessions deleted or moved to another task.

    The database refuses UPDATE and DELETE on this table (see the migration).
    """

    class Action(models.TextChoices):
        CHANGED = "changed", "Changed"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    field = models.CharField(max_length=60, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    via = models.CharField(max_length=20, blank=True, help_text="web, api, import, admin, ...")
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["task", "-at"], name="audit_task_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.field} on task {self.task_id}"
