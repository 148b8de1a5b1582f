"""The migrations that turned the randomization block label into columns keep every draw: each
label the code wrote becomes its columns and comes back the same when migrating back; any other
is recorded as drawn elsewhere, its old value in the audit log. On SQLite and PostgreSQL."""

import sqlite3

import psycopg
import pytest

pytestmark = pytest.mark.servers

NOW = "2025-03-03 10:00:00"
BEFORE, AFTER = "0004_bounds_and_names", "0006_remove_task_block"

# id, owner, task type, assignment, label before; the columns after (draw, stratum owner,
# stratum task type, block number, position, size); whether the audit log records the label.
TASKS = [
    (1, 1, 1, "randomized", "r1-t1-b1:1/4", ("block", 1, 1, 1, 1, 4), False),
    (2, 1, 1, "randomized", "r1-t1-b1:2/4", ("block", 1, 1, 1, 2, 4), False),
    (3, 1, 2, "randomized", "r1-t2-b12:3/3", ("block", 1, 2, 12, 3, 3), False),
    (4, 1, 2, "randomized", "r1-t2-coin", ("coin", 1, 2, None, None, None), False),
    (5, 2, 1, "randomized", "imported", ("imported", None, None, None, None, None), False),
    (6, 2, 1, "self_selected", "", ("", None, None, None, None, None), False),
    # Drawn for researcher 2, then given to researcher 1: the stratum stays the draw's.
    (7, 1, 1, "randomized", "r2-t1-b2:1/2", ("block", 2, 1, 2, 1, 2), False),
    # Labels no code writes, or that name what does not exist.
    (8, 1, 1, "randomized", "r1-bench", ("imported", None, None, None, None, None), True),
    (9, 1, 1, "randomized", "r9-t1-b1:1/2", ("imported", None, None, None, None, None), True),
    (10, 1, 1, "randomized", "r1-t9-coin", ("imported", None, None, None, None, None), True),
    (11, 1, 1, "randomized", "r1-t1-b1:5/4", ("imported", None, None, None, None, None), True),
    (12, 1, 1, "randomized", "r1-t1-b0:1/2", ("imported", None, None, None, None, None), True),
    (13, 1, 1, "randomized", "", ("imported", None, None, None, None, None), True),
    (14, 2, 2, "self_selected", "stray", ("", None, None, None, None, None), True),
]


def write_rows_before(database) -> None:
    for pk, name in [(1, "ada"), (2, "bo")]:
        database.execute(
            "INSERT INTO accounts_user (id, password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " VALUES (%s, '!', false, %s, '', '', %s, false, true, %s)",
            [pk, name, f"{name}@example.org", NOW],
        )
    database.execute(
        "INSERT INTO accounts_team (id, name, allocation_ai, observational, created_at)"
        " VALUES (1, 'Alignment', 0.5, false, %s)",
        [NOW],
    )
    for pk, name in [(1, "Code review"), (2, "Paper writing")]:
        database.execute(
            "INSERT INTO worklog_tasktype (id, name, description, observational)"
            " VALUES (%s, %s, '', false)",
            [pk, name],
        )
    for pk, owner, task_type, assignment, label, _, _ in TASKS:
        randomized = assignment == "randomized"
        database.execute(
            "INSERT INTO worklog_task (id, title, forecast_no_ai_minutes, forecast_ai_minutes,"
            " assignment, condition, randomized_at, allocation_ai, block, status,"
            " abandoned_reason, actual_imputed, source, external_id, created_at, updated_at,"
            " owner_id, team_id, task_type_id)"
            " VALUES (%s, '', 60, 45, %s, 'ai', %s, %s, %s, 'planned', '', false, '', '', %s,"
            " %s, %s, 1, %s)",
            [
                pk,
                assignment,
                NOW if randomized else None,
                0.5 if randomized else None,
                label,
                NOW,
                NOW,
                owner,
                task_type,
            ],
        )


def test_labels_become_columns_and_come_back(database):
    database.migrate("worklog", BEFORE)
    write_rows_before(database)

    database.migrate("worklog", AFTER)
    columns = database.execute(
        "SELECT draw, stratum_owner_id, stratum_task_type_id, block_number, block_position,"
        " block_size FROM worklog_task ORDER BY id"
    )
    assert columns == [after for *_, after, _ in TASKS]
    audit = database.execute(
        "SELECT task_id, action, field, old_value, new_value, via FROM worklog_auditentry"
        " ORDER BY task_id"
    )
    assert audit == [
        (pk, "changed", "block", label, after[0], "migration")
        for pk, *_, label, after, audited in TASKS
        if audited
    ]
    # The database holds the draw's rules from now on: a position past the block's end.
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.CheckViolation)):
        database.execute("UPDATE worklog_task SET block_position = 5 WHERE id = 1")

    database.migrate("worklog", BEFORE)
    labels = database.execute("SELECT block FROM worklog_task ORDER BY id")
    # An audited label comes back as what the columns hold: "imported", or none.
    assert labels == [(after[0] if audited else label,) for *_, label, after, audited in TASKS]
