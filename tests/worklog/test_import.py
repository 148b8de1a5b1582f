"""Importing and exporting the worklog CSV, and METR's published data."""

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from uplift.worklog import metr
from uplift.worklog.models import AuditEntry, Task, Tool, ToolUse
from uplift.worklog.selectors import worklog_rows
from uplift.worklog.services import worklog_import
from uplift.worklog.worklog_csv import WorklogFileError, read_worklog, write_worklog

pytestmark = pytest.mark.django_db

METR_CSV = Path(__file__).parent.parent / "fixtures" / "metr-early-2025" / "data_complete.csv"
# A file without the optional allocation_ai column, as files written before it had it.
HEADER = (
    "task_id,researcher,team,task_type,title,assignment,condition,forecast_no_ai_minutes,"
    "forecast_ai_minutes,status,actual_minutes,started_at,completed_at,"
    "perceived_other_minutes,tools\n"
)
# What the export writes: every column, allocation_ai after condition.
EXPORT_HEADER = HEADER.replace(",condition,", ",condition,allocation_ai,")
GOOD_ROWS = (
    "A1,Ada@Example.org,Alignment,Experiment code,Sweep,randomized,ai,60,45,completed,50.5,"
    "2025-03-03T09:00:00+00:00,2025-03-03T10:30:00+00:00,70,Claude;Cursor\n"
    "A2,ada@example.org,Alignment,Paper writing,,randomized,no_ai,120,90,abandoned,,,,,\n"
    "B1,bo@example.org,Evals,Paper writing,Intro,self_selected,ai,30,20,planned,,,,,\n"
    'B2,bo@example.org,Evals,Code review,"Review, part 2",randomized,no_ai,15,15,'
    "in_progress,,2025-03-04T11:00:00+02:00,,,ChatGPT\n"
)


def import_text(text: str, source: str = "worklog"):
    return worklog_import(records=read_worklog(io.StringIO(text)), source=source)


def export_text() -> str:
    return "".join(write_worklog(worklog_rows(tasks=Task.objects.all())))


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorklogFileError) as caught:
        import_text(text)
    return [str(problem) for problem in caught.value.problems]


def test_metr_import_gives_the_published_sample():
    call_command("import_worklog", str(METR_CSV), format="metr", stdout=io.StringIO())
    tasks = Task.objects.filter(source=metr.SOURCE)
    assert tasks.count() == 246
    assert tasks.values("owner").distinct().count() == 16
    assert tasks.filter(condition="ai").count() == 136
    assert tasks.filter(condition="no_ai").count() == 110
    assert set(tasks.values_list("status", flat=True)) == {"completed"}
    assert set(tasks.values_list("assignment", flat=True)) == {"randomized"}


def test_metr_import_fills_missing_post_review_time_with_its_arm_mean():
    call_command("import_worklog", str(METR_CSV), format="metr", stdout=io.StringIO())
    imputed = Task.objects.filter(actual_imputed=True)
    assert imputed.count() == 16
    # Issue 8 (AI allowed) has no post-review time: 83 + the AI arm's mean post-review time.
    rows = list(csv.DictReader(METR_CSV.open()))
    ai_reviews = [
        float(r["post_review_implementation_time"])
        for r in rows
        if r["ai_treatment"] == "1.0" and r["post_review_implementation_time"]
    ]
    task = imputed.filter(condition="ai").order_by("id").first()
    row = next(r for r in rows if r["issue_id"] == task.external_id)
    expected = float(row["initial_implementation_time"]) + sum(ai_reviews) / len(ai_reviews)
    assert task.actual_minutes == pytest.approx(expected, rel=1e-12)


def test_reimporting_the_same_ids_updates_and_never_duplicates():
    import_text(HEADER + GOOD_ROWS)
    result = import_text(HEADER + GOOD_ROWS.replace(",Sweep,", ",Sweep v2,"))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 3)
    assert Task.objects.count() == 4
    assert Task.objects.get(external_id="A1").title == "Sweep v2"


def test_import_creates_researchers_teams_types_and_tools():
    import_text(HEADER + GOOD_ROWS)
    task = Task.objects.get(external_id="A1")
    assert task.owner.email == "ada@example.org"
    assert not task.owner.has_usable_password()
    assert (task.team.name, task.task_type.name) == ("Alignment", "Experiment code")
    assert sorted(task.tool_uses.values_list("tool__name", flat=True)) == ["Claude", "Cursor"]
    assert task.actual_minutes == 50.5
    assert Tool.objects.count() == 3


