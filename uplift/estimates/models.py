import json
from datetime import date

from django.db import connections, models
from django.db.models import Q

from uplift.estimates.vocabulary import Dimension, EstimateRowData, RowStatus

# Calendar months of each date range of the dashboards (0: all time).
WINDOW_MONTHS = {"all": 0, "12m": 12, "6m": 6, "3m": 3}


def calendar_months(n_months: int, day: date) -> list[str]:
    """The N calendar months ("YYYY-MM") ending with ``day``'s month, oldest first."""
    current = day.year * 12 + day.month - 1  # months since year 0, zero-based
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(current - n_months + 1, current + 1)]


def window_month_range(window: str, day: date) -> tuple[str, str]:
    """First and last month ("YYYY-MM") of a date range ending with ``day``'s month; ("", "")
    for all time."""
    months = calendar_months(WINDOW_MONTHS[window], day)
    return (months[0], months[-1]) if months else ("", "")


class Snapshot(models.Model):
    """One run of the estimation job, and when it succeeded, every estimate it computed.

    Readers see the latest succeeded snapshot; a failed or interrupted run never replaces it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        CHANGE = "change", "Data changed"
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Requested"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.CHANGE)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    method_version = models.CharField(max_length=20, blank=True)
    # Input watermark: how many tasks were read and the latest change among them.
    n_tasks = models.PositiveIntegerField(null=True, blank=True)
    data_changed_at = models.DateTimeField(null=True, blank=True)
    method = models.JSONField(default=dict, blank=True)
    lab = models.JSONField(null=True, blank=True)
    # The date ranges the refresh planned for each kind of slice ({"org": [...], "team":
    # [...]}, compute.SCOPE_WINDOWS): a range planned but not stored held no task. Empty for a
    # snapshot computed before teams had date ranges (``LEGACY_SCOPE_WINDOWS``).
    scope_windows = models.JSONField(default=dict, blank=True)
    # The run's pieces of work (compute.piece_plan), each a Celery job that may run on any
    # worker: {"org": window} or {"teams": [team ids]}, with its "share" of the progress; and
    # the positions of those committed so far. The piece completing the set publishes.
    pieces = models.JSONField(default=list, blank=True)
    pieces_done = models.JSONField(default=list, blank=True)
    # Last sign of life of a running run (any piece's progress): a run silent for longer than
    # ESTIMATES_REFRESH_STALE_SECONDS is taken as interrupted by the next one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    LEGACY_SCOPE_WINDOWS = {"org": ["all", "6m", "3m"], "team": ["all"]}

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # At most one queued run: later requests join it (coalescing bursts of changes).
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="pending"), name="snapshot_one_pending"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "succeeded", "failed"]),
                name="snapshot_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "-finished_at"], name="snapshot_status_finished")]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} ({self.status})"

    def planned_windows(self, kind: str) -> list[str]:
        """The date ranges this snapshot's refresh planned for a kind of slice ("org", "team")."""
        return (self.scope_windows or self.LEGACY_SCOPE_WINDOWS).get(kind, [])

    @property
    def progress(self) -> float:
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        return self.progress_done / self.progress_total if self.progress_total else 0.0


