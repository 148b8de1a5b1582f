"""Rules the database itself enforces, beyond column checks.

- No two work sessions of one researcher overlap (an open session runs to infinity).
- A task's forecasts, assignment and condition never change once written.
- The audit log is append-only.

PostgreSQL uses an exclusion constraint and triggers; SQLite (local mode) uses triggers.
"""

from django.db import migrations

LOCKED_MESSAGE = (
    "task is locked after assignment: forecasts, assignment and condition cannot change"
)

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    ALTER TABLE worklog_worksession ADD CONSTRAINT work_session_no_overlap
    EXCLUDE USING gist (
        owner_id WITH =,
        tstzrange(started_at, COALESCE(ended_at, 'infinity'::timestamptz), '[)') WITH &&
    )
    """,
    f"""
    CREATE FUNCTION worklog_task_refuse_locked_change() RETURNS trigger AS $$
    BEGIN
        IF NEW.forecast_no_ai_minutes IS DISTINCT FROM OLD.forecast_no_ai_minutes
           OR NEW.forecast_ai_minutes IS DISTINCT FROM OLD.forecast_ai_minutes
           OR NEW.assignment IS DISTINCT FROM OLD.assignment
           OR NEW.condition IS DISTINCT FROM OLD.condition
           OR NEW.randomized_at IS DISTINCT FROM OLD.randomized_at
           OR NEW.allocation_ai IS DISTINCT FROM OLD.allocation_ai THEN
            RAISE EXCEPTION '{LOCKED_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
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

SQLITE_OVERLAP_CHECK = """
    SELECT RAISE(ABORT, 'work sessions of one researcher cannot overlap')
    WHERE EXISTS (
        SELECT 1 FROM worklog_worksession s
        WHERE s.owner_id = NEW.owner_id AND s.id IS NOT NEW.id
          AND s.started_at < COALESCE(NEW.ended_at, '9999-12-31')
          AND COALESCE(s.ended_at, '9999-12-31') > NEW.started_at
    );
"""

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER work_session_no_overlap_insert BEFORE INSERT ON worklog_worksession
    BEGIN {SQLITE_OVERLAP_CHECK} END
    """,
    f"""
    CREATE TRIGGER work_session_no_overlap_update BEFORE UPDATE ON worklog_worksession
    BEGIN {SQLITE_OVERLAP_CHECK} END
    """,
    f"""
    CREATE TRIGGER worklog_task_locked BEFORE UPDATE ON worklog_task
    WHEN NEW.forecast_no_ai_minutes IS NOT OLD.forecast_no_ai_minutes
      OR NEW.forecast_ai_minutes IS NOT OLD.forecast_ai_minutes
      OR NEW.assignment IS NOT OLD.assignment
      OR NEW.condition IS NOT OLD.condition
      OR NEW.randomized_at IS NOT OLD.randomized_at
      OR NEW.allocation_ai IS NOT OLD.allocation_ai
    BEGIN SELECT RAISE(ABORT, '{LOCKED_MESSAGE}'); END
    """,
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
