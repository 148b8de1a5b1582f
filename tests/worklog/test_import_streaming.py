"""The import of a large file streams through the database: the same report as ``read_worklog``
gives, nothing written when any row is bad, bounded memory, and names resolved in sets."""

import io
import tracemalloc

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.import_rows import HEADER as BENCH_HEADER
from bench.import_rows import row as bench_row
from tests.worklog.test_bounds import HEADER, row
from uplift.accounts.models import Membership, Team, User
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse
from uplift.worklog.services import import_worklog_file
from uplift.worklog.worklog_csv import WorklogFileError, read_worklog

pytestmark = pytest.mark.django_db


def streamed(text: str, **options):
    return import_worklog_file(io.StringIO(text, newline=""), **options)


def report(call) -> tuple[list[str], int]:
    with pytest.raises(WorklogFileError) as caught:
        call()
    return [str(problem) for problem in caught.value.problems], caught.value.total


BAD = {"condition": "maybe"}
FILES = {
    "a repeated id after bad rows": [
        row("A"),
        row("B", **BAD),
        row("A"),
        row("C", **BAD),
        row("B"),
        row("A"),
    ],
    # 150 bad rows and 150 repeated ids, interleaved: the first 100 of both, in row order.
    "over a hundred problems of both kinds": [row("FIRST")]
    + [row(f"X{i}", **BAD) if i % 2 else row("FIRST") for i in range(300)],
    "repeated ids only, past the cap": [row("ONE")] * 130,
    "a bad row's id is no first occurrence": [row("D", **BAD), row("D"), row("D")],
    "an unreadable row ends the reading": [row("E"), row("E"), 'F,"unclosed\n', row("E")],
    "a header problem": None,
}


@pytest.mark.parametrize("name", FILES)
def test_the_streamed_import_reports_what_read_worklog_reports(name):
    rows = FILES[name]
    text = "task_id,nonsense\n" if rows is None else HEADER + "".join(rows)
    expected = report(lambda: read_worklog(io.StringIO(text, newline="")))
    assert expected[1] > 0
    assert report(lambda: streamed(text)) == expected
    assert not Task.objects.exists()


def test_the_report_merges_bad_rows_and_repeated_ids_in_row_order():
    problems, total = report(
        lambda: streamed(HEADER + "".join(FILES["a repeated id after bad rows"]))
    )
    assert problems == [
        "row 3, column condition: must be one of ai, no_ai, not 'maybe'",
        "row 4, column task_id: 'A' already appears on row 2",
        "row 5, column condition: must be one of ai, no_ai, not 'maybe'",
        "row 7, column task_id: 'A' already appears on row 2",
    ]
    assert total == 4


def large_file(path, rows: int, last: str | None = None) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(BENCH_HEADER)
        for i in range(rows):
            out.write(bench_row(i))
        if last is not None:
            out.write(last)


def test_a_bad_last_row_of_a_large_file_writes_nothing(tmp_path):
    path = tmp_path / "tasks.csv"
    large_file(path, 20_000, last=bench_row(20_000).replace(",ai,", ",sometimes,", 1))
    with pytest.raises(CommandError) as caught:
        call_command("import_worklog", str(path))
    assert "1 problem(s)" in str(caught.value)
    assert "row 20002, column condition: must be one of ai, no_ai, not 'sometimes'" in str(
        caught.value
    )
    assert Task.objects.count() == 0
    assert ToolUse.objects.count() == 0
    assert not User.objects.exists()
    assert not Team.objects.exists() and not TaskType.objects.exists()
    assert not Tool.objects.exists() and not Membership.objects.exists()


def test_importing_200000_rows_holds_none_of_them_in_memory(tmp_path):
    """The file is read a row at a time into the staging table: the Python memory the import
    takes stays far below what its 200,000 records would (about 1 KB each)."""
    path = tmp_path / "tasks.csv"
    large_file(path, 200_000)
    tracemalloc.start()
    try:
        call_command("import_worklog", str(path), stdout=io.StringIO())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Task.objects.count() == 200_000
    tools = (bench_row(i).rstrip("\n").rsplit(",", 1)[1] for i in range(200_000))
    assert ToolUse.objects.count() == sum(len(cell.split(";")) for cell in tools if cell)
    print(f"peak {peak / 2**20:.1f} MiB")
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def count_queries(text: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        streamed(text)
    return len(queries)


def test_names_are_resolved_in_sets_whatever_the_number_of_rows():
    """Importing 5,000 rows makes as many queries as importing 500: names (researchers,
    teams, task types, tools) are looked up once each, tasks and tools written by set."""
    names = HEADER + "".join(
        row(f"N{i}", researcher=f"r{i % 20}@example.org", team=f"Team {i % 4}", tools="A;B")
        for i in range(20)
    )
    streamed(names)  # the names exist from here on

    def rows(prefix: str, n: int) -> str:
        return HEADER + "".join(
            row(
                f"{prefix}{i}",
                researcher=f"r{i % 20}@example.org",
                team=f"Team {i % 4}",
                tools=("A;B", "A", "")[i % 3],
            )
            for i in range(n)
        )

    small, large = rows("S", 500), rows("L", 5000)
    assert count_queries(small) == count_queries(large)
    assert Task.objects.count() == 5520
    # Imported again: every task unchanged, still the same number of queries.
    assert count_queries(small) == count_queries(large)
    assert streamed(large).unchanged == 5000


def test_a_reimport_counts_and_audits_as_before():
    first = HEADER + "".join(
        [
            row("K1", tools="Cursor"),
            row("K2", tools="Cursor;Claude"),
            row("K3", status="in_progress", completed_at=""),
        ]
    )
    assert streamed(first).created == 3
    again = HEADER + "".join(
        [
            row("K1", tools="Cursor"),  # unchanged
            row("K2", tools="Claude"),  # only its tools change
            row(
                "K3",
                researcher="bo@example.org",
                actual_minutes="70",
                completed_at="",
                status="in_progress",
            ),
            row("K4"),
        ]
    )
    result = streamed(again)
    assert (result.created, result.updated, result.unchanged) == (1, 2, 1)
    k2, k3 = Task.objects.get(external_id="K2"), Task.objects.get(external_id="K3")
    assert list(k2.tool_uses.values_list("tool__name", flat=True)) == ["Claude"]
    assert k3.owner.email == "bo@example.org" and k3.actual_minutes == 70
    entries = AuditEntry.objects.filter(task=k3).order_by("pk")
    assert [(e.field, e.old_value, e.new_value) for e in entries] == [
        ("owner", "ada@example.org", "bo@example.org"),
        ("actual_minutes", "50", "70"),
    ]
    assert not AuditEntry.objects.filter(task=k2).exists()
