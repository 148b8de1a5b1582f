"""The researcher's forms. They only parse input; the services decide what is allowed."""

from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from uplift.accounts.models import Team
from uplift.worklog.bounds import (
    FORECAST_RULE_TEXT,
    MAX_MINUTES,
    MIN_MINUTES,
    validate_minutes,
    validate_moment,
)
from uplift.worklog.durations import DURATION_FORMS_TEXT, parse_duration, session_bounds
from uplift.worklog.models import TITLE_MAX_LENGTH, Task, TaskType, ToolUse, title_is_one_line
from uplift.worklog.selectors import task_type_list, task_types_read


class MinutesField(forms.FloatField):
    """Minutes within the accepted range (uplift.worklog.bounds), with errors worded for people."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(validate_minutes)
        self.widget.attrs.update(
            {"inputmode": "decimal", "step": "any", "min": MIN_MINUTES, "max": MAX_MINUTES}
        )
        self.error_messages["invalid"] = "Enter a number of minutes, like 45."


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's date and time picker, in the researcher's time zone."""

    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class MomentField(forms.DateTimeField):
    """A date and time in the browser's picker, within the accepted window."""

    default_validators = [validate_moment]

    def __init__(self, **kwargs):
        super().__init__(widget=DateTimeLocalInput(), **kwargs)


class ReadChoicesIterator(forms.models.ModelChoiceIterator):
    """The choices of rows the form has read already (``ReadChoicesField.rows``): Django's own
    iterator sends a new query, a server-side cursor on PostgreSQL."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.rows:
            yield self.choice(obj)

    def __len__(self):
        return len(self.field.rows) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.rows)


class ReadChoicesField(forms.ModelChoiceField):
    """A choice among model rows read already (``rows``, given by the form): the options and
    the check of the value sent come from them, without a query (Django's field sends one for
    each, and the plan form is on Today, the page researchers open most)."""

    iterator = ReadChoicesIterator

    def __init__(self, *, model, **kwargs):
        super().__init__(queryset=model.objects.none(), **kwargs)
        self.rows = []

    def to_python(self, value):
        """The row whose key was sent (Django's ``ModelChoiceField.to_python``, on ``rows``)."""
        if value in self.empty_values:
            return None
        self.validate_no_null_characters(value)
        try:
            key = self.queryset.model._meta.pk.to_python(value)
        except ValidationError:
            key = None
        for row in self.rows:
            if row.pk == key:
                return row
        raise ValidationError(
            self.error_messages["invalid_choice"],
            code="invalid_choice",
            params={"value": value},
        )


class WorklogForm(forms.Form):
    """Labels without a trailing colon: they read as plain names for screen readers."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def title_field() -> forms.CharField:
    """A task's title: optional, one line."""
    return forms.CharField(
        max_length=TITLE_MAX_LENGTH, required=False, label="Title", validators=[title_is_one_line]
    )


class TaskPlanForm(WorklogForm):
    title = title_field()
    task_type = ReadChoicesField(
        model=TaskType, label="Task type", empty_label="Choose a task type"
    )
    team = ReadChoicesField(model=Team, label="Team", required=False)
    forecast_no_ai_minutes = MinutesField(label="Forecast without AI (minutes)")
    forecast_ai_minutes = MinutesField(label="Forecast with AI (minutes)")
    uses_ai = forms.TypedChoiceField(
        label="Will you use AI? (observational tasks only)",
        choices=[("", "—"), ("yes", "Yes, I will use AI"), ("no", "No AI")],
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
    )
    # Shown only when the forecasts look like a typo (or it was ticked): see home.html.
    confirm_forecasts = forms.BooleanField(
        required=False, label="Yes, these forecasts are right", help_text=FORECAST_RULE_TEXT
    )

    def __init__(self, *args, teams: Iterable[Team], **kwargs):
        """``teams``: those the user may plan in, by name (``selectors.teams_read`` of
        ``request.access.planning_team_ids``)."""
        super().__init__(*args, **kwargs)
        # Read once: the select's options and the check of the value sent use these rows.
        task_types = task_types_read()
        self.fields["task_type"].rows = task_types
        self.fields["task_type"].label_from_instance = lambda t: (
            f"{t.name} (observational)" if t.observational else t.name
        )
        self.teams = list(teams)
        self.fields["team"].rows = self.teams
        if len(self.teams) > 1:
            self.fields["team"].required = True
        else:
            # One team (or none, which the service refuses): nothing to choose.
            self.fields["team"].widget = forms.HiddenInput()
        self.observational_possible = any(t.observational for t in self.teams) or any(
            t.observational for t in task_types
        )
        if not self.observational_possible:
            del self.fields["uses_ai"]

    @property
    def asks_to_confirm(self) -> bool:
        """The forecasts were doubted (or confirmed already): the confirmation is offered."""
        return bool(self["confirm_forecasts"].errors or self["confirm_forecasts"].value())

    def add_error(self, field, error):
        super().add_error(field, error)
        if "confirm_forecasts" in self.errors:
            # The doubt concerns both forecasts: each is described by it.
            for name in ("forecast_no_ai_minutes", "forecast_ai_minutes"):
                self.fields[name].widget.attrs["aria-describedby"] = (
                    f"{self['confirm_forecasts'].auto_id}_error"
                )

    def clean_team(self):
        team = self.cleaned_data.get("team")
        if team is None and len(self.teams) == 1:
            return self.teams[0]
        if team is None:
            raise forms.ValidationError(
                "You are not a researcher in any team yet: ask an admin to add you."
            )
        return team


class TaskEditForm(WorklogForm):
    """Only unlocked fields: forecasts and condition are never offered once assigned."""

    title = title_field()
    perceived_other_minutes = MinutesField(
        required=False, label="Time under the other condition (minutes, optional)"
    )
    abandoned_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Why it was abandoned"
    )

    def __init__(self, *args, task: Task, **kwargs):
        super().__init__(*args, **kwargs)
        if task.status != Task.Status.COMPLETED:
            del self.fields["perceived_other_minutes"]
        if task.status != Task.Status.ABANDONED:
            del self.fields["abandoned_reason"]


