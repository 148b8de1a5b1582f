"""The importer in local mode (SQLite): the same row-and-column problems as on PostgreSQL, and
nothing written by a refused file."""

from pathlib import Path

import pytest

from bench.import_rows import HEADER as BENCH_HEADER
from bench.import_rows import row as bench_row
from tests.processes import manage_local as manage
from tests.worklog.test_bounds import HEADER, row

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def sqlite_dir(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("sqlite")
    result = manage("migrate", "-v", "0", var_dir=var_dir)
    assert result.returncode == 0, result.stderr
    return var_dir


def exported(var_dir: Path) -> str:
    result = manage("export_worklog", var_dir=var_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout


BAD_ROWS = [
    ({"actual_minutes": "1e308"}, "column actual_minutes: must be between 0.1 and 43,200"),
    ({"title": "nul\x00byte"}, "column title: contains a NUL character"),
    ({"team": "t" * 121}, "column team: must be at most 120 characters, not 121"),
    (
        {"completed_at": "2025-03-03T10:30:00+23:59"},
        "column completed_at: has a UTC offset outside -12:00 to +14:00",
    ),
    (
        {"started_at": "", "completed_at": "9999-12-31T23:59:59-05:00"},
        "column completed_at: cannot be more than a day in the future",
    ),
    ({"researcher": "a@b@c"}, "column researcher: must be an email address"),
    (
        {"allocation_ai": "1"},
        "column allocation_ai: must be a probability strictly between 0 and 1, not 1",
    ),
    (
        {"allocation_ai": "nan"},
        "column allocation_ai: must be a probability strictly between 0 and 1, not nan",
    ),
    (
        {"assignment": "self_selected", "allocation_ai": "0.5"},
        "column allocation_ai: must be empty: only randomized tasks have an allocation",
    ),
    ({"title": '"' + "x" * (128 * 1024 + 1) + '"'}, "column -: holds a value longer than"),
]


def test_sqlite_refuses_each_bad_row_by_row_and_column_and_writes_nothing(sqlite_dir, tmp_path):
    path = tmp_path / "bad.csv"
    rows = [row("OK1")] + [row(f"BAD{i}", **cells) for i, (cells, _) in enumerate(BAD_ROWS)]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 1
    for number, (_, problem) in enumerate(BAD_ROWS, start=3):
        assert f"row {number}, {problem}" in result.stderr
    assert "Traceback" not in result.stderr
    task_ids = {line.split(",")[0] for line in exported(sqlite_dir).splitlines()[1:]}
    assert not task_ids & {"OK1", *(f"BAD{i}" for i in range(len(BAD_ROWS)))}


def test_sqlite_keeps_each_allocation_exports_it_and_refuses_a_change(sqlite_dir, tmp_path):
    path = tmp_path / "tasks.csv"
    rows = [
        row("R1", allocation_ai="0.8"),
        row("R2", allocation_ai="0.3333333333333333", condition="no_ai"),
        row("R3"),
        row("S1", assignment="self_selected"),
    ]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 0, result.stderr
    # A new randomized task without an allocation gets 0.5; a self-selected one has none.
    expected = [*rows[:2], row("R3", allocation_ai="0.5"), rows[3]]
    text = exported(sqlite_dir)
    assert text.startswith(HEADER)
    assert text.endswith("".join(expected))

    path.write_text(HEADER + row("R1", allocation_ai="0.5"), encoding="utf-8")
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 1
    assert (
        "row 2, column allocation_ai: cannot change after assignment (task R1 has 0.8, the file "
        "has 0.5)" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_sqlite_writes_nothing_when_the_last_row_of_a_large_file_is_bad(sqlite_dir, tmp_path):
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(BENCH_HEADER)
        for i in range(20_000):
            out.write(bench_row(i).replace("W", "LARGE", 1))
        out.write(bench_row(20_000).replace("W", "LARGE", 1).replace(",ai,", ",sometimes,", 1))
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 1
    assert "Nothing was imported: 1 problem(s)" in result.stderr
    assert "row 20002, column condition: must be one of ai, no_ai, not 'sometimes'" in result.stderr
    assert "LARGE" not in exported(sqlite_dir)


def test_sqlite_imports_a_large_file_then_counts_its_reimport(sqlite_dir, tmp_path):
    path = tmp_path / "large.csv"
    rows = [bench_row(i).replace("W", "SQL", 1) for i in range(20_000)]
    path.write_text(BENCH_HEADER + "".join(rows), encoding="utf-8")
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 0, result.stderr
    assert "20000 created, 0 updated, 0 unchanged" in result.stdout
    # Again, with one title and one task's tools changed.
    rows[5] = rows[5].replace("Task 5:", "Task five:", 1)
    rows[7] = rows[7].rstrip("\n").rsplit(",", 1)[0] + ",Claude;Cursor\n"
    path.write_text(BENCH_HEADER + "".join(rows), encoding="utf-8")
    result = manage("import_worklog", str(path), var_dir=sqlite_dir)
    assert result.returncode == 0, result.stderr
    assert "0 created, 2 updated, 19998 unchanged" in result.stdout
    lines = [line for line in exported(sqlite_dir).splitlines() if line.startswith("SQL")]
    assert len(lines) == 20_000
    assert any(line.startswith("SQL0000005,") and "Task five:" in line for line in lines)
    assert any(line.startswith("SQL0000007,") and line.endswith(",Claude;Cursor") for line in lines)
