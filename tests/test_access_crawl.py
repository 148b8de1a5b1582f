"""Every URL of the site, requested as every role: no 500, and nothing the role may not see.

The spec is docs/product.md, "Who may see what": a researcher sees only their own tasks; a lead
their team's tasks and its aggregates; an analyst everything through the API, with researchers
pseudonymized; an admin everything; a stranger only the sign-in page. Every text one person or
team owns carries a marker (``zq...qz``) naming its owner, so a leak anywhere (page, JSON,
CSV, redirect) shows up as a marker in a response of a role that may not see it.

The crawl requests every pattern of the URLconf (the admin and the API router included) with
the ids of both teams' and every person's rows, as a session and with an API token, then
follows the links it finds breadth-first. It also checks every POST form it met: each carries
a CSRF token, and without it the POST is refused and writes nothing.
"""

import json
import logging
import random
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.factories import (
    MembershipFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    UserFactory,
)
from tests.site_crawl import (
    PageForm,
    UrlRoute,
    parse_page,
    route_of,
    site_routes,
    site_url,
)
from uplift.accounts.models import Membership, Team, User
from uplift.accounts.pseudonyms import researcher_pseudonym
from uplift.api.models import ApiToken
from uplift.estimates.compute import estimates_refresh
from uplift.estimates.models import Snapshot
from uplift.worklog.models import AuditEntry, Task, ToolUse, WorkSession

# The tests only read the crawl's log, but pytest-django creates the test database only for
# modules that declare they use it.
pytestmark = [pytest.mark.sweep, pytest.mark.django_db]

MARKER = re.compile(rb"zq[a-z0-9]+qz", re.IGNORECASE)
JSON_SITE_URL = re.compile(rb'"https?://testserver(/[^"]*)"')  # pagination links
STATIC_PREFIX = "/" + settings.STATIC_URL.lstrip("/")
MISSING_ID = 987654
# Links found in pages are followed to at most this many new URLs per route and client: the
# admin's sort and filter links would otherwise multiply without end.
LINKS_PER_ROUTE = 2
CHART_SLUGS = [
    "by-task-type",
    "by-team",
    "trend",
    "perception",
    "evidence",
    "time-share",
    "bottlenecks",
    "tools",
    "no-such-chart",
]
STATE_APPS = ["accounts", "worklog", "estimates", "api", "auth", "axes", "admin"]
# Written by reading (sign-in time, a token's last use): not a change of what anyone owns.
VOLATILE_FIELDS = {"last_login", "last_used_at"}
CSRF_PAGE_TEXT = b"This form has expired"

# What a marker is, which decides who may see it.
TASK_DATA = "task data"  # a task's title, abandon reason or tool-use minutes
AUDIT = "audit record"  # of a refused change to a task: seen like the task's data
# A person's username (and so email), first or last name, or an external task id made of their
# name (as the demo data's "demo-ada-000").
IDENTITY = "identity"
TOKEN_NAME = "token name"
TEAM = "team"
TEAM_CATALOG = "team's catalog entry"  # a task type or tool only one team uses
SECRET = "secret"  # API token secrets, the password hash, the secret key: never shown


@dataclass(frozen=True)
class Person:
    short: str
    team: str | None  # "alpha" or "bravo"
    role: str | None  # a Membership.Role, or None for the admin

    @property
    def username(self) -> str:
        return f"zq{self.short}qz"


PEOPLE = [
    Person("ada", "alpha", Membership.Role.RESEARCHER),
    Person("amy", "alpha", Membership.Role.RESEARCHER),
    Person("lin", "alpha", Membership.Role.LEAD),
    Person("bob", "bravo", Membership.Role.RESEARCHER),
    Person("bea", "bravo", Membership.Role.RESEARCHER),
    Person("leo", "bravo", Membership.Role.LEAD),
    Person("ana", "alpha", Membership.Role.ANALYST),
    Person("root", None, None),
]
PLANNERS = [p for p in PEOPLE if p.role in (Membership.Role.RESEARCHER, Membership.Role.LEAD)]


@dataclass(frozen=True)
class Role:
    """Who crawls: ``person`` is None for the stranger."""

    name: str
    person: Person | None

    @property
    def team(self) -> str | None:
        return self.person.team if self.person else None