class EstimateRow(models.Model):
    """One row of ``estimate_all``: ``data`` holds every figure and diagnostic, and the columns
    beside it the few that pages and the admin query."""

    position = models.PositiveIntegerField()
    dimension = models.CharField(max_length=20, choices=Dimension.choices())
    # The team, task type, tool or month; empty for the overall and observational rows.
    group = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=20, choices=RowStatus.choices())
    n_tasks = models.PositiveIntegerField()
    time_change = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    data = models.JSONField()

    class Meta:
        abstract = True

    @classmethod
    def from_rows(cls, rows: list[EstimateRowData], **owner) -> list:
        """Unsaved instances for ``estimate_all`` rows, in their order, under ``owner``."""
        return [
            cls(
                position=position,
                dimension=row["dimension"],
                group=row["group"] or "",
                status=row["status"],
                n_tasks=row["n_tasks"],
                time_change=row["time_change"],
                ci_low=row["ci_low"],
                ci_high=row["ci_high"],
                data=row,
                **owner,
            )
            for position, row in enumerate(rows)
        ]

    @classmethod
    def insert_all(cls, objs: list, *, using: str = "default") -> None:
        """Insert unsaved rows without reading their ids back.

        PostgreSQL gets one COPY: ``bulk_create`` sends the rows' JSON as a ``jsonb[]`` array
        literal, which the driver quotes with a regular expression per character to escape
        (2.9 s of CPU for the 5,800 rows of a full refresh at 25,000 tasks; docs/performance.md,
        "Refresh: rows estimated once"). Elsewhere ``bulk_create`` as before.
        """
        connection = connections[using]
        if connection.vendor != "postgresql":
            cls.objects.using(using).bulk_create(objs, batch_size=500)
            return
        fields = [f for f in cls._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        table = connection.ops.quote_name(cls._meta.db_table)
        # The columns are plain numbers and text, and JSON goes as its text: no field's
        # per-value preparation (a third of the write's CPU), the same stored values.
        names = [f.attname for f in fields]
        json_names = {f.attname for f in fields if isinstance(f, models.JSONField)}
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for obj in objs:
                values = obj.__dict__
                copy.write_row(
                    [json.dumps(values[n]) if n in json_names else values[n] for n in names]
                )


class Estimate(EstimateRow):
    """One scope's estimate within a snapshot (the organisation, all time)."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="estimates")

    class Meta:
        ordering = ["snapshot_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "dimension", "group"],
                name="estimate_one_per_scope",
            ),
        ]
        indexes = [models.Index(fields=["snapshot", "dimension", "group"], name="estimate_scope")]

    def __str__(self) -> str:
        return f"{self.dimension}:{self.group or 'all'}"


class SnapshotScope(models.Model):
    """One precomputed slice of a snapshot: the organisation or one team, over a window.

    The dashboards filter only among these: a page never fits anything. ``Estimate`` keeps the
    organisation's all-time rows (what ``show_estimates`` and the API return); the same rows
    are repeated here as the "org" scope of window "all", so that the pages read one table.
    """

    class Kind(models.TextChoices):
        ORG = "org", "Organisation"
        TEAM = "team", "Team"

    class Window(models.TextChoices):
        ALL = "all", "All time"
        LAST_12 = "12m", "Last 12 months"
        LAST_6 = "6m", "Last 6 months"
        LAST_3 = "3m", "Last 3 months"

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="scopes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Kept when a team is later deleted: the snapshot still says what it computed.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    label = models.CharField(max_length=200)
    window = models.CharField(max_length=10, choices=Window.choices)
    # Calendar months ("YYYY-MM") the window covers, ending with the month of the refresh; it
    # holds the tasks randomized in them (compute.scope_plan). Empty for all time.
    first_month = models.CharField(max_length=7, blank=True)
    last_month = models.CharField(max_length=7, blank=True)
    n_tasks = models.PositiveIntegerField()
    lab = models.JSONField(null=True, blank=True)
    # Fingerprint of the slice's input rows: the next refresh reuses the rows when it matches.
    input_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["snapshot_id", "kind", "label", "window"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "window"],
                condition=Q(kind="org"),
                name="snapshot_scope_one_org_per_window",
            ),
            models.UniqueConstraint(
                fields=["snapshot", "team", "window"],
                condition=Q(kind="team"),
                name="snapshot_scope_one_team_per_window",
            ),
            models.CheckConstraint(
                condition=(Q(kind="org") & Q(team__isnull=True)) | Q(kind="team"),
                name="snapshot_scope_org_has_no_team",
            ),
            models.CheckConstraint(
                condition=Q(window__in=["all", "12m", "6m", "3m"]),
                name="snapshot_scope_window_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_window_display()})"


class ScopedEstimate(EstimateRow):
    """One estimate row of a ``SnapshotScope``, as ``estimate_all`` computed it on that slice."""

    scope = models.ForeignKey(SnapshotScope, on_delete=models.CASCADE, related_name="estimates")

    class Meta:
        ordering = ["scope_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "dimension", "group"], name="scoped_estimate_one_per_scope"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}: {self.dimension}:{self.group or 'all'}"
