"""A small organisation with enough randomized tasks for estimates, and its snapshot."""

import math
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import alignment_team, researcher_in, rows_shared_by_the_module
from tests.factories import (
    MembershipFactory,
    TaskTypeFactory,
    TeamFactory,
    ToolFactory,
    UserFactory,
)
from uplift.accounts.models import Membership
from uplift.estimates.compute import estimates_refresh
from uplift.worklog.models import Task, ToolUse

# Task type -> true log time ratio with AI allowed.
EFFECTS = {"Experiment code": -0.3, "Paper writing": 0.1}


def _tasks_for(team, researchers, types, *, months: int, per_cell: int, rng) -> list[Task]:
    now = timezone.now()
    tasks = []
    for researcher in researchers:
        speed = rng.gauss(0, 0.2)
        for task_type in types:
            for month in range(months):
                for n in range(per_cell):
                    for ai in (True, False):
                        forecast = math.exp(rng.gauss(4, 0.6))
                        effect = EFFECTS.get(task_type.name, 0.0) if ai else 0.0
                        actual = forecast * math.exp(effect + speed + rng.gauss(0, 0.3))
                        completed = now - timedelta(days=30 * month + rng.randint(1, 25))
                        tasks.append(
                            Task(
                                owner=researcher,
                                team=team,
                                task_type=task_type,
                                title=f"{task_type.name} {month}-{n}",
                                forecast_no_ai_minutes=forecast,
                                forecast_ai_minutes=forecast * 0.8,
                                assignment=Task.Assignment.RANDOMIZED,
                                condition=Task.Condition.AI if ai else Task.Condition.NO_AI,
                                randomized_at=completed - timedelta(days=2),
                                allocation_ai=0.5,
                                draw=Task.Draw.IMPORTED,
                                status=Task.Status.COMPLETED,
                                started_at=completed - timedelta(days=1),
                                completed_at=completed,
                                actual_minutes=actual,
                                perceived_other_minutes=actual * (1.3 if ai else 0.8),
                            )
                        )
    return tasks


@pytest.fixture
def organisation(team, researcher):
    """Alignment (lead lin, researcher ada), Evaluations (lead eve) and Tiny; a snapshot.

    Alignment and Evaluations have 6 researchers each with tasks of two types over four months;
    the type "Rare" has two tasks, and the team Tiny four: both too few for an estimate.
    """
    return organisation_build(team, researcher)


@pytest.fixture(scope="module")
def organisation_shared(django_db_setup, django_db_blocker):
    """``organisation`` with its ``team`` and ``researcher``, written once for a module whose
    every database test reads it (see ``rows_shared_by_the_module``)."""

    def build() -> dict:
        team = alignment_team()
        researcher = researcher_in(team)
        return {
            "organisation": organisation_build(team, researcher),
            "team": team,
            "researcher": researcher,
        }

    with rows_shared_by_the_module(django_db_blocker, build) as built:
        yield built


def organisation_build(team, researcher) -> dict:
    rng = random.Random(11)
    evaluations = TeamFactory(name="Evaluations")
    tiny = TeamFactory(name="Tiny")
    lin = UserFactory(username="lin")
    MembershipFactory(user=lin, team=team, role=Membership.Role.LEAD)
    eve = UserFactory(username="eve")
    MembershipFactory(user=eve, team=evaluations, role=Membership.Role.LEAD)
    tina = UserFactory(username="tina")
    MembershipFactory(user=tina, team=tiny, role=Membership.Role.LEAD)
    UserFactory(username="root", is_staff=True)
    types = [TaskTypeFactory(name=name) for name in EFFECTS]
    rare = TaskTypeFactory(name="Rare")
    tasks = []
    for index, group in enumerate((team, evaluations)):
        others = [UserFactory(username=f"r{index}{n}") for n in range(6 if index else 5)]
        for member in others:
            MembershipFactory(user=member, team=group)
        members = ([researcher] if group == team else []) + others
        tasks += _tasks_for(group, members, types, months=4, per_cell=1, rng=rng)
        if group == team:
            tasks += _tasks_for(group, members[:1], [rare], months=1, per_cell=1, rng=rng)
    tiny_members = [UserFactory(username=f"t{n}") for n in range(2)]
    for member in tiny_members:
        MembershipFactory(user=member, team=tiny)
    tasks += _tasks_for(tiny, tiny_members, types[:1], months=1, per_cell=1, rng=rng)
    Task.objects.bulk_create(tasks)
    # Every AI-allowed task used one of two tools, alternately.
    tools = [ToolFactory(name="claude"), ToolFactory(name="copilot")]
    ai_tasks = [task for task in tasks if task.condition == Task.Condition.AI]
    ToolUse.objects.bulk_create(
        ToolUse(task=task, tool=tools[i % 2], minutes=10) for i, task in enumerate(ai_tasks)
    )
    snapshot = estimates_refresh()
    return {
        "snapshot": snapshot,
        "alignment": team,
        "evaluations": evaluations,
        "tiny": tiny,
    }


@pytest.fixture(autouse=True)
def empty_cache():
    """Rendered slices are cached by id; ids can repeat across test databases."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
