"""Export of tasks as the worklog CSV (docs/worklog-csv.md) or JSON lines, streamed.

Two paths write the same bytes:

- ``worklog_rows`` + ``write_worklog`` (the worklog app's own writer) on any database. It builds
  a model object per task (~170 us a row), so a million rows take minutes.
- On PostgreSQL, one ``COPY (SELECT ...) TO STDOUT`` formats every row in the database, the
  way the worklog writer and the csv module do, escapes and pseudonyms included, and the bytes
  are passed on in blocks of ``BLOCK_BYTES``: Python only appends each row's bytes (psycopg
  reads one message a row), memory flat, close to the speed of a COPY of the same SELECT.

Both take their columns from ``COLUMN_SPECS`` (uplift/worklog/worklog_csv.py): each column's
value in SQL, and its kind's formatting, in Python and in SQL side by side.
``tests/api/test_export.py`` holds the two paths to the same bytes.
"""

import itertools
import json
from collections.abc import Iterable, Iterator

from django.db import connection
from django.db.models import QuerySet

from uplift.accounts.access import Access
from uplift.accounts.models import User
from uplift.accounts.pseudonyms import researcher_pseudonym, task_pseudonym, task_pseudonym_sql
from uplift.worklog.models import Task
from uplift.worklog.selectors import worklog_rows
from uplift.worklog.worklog_csv import COLUMN_SPECS, COLUMNS, TOOL_SEPARATOR, write_worklog

# Bytes handed to the server per write: large enough to amortise the per-chunk cost.
BLOCK_BYTES = 256 * 1024


def export_csv(*, tasks: QuerySet[Task], access: Access) -> Iterator[bytes]:
    """The worklog CSV of ``tasks`` (id order), researchers pseudonymized for analysts."""
    if connection.vendor == "postgresql":
        return _copy_blocks(
            export_copy_statement(tasks=tasks, access=access, jsonl=False), header=_CSV_HEADER
        )
    return (text.encode() for text in write_worklog(export_rows(tasks=tasks, access=access)))


def export_jsonl(*, tasks: QuerySet[Task], access: Access) -> Iterator[bytes]:
    """One JSON object per task and line: the worklog columns, typed (numbers, null, list)."""
    if connection.vendor == "postgresql":
        return _copy_blocks(
            export_copy_statement(tasks=tasks, access=access, jsonl=True), header=b""
        )
    return _blocks(
        (json.dumps(_typed(row), ensure_ascii=False) + "\n").encode()
        for row in export_rows(tasks=tasks, access=access)
    )


def export_rows(*, tasks: QuerySet[Task], access: Access) -> Iterator[dict[str, str]]:
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
    return {column.name: column.kind.typed(row[column.name]) for column in COLUMN_SPECS}


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


def export_copy_statement(
    *, tasks: QuerySet[Task], access: Access, jsonl: bool
) -> tuple[str, list]:
    """The COPY of one SELECT giving each task's export line, for the filtered, visible
    ``tasks``, and its parameters (bench/export.py times it alone: the export's floor).

    Plain joins: PostgreSQL streams them in id order from the index and may spread the rows'
    formatting over parallel workers. (Lookups of the escaped names per owner, team and type,
    as LATERAL subqueries, saved about a tenth of the backend's CPU but made the plan serial:
    slower in wall time, bench/export.py, docs/performance.md.)"""
    ids_sql, ids_params = tasks.order_by().values("id").query.sql_with_params()
    params: list = []
    if access.pseudonymized:
        # The researchers' pseudonyms are computed in Python (HMAC under a key the database
        # never sees) for every researcher once, and joined in as a table.
        pairs = [
            (user_id, researcher_pseudonym(user_id))
            for user_id in User.objects.values_list("id", flat=True)
        ]
        pseudonyms = {"researcher": "p.pseudonym"}
        people = (
            "JOIN unnest(%s::bigint[], %s::text[]) AS p(user_id, pseudonym) "
            "ON p.user_id = t.owner_id"
        )
        params += [[user_id for user_id, _ in pairs], [name for _, name in pairs]]
        # The tasks' pseudonyms in SQL, under their own derived key: no table of every task.
        pseudonyms["task_id"], task_id_params = task_pseudonym_sql("t.id")
    else:
        pseudonyms, people = {}, "JOIN accounts_user u ON u.id = t.owner_id"
        task_id_params = []
    # One grouped pass over the tool uses, merged by task id: a subquery per task costs
    # more than the rest of the row.
    tool_uses = (
        f"LEFT JOIN (SELECT tu.task_id, string_agg(tl.name, '{TOOL_SEPARATOR}' ORDER BY tl.name) "
        "AS tools "
        "FROM worklog_tooluse tu JOIN worklog_tool tl ON tl.id = tu.tool_id "
        "GROUP BY tu.task_id) tu ON tu.task_id = t.id"
    )
    columns = _jsonl_columns(pseudonyms) if jsonl else _csv_columns(pseudonyms)
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


def _csv_columns(pseudonyms: dict[str, str]) -> str:
    """Each column's cell as ``write_worklog`` writes it. ``pseudonyms`` replace the values of
    some columns for analysts; they are written as they are: a pseudonym ("task-...",
    "researcher-...") is no formula, and escaping would compute the task's twice."""
    return ", ".join(
        pseudonyms[column.name]
        if column.name in pseudonyms
        else column.cell_sql or column.kind.write_sql(column.sql)
        for column in COLUMN_SPECS
    )


def _jsonl_columns(pseudonyms: dict[str, str]) -> str:
    """Each task as one JSON object of its typed values, keyed by column, in the file's order."""
    pairs = (
        f"'{column.name}', {column.kind.typed_sql(pseudonyms.get(column.name, column.sql))}"
        for column in COLUMN_SPECS
    )
    return f"json_build_object({', '.join(pairs)})"


def _copy_blocks(statement: tuple[str, list], *, header: bytes) -> Iterator[bytes]:
    """Run the COPY and yield its output in blocks of about ``BLOCK_BYTES``.

    A generator: the query runs when the response starts streaming, on the request's
    connection, and COPY sends rows as PostgreSQL produces them (nothing is held whole).
    """
    sql, params = statement
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        yield from _blocks(itertools.chain([header], copy))
