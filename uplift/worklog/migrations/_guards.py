"""The database's own guards on tasks and work sessions, as SQL, for the migrations that
install them.

- A task's forecasts, assignment, condition and draw never change once written.
- No two work sessions of one researcher overlap (PostgreSQL: an exclusion constraint, which
  survives table changes; SQLite: triggers).

SQLite cannot alter a column in place: Django rebuilds the table, and the table's triggers go
with the old one. A migration that alters ``worklog_task`` or ``worklog_worksession`` must end by
running ``install`` again (``tests/worklog/test_guards.py`` fails otherwise).
"""

LOCKED_MESSAGE = (
    "task is locked after assignment: forecasts, assignment and condition cannot change"
)

# The columns the lock covers: what was forecast and what the draw gave. These tuples are
# migration history (0002 and 0004 lock LOCKED_COLUMNS, 0007 adds DRAW_COLUMNS): never edit
# them; a column locked later gets a tuple and a migration of its own.
LOCKED_COLUMNS = (
    "forecast_no_ai_minutes",
    "forecast_ai_minutes",
    "assignment",
    "condition",
    "randomized_at",
    "allocation_ai",
)
DRAW_COLUMNS = (
    "draw",
    "stratum_owner_id",
    "stratum_task_type_id",
    "block_number",
    "block_position",
    "block_size",
)

SQLITE_OVERLAP_CHECK = """
    SELECT RAISE(ABORT, 'work sessions of one researcher cannot overlap')
    WHERE EXISTS (
        SELECT 1 FROM worklog_worksession s
        WHERE s.owner_id = NEW.owner_id AND s.id IS NOT NEW.id
          AND s.started_at < COALESCE(NEW.ended_at, '9999-12-31')
          AND COALESCE(s.ended_at, '9999-12-31') > NEW.started_at
    );
"""


def postgres_statements(columns: tuple[str, ...]) -> list[str]:
    changed = "\n           OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)
    return [
        f"""
        CREATE OR REPLACE FUNCTION worklog_task_refuse_locked_change() RETURNS trigger AS $$
        BEGIN
            IF {changed} THEN
                RAISE EXCEPTION '{LOCKED_MESSAGE}'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql
        """
    ]


def sqlite_statements(columns: tuple[str, ...]) -> list[str]:
    changed = "\n      OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)
    return [
        "DROP TRIGGER IF EXISTS work_session_no_overlap_insert",
        "DROP TRIGGER IF EXISTS work_session_no_overlap_update",
        "DROP TRIGGER IF EXISTS worklog_task_locked",
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
        WHEN {changed}
        BEGIN SELECT RAISE(ABORT, '{LOCKED_MESSAGE}'); END
        """,
    ]


def install(schema_editor, *, with_draw: bool = True) -> None:
    """(Re)install the task lock and, on SQLite, the overlap triggers."""
    columns = LOCKED_COLUMNS + (DRAW_COLUMNS if with_draw else ())
    vendor = schema_editor.connection.vendor
    builders = {"postgresql": postgres_statements, "sqlite": sqlite_statements}
    if vendor not in builders:
        raise RuntimeError(f"Unsupported database: {vendor}")
    for statement in builders[vendor](columns):
        schema_editor.execute(statement)
