"""Team lead and organisation dashboards: they read the latest snapshot and nothing else."""

from __future__ import annotations

import csv
import hashlib
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from uplift.accounts.models import Team
from uplift.dashboards import charts
from uplift.estimates.models import Snapshot, SnapshotScope, window_month_range
from uplift.estimates.selectors import (
    scoped_estimate_get,
    scoped_estimate_list,
    snapshot_in_progress,
    snapshot_latest,
    snapshot_scope_windows,
)
from uplift.estimates.services import estimates_refresh_queue
from uplift.estimates.vocabulary import (
    MIN_RESEARCHERS,
    MIN_TASKS_PER_ARM,
    Dimension,
    EstimateRowData,
    RowStatus,
)
from uplift.spreadsheet import escape_row
from uplift.timezones import in_reader_time_zone
from uplift.worklog.selectors import task_exists, task_list_for_team

# How long a slice's rendered charts are kept (they never change; this only bounds memory).
SCOPE_VIEW_SECONDS = 60 * 60


def _require_dashboard_user(request: HttpRequest) -> None:
    """Dashboards are for leads, analysts and admins (``request.access``): 403 for anyone
    else."""
    if not request.access.sees_dashboards:
        raise PermissionDenied("Dashboards are for team leads, analysts and admins.")


def _dashboard_teams(request: HttpRequest) -> list[Team]:
    """The teams whose dashboards the user may see, by name (403 if they may see none)."""
    _require_dashboard_user(request)
    return request.access.dashboard_teams()


def _team_requested(request: HttpRequest, teams: list[Team]) -> Team | None:
    """The team in the query string (`team`), else the first visible one (None if none).

    Another existing team is refused (403), an unknown or malformed id is not found (404).
    """
    requested = request.GET.get("team", "")
    if not requested:
        return teams[0] if teams else None
    if not requested.isdigit():
        raise Http404("No such team.")
    team = next((t for t in teams if t.pk == int(requested)), None)
    if team is None:
        if Team.objects.filter(pk=int(requested)).exists():
            raise PermissionDenied("You can only see the teams you lead.")
        raise Http404("No such team.")
    return team


def _window_scope(candidates: list[SnapshotScope], window: str) -> SnapshotScope | None:
    """The slice of the requested window, else all time (else the first), None if none."""
    scope = next((s for s in candidates if s.window == window), None)
    if scope is None and candidates:
        scope = next((s for s in candidates if s.window == SnapshotScope.Window.ALL), candidates[0])
    return scope


def _window_options(candidates: list[SnapshotScope], shown: str) -> list[dict]:
    """Every date range of the select, in order, with its months where it was computed;
    ``shown`` is the range on the page."""
    computed = {scope.window: scope for scope in candidates}
    options = []
    for value, label in SnapshotScope.Window.choices:
        scope = computed.get(value)
        if scope is not None and scope.first_month:
            label = f"{label} ({scope.first_month} to {scope.last_month})"
        options.append({"value": value, "label": label, "selected": value == shown})
    return options


def _missing_range_notice(
    window: str, *, shown: SnapshotScope, snapshot: Snapshot, org: bool, job
) -> str:
    """Why the requested date range has no figures, in words; ``shown`` is what is shown."""
    showing = f"showing {shown.get_window_display().lower()}"
    if window not in SnapshotScope.Window.values:
        return f"There is no such date range: {showing}."
    label = SnapshotScope.Window(window).label.lower()
    if window in snapshot.planned_windows("org" if org else "team"):
        # Computed with the snapshot, and no task fell in it: the months of the snapshot.
        day = timezone.localdate(
            snapshot.started_at or snapshot.finished_at, timezone.get_default_timezone()
        )
        first, last = window_month_range(window, day)
        whose = "" if org else " of this team"
        return f"No task{whose} was randomized in the {label} ({first} to {last}): {showing}."
    if job is not None:
        return (
            f"The {label} are not in the latest figures yet: they will be ready when the "
            f"recompute under way finishes. Until then, {showing}."
        )
    return (
        f"The {label} are not in the latest figures yet: the next recompute will compute "
        f"them. Until then, {showing}."
    )


