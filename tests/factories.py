import functools
from datetime import timedelta

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.models import Task, TaskType, Tool, ToolUse, WorkSession

PASSWORD = "correct horse battery staple"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Team {n}")


@functools.cache
def password_hash() -> str:
    # Hashing is deliberately slow; every test user shares one hash of the same password.
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"researcher{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.LazyFunction(password_hash)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.RESEARCHER


class TaskTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskType
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Task type {n}")


class ToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tool
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Tool {n}")


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    owner = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    task_type = factory.SubFactory(TaskTypeFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
    forecast_no_ai_minutes = 60.0
    forecast_ai_minutes = 45.0
    assignment = Task.Assignment.RANDOMIZED
    condition = Task.Condition.AI
    randomized_at = factory.LazyFunction(timezone.now)
    allocation_ai = 0.5
    # Randomized outside planning, as an imported task is; a self-selected task has no draw.
    draw = factory.LazyAttribute(
        lambda task: Task.Draw.IMPORTED if task.assignment == Task.Assignment.RANDOMIZED else ""
    )


class WorkSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkSession

    task = factory.SubFactory(TaskFactory)
    owner = factory.LazyAttribute(lambda s: s.task.owner)
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
    ended_at = factory.LazyAttribute(lambda s: s.started_at + timedelta(minutes=30))


class ToolUseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ToolUse

    task = factory.SubFactory(TaskFactory)
    tool = factory.SubFactory(ToolFactory)
