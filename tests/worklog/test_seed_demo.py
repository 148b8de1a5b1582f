import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.demo import demo_records
from uplift.worklog.models import Task, TaskType, Tool

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())


def test_demo_is_a_believable_organisation(seeded):
    assert Team.objects.count() >= 3
    assert TaskType.objects.count() == 7
    assert Tool.objects.count() == 5
    researchers = Task.objects.values("owner").distinct().count()
    assert 20 <= researchers <= 30
    assert 2500 <= Task.objects.count() <= 3500
    completed = Task.objects.filter(status="completed")
    months = {t.strftime("%Y-%m") for t in completed.values_list("completed_at", flat=True)}
    assert len(months) >= 6
    arms = dict(completed.values_list("condition").annotate(n=Count("id")))
    assert abs(arms["ai"] - arms["no_ai"]) / (arms["ai"] + arms["no_ai"]) < 0.05


def test_demo_accounts_sign_in_with_the_published_password(seeded, client):
    # Each lands where their role works (docs/product.md, "Landing pages").
    landings = {
        "ada": "/",
        "lin": "/dashboards/",
        "ana": "/api/v1/tokens/",
        "admin": "/dashboards/org/",
    }
    for username, landing in landings.items():
        response = client.post(
            "/accounts/login/",
            {"username": username, "password": "uplift-demo"},
            secure=True,
        )
        assert (response.status_code, response["Location"]) == (302, landing), username
        client.logout()
    lin = Membership.objects.get(user__username="lin")
    ada = Membership.objects.get(user__username="ada")
    assert (lin.role, lin.team) == ("lead", ada.team)
    assert ada.role == "researcher"
    assert set(Membership.objects.filter(user__username="ana").values_list("role", flat=True)) == {
        "analyst"
    }
    assert User.objects.get(username="admin").is_superuser


def test_ada_has_work_in_progress_and_history(seeded):
    tasks = Task.objects.filter(owner__username="ada")
    assert tasks.filter(status="completed").count() > 50
    assert tasks.exclude(status__in=["completed", "abandoned"]).exists()


def test_seeding_twice_changes_nothing(seeded):
    before = (Task.objects.count(), User.objects.count(), Membership.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (Task.objects.count(), User.objects.count(), Membership.objects.count()) == before


def test_the_demo_plan_does_not_depend_on_the_day_it_is_generated():
    def plan(records):
        return {
            r.task_id: (r.task_type, r.condition, r.forecast_no_ai_minutes, r.forecast_ai_minutes)
            for r in records
        }

    monday = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert plan(demo_records(today=monday)) == plan(
        demo_records(today=monday + timedelta(days=3, hours=5))
    )


def test_seeding_again_days_later_adds_nothing_and_changes_no_locked_field(seeded, monkeypatch):
    before = dict(Task.objects.values_list("external_id", "forecast_no_ai_minutes"))
    later = timezone.now() + timedelta(days=3, hours=5)
    monkeypatch.setattr("uplift.worklog.management.commands.seed_demo.timezone.now", lambda: later)
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "(0 created)" in out.getvalue()
    assert dict(Task.objects.values_list("external_id", "forecast_no_ai_minutes")) == before


def test_seed_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("seed_demo", stdout=io.StringIO())
    assert Task.objects.count() == 0