def _dashboard(request: HttpRequest, *, org: bool) -> dict:
    """Everything one dashboard page shows, for the filters in the request's query string."""
    teams = _dashboard_teams(request)
    if org and not request.access.sees_org_dashboard:
        raise PermissionDenied("The organisation view is for analysts and admins.")
    team = None if org else _team_requested(request, teams)

    context = {
        "org": org,
        "teams": teams,
        "team": team,
        "job": snapshot_in_progress(),
        "notices": [],
        "charts": [],
        "min_tasks_per_arm": MIN_TASKS_PER_ARM,
        "min_researchers": MIN_RESEARCHERS,
    }
    snapshot = snapshot_latest()
    context["snapshot"] = snapshot
    if not org and team is None:
        return context
    candidates = []
    if snapshot is not None:
        candidates = snapshot_scope_windows(snapshot=snapshot, team_id=None if org else team.pk)
    context["window_options"] = _window_options(candidates, SnapshotScope.Window.ALL)
    if not candidates:
        # Nothing to show: either nothing was ever logged here, or the latest figures were
        # computed before the first tasks (the recompute they queued brings them).
        context["state"] = "pending" if task_exists(team=team) else "empty"
        return context
    window = request.GET.get("window", SnapshotScope.Window.ALL)
    scope = _window_scope(candidates, window)
    if scope.window != window:
        context["notices"].append(
            _missing_range_notice(
                window, shown=scope, snapshot=snapshot, org=org, job=context["job"]
            )
        )
    context["window_options"] = _window_options(candidates, scope.window)
    context["scope"] = scope

    view = _scope_view(
        scope=scope, snapshot=snapshot, org=org, team=team, task_type=request.GET.get("type", "")
    )
    context["notices"] += view["notices"]
    context.update({key: value for key, value in view.items() if key != "notices"})
    return context


def _scope_view(*, scope, snapshot, org: bool, team, task_type: str) -> dict:
    """Headline, charts and their rendered HTML for one slice and task type, cached.

    A published snapshot never changes and a slice belongs to one snapshot, so what is built
    from it can be kept: the key holds the slice's id, and a new snapshot has new slices.
    """
    digest = hashlib.sha256(task_type.encode()).hexdigest()[:16]  # any text, a safe key
    # The body shows the snapshot's time in the reader's zone: one copy per zone.
    zone = timezone.get_current_timezone_name()
    key = f"dashboards:{scope.pk}:{int(org)}:{digest}:{zone}"
    view = cache.get(key)
    if view is not None:
        return view
    rows = [estimate.data for estimate in scoped_estimate_list(scope=scope)]
    by_dimension: dict[str, list[EstimateRowData]] = {}
    for row in rows:
        by_dimension.setdefault(row["dimension"], []).append(row)
    overall = by_dimension[Dimension.OVERALL][0]
    types = by_dimension.get(Dimension.TASK_TYPE, [])
    notices = []
    headline = overall
    if task_type:
        headline = next((row for row in types if row["group"] == task_type), None)
        if headline is None:
            notices.append(
                f"No estimate for the task type “{task_type}” in this view; showing all types."
            )
            task_type, headline = "", overall
    time_share, bottlenecks = charts.lab_charts(scope.lab)
    # Team rows compare teams: the organisation's page alone shows them.
    team_rows = by_dimension.get(Dimension.TEAM, []) if org else []
    by_type = charts.forest_chart(types, Dimension.TASK_TYPE, selected=task_type)
    sections = [
        charts.Section("by-task-type", "Time change by task type", [by_type]),
        *(
            [
                charts.Section(
                    "by-team",
                    "Time change by team",
                    [charts.forest_chart(team_rows, Dimension.TEAM)],
                )
            ]
            if org
            else []
        ),
        charts.Section(
            "trend", "Trend by month", [charts.trend_chart(by_dimension.get(Dimension.MONTH, []))]
        ),
        charts.Section(
            "perception", "Perceived against measured", [charts.perception_chart(headline)]
        ),
        charts.Section(
            "evidence",
            "Evidence behind the figures",
            [charts.evidence_table(headline), charts.robustness_table(headline)],
        ),
        charts.Section("lab", "The lab view", [time_share, bottlenecks]),
        charts.Section(
            "tools",
            "AI tool usage",
            [charts.tool_chart(by_dimension.get(Dimension.TOOL, []), overall)],
        ),
    ]
    chart_list = [chart for section in sections for chart in section.charts]
    query = urlencode(
        {
            key: value
            for key, value in (
                ("team", "" if org else team.pk),
                ("window", scope.window),
                ("type", task_type),
            )
            if value
        }
    )
    outliers = headline.get("outliers") or {}
    flagged_url = ""
    if not org and outliers.get("n_flagged"):
        flagged_url = reverse("dashboards:flagged") + (f"?{query}" if query else "")
    body = render_to_string(
        "dashboards/_body.html",
        {
            "flagged_url": flagged_url,
            "n_flagged": outliers.get("n_flagged", 0),
            "org": org,
            "snapshot": snapshot,
            "scope": scope,
            "task_type": task_type,
            "headline": _headline(headline),
            "thin": overall["status"] != RowStatus.OK,
            "summary_tables": [
                charts.summary_table(types, Dimension.TASK_TYPE, selected=task_type),
                *([charts.summary_table(team_rows, Dimension.TEAM)] if org else []),
            ],
            "lab_summary": _lab_summary(scope.lab),
            "sections": sections,
            "query": query,
        },
    )
    view = {
        "task_types": [row["group"] for row in types],
        "task_type": task_type,
        "notices": notices,
        "charts": chart_list,
        "query": query,
        "body": body,
    }
    cache.set(key, view, SCOPE_VIEW_SECONDS)
    return view