class TaskCompleteForm(WorklogForm):
    perceived_other_minutes = MinutesField(required=False)
    actual_minutes = MinutesField(
        required=False, label="You logged no time: how many minutes did it take?"
    )

    def __init__(self, *args, task: Task, has_sessions: bool, **kwargs):
        super().__init__(*args, **kwargs)
        other = "with AI" if task.condition == Task.Condition.NO_AI else "without AI"
        self.fields[
            "perceived_other_minutes"
        ].label = f"Optional: how long would it have taken {other}? (minutes)"
        if has_sessions:
            del self.fields["actual_minutes"]
        else:
            self.fields["actual_minutes"].required = True


ENTERED_WRONGLY = "Entered wrongly"


class TaskAbandonForm(WorklogForm):
    """The reason in free text; the "Entered wrongly" button (``entered_wrongly``) gives that
    reason in one click, followed by any text typed."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why are you abandoning it?",
        required=False,  # the service refuses an empty reason, beside this field
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if self.data.get("entered_wrongly"):
            return f"{ENTERED_WRONGLY}: {reason}" if reason else ENTERED_WRONGLY
        return reason


class DurationField(forms.CharField):
    """A duration as people type it (``uplift.worklog.durations``), cleaned to minutes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", f"Or with the start or the end: {DURATION_FORMS_TEXT}.")
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocomplete": "off", "spellcheck": "false", "maxlength": 40})

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if len(value) > 40:
            raise forms.ValidationError(f"Write the duration {DURATION_FORMS_TEXT}.")
        return parse_duration(value)


