"""What a user may see and do: the role rules of docs/product.md, "Who may see what", in one place.

A user's reach is read from their memberships (one query) into an ``Access``, an immutable
value, once per request: ``AccessMiddleware`` sets it as ``request.access``. The pages
(worklog, dashboards, the navigation), the API (permissions, querysets, serializers) and the
export all ask it; nothing else decides who sees what. Outside a request, ``access_for(user)``.

The rules, by role (a role is held per team; an admin is an account with ``is_staff``):

- **researcher**: their own tasks; plans tasks in their teams.
- **lead**: also the tasks of the teams they lead, with who did them; those teams' dashboards.
- **analyst** (in any team): every task, read-only, every researcher and task id under a
  pseudonym (``uplift.accounts.pseudonyms``); the estimates; every dashboard and the
  organisation's, read-only (no recompute).
- **admin**: everything, with names; every dashboard and the organisation's; the import.

Where each lands (``landing_page``): a lead on their dashboard, an analyst on the API page, an
admin on the organisation dashboard, anyone else on Today. ``/`` is Today for whoever keeps a
worklog (``keeps_worklog``: anyone who may plan, or holds no role yet); the others are sent from
``/`` to their landing page (``home_page``).

Memberships add up: a lead of one team and researcher of another reads their own tasks
everywhere and the led team's. A task's page is its own researcher's alone, for every role
(``opens_task_page``; ``uplift/worklog/views.py`` opens only the user's own tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from uplift.accounts.models import Membership, Team, User
from uplift.accounts.pseudonyms import researcher_pseudonym, task_pseudonym
from uplift.fixed_sql import fetch_all

# The roles that plan tasks in a team (an analyst's membership does not).
PLANNING_ROLES = (Membership.Role.RESEARCHER, Membership.Role.LEAD)


@dataclass(frozen=True)
class Access:
    """One user's reach: who they are and the teams their roles cover.

    ``user_id`` is None for someone not signed in, who may see nothing here.
    """

    user_id: int | None
    is_admin: bool = False
    is_analyst: bool = False
    team_ids: frozenset[int] = frozenset()  # every team they hold a role in
    lead_team_ids: frozenset[int] = frozenset()
    planning_team_ids: frozenset[int] = frozenset()  # researcher or lead

    # --- What their role covers ----------------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def reads_every_task(self) -> bool:
        """Analysts and admins read every task (analysts pseudonymized); others fewer."""
        return self.is_admin or self.is_analyst

    @property
    def pseudonymized(self) -> bool:
        """Analysts never see who a researcher is, nor a task's imported id; admins do."""
        return self.is_analyst and not self.is_admin

    @property
    def read_only(self) -> bool:
        """Analysts only read: they plan no task and change none."""
        return self.pseudonymized

    @property
    def reads_estimates(self) -> bool:
        """The organisation's estimates and estimation runs in the API: analysts and admins."""
        return self.reads_every_task

    @property
    def may_import(self) -> bool:
        """An import writes into anyone's records and creates accounts: admins only."""
        return self.is_admin

    @property
    def may_plan(self) -> bool:
        """Researchers and leads plan tasks, in the teams where they hold that role."""
        return bool(self.planning_team_ids)

    @property
    def sees_dashboards(self) -> bool:
        """The team dashboards (aggregates, and the flagged tasks): leads, analysts (who read
        every task already, and see the flagged tasks' researchers as pseudonyms) and admins."""
        return self.reads_every_task or bool(self.lead_team_ids)

    @property
    def sees_org_dashboard(self) -> bool:
        """The organisation dashboard: those who read every task, analysts and admins."""
        return self.reads_every_task

    @property
    def may_recompute(self) -> bool:
        """Queueing a recompute of the estimates: leads and admins, not a read-only analyst."""
        return self.is_admin or bool(self.lead_team_ids)

    # --- Where they work -----------------------------------------------------------------------

    @property
    def keeps_worklog(self) -> bool:
        """Today and History are theirs: anyone who may plan (a lead who logs their own tasks
        too), and someone with no role yet, who has nowhere else to go."""
        return self.may_plan or not (self.is_admin or self.is_analyst)

    @property
    def landing_page(self) -> str:
        """The URL name of the page they land on after signing in: the organisation dashboard
        for admins, a lead's dashboard, the API page for analysts, else Today."""
        if self.is_admin:
            return "dashboards:org"
        if self.lead_team_ids:
            return "dashboards:team"
        if self.is_analyst:
            return "api:tokens"
        return "home"

    @property
    def home_page(self) -> str:
        """The URL name ``/`` shows them: Today if they keep a worklog, else their landing."""
        return "home" if self.keeps_worklog else self.landing_page

    # --- Rows ----------------------------------------------------------------------------------

    def visible_tasks(self, tasks: QuerySet) -> QuerySet:
        """``tasks`` (a queryset of tasks) narrowed to those the user may read: their own and
        those of the teams they lead, or every task for analysts and admins. Work sessions and
        tool uses follow their task."""
        if not self.is_authenticated:
            return tasks.none()
        if self.reads_every_task:
            return tasks
        return tasks.filter(Q(owner_id=self.user_id) | Q(team_id__in=self.lead_team_ids))

    def may_change_task(self, task) -> bool:
        """Only the task's researcher changes it (and admins, through the API)."""
        return self.is_admin or (self.is_authenticated and task.owner_id == self.user_id)

    def opens_task_page(self, task) -> bool:
        """A task's page (``/tasks/<id>/``) is its own researcher's alone: admins' too."""
        return self.is_authenticated and task.owner_id == self.user_id

    def visible_teams(self) -> QuerySet[Team]:
        """The teams the user may read in the API: those they belong to, or all."""
        if self.reads_every_task:
            return Team.objects.all()
        return Team.objects.filter(pk__in=self.team_ids)

    def dashboard_teams(self) -> list[Team]:
        """The teams whose dashboards the user may see, by name: all for analysts and admins,
        else those they lead (none for anyone else)."""
        if self.reads_every_task:
            return list(Team.objects.order_by("name"))
        if not self.lead_team_ids:
            return []
        return list(Team.objects.filter(pk__in=self.lead_team_ids).order_by("name"))

    def planning_teams(self) -> QuerySet[Team]:
        """The teams the user may plan tasks in, by name."""
        return Team.objects.filter(pk__in=self.planning_team_ids).order_by("name")

    # --- How people and tasks read -------------------------------------------------------------

    def researcher_label(self, *, user_id: int, email: str) -> str:
        """How a task's researcher reads: a pseudonym for analysts, the email otherwise."""
        return researcher_pseudonym(user_id) if self.pseudonymized else email

    def task_label(self, *, task_id: int, external_id: str) -> str:
        """How a task's imported id reads: a pseudonym for analysts, else itself."""
        return task_pseudonym(task_id) if self.pseudonymized else external_id


