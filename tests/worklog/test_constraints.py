"""The database itself refuses rows that break the worklog's rules."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tests.factories import TaskFactory, TaskTypeFactory, UserFactory, WorkSessionFactory
from uplift.worklog.models import AuditEntry, Task, WorkSession
from uplift.worklog.worklog_csv import COLUMN_SPECS

pytestmark = pytest.mark.django_db


def refused(**kwargs):
    return pytest.raises(IntegrityError, **kwargs)


@pytest.mark.parametrize("field", ["forecast_no_ai_minutes", "forecast_ai_minutes"])
@pytest.mark.parametrize("value", [0, -5])
def test_forecast_must_be_positive(field, value):
    with refused(match="forecast"):
        TaskFactory(**{field: value})


@pytest.mark.parametrize("title", ["two\nlines", "carriage\rreturn"])
def test_title_is_one_line(title):
    with refused(match="task_title_one_line"):
        TaskFactory(title=title)


def test_completed_task_needs_actual_minutes():
    with refused(match="task_completed_has_actual"):
        TaskFactory(status=Task.Status.COMPLETED, actual_minutes=None)


def test_completion_cannot_precede_start():
    now = timezone.now()
    with refused(match="task_completed_not_before_started"):
        TaskFactory(started_at=now, completed_at=now - timedelta(minutes=1))


def test_randomized_task_needs_its_randomization_record():
    with refused(match="task_randomized_has_record"):
        TaskFactory(randomized_at=None)


def block_draw(**columns) -> dict:
    task_type = TaskTypeFactory()
    owner = UserFactory()
    return {
        "owner": owner,
        "task_type": task_type,
        "draw": Task.Draw.BLOCK,
        "stratum_owner": owner,
        "stratum_task_type": task_type,
        "block_number": 1,
        "block_position": 1,
        "block_size": 2,
        **columns,
    }


NO_BLOCK = {"block_number": None, "block_position": None, "block_size": None}
NO_STRATUM = {"stratum_owner": None, "stratum_task_type": None}


def test_a_block_draw_with_its_columns_is_accepted():
    task = TaskFactory(**block_draw(block_position=2))
    assert task.block == f"r{task.owner_id}-t{task.task_type_id}-b1:2/2"


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ({"draw": "", **NO_STRATUM, **NO_BLOCK}, "task_draw_when_randomized"),
        ({"draw": "dice", **NO_STRATUM, **NO_BLOCK}, "task_draw_valid"),
        ({"assignment": "self_selected", "randomized_at": None}, "task_draw_when_randomized"),
        ({"block_position": 3}, "task_draw_block_position"),
        ({"block_position": 0}, "task_draw_block_position"),
        ({"block_number": 0}, "task_draw_block_position"),
        ({"block_size": None}, "task_draw_block_position"),
        ({"block_number": None}, "task_draw_block_position"),
        ({"draw": Task.Draw.COIN}, "task_draw_block_position"),
        ({"stratum_owner": None}, "task_draw_stratum"),
        ({"draw": Task.Draw.IMPORTED, **NO_BLOCK}, "task_draw_stratum"),
    ],
)
def test_the_draw_columns_hold_together(columns, constraint):
    with refused(match=constraint):
        TaskFactory(**block_draw(**columns))


def test_external_id_is_unique_per_source():
    TaskFactory(source="worklog", external_id="T-1")
    TaskFactory(source="other-study", external_id="T-1")
    with refused(match="task_unique_external_id_per_source"):
        TaskFactory(source="worklog", external_id="T-1")


def test_tasks_without_external_id_do_not_collide():
    TaskFactory(external_id="")
    TaskFactory(external_id="")
    assert Task.objects.count() == 2


def test_session_must_end_after_it_starts():
    start = timezone.now() - timedelta(hours=1)
    with refused(match="work_session_ends_after_start"):
        WorkSessionFactory(started_at=start, ended_at=start)


def test_sessions_of_one_researcher_cannot_overlap():
    first = WorkSessionFactory()
    with refused(match="work_session_no_overlap"):
        WorkSessionFactory(
            task=first.task,
            started_at=first.started_at + timedelta(minutes=10),
            ended_at=first.ended_at + timedelta(minutes=10),
        )


def test_back_to_back_sessions_are_allowed():
    first = WorkSessionFactory()
    WorkSessionFactory(
        task=first.task, started_at=first.ended_at, ended_at=first.ended_at + timedelta(minutes=5)
    )
    assert WorkSession.objects.count() == 2


def test_a_running_session_blocks_any_later_session():
    running = WorkSessionFactory(ended_at=None)
    with refused(match="work_session"):
        WorkSessionFactory(
            task=running.task,
            started_at=running.started_at + timedelta(hours=1),
            ended_at=running.started_at + timedelta(hours=2),
        )


def test_other_researchers_sessions_may_overlap():
    first = WorkSessionFactory()
    WorkSessionFactory(started_at=first.started_at, ended_at=first.ended_at)
    assert WorkSession.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("forecast_no_ai_minutes", 90.0),
        ("forecast_ai_minutes", 10.0),
        ("condition", Task.Condition.NO_AI),
        ("assignment", Task.Assignment.SELF_SELECTED),
    ],
)
def test_database_refuses_changing_a_locked_field(field, value):
    task = TaskFactory()
    with refused(match="locked"), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(**{field: value})
    task.refresh_from_db()
    assert getattr(task, field) != value


def test_unlocked_fields_can_change():
    task = TaskFactory()
    Task.objects.filter(pk=task.pk).update(title="Renamed", status=Task.Status.IN_PROGRESS)
    task.refresh_from_db()
    assert (task.title, task.status) == ("Renamed", "in_progress")


def test_audit_log_is_append_only():
    entry = AuditEntry.objects.create(action=AuditEntry.Action.REFUSED, field="condition")
    with refused(match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(field="title")
    with refused(match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get().field == "condition"


@pytest.mark.parametrize(
    ("field", "choices", "constraint"),
    [
        ("status", Task.Status, "task_status_valid"),
        ("assignment", Task.Assignment, "task_assignment_valid"),
        ("condition", Task.Condition, "task_condition_valid"),
    ],
)
def test_each_vocabulary_is_the_models_choices_everywhere(field, choices, constraint):
    """The CHECK constraint and the worklog CSV take the words from the model's choices, and
    the database refuses any other word."""
    check = next(c for c in Task._meta.constraints if c.name == constraint)
    assert check.condition == Q(**{f"{field}__in": list(choices.values)})
    column = next(column for column in COLUMN_SPECS if column.name == field)
    assert column.choices == tuple(choices.values)
    assert Task._meta.get_field(field).choices == list(choices.choices)
    with refused(match=constraint):
        TaskFactory(**{field: "unknown"})


def test_the_migrations_hold_the_constraints_the_models_build():
    """The migrations repeat the bounds (``MIN_MINUTES``, ``MAX_MINUTES``, ...) and the
    vocabularies as literals, as history must; changing one in the code needs a new migration."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
