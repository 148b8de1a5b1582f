"""Importing the worklog CSV: whole files or nothing, re-imports updating their tasks.

A file is imported through temporary staging tables, never held in memory. On PostgreSQL its
rows are split into cells by Python's csv reader and copied as text into ``import_raw``
(``COPY``); each distinct cell of a repeating column is read once by the same Python code that
reads a row's cells, and the rest is checked in SQL, set by set, into ``import_stage``; only
rows SQL does not find plainly valid (bad ones, or valid ones spelt unusually) are read back
and checked in Python a row at a time (``_Staging.load_file``). On SQLite, and for records
given by the caller, each record is read and checked in Python and loaded into
``import_stage`` (SQLite: inserts a chunk at a time). Then the database finds the repeated task
ids, the refused changes of locked fields and the tasks that exist already, the names (teams,
researchers, task types, tools) are resolved once per distinct name, and the tasks and their
tools are written by a few set-based ``INSERT ... SELECT`` and ``UPDATE`` statements, all in one
transaction. What Python holds at a time is one row, one chunk of rows or cells read back, or
one chunk of names: the memory does not grow with the file (docs/performance.md).
"""

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from uplift.accounts.models import Membership, Team, User
from uplift.worklog.batches import BATCH, chunks
from uplift.worklog.models import AuditEntry, Task, TaskType, Tool, ToolUse
from uplift.worklog.services._common import shown
from uplift.worklog.services.refusals import LockedFieldRefusal, audit_record_refusals
from uplift.worklog.signals import tasks_changed
from uplift.worklog.worklog_csv import (
    COLUMN_SPECS,
    COLUMNS,
    MAX_PROBLEMS_LISTED,
    TOOL_SEPARATOR,
    TOOLS,
    Problem,
    Problems,
    TaskRecord,
    WorklogFileError,
    _CellReads,
    duplicate_problem,
    read_cell,
    record_from_cells,
    worklog_records,
    worklog_rows,
)

logger = logging.getLogger(__name__)

IMPORT_SOURCE = "worklog"
# Planned allocation assumed for a new imported randomized task whose row gives none.
IMPORTED_ALLOCATION_AI = 0.5


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def import_worklog_file(
    lines: Iterable[str], *, source: str = IMPORT_SOURCE, actor: User | None = None
) -> ImportResult:
    """Read, check and import a worklog CSV (its lines: ``decoded_lines`` of the upload) whole
    or not at all, as ``worklog_import`` does, without ever holding its rows: a file of any
    size costs the same memory. A bad file raises the ``WorklogFileError`` that
    ``read_worklog`` raises for it, and writes nothing."""
    problems = Problems()
    if connection.vendor == "postgresql":
        return _import(
            lambda staging: staging.load_file(lines, problems), problems, source=source, actor=actor
        )
    records = worklog_records(lines, problems)
    return _import(lambda staging: staging.load(records), problems, source=source, actor=actor)


def worklog_import(
    *, records: Iterable[TaskRecord], source: str = IMPORT_SOURCE, actor: User | None = None
) -> ImportResult:
    """Import task records whole or not at all; re-importing an id updates that task.

    A change to a locked field of an existing task (forecasts, assignment, condition, and the
    allocation of a randomized task) refuses the whole file, and each refused change is written
    to the audit log. A new randomized task's allocation is its record's, or
    ``IMPORTED_ALLOCATION_AI`` when the record has none; an existing task whose record has none
    keeps its own.
    """
    return _import(
        lambda staging: staging.load(iter(records)), Problems(), source=source, actor=actor
    )


# Values of an existing task that a re-import may change, each change written to the audit log.
AUDITED_ON_IMPORT = ("owner", "team", "status", "actual_minutes", "perceived_other_minutes")

# Values per lookup query: SQLite allows 32,766 variables in one statement.
_LOOKUP_CHUNK = 5000
# Rows read back from the staging tables at a time (refusals, audited changes).
_READ_CHUNK = 5000

_TASK = Task._meta.db_table
_TOOL_USE = ToolUse._meta.db_table
_USER = User._meta.db_table
_TEAM = Team._meta.db_table
_MEMBERSHIP = Membership._meta.db_table

# The staging table's columns, in the order each record's row gives them.
_STAGE_COLUMNS = (
    ("row_number", "integer NOT NULL"),
    ("task_id", "text NOT NULL"),
    ("researcher", "text NOT NULL"),
    ("team", "text NOT NULL"),
    ("team_key", "text NOT NULL"),
    ("task_type", "text NOT NULL"),
    ("task_type_key", "text NOT NULL"),
    ("title", "text NOT NULL"),
    ("assignment", "text NOT NULL"),
    ("condition", "text NOT NULL"),
    ("allocation_ai", "{float}"),
    ("forecast_no_ai_minutes", "{float} NOT NULL"),
    ("forecast_ai_minutes", "{float} NOT NULL"),
    ("status", "text NOT NULL"),
    ("actual_minutes", "{float}"),
    ("actual_imputed", "{bool} NOT NULL"),
    ("started_at", "{moment}"),
    ("completed_at", "{moment}"),
    ("perceived_other_minutes", "{float}"),
    # PostgreSQL: the tools' names and keys, separated as in the file; SQLite: empty (its rows
    # go straight to import_stage_tool).
    ("tools", "text NOT NULL"),
    ("tool_keys", "text NOT NULL"),
)
_TEMP_TABLES = (
    "import_stage",
    "import_stage_tool",
    "import_existing",
    "import_user",
    "import_team",
    "import_task_type",
    "import_tool",
    "import_raw",
    "import_cell",
)