ROLES = [
    Role("stranger", None),
    Role("researcher", PEOPLE[0]),
    Role("lead", PEOPLE[2]),
    Role("analyst", PEOPLE[6]),
    Role("admin", PEOPLE[7]),
]


@dataclass(frozen=True)
class Marker:
    text: str
    kind: str
    owner: str | None = None  # a person's short name
    team: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.text!r} of {self.owner or self.team or 'nobody'}"


def may_see(role: Role, marker: Marker, path: str) -> bool:
    """Whether ``role`` may be shown ``marker`` on ``path``: docs/product.md in one function."""
    if marker.kind == SECRET or role.person is None:
        return False
    if role.name == "admin":
        return True
    if marker.kind in (IDENTITY, TOKEN_NAME) and marker.owner == role.person.short:
        return True
    if marker.kind == TOKEN_NAME:
        return False
    if role.name == "analyst":
        return marker.kind != IDENTITY  # researchers are pseudonymized
    if marker.kind == TEAM_CATALOG:
        # The catalog is everyone's; another team's aggregates are not, even by type or tool.
        lead_elsewhere = role.name == "lead" and path.startswith("/dashboards/")
        return not lead_elsewhere or marker.team == role.team
    if role.name == "lead" or marker.kind == TEAM:
        return marker.team == role.team
    return marker.owner == role.person.short


@dataclass
class World:
    """The rows of two teams and the markers in them."""

    markers: dict[str, Marker]  # by lowercase text
    plain_markers: list[Marker]  # numbers and secrets, found by plain search
    users: dict[str, User]
    tokens: dict[str, str]  # person's short name -> API token secret
    task_owner: dict[int, str]  # task id -> owner's short name
    task_team: dict[int, str]
    # Values for a route's path parameters, by their names: ids of every person's rows.
    path_values: dict[tuple[str, ...], list[tuple]]
    ids_of: dict[type, list[int]]  # sample ids of the worklog's per-person rows
    pseudonym_of: dict[str, str]

    def visible_task_ids(self, role: Role) -> set[int]:
        if role.person is None:
            return set()
        if role.name in ("analyst", "admin"):
            return set(self.task_owner)
        if role.name == "lead":
            return {t for t, team in self.task_team.items() if team == role.team}
        return {t for t, owner in self.task_owner.items() if owner == role.person.short}

    def expected_to_see(self, role: Role) -> set[str]:
        """Markers the role must meet somewhere: its own data, so the crawl is not vacuous.

        Everything it may see, except other people's names (only admins list people) and
        audit records (only the admin shows them).
        """
        if role.person is None:
            return set()

        def expected(marker: Marker) -> bool:
            if role.name == "admin":
                return marker.kind != SECRET
            if marker.kind in (IDENTITY, TOKEN_NAME):
                return marker.owner == role.person.short
            return marker.kind != AUDIT and may_see(role, marker, "/dashboards/")

        texts = {m.text for m in [*self.markers.values(), *self.plain_markers] if expected(m)}
        if role.name == "analyst":
            texts.add(self.pseudonym_of["ada"])
        return texts


def _marker(world_markers: dict[str, Marker], text: str, kind: str, **where) -> str:
    world_markers[text.lower()] = Marker(text.lower(), kind, **where)
    return text