def test_bad_file_reports_every_problem_by_row_and_column_and_writes_nothing():
    text = (
        HEADER
        + "X1,ada@example.org,T,K,,randomized,ai,sixty,45,planned,,,,,\n"
        + "X2,ada@example.org,T,K,,randomized,ai,60,45,planned,,yesterday,,,\n"
        + "X3,ada@example.org,T,K,,randomized,ai,60,45,completed,,,2025-01-01T10:00:00+00:00,,\n"
        + "X4,ada@example.org,T,K,,randomized,maybe,60,0,planned,,,,,\n"
    )
    assert problems_of(text) == [
        "row 2, column forecast_no_ai_minutes: must be a number of minutes, not 'sixty'",
        "row 3, column started_at: must be an ISO 8601 timestamp with offset, not 'yesterday'",
        "row 4, column actual_minutes: is required when status is completed",
        "row 5, column condition: must be one of ai, no_ai, not 'maybe'",
        "row 5, column forecast_ai_minutes: must be between 0.1 and 43,200 minutes (30 days), "
        "not 0",
    ]
    assert Task.objects.count() == 0


def test_unknown_columns_are_named():
    text = HEADER.replace(",tools\n", ",tools,mood,colour\n") + "\n"
    columns = EXPORT_HEADER.strip().replace(",", ", ")
    assert problems_of(text)[:2] == [
        f"row 1, column mood: unknown column; the columns are: {columns}",
        f"row 1, column colour: unknown column; the columns are: {columns}",
    ]


def test_missing_required_column_is_reported():
    text = HEADER.replace("condition,", "") + "\n"
    assert problems_of(text) == ["row 1, column condition: required column is missing"]


def test_timestamp_without_offset_is_refused():
    row = GOOD_ROWS.splitlines()[0].replace("2025-03-03T09:00:00+00:00", "2025-03-03T09:00:00")
    assert problems_of(HEADER + row + "\n") == [
        "row 2, column started_at: needs a UTC offset (for example +00:00): '2025-03-03T09:00:00'"
    ]


def test_title_with_a_line_break_is_refused():
    text = HEADER + 'X1,ada@example.org,T,K,"two\rlines",randomized,ai,60,45,planned,,,,,\n'
    assert problems_of(text) == ["row 2, column title: must be one line (it contains a line break)"]


def test_duplicate_task_id_in_one_file_is_refused():
    row = GOOD_ROWS.splitlines()[0]
    assert problems_of(HEADER + row + "\n" + row + "\n") == [
        "row 3, column task_id: 'A1' already appears on row 2"
    ]


def test_rows_are_numbered_as_a_spreadsheet_shows_them_blank_lines_included():
    # Header row 1, a blank row 2, a task whose title holds a quoted line break on row 3, then
    # a bad row: a spreadsheet shows it as row 4.
    first = 'A1,ada@example.org,T,K,"a\nb",randomized,ai,60,45,planned,,,,,\n'
    bad = "A2,ada@example.org,T,K,x,randomized,ai,sixty,45,planned,,,,,\n"
    problems = problems_of(HEADER + "\n" + first + bad)
    assert (
        problems[-1]
        == "row 4, column forecast_no_ai_minutes: must be a number of minutes, not 'sixty'"
    )


def test_a_bad_row_late_in_the_file_writes_nothing_from_earlier_rows():
    text = HEADER + GOOD_ROWS + "Z9,ada@example.org,T,K,,randomized,ai,60,45,done,,,,,\n"
    problems_of(text)
    assert Task.objects.count() == 0
    assert ToolUse.objects.count() == 0


def test_reimport_refuses_a_changed_forecast_and_records_the_attempt():
    import_text(HEADER + GOOD_ROWS)
    changed = GOOD_ROWS.replace("completed,50.5", "completed,51").replace(",60,45,", ",75,45,")
    assert problems_of(HEADER + changed) == [
        "row 2, column forecast_no_ai_minutes: cannot change after assignment "
        "(task A1 has 60, the file has 75)"
    ]
    task = Task.objects.get(external_id="A1")
    assert (task.forecast_no_ai_minutes, task.actual_minutes) == (60.0, 50.5)
    entry = AuditEntry.objects.get()
    assert (entry.task, entry.action, entry.field, entry.old_value, entry.new_value) == (
        task,
        "refused",
        "forecast_no_ai_minutes",
        "60",
        "75",
    )


def test_export_then_import_into_an_empty_database_gives_identical_bytes():
    import_text(HEADER + GOOD_ROWS)
    first = export_text()
    Task.objects.all().delete()
    import_text(first)
    assert export_text() == first
    assert first.count("\n") == 5
    assert 'B2,bo@example.org,Evals,Code review,"Review, part 2"' in first
    # Timestamps are written in UTC with their offset.
    assert "2025-03-04T09:00:00+00:00" in first


