"""A team's date ranges on its dashboard: what the page says when a range has no figures."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import MembershipFactory, TaskFactory, UserFactory
from uplift.accounts.models import Membership
from uplift.estimates.compute import estimates_refresh, window_months
from uplift.estimates.models import Snapshot, SnapshotScope

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_team(team, researcher):
    """A team whose every task was randomized about 250 days ago (in the last 12 months, not
    in the last 6), its lead, and a snapshot."""
    lead = UserFactory(username="lena")
    MembershipFactory(user=lead, team=team, role=Membership.Role.LEAD)
    then = timezone.now() - timedelta(days=250)
    for i in range(8):
        TaskFactory(
            team=team,
            owner=researcher,
            condition="ai" if i % 2 else "no_ai",
            randomized_at=then,
            started_at=then,
            completed_at=then + timedelta(hours=3),
            status="completed",
            actual_minutes=40 + i,
        )
    snapshot = estimates_refresh()
    return {"team": team, "lead": lead, "snapshot": snapshot}


@pytest.fixture
def lead_client(client, old_team):
    client.force_login(old_team["lead"])
    return client


def test_a_range_without_tasks_says_so_and_shows_all_time(lead_client, old_team):
    snapshot = old_team["snapshot"]
    windows = set(
        SnapshotScope.objects.filter(snapshot=snapshot, team=old_team["team"]).values_list(
            "window", flat=True
        )
    )
    assert windows == {"all", "12m"}
    months = window_months(3, today=timezone.localdate(snapshot.started_at))
    response = lead_client.get(reverse("dashboards:team"), {"window": "3m"})
    assert response.status_code == 200
    assert response.context["scope"].window == "all"
    assert response.context["notices"] == [
        f"No task of this team was randomized in the last 3 months ({months[0]} to "
        f"{months[-1]}): showing all time."
    ]
    html = response.content.decode()
    assert '<option value="3m">Last 3 months</option>' in html
    assert '<option value="all" selected>All time</option>' in html
    twelve = lead_client.get(reverse("dashboards:team"), {"window": "12m"})
    assert twelve.context["scope"].window == "12m"
    assert twelve.context["notices"] == []


def test_a_range_the_latest_figures_predate_waits_for_a_recompute(lead_client, old_team):
    # As computed before teams had date ranges: the team over all time only.
    snapshot = old_team["snapshot"]
    Snapshot.objects.filter(pk=snapshot.pk).update(scope_windows={})
    SnapshotScope.objects.filter(snapshot=snapshot, kind="team").exclude(window="all").delete()
    response = lead_client.get(reverse("dashboards:team"), {"window": "12m"})
    assert response.context["scope"].window == "all"
    assert response.context["notices"] == [
        "The last 12 months are not in the latest figures yet: the next recompute will "
        "compute them. Until then, showing all time."
    ]
    assert 'id="job"' not in response.content.decode()
    Snapshot.objects.create(status=Snapshot.Status.PENDING)
    response = lead_client.get(reverse("dashboards:team"), {"window": "12m"})
    assert response.context["notices"] == [
        "The last 12 months are not in the latest figures yet: they will be ready when the "
        "recompute under way finishes. Until then, showing all time."
    ]
    assert 'id="job"' in response.content.decode()
    # Every range is offered all the same.
    assert [o["value"] for o in response.context["window_options"]] == ["all", "12m", "6m", "3m"]
