"""The importer in local mode (SQLite): the same row-and-column problems as on PostgreSQL, and
nothing written by a refused file."""

from pathlib import Path

import pytest

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
