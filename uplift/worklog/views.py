"""The researcher's pages: Today, a task, history. Views parse, call a service, redirect."""

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from uplift.timezones import in_reader_time_zone
from uplift.worklog import selectors, services, timesheet
from uplift.worklog.context_processors import header_timer
from uplift.worklog.durations import format_duration
from uplift.worklog.forms import (
    ENTERED_WRONGLY,
    HistoryFilterForm,
    TaskAbandonForm,
    TaskCompleteForm,
    TaskEditForm,
    TaskPlanForm,
    ToolUseForm,
    WorkSessionEditForm,
    WorkSessionForm,
)
from uplift.worklog.models import Task, WorkSession
from uplift.worklog.worklog_csv import write_worklog

HISTORY_PAGE_SIZE = 50


def researcher_view(view):
    """Sign-in required, and times shown in the browser's time zone (uplift/timezones.py)."""
    return login_required(in_reader_time_zone(view))


def _own_task(request: HttpRequest, task_id: int) -> Task:
    # Another researcher's task is indistinguishable from a missing one: 404.
    task = selectors.task_of_owner(owner=request.user, task_id=task_id)
    if task is None:
        raise Http404("No such task.")
    return task


def _forgotten_timer(request: HttpRequest, error: services.LongSession) -> HttpResponse:
    """A timer that ran over 16 hours is not ended as it is: its end is corrected or confirmed
    first, on the session's page, and then the action is repeated."""
    session = error.session or selectors.work_session_running(owner=request.user)
    messages.warning(
        request,
        f"The timer on “{session.task}” has run for over 16 hours. Correct its end below "
        "(or confirm it), then try again.",
    )
    return redirect("worklog:session_edit", task_id=session.task_id, session_id=session.pk)