def build_world() -> World:
    """Two teams of two researchers and a lead, an analyst and an admin; a snapshot."""
    rng = random.Random(7)
    markers: dict[str, Marker] = {}
    plain: list[Marker] = []
    teams = {
        key: TeamFactory(name=_marker(markers, f"zqteam{key}qz", TEAM, team=key))
        for key in ("alpha", "bravo")
    }
    shared_type = TaskTypeFactory(name="zqtypesharedqz")  # the catalog: no one's secret
    own_type = {
        key: TaskTypeFactory(name=_marker(markers, f"zqtype{key}qz", TEAM_CATALOG, team=key))
        for key in teams
    }
    own_tool = {
        key: ToolFactory(name=_marker(markers, f"zqtool{key}qz", TEAM_CATALOG, team=key))
        for key in teams
    }
    users: dict[str, User] = {}
    for person in PEOPLE:
        where = {"owner": person.short, "team": person.team}
        users[person.short] = UserFactory(
            username=_marker(markers, person.username, IDENTITY, **where),
            first_name=_marker(markers, f"Zqfirst{person.short}qz", IDENTITY, **where),
            last_name=_marker(markers, f"Zqlast{person.short}qz", IDENTITY, **where),
            is_staff=person.role is None,
            is_superuser=person.role is None,
        )
        if person.role:
            MembershipFactory(user=users[person.short], team=teams[person.team], role=person.role)
    person_of = {users[p.short].pk: p for p in PEOPLE}

    now = timezone.now()
    tasks: list[Task] = []
    samples: list[Task] = []  # each planner's open, running and abandoned task, in this order
    for person in PLANNERS:
        where = {"owner": person.short, "team": person.team}

        def add_task(status: str, *, ai: bool, task_type, days_ago: int = 0, **fields) -> Task:
            forecast = round(rng.uniform(30, 240))
            title = f"zqtask{person.short}{len(tasks)}qz"  # noqa: B023 (called in this loop)
            external_id = f"zqext{person.short}{len(tasks)}qz"  # noqa: B023
            tasks.append(
                Task(
                    owner=users[person.short],  # noqa: B023
                    team=teams[person.team],  # noqa: B023
                    task_type=task_type,
                    title=_marker(markers, title, TASK_DATA, **where),  # noqa: B023
                    source="worklog",
                    external_id=_marker(markers, external_id, IDENTITY, **where),  # noqa: B023
                    forecast_no_ai_minutes=forecast,
                    forecast_ai_minutes=round(forecast * 0.8),
                    assignment=Task.Assignment.RANDOMIZED,
                    condition=Task.Condition.AI if ai else Task.Condition.NO_AI,
                    randomized_at=now - timedelta(days=days_ago + 2),
                    allocation_ai=0.5,
                    draw=Task.Draw.IMPORTED,
                    status=status,
                    **fields,
                )
            )
            return tasks[-1]

        # A completed task in each arm: the organisation has an estimate, each team too few
        # tasks for one (every estimate fits mixed models, which take most of a second).
        for task_type, ai in ((shared_type, True), (own_type[person.team], False)):
            days_ago = rng.randint(1, 50)
            actual = rng.uniform(20, 300)
            add_task(
                Task.Status.COMPLETED,
                ai=ai,
                task_type=task_type,
                days_ago=days_ago,
                started_at=now - timedelta(days=days_ago, hours=3),
                completed_at=now - timedelta(days=days_ago),
                actual_minutes=actual,
                perceived_other_minutes=actual * (1.3 if ai else 0.8),
            )
        note = _marker(markers, f"zqnote{person.short}qz", TASK_DATA, **where)
        samples += [
            add_task(Task.Status.PLANNED, ai=True, task_type=shared_type),
            add_task(
                Task.Status.IN_PROGRESS,
                ai=False,
                task_type=own_type[person.team],
                started_at=now - timedelta(hours=2),
            ),
            add_task(Task.Status.ABANDONED, ai=True, task_type=shared_type, abandoned_reason=note),
        ]
    Task.objects.bulk_create(tasks)

    uses = []
    for task in tasks:
        if task.status == Task.Status.COMPLETED and task.ai_allowed:
            person = person_of[task.owner_id]
            # A number no page prints by chance: found in JSON, CSV and pages alike.
            minutes = f"{1000 + 10 * len(uses)}.3125"
            plain.append(Marker(minutes, TASK_DATA, owner=person.short, team=person.team))
            uses.append(ToolUse(task=task, tool=own_tool[person.team], minutes=float(minutes)))
    ToolUse.objects.bulk_create(uses)

    sessions = []
    for running in samples[1::3]:
        start = now - timedelta(hours=2)
        finished = WorkSession(
            task=running, owner=running.owner, started_at=start, ended_at=start + timedelta(hours=1)
        )
        still_running = WorkSession(
            task=running, owner=running.owner, started_at=now - timedelta(minutes=30)
        )
        sessions += [finished, still_running]
    WorkSession.objects.bulk_create(sessions)

    for planned in samples[0::3]:
        person = person_of[planned.owner_id]
        where = {"owner": person.short, "team": person.team}
        AuditEntry.objects.create(
            actor=planned.owner,
            task=planned,
            action=AuditEntry.Action.REFUSED,
            field="forecast_ai_minutes",
            old_value=str(planned.forecast_ai_minutes),
            new_value=_marker(markers, f"zqaudit{person.short}qz", AUDIT, **where),
            via="web",
        )

    tokens = {}
    for role in ROLES[1:]:
        short = role.person.short
        name = _marker(markers, f"zqtoken{short}qz", TOKEN_NAME, owner=short)
        _, tokens[short] = ApiToken.objects.create(
            user=users[short], expiry=timedelta(days=1), name=name
        )
        plain.append(Marker(tokens[short], SECRET))
    plain += [
        Marker(users["ada"].password, SECRET),  # every test user shares this hash
        Marker(settings.SECRET_KEY, SECRET),
        Marker(settings.PSEUDONYM_KEY, SECRET),
    ]
    _assert_markers_distinct(markers, plain)

    snapshot = estimates_refresh()
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.message

    # In paths: every planner's running task, and the crawling roles' own tasks of each status.
    crawling = {role.person.short for role in ROLES if role.person}
    path_tasks = [
        t.pk
        for t in samples
        if t.status == Task.Status.IN_PROGRESS or person_of[t.owner_id].short in crawling
    ]
    return World(
        markers=markers,
        plain_markers=plain,
        users=users,
        tokens=tokens,
        task_owner={t.pk: person_of[t.owner_id].short for t in tasks},
        task_team={t.pk: person_of[t.owner_id].team for t in tasks},
        path_values={
            ("task_id",): [(pk,) for pk in path_tasks] + [(MISSING_ID,)],
            # Each session under its own task, and under another person's task.
            ("task_id", "session_id"): [
                *((s.task_id, s.pk) for s in sessions),
                (samples[0].pk, sessions[-1].pk),
                (MISSING_ID, MISSING_ID),
            ],
            ("token_key",): [*ApiToken.objects.values_list("token_key"), ("upl_nosuchkey",)],
            ("slug",): [(slug,) for slug in CHART_SLUGS],
            ("content_type_id", "object_id"): [
                (ContentType.objects.get_for_model(Task).pk, samples[0].pk),
                (ContentType.objects.get_for_model(User).pk, users["bob"].pk),
                (MISSING_ID, MISSING_ID),
            ],
            ("path",): [("no-such-endpoint/",), ("tasks",)],
            ("url",): [("no-such-page/",)],
        },
        ids_of={
            Task: path_tasks,
            WorkSession: [s.pk for s in sessions],
            ToolUse: [u.pk for u in uses],  # one per planner
        },
        pseudonym_of={p.short: researcher_pseudonym(users[p.short].pk) for p in PEOPLE},
    )


