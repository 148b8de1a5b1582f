"""One small organisation with a user of every role, each with a personal API token."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import alignment_team, researcher_in, rows_shared_by_the_module
from tests.factories import (
    MembershipFactory,
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    ToolUseFactory,
    UserFactory,
    WorkSessionFactory,
)
from uplift.accounts.models import Membership
from uplift.api.models import ApiToken
from uplift.estimates.models import Estimate, Snapshot
from uplift.worklog.models import Task

ROLES = ("anonymous", "expired_token", "researcher", "lead", "analyst", "admin", "outsider")


@dataclass
class World:
    """Users by role, their tokens, and the rows the permission rules are about.

    ``researcher`` and ``lead`` are in team Alignment; ``outsider`` is a researcher of team
    Interpretability; ``analyst`` is an analyst; ``admin`` is staff without a membership.
    """

    users: dict
    tokens: dict
    alignment: object
    interpretability: object
    task_type: object
    tool: object
    own_task: Task
    other_team_task: Task
    session: object
    tool_use: object
    snapshot: Snapshot

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role in self.tokens:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client


def _token(user, *, expiry=timedelta(days=1)) -> str:
    _, secret = ApiToken.objects.create(user=user, expiry=expiry, name="tests")
    return secret


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # Throttle counters live in the cache; every test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(team, researcher) -> World:
    return world_build(team, researcher)


@pytest.fixture(scope="module")
def world_shared(django_db_setup, django_db_blocker):
    """``world``, written once for a module (see ``rows_shared_by_the_module``)."""

    def build() -> World:
        team = alignment_team()
        return world_build(team, researcher_in(team))

    with rows_shared_by_the_module(django_db_blocker, build) as built:
        yield built


def world_build(team, researcher) -> World:
    alignment = team  # tests/conftest.py: team Alignment and its researcher ada
    interpretability = TeamFactory(name="Interpretability")
    users = {
        "researcher": researcher,
        "lead": UserFactory(username="lin"),
        "analyst": UserFactory(username="ana"),
        "admin": UserFactory(username="root", is_staff=True),
        "outsider": UserFactory(username="otto"),
        "expired_token": UserFactory(username="eve"),
    }
    MembershipFactory(user=users["lead"], team=alignment, role=Membership.Role.LEAD)
    MembershipFactory(user=users["analyst"], team=alignment, role=Membership.Role.ANALYST)
    MembershipFactory(user=users["outsider"], team=interpretability)
    MembershipFactory(user=users["expired_token"], team=alignment)
    task_type = TaskTypeFactory(name="Debugging")
    tool = ToolFactory(name="claude")
    own_task = TaskFactory(
        owner=users["researcher"], team=alignment, task_type=task_type, title="Fix the loader"
    )
    other_team_task = TaskFactory(
        owner=users["outsider"], team=interpretability, task_type=task_type, title="Probe"
    )
    session = WorkSessionFactory(task=own_task)
    tool_use = ToolUseFactory(task=own_task, tool=tool)
    snapshot = Snapshot.objects.create(
        status=Snapshot.Status.SUCCEEDED,
        finished_at=timezone.now(),
        method_version="test",
        n_tasks=2,
        duration_seconds=0.5,
        lab={"note": "test"},
    )
    for position, (dimension, group) in enumerate(
        [("overall", ""), ("team", "Alignment"), ("team", "Interpretability")]
    ):
        Estimate.objects.create(
            snapshot=snapshot,
            position=position,
            dimension=dimension,
            group=group,
            status="ok",
            n_tasks=2,
            time_change=-0.1,
            ci_low=-0.2,
            ci_high=0.0,
            data={"dimension": dimension, "group": group or None, "status": "ok", "warnings": []},
        )
    tokens = {role: _token(user) for role, user in users.items() if role != "expired_token"}
    tokens["expired_token"] = _token(users["expired_token"], expiry=-timedelta(minutes=1))
    return World(
        users=users,
        tokens=tokens,
        alignment=alignment,
        interpretability=interpretability,
        task_type=task_type,
        tool=tool,
        own_task=own_task,
        other_team_task=other_team_task,
        session=session,
        tool_use=tool_use,
        snapshot=snapshot,
    )
