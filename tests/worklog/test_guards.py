"""After every migration, the database itself still refuses what its guards forbid: changing a
task's forecasts, condition or draw, overlapping sessions, editing the audit log. On SQLite a
migration that alters a table rebuilds it, and the table's triggers would go with it."""

import sqlite3

import psycopg
import pytest

pytestmark = pytest.mark.servers

NOW = "2025-03-03 10:00:00"
REFUSED = (sqlite3.IntegrityError, psycopg.IntegrityError)


def write_rows(database) -> None:
    database.execute(
        "INSERT INTO accounts_user (id, password, is_superuser, username, first_name,"
        " last_name, email, is_staff, is_active, date_joined)"
        " VALUES (1, '!', false, 'ada', '', '', 'ada@example.org', false, true, %s)",
        [NOW],
    )
    database.execute(
        "INSERT INTO accounts_team (id, name, allocation_ai, observational, created_at)"
        " VALUES (1, 'Alignment', 0.5, false, %s)",
        [NOW],
    )
    database.execute(
        "INSERT INTO worklog_tasktype (id, name, description, observational)"
        " VALUES (1, 'Code review', '', false)"
    )
    database.execute(
        "INSERT INTO worklog_task (id, title, forecast_no_ai_minutes, forecast_ai_minutes,"
        " assignment, condition, randomized_at, allocation_ai, draw, stratum_owner_id,"
        " stratum_task_type_id, block_number, block_position, block_size, status,"
        " abandoned_reason, actual_imputed, source, external_id, created_at, updated_at,"
        " owner_id, team_id, task_type_id)"
        " VALUES (1, 'Review', 60, 45, 'randomized', 'ai', %s, 0.5, 'block', 1, 1, 1, 1, 4,"
        " 'planned', '', false, '', '', %s, %s, 1, 1, 1)",
        [NOW, NOW, NOW],
    )
    database.execute(
        "INSERT INTO worklog_worksession (id, started_at, ended_at, owner_id, task_id)"
        " VALUES (1, '2025-03-03 10:00:00', '2025-03-03 11:00:00', 1, 1)"
    )
    database.execute(
        "INSERT INTO worklog_auditentry (id, at, action, field, old_value, new_value, via,"
        " detail, task_id, actor_id) VALUES (1, %s, 'created', '', '', '', 'web', '', 1, 1)",
        [NOW],
    )


# What each guard forbids, by name; each is tried on its own, the rows as write_rows left them.
FORBIDDEN = {
    "forecast": "UPDATE worklog_task SET forecast_no_ai_minutes = 90 WHERE id = 1",
    "condition": "UPDATE worklog_task SET condition = 'no_ai' WHERE id = 1",
    "allocation": "UPDATE worklog_task SET allocation_ai = 0.8 WHERE id = 1",
    "block position": "UPDATE worklog_task SET block_position = 2 WHERE id = 1",
    "draw": "UPDATE worklog_task SET draw = 'imported', stratum_owner_id = NULL,"
    " stratum_task_type_id = NULL, block_number = NULL, block_position = NULL,"
    " block_size = NULL WHERE id = 1",
    "overlapping session": "INSERT INTO worklog_worksession (id, started_at, ended_at,"
    " owner_id, task_id) VALUES (2, '2025-03-03 10:30:00', '2025-03-03 12:00:00', 1, 1)",
    "session stretched over the next": "UPDATE worklog_worksession"
    " SET ended_at = '2025-03-03 12:30:00' WHERE id = 1",
    "audit edit": "UPDATE worklog_auditentry SET field = 'x' WHERE id = 1",
    "audit delete": "DELETE FROM worklog_auditentry WHERE id = 1",
}


def test_a_migrated_database_refuses_what_its_guards_forbid(database):
    database.migrate()
    write_rows(database)
    database.execute(
        "INSERT INTO worklog_worksession (id, started_at, ended_at, owner_id, task_id)"
        " VALUES (3, '2025-03-03 12:00:00', '2025-03-03 13:00:00', 1, 1)"
    )
    allowed = []
    for name, change in FORBIDDEN.items():
        try:
            database.execute(change)
        except REFUSED:
            continue
        allowed.append(name)
    assert allowed == []
    # What the guards allow still goes through.
    database.execute("UPDATE worklog_task SET title = 'Review, again' WHERE id = 1")
    database.execute("UPDATE worklog_worksession SET ended_at = '2025-03-03 11:30:00' WHERE id = 1")
    assert database.execute("SELECT title FROM worklog_task") == [("Review, again",)]