def _assert_markers_distinct(markers: dict[str, Marker], plain: list[Marker]) -> None:
    """No marker may hide inside another, or a legitimate sight would pass for a leak."""
    texts = [*markers, *(m.text for m in plain)]
    for text in texts:
        inside = [other for other in texts if other != text and text in other]
        assert not inside, f"marker {text!r} is part of {inside}"


def route_paths(route: UrlRoute, world: World) -> list[str]:
    """Concrete paths for ``route``, with ids of every person's and both teams' rows."""
    names = route.parameters
    if not names:
        return [route.path({})]
    for parameters, rows in world.path_values.items():
        if set(parameters) == names:
            return [route.path(dict(zip(parameters, row, strict=True))) for row in rows]
    (name,) = names  # every other route has one parameter: the id of one model's rows
    if name == "app_label":
        return [route.path({name: label}) for label in route.regex_alternatives(name)]
    model = _model_of(route)
    assert model is not None, f"the crawl has no values for {sorted(names)} in {route.route}"
    if route.route.startswith("admin/") or model not in world.ids_of:
        # First and last row (typically one of each team), every row of the small tables.
        pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
        pks = pks if len(pks) <= 4 else [pks[0], pks[-1]]
    else:
        pks = world.ids_of[model]
    return [route.path({name: pk}) for pk in [*pks, MISSING_ID]]


