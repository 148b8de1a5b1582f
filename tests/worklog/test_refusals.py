"""A refused change of a locked field: how it reads, and what the audit log keeps of it."""

import io

import pytest

from tests.factories import TaskFactory
from uplift.worklog.models import AuditEntry
from uplift.worklog.services import LockedFieldRefusal, TaskLocked, task_update, worklog_import
from uplift.worklog.worklog_csv import Problem, WorklogFileError, read_worklog

pytestmark = pytest.mark.django_db

ROW = (
    "task_id,researcher,team,task_type,assignment,condition,forecast_no_ai_minutes,"
    "forecast_ai_minutes,status\n"
    "A1,ada@example.org,Alignment,Experiment code,randomized,ai,60,{ai},planned\n"
)


def test_a_refusal_reads_as_its_field_or_as_the_files_row_and_column():
    task = TaskFactory.build()
    by_hand = LockedFieldRefusal(task=task, field="condition", old="ai", new="no_ai")
    assert str(by_hand) == "condition: cannot change after assignment"
    imported = LockedFieldRefusal(
        task=task, field="condition", old="ai", new="no_ai", message="differs", row=7
    )
    assert imported.problem() == Problem(7, "condition", "differs")
    assert str(imported) == "row 7, column condition: differs"


def test_a_refused_update_is_audited_with_its_values_and_reason(researcher):
    task = TaskFactory(owner=researcher, forecast_ai_minutes=45.0)
    with pytest.raises(TaskLocked) as refused:
        task_update(task=task, actor=researcher, changes={"forecast_ai_minutes": 30.0}, via="api")
    assert refused.value.message_dict == {
        "forecast_ai_minutes": ["Locked after assignment: this cannot change."]
    }
    entry = AuditEntry.objects.get()
    assert (entry.task, entry.field, entry.old_value, entry.new_value, entry.via) == (
        task,
        "forecast_ai_minutes",
        "45",
        "30",
        "api",
    )
    assert entry.detail == "forecast_ai_minutes: cannot change after assignment"


def test_a_refused_reimport_is_audited_as_the_files_problem():
    worklog_import(records=read_worklog(io.StringIO(ROW.format(ai=45))))
    with pytest.raises(WorklogFileError) as refused:
        worklog_import(records=read_worklog(io.StringIO(ROW.format(ai=50))))
    problem = (
        "row 2, column forecast_ai_minutes: cannot change after assignment "
        "(task A1 has 45, the file has 50)"
    )
    assert [str(p) for p in refused.value.problems] == [problem]
    entry = AuditEntry.objects.get(action="refused")
    assert (entry.field, entry.old_value, entry.new_value, entry.via, entry.detail) == (
        "forecast_ai_minutes",
        "45",
        "50",
        "import",
        problem,
    )