NOBODY = Access(user_id=None)
_ROLES_SQL = f'SELECT "team_id", "role" FROM "{Membership._meta.db_table}" WHERE "user_id" = %s'


def access_for(user: User) -> Access:
    """The user's ``Access``, read from their memberships in one query (none if signed out)."""
    if not user.is_authenticated:
        return NOBODY
    # Every page asks (the navigation): SQL written once (uplift/fixed_sql.py).
    roles = fetch_all(_ROLES_SQL, [user.pk])
    return Access(
        user_id=user.pk,
        is_admin=user.is_staff,
        is_analyst=any(role == Membership.Role.ANALYST for _, role in roles),
        team_ids=frozenset(team for team, _ in roles),
        lead_team_ids=frozenset(team for team, role in roles if role == Membership.Role.LEAD),
        planning_team_ids=frozenset(team for team, role in roles if role in PLANNING_ROLES),
    )


class AccessMiddleware:
    """Sets ``request.access``: the signed-in user's ``Access``, read at its first use.

    Read late on purpose: an API request is authenticated by its token inside the view, and
    Django REST framework then sets ``request.user``; nothing reads ``request.access`` before.
    The same value serves the rest of the request (permissions, querysets, serializers, the
    navigation). Placed after Django's ``AuthenticationMiddleware``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.access = SimpleLazyObject(lambda: access_for(request.user))
        return self.get_response(request)
