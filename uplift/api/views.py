"""The REST API under /api/v1/: viewsets narrow every query to what the user may see.

What a user may see and do is ``request.access`` (``uplift.accounts.access``). Rows a user
may not see answer 404 (their existence is not revealed); rows they may see but not
change, and endpoints their role may not use, answer 403. Writes go through the worklog
services, which enforce the lock rules and record refused attempts.
"""

from django.db.models import F
from django.http import HttpResponsePermanentRedirect, JsonResponse, StreamingHttpResponse
from django.urls import Resolver404, resolve
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from uplift.accounts.models import Team
from uplift.api import serializers as s
from uplift.api.export import export_csv, export_jsonl
from uplift.api.filters import TaskFilter, ToolUseFilter, WorkSessionFilter
from uplift.api.parameters import KnownQueryParameters
from uplift.api.permissions import IsAdmin, IsAnalystOrAdmin
from uplift.api.throttling import WriteThrottle
from uplift.estimates.models import Snapshot
from uplift.estimates.selectors import snapshot_as_json, snapshot_latest
from uplift.estimates.vocabulary import Dimension
from uplift.worklog import services
from uplift.worklog.bounds import MINUTES_RANGE_TEXT, MOMENT_WINDOW_TEXT
from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession
from uplift.worklog.selectors import tool_names_by_task
from uplift.worklog.worklog_csv import (
    MAX_PROBLEMS_LISTED,
    MAX_ROWS,
    decoded_lines,
)

# The largest worklog CSV the API accepts (about 250,000 typical rows).
IMPORT_MAX_BYTES = 64 * 2**20

EXPORT_FORMATS = {
    "csv": ("text/csv; charset=utf-8", export_csv),
    "jsonl": ("application/x-ndjson", export_jsonl),
}


