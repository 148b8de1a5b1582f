"""Every admin page an administrator opens renders, with data in it."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import (
    MembershipFactory,
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.api.models import ApiToken
from uplift.estimates.compute import estimates_refresh
from uplift.worklog.models import AuditEntry, ToolUse, WorkSession

HOUR = timedelta(hours=1)

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def admin_client(client, password):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    # A failed and a successful sign-in, for the login throttling's records.
    for username, attempt in [("nobody", "wrong password"), ("root", password)]:
        client.post("/accounts/login/", {"username": username, "password": attempt}, secure=True)
    task = TaskFactory()
    MembershipFactory(user=task.owner, team=task.team)
    WorkSessionFactory(task=task)
    ToolUse.objects.create(task=task, tool=ToolFactory(name="Claude"), mode="chat")
    Group.objects.create(name="Auditors")
    ApiToken.objects.create(user=task.owner, expiry=None, name="notebook")
    AuditEntry.objects.create(task=task, action="refused", field="condition")
    estimates_refresh()
    return client


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_admin_list_and_search_pages_render(admin_client, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert admin_client.get(url, secure=True).status_code == 200
    assert admin_client.get(url, {"q": "a"}, secure=True).status_code == 200
    instance = model.objects.first()
    assert instance is not None, f"no {model._meta.label} to open"
    change = reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[instance.pk]
    )
    assert admin_client.get(change, secure=True).status_code == 200


def test_audit_log_cannot_be_edited_or_deleted_in_admin(admin_client):
    entry = AuditEntry.objects.get()
    delete = reverse("admin:worklog_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}, secure=True).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    ("url", "existing"),
    [
        ("/admin/accounts/team/add/", "Alignment"),
        ("/admin/worklog/tasktype/add/", "Code review"),
        ("/admin/worklog/tool/add/", "Claude"),
    ],
)
def test_a_name_that_differs_only_by_case_is_a_form_error(admin_client, url, existing):
    TeamFactory(name="Alignment")
    TaskTypeFactory(name="Code review")
    response = admin_client.post(url, {"name": existing.upper(), "allocation_ai": 0.5}, secure=True)
    assert response.status_code == 200
    assert "That name exists already (names ignore case)." in response.content.decode()


def _task_form(task, **changes) -> dict:
    data = {
        "owner": task.owner_id,
        "team": task.team_id,
        "task_type": task.task_type_id,
        "title": "Added by hand",
        "forecast_no_ai_minutes": "60",
        "forecast_ai_minutes": "40",
        "assignment": "randomized",
        "condition": "ai",
        "status": "planned",
        "abandoned_reason": "",
        "source": "",
        "external_id": "",
    }
    for prefix in ("sessions", "tool_uses"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | changes


def test_adding_a_randomized_task_in_admin_is_refused_with_a_form_error(admin_client):
    task = ToolUse.objects.get().task
    count = type(task).objects.count()
    url = reverse("admin:worklog_task_add")
    response = admin_client.post(url, _task_form(task), secure=True)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["assignment"] == [
        "A randomized task gets its condition from the draw when its researcher plans it (on "
        "the Today page or through the API). Add tasks here as self-selected."
    ]
    assert type(task).objects.count() == count
    response = admin_client.post(url, _task_form(task, assignment="self_selected"), secure=True)
    assert response.status_code == 302
    assert type(task).objects.filter(title="Added by hand", assignment="self_selected").exists()


def _session_rows(task, rows) -> dict:
    """The sessions inline of the task's change page: existing rows first, then new ones."""
    data = {"sessions-TOTAL_FORMS": str(len(rows)), "sessions-INITIAL_FORMS": "0"}
    initial = 0
    for i, (session, started_at, ended_at) in enumerate(rows):
        if session is not None:
            data[f"sessions-{i}-id"] = session.pk
            initial += 1
        data |= {
            f"sessions-{i}-task": task.pk,
            f"sessions-{i}-started_at_0": f"{started_at:%Y-%m-%d}",
            f"sessions-{i}-started_at_1": f"{started_at:%H:%M:%S}",
            f"sessions-{i}-ended_at_0": f"{ended_at:%Y-%m-%d}",
            f"sessions-{i}-ended_at_1": f"{ended_at:%H:%M:%S}",
        }
    data["sessions-INITIAL_FORMS"] = str(initial)
    return data


def _change_task(admin_client, rows):
    task = ToolUse.objects.get().task
    use = ToolUse.objects.get()
    data = _task_form(
        task,
        title=task.title,
        assignment=task.assignment,
        condition=task.condition,
        status=task.status,
        forecast_no_ai_minutes=task.forecast_no_ai_minutes,
        forecast_ai_minutes=task.forecast_ai_minutes,
    )
    data |= _session_rows(task, rows) | {
        "tool_uses-TOTAL_FORMS": "1",
        "tool_uses-INITIAL_FORMS": "1",
        "tool_uses-0-id": use.pk,
        "tool_uses-0-task": task.pk,
        "tool_uses-0-tool": use.tool_id,
        "tool_uses-0-mode": use.mode,
    }
    url = reverse("admin:worklog_task_change", args=[task.pk])
    return task, admin_client.post(url, data, secure=True)


def test_a_session_added_in_admin_belongs_to_the_tasks_researcher(admin_client):
    existing = WorkSession.objects.get()
    # The factory's session ended 90 minutes ago.
    start = existing.ended_at.replace(microsecond=0) + timedelta(minutes=5)
    rows = [(existing, existing.started_at, existing.ended_at), (None, start, start + HOUR)]
    task, response = _change_task(admin_client, rows)
    assert response.status_code == 302
    added = WorkSession.objects.exclude(pk=existing.pk).get()
    assert (added.owner_id, added.minutes) == (task.owner_id, 60)


@pytest.mark.parametrize("overlap_with", ["existing", "new"])
def test_an_overlapping_session_in_admin_is_a_form_error_not_a_500(admin_client, overlap_with):
    existing = WorkSession.objects.get()
    start = existing.ended_at.replace(microsecond=0) + timedelta(minutes=5)
    if overlap_with == "existing":
        new = [(None, existing.started_at, existing.ended_at)]
    else:
        new = [(None, start, start + HOUR / 2), (None, start + HOUR / 4, start + HOUR * 3 / 4)]
    _, response = _change_task(
        admin_client, [(existing, existing.started_at, existing.ended_at), *new]
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert any("Overlaps" in str(error) for error in formset.errors)
    assert WorkSession.objects.count() == 1


def test_a_tasks_draw_is_shown_read_only_as_its_label(admin_client):
    owner, task_type = UserFactory(), TaskTypeFactory()
    task = TaskFactory(
        owner=owner,
        task_type=task_type,
        draw="coin",
        stratum_owner=owner,
        stratum_task_type=task_type,
    )
    response = admin_client.get(reverse("admin:worklog_task_change", args=[task.pk]), secure=True)
    assert f"r{task.owner_id}-t{task.task_type_id}-coin" in response.content.decode()
    fields = set(response.context["adminform"].form.fields)
    assert fields.isdisjoint({"draw", "stratum_owner", "block_number", "block_position"})