def _model_of(route: UrlRoute) -> type | None:
    """The model whose ids a one-parameter route takes: from the admin, the API or the path."""
    callback = route.callback
    if model_admin := getattr(callback, "model_admin", None):
        return model_admin.model
    if route.route.startswith("admin/accounts/user/"):
        return User  # the admin's password form for a user
    view_class = getattr(callback, "cls", None)
    if view_class is not None and getattr(view_class, "queryset", None) is not None:
        return view_class.queryset.model
    if route.route.startswith("dashboards/jobs/"):
        return Snapshot
    return None


def query_seeds() -> list[str]:
    """Filters in query strings that name either team, and the export formats."""
    seeds = []
    for team_id in [*Team.objects.values_list("pk", flat=True), MISSING_ID]:
        seeds += [
            f"/dashboards/?team={team_id}",
            f"/dashboards/csv/by-task-type/?team={team_id}",
            f"/dashboards/flagged/?team={team_id}",
            f"/dashboards/org/?team={team_id}",
            f"/api/v1/tasks/?team={team_id}",
            f"/api/v1/tasks/export/?format=csv&team={team_id}",
        ]
    return [
        *seeds,
        "/dashboards/?team=org",
        "/api/v1/tasks/export/?format=csv",
        "/api/v1/tasks/export/?format=jsonl",
        "/api/v1/tasks/export/?format=xml",
        "/api/v1/estimates/?dimension=team",
        "/healthz",
    ]


def database_state() -> dict[str, list[tuple]]:
    """Every row of the apps the site writes, bar what reading itself records."""
    state = {}
    for label in STATE_APPS:
        for model in apps.get_app_config(label).get_models():
            fields = [
                f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS
            ]
            state[model._meta.label] = list(model.objects.order_by("pk").values_list(*fields))
    return state


@dataclass
class FoundForm:
    role: str
    page: str
    form: PageForm


@dataclass
class CrawlLog:
    """What the crawl met, for the tests below to judge."""

    requests: Counter = field(default_factory=Counter)  # by role
    all_routes: set[str] = field(default_factory=set)  # every pattern of the URLconf
    routes: set[str] = field(default_factory=set)  # the patterns requested
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ok_routes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    forms: list[FoundForm] = field(default_factory=list)
    static_paths: set[str] = field(default_factory=set)
    state_changed_by_reading: list[str] = field(default_factory=list)
    csrf_refusals: list[tuple[str, str, int, str, bool]] = field(default_factory=list)
    state_changed_by_csrf_posts: list[str] = field(default_factory=list)


def _body(response) -> bytes:
    # The test client closes a streamed response itself once it is read to the end.
    return b"".join(response.streaming_content) if response.streaming else response.content


