"""Fill a benchmark database with generated researchers, teams and tasks, fast.

Reusable by every benchmark that needs a realistic tasks table (estimates, dashboards, export):

    from bench.seed_tasks import bench_database_setup, seed_tasks

    bench_database_setup()  # creates `uplift_bench` if missing, django.setup(), migrate
    seed_tasks(1_000_000)

`seed_tasks` empties the accounts, worklog and estimates tables (TRUNCATE ... CASCADE), then
loads every row with PostgreSQL binary COPY: the rows are built as numpy structured arrays
(no per-row Python), copied into a temporary all-numeric staging table, and moved into the
real tables with one INSERT ... SELECT each, so every check constraint, foreign key and index
of the schema is enforced as in production. It refuses to run on a database whose name does not
contain "bench".
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

from uplift.worklog.bounds import MAX_MINUTES, MIN_MINUTES

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/uplift_bench"

TOOL_NAMES = ("chatgpt", "claude", "copilot", "cursor", "gemini", "perplexity", "codeium")
TOOL_VENDORS = ("OpenAI", "Anthropic", "GitHub", "Anysphere", "Google", "Perplexity", "Codeium")
STATUSES = ("completed", "abandoned", "in_progress", "planned")
STATUS_SHARES = (0.90, 0.05, 0.025, 0.025)
MODES = ("chat", "autocomplete", "agent", "other")
SEEDED_APPS = ("accounts", "worklog", "estimates")

# Binary COPY: numpy dtype of the staging column -> (PostgreSQL type, big-endian numpy dtype).
_BINARY_TYPES = {
    "int16": ("int2", ">i2"),
    "int32": ("int4", ">i4"),
    "int64": ("int8", ">i8"),
    "float64": ("float8", ">f8"),
}
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], ">i4").tobytes()
_COPY_TRAILER = np.array([-1], ">i2").tobytes()
_COPY_CHUNK_ROWS = 250_000


def production_like_environment(database_url: str) -> None:
    """Production settings for a page benchmark (DEBUG off, hashed static files collected into
    var/bench-static), served to Django's test Client over plain HTTP; set values win."""
    os.environ.setdefault("DATABASE_URL", database_url)
    os.environ.setdefault("DEBUG", "")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault(
        "STATIC_ROOT", str(Path(__file__).resolve().parents[1] / "var" / "bench-static")
    )


def bench_database_setup(database_url: str | None = None, *, migrate: bool = True) -> None:
    """Point Django at the benchmark database, create it if missing, set up and migrate.

    Environment variables already set win; the defaults are the local benchmark ones. An
    existing database whose name lacks "bench" is refused (SystemExit).
    """
    os.environ.setdefault("DATABASE_URL", database_url or BENCH_DATABASE_URL)
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uplift.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.servers import bench_database_create

    bench_database_create(os.environ["DATABASE_URL"])

    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)


def _month_starts(first: str, n_months: int) -> np.ndarray:
    """Epoch seconds (UTC) of the first instant of n_months + 1 consecutive months."""
    months = np.datetime64(first, "M") + np.arange(n_months + 1)
    return months.astype("datetime64[s]").astype(np.int64).astype(float)