class WorkSessionForm(WorklogForm):
    """A finished session: two of its start, end and duration."""

    started_at = MomentField(label="Start", required=False)
    ended_at = MomentField(label="End", required=False)
    duration = DurationField(label="Duration", required=False)
    confirm_long = forms.BooleanField(
        required=False, label="Yes, this session really lasted over 16 hours"
    )

    def clean(self):
        data = super().clean()
        if any(name in self.errors for name in ("started_at", "ended_at", "duration")):
            return data
        started_at, ended_at = data.get("started_at"), data.get("ended_at")
        minutes = data.pop("duration", None)
        if minutes is not None and started_at and ended_at and self._end_as_shown():
            ended_at = None  # a duration typed over the end shown on the page replaces it
        if minutes is None and not (started_at and ended_at):
            missing = "ended_at" if started_at else "started_at"
            self.add_error(missing, "Give the start and the end, or one of them and a duration.")
            return data
        data["started_at"], data["ended_at"] = session_bounds(
            started_at=started_at, ended_at=ended_at, minutes=minutes
        )
        return data

    def _end_as_shown(self) -> bool:
        return self.initial.get("ended_at") is not None and "ended_at" not in self.changed_data


EDIT_DURATION_HELP = f"Or with the start, and the end follows: {DURATION_FORMS_TEXT}."


class WorkSessionEditForm(WorkSessionForm):
    """Correcting a session: its times, and the task it belongs to."""

    task = forms.ModelChoiceField(
        queryset=Task.objects.none(),
        label="Task",
        empty_label=None,
        required=False,
        help_text="Move the session to another of your tasks.",
    )

    field_order = ["task", "started_at", "ended_at", "duration", "confirm_long"]

    def __init__(self, *args, tasks: QuerySet[Task], **kwargs):
        """``tasks``: those the session may move to (``selectors.task_list_session_targets``)."""
        super().__init__(*args, **kwargs)
        self.fields["task"].queryset = tasks
        self.fields["task"].label_from_instance = lambda t: (
            f"{t} ({t.get_status_display().lower()})"
        )
        self.fields["duration"].help_text = EDIT_DURATION_HELP


class ToolUseForm(WorklogForm):
    """One checkbox per tool of the catalog, each with optional minutes and mode."""

    def __init__(self, *args, tools, current: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.tools = list(tools)
        for tool in self.tools:
            use = current.get(tool.pk)
            self.fields[f"tool_{tool.pk}"] = forms.BooleanField(
                required=False, label=tool.name, initial=use is not None
            )
            self.fields[f"minutes_{tool.pk}"] = MinutesField(
                required=False,
                label=f"Minutes with {tool.name}",
                initial=use.minutes if use else None,
            )
            self.fields[f"mode_{tool.pk}"] = forms.ChoiceField(
                choices=ToolUse.Mode.choices,
                label=f"Mode of {tool.name}",
                initial=use.mode if use else ToolUse.Mode.OTHER,
            )

    def rows(self):
        """(tool, checkbox, minutes, mode) bound fields, in catalog order."""
        for tool in self.tools:
            yield tool, self[f"tool_{tool.pk}"], self[f"minutes_{tool.pk}"], self[f"mode_{tool.pk}"]

    def chosen(self):
        """(tool, minutes, mode) of the ticked tools."""
        return [
            (
                tool,
                self.cleaned_data.get(f"minutes_{tool.pk}"),
                self.cleaned_data.get(f"mode_{tool.pk}"),
            )
            for tool in self.tools
            if self.cleaned_data.get(f"tool_{tool.pk}")
        ]


class HistoryFilterForm(WorklogForm):
    task_type = forms.ModelChoiceField(
        queryset=TaskType.objects.none(), required=False, empty_label="All types"
    )
    condition = forms.ChoiceField(
        choices=[("", "Both conditions"), *Task.Condition.choices], required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task_type"].queryset = task_type_list()