def test_import_command_reports_problems_and_exits_with_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "X1,ada@example.org,T,K,,randomized,ai,-1,45,planned,,,,,\n")
    with pytest.raises(
        CommandError, match="row 2, column forecast_no_ai_minutes: must be between 0.1 and"
    ):
        call_command("import_worklog", str(path))
    assert Task.objects.count() == 0


def test_export_command_writes_the_worklog_format(tmp_path):
    import_text(HEADER + GOOD_ROWS)
    path = tmp_path / "out.csv"
    call_command("export_worklog", output=path, stderr=io.StringIO())
    assert path.read_text() == export_text()
    assert path.read_text().startswith(EXPORT_HEADER)


# Cells a spreadsheet would run as formulas; "''=quoted" is the text "'=quoted" as an export
# writes it, and "-12" a number.
FORMULA_ROWS = (
    'F1,=x@example.org,@SUM(1),+Type,"=HYPERLINK(""http://x"",""y"")",randomized,ai,60,45,'
    "planned,,,,,-Tool();Claude\n"
    "F2,ada@example.org,Alignment,Paper writing,''=quoted,randomized,no_ai,30,20,planned,,,,,\n"
    "-5,ada@example.org,Alignment,Paper writing,-12,randomized,no_ai,30,20,planned,,,,,\n"
)


def test_export_command_neutralises_formula_cells(tmp_path):
    import_text(HEADER + FORMULA_ROWS)
    path = tmp_path / "out.csv"
    call_command("export_worklog", output=path, stderr=io.StringIO())
    rows = {row["task_id"]: row for row in csv.DictReader(io.StringIO(path.read_text()))}
    first = rows["F1"]
    assert first["researcher"] == "'=x@example.org"
    assert first["team"] == "'@SUM(1)"
    assert first["task_type"] == "'+Type"
    assert first["title"] == '\'=HYPERLINK("http://x","y")'
    assert first["tools"] == "'-Tool();Claude"
    assert rows["F2"]["title"] == "''=quoted"
    assert rows["-5"]["title"] == "-12"  # numbers stay numbers


def test_export_import_export_is_identical_with_formula_cells(tmp_path):
    import_text(HEADER + FORMULA_ROWS)
    assert Task.objects.get(external_id="F1").title == '=HYPERLINK("http://x","y")'
    assert Task.objects.get(external_id="F2").title == "'=quoted"
    path = tmp_path / "first.csv"
    call_command("export_worklog", output=path, stderr=io.StringIO())
    first = path.read_bytes()
    Task.objects.all().delete()
    call_command("import_worklog", str(path), stdout=io.StringIO())
    assert Task.objects.get(external_id="F1").team.name == "@SUM(1)"
    assert Task.objects.get(external_id="F2").title == "'=quoted"
    call_command("export_worklog", output=path, stderr=io.StringIO())
    assert path.read_bytes() == first


# --- The allocation of randomized tasks -------------------------------------------------------

ALLOCATED_ROWS = (
    "R1,ada@example.org,Alignment,Experiment code,,randomized,ai,0.8,60,45,planned,,,,,\n"
    "R2,ada@example.org,Alignment,Experiment code,,randomized,no_ai,0.3333333333333333,60,45,"
    "planned,,,,,\n"
    "R3,bo@example.org,Evals,Code review,,randomized,ai,,30,20,planned,,,,,\n"
    "S1,bo@example.org,Evals,Code review,,self_selected,ai,,30,20,planned,,,,,\n"
)


def allocations() -> dict[str, float | None]:
    return dict(Task.objects.values_list("external_id", "allocation_ai"))


def test_allocation_column_gives_each_randomized_task_its_probability():
    result = import_text(EXPORT_HEADER + ALLOCATED_ROWS)
    assert result.created == 4
    # An empty cell gives a new randomized task 0.5; a self-selected task has no allocation.
    assert allocations() == {"R1": 0.8, "R2": 1 / 3, "R3": 0.5, "S1": None}


