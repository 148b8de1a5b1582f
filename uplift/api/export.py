"""Export of tasks as the worklog CSV (docs/worklog-csv.md) or JSON lines, streamed.

Two paths write the same bytes:

- ``worklog_rows`` + ``write_worklog`` (the worklog app's own writer) on any database. It builds
  a model object per task (~170 us a row), so a million rows take minutes.
- On PostgreSQL, one ``COPY (SELECT ...) TO STDOUT`` formats every row in the database, the
  way ``format_minutes``, ``format_probability``, ``format_timestamp``, ``escape_cell`` and the
  csv module do, and the bytes are passed on in large blocks: no Python object per row, memory
  flat, close to COPY's own speed.
  ``tests/api/test_export.py`` holds the two paths to the same bytes.
"""

import itertools
import json
from collections.abc import Iterable, Iterator

from django.db import connection
from django.db.models import QuerySet

from uplift.accounts.models import User
from uplift.api.access import (
    ApiAccess,
    researcher_pseudonym,
    task_pseudonym,
    task_pseudonym_sql,
)
from uplift.spreadsheet import sql_escaped
from uplift.worklog.models import Task
from uplift.worklog.selectors import worklog_rows
from uplift.worklog.worklog_csv import COLUMNS, write_worklog

# Bytes handed to the server per write: large enough to amortise the per-chunk cost.
BLOCK_BYTES = 256 * 1024
_MINUTES = ("forecast_no_ai_minutes", "forecast_ai_minutes", "actual_minutes")


def export_csv(*, tasks: QuerySet[Task], access: ApiAccess) -> Iterator[bytes]:
    """The worklog CSV of ``tasks`` (id order), researchers pseudonymized for analysts."""
    if connection.vendor == "postgresql":
        return _copy_blocks(_copy_sql(tasks, access, jsonl=False), header=_CSV_HEADER)
    return (text.encode() for text in write_worklog(export_rows(tasks=tasks, access=access)))


def export_jsonl(*, tasks: QuerySet[Task], access: ApiAccess) -> Iterator[bytes]:
    """One JSON object per task and line: the worklog columns, typed (numbers, null, list)."""
    if connection.vendor == "postgresql":
        return _copy_blocks(_copy_sql(tasks, access, jsonl=True), header=b"")
    return _blocks(
        (json.dumps(_typed(row), ensure_ascii=False) + "\n").encode()
        for row in export_rows(tasks=tasks, access=access)
    )


def export_rows(*, tasks: QuerySet[Task], access: ApiAccess) -> Iterator[dict[str, str]]:
    """``worklog_rows`` with the researcher and the task id replaced by pseudonyms when
    ``access`` needs it (an external id such as ``demo-ada-000`` can name the researcher)."""
    if not access.pseudonymized:
        yield from worklog_rows(tasks=tasks)
        return
    rows = worklog_rows(tasks=tasks, task_id=lambda task: task_pseudonym(task.pk))
    pseudonyms = _pseudonyms_by_email()
    for row in rows:
        row["researcher"] = pseudonyms[row["researcher"]]
        yield row


def _pseudonyms_by_email() -> dict[str, str]:
    return {
        email: researcher_pseudonym(user_id)
        for user_id, email in User.objects.values_list("id", "email")
    }


def _typed(row: dict[str, str]) -> dict:
    typed: dict = {name: (row[name] or None) for name in COLUMNS}
    typed["title"] = row["title"]
    for name in (*_MINUTES, "perceived_other_minutes", "allocation_ai"):
        typed[name] = float(row[name]) if row[name] else None
    typed["tools"] = row["tools"].split(";") if row["tools"] else []
    return typed


def _blocks(pieces: Iterable[bytes]) -> Iterator[bytes]:
    block = bytearray()
    for piece in pieces:
        block += piece
        if len(block) >= BLOCK_BYTES:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


# --- PostgreSQL: COPY ---------------------------------------------------------------------------

_CSV_HEADER = (",".join(COLUMNS) + "\n").encode()


def _minutes_sql(column: str) -> str:
    """``format_minutes`` in SQL: whole numbers without a decimal point, others shortest-exact.

    PostgreSQL (12+) prints float8 as the shortest text that reads back exactly, as Python's
    ``repr`` does; both switch to an exponent below 1e-4. Above 1e15 they differ, so whole
    numbers are printed as integers there too (as ``format_minutes`` does).
    """
    return (
        f"CASE WHEN {column} = trunc({column}) AND abs({column}) < 1e18 "
        f"THEN {column}::bigint::text ELSE {column}::text END"
    )


def _timestamp_sql(column: str) -> str:
    """``datetime.isoformat()`` of a UTC timestamp: microseconds only when not zero.

    PostgreSQL's own text of a timestamp (DateStyle ISO, which psycopg requires) already drops
    zero microseconds; only the separator and the offset differ.
    """
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'), "
        "'.000000+', '+')"
    )


