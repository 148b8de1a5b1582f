"""Planning a task: randomization in permuted blocks, observational tasks, the lock."""

from collections import Counter, defaultdict

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import (
    MembershipFactory,
    TaskFactory,
    TaskTypeFactory,
    TeamFactory,
    UserFactory,
)
from uplift.worklog.models import AuditEntry, Task
from uplift.worklog.services import TaskLocked, planning, task_plan, task_update
from uplift.worklog.signals import tasks_changed

pytestmark = pytest.mark.django_db


def plan(researcher, team, task_type, **kwargs):
    values = {
        "owner": researcher,
        "team": team,
        "task_type": task_type,
        "title": "Sweep",
        "forecast_no_ai_minutes": 60.0,
        "forecast_ai_minutes": 45.0,
        **kwargs,
    }
    return task_plan(**values)


def blocks_of(tasks):
    """Block key -> (conditions in draw order, declared size)."""
    blocks = defaultdict(list)
    sizes = {}
    for task in tasks:
        key, position = task.block.split(":")
        pos, size = position.split("/")
        blocks[key].append((int(pos), task.condition))
        sizes[key] = int(size)
    return {k: ([c for _, c in sorted(v)], sizes[k]) for k, v in blocks.items()}


def test_planned_task_is_randomized_with_its_record(researcher, team, task_type):
    task = plan(researcher, team, task_type)
    task.refresh_from_db()
    assert task.assignment == Task.Assignment.RANDOMIZED
    assert task.condition in {Task.Condition.AI, Task.Condition.NO_AI}
    assert task.randomized_at is not None
    assert task.allocation_ai == 0.5
    assert task.block in {f"r{researcher.pk}-t{task_type.pk}-b1:1/{size}" for size in (2, 4)}
    assert task.status == Task.Status.PLANNED


def test_over_1000_tasks_every_completed_block_holds_exactly_the_planned_share(
    researcher, team, task_type
):
    tasks = [plan(researcher, team, task_type) for _ in range(1000)]
    blocks = blocks_of(tasks)
    counts = Counter(task.condition for task in tasks)
    complete = {k: v for k, v in blocks.items() if len(v[0]) == v[1]}
    assert len(complete) >= len(blocks) - 1  # only the last block may be open
    for conditions, size in complete.values():
        assert size in (2, 4)
        assert conditions.count("ai") == conditions.count("no_ai") == size // 2
    # At most the open last block can tip the balance, by less than its size.
    assert abs(counts["ai"] - counts["no_ai"]) <= 2
    # Positions run 1..size in every block, in the order drawn.
    assert all(len(c) <= size for c, size in blocks.values())
    # Both block sizes occur: the end of a block cannot be foreseen.
    assert {size for _, size in blocks.values()} == {2, 4}


def test_blocks_are_kept_per_researcher_and_task_type(researcher, team, task_type):
    other_type = TaskTypeFactory(name="Paper writing")
    for _ in range(7):
        plan(researcher, team, task_type)
        plan(researcher, team, other_type)
    prefixes = {t.block.split("-b")[0] for t in Task.objects.all()}
    assert prefixes == {f"r{researcher.pk}-t{task_type.pk}", f"r{researcher.pk}-t{other_type.pk}"}


def test_a_one_third_allocation_uses_blocks_of_three_or_six(researcher, team, task_type):
    team.allocation_ai = 1 / 3
    team.save()
    tasks = [plan(researcher, team, task_type) for _ in range(60)]
    for conditions, size in blocks_of(tasks).values():
        assert size in (3, 6)
        if len(conditions) == size:
            assert conditions.count("ai") == size // 3


def test_an_allocation_needing_blocks_over_20_falls_back_to_a_recorded_coin(
    researcher, team, task_type
):
    team.allocation_ai = 0.37
    team.save()
    task = plan(researcher, team, task_type)
    assert task.block == f"r{researcher.pk}-t{task_type.pk}-coin"
    assert task.allocation_ai == 0.37


def test_a_changed_allocation_starts_a_new_block(researcher, team, task_type, monkeypatch):
    monkeypatch.setattr(planning._random, "choice", lambda sizes: max(sizes))
    first = plan(researcher, team, task_type)
    team.allocation_ai = 0.25
    team.save()
    second = plan(researcher, team, task_type)
    assert first.block.endswith("-b1:1/4")
    assert second.block.endswith("-b2:1/8")
    assert second.allocation_ai == 0.25


def test_the_draw_is_recorded_in_columns(researcher, team, task_type):
    task = plan(researcher, team, task_type)
    task.refresh_from_db()
    assert (task.draw, task.stratum_owner, task.stratum_task_type) == (
        Task.Draw.BLOCK,
        researcher,
        task_type,
    )
    assert (task.block_number, task.block_position) == (1, 1)
    assert task.block_size in (2, 4)


def test_a_block_continues_from_the_columns_of_its_drawn_tasks(researcher, team, task_type):
    # Three of a block of four drawn, two of them "AI allowed": the last draw is "No AI".
    for position, condition in enumerate(["ai", "no_ai", "ai"], start=1):
        TaskFactory(
            owner=researcher,
            team=team,
            task_type=task_type,
            condition=condition,
            draw=Task.Draw.BLOCK,
            stratum_owner=researcher,
            stratum_task_type=task_type,
            block_number=7,
            block_position=position,
            block_size=4,
        )
    task = plan(researcher, team, task_type)
    assert (task.block, task.condition) == (f"r{researcher.pk}-t{task_type.pk}-b7:4/4", "no_ai")
    assert plan(researcher, team, task_type).block_number == 8