def _headline(row: EstimateRowData) -> dict:
    """The summary's figures for one row: its verdict in words, or what it still needs."""
    ok = row["status"] == RowStatus.OK
    speedup_interval = None
    if ok:
        # speedup = 1 / time_ratio, so its interval is the time ratio's, inverted (a lower
        # bound that rounds to a ratio of 0 leaves the speedup's upper bound open).
        low_ratio = 1 + row["ci_low"]
        speedup_interval = (1 / (1 + row["ci_high"]), 1 / low_ratio if low_ratio > 0 else None)
    verdict = charts.verdict(row)
    return {
        "row": row,
        "ok": ok,
        "verdict": verdict,
        "sentence": charts.verdict_sentence(row) if ok else charts.no_estimate_sentence(row),
        "status": verdict.words,
        "progress": charts.sample_progress(row),
        "time_change": charts.percent(row["time_change"]),
        "ci_low": charts.percent(row["ci_low"]),
        "ci_high": charts.percent(row["ci_high"]),
        "speedup": charts.multiplier(row["speedup"]),
        "speedup_low": charts.multiplier(speedup_interval[0]) if ok else "",
        "speedup_high": charts.multiplier(speedup_interval[1]) if ok else "",
        # Without figures, the verdict already says what the status warning would.
        "warnings": charts.warnings_in_words(row, skip_status=True),
    }


def _lab_summary(lab: dict | None) -> dict:
    """The lab projection in words: its figures, or why there are none."""
    if not lab or lab.get("throughput_multiplier") is None:
        reason = (lab or {}).get("reason") or "No completed work in this view yet."
        return {"reason": f"{reason} No lab projection."}
    unestimated = lab.get("unestimated_share")
    return {
        "multiplier": charts.multiplier(lab["throughput_multiplier"]),
        "ci_low": charts.multiplier(lab["ci_low"]),
        "ci_high": charts.multiplier(lab["ci_high"]),
        "flagged": lab.get("flagged_types", []),
        "unestimated_percent": None if unestimated is None else f"{unestimated * 100:.0f}%",
    }


@login_required
@require_GET
@in_reader_time_zone
def team_dashboard(request: HttpRequest) -> HttpResponse:
    if request.GET.get("team") == "org":
        query = request.GET.copy()
        del query["team"]
        return redirect(f"{reverse('dashboards:org')}?{query.urlencode()}")
    return render(request, "dashboards/dashboard.html", _dashboard(request, org=False))


@login_required
@require_GET
@in_reader_time_zone
def org_dashboard(request: HttpRequest) -> HttpResponse:
    if request.GET.get("team", "").isdigit():  # a team chosen in the filters, without script
        return redirect(f"{reverse('dashboards:team')}?{request.GET.urlencode()}")
    return render(request, "dashboards/dashboard.html", _dashboard(request, org=True))