def _add_errors(form, error: ValidationError, *others) -> None:
    """Put a service's refusal next to the field it concerns, in whichever of the forms has
    that field (or on top of the first form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        owner = next((f for f in (form, *others) if field in f.fields), None)
        (owner or form).add_error(field if owner else None, errors)


@researcher_view
def today(request: HttpRequest) -> HttpResponse:
    """Open tasks, the running timer and the form to plan a new task.

    Today is for those who keep a worklog (``Access.keeps_worklog``): an admin or an analyst
    who plans no task is sent to their own landing page instead.
    """
    home = request.access.home_page
    if home != "home":
        return redirect(home)
    teams = selectors.teams_read(ids=request.access.planning_team_ids)
    if request.method == "POST":
        form = TaskPlanForm(request.POST, teams=teams)
    else:
        # A new form: the type of the last task planned is the likeliest next one.
        last_type = selectors.task_type_last_planned(owner=request.user)
        form = TaskPlanForm(teams=teams, initial={"task_type": last_type})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = services.task_plan(
                owner=request.user,
                team=data["team"],
                task_type=data["task_type"],
                title=data["title"],
                forecast_no_ai_minutes=data["forecast_no_ai_minutes"],
                forecast_ai_minutes=data["forecast_ai_minutes"],
                uses_ai=data.get("uses_ai"),
                confirm_forecasts=data["confirm_forecasts"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            planned = f"Planned “{task}”: {task.get_condition_display()}."
            if "start" in request.POST:
                # "Plan and start": the timer moves to the new task at once.
                try:
                    services.work_session_start(task=task)
                except services.LongSession as error:
                    messages.success(request, planned)
                    return _forgotten_timer(request, error)
                planned += " Timer started."
            messages.success(request, planned)
            return redirect("home")
    status = 400 if form.is_bound else 200
    open_tasks = list(selectors.task_list_open(owner=request.user))
    running = selectors.work_session_running(owner=request.user)
    return render(
        request,
        "home.html",
        {
            "form": form,
            "open_tasks": open_tasks,
            "running": running,
            "header_timer": header_timer(running),  # read once, for the page and its header
            "today_minutes": timesheet.minutes_on(owner=request.user, day=timezone.localdate()),
            "first_use": _first_use(request, open_tasks),
        },
        status=status,
    )


# The session key that hides the summary of how Uplift works on Today (see ``intro_dismiss``).
INTRO_DISMISSED = "intro_dismissed"


def _first_use(request: HttpRequest, open_tasks: list[Task]) -> bool:
    """Whether Today shows how Uplift works: to a researcher with no task yet, until they hide
    it (for this session) or plan their first task."""
    if open_tasks or request.session.get(INTRO_DISMISSED):
        return False
    return not selectors.task_list_for_owner(owner=request.user).exists()


@researcher_view
def how_it_works(request: HttpRequest) -> HttpResponse:
    """The method in plain words: forecasts first, the draw, what counts as AI, mistakes."""
    return render(request, "worklog/how_it_works.html")


@researcher_view
@require_POST
def intro_dismiss(request: HttpRequest) -> HttpResponse:
    """Hide the summary of how Uplift works on Today, for the rest of this session."""
    request.session[INTRO_DISMISSED] = True
    return redirect("home")


def _detail(request: HttpRequest, task: Task, status: int = 200, **forms) -> HttpResponse:
    sessions = selectors.work_sessions_of(task=task)
    uses = {use.tool_id: use for use in selectors.tool_uses_of(task=task)}
    is_open = task.status in selectors.OPEN_STATUSES
    running = next((s for s in sessions if s.ended_at is None), None)
    context = {
        "task": task,
        "sessions": sessions,
        "logged_minutes": sum(s.minutes or 0 for s in sessions),
        "running": running,
        "noncompliant": task.condition == Task.Condition.NO_AI and bool(uses),
        "is_open": is_open,
        "entered_wrongly": ENTERED_WRONGLY,
        "session_form": forms.get("session_form") or WorkSessionForm(),
        "tool_form": forms.get("tool_form")
        or ToolUseForm(tools=selectors.tools_read(), current=uses),
        "edit_form": forms.get("edit_form")
        or TaskEditForm(
            task=task,
            initial={
                "title": task.title,
                "perceived_other_minutes": task.perceived_other_minutes,
                "abandoned_reason": task.abandoned_reason,
            },
        ),
    }
    if is_open:
        context["complete_form"] = forms.get("complete_form") or TaskCompleteForm(
            task=task, has_sessions=bool(sessions)
        )
        context["abandon_form"] = forms.get("abandon_form") or TaskAbandonForm()
    if running is not None:
        # A researcher runs one timer at most: this one is the header's, read already.
        running.task = task
        context["header_timer"] = header_timer(running)
    return render(request, "worklog/task_detail.html", context, status=status)


@researcher_view
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    return _detail(request, _own_task(request, task_id))


@researcher_view
@require_POST
def task_timer(request: HttpRequest, task_id: int) -> HttpResponse:
    """Start or stop the timer. Stop ends the session and leaves the task open, to resume or
    complete. The researcher stays on the page they acted from (``next``); a stop without one
    goes on to completing the task. ("pause", from pages rendered before Stop replaced it,
    is a stop.)"""
    task = _own_task(request, task_id)
    action = request.POST.get("action")
    if action not in ("start", "stop", "pause"):
        raise BadRequest("The timer's action is start or stop.")
    try:
        if action == "start":
            before = timezone.now()
            session = services.work_session_start(task=task)
            if session.started_at < before:  # a double click, or a second tab
                messages.info(request, f"The timer was already running on “{task}”.")
        else:
            running = selectors.work_session_running(owner=request.user)
            if running is None or running.task_id != task.pk:
                messages.info(request, "The timer was not running on this task.")
            else:
                stopped = services.work_session_stop(owner=request.user)
                messages.success(
                    request, f"Stopped “{task}”: {format_duration(stopped.minutes)} logged."
                )
    except services.LongSession as error:
        return _forgotten_timer(request, error)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    target = request.POST.get("next", "")
    if action == "stop" and not target:
        # Stopped on the task's own page: on to completing it.
        return redirect(reverse("worklog:task_detail", args=[task.pk]) + "#complete")
    # Only back to a page of this site: never an open redirect.
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("worklog:task_detail", args=[task.pk])
    return redirect(target)


@researcher_view
@require_POST
def session_add(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _own_task(request, task_id)
    form = WorkSessionForm(request.POST)
    if form.is_valid():
        try:
            services.work_session_add(task=task, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Work session added.")
            return redirect("worklog:task_detail", task_id=task.pk)
    return _detail(request, task, status=400, session_form=form)


def _own_session(request: HttpRequest, task: Task, session_id: int) -> WorkSession:
    # The task is the researcher's own (``_own_task``), so its sessions are theirs.
    return get_object_or_404(selectors.work_session_list(task=task), pk=session_id)


@researcher_view
def session_edit(request: HttpRequest, task_id: int, session_id: int) -> HttpResponse:
    """Correct a session's times (two of start, end and duration), or move it to a task."""
    task = _own_task(request, task_id)
    session = _own_session(request, task, session_id)
    initial = {
        "task": task,
        "started_at": timezone.localtime(session.started_at).replace(second=0, microsecond=0),
        "ended_at": timezone.localtime(session.ended_at or timezone.now()).replace(
            second=0, microsecond=0
        ),
    }
    form = WorkSessionEditForm(
        request.POST or None,
        initial=initial,
        tasks=selectors.task_list_session_targets(session=session),
    )
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "task": form.cleaned_data.get("task") or task}
        try:
            services.work_session_update(session=session, actor=request.user, via="web", **data)
        except ValidationError as error:
            session.refresh_from_db()
            _add_errors(form, error)
        else:
            if session.task_id != task.pk:
                messages.success(request, f"Work session moved to “{session.task}”.")
            else:
                messages.success(request, "Work session corrected.")
            return redirect("worklog:task_detail", task_id=session.task_id)
    return render(
        request,
        "worklog/session_edit.html",
        {"task": task, "session": session, "form": form},
        status=400 if form.is_bound else 200,
    )