class Crawler:
    """Requests URLs as one role and one client, follows links, and records what it saw."""

    def __init__(self, world: World, log: CrawlLog, role: Role, client: Client, label: str):
        self.world, self.log, self.role, self.client, self.label = world, log, role, client, label
        self.visible_tasks = world.visible_task_ids(role)

    def crawl(self, seeds: Iterable[str], *, head: set[str], within: str = "/") -> None:
        """GET the seeds, then the links found under ``within``, breadth-first."""
        queue = deque(dict.fromkeys(seeds))
        visited: set[str] = set()
        followed: Counter = Counter()
        refusing_get: set[str | None] = set()  # a method refused for one id is for all ids
        while queue:
            url = queue.popleft()
            if url in visited or route_of(url.split("?")[0]) in refusing_get:
                continue
            visited.add(url)
            status, links = self.request("get", url)
            if status == 405:
                refusing_get.add(route_of(url.split("?")[0]))
            if url in head and status == 200:
                self.request("head", url)
            for link in links:
                path = link.split("?")[0]
                if path.startswith(STATIC_PREFIX):
                    self.log.static_paths.add(path)
                    continue
                if link in visited or not link.startswith(within):
                    continue
                route = route_of(path)
                if followed[route] < LINKS_PER_ROUTE:
                    followed[route] += 1
                    queue.append(link)

    def request(self, method: str, url: str) -> tuple[int, list[str]]:
        """Make one request, check it, and return its status and the site links in it."""
        response = getattr(self.client, method)(url, secure=True)
        path = url.split("?")[0]
        route = route_of(path)
        what = f"{self.role.name} ({self.label}) {method.upper()} {url}"
        self.log.requests[self.role.name] += 1
        if route is not None:
            self.log.routes.add(route)
        if response.status_code >= 500:
            error = response.exc_info[1] if response.exc_info else None
            self.log.server_errors.append(f"{what} -> {response.status_code} {error!r}")
        body = _body(response)
        if response.status_code == 200:
            self.log.ok_routes[self.role.name].add(route)
        self._check_markers(what, path, body)
        links = []
        if location := response.get("Location"):
            links.append(location)
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html") and body:
            page = parse_page(body.decode("utf-8", "replace"))
            links += page.links
            for form in page.forms:
                if form.method == "post":
                    form.action = site_url(url, form.action or url) or form.action
                    self.log.forms.append(FoundForm(self.role.name, url, form))
        elif content_type.startswith("application/json"):
            links += [m.decode() for m in JSON_SITE_URL.findall(body)]
            self._check_task_ids(what, route, response, body)
        return response.status_code, [site for link in links if (site := site_url(url, link))]

    def _check_markers(self, what: str, path: str, body: bytes) -> None:
        found = {m.decode().lower() for m in MARKER.findall(body)}
        plain = [m for m in self.world.plain_markers if m.text.encode() in body]
        for marker in [*(self.world.markers[t] for t in found if t in self.world.markers), *plain]:
            self.log.seen[self.role.name].add(marker.text)
            if not may_see(self.role, marker, path):
                self.log.leaks.append(f"{what} shows {marker}")
        for pseudonym in self.world.pseudonym_of.values():
            if pseudonym.encode() in body:
                self.log.seen[self.role.name].add(pseudonym)

    def _check_task_ids(self, what: str, route: str | None, response, body: bytes) -> None:
        """The API's rows that name a task name only tasks the role may see."""
        if response.status_code != 200 or route is None or not body:
            return
        key = {"api/v1/tasks/": "id", "api/v1/work-sessions/": "task", "api/v1/tool-uses/": "task"}
        prefix = next((p for p in key if route.startswith(p)), None)
        if prefix is None or route == "api/v1/tasks/export/":
            return
        data = json.loads(body)
        rows = data.get("results", [data])
        for row in rows:
            task_id = row.get(key[prefix])
            if task_id is not None and task_id not in self.visible_tasks:
                owner = self.world.task_owner.get(task_id)
                self.log.leaks.append(f"{what} lists task {task_id} of {owner}")


def _client(world: World, role: Role, *, token: bool = False, **kwargs) -> Client:
    """A client signed in as ``role``, or sending its API token; a bogus one for the stranger.

    A view's exception becomes a 500 answer, as in production, and is logged in the crawl.
    """
    kwargs["raise_request_exception"] = False
    if token:
        secret = world.tokens[role.person.short] if role.person else "upl_not-a-real-token"
        return Client(headers={"Authorization": f"Bearer {secret}"}, **kwargs)
    client = Client(**kwargs)
    if role.person is not None:
        client.force_login(world.users[role.person.short])
    return client


def crawl_site(world: World) -> CrawlLog:
    """GET (and HEAD) every route and every link as every role, then POST its forms bare."""
    routes = site_routes()
    log = CrawlLog(all_routes={route.route for route in routes})
    paths = {route.route: route_paths(route, world) for route in routes}
    seeds = [path for route_paths_ in paths.values() for path in route_paths_]
    seeds += query_seeds()
    head = {route_paths_[0] for route_paths_ in paths.values()}
    clients = [(role, "session", _client(world, role)) for role in ROLES]
    clients += [(role, "token", _client(world, role, token=True)) for role in ROLES]
    before = database_state()
    for role, label, client in clients:
        crawler = Crawler(world, log, role, client, label)
        if label == "token":
            crawler.crawl([s for s in seeds if s.startswith("/api/")], head=set(), within="/api/")
        else:
            crawler.crawl(seeds, head=head)
    static = Crawler(world, log, ROLES[0], _client(world, ROLES[0]), "static")
    for path in sorted(log.static_paths):
        static.request("get", path)
    log.state_changed_by_reading = _changes(before, database_state())
    post_without_csrf_token(world, log)
    return log