class _Refused(Exception):
    """Locked fields the file would change: recorded in the audit log, the file refused."""

    def __init__(self, error: WorklogFileError):
        self.error = error


def _import(
    load: Callable[["_Staging"], None], problems: Problems, *, source: str, actor: User | None
) -> ImportResult:
    refused = None
    with _step("import"), transaction.atomic():
        staging = _Staging(source=source)
        staging.create()
        with _step("read and load"):
            load(staging)
        with _step("check"):
            staging.check(problems)
        with _step("refusals"):
            refused = staging.refuse_locked_changes(actor=actor)
        if refused is None:
            result = staging.write(actor=actor)
        with _step("drop and commit"):
            staging.drop()
    if refused is not None:
        raise refused
    if result.created or result.updated:
        tasks_changed.send(sender=Task)
    return result


@contextmanager
def _step(name: str):
    """Log how long a step of the import took (at DEBUG: bench/import_rows.py prints them)."""
    started = time.perf_counter()
    yield
    logger.debug("import step %s: %.2f s", name, time.perf_counter() - started)


class _Staging:
    """The file's rows in temporary tables, and the set-based statements that import them."""

    def __init__(self, *, source: str):
        self.source = source
        self.postgres = connection.vendor == "postgresql"
        self.now = timezone.now()
        self.distinct = "IS DISTINCT FROM" if self.postgres else "IS NOT"
        # Python's order of names (code points), for the spelling kept of a new name.
        self.binary = ' COLLATE "C"' if self.postgres else ""

    def sql(self, statement: str, params=()) -> list:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def moment(self, value):
        """A date and time as the database stores it (SQLite: text)."""
        return connection.ops.adapt_datetimefield_value(value)

    # --- Loading ---------------------------------------------------------------------------

    def create(self) -> None:
        types = (
            {"float": "double precision", "bool": "boolean", "moment": "timestamptz"}
            if self.postgres
            else {"float": "REAL", "bool": "integer", "moment": "text"}
        )
        columns = ", ".join(f"{name} {kind.format(**types)}" for name, kind in _STAGE_COLUMNS)
        for table in _TEMP_TABLES:
            self.sql(f"DROP TABLE IF EXISTS {table}")
        self.sql(f"CREATE TEMP TABLE import_stage ({columns})")
        self.sql(
            "CREATE TEMP TABLE import_stage_tool "
            "(row_number integer NOT NULL, position integer NOT NULL, name text NOT NULL, "
            "key text NOT NULL)"
        )
        self.sql(
            "CREATE TEMP TABLE import_existing (row_number integer PRIMARY KEY, "
            "task_pk bigint NOT NULL, changed boolean NOT NULL DEFAULT FALSE, "
            "tools_differ boolean NOT NULL DEFAULT FALSE)"
        )
        for table in ("import_user", "import_team", "import_task_type", "import_tool"):
            self.sql(f"CREATE TEMP TABLE {table} (key text PRIMARY KEY, name text, id bigint)")

    def drop(self) -> None:
        for table in _TEMP_TABLES:
            self.sql(f"DROP TABLE IF EXISTS {table}")

    def _row(self, record: TaskRecord, moment) -> tuple:
        tools = record.tools
        return (
            record.row,
            record.task_id,
            record.researcher,
            record.team,
            record.team.lower(),
            record.task_type,
            record.task_type.lower(),
            record.title,
            record.assignment,
            record.condition,
            record.allocation_ai,
            record.forecast_no_ai_minutes,
            record.forecast_ai_minutes,
            record.status,
            record.actual_minutes,
            record.actual_imputed,
            moment(record.started_at),
            moment(record.completed_at),
            record.perceived_other_minutes,
            TOOL_SEPARATOR.join(tools) if self.postgres else "",
            TOOL_SEPARATOR.join(name.lower() for name in tools) if self.postgres else "",
        )

    def load(self, records: Iterator[TaskRecord]) -> None:
        names = ", ".join(name for name, _ in _STAGE_COLUMNS)
        if self.postgres:
            with connection.cursor() as cursor:
                same = _same
                with cursor.cursor.copy(f"COPY import_stage ({names}) FROM STDIN") as copy:
                    write = copy.write_row
                    for record in records:
                        write(self._row(record, same))
            self._stage_tools()
        else:
            marks = ", ".join(["%s"] * len(_STAGE_COLUMNS))
            moment = self.moment
            with connection.cursor() as cursor:
                for chunk in chunks(records, BATCH):
                    cursor.executemany(
                        f"INSERT INTO import_stage ({names}) VALUES ({marks})",
                        [self._row(record, moment) for record in chunk],
                    )
                    cursor.executemany(
                        "INSERT INTO import_stage_tool (row_number, position, name, key) "
                        "VALUES (%s, %s, %s, %s)",
                        [
                            (record.row, position, name, name.lower())
                            for record in chunk
                            for position, name in enumerate(record.tools, 1)
                        ],
                    )
        self._index_stage()

    def _stage_tools(self) -> None:
        """PostgreSQL: each staged row's tools, one row per tool, from its joined names."""
        self.sql(
            "INSERT INTO import_stage_tool (row_number, position, name, key) "
            "SELECT s.row_number, u.position, u.name, u.key FROM import_stage s, "
            "unnest(string_to_array(s.tools, %s), string_to_array(s.tool_keys, %s)) "
            "WITH ORDINALITY AS u(name, key, position) WHERE s.tools <> ''",
            [TOOL_SEPARATOR, TOOL_SEPARATOR],
        )

    def _index_stage(self) -> None:
        self.sql("CREATE UNIQUE INDEX import_stage_row ON import_stage (row_number)")
        self.sql("CREATE INDEX import_stage_tool_row ON import_stage_tool (row_number)")
        if self.postgres:
            # Temporary tables are never analyzed on their own: the planner needs their size.
            self.sql("ANALYZE import_stage")
            self.sql("ANALYZE import_stage_tool")

    # --- Loading a file (PostgreSQL) -------------------------------------------------------

    def load_file(self, lines: Iterable[str], problems: Problems) -> None:
        """Load a worklog CSV into ``import_stage``: its valid rows, each as ``worklog_records``
        reads it, and every problem of its rows (in ``problems``) as it reports them.

        Python only splits the file into cells (the same csv reader, so the same rows, row
        numbers and unreadable rows) and copies them as text into ``import_raw``. Each distinct
        cell of a column that repeats (researchers, teams, choices, minutes, tools) is then read
        once, by the same Python code as a row's cell, into ``import_cell``; the cells that
        differ on every row (ids, titles, dates) and the rules joining a row's cells are checked
        in SQL, for the plain cells that make up nearly every file. The rows that SQL does not
        find plainly valid, if any, are read back and checked in Python a row at a time, which
        gives their problems (or their values, when a cell was valid but not plain)."""
        header, rows = worklog_rows(lines, problems)
        now = timezone.now()
        width = len(header)
        self.sql(
            "CREATE TEMP TABLE import_raw (row_number integer NOT NULL, "
            + ", ".join(f"{name} text" for name in COLUMNS)
            + ")"
        )
        cells = _CellReads(now)
        loaded = 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY import_raw (row_number, {', '.join(header)}) FROM STDIN"
            ) as copy,
        ):
            write = copy.write_row
            for number, row in rows:
                if "\x00" in "".join(row):
                    # PostgreSQL's text holds no NUL: such a row is refused in Python.
                    for problem in record_from_cells(number, header, row, now, cells)[1]:
                        problems.add(problem)
                    continue
                if len(row) < width:
                    row += [None] * (width - len(row))
                write((number, *row))
                loaded += 1
        with _step("read distinct cells"):
            self._read_cells(now)
        with _step("check in SQL"), connection.cursor() as cursor:
            # The planner cannot tell how few rows the checks refuse, and would join the cells
            # to each row by a nested loop: hash joins read each table once.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute(*self._stage_plain_rows(now))
            staged = cursor.rowcount
            cursor.execute("RESET enable_nestloop")
        if staged < loaded:
            with _step("check the other rows in Python"):
                self._stage_other_rows(header, now, cells, problems)
        self._stage_tools()
        self._index_stage()

    def _read_cells(self, now) -> None:
        """Each distinct cell of the repeating columns, read once by Python into
        ``import_cell``: its value, its key (names: lower case), and whether it is valid."""
        self.sql(
            "CREATE TEMP TABLE import_cell (col smallint NOT NULL, cell text NOT NULL, "
            "value text, number double precision, moment timestamptz, key text, "
            "ok boolean NOT NULL, "
            "PRIMARY KEY (col, cell))"
        )
        # The distinct cells of every such column in one reading of the table: one grouping
        # set per column, its cell the one column not NULL.
        cells = [f"COALESCE({column.name}, '') AS c{n}" for n, column in enumerate(_BY_CELL)]
        names = [f"c{n}" for n in range(len(_BY_CELL))]
        which = " ".join(f"WHEN GROUPING({name}) = 0 THEN {n}" for n, name in enumerate(names))
        found = connection.connection.cursor(name="import_cells")
        found.itersize = _READ_CHUNK
        found.execute(
            f"SELECT CASE {which} END, COALESCE({', '.join(names)}) "
            f"FROM (SELECT {', '.join(cells)} FROM import_raw) AS r "
            f"GROUP BY GROUPING SETS ({', '.join(f'({name})' for name in names)})"
        )
        try:
            with connection.cursor() as cursor:
                while chunk := found.fetchmany(_READ_CHUNK):
                    with cursor.cursor.copy(
                        "COPY import_cell (col, cell, value, number, moment, key, ok) FROM STDIN"
                    ) as copy:
                        for number, cell in chunk:
                            row = _cell_row(_BY_CELL[number], cell, now)
                            copy.write_row((number, cell, *row))
        finally:
            found.close()
        self.sql("ANALYZE import_cell")

    def _stage_plain_rows(self, now) -> tuple[str, dict]:
        """The INSERT of the rows whose every cell is plainly valid and whose cells agree."""
        joins = " ".join(
            f"JOIN import_cell c_{column.name} ON c_{column.name}.col = {number} "
            f"AND c_{column.name}.cell = COALESCE(r.{column.name}, '')"
            for number, column in enumerate(_BY_CELL)
        )
        c = {column.name: f"c_{column.name}" for column in _BY_CELL}
        given_started = f"{c['started_at']}.moment IS NOT NULL"
        given_completed = f"{c['completed_at']}.moment IS NOT NULL"
        checks = [
            _plain_text("r.task_id", required=True, limit=_COLUMN["task_id"].max_length),
            _plain_text("r.title", required=False, limit=_COLUMN["title"].max_length),
            "strpos(COALESCE(r.title, ''), chr(10)) = 0",
            "strpos(COALESCE(r.title, ''), chr(13)) = 0",
            *(f"{alias}.ok" for alias in c.values()),
            f"NOT ({c['assignment']}.value = %(self_selected)s "
            f"AND {c['allocation_ai']}.number IS NOT NULL)",
            f"CASE WHEN {c['status']}.value = %(completed)s "
            f"THEN {c['actual_minutes']}.number IS NOT NULL AND {given_completed} "
            f"ELSE NOT {given_completed} AND {c['perceived_other_minutes']}.number IS NULL "
            f"AND ({c['status']}.value <> %(planned)s "
            f"OR ({c['actual_minutes']}.number IS NULL AND NOT {given_started})) END",
            f"(NOT {given_started} OR NOT {given_completed} "
            f"OR {c['completed_at']}.moment >= {c['started_at']}.moment)",
        ]
        values = {
            "row_number": "r.row_number",
            "task_id": "r.task_id",
            "researcher": f"{c['researcher']}.value",
            "team": f"{c['team']}.value",
            "team_key": f"{c['team']}.key",
            "task_type": f"{c['task_type']}.value",
            "task_type_key": f"{c['task_type']}.key",
            "title": "COALESCE(r.title, '')",
            "assignment": f"{c['assignment']}.value",
            "condition": f"{c['condition']}.value",
            "allocation_ai": f"{c['allocation_ai']}.number",
            "forecast_no_ai_minutes": f"{c['forecast_no_ai_minutes']}.number",
            "forecast_ai_minutes": f"{c['forecast_ai_minutes']}.number",
            "status": f"{c['status']}.value",
            "actual_minutes": f"{c['actual_minutes']}.number",
            "actual_imputed": "FALSE",
            "started_at": f"{c['started_at']}.moment",
            "completed_at": f"{c['completed_at']}.moment",
            "perceived_other_minutes": f"{c['perceived_other_minutes']}.number",
            "tools": f"{c['tools']}.value",
            "tool_keys": f"{c['tools']}.key",
        }
        assert tuple(values) == tuple(name for name, _ in _STAGE_COLUMNS)
        statement = (
            f"INSERT INTO import_stage ({', '.join(values)}) "
            f"SELECT {', '.join(values.values())} FROM import_raw r {joins} "
            f"WHERE {' AND '.join(checks)}"
        )
        params = {
            "self_selected": Task.Assignment.SELF_SELECTED,
            "completed": Task.Status.COMPLETED,
            "planned": Task.Status.PLANNED,
            "space": _SPACE,
            "space_or_quote": _SPACE + "'",
        }
        return statement, params

    def _stage_other_rows(self, header: list[str], now, cells, problems: Problems) -> None:
        """Check in Python, a row at a time, the rows not staged by ``_stage_plain_rows``:
        stage those that are valid after all, add the others' problems in row order."""
        found = Problems()
        rows = connection.connection.cursor(name="import_other_rows")
        rows.itersize = _READ_CHUNK
        rows.execute(
            f"SELECT r.row_number, {', '.join(f'r.{name}' for name in header)} "
            "FROM import_raw r WHERE NOT EXISTS "
            "(SELECT 1 FROM import_stage s WHERE s.row_number = r.row_number) "
            "ORDER BY r.row_number"
        )
        names = ", ".join(name for name, _ in _STAGE_COLUMNS)
        try:
            while chunk := rows.fetchmany(_READ_CHUNK):
                valid = []
                for number, *row in chunk:
                    record, row_problems = record_from_cells(number, header, row, now, cells)
                    for problem in row_problems:
                        found.add(problem)
                    if record is not None:
                        valid.append(record)
                if valid:
                    with (
                        connection.cursor() as cursor,
                        cursor.cursor.copy(f"COPY import_stage ({names}) FROM STDIN") as copy,
                    ):
                        for record in valid:
                            copy.write_row(self._row(record, _same))
        finally:
            rows.close()
        # Merged in row order: a row has either problems of the reading or of its cells.
        listed = sorted([*problems.listed, *found.listed], key=lambda problem: problem.row)
        problems.listed = listed[:MAX_PROBLEMS_LISTED]
        problems.total += found.total

    # --- Checking --------------------------------------------------------------------------

    def check(self, problems: Problems) -> None:
        """Raise the file's problems: its rows' own, and the task ids repeated on later rows
        (the rows of both, in row order, as ``read_worklog`` reports them)."""
        repeated = self.sql(
            "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT count(*) AS n FROM import_stage "
            "GROUP BY task_id HAVING count(*) > 1) AS d"
        )[0][0]
        if not problems and not repeated:
            return
        listed = list(problems.listed)
        if repeated:
            rows = self.sql(
                "SELECT s.row_number, s.task_id, f.first_row FROM import_stage s "
                "JOIN (SELECT task_id, min(row_number) AS first_row FROM import_stage "
                "GROUP BY task_id HAVING count(*) > 1) AS f ON f.task_id = s.task_id "
                "WHERE s.row_number > f.first_row ORDER BY s.row_number LIMIT %s",
                [MAX_PROBLEMS_LISTED],
            )
            listed += [duplicate_problem(row, task_id, first) for row, task_id, first in rows]
            # Sorted by row only: a row has either problems of its own or a repeated id.
            listed.sort(key=lambda problem: problem.row)
        raise WorklogFileError(listed[:MAX_PROBLEMS_LISTED], problems.total + int(repeated))

    def refuse_locked_changes(self, *, actor: User | None) -> WorklogFileError | None:
        """Find the tasks of the file that exist; when the file changes a locked field of any,
        write each refused change to the audit log and return the file's error."""
        self.sql(
            "INSERT INTO import_existing (row_number, task_pk) SELECT s.row_number, t.id "
            f"FROM import_stage s JOIN {_TASK} t ON t.source = %s AND t.external_id = s.task_id "
            "WHERE t.external_id <> ''",
            [self.source],
        )
        if self.postgres:
            self.sql("ANALYZE import_existing")
        locked = " OR ".join(
            [f"t.{name} <> s.{name}" for name in Task.LOCKED_FIELDS]
            + [
                "(s.allocation_ai IS NOT NULL AND s.assignment = t.assignment "
                f"AND t.allocation_ai {self.distinct} s.allocation_ai)"
            ]
        )
        fields = (*Task.LOCKED_FIELDS, "allocation_ai")
        listed: list[Problem] = []
        total = 0
        after = 0
        while True:
            rows = self.sql(
                f"SELECT s.row_number, e.task_pk, s.task_id, "
                f"{', '.join(f't.{name}' for name in fields)}, "
                f"{', '.join(f's.{name}' for name in fields)} "
                f"FROM import_existing e JOIN import_stage s ON s.row_number = e.row_number "
                f"JOIN {_TASK} t ON t.id = e.task_pk "
                f"WHERE e.row_number > %s AND ({locked}) ORDER BY e.row_number LIMIT %s",
                [after, _READ_CHUNK],
            )
            refusals = []
            for row_number, task_pk, task_id, *values in rows:
                old = dict(zip(fields, values[: len(fields)], strict=True))
                new = dict(zip(fields, values[len(fields) :], strict=True))
                checked = Task.LOCKED_FIELDS
                if new["allocation_ai"] is not None and new["assignment"] == old["assignment"]:
                    checked = fields
                task = Task(pk=task_pk, external_id=task_id)
                for name in checked:
                    if old[name] != new[name]:
                        message = (
                            f"cannot change after assignment (task {task_id} has "
                            f"{shown(old[name])}, the file has {shown(new[name])})"
                        )
                        refusals.append(
                            LockedFieldRefusal(
                                task=task,
                                field=name,
                                old=old[name],
                                new=new[name],
                                message=message,
                                row=row_number,
                            )
                        )
            if refusals:
                audit_record_refusals(refusals=refusals, actor=actor, via="import")
                total += len(refusals)
                listed += [r.problem() for r in refusals[: MAX_PROBLEMS_LISTED - len(listed)]]
            if len(rows) < _READ_CHUNK:
                break
            after = rows[-1][0]
        return WorklogFileError(listed, total) if total else None

    # --- Writing ---------------------------------------------------------------------------

    def write(self, *, actor: User | None) -> ImportResult:
        # The moment of the writes, not of the reading's start: tasks' updated_at is the
        # estimates' refresh watermark.
        self.now = timezone.now()
        with _step("names"):
            self._resolve_names()
        self.sql(
            f"INSERT {'' if self.postgres else 'OR IGNORE '}INTO {_MEMBERSHIP} "
            "(user_id, team_id, role, created_at) "
            "SELECT DISTINCT u.id, tm.id, %s, %s FROM import_stage s "
            "JOIN import_user u ON u.key = s.researcher "
            "JOIN import_team tm ON tm.key = s.team_key "
            f"{'ON CONFLICT DO NOTHING' if self.postgres else ''}",
            [Membership.Role.RESEARCHER, self.moment(self.now)],
        )
        with _step("compare existing"):
            existing, updated = self._compare_existing()
        with _step("audit changes"):
            self._audit_changes(actor=actor)
        with _step("update existing"):
            self._update_existing()
        with _step("insert new"):
            created = self._insert_new()
        return ImportResult(created=created, updated=updated, unchanged=existing - updated)

    def _resolve_names(self) -> None:
        """Each distinct name of the file, once: found whatever its case, or created."""
        self.sql(
            "INSERT INTO import_user (key, name) SELECT DISTINCT researcher, researcher "
            "FROM import_stage"
        )
        for table, key, name in (
            ("import_team", "team_key", "team"),
            ("import_task_type", "task_type_key", "task_type"),
        ):
            self.sql(
                f"INSERT INTO {table} (key, name) SELECT {key}, max({name}{self.binary}) "
                f"FROM import_stage GROUP BY {key}"
            )
        self.sql(
            f"INSERT INTO import_tool (key, name) SELECT key, max(name{self.binary}) "
            "FROM import_stage_tool GROUP BY key"
        )
        for table, resolve in (
            ("import_user", lambda names: {k: u.pk for k, u in _researchers(names).items()}),
            ("import_team", lambda names: _named_ids(Team, names)),
            ("import_task_type", lambda names: _named_ids(TaskType, names)),
            ("import_tool", lambda names: _named_ids(Tool, names)),
        ):
            after = ""
            while True:
                names = self.sql(
                    f"SELECT key, name FROM {table} WHERE key > %s ORDER BY key LIMIT %s",
                    [after, _LOOKUP_CHUNK],
                )
                if not names:
                    break
                ids = resolve({name for _, name in names})
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {table} SET id = %s WHERE key = %s",
                        [(ids[key], key) for key, _ in names],
                    )
                if len(names) < _LOOKUP_CHUNK:
                    break
                after = names[-1][0]

    _JOIN_NAMES = (
        "JOIN import_user u ON u.key = s.researcher "
        "JOIN import_team tm ON tm.key = s.team_key "
        "JOIN import_task_type tt ON tt.key = s.task_type_key "
    )

    def _compare_existing(self) -> tuple[int, int]:
        """Mark which existing tasks the file changes, and which of their tools; count them."""
        d = self.distinct
        changed = " OR ".join(
            [
                "t.owner_id <> u.id",
                "t.team_id <> tm.id",
                "t.task_type_id <> tt.id",
                "t.title <> s.title",
                "t.status <> s.status",
                "t.actual_imputed <> s.actual_imputed",
                *(
                    f"t.{name} {d} s.{name}"
                    for name in (
                        "actual_minutes",
                        "started_at",
                        "completed_at",
                        "perceived_other_minutes",
                    )
                ),
            ]
        )
        # Set-based, so that the database joins by hash rather than probing once per row.
        self.sql(
            "UPDATE import_existing AS e SET changed = TRUE "
            f"FROM import_stage s {self._JOIN_NAMES}, {_TASK} t "
            f"WHERE s.row_number = e.row_number AND t.id = e.task_pk AND ({changed})"
        )
        # A tool of the file the task lacks, or a tool of the task the file lacks.
        self.sql(
            "UPDATE import_existing SET tools_differ = TRUE WHERE row_number IN ("
            "SELECT e.row_number FROM import_existing e "
            "JOIN import_stage_tool st ON st.row_number = e.row_number "
            "JOIN import_tool m ON m.key = st.key "
            f"LEFT JOIN {_TOOL_USE} x ON x.task_id = e.task_pk AND x.tool_id = m.id "
            "WHERE x.id IS NULL "
            "UNION "
            "SELECT e.row_number FROM import_existing e "
            f"JOIN {_TOOL_USE} x ON x.task_id = e.task_pk "
            "LEFT JOIN (SELECT st.row_number, m.id FROM import_stage_tool st "
            "JOIN import_tool m ON m.key = st.key) AS f "
            "ON f.row_number = e.row_number AND f.id = x.tool_id "
            "WHERE f.row_number IS NULL)"
        )
        existing, updated = self.sql(
            "SELECT count(*), "
            "COALESCE(SUM(CASE WHEN changed OR tools_differ THEN 1 ELSE 0 END), 0) "
            "FROM import_existing"
        )[0]
        return existing, updated

    def _audit_changes(self, *, actor: User | None) -> None:
        """Record who changed which task's owner, team, status or minutes by importing a file,
        a chunk of changed tasks at a time."""
        after = 0
        while True:
            rows = self.sql(
                "SELECT e.row_number, e.task_pk, s.task_id, "
                "t.owner_id, ou.email, ou.username, u.id, nu.email, nu.username, "
                "t.team_id, ot.name, tm.id, nt.name, t.status, s.status, "
                "t.actual_minutes, s.actual_minutes, "
                "t.perceived_other_minutes, s.perceived_other_minutes "
                "FROM import_existing e JOIN import_stage s ON s.row_number = e.row_number "
                f"JOIN {_TASK} t ON t.id = e.task_pk {self._JOIN_NAMES}"
                f"JOIN {_USER} ou ON ou.id = t.owner_id JOIN {_USER} nu ON nu.id = u.id "
                f"JOIN {_TEAM} ot ON ot.id = t.team_id JOIN {_TEAM} nt ON nt.id = tm.id "
                "WHERE e.changed AND e.row_number > %s ORDER BY e.row_number LIMIT %s",
                [after, _READ_CHUNK],
            )
            entries = []
            for row in rows:
                (_, task_pk, task_id, old_owner, old_email, old_username, new_owner) = row[:7]
                (new_email, new_username, old_team, old_team_name, new_team) = row[7:12]
                (new_team_name, old_status, new_status) = row[12:15]
                (old_actual, new_actual, old_perceived, new_perceived) = row[15:19]
                values = (
                    ("owner", old_owner, new_owner, old_email or old_username,
                     new_email or new_username),
                    ("team", old_team, new_team, old_team_name, new_team_name),
                    ("status", old_status, new_status, old_status, new_status),
                    ("actual_minutes", old_actual, new_actual,
                     _audit_value(old_actual), _audit_value(new_actual)),
                    ("perceived_other_minutes", old_perceived, new_perceived,
                     _audit_value(old_perceived), _audit_value(new_perceived)),
                )  # fmt: skip
                entries += [
                    AuditEntry(
                        actor=actor,
                        task_id=task_pk,
                        action=AuditEntry.Action.CHANGED,
                        field=name,
                        old_value=old_text,
                        new_value=new_text,
                        via="import",
                        detail=f"Changed by importing task {task_id} again.",
                    )
                    for name, old, new, old_text, new_text in values
                    if old != new
                ]
            AuditEntry.objects.bulk_create(entries, batch_size=BATCH)
            if len(rows) < _READ_CHUNK:
                break
            after = rows[-1][0]

    def _update_existing(self) -> None:
        self.sql(
            f"UPDATE {_TASK} AS t SET owner_id = u.id, team_id = tm.id, task_type_id = tt.id, "
            "title = s.title, status = s.status, actual_minutes = s.actual_minutes, "
            "actual_imputed = s.actual_imputed, started_at = s.started_at, "
            "completed_at = s.completed_at, perceived_other_minutes = s.perceived_other_minutes, "
            "updated_at = %s "
            "FROM import_existing e JOIN import_stage s ON s.row_number = e.row_number "
            f"{self._JOIN_NAMES}"
            "WHERE t.id = e.task_pk AND e.changed",
            [self.moment(self.now)],
        )
        # An updated task's tools are the file's (their minutes and modes start again).
        self.sql(
            f"DELETE FROM {_TOOL_USE} WHERE task_id IN "
            "(SELECT task_pk FROM import_existing WHERE changed OR tools_differ)"
        )
        self.sql(
            f"INSERT INTO {_TOOL_USE} (task_id, tool_id, minutes, mode) "
            "SELECT e.task_pk, m.id, NULL, %s FROM import_existing e "
            "JOIN import_stage_tool st ON st.row_number = e.row_number "
            "JOIN import_tool m ON m.key = st.key "
            "WHERE e.changed OR e.tools_differ ORDER BY e.row_number, st.position",
            [ToolUse.Mode.OTHER],
        )

    def _insert_new(self) -> int:
        randomized = "s.assignment = %(randomized)s"
        new_rows = "NOT EXISTS (SELECT 1 FROM import_existing e WHERE e.row_number = s.row_number)"
        params = {
            "randomized": Task.Assignment.RANDOMIZED,
            "now": self.moment(self.now),
            "allocation": IMPORTED_ALLOCATION_AI,
            "imported": Task.Draw.IMPORTED,
            "source": self.source,
            "other": ToolUse.Mode.OTHER,
        }
        insert_tasks = (
            f"INSERT INTO {_TASK} (owner_id, team_id, task_type_id, title, "
            "forecast_no_ai_minutes, forecast_ai_minutes, assignment, condition, "
            "randomized_at, allocation_ai, draw, status, abandoned_reason, started_at, "
            "completed_at, actual_minutes, actual_imputed, perceived_other_minutes, source, "
            "external_id, created_at, updated_at) "
            "SELECT u.id, tm.id, tt.id, s.title, s.forecast_no_ai_minutes, "
            "s.forecast_ai_minutes, s.assignment, s.condition, "
            f"CASE WHEN {randomized} "
            "THEN COALESCE(s.started_at, s.completed_at, %(now)s) END, "
            f"CASE WHEN {randomized} THEN COALESCE(s.allocation_ai, %(allocation)s) "
            "ELSE s.allocation_ai END, "
            f"CASE WHEN {randomized} THEN %(imported)s ELSE '' END, "
            "s.status, '', s.started_at, s.completed_at, s.actual_minutes, "
            "s.actual_imputed, s.perceived_other_minutes, %(source)s, s.task_id, "
            f"%(now)s, %(now)s FROM import_stage s {self._JOIN_NAMES}"
            f"WHERE {new_rows} ORDER BY s.row_number"
        )
        insert_tools = (
            f"INSERT INTO {_TOOL_USE} (task_id, tool_id, minutes, mode) "
            "SELECT t.id, m.id, NULL, %(other)s FROM {tasks} "
            "JOIN import_stage s ON s.task_id = t.external_id "
            "JOIN import_stage_tool st ON st.row_number = s.row_number "
            "JOIN import_tool m ON m.key = st.key "
            "WHERE {where} ORDER BY s.row_number, st.position"
        )
        with connection.cursor() as cursor:
            if self.postgres:
                # The new tasks' ids as the insert returns them, joined to the file's tools by
                # hash, rather than looked up in worklog_task's index once per tool use.
                cursor.execute(
                    f"WITH t AS ({insert_tasks} RETURNING id, external_id), "
                    "tools AS ("
                    + insert_tools.format(tasks="t", where="TRUE")
                    + ") SELECT count(*) FROM t",
                    params,
                )
                created = cursor.fetchone()[0]
            else:
                cursor.execute(insert_tasks, params)
                created = cursor.rowcount
                if created:
                    cursor.execute(
                        insert_tools.format(
                            tasks=f"{_TASK} t",
                            where=f"t.source = %(source)s AND t.external_id <> '' AND {new_rows}",
                        ),
                        params,
                    )
        return created


