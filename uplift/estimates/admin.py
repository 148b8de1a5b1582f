from django.contrib import admin

from uplift.admin_base import ViewOnlyAdmin
from uplift.estimates.models import Estimate, Snapshot


class EstimateInline(admin.TabularInline):
    model = Estimate
    fields = ["dimension", "group", "status", "n_tasks", "time_change", "ci_low", "ci_high"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Snapshot)
class SnapshotAdmin(ViewOnlyAdmin):
    """Runs of the estimation job: read-only, written only by the job."""

    list_display = [
        "id",
        "status",
        "trigger",
        "requested_at",
        "finished_at",
        "duration_seconds",
        "n_tasks",
        "method_version",
    ]
    list_filter = ["status", "trigger", "method_version"]
    date_hierarchy = "requested_at"
    inlines = [EstimateInline]


@admin.register(Estimate)
class EstimateAdmin(ViewOnlyAdmin):
    list_display = ["snapshot", "dimension", "group", "status", "n_tasks", "time_change"]
    list_filter = ["dimension", "status"]
    search_fields = ["group"]
    list_select_related = ["snapshot"]