def _changes(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


class CsrfRefusalReasons(logging.Handler):
    """The reasons CsrfViewMiddleware logs as it refuses requests ("CSRF token missing.")."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if match := re.match(r"Forbidden \((.*)\): ", record.getMessage()):
            self.reasons.append(match[1])


def post_without_csrf_token(world: World, log: CrawlLog) -> None:
    """POST every distinct form as the role that met it, with its fields but no CSRF token.

    The client holds the CSRF cookie from a page and sends a same-origin Referer, as a
    browser would: the missing token is the only reason left to refuse the POST.
    """
    clients = {role.name: _client(world, role, enforce_csrf_checks=True) for role in ROLES}
    refusals = CsrfRefusalReasons()
    logging.getLogger("django.security.csrf").addHandler(refusals)
    before = database_state()
    done = set()
    for found in log.forms:
        if (found.role, found.form.action) in done:
            continue
        done.add((found.role, found.form.action))
        client = clients[found.role]
        if settings.CSRF_COOKIE_NAME not in client.cookies:
            client.get(found.page, secure=True)
        fields = {k: v for k, v in found.form.fields.items() if k != "csrfmiddlewaretoken"}
        refusals.reasons.clear()
        response = client.post(
            found.form.action,
            fields,
            secure=True,
            headers={"Referer": f"https://testserver{found.page}"},
        )
        reason = " ".join(refusals.reasons)
        log.csrf_refusals.append(
            (
                found.role,
                found.form.action,
                response.status_code,
                reason,
                CSRF_PAGE_TEXT in response.content,
            )
        )
    log.state_changed_by_csrf_posts = _changes(before, database_state())
    logging.getLogger("django.security.csrf").removeHandler(refusals)


@contextmanager
def expected_refusals_unlogged():
    """The crawl's thousands of expected 403, 404 and 405 answers would each log a warning,
    some with a traceback; server errors are still logged."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture(scope="module")
def crawl(django_db_setup, django_db_blocker) -> tuple[World, CrawlLog]:
    """One world and one crawl for every test here; rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic(), expected_refusals_unlogged():
        cache.clear()  # rendered dashboards are cached by row id, which repeat across tests
        try:
            world = build_world()
            log = crawl_site(world)
        finally:
            cache.clear()
            transaction.set_rollback(True)
    return world, log


def test_no_url_answers_a_server_error(crawl):
    _, log = crawl
    assert log.server_errors == []


def test_no_role_sees_data_it_may_not(crawl):
    _, log = crawl
    assert log.leaks == []


def test_every_url_pattern_is_requested(crawl):
    _, log = crawl
    assert sorted(log.all_routes - log.routes) == []
    assert len(log.all_routes) > 100  # the admin, the API router and the pages


def test_every_role_sees_its_own_data(crawl):
    world, log = crawl
    for role in ROLES:
        expected = world.expected_to_see(role)
        assert sorted(expected - log.seen[role.name]) == [], role.name
    assert "accounts/login/" in log.ok_routes["stranger"]


def test_the_stranger_gets_only_the_public_pages(crawl):
    _, log = crawl
    # None: /healthz and the static files, served before the URLconf.
    public = {None, "accounts/login/", "admin/login/", "api/v1/schema/", "api/v1/docs/"}
    assert log.ok_routes["stranger"] <= public
    assert "accounts/login/" in log.ok_routes["stranger"]


def test_reading_changes_nothing(crawl):
    _, log = crawl
    assert log.state_changed_by_reading == []


def test_every_post_form_carries_a_csrf_token(crawl):
    _, log = crawl
    assert len(log.forms) > 20
    assert [(f.role, f.page) for f in log.forms if not f.form.has_csrf_token] == []


def test_a_post_without_csrf_token_is_refused_and_writes_nothing(crawl):
    _, log = crawl
    actions = {action for _, action, *_ in log.csrf_refusals}
    assert {"/accounts/login/", "/accounts/logout/", "/dashboards/recompute/"} <= actions
    refused = [
        (role, action, 403, "CSRF token missing.", True) for role, action, *_ in log.csrf_refusals
    ]
    assert log.csrf_refusals == refused
    assert log.state_changed_by_csrf_posts == []


def test_the_crawl_covers_every_role_with_many_requests(crawl):
    _, log = crawl
    assert set(log.requests) == {role.name for role in ROLES}
    assert min(log.requests.values()) > 100