def test_without_the_allocation_column_randomized_tasks_get_one_half():
    import_text(HEADER + GOOD_ROWS)
    assert allocations() == {"A1": 0.5, "A2": 0.5, "B1": None, "B2": 0.5}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("high", "must be a probability strictly between 0 and 1, not 'high'"),
        ("nan", "must be a probability strictly between 0 and 1, not nan"),
        ("inf", "must be a probability strictly between 0 and 1, not inf"),
        ("-inf", "must be a probability strictly between 0 and 1, not -inf"),
        ("0", "must be a probability strictly between 0 and 1, not 0"),
        ("0.0", "must be a probability strictly between 0 and 1, not 0.0"),
        ("1", "must be a probability strictly between 0 and 1, not 1"),
        ("1.5", "must be a probability strictly between 0 and 1, not 1.5"),
        ("-0.2", "must be a probability strictly between 0 and 1, not -0.2"),
        ("50%", "must be a probability strictly between 0 and 1, not '50%'"),
    ],
)
def test_a_bad_allocation_is_a_row_and_column_problem_and_writes_nothing(value, problem):
    bad = f"X1,ada@example.org,T,K,,randomized,ai,{value},60,45,planned,,,,,\n"
    assert problems_of(EXPORT_HEADER + ALLOCATED_ROWS + bad) == [
        f"row 6, column allocation_ai: {problem}"
    ]
    assert Task.objects.count() == 0


def test_a_self_selected_task_with_an_allocation_is_refused():
    text = EXPORT_HEADER + ALLOCATED_ROWS.replace("self_selected,ai,,", "self_selected,ai,0.5,")
    assert problems_of(text) == [
        "row 5, column allocation_ai: must be empty: only randomized tasks have an allocation"
    ]
    assert Task.objects.count() == 0


def test_bad_allocations_are_listed_up_to_the_cap_and_all_counted():
    rows = "".join(
        f"X{i},ada@example.org,T,K,,randomized,ai,1.{i},60,45,planned,,,,,\n" for i in range(150)
    )
    with pytest.raises(WorklogFileError) as caught:
        import_text(EXPORT_HEADER + rows)
    listed = caught.value.problems
    assert (len(listed), caught.value.total) == (100, 150)
    assert str(listed[0]) == (
        "row 2, column allocation_ai: must be a probability strictly between 0 and 1, not 1.0"
    )
    assert caught.value.report().endswith("... and 50 more problems")


def test_reimport_refuses_a_changed_allocation_and_records_the_attempt():
    import_text(HEADER + GOOD_ROWS)
    changed = (
        GOOD_ROWS.replace(",randomized,ai,", ",randomized,ai,0.8,")
        .replace(",randomized,no_ai,", ",randomized,no_ai,,")
        .replace(",self_selected,ai,", ",self_selected,ai,,")
        .replace("completed,50.5", "completed,51")
    )
    assert problems_of(EXPORT_HEADER + changed) == [
        "row 2, column allocation_ai: cannot change after assignment (task A1 has 0.5, "
        "the file has 0.8)"
    ]
    assert allocations() == {"A1": 0.5, "A2": 0.5, "B1": None, "B2": 0.5}
    assert Task.objects.get(external_id="A1").actual_minutes == 50.5
    entry = AuditEntry.objects.get()
    assert (entry.task.external_id, entry.action, entry.field) == ("A1", "refused", "allocation_ai")
    assert (entry.old_value, entry.new_value, entry.via) == ("0.5", "0.8", "import")


def test_a_changed_assignment_is_refused_once_whatever_the_allocation():
    import_text(EXPORT_HEADER + ALLOCATED_ROWS)
    changed = ALLOCATED_ROWS.replace("self_selected,ai,,", "randomized,ai,0.8,")
    assert problems_of(EXPORT_HEADER + changed) == [
        "row 5, column assignment: cannot change after assignment (task S1 has "
        "'self_selected', the file has 'randomized')"
    ]


def test_reimport_without_an_allocation_keeps_the_one_the_task_has():
    import_text(EXPORT_HEADER + ALLOCATED_ROWS)
    result = import_text(EXPORT_HEADER + ALLOCATED_ROWS.replace(",0.8,", ",,"))
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)
    # The same rows from a file that has no allocation_ai column at all.
    without_column = "".join(
        ",".join(cells[:7] + cells[8:]) + "\n"
        for cells in (line.split(",") for line in ALLOCATED_ROWS.splitlines())
    )
    result = import_text(HEADER + without_column)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)
    assert allocations() == {"R1": 0.8, "R2": 1 / 3, "R3": 0.5, "S1": None}
    assert AuditEntry.objects.count() == 0


def test_export_carries_the_allocations_and_imports_back_to_the_same():
    import_text(EXPORT_HEADER + ALLOCATED_ROWS)
    first = export_text()
    rows = {row["task_id"]: row for row in csv.DictReader(io.StringIO(first))}
    assert {key: row["allocation_ai"] for key, row in rows.items()} == {
        "R1": "0.8",
        "R2": "0.3333333333333333",
        "R3": "0.5",
        "S1": "",
    }
    before = allocations()
    Task.objects.all().delete()
    import_text(first)
    assert allocations() == before
    assert export_text() == first
