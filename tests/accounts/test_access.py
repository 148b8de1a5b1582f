"""What each role may see and do (uplift/accounts/access.py), against docs/product.md,
"Who may see what": one ``Access`` per user, read once per request as ``request.access``."""

import dataclasses
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, TaskFactory, TeamFactory, UserFactory
from uplift.accounts.access import NOBODY, Access, access_for
from uplift.accounts.models import Membership
from uplift.accounts.pseudonyms import researcher_pseudonym, task_pseudonym
from uplift.api.models import ApiToken
from uplift.worklog.models import Task

pytestmark = pytest.mark.django_db

R, L, A = Membership.Role.RESEARCHER, Membership.Role.LEAD, Membership.Role.ANALYST


@pytest.fixture
def org():
    """Two teams; ada researches and lin leads in Alignment, bo researches in Interpretability,
    ana is an analyst, root an admin without a team, and nobody is signed up but in no team."""
    alignment, interp = TeamFactory(name="Alignment"), TeamFactory(name="Interpretability")
    people = {
        name: UserFactory(username=name) for name in ("ada", "lin", "bo", "ana", "root", "nobody")
    }
    people["root"].is_staff = True
    people["root"].save()
    for name, team, role in (
        ("ada", alignment, R),
        ("lin", alignment, L),
        ("bo", interp, R),
        ("ana", interp, A),
    ):
        MembershipFactory(user=people[name], team=team, role=role)
    tasks = {
        name: TaskFactory(owner=people[name], team=team, external_id=f"demo-{name}-000")
        for name, team in (("ada", alignment), ("lin", alignment), ("bo", interp))
    }
    return {"alignment": alignment, "interp": interp, "people": people, "tasks": tasks}


def _names(tasks) -> set[str]:
    return {task.owner.username for task in tasks.select_related("owner")}


# role -> (tasks read, API teams, dashboard teams, plans in)
READS = {
    "ada": ({"ada"}, {"Alignment"}, [], {"Alignment"}),
    "lin": ({"ada", "lin"}, {"Alignment"}, ["Alignment"], {"Alignment"}),
    "ana": (
        {"ada", "lin", "bo"},
        {"Alignment", "Interpretability"},
        ["Alignment", "Interpretability"],
        set(),
    ),  # fmt: skip
    "root": (
        {"ada", "lin", "bo"},
        {"Alignment", "Interpretability"},
        ["Alignment", "Interpretability"],
        set(),
    ),  # fmt: skip
    "nobody": (set(), set(), [], set()),
}


@pytest.mark.parametrize("name", READS)
def test_each_role_reads_the_tasks_and_teams_of_the_contract(org, name):
    tasks, teams, dashboard_teams, planning = READS[name]
    access = access_for(org["people"][name])
    assert _names(access.visible_tasks(Task.objects.all())) == tasks
    assert {team.name for team in access.visible_teams()} == teams
    assert [team.name for team in access.dashboard_teams()] == dashboard_teams
    assert {team.name for team in access.planning_teams()} == planning


# role -> the yes/no answers, in the order of FLAGS
FLAGS = (
    "reads_every_task",
    "pseudonymized",
    "read_only",
    "reads_estimates",
    "may_import",
    "may_plan",
    "sees_dashboards",
    "sees_org_dashboard",
)
ANSWERS = {
    "ada": (False, False, False, False, False, True, False, False),
    "lin": (False, False, False, False, False, True, True, False),
    "ana": (True, True, True, True, False, False, True, True),
    "root": (True, False, False, True, True, False, True, True),
    "nobody": (False,) * 8,
    "anonymous": (False,) * 8,
}


@pytest.mark.parametrize("name", ANSWERS)
def test_each_role_may_use_what_the_contract_gives_it(org, name):
    user = AnonymousUser() if name == "anonymous" else org["people"][name]
    access = access_for(user)
    assert {flag: getattr(access, flag) for flag in FLAGS} == dict(
        zip(FLAGS, ANSWERS[name], strict=True)
    )


# role -> (may recompute, keeps a worklog, lands on after signing in, "/" shows)
PLACES = {
    "ada": (False, True, "home", "home"),
    "lin": (True, True, "dashboards:team", "home"),  # a lead logs their own tasks on Today
    "ana": (False, False, "api:tokens", "api:tokens"),
    "root": (True, False, "dashboards:org", "dashboards:org"),
    "nobody": (False, True, "home", "home"),  # no role yet: their (empty) Today
}


@pytest.mark.parametrize("name", PLACES)
def test_each_role_lands_where_it_works(org, name):
    access = access_for(org["people"][name])
    assert (
        access.may_recompute,
        access.keeps_worklog,
        access.landing_page,
        access.home_page,
    ) == PLACES[name]