# The columns of the file checked per row in SQL (``_Staging._stage_plain_rows``): their cells
# differ on every row, and the rules are simple. Every other column is read once per distinct
# cell by Python (most repeat a few values; a date has at most one per row).
_PER_ROW = ("task_id", "title")
_BY_CELL = tuple(column for column in COLUMN_SPECS if column.name not in _PER_ROW)
_COLUMN = {column.name: column for column in COLUMN_SPECS}

# Python's white space (what str.strip() and str.split() remove), for PostgreSQL's checks.
_SPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())


def _plain_text(cell: str, *, required: bool, limit: int) -> str:
    """SQL: ``cell`` is a text cell that reads as itself (nothing to trim, no quote escaping a
    formula to remove: it starts with neither), within its length, given if ``required``."""
    plain = (
        f"(strpos(%(space_or_quote)s, left({cell}, 1)) = 0 "
        f"AND strpos(%(space)s, right({cell}, 1)) = 0 AND length({cell}) <= {limit})"
    )
    return plain if required else f"(COALESCE({cell}, '') = '' OR {plain})"


def _cell_row(column, cell: str, now) -> tuple:
    """A distinct cell of ``column`` as ``import_cell`` holds it: its value as text, number or
    moment, its key (names: lower case), and whether it is valid."""
    value, ok = read_cell(column, cell, now)
    if column.kind is TOOLS:
        names = TOOL_SEPARATOR.join(value)
        return (names, None, None, TOOL_SEPARATOR.join(name.lower() for name in value), ok)
    if isinstance(value, float):
        return (None, value, None, None, ok)
    if isinstance(value, datetime):
        return (None, None, value, None, ok)
    if value is None:
        return (None, None, None, None, ok)
    return (value, None, None, value.lower(), ok)