def generate(
    n_tasks: int = 1_000_000,
    *,
    n_researchers: int = 2_000,
    n_teams: int = 50,
    n_task_types: int = 12,
    n_months: int = 12,
    n_tools: int = 5,
    seed: int = 1,
    first_month: str | None = None,
) -> dict:
    """Every seeded row as numpy columns, with a known AI effect per task type.

    Times are epoch seconds with NaN for NULL; ids start at 1. Returns a dict of tables.
    """
    if not 1 <= n_tools <= len(TOOL_NAMES):
        raise ValueError(f"n_tools must be between 1 and {len(TOOL_NAMES)}")
    rng = np.random.default_rng(seed)
    n = n_tasks

    researcher = rng.integers(0, n_researchers, n)
    team = researcher % n_teams
    task_type = rng.integers(0, n_task_types, n)
    randomized = rng.random(n) < 0.95
    ai = np.where(randomized, rng.random(n) < 0.5, rng.random(n) < 0.6)
    status = rng.choice(len(STATUSES), n, p=STATUS_SHARES).astype(np.int16)
    completed = status == 0
    started = status != 3  # everything but "planned" has been started

    # Outcome model: log(actual) = a + b log(forecast) + effect[type] * ai + researcher + noise.
    log_forecast = rng.normal(4.0, 1.0, n)
    type_effect = np.linspace(-0.35, 0.15, n_task_types)[rng.permutation(n_task_types)]
    researcher_speed = rng.normal(0, 0.4, n_researchers)
    log_actual = (
        0.3
        + 0.9 * log_forecast
        + type_effect[task_type] * ai
        + researcher_speed[researcher]
        + rng.normal(0, 0.7, n)
    )
    minutes = partial(np.clip, a_min=MIN_MINUTES, a_max=MAX_MINUTES)
    actual = minutes(np.where(completed, np.exp(log_actual), np.nan))
    forecast_no_ai = minutes(np.exp(log_forecast))
    forecast_ai = minutes(np.exp(log_forecast + rng.normal(-0.25, 0.2, n)))
    # Perceived time under the other condition: people believe AI saves them time.
    perceived_shift = np.where(ai, rng.normal(0.25, 0.3, n), rng.normal(-0.2, 0.3, n))
    has_perceived = completed & (rng.random(n) < 0.5)
    perceived = minutes(np.where(has_perceived, actual * np.exp(perceived_shift), np.nan))

    # Timeline: completion spread over the months; created, randomized and started before it.
    # By default the n_months before the current one, so the dashboards' windows (calendar
    # months ending with the current month) hold tasks as they would in use.
    if first_month is None:
        first_month = str(np.datetime64("today", "M") - n_months)
    bounds = _month_starts(first_month, n_months)
    month = rng.integers(0, n_months, n)
    anchor = bounds[month] + rng.random(n) * (bounds[month + 1] - bounds[month])
    work_seconds = np.where(completed, actual, forecast_no_ai) * 60 * (1 + 3 * rng.random(n))
    start_at = anchor - work_seconds
    created_at = start_at - rng.random(n) * 3 * 86_400
    completed_at = np.where(completed, anchor, np.nan)
    started_at = np.where(started, start_at, np.nan)
    updated_at = np.where(completed, completed_at, np.where(started, started_at, created_at))
    randomized_at = np.where(randomized, created_at, np.nan)

    tasks = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "owner_id": researcher + 1,
        "team_id": team + 1,
        "task_type_id": task_type + 1,
        "forecast_no_ai": forecast_no_ai,
        "forecast_ai": forecast_ai,
        "randomized": randomized.astype(np.int16),
        "ai": ai.astype(np.int16),
        "randomized_at": randomized_at,
        "allocation": np.where(randomized, 0.5, np.nan),
        "status": status,
        "started_at": started_at,
        "completed_at": completed_at,
        "actual": actual,
        "perceived": perceived,
        "created_at": created_at,
        "updated_at": updated_at,
    }

    # Tool uses on started tasks: most AI-allowed tasks use one tool (some two), a few no-AI ones
    # use one anyway (non-compliance). Tools are not equally popular.
    n_used = np.where(
        ai,
        (rng.random(n) < 0.9).astype(int) + (rng.random(n) < 0.15),
        (rng.random(n) < 0.03).astype(int),
    )
    n_used = np.where(started, n_used, 0)
    popularity = np.arange(n_tools, 0, -1, dtype=float)
    first = rng.choice(n_tools, n, p=popularity / popularity.sum())
    second = (first + rng.integers(1, max(n_tools, 2), n)) % n_tools
    one = np.flatnonzero(n_used >= 1)
    two = np.flatnonzero((n_used >= 2) & (n_tools > 1))
    use_task = np.concatenate([one, two])
    use_tool = np.concatenate([first[one], second[two]])
    order = np.lexsort((use_tool, use_task))
    use_task, use_tool = use_task[order], use_tool[order]
    base = np.where(completed, actual, forecast_no_ai)[use_task]
    use_minutes = base * rng.uniform(0.1, 0.6, len(use_task))
    use_minutes[rng.random(len(use_task)) < 0.2] = np.nan
    # Within the worklog's bounds, as every minute below: the tails of the draws fall outside.
    use_minutes = np.clip(use_minutes, MIN_MINUTES, MAX_MINUTES)
    tool_uses = {
        "id": np.arange(1, len(use_task) + 1, dtype=np.int64),
        "task_id": use_task.astype(np.int64) + 1,
        "tool_id": use_tool.astype(np.int64) + 1,
        "minutes": use_minutes,
        "mode": rng.choice(len(MODES), len(use_task), p=[0.55, 0.2, 0.15, 0.1]).astype(np.int16),
    }
    return {
        "n_researchers": n_researchers,
        "n_teams": n_teams,
        "n_task_types": n_task_types,
        "n_tools": n_tools,
        "tasks": tasks,
        "tool_uses": tool_uses,
        "type_effect": type_effect,
    }