def _tool_form(request: HttpRequest, task: Task) -> ToolUseForm:
    current = {use.tool_id: use for use in selectors.tool_uses_of(task=task)}
    return ToolUseForm(request.POST, tools=selectors.tools_read(), current=current)


def _tool_entries(form: ToolUseForm) -> list[services.ToolUseEntry]:
    return [
        services.ToolUseEntry(tool=tool, minutes=minutes, mode=mode)
        for tool, minutes, mode in form.chosen()
    ]


def _complete_form_kept(request: HttpRequest, task: Task) -> TaskCompleteForm | None:
    """The completion fields as they were typed, when tools are saved from the same form:
    shown again, unchecked, so that saving the tools loses none of them."""
    has_sessions = task.sessions.exists()
    names = TaskCompleteForm(task=task, has_sessions=has_sessions).fields
    typed = {name: request.POST[name] for name in names if request.POST.get(name)}
    if not typed:
        return None
    return TaskCompleteForm(task=task, has_sessions=has_sessions, initial=typed)


@researcher_view
def session_delete(request: HttpRequest, task_id: int, session_id: int) -> HttpResponse:
    """Delete a session: a page asks to confirm (no script needed), its form deletes."""
    task = _own_task(request, task_id)
    session = _own_session(request, task, session_id)
    if request.method == "POST":
        try:
            services.work_session_delete(session=session, actor=request.user, via="web")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Work session deleted.")
        return redirect(reverse("worklog:task_detail", args=[task.pk]) + "#sessions-heading")
    return render(request, "worklog/session_delete.html", {"task": task, "session": session})