def _chart_csv(request: HttpRequest, slug: str, *, org: bool) -> HttpResponse:
    context = _dashboard(request, org=org)
    chart = next((c for c in context["charts"] if c.slug == slug), None)
    if chart is None:
        raise Http404("No such chart.")
    scope = context["scope"]
    name = "org" if org else f"team-{context['team'].pk}"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="uplift-{name}-{scope.window}-{slug}.csv"'
    )
    writer = csv.writer(response)
    # Names (teams, task types, tools) are text: none may run as a spreadsheet formula.
    writer.writerow(escape_row(chart.table.columns))
    writer.writerows(escape_row(row) for row in chart.table.rows)
    return response


@login_required
@require_GET
@in_reader_time_zone
def flagged_tasks(request: HttpRequest) -> HttpResponse:
    """The records of the tasks the outlier rule flagged in a team's estimate.

    The same filters and access as the team dashboard (a lead sees the teams they lead, an
    analyst or an admin every team, the analyst with researchers as pseudonyms): the row is the
    team's overall row of the latest snapshot, or its task type's row with `type`. Only tasks
    still in the team are listed.
    """
    teams = _dashboard_teams(request)
    team = _team_requested(request, teams)
    snapshot = snapshot_latest()
    context = {"teams": teams, "team": team, "snapshot": snapshot, "row": None, "tasks": []}
    if snapshot is None or team is None:
        return render(request, "dashboards/flagged.html", context)
    scope = _window_scope(
        snapshot_scope_windows(snapshot=snapshot, team_id=team.pk),
        request.GET.get("window", SnapshotScope.Window.ALL),
    )
    task_type = request.GET.get("type", "")
    estimate = None
    if scope is not None:
        estimate = scoped_estimate_get(
            scope=scope,
            dimension=Dimension.TASK_TYPE if task_type else Dimension.OVERALL,
            group=task_type,
        )
    context.update({"scope": scope, "task_type": task_type, "requested_type": task_type})
    if estimate is None:
        return render(request, "dashboards/flagged.html", context)
    context.update(charts.flagged_summary(estimate.data))
    ids = [i for i in context["flagged_ids"] if isinstance(i, int)]
    access = request.access
    tasks = []
    for task in task_list_for_team(team=team, ids=ids).order_by("completed_at", "pk"):
        ratio = None
        if task.actual_minutes and task.forecast_no_ai_minutes:
            ratio = task.actual_minutes / task.forecast_no_ai_minutes
        task.ratio = charts.ratio_words(ratio)
        task.researcher = (
            access.researcher_label(user_id=task.owner_id, email=task.owner.email)
            or task.owner.display_name
        )
        # Task pages are their researcher's alone: a lead opens only their own.
        task.openable = access.opens_task_page(task)
        tasks.append(task)
    context["tasks"] = tasks
    context["missing"] = len(context["flagged_ids"]) - len(tasks)
    return render(request, "dashboards/flagged.html", context)


@login_required
@require_GET
def team_chart_csv(request: HttpRequest, slug: str) -> HttpResponse:
    return _chart_csv(request, slug, org=False)


@login_required
@require_GET
def org_chart_csv(request: HttpRequest, slug: str) -> HttpResponse:
    return _chart_csv(request, slug, org=True)


@login_required
@require_POST
def recompute(request: HttpRequest) -> HttpResponse:
    if not request.access.may_recompute:  # analysts read the dashboards and change nothing
        raise PermissionDenied("A recompute is for team leads and admins.")
    estimates_refresh_queue(trigger=Snapshot.Trigger.MANUAL)
    messages.success(request, "Recompute requested: the figures update when it finishes.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("dashboards:team")
    return redirect(target)


@login_required
@require_GET
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    _require_dashboard_user(request)
    snapshot = get_object_or_404(
        Snapshot.objects.only("id", "status", "progress_done", "progress_total", "message"),
        pk=pk,
    )
    return JsonResponse(
        {
            "id": snapshot.pk,
            "status": snapshot.status,
            "progress": snapshot.progress,
            "message": snapshot.message if snapshot.status == Snapshot.Status.FAILED else "",
        }
    )