def _binary_copy(cursor, table: str, columns: dict[str, np.ndarray]) -> None:
    """COPY numeric numpy columns (no NULLs; NaN stays NaN) into `table` in binary format."""
    names = list(columns)
    fields = [("count", ">i2")]
    for i, name in enumerate(names):
        fields += [(f"len{i}", ">i4"), (f"val{i}", _BINARY_TYPES[columns[name].dtype.name][1])]
    dtype = np.dtype(fields)
    n_rows = len(columns[names[0]])
    statement = f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT binary)"
    with cursor.copy(statement) as copy:
        copy.write(_COPY_HEADER)
        for start in range(0, n_rows, _COPY_CHUNK_ROWS):
            stop = min(start + _COPY_CHUNK_ROWS, n_rows)
            rows = np.empty(stop - start, dtype=dtype)
            rows["count"] = len(names)
            for i, name in enumerate(names):
                rows[f"len{i}"] = dtype[f"val{i}"].itemsize
                rows[f"val{i}"] = columns[name][start:stop]
            copy.write(rows.tobytes())
        copy.write(_COPY_TRAILER)


def _staging_table(cursor, name: str, columns: dict[str, np.ndarray]) -> None:
    definition = ", ".join(f"{c} {_BINARY_TYPES[a.dtype.name][0]}" for c, a in columns.items())
    cursor.execute(f"CREATE TEMPORARY TABLE {name} ({definition}) ON COMMIT DROP")
    _binary_copy(cursor, name, columns)


def _ts(column: str) -> str:
    """SQL turning a staging epoch-seconds column (NaN for NULL) into a timestamptz."""
    return f"to_timestamp(NULLIF({column}, 'NaN'::float8))"


def _choice(column: str, labels: tuple[str, ...]) -> str:
    """SQL mapping a staging code column to its label."""
    return f"(ARRAY[{', '.join(repr(label) for label in labels)}])[{column} + 1]"