@researcher_view
@require_POST
def tool_uses(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _own_task(request, task_id)
    form = _tool_form(request, task)
    if form.is_valid():
        entries = _tool_entries(form)
        try:
            services.tool_use_set(task=task, uses=entries)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            names = ", ".join(e.tool.name for e in entries) or "none"
            messages.success(request, f"AI tools used: {names}.")
            kept = _complete_form_kept(request, task)
            if kept is not None:
                # Tools saved from the completion form: what was typed for completing stays.
                return _detail(request, task, complete_form=kept)
            return redirect("worklog:task_detail", task_id=task.pk)
    return _detail(
        request, task, status=400, tool_form=form, complete_form=_complete_form_kept(request, task)
    )


@researcher_view
@require_POST
def task_complete(request: HttpRequest, task_id: int) -> HttpResponse:
    """Complete the task, saving with it the AI tools ticked in the same form (all or nothing).

    A request without the tool fields (the catalog empty, or an older page) leaves the logged
    tools as they are.
    """
    task = _own_task(request, task_id)
    has_sessions = task.sessions.exists()
    form = TaskCompleteForm(request.POST, task=task, has_sessions=has_sessions)
    tool_form = _tool_form(request, task)
    posts_tools = any(f"mode_{tool.pk}" in request.POST for tool in tool_form.tools)
    tools_valid = tool_form.is_valid() if posts_tools else True
    if form.is_valid() and tools_valid:
        entries = _tool_entries(tool_form) if posts_tools else None
        try:
            services.task_complete(
                task=task,
                actual_minutes=form.cleaned_data.get("actual_minutes"),
                perceived_other_minutes=form.cleaned_data.get("perceived_other_minutes"),
                tool_uses=entries,
            )
        except services.LongSession as error:
            if entries is not None:
                # The task stays open until the timer is corrected; the ticks are kept.
                services.tool_use_set(task=task, uses=entries)
            return _forgotten_timer(request, error)
        except ValidationError as error:
            _add_errors(form, error, tool_form)
        else:
            names = ", ".join(e.tool.name for e in entries or [])
            tools = f", AI tools used: {names}" if names else ""
            messages.success(
                request, f"Completed “{task}” in {task.actual_minutes:.0f} min{tools}."
            )
            return redirect("home")
    forms = {"complete_form": form}
    if posts_tools:
        forms["tool_form"] = tool_form
    return _detail(request, task, status=400, **forms)


@researcher_view
@require_POST
def task_abandon(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _own_task(request, task_id)
    form = TaskAbandonForm(request.POST)
    if form.is_valid():
        try:
            services.task_abandon(task=task, reason=form.cleaned_data["reason"])
        except services.LongSession as error:
            return _forgotten_timer(request, error)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Abandoned “{task}”. It stays in your history.")
            return redirect("home")
    return _detail(request, task, status=400, abandon_form=form)


@researcher_view
@require_POST
def task_edit(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _own_task(request, task_id)
    form = TaskEditForm(request.POST, task=task)
    if form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.fields}
        # Locked fields are never offered; a request that sends them anyway is refused
        # and audited rather than silently ignored.
        for name in Task.LOCKED_FIELDS:
            if name in request.POST:
                changes[name] = _posted_value(task, name, request.POST[name])
        try:
            services.task_update(task=task, actor=request.user, changes=changes, via="web")
        except ValidationError as error:
            task.refresh_from_db()
            _add_errors(form, error)
        else:
            messages.success(request, "Task updated.")
            return redirect("worklog:task_detail", task_id=task.pk)
    return _detail(request, task, status=400, edit_form=form)


def _posted_value(task: Task, name: str, raw: str):
    if isinstance(getattr(task, name), float):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


@researcher_view
def history(request: HttpRequest) -> HttpResponse:
    """Past tasks by week, filterable, with weekly totals and personal calibration."""
    filters = HistoryFilterForm(request.GET or None)
    task_type_id = condition = None
    if filters.is_valid():
        task_type = filters.cleaned_data.get("task_type")
        task_type_id = task_type.pk if task_type else None
        condition = filters.cleaned_data.get("condition") or None
    tasks = selectors.task_history(
        owner=request.user, task_type_id=task_type_id, condition=condition
    )
    weeks_totals = selectors.task_history_weeks(history=tasks)
    logged = timesheet.minutes_by_week(
        owner=request.user, task_type_id=task_type_id, condition=condition
    )
    page = Paginator(tasks, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    weeks = []
    for task in page:
        if not weeks or weeks[-1]["week"] != task.week:
            weeks.append(
                {
                    "week": task.week,
                    "week_end": task.week + timedelta(days=6),
                    "totals": weeks_totals.get(task.week, {}),
                    "logged": logged.get(task.week, 0.0),
                    "tasks": [],
                }
            )
        weeks[-1]["tasks"].append(task)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "worklog/history.html",
        {
            "filters": filters,
            "weeks": weeks,
            "page": page,
            "query": query.urlencode(),
            "total_completed": sum(w["completed"] for w in weeks_totals.values()),
            "total_abandoned": sum(w["abandoned"] for w in weeks_totals.values()),
            "total_minutes": sum(w["minutes"] or 0 for w in weeks_totals.values()),
            "total_logged": sum(logged.values()),
            "calibration": selectors.researcher_calibration(owner=request.user),
        },
    )


def _day_asked(request: HttpRequest, name: str) -> date:
    """The day in ``?<name>=YYYY-MM-DD``; today (the researcher's) when absent or not a date."""
    try:
        return date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return timezone.localdate()


@researcher_view
def history_week(request: HttpRequest) -> HttpResponse:
    """The timesheet: the week's tasks by day, in h:mm, with day and week totals."""
    day = _day_asked(request, "week")
    week = timesheet.week_grid(owner=request.user, day=day)
    today = timezone.localdate()
    return render(
        request,
        "worklog/history_week.html",
        {"week": week, "today": today, "is_this_week": today in week.days},
    )


@researcher_view
def history_day(request: HttpRequest) -> HttpResponse:
    """One day's work sessions and typed-in tasks, with the day's total."""
    day = _day_asked(request, "date")
    items = timesheet.day_items(owner=request.user, day=day)
    return render(
        request,
        "worklog/history_day.html",
        {
            "day": day,
            "items": items,
            "total": sum(item.minutes for item in items),
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "week_of": timesheet.week_start(day),
        },
    )


@researcher_view
def history_export(request: HttpRequest) -> StreamingHttpResponse:
    """The researcher's own tasks as a worklog CSV, the file the importer reads."""
    rows = selectors.worklog_rows(tasks=selectors.task_list_for_owner(owner=request.user))
    response = StreamingHttpResponse(write_worklog(rows), content_type="text/csv; charset=utf-8")
    name = f"uplift-worklog-{request.user.get_username()}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