def _same(value):
    return value


def _audit_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, User):
        return value.email or value.username
    return shown(value) if isinstance(value, float) else str(value)


def _named_ids(model, names: set[str]) -> dict[str, int]:
    return {key: obj.pk for key, obj in _named(model, names).items()}


def _named(model, names: set[str]) -> dict:
    """The objects of ``model`` with these names, by lower-cased name; missing ones created.

    Names match whatever their case: "alignment" finds the team "Alignment".
    """
    wanted = {name.lower(): name for name in sorted(names)}
    found = {}
    for chunk in chunks(sorted(wanted), _LOOKUP_CHUNK):
        objects = model.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=chunk)
        found.update({obj.name.lower(): obj for obj in objects})
    for key in sorted(wanted.keys() - found.keys()):
        found[key] = model.objects.create(name=wanted[key])
    return found


def _researchers(emails: set[str]) -> dict[str, User]:
    """The users with these emails (any case), by lower-cased email; missing ones created with
    the email as username (a number added if another account has it) and no password."""
    found = {}
    for chunk in chunks(sorted(emails), _LOOKUP_CHUNK):
        users = User.objects.annotate(lower_email=Lower("email")).filter(lower_email__in=chunk)
        for user in users.order_by("pk"):
            found.setdefault(user.email.lower(), user)
    missing = sorted(emails - found.keys())
    taken = set()
    for chunk in chunks([email[:140] for email in missing], _LOOKUP_CHUNK):
        users = User.objects.annotate(lower_name=Lower("username"))
        taken.update(users.filter(lower_name__in=chunk).values_list("lower_name", flat=True))
    new_users = []
    for email in missing:
        username, n = email[:140], 1
        while username.lower() in taken:
            n += 1
            username = f"{email[:140]}-{n}"
        taken.add(username.lower())
        # Unusable, as set_unusable_password makes it, with one random draw instead of forty.
        password = UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)
        new_users.append(User(username=username, email=email, password=password))
    for user in User.objects.bulk_create(new_users, batch_size=BATCH):
        found[user.email] = user
    return found
