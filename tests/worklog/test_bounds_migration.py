"""The migration that introduced the worklog's bounds keeps rows written before them: each value
outside the bounds is brought inside and its old value written to the audit log."""

import sqlite3

import pytest

from tests.processes import manage_local

pytestmark = pytest.mark.servers

NOW = "2025-03-03 10:00:00"


def test_rows_outside_the_bounds_are_repaired_and_audited(tmp_path):
    result = manage_local("migrate", "worklog", "0003", "-v", "0", var_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    database = sqlite3.connect(tmp_path / "uplift.sqlite3")
    with database:
        database.execute(
            "INSERT INTO accounts_user (id, password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " VALUES (1, '!', 0, 'ada', '', '', 'ada@example.org', 0, 1, ?)",
            [NOW],
        )
        for pk, name in [(1, "Alignment"), (2, "alignment "), (3, "Evals")]:
            database.execute(
                "INSERT INTO accounts_team (id, name, allocation_ai, observational, created_at)"
                " VALUES (?, ?, 0.5, 0, ?)",
                [pk, name, NOW],
            )
        database.execute(
            "INSERT INTO worklog_tasktype (id, name, description, observational)"
            " VALUES (1, 'Code review', '', 0)"
        )
        task = (
            "INSERT INTO worklog_task (id, title, forecast_no_ai_minutes, forecast_ai_minutes,"
            " assignment, condition, randomized_at, allocation_ai, block, status,"
            " abandoned_reason, started_at, completed_at, actual_minutes, actual_imputed,"
            " perceived_other_minutes, source, external_id, created_at, updated_at, owner_id,"
            " team_id, task_type_id)"
            " VALUES (?, '', ?, 45, 'randomized', 'ai', ?, 0.5, 'imported', 'completed', '',"
            " NULL, ?, ?, 0, NULL, 'worklog', ?, ?, ?, 1, 1, 1)"
        )
        database.execute(task, [1, 1e308, NOW, "9999-12-31 23:59:59", 1e-20, "T1", NOW, NOW])
        database.execute(task, [2, 60, "0001-01-01 00:00:00", NOW, 50, "T2", NOW, NOW])
        database.execute(
            "INSERT INTO worklog_worksession (id, task_id, owner_id, started_at, ended_at)"
            " VALUES (1, 2, 1, '0001-01-01 00:00:00', '2025-03-03 09:00:00')"
        )
    database.close()

    result = manage_local("migrate", "-v", "0", var_dir=tmp_path)
    assert result.returncode == 0, result.stderr

    database = sqlite3.connect(tmp_path / "uplift.sqlite3")
    teams = database.execute("SELECT name FROM accounts_team ORDER BY id").fetchall()
    assert teams == [("Alignment",), ("alignment (2)",), ("Evals",)]
    tasks = database.execute(
        "SELECT forecast_no_ai_minutes, actual_minutes, completed_at, randomized_at"
        " FROM worklog_task ORDER BY id"
    ).fetchall()
    assert tasks == [(43200.0, 0.1, None, NOW), (60.0, 50.0, NOW, NOW)]
    assert database.execute("SELECT count(*) FROM worklog_worksession").fetchone() == (0,)
    audit = database.execute(
        "SELECT task_id, field, old_value, new_value, via FROM worklog_auditentry ORDER BY id"
    ).fetchall()
    assert audit == [
        (1, "forecast_no_ai_minutes", "1e+308", "43200", "migration"),
        (1, "actual_minutes", "1e-20", "0.1", "migration"),
        (1, "completed_at", "9999-12-31 23:59:59", "", "migration"),
        (2, "randomized_at", "0001-01-01 00:00:00", "the task's creation time", "migration"),
        (2, "work session", "0001-01-01 00:00:00 to 2025-03-03 09:00:00", "removed", "migration"),
    ]
    database.close()
