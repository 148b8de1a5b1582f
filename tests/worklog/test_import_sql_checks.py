"""On PostgreSQL the import checks a file's rows in SQL and reads each distinct cell once in
Python: it must accept, refuse and read exactly what ``read_worklog`` (every row read in
Python) accepts, refuses and reads, with the same problems at the same rows."""

import io
from itertools import zip_longest
from unittest import mock

import pytest
from django.db import connection

from tests.worklog.test_bounds import HEADER, row
from uplift.worklog import worklog_csv
from uplift.worklog.models import Task
from uplift.worklog.services import import_worklog_file, importing
from uplift.worklog.worklog_csv import WorklogFileError, read_worklog

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the checks in SQL are PostgreSQL's"
    ),
]


def streamed(text: str):
    return import_worklog_file(io.StringIO(text, newline=""))


def python_report(text: str) -> tuple[list[str], int]:
    with pytest.raises(WorklogFileError) as caught:
        read_worklog(io.StringIO(text, newline=""))
    return [str(problem) for problem in caught.value.problems], caught.value.total


def streamed_report(text: str) -> tuple[list[str], int]:
    with pytest.raises(WorklogFileError) as caught:
        streamed(text)
    return [str(problem) for problem in caught.value.problems], caught.value.total


# Rows that are valid, though not plainly so: SQL leaves them to Python, which reads them.
VALID_BUT_NOT_PLAIN = [
    row("  P1  ", title="  padded title  "),
    row("P2", title="'=SUM(A1)"),  # an exported formula, its escaping quote removed
    row("P3", title='"He said ""hi"", twice"'),
    row("P4", started_at="2025-03-03 09:00:00+00:00", completed_at="2025-03-03T10:30:00Z"),
    row("P5", started_at="2025-03-03T09:00:00.5+05:30", completed_at="2025-03-03T10:30+05:30"),
    row("P6", forecast_no_ai_minutes="1e2", forecast_ai_minutes=" 45 ", actual_minutes="50.0"),
    row("P7", researcher=" Ada@Example.ORG ", team="  Alignment   team ", tools="b;A; a ;B"),
    row("P8", assignment="self_selected", condition="no_ai", status="planned", actual_minutes="",
        started_at="", completed_at="", allocation_ai=""),
    row("P9", allocation_ai="0.25", status="abandoned", completed_at="",
        started_at="2024-02-29T23:59:59.123456-12:00"),
    "\n",  # a blank line, counted
    row("P10", title="Ünïcödé\u00a0", status="in_progress", completed_at=""),
]  # fmt: skip

BAD = [
    row("B1", condition="maybe"),
    row("B2", started_at="2025-02-30T09:00:00+00:00"),
    row("B3", started_at="2025-03-03T09:00:00+14:30"),
    row("B4", started_at="2025-03-03T09:00:00"),
    row("B5", completed_at="2025-03-03T08:00:00+00:00"),
    row("B6", status="planned", completed_at=""),
    row("B7", status="in_progress", perceived_other_minutes="30"),
    row("B8", actual_minutes=""),
    row("B9", assignment="self_selected", allocation_ai="0.5"),
    row("B10", researcher="not an email"),
    row("", title="no id"),
    row("B12", title='"two\nlines"'),
    row("B13", forecast_ai_minutes="0.01"),
    row("B14", started_at="1999-12-31T23:59:59+00:00"),
    row("B15", started_at="2099-01-01T00:00:00+00:00", completed_at="2099-01-01T01:00:00+00:00"),
    row("B16") + ",one too many",
    "B17,ada@example.org\n",  # too few values: the required ones are missing
    row("B18", title="nul\x00here"),
    row("B19", tools="x" * 121),
    row("X" * 121),
    row("P1"),  # the id of a valid row: repeated
    row("B22", allocation_ai="1"),
    row("B23", completed_at="2025-13-03T10:30:00+00:00"),
]


def _values(task: Task) -> tuple:
    return (
        task.external_id,
        task.owner.email,
        task.team.name,
        task.task_type.name,
        task.title,
        task.assignment,
        task.condition,
        task.allocation_ai,
        task.forecast_no_ai_minutes,
        task.forecast_ai_minutes,
        task.status,
        task.actual_minutes,
        task.started_at,
        task.completed_at,
        task.perceived_other_minutes,
        sorted(task.tool_uses.values_list("tool__name", flat=True)),
    )


def _record_values(record) -> tuple:
    randomized = record.assignment == Task.Assignment.RANDOMIZED
    return (
        record.task_id,
        record.researcher,
        record.team,
        record.task_type,
        record.title,
        record.assignment,
        record.condition,
        (0.5 if record.allocation_ai is None else record.allocation_ai)
        if randomized
        else record.allocation_ai,
        record.forecast_no_ai_minutes,
        record.forecast_ai_minutes,
        record.status,
        record.actual_minutes,
        record.started_at,
        record.completed_at,
        record.perceived_other_minutes,
        sorted(record.tools),
    )


def test_valid_cells_that_are_not_plain_read_as_python_reads_them():
    text = HEADER + "".join(VALID_BUT_NOT_PLAIN)
    records = read_worklog(io.StringIO(text, newline=""))
    assert streamed(text).created == len(records) == 10
    tasks = Task.objects.select_related("owner", "team", "task_type")
    stored = {task.external_id: _values(task) for task in tasks}
    assert stored == {record.task_id: _record_values(record) for record in records}
    assert stored["P1"][4] == "padded title"
    assert stored["P2"][4] == "=SUM(A1)"
    assert stored["P6"][8] == 100.0
    assert stored["P7"][1:3] == ("ada@example.org", "Alignment team")
    assert stored["P7"][-1] == ["A", "b"]


@pytest.mark.parametrize("position", ["alone", "among valid rows"])
def test_every_kind_of_bad_row_is_reported_as_python_reports_it(position):
    rows = BAD
    if position == "among valid rows":
        pairs = zip_longest(VALID_BUT_NOT_PLAIN, BAD, fillvalue="")
        rows = [r for pair in pairs for r in pair]
    text = HEADER + "".join(rows)
    expected = python_report(text)
    assert expected[1] >= 20
    assert streamed_report(text) == expected
    assert not Task.objects.exists()


def test_a_plain_file_is_checked_in_sql_not_row_by_row_in_python():
    """Python reads each distinct cell once; no row of a plain file goes through the
    row-by-row reading (which stays for rows SQL does not find plainly valid)."""
    text = HEADER + "".join(
        row(f"S{i}", title=f"Task {i}", actual_minutes=str(30 + i % 7)) for i in range(300)
    )
    reads = mock.patch.object(worklog_csv, "_record_from_row", wraps=worklog_csv._record_from_row)
    cells = mock.patch.object(importing, "read_cell", wraps=worklog_csv.read_cell)
    with reads as rows_read, cells as cells_read:
        assert streamed(text).created == 300
    assert rows_read.call_count == 0
    # Each distinct cell once: 7 actual minutes, 1 of each of the 13 other columns read so.
    assert cells_read.call_count == 7 + 13


def test_one_bad_row_is_read_in_python_and_nothing_is_written():
    good = [row(f"G{i}") for i in range(500)]
    text = HEADER + "".join(good[:250] + [row("BAD", condition="maybe")] + good[250:])
    assert streamed_report(text) == (
        ["row 252, column condition: must be one of ai, no_ai, not 'maybe'"],
        1,
    )  # fmt: skip
    assert not Task.objects.exists()