@contextmanager
def _bulk_mode(cursor, tables: list[str]) -> Iterator[None]:
    """Drop the plain indexes and foreign keys of `tables`, then build and validate them again.

    Maintaining nine indexes row by row and checking three foreign keys per row costs ~45 s
    for a million tasks; building each index once and validating each foreign key with one
    join takes a fraction of that. Primary keys, unique and check constraints stay in place.
    Runs inside the seeding transaction, so a failure leaves the schema as it was.
    """
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid =
                          format('%%I.%%I', i.schemaname, i.indexname)::regclass)
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])
        """,
        [tables],
    )
    foreign_keys = cursor.fetchall()
    for table, name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _tables_to_truncate() -> list[str]:
    from django.apps import apps

    tables = []
    for label in SEEDED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            tables.append(model._meta.db_table)
    return tables


def seed_tasks(n_tasks: int = 1_000_000, *, verbose: bool = True, **options) -> dict:
    """Empty the accounts, worklog and estimates tables and load generated data.

    ``options`` are those of ``generate`` (n_researchers, n_teams, seed...). Django must be set
    up on a PostgreSQL database whose name contains "bench". Returns the row counts and the
    timings (seconds) of the generation, the load and the VACUUM ANALYZE.
    """
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise RuntimeError("seed_tasks needs PostgreSQL")
    database = connection.settings_dict["NAME"]
    if "bench" not in database:
        raise RuntimeError(f"refusing to truncate {database!r}: not a benchmark database")

    started = time.perf_counter()
    data = generate(n_tasks, **options)
    generated = time.perf_counter()
    tables = _tables_to_truncate()
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        _load_catalog(cursor, data)
        with _bulk_mode(cursor, ["worklog_task", "worklog_tooluse"]):
            _staging_table(cursor, "bench_task", data["tasks"])
            cursor.execute(_TASK_INSERT)
            _staging_table(cursor, "bench_tooluse", data["tool_uses"])
            cursor.execute(_TOOL_USE_INSERT)
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
    loaded = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    finished = time.perf_counter()

    counts = {
        "users": data["n_researchers"],
        "teams": data["n_teams"],
        "task_types": data["n_task_types"],
        "tools": data["n_tools"],
        "tasks": n_tasks,
        "tool_uses": len(data["tool_uses"]["id"]),
    }
    timings = {
        "generate": generated - started,
        "load": loaded - generated,
        "vacuum_analyze": finished - loaded,
        "total": finished - started,
    }
    if verbose:
        print(
            f"seeded {n_tasks:,} tasks, {counts['tool_uses']:,} tool uses, "
            f"{counts['users']:,} researchers in {timings['total']:.1f} s "
            f"(generate {timings['generate']:.1f} s, load {timings['load']:.1f} s, "
            f"vacuum analyze {timings['vacuum_analyze']:.1f} s)",
            flush=True,
        )
    return {"counts": counts, "timings": timings}


def _load_catalog(cursor, data: dict) -> None:
    """Users, teams, memberships, task types and tools: small tables, generated in SQL."""
    cursor.execute(
        """
        INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
        SELECT i, '!', false, format('researcher%%s', lpad(i::text, 5, '0')), 'Researcher',
               i::text, format('researcher%%s@bench.example', i), false, true,
               timestamptz '2024-12-01'
        FROM generate_series(1, %s) AS i
        """,
        [data["n_researchers"]],
    )
    cursor.execute(
        """
        INSERT INTO accounts_team (id, name, allocation_ai, observational, created_at)
        SELECT i, format('team-%%s', lpad((i - 1)::text, 2, '0')), 0.5, false,
               timestamptz '2024-12-01'
        FROM generate_series(1, %s) AS i
        """,
        [data["n_teams"]],
    )
    # Researcher i belongs to team (i - 1) % n_teams + 1, as in the tasks.
    cursor.execute(
        """
        INSERT INTO accounts_membership (id, user_id, team_id, role, created_at)
        SELECT i, i, (i - 1) %% %s + 1, 'researcher', timestamptz '2024-12-01'
        FROM generate_series(1, %s) AS i
        """,
        [data["n_teams"], data["n_researchers"]],
    )
    cursor.execute(
        """
        INSERT INTO worklog_tasktype (id, name, description, observational)
        SELECT i, format('type-%%s', lpad((i - 1)::text, 2, '0')), '', false
        FROM generate_series(1, %s) AS i
        """,
        [data["n_task_types"]],
    )
    n_tools = data["n_tools"]
    cursor.execute(
        """
        INSERT INTO worklog_tool (id, name, vendor, model_version)
        SELECT i, name, vendor, '' FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY
            AS t(name, vendor, i)
        """,
        [list(TOOL_NAMES[:n_tools]), list(TOOL_VENDORS[:n_tools])],
    )


_TASK_INSERT = f"""
INSERT INTO worklog_task (
    id, owner_id, team_id, task_type_id, title, forecast_no_ai_minutes, forecast_ai_minutes,
    assignment, condition, randomized_at, allocation_ai, draw, status, abandoned_reason,
    started_at, completed_at, actual_minutes, actual_imputed, perceived_other_minutes,
    source, external_id, created_at, updated_at
)
SELECT id, owner_id, team_id, task_type_id, 'Task ' || id, forecast_no_ai, forecast_ai,
       CASE WHEN randomized = 1 THEN 'randomized' ELSE 'self_selected' END,
       CASE WHEN ai = 1 THEN 'ai' ELSE 'no_ai' END,
       {_ts("randomized_at")}, NULLIF(allocation, 'NaN'::float8),
       CASE WHEN randomized = 1 THEN 'imported' ELSE '' END,
       {_choice("status", STATUSES)},
       CASE WHEN status = 1 THEN 'Seeded: no longer needed' ELSE '' END,
       {_ts("started_at")}, {_ts("completed_at")}, NULLIF(actual, 'NaN'::float8), false,
       NULLIF(perceived, 'NaN'::float8), '', '', {_ts("created_at")}, {_ts("updated_at")}
FROM bench_task
ORDER BY id
"""

_TOOL_USE_INSERT = f"""
INSERT INTO worklog_tooluse (id, task_id, tool_id, minutes, mode)
SELECT id, task_id, tool_id, NULLIF(minutes, 'NaN'::float8), {_choice("mode", MODES)}
FROM bench_tooluse
ORDER BY id
"""


if __name__ == "__main__":
    bench_database_setup()
    seed_tasks(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