class ExportRenderer(BaseRenderer):
    """An export format for content negotiation (``Accept: text/csv``): the export streams its
    body itself, and errors are answered in JSON (``TaskViewSet.finalize_response``)."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


class CsvRenderer(ExportRenderer):
    media_type = "text/csv"
    format = "csv"


class JsonLinesRenderer(ExportRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"


# Without an Accept header (or with */*) the first: CSV, as before.
EXPORT_RENDERERS = [CsvRenderer, JsonLinesRenderer, JSONRenderer]


def _valid(request, serializer_class) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _refuse_analyst_writes(request) -> None:
    if request.access.read_only:
        raise PermissionDenied("Analysts have read-only access.")


@extend_schema_view(
    list=extend_schema(summary="Tasks the user may see, newest first"),
    retrieve=extend_schema(summary="One task"),
)
class TaskViewSet(
    KnownQueryParameters,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Tasks: researchers plan and edit their own, leads read their teams', analysts all."""

    queryset = Task.objects.none()  # the model, for the schema; see get_queryset
    serializer_class = s.TaskSerializer
    filterset_class = TaskFilter
    ordering_fields = ["id", "created_at", "updated_at"]
    throttle_classes = [WriteThrottle]
    filtered_actions = ("export",)
    query_parameters = {"export": ("format",)}

    def get_queryset(self):
        # Names joined in as columns: no User, Team and TaskType objects per row.
        return self.request.access.visible_tasks(Task.objects.all()).annotate(
            researcher_email=F("owner__email"),
            team_name=F("team__name"),
            task_type_name=F("task_type__name"),
        )

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {
            **self.get_serializer_context(),
            "tools_of": tool_names_by_task(task_ids=[task.pk for task in page]),
        }
        return self.get_paginated_response(s.TaskSerializer(page, many=True, context=context).data)

    def _task_to_change(self) -> Task:
        task = self.get_object()
        if not self.request.access.may_change_task(task):
            raise PermissionDenied("Only the task's researcher may change it.")
        return task

    def _answer(self, task: Task, code=status.HTTP_200_OK) -> Response:
        task = self.get_queryset().get(pk=task.pk)
        return Response(s.TaskSerializer(task, context={"request": self.request}).data, code)

    @extend_schema(
        summary="Plan a task: its condition is drawn once and for all",
        description="Forecasts that look like a typo (one more than 4 times the other, or "
        "either over a working day, 480 minutes) are refused, 400 with the rule under "
        "`confirm_forecasts`, unless `confirm_forecasts` is true: they cannot change after "
        "the draw.",
        request=s.TaskPlanSerializer,
        responses={201: s.TaskSerializer},
    )
    def create(self, request):
        _refuse_analyst_writes(request)
        if not request.access.may_plan:
            raise PermissionDenied("Only researchers and leads plan tasks.")
        data = _valid(request, s.TaskPlanSerializer)
        task = services.task_plan(owner=request.user, **data)
        return self._answer(task, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a task's title, perceived time or abandon reason",
        description="Forecasts, assignment and condition are locked after randomization: "
        "a change to any of them is refused (400) and recorded in the audit log.",
        request=s.TaskChangeSerializer,
        responses={200: s.TaskSerializer},
    )
    def partial_update(self, request, pk=None):
        task = self._task_to_change()
        changes = _valid(request, s.TaskChangeSerializer)
        task = services.task_update(task=task, actor=request.user, changes=changes, via="api")
        return self._answer(task)

    @extend_schema(
        summary="Complete a task",
        request=s.TaskCompleteSerializer,
        responses={200: s.TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        task = self._task_to_change()
        data = _valid(request, s.TaskCompleteSerializer)
        return self._answer(services.task_complete(task=task, **data))

    @extend_schema(
        summary="Abandon a task, keeping it and its assignment",
        request=s.TaskAbandonSerializer,
        responses={200: s.TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def abandon(self, request, pk=None):
        task = self._task_to_change()
        data = _valid(request, s.TaskAbandonSerializer)
        return self._answer(services.task_abandon(task=task, **data))

    @extend_schema(
        summary="Replace the AI tools logged on a task",
        request=s.ToolUseSetSerializer,
        responses={200: s.TaskSerializer},
    )
    @action(detail=True, methods=["put"], url_path="tool-uses")
    def tool_uses(self, request, pk=None):
        task = self._task_to_change()
        data = _valid(request, s.ToolUseSetSerializer)
        services.tool_use_set(task=task, uses=[services.ToolUseEntry(**u) for u in data["uses"]])
        return self._answer(task)

    @extend_schema(
        summary="Export tasks as the worklog CSV or JSON lines, streamed",
        description="The same filters as the task list; rows in id order. The CSV is the "
        "import format (docs/worklog-csv.md); analysts get pseudonyms instead of emails and "
        "of task ids (an imported id can name its researcher). The format is the `format` "
        "parameter's, else the one the `Accept` header asks for (`text/csv` or "
        "`application/x-ndjson`), else CSV. Errors are JSON whatever the `Accept` header.",
        filters=True,
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=[*EXPORT_FORMATS],
                description="`csv` or `jsonl`; without it, as the Accept header asks (else csv).",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The worklog CSV (text/csv) or one JSON object per line "
                "(application/x-ndjson)",
            ),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR),
        },
    )
    @action(detail=False, methods=["get"], pagination_class=None, renderer_classes=EXPORT_RENDERERS)
    def export(self, request):
        name = request.query_params.get("format")
        if name is None:
            accepted = request.accepted_renderer
            name = accepted.format if isinstance(accepted, ExportRenderer) else "csv"
        if name not in EXPORT_FORMATS:
            raise ValidationError({"format": [f"Must be one of: {', '.join(EXPORT_FORMATS)}."]})
        content_type, write = EXPORT_FORMATS[name]
        access = request.access
        tasks = self.filter_queryset(access.visible_tasks(Task.objects.all()))
        response = StreamingHttpResponse(write(tasks=tasks, access=access), content_type)
        response["Content-Disposition"] = f'attachment; filename="tasks.{name}"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # An error of the export (400, 401, 403, 406, 429) is JSON, as it is everywhere else,
        # even when the request asked for text/csv.
        if isinstance(response, Response) and not isinstance(
            getattr(request, "accepted_renderer", None), JSONRenderer
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="Work sessions on the tasks the user may see"),
    retrieve=extend_schema(summary="One work session"),
)
class WorkSessionViewSet(
    KnownQueryParameters,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Work sessions: the researcher adds and corrects them; others read as they read tasks."""

    queryset = WorkSession.objects.none()  # the model, for the schema; see get_queryset
    serializer_class = s.WorkSessionSerializer
    filterset_class = WorkSessionFilter
    ordering_fields = ["id", "started_at"]
    throttle_classes = [WriteThrottle]
    http_method_names = ["get", "post", "put", "delete", "head", "options"]  # PUT: whole

    def get_queryset(self):
        visible = self.request.access.visible_tasks(Task.objects.all())
        return WorkSession.objects.filter(task__in=visible)

    def _own_task(self, task: Task) -> Task:
        # The serializers' task field only finds tasks the user may see (others read as
        # missing): a task seen but not editable is a lead's or an analyst's.
        if not self.request.access.may_change_task(task):
            raise PermissionDenied("Only the task's researcher may log time on it.")
        return task

    @extend_schema(
        summary="Add a finished work session by hand",
        request=s.WorkSessionWriteSerializer,
        responses={201: s.WorkSessionSerializer},
    )
    def create(self, request):
        data = _valid(request, s.WorkSessionWriteSerializer)
        task = self._own_task(data.pop("task"))
        session = services.work_session_add(task=task, **data)
        return Response(s.WorkSessionSerializer(session).data, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Correct a work session's times, or move it to another of your tasks",
        request=s.WorkSessionChangeSerializer,
        responses={200: s.WorkSessionSerializer},
    )
    def update(self, request, pk=None):
        session = self.get_object()
        self._own_task(session.task)
        data = _valid(request, s.WorkSessionChangeSerializer)
        session = services.work_session_update(
            session=session, actor=request.user, via="api", **data
        )
        return Response(s.WorkSessionSerializer(session).data)

    @extend_schema(
        summary="Delete a work session (recorded in the audit log)",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request, pk=None):
        session = self.get_object()
        self._own_task(session.task)
        services.work_session_delete(session=session, actor=request.user, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Start the timer on a task (a timer on another task stops)",
        request=s.WorkSessionStartSerializer,
        responses={201: s.WorkSessionSerializer},
    )
    @action(detail=False, methods=["post"])
    def start(self, request):
        data = _valid(request, s.WorkSessionStartSerializer)
        task = self._own_task(data.pop("task"))
        session = services.work_session_start(task=task, **data)
        return Response(s.WorkSessionSerializer(session).data, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Stop the user's running timer",
        request=s.WorkSessionStopSerializer,
        responses={
            200: s.WorkSessionSerializer,
            204: OpenApiResponse(description="No timer was running."),
        },
    )
    @action(detail=False, methods=["post"])
    def stop(self, request):
        data = _valid(request, s.WorkSessionStopSerializer)
        session = services.work_session_stop(owner=request.user, **data)
        if session is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.WorkSessionSerializer(session).data)


@extend_schema_view(
    list=extend_schema(summary="AI tools used on the tasks the user may see"),
    retrieve=extend_schema(summary="One tool use"),
)
class ToolUseViewSet(KnownQueryParameters, viewsets.ReadOnlyModelViewSet):
    queryset = ToolUse.objects.none()  # the model, for the schema; see get_queryset
    serializer_class = s.ToolUseSerializer
    filterset_class = ToolUseFilter
    ordering_fields = ["id"]

    def get_queryset(self):
        visible = self.request.access.visible_tasks(Task.objects.all())
        return ToolUse.objects.filter(task__in=visible).select_related("tool")


@extend_schema_view(
    list=extend_schema(summary="Teams: the user's own, or all for analysts and admins"),
    retrieve=extend_schema(summary="One team"),
)
class TeamViewSet(KnownQueryParameters, viewsets.ReadOnlyModelViewSet):
    queryset = Team.objects.none()  # the model, for the schema; see get_queryset
    serializer_class = s.TeamSerializer
    ordering_fields = ["id", "name"]

    def get_queryset(self):
        return self.request.access.visible_teams()


@extend_schema_view(
    list=extend_schema(summary="Task types"), retrieve=extend_schema(summary="One task type")
)
class TaskTypeViewSet(KnownQueryParameters, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.TaskTypeSerializer
    queryset = TaskType.objects.all()
    ordering_fields = ["id", "name"]


@extend_schema_view(
    list=extend_schema(summary="The AI tool catalog"), retrieve=extend_schema(summary="One tool")
)
class ToolViewSet(KnownQueryParameters, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ToolSerializer
    queryset = Tool.objects.all()
    ordering_fields = ["id", "name"]


@extend_schema_view(
    list=extend_schema(summary="Estimation runs, newest first"),
    retrieve=extend_schema(summary="One estimation run"),
)
class SnapshotViewSet(KnownQueryParameters, viewsets.ReadOnlyModelViewSet):
    """The history of estimation runs (analysts and admins)."""

    serializer_class = s.SnapshotSerializer
    queryset = Snapshot.objects.all()
    permission_classes = [IsAnalystOrAdmin]
    filterset_fields = ["status", "trigger"]
    ordering_fields = ["id"]


class EstimatesView(KnownQueryParameters, APIView):
    """The latest estimates, in the shape of ``manage.py show_estimates --json``."""

    permission_classes = [IsAnalystOrAdmin]
    may_be_missing = True
    query_parameters = {"get": ("dimension", "group")}

    @extend_schema(
        summary="The latest snapshot's estimates",
        parameters=[
            OpenApiParameter("dimension", OpenApiTypes.STR, enum=[*Dimension]),
            OpenApiParameter("group", OpenApiTypes.STR, description="e.g. a team's name"),
        ],
        responses={200: s.EstimatesSerializer},
    )
    def get(self, request):
        snapshot = snapshot_latest()
        if snapshot is None:
            raise NotFound("No estimates yet: they are computed after the first tasks.")
        document = snapshot_as_json(snapshot=snapshot)
        dimension = request.query_params.get("dimension")
        group = request.query_params.get("group")
        document["estimates"] = [
            row
            for row in document["estimates"]
            if (dimension is None or row["dimension"] == dimension)
            and (group is None or (row["group"] or "") == group)
        ]
        return Response(document)


class ImportView(KnownQueryParameters, APIView):
    """Import a worklog CSV, whole or not at all (admins only: it writes anyone's records)."""

    permission_classes = [IsAdmin]
    parser_classes = [MultiPartParser]
    throttle_classes = [WriteThrottle]

    @extend_schema(
        summary="Import a worklog CSV (admins only)",
        description="Admins only: an import writes into researchers' records (any other role "
        "answers 403). The file's format is docs/worklog-csv.md in the Uplift repository. "
        "Whole or nothing: a bad file answers 400 with its problems by row and "
        f"column (`problems`: the first {MAX_PROBLEMS_LISTED}; `problem_count`: all of them) "
        "and nothing is written. Re-importing an id updates that task. The optional column "
        "`allocation_ai` is a randomized task's probability of being drawn `ai` (strictly "
        f"between 0 and 1; empty: {services.IMPORTED_ALLOCATION_AI:g} for a new task, unchanged "
        "for an existing one; empty for self-selected tasks); like the forecasts, assignment and "
        "condition it cannot change on a re-import. Limits: at most "
        f"{IMPORT_MAX_BYTES // 2**20} MiB and {MAX_ROWS:,} task rows per file; minutes "
        f"{MINUTES_RANGE_TEXT}; dates: {MOMENT_WINDOW_TEXT}",
        request={"multipart/form-data": s.ImportSerializer},
        responses={200: s.ImportResultSerializer},
    )
    def post(self, request):
        data = _valid(request, s.ImportSerializer)
        upload = data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise ValidationError(
                {"file": [f"The file is larger than {IMPORT_MAX_BYTES // 2**20} MiB: split it."]}
            )
        upload.seek(0)
        # Read row by row from the uploaded file (on disk when large) into the database's
        # staging table: neither the file nor its rows are ever held whole.
        result = services.import_worklog_file(decoded_lines(upload), actor=request.user)
        return Response(
            {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        )


def not_found(request, path: str = ""):
    """Unknown paths under /api/v1/ answer JSON like every other API error.

    As Django's APPEND_SLASH would (this catch-all resolves first), a GET of a known path
    without its trailing slash is redirected.
    """
    if request.method == "GET" and not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse({"detail": "Not found."}, status=404)