def _copy_sql(tasks: QuerySet[Task], access: ApiAccess, *, jsonl: bool) -> tuple[str, list]:
    """One SELECT giving each task's export line, for the filtered, visible ``tasks``."""
    ids_sql, ids_params = tasks.order_by().values("id").query.sql_with_params()
    params: list = []
    if access.pseudonymized:
        # The researchers' pseudonyms are computed in Python (HMAC under a key the database
        # never sees) for every researcher once, and joined in as a table.
        pairs = [
            (user_id, researcher_pseudonym(user_id))
            for user_id in User.objects.values_list("id", flat=True)
        ]
        researcher = "p.pseudonym"
        people = (
            "JOIN unnest(%s::bigint[], %s::text[]) AS p(user_id, pseudonym) "
            "ON p.user_id = t.owner_id"
        )
        params += [[user_id for user_id, _ in pairs], [name for _, name in pairs]]
        # The tasks' pseudonyms in SQL, under their own derived key: no table of every task.
        task_id, task_id_params = task_pseudonym_sql("t.id")
    else:
        researcher, people = "u.email", "JOIN accounts_user u ON u.id = t.owner_id"
        task_id, task_id_params = "COALESCE(NULLIF(t.external_id, ''), t.id::text)", []
    # One grouped pass over the tool uses, merged by task id: a subquery per task costs
    # more than the rest of the row.
    tools = "tu.tools"
    tool_uses = (
        "LEFT JOIN (SELECT tu.task_id, string_agg(tl.name, ';' ORDER BY tl.name) AS tools "
        "FROM worklog_tooluse tu JOIN worklog_tool tl ON tl.id = tu.tool_id "
        "GROUP BY tu.task_id) tu ON tu.task_id = t.id"
    )
    if jsonl:
        columns = _jsonl_columns(task_id, researcher, tools)
    else:
        columns = _csv_columns(task_id, researcher, tools, pseudonymized=access.pseudonymized)
    # Unfiltered (an admin's or analyst's whole export): no semi-join on the ids.
    where = f"WHERE t.id IN ({ids_sql})" if tasks.query.where else ""
    if not where:
        ids_params = ()
    sql = (
        f"SELECT {columns} FROM worklog_task t {people} "
        "JOIN accounts_team tm ON tm.id = t.team_id "
        "JOIN worklog_tasktype tt ON tt.id = t.task_type_id "
        f"{tool_uses} {where} ORDER BY t.id"
    )
    if jsonl:
        # CSV mode with a quote and delimiter that JSON text never contains unescaped: each
        # line comes out exactly as json_build_object wrote it.
        copy = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    else:
        copy = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
    return copy, [*task_id_params, *params, *ids_params]


def _csv_columns(task_id: str, researcher: str, tools: str, *, pseudonymized: bool) -> str:
    # COPY writes NULL as an empty field and an empty string as "": the csv module writes both
    # as an empty field, so every empty text becomes NULL. Text that a spreadsheet would run
    # as a formula is escaped as ``write_worklog`` escapes it (uplift/spreadsheet.py).
    def text(sql: str) -> str:
        return f"NULLIF({sql_escaped(sql)}, '')"

    return ", ".join(
        [
            # Pseudonyms ("task-...", "researcher-...") are no formulas: nothing to escape (and
            # escaping would compute the task's twice).
            task_id if pseudonymized else text(task_id),
            researcher if pseudonymized else text(researcher),
            text("tm.name"),
            text("tt.name"),
            text("t.title"),
            "t.assignment",
            "t.condition",
            # ``format_probability``: float8's text is already the shortest that reads back.
            "t.allocation_ai::text",
            _minutes_sql("t.forecast_no_ai_minutes"),
            _minutes_sql("t.forecast_ai_minutes"),
            "t.status",
            _minutes_sql("t.actual_minutes"),
            _timestamp_sql("t.started_at"),
            _timestamp_sql("t.completed_at"),
            _minutes_sql("t.perceived_other_minutes"),
            text(tools),
        ]
    )


def _jsonl_columns(task_id: str, researcher: str, tools: str) -> str:
    return (
        "json_build_object("
        f"'task_id', {task_id}, 'researcher', {researcher}, 'team', tm.name, "
        "'task_type', tt.name, 'title', t.title, 'assignment', t.assignment, "
        "'condition', t.condition, 'allocation_ai', t.allocation_ai, "
        "'forecast_no_ai_minutes', t.forecast_no_ai_minutes, "
        "'forecast_ai_minutes', t.forecast_ai_minutes, 'status', t.status, "
        "'actual_minutes', t.actual_minutes, "
        f"'started_at', {_timestamp_sql('t.started_at')}, "
        f"'completed_at', {_timestamp_sql('t.completed_at')}, "
        "'perceived_other_minutes', t.perceived_other_minutes, "
        f"'tools', COALESCE(string_to_array({tools}, ';'), ARRAY[]::text[]))"
    )


def _copy_blocks(statement: tuple[str, list], *, header: bytes) -> Iterator[bytes]:
    """Run the COPY and yield its output in blocks of about ``BLOCK_BYTES``.

    A generator: the query runs when the response starts streaming, on the request's
    connection, and COPY sends rows as PostgreSQL produces them (nothing is held whole).
    """
    sql, params = statement
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        yield from _blocks(itertools.chain([header], copy))
