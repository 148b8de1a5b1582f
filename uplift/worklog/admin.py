from datetime import UTC, datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from uplift.admin_base import ViewOnlyAdmin
from uplift.worklog import services
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse, WorkSession


@admin.register(TaskType)
class TaskTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "observational", "description"]
    list_filter = ["observational"]
    search_fields = ["name"]


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ["name", "vendor", "model_version"]
    list_filter = ["vendor"]
    search_fields = ["name", "vendor", "model_version"]


class WorkSessionInlineFormSet(forms.BaseInlineFormSet):
    """Sessions edited here follow the rules of the researcher's pages (but a session over
    16 hours, which an administrator enters on purpose): a refusal is a form error, not a
    database error. The researcher of the session is the task's."""

    def clean(self):
        super().clean()
        owner_id = getattr(self.instance, "owner_id", None)
        if owner_id is None or any(self.errors):
            return  # the task's own errors come first
        rows = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("started_at")
        ]
        ids = [form.instance.pk for form in self.forms]
        for i, form in enumerate(rows):
            started_at, ended_at = form.cleaned_data["started_at"], form.cleaned_data["ended_at"]
            if not form.has_changed() and owner_id == form.instance.owner_id:
                continue
            try:
                services.work_session_check(
                    owner_id=owner_id,
                    started_at=started_at,
                    ended_at=ended_at,
                    confirm_long=True,
                    exclude_ids=ids,
                )
            except ValidationError as error:
                form.add_error(None, error.messages)
                continue
            for other in rows[:i] + rows[i + 1 :]:
                other_start, other_end = (
                    other.cleaned_data["started_at"],
                    other.cleaned_data["ended_at"],
                )
                # A session without an end is running: it reaches to now and beyond.
                if started_at < (other_end or datetime.max.replace(tzinfo=UTC)) and (
                    other_start < ended_at
                ):
                    form.add_error(None, "Overlaps another session of this task.")
                    break

    def save_new(self, form, commit=True):
        session = super().save_new(form, commit=False)
        session.owner_id = self.instance.owner_id
        if commit:
            session.save()
        return session


class WorkSessionInline(admin.TabularInline):
    model = WorkSession
    formset = WorkSessionInlineFormSet
    extra = 0
    fields = ["started_at", "ended_at"]


class ToolUseInline(admin.TabularInline):
    model = ToolUse
    extra = 0
    autocomplete_fields = ["tool"]


class TaskAdminForm(forms.ModelForm):
    """A task added here is self-selected: only planning draws a randomized condition."""

    class Meta:
        model = Task
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets and read-only fields decide

    def clean_assignment(self):
        assignment = self.cleaned_data.get("assignment")
        if self.instance.pk is None and assignment == Task.Assignment.RANDOMIZED:
            raise forms.ValidationError(
                "A randomized task gets its condition from the draw when its researcher plans "
                "it (on the Today page or through the API). Add tasks here as self-selected."
            )
        return assignment


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    form = TaskAdminForm
    list_display = [
        "id",
        "title",
        "owner",
        "team",
        "task_type",
        "assignment",
        "condition",
        "status",
        "forecast_no_ai_minutes",
        "actual_minutes",
        "completed_at",
    ]
    list_filter = ["status", "condition", "assignment", "team", "task_type", "source"]
    search_fields = ["title", "owner__username", "owner__email", "external_id"]
    list_select_related = ["owner", "team", "task_type"]
    autocomplete_fields = ["owner", "team", "task_type"]
    date_hierarchy = "created_at"
    readonly_fields = ["randomized_at", "allocation_ai", "block", "created_at", "updated_at"]
    inlines = [WorkSessionInline, ToolUseInline]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # Forecasts and assignment are locked once a task exists (it is assigned on creation).
            fields += list(Task.LOCKED_FIELDS)
        return fields


@admin.register(AuditEntry)
class AuditEntryAdmin(ViewOnlyAdmin):
    list_display = ["at", "action", "field", "task", "actor", "via", "old_value", "new_value"]
    list_filter = ["action", "field", "via"]
    search_fields = ["task__title", "actor__username", "detail"]
    list_select_related = ["task", "actor"]
    date_hierarchy = "at"

    def has_delete_permission(self, request, obj=None):
        return False
