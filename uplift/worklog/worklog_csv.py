"""The worklog CSV (docs/worklog-csv.md): its columns, the importer, and the export's writer.

``COLUMN_SPECS`` defines the columns once, in the export's order; everything else follows from
it: the names (``COLUMNS``, ``REQUIRED_COLUMNS``), the header check and the reading of each row
into a ``TaskRecord`` (``read_worklog``), the Python export (``worklog_row`` and
``write_worklog``), and the PostgreSQL COPY of the API's export (uplift/api/export.py), whose
SQL each column's ``Kind`` gives beside its Python formatter. Tests hold the docs' column table
and the two export paths to it.

Rows in problems are numbered as a spreadsheet shows them: the header is row 1, the first task
row 2, a line break inside a quoted value starts no new row, and a blank line is a row
(skipped, but counted).
"""

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from uplift.spreadsheet import escape_values, sql_escaped, unescape_cell
from uplift.worklog.bounds import (
    NAME_MAX_LENGTH,
    minutes_problem,
    moment_problem,
    normalize_name,
)
from uplift.worklog.models import TITLE_MAX_LENGTH, Task

TOOL_SEPARATOR = ";"
PROBABILITY_RULE = "must be a probability strictly between 0 and 1"
# A file holds at most this many task rows: larger ones are refused, to be split. The import
# streams a file through the database, so this bounds one transaction, not the memory.
MAX_ROWS = 1_000_000
# A refused file lists this many problems, then says how many there are in all.
MAX_PROBLEMS_LISTED = 100
# The longest cell the reader accepts (Python's csv default): far above any column's length.
MAX_CELL = csv.field_size_limit()


# --- Writing a value: Python and PostgreSQL, the same text ---------------------------------------