def test_an_admin_or_analyst_who_plans_keeps_today_and_lands_by_the_strongest_role(org):
    ana = org["people"]["ana"]
    MembershipFactory(user=ana, team=org["alignment"], role=R)
    access = access_for(ana)
    assert (access.keeps_worklog, access.landing_page, access.home_page) == (
        True,
        "api:tokens",
        "home",
    )
    MembershipFactory(user=ana, team=TeamFactory(name="Evals"), role=L)
    assert access_for(ana).landing_page == "dashboards:team"
    ana.is_staff = True
    assert access_for(ana).landing_page == "dashboards:org"


# role -> whose tasks they may change through the API
CHANGES = {"ada": {"ada"}, "lin": {"lin"}, "ana": set(), "root": {"ada", "lin", "bo"}}


@pytest.mark.parametrize("name", CHANGES)
def test_only_the_researcher_and_admins_change_a_task_and_only_its_researcher_opens_its_page(
    org, name
):
    access = access_for(org["people"][name])
    tasks = org["tasks"].values()
    assert {t.owner.username for t in tasks if access.may_change_task(t)} == CHANGES[name]
    # Pages: the task's own researcher alone, admins included.
    assert {t.owner.username for t in tasks if access.opens_task_page(t)} == (
        {name} & set(org["tasks"])
    )


@pytest.mark.parametrize("name", ["lin", "ana", "root"])
def test_only_analysts_read_researchers_and_task_ids_as_pseudonyms(org, name):
    access = access_for(org["people"][name])
    task = org["tasks"]["ada"]
    researcher = access.researcher_label(user_id=task.owner_id, email="ada@example.org")
    external_id = access.task_label(task_id=task.pk, external_id=task.external_id)
    if name == "ana":
        assert (researcher, external_id) == (
            researcher_pseudonym(task.owner_id),
            task_pseudonym(task.pk),
        )
    else:
        assert (researcher, external_id) == ("ada@example.org", "demo-ada-000")


def test_someone_not_signed_in_sees_nothing_and_costs_no_query(org):
    with CaptureQueriesContext(connection) as queries:
        access = access_for(AnonymousUser())
    assert access is NOBODY and len(queries) == 0
    assert not access.visible_tasks(Task.objects.all()).exists()
    assert not access.may_change_task(org["tasks"]["ada"])
    assert not access.opens_task_page(org["tasks"]["ada"])
    assert access.dashboard_teams() == []


def test_memberships_add_up(org):
    # A lead of Interpretability who researches in Alignment: her own tasks everywhere, and
    # every task of the team she leads; dashboards of that team only.
    ada = org["people"]["ada"]
    MembershipFactory(user=ada, team=org["interp"], role=L)
    access = access_for(ada)
    assert _names(access.visible_tasks(Task.objects.all())) == {"ada", "bo"}
    assert [team.name for team in access.dashboard_teams()] == ["Interpretability"]
    assert {team.name for team in access.planning_teams()} == {"Alignment", "Interpretability"}
    # An analyst membership anywhere gives the analyst's reach and pseudonyms...
    MembershipFactory(user=ada, team=TeamFactory(name="Evals"), role=A)
    access = access_for(ada)
    assert access.reads_every_task and access.pseudonymized and access.read_only
    # ...unless the account is an admin's: then everything, by name.
    ada.is_staff = True
    assert not access_for(ada).pseudonymized and access_for(ada).may_import


def test_an_access_is_read_in_one_query_and_cannot_change(org):
    with CaptureQueriesContext(connection) as queries:
        access = access_for(org["people"]["lin"])
    assert len(queries) == 1
    assert access == Access(
        user_id=org["people"]["lin"].pk,
        team_ids=frozenset({org["alignment"].pk}),
        lead_team_ids=frozenset({org["alignment"].pk}),
        planning_team_ids=frozenset({org["alignment"].pk}),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        access.is_admin = True


def _membership_queries(queries) -> int:
    return sum('"accounts_membership"' in query["sql"] for query in queries)


@pytest.mark.parametrize("url", [reverse("home"), reverse("dashboards:team")])
def test_a_page_reads_the_users_roles_once(client, org, url):
    # The page itself (planning, the dashboard's teams) and its navigation ask the same
    # request.access: the memberships are read once.
    client.force_login(org["people"]["lin"])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert 'href="/dashboards/"' in response.content.decode()
    assert _membership_queries(queries) == 1


def test_an_api_request_is_answered_with_its_tokens_access(org):
    # Signed in as ada in the browser, calling with root's token: the token decides, as DRF
    # authenticates it before anything reads request.access.
    _, secret = ApiToken.objects.create(
        user=org["people"]["root"], expiry=timedelta(days=1), name="tests"
    )
    client = APIClient()
    client.force_login(org["people"]["ada"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.get("/api/v1/tasks/")
    assert response.status_code == 200
    assert {row["researcher"] for row in response.json()["results"]} == {
        "ada@example.org",
        "lin@example.org",
        "bo@example.org",
    }
