"""Every admin page an administrator opens renders, with data in it."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import (
    MembershipFactory,
    TaskFactory,
    ToolFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.api.models import ApiToken
from uplift.estimates.services import estimates_refresh
from uplift.worklog.models import AuditEntry, ToolUse

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