def format_minutes(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def minutes_sql(column: str) -> str:
    """``format_minutes`` in SQL: whole numbers without a decimal point, others shortest-exact.

    PostgreSQL (12+) prints float8 as the shortest text that reads back exactly, as Python's
    ``repr`` does; both switch to an exponent below 1e-4. Above 1e15 they differ, so whole
    numbers are printed as integers there too (as ``format_minutes`` does).
    """
    return (
        f"CASE WHEN {column} = trunc({column}) AND abs({column}) < 1e18 "
        f"THEN {column}::bigint::text ELSE {column}::text END"
    )


def format_probability(value: float | None) -> str:
    """An allocation as the shortest text that reads back exactly (empty when there is none)."""
    return "" if value is None else repr(float(value))


def probability_sql(column: str) -> str:
    """``format_probability`` in SQL: float8's text is already the shortest that reads back."""
    return f"{column}::text"


def format_timestamp(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def timestamp_sql(column: str) -> str:
    """``format_timestamp`` of a UTC timestamp in SQL: microseconds only when not zero.

    PostgreSQL's own text of a timestamp (DateStyle ISO, which psycopg requires) already drops
    zero microseconds; only the separator and the offset differ.
    """
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'), "
        "'.000000+', '+')"
    )


def text_sql(column: str) -> str:
    """A text cell as ``write_worklog`` writes it, in SQL: formulas escaped
    (uplift/spreadsheet.py), and empty text NULL, since COPY writes NULL as an empty field and
    an empty string as ``""`` while the csv module writes both as an empty field."""
    return f"NULLIF({sql_escaped(column)}, '')"


def _number_or_none(cell: str) -> float | None:
    return float(cell) if cell else None


# --- The columns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a column holds: how a cell of it is read and how both exports write it.

    ``write`` gives a task's value as the cell's text (``write_worklog`` then escapes formulas);
    ``write_sql`` gives the same bytes in PostgreSQL's COPY, escape included. ``typed`` and
    ``typed_sql`` give the value of the JSON lines export, from the cell and in SQL.
    """

    docs: str  # how the type column of docs/worklog-csv.md's table starts
    read: Callable[["_RowReader", "Column"], Any]
    write: Callable[[Any], str]
    write_sql: Callable[[str], str]
    typed: Callable[[str], Any]
    typed_sql: Callable[[str], str]


def _same(value):
    return value


TEXT = Kind(
    docs="text",
    read=lambda read, column: read.text(
        column.name, required=column.required, limit=column.max_length
    ),
    write=_same,
    write_sql=text_sql,
    typed=_same,
    typed_sql=_same,
)
# Text read in lower case.
EMAIL = replace(TEXT, docs="email", read=lambda read, column: TEXT.read(read, column).lower())
# A catalog name (team, task type): read as it is stored (uplift.worklog.bounds.normalize_name).
NAME = replace(
    TEXT,
    docs="name",
    read=lambda read, column: read.text(
        column.name, required=column.required, limit=column.max_length, normalize=True
    ),
)
# One of ``Column.choices``: a plain word, which needs no escape and is never empty.
CHOICE = Kind(
    docs="word",
    read=lambda read, column: read.choice(column.name, column.choices, required=column.required),
    write=_same,
    write_sql=_same,
    typed=_same,
    typed_sql=_same,
)
PROBABILITY = Kind(
    docs="number",
    read=lambda read, column: read.probability(column.name),
    write=format_probability,
    write_sql=probability_sql,
    typed=_number_or_none,
    typed_sql=_same,
)
MINUTES = Kind(
    docs="minutes",
    read=lambda read, column: read.minutes(column.name, required=column.required),
    write=format_minutes,
    write_sql=minutes_sql,
    typed=_number_or_none,
    typed_sql=_same,
)
TIMESTAMP = Kind(
    docs="date and time",
    read=lambda read, column: read.timestamp(column.name),
    write=format_timestamp,
    write_sql=timestamp_sql,
    typed=lambda cell: cell or None,
    typed_sql=timestamp_sql,
)
# Names separated by ``TOOL_SEPARATOR``, in alphabetical order.
TOOLS = Kind(
    docs="names separated by",
    read=lambda read, column: read.tools(column.name),
    write=TOOL_SEPARATOR.join,
    write_sql=text_sql,
    typed=lambda cell: cell.split(TOOL_SEPARATOR) if cell else [],
    typed_sql=lambda column: (
        f"COALESCE(string_to_array({column}, '{TOOL_SEPARATOR}'), ARRAY[]::text[])"
    ),
)


@dataclass(frozen=True)
class Column:
    """One column of the worklog CSV."""

    name: str
    kind: Kind
    # A required column must be in the header and hold a value on every row.
    required: bool = False
    # The task's attribute that the export writes ("team.name"); empty for the two values the
    # caller of ``worklog_row`` gives (the task's id in the file, and its tools).
    source: str = ""
    # The same value in the export's SELECT (uplift/api/export.py), over its tables: t the task,
    # u its researcher, tm its team, tt its task type, tu its tools (joined by task).
    sql: str = ""
    # The CSV cell in that SELECT, when a cheaper expression than ``kind.write_sql(sql)`` gives
    # the same text (tests/api/test_export.py holds the two paths to the same bytes).
    cell_sql: str = ""
    # The longest text the column holds (the database's column length).
    max_length: int | None = None
    choices: tuple[str, ...] = ()


ASSIGNMENTS = tuple(Task.Assignment.values)
CONDITIONS = tuple(Task.Condition.values)
STATUSES = tuple(Task.Status.values)


def _field(name: str, kind: Kind, **options) -> Column:
    """A column that is the task's own field of the same name."""
    return Column(name, kind, source=name, sql=f"t.{name}", **options)


COLUMN_SPECS = (
    # The cell escapes the imported id alone: a task's own id is digits, never a formula.
    Column("task_id", TEXT, required=True, max_length=120,
           sql="COALESCE(NULLIF(t.external_id, ''), t.id::text)",
           cell_sql=f"COALESCE(NULLIF({sql_escaped('t.external_id')}, ''), t.id::text)"),
    Column("researcher", EMAIL, required=True, max_length=254,
           source="owner.email", sql="u.email"),
    Column("team", NAME, required=True, max_length=NAME_MAX_LENGTH,
           source="team.name", sql="tm.name"),
    Column("task_type", NAME, required=True, max_length=NAME_MAX_LENGTH,
           source="task_type.name", sql="tt.name"),
    _field("title", TEXT, max_length=TITLE_MAX_LENGTH),
    _field("assignment", CHOICE, required=True, choices=ASSIGNMENTS),
    _field("condition", CHOICE, required=True, choices=CONDITIONS),
    _field("allocation_ai", PROBABILITY),
    _field("forecast_no_ai_minutes", MINUTES, required=True),
    _field("forecast_ai_minutes", MINUTES, required=True),
    _field("status", CHOICE, required=True, choices=STATUSES),
    _field("actual_minutes", MINUTES),
    _field("started_at", TIMESTAMP),
    _field("completed_at", TIMESTAMP),
    _field("perceived_other_minutes", MINUTES),
    Column("tools", TOOLS, sql="tu.tools"),
)  # fmt: skip
COLUMNS = tuple(column.name for column in COLUMN_SPECS)
REQUIRED_COLUMNS = tuple(column.name for column in COLUMN_SPECS if column.required)


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass(slots=True)
class TaskRecord:
    """One task as the worklog CSV describes it, validated."""

    row: int
    task_id: str
    researcher: str
    team: str
    task_type: str
    title: str
    assignment: str
    condition: str
    forecast_no_ai_minutes: float
    forecast_ai_minutes: float
    status: str
    actual_minutes: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    perceived_other_minutes: float | None = None
    tools: list[str] = field(default_factory=list)
    actual_imputed: bool = False
    # The probability the task had of being drawn "AI allowed"; None when the file gives none.
    allocation_ai: float | None = None


class WorklogFileError(Exception):
    """The file cannot be imported: ``problems`` lists the first of them, ``total`` counts all."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems[:MAX_PROBLEMS_LISTED]
        self.total = max(total or 0, len(problems))
        super().__init__(self.report())

    def report(self) -> str:
        """One line per listed problem, then how many more there are."""
        lines = [str(problem) for problem in self.problems]
        if self.total > len(self.problems):
            lines.append(f"... and {self.total - len(self.problems)} more problems")
        return "\n".join(lines)


class Problems:
    """The problems of a file: the first ``MAX_PROBLEMS_LISTED`` kept, all of them counted."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.listed) < MAX_PROBLEMS_LISTED:
            self.listed.append(problem)

    def __bool__(self) -> bool:
        return self.total > 0

    def error(self) -> WorklogFileError:
        return WorklogFileError(self.listed, self.total)


class _RowReader:
    """Reads the typed values of one row, collecting problems instead of stopping at the first."""

    def __init__(self, row_number: int, values: dict[str, str], now: datetime):
        self.row = row_number
        self.values = values
        self.now = now
        self.problems: list[Problem] = []

    def problem(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.row, column, message))

    def text(
        self,
        column: str,
        *,
        required: bool = False,
        limit: int | None = None,
        normalize: bool = False,
    ) -> str:
        value = unescape_cell((self.values.get(column) or "").strip())
        if "\x00" in value:
            self.problem(column, "contains a NUL character")
            return ""
        if normalize:
            value = normalize_name(value)
        if limit and len(value) > limit:
            self.problem(column, f"must be at most {limit} characters, not {len(value)}")
            return ""
        if required and not value:
            self.problem(column, "is required")
        return value

    def choice(self, column: str, choices: tuple[str, ...], *, required: bool) -> str:
        value = self.text(column, required=required)
        if value and value not in choices:
            self.problem(column, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def minutes(self, column: str, *, required: bool = False) -> float | None:
        return self._number(
            column, "must be a number of minutes", minutes_problem, required=required
        )

    def probability(self, column: str) -> float | None:
        def problem(number: float) -> str | None:
            return None if math.isfinite(number) and 0 < number < 1 else PROBABILITY_RULE

        return self._number(column, PROBABILITY_RULE, problem)

    def _number(
        self,
        column: str,
        not_a_number: str,
        problem_of: Callable[[float], str | None],
        *,
        required: bool = False,
    ) -> float | None:
        # A float cell: empty is None; text or a value `problem_of` refuses is a problem.
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            self.problem(column, f"{not_a_number}, not {_shorten(value)!r}")
            return None
        problem = problem_of(number)
        if problem:
            self.problem(column, f"{problem}, not {_shorten(value)}")
            return None
        return number

    def timestamp(self, column: str) -> datetime | None:
        value = self.text(column)
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problem(
                column, f"must be an ISO 8601 timestamp with offset, not {_shorten(value)!r}"
            )
            return None
        if moment.tzinfo is None:
            self.problem(column, f"needs a UTC offset (for example +00:00): {value!r}")
            return None
        problem = moment_problem(moment, now=self.now)
        if problem:
            self.problem(column, f"{problem} ({value})")
            return None
        return moment

    def tools(self, column: str) -> list[str]:
        names = _split_tools(self.text(column))
        for name in names:
            if len(name) > NAME_MAX_LENGTH:
                self.problem(column, f"a tool's name must be at most {NAME_MAX_LENGTH} characters")
                return []
        return names


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


# Cells remembered per column while a file is read: most columns repeat a few values
# (researchers, teams, statuses, minutes, tools), and looking a cell up costs far less than
# reading it. Bounded, so that a file of any size costs the same memory.
CELLS_REMEMBERED = 4096
# Columns whose every cell differs: read each time.
_NOT_REMEMBERED = frozenset({"task_id", "title"})


class _CellReads:
    """Reads a file's cells, remembering what each cell of a column gave (its value and its
    problems): a column's reading depends on its cell alone (and the time the file is read)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        # (name, column, its remembered cells or None, whether its value is a list to copy)
        self.columns = [
            (
                column.name,
                column,
                None if column.name in _NOT_REMEMBERED else {},
                column.kind is TOOLS,
            )
            for column in COLUMN_SPECS
        ]
        self.emails: dict[str, bool] = {}

    def read(self, read: "_RowReader") -> dict[str, Any]:
        fields = {}
        values = read.values
        for name, column, remembered, is_list in self.columns:
            if remembered is None:
                fields[name] = column.kind.read(read, column)
                continue
            cell = values.get(name)
            known = remembered.get(cell)
            if known is None:
                alone = _RowReader(read.row, {} if cell is None else {name: cell}, self.now)
                value = column.kind.read(alone, column)
                known = (value, tuple((p.column, p.message) for p in alone.problems))
                if len(remembered) < CELLS_REMEMBERED:
                    remembered[cell] = known
            value, problems = known
            if problems:
                for problem_column, message in problems:
                    read.problem(problem_column, message)
            # A record's tools are its own list.
            fields[name] = list(value) if is_list else value
        return fields

    def is_email(self, value: str) -> bool:
        known = self.emails.get(value)
        if known is None:
            known = _is_email(value)
            if len(self.emails) < CELLS_REMEMBERED:
                self.emails[value] = known
        return known


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _record_from_row(
    row_number: int, values: dict[str, str], now: datetime, cells: _CellReads | None = None
) -> tuple[TaskRecord | None, list]:
    read = _RowReader(row_number, values, now)
    if cells is None:
        fields = {column.name: column.kind.read(read, column) for column in COLUMN_SPECS}
    else:
        fields = cells.read(read)
    record = TaskRecord(row=row_number, **fields)
    is_email = cells.is_email if cells else _is_email
    if record.researcher and not is_email(record.researcher):
        read.problem("researcher", f"must be an email address, not {record.researcher!r}")
    if record.assignment == Task.Assignment.SELF_SELECTED and record.allocation_ai is not None:
        read.problem("allocation_ai", "must be empty: only randomized tasks have an allocation")
    if "\n" in record.title or "\r" in record.title:
        read.problem("title", "must be one line (it contains a line break)")
    _check_status(read, record)
    if record.started_at and record.completed_at and record.completed_at < record.started_at:
        read.problem("completed_at", "is before started_at")
    return (None if read.problems else record), read.problems


def read_cell(column: Column, cell: str, now: datetime) -> tuple[Any, bool]:
    """What a cell of ``column`` reads as, on any row, and whether it reads without a problem
    of its own (a researcher's: whether it is an email address too). The rules that join a
    row's cells (``_record_from_row``) are the caller's."""
    alone = _RowReader(0, {column.name: cell}, now)
    value = column.kind.read(alone, column)
    ok = not alone.problems
    if ok and column.kind is EMAIL and value and not _is_email(value):
        ok = False
    return value, ok


def _given(values: dict[str, str], column: str) -> bool:
    return bool((values.get(column) or "").strip())


def _check_status(read: _RowReader, record: TaskRecord) -> None:
    """The values a row may hold follow from its status."""
    status, values = record.status, read.values
    if status == Task.Status.COMPLETED:
        for column in ("actual_minutes", "completed_at"):
            if not _given(values, column):
                read.problem(column, f"is required when status is {status}")
        return
    if not status:
        return
    refused = ["completed_at", "perceived_other_minutes"]
    if status == Task.Status.PLANNED:
        refused += ["actual_minutes", "started_at"]
    reported = {problem.column for problem in read.problems}
    for column in refused:
        if _given(values, column) and column not in reported:
            read.problem(column, f"must be empty when status is {status}")


def _split_tools(value: str) -> list[str]:
    """Tool names, each once whatever its case, in the spelling first written."""
    names: dict[str, str] = {}
    for name in value.split(TOOL_SEPARATOR):
        name = normalize_name(name)
        if name:
            names.setdefault(name.lower(), name)
    return sorted(names.values(), key=str.lower)


def decoded_lines(binary: Iterable[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 file (a byte order mark ignored), decoded one at a time, so that a
    byte that is not UTF-8 is reported on its own row rather than for the whole file."""
    for number, line in enumerate(binary):
        yield line.decode("utf-8-sig" if number == 0 else "utf-8")


def read_worklog(stream: Iterable[str]) -> list[TaskRecord]:
    """Parse and validate a worklog CSV; raise ``WorklogFileError`` listing its problems.

    ``stream`` is read once, row by row: a file of any size costs memory for its valid
    records only, and at most ``MAX_PROBLEMS_LISTED`` problems are kept (all are counted).
    The import of a file (``uplift.worklog.services.import_worklog_file``) holds none of its
    records: it reads them with ``worklog_records``.
    """
    problems = Problems()
    records: list[TaskRecord] = []
    first_row_of: dict[str, int] = {}
    for record in worklog_records(stream, problems):
        if record.task_id in first_row_of:
            first = first_row_of[record.task_id]
            problems.add(duplicate_problem(record.row, record.task_id, first))
            continue
        first_row_of[record.task_id] = record.row
        if not problems:
            records.append(record)
    if problems:
        raise problems.error()
    return records


def duplicate_problem(row: int, task_id: str, first_row: int) -> Problem:
    """The problem of a row whose task id an earlier (valid) row has."""
    return Problem(row, "task_id", f"{task_id!r} already appears on row {first_row}")


def worklog_records(stream: Iterable[str], problems: Problems) -> Iterator[TaskRecord]:
    """The valid rows of a worklog CSV as records, one at a time, each row's problems added to
    ``problems`` as it is read; a header with problems raises ``WorklogFileError`` at once.

    Each row is checked on its own: that no two rows share a task id is the caller's check
    (``read_worklog`` remembers the ids; the import asks the database).
    """
    header, rows = worklog_rows(stream, problems)
    now = timezone.now()
    cells = _CellReads(now)
    for row_number, row in rows:
        record, row_problems = record_from_cells(row_number, header, row, now, cells)
        for problem in row_problems:
            problems.add(problem)
        if record is not None:
            yield record


def record_from_cells(
    row_number: int, header: list[str], row: list, now: datetime, cells: "_CellReads"
) -> tuple[TaskRecord | None, list[Problem]]:
    """A row's cells (as ``worklog_rows`` gives them) read into a record, or its problems."""
    return _record_from_row(row_number, dict(zip(header, row, strict=False)), now, cells)


def worklog_rows(
    stream: Iterable[str], problems: Problems
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a worklog CSV and its rows' cells, numbered as problems name rows, not yet
    checked: a row the reader cannot take (too many values, past ``MAX_ROWS``, unreadable) is
    added to ``problems`` rather than given; blank lines are counted and skipped. A header
    with problems raises ``WorklogFileError`` at once."""
    reader = csv.DictReader(stream)
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except (csv.Error, UnicodeDecodeError) as error:
        raise WorklogFileError([Problem(1, "-", _unreadable(error))]) from None
    header_problems = _header_problems(header)
    if header_problems:
        for problem in header_problems:
            problems.add(problem)
        raise problems.error()
    return header, _rows(reader.reader, len(header), problems)


def _rows(rows: Iterator[list[str]], width: int, problems: Problems):
    # The underlying reader, not DictReader's iteration: DictReader skips blank lines, and a
    # spreadsheet counts them, so problems would name the wrong row after one.
    row_number = 1
    while True:
        row_number += 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as error:
            # The reader cannot find where this row ends: nothing after it can be trusted.
            problems.add(Problem(row_number, "-", _unreadable(error)))
            break
        if not row:
            continue  # a blank line: counted, not imported
        if row_number - 1 > MAX_ROWS:
            problems.add(
                Problem(
                    row_number,
                    "-",
                    f"the file has more than {MAX_ROWS:,} task rows: split it into smaller files",
                )
            )
            break
        if len(row) > width:
            problems.add(Problem(row_number, "-", "has more values than the header has columns"))
            continue
        yield row_number, row


def _unreadable(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "is not UTF-8 text: save the file as UTF-8 CSV"
    if "field larger than field limit" in str(error):
        return f"holds a value longer than {MAX_CELL:,} characters"
    return "cannot be read as CSV (check the quotes on this row)"


def _header_problems(header: list[str]) -> list[Problem]:
    if not header:
        return [Problem(1, "-", "the file is empty: a header row is required")]
    problems = [
        Problem(1, _shorten(name), f"unknown column; the columns are: {', '.join(COLUMNS)}")
        for name in header
        if name not in COLUMNS
    ]
    for name in REQUIRED_COLUMNS:
        if name not in header:
            problems.append(Problem(1, name, "required column is missing"))
    duplicated = sorted({name for name in header if header.count(name) > 1})
    for name in duplicated:
        problems.append(Problem(1, name, "appears more than once in the header"))
    return problems


def worklog_row(task: Task, *, task_id: str, tools: list[str]) -> dict[str, str]:
    """A task's row of the worklog CSV, each cell as its column's kind writes it.

    The caller gives the ``task_id`` cell (the export gives analysts a pseudonym) and the tool
    names (read for many tasks at once); the other cells are the task's own values.
    """
    given = {"task_id": task_id, "tools": tools}
    return {
        name: write(given[name] if value_of is None else value_of(task))
        for name, value_of, write in _ROW_WRITERS
    }


# (name, how to read the value from a task or None when given, how to write it), per column:
# worklog_row runs once per exported task.
_ROW_WRITERS = tuple(
    (column.name, attrgetter(column.source) if column.source else None, column.kind.write)
    for column in COLUMN_SPECS
)


def write_worklog(rows: Iterable[dict[str, str]]) -> Iterator[str]:
    """Yield the worklog CSV text chunk by chunk (header first), for files and streaming."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(escape_values(row))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