def test_a_task_given_to_another_researcher_stays_out_of_both_strata(researcher, team, task_type):
    first = plan(researcher, team, task_type)
    other = UserFactory(username="bo")
    MembershipFactory(user=other, team=team)
    Task.objects.filter(pk=first.pk).update(owner=other)  # as the admin may
    # Each starts a block of its own: the task is neither's to continue.
    for owner in (other, researcher):
        task = plan(owner, team, task_type)
        assert (task.stratum_owner, task.block_number, task.block_position) == (owner, 1, 1)


def test_the_draw_uses_the_systems_random_source():
    import secrets

    assert isinstance(planning._random, secrets.SystemRandom)


@pytest.mark.parametrize("uses_ai", [True, False])
def test_an_observational_team_records_the_researchers_choice(researcher, team, task_type, uses_ai):
    team.observational = True
    team.save()
    task = plan(researcher, team, task_type, uses_ai=uses_ai)
    assert task.assignment == Task.Assignment.SELF_SELECTED
    assert task.condition == ("ai" if uses_ai else "no_ai")
    assert (task.randomized_at, task.allocation_ai, task.block) == (None, None, "")


def test_an_observational_task_type_needs_the_researchers_statement(researcher, team):
    observed = TaskTypeFactory(name="Reading", observational=True)
    with pytest.raises(ValidationError) as refused:
        plan(researcher, team, observed)
    assert "uses_ai" in refused.value.error_dict
    assert Task.objects.count() == 0


def test_a_non_positive_forecast_is_refused(researcher, team, task_type):
    with pytest.raises(ValidationError) as refused:
        plan(researcher, team, task_type, forecast_ai_minutes=0)
    assert list(refused.value.error_dict) == ["forecast_ai_minutes"]


def test_only_researchers_and_leads_of_the_team_can_plan_in_it(task_type):
    outsider = UserFactory(username="eve")
    analyst_team = TeamFactory(name="Analytics")
    MembershipFactory(user=outsider, team=analyst_team, role="analyst")
    with pytest.raises(ValidationError) as refused:
        plan(outsider, analyst_team, task_type)
    assert "team" in refused.value.error_dict


# --- The lock: service, database, audit log ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("forecast_no_ai_minutes", 90.0),
        ("forecast_ai_minutes", 10.0),
        ("condition", "flip"),
        ("assignment", Task.Assignment.SELF_SELECTED),
    ],
)
def test_the_service_refuses_changing_a_locked_field(researcher, team, task_type, field, value):
    task = plan(researcher, team, task_type)
    if value == "flip":
        value = "no_ai" if task.condition == "ai" else "ai"
    before = getattr(task, field)
    with pytest.raises(TaskLocked):
        task_update(task=task, actor=researcher, changes={field: value, "title": "New"})
    task.refresh_from_db()
    assert getattr(task, field) == before
    assert task.title == "Sweep"  # nothing of a refused change is applied


def test_each_refused_change_is_written_to_the_audit_log(researcher, team, task_type):
    task = plan(researcher, team, task_type)
    with pytest.raises(TaskLocked):
        task_update(
            task=task,
            actor=researcher,
            changes={"forecast_no_ai_minutes": 90.0, "forecast_ai_minutes": 10.0},
        )
    entries = AuditEntry.objects.filter(task=task).order_by("field")
    assert [(e.action, e.field, e.old_value, e.new_value, e.actor, e.via) for e in entries] == [
        ("refused", "forecast_ai_minutes", "45", "10", researcher, "web"),
        ("refused", "forecast_no_ai_minutes", "60", "90", researcher, "web"),
    ]


def test_the_database_refuses_a_changed_condition_saved_around_the_service(
    researcher, team, task_type
):
    task = plan(researcher, team, task_type)
    task.condition = "no_ai" if task.condition == "ai" else "ai"
    with pytest.raises(IntegrityError, match="locked"), transaction.atomic():
        task.save()
    with pytest.raises(IntegrityError, match="locked"), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(forecast_ai_minutes=1, randomized_at=None)


def test_unchanged_locked_values_and_unlocked_fields_are_accepted(researcher, team, task_type):
    task = plan(researcher, team, task_type)
    task_update(
        task=task,
        actor=researcher,
        changes={"title": "Renamed", "forecast_ai_minutes": task.forecast_ai_minutes},
    )
    task.refresh_from_db()
    assert task.title == "Renamed"
    assert not AuditEntry.objects.exists()


def test_changing_a_task_queues_an_estimate_refresh(
    researcher, team, task_type, django_capture_on_commit_callbacks
):
    task = plan(researcher, team, task_type)
    with django_capture_on_commit_callbacks() as callbacks:
        task_update(task=task, actor=researcher, changes={"title": "Renamed"})
    assert len(callbacks) == 1


def test_a_change_of_tasks_is_announced_by_the_worklog(researcher, team, task_type):
    heard = []

    def listener(sender, **kwargs):
        heard.append(sender)

    tasks_changed.connect(listener)
    try:
        task = plan(researcher, team, task_type)
        assert heard == []  # a planned task changes no estimate
        task_update(task=task, actor=researcher, changes={"title": "Renamed"})
        assert heard == [Task]
        task_update(task=task, actor=researcher, changes={"title": "Renamed"})
        assert heard == [Task]  # nothing changed: nothing announced
    finally:
        tasks_changed.disconnect(listener)
