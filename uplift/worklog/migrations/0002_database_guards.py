"""Rules the database itself enforces, beyond column checks.

- No two work sessions of one researcher overlap (an open session runs to infinity).
- A task's forecasts, assignment and condition never change once written.
- The audit log is append-only.

PostgreSQL uses an exclusion constraint and triggers; SQLite (local mode) uses triggers. The
lock's and the overlap's SQL is in ``_guards``, which later migrations install again.
"""

from django.db import migrations

from uplift.worklog.migrations import _guards

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    ALTER TABLE worklog_worksession ADD CONSTRAINT work_session_no_overlap
    EXCLUDE USING gist (
        owner_id WITH =,
        tstzrange(started_at, COALESCE(ended_at, 'infinity'::timestamptz), '[)') WITH &&
    )
    """,
    *_guards.postgres_statements(_guards.LOCKED_COLUMNS),
    """
    CREATE TRIGGER worklog_task_locked BEFORE UPDATE ON worklog_task
    FOR EACH ROW EXECUTE FUNCTION worklog_task_refuse_locked_change()
    """,
    """
    CREATE FUNCTION worklog_audit_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER worklog_audit_append_only BEFORE UPDATE OR DELETE ON worklog_auditentry
    FOR EACH ROW EXECUTE FUNCTION worklog_audit_refuse_change()
    """,
]

POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS worklog_audit_append_only ON worklog_auditentry",
    "DROP FUNCTION IF EXISTS worklog_audit_refuse_change()",
    "DROP TRIGGER IF EXISTS worklog_task_locked ON worklog_task",
    "DROP FUNCTION IF EXISTS worklog_task_refuse_locked_change()",
    "ALTER TABLE worklog_worksession DROP CONSTRAINT IF EXISTS work_session_no_overlap",
]

SQLITE_FORWARD = [
    *_guards.sqlite_statements(_guards.LOCKED_COLUMNS),
    """
    CREATE TRIGGER worklog_audit_no_update BEFORE UPDATE ON worklog_auditentry
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER worklog_audit_no_delete BEFORE DELETE ON worklog_auditentry
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS worklog_audit_no_delete",
    "DROP TRIGGER IF EXISTS worklog_audit_no_update",
    "DROP TRIGGER IF EXISTS worklog_task_locked",
    "DROP TRIGGER IF EXISTS work_session_no_overlap_update",
    "DROP TRIGGER IF EXISTS work_session_no_overlap_insert",
]

STATEMENTS = {
    "postgresql": (POSTGRES_FORWARD, POSTGRES_BACKWARD),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def _run(schema_editor, direction: int) -> None:
    statements = STATEMENTS.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError(f"Unsupported database: {schema_editor.connection.vendor}")
    for sql in statements[direction]:
        schema_editor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, 0)


def backward(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [("worklog", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
