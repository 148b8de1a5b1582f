"""The worklog CSV: one row per task, read by the importer and written by the export.

Its format is docs/worklog-csv.md, whose column table lists `COLUMNS` (a test holds them
equal). Rows in problems are numbered as a spreadsheet shows them: the header is row 1, the
first task row 2, a line break inside a quoted value starts no new row, and a blank line is a
row (skipped, but counted).
"""

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from uplift.spreadsheet import escape_values, unescape_cell
from uplift.worklog.bounds import (
    NAME_MAX_LENGTH,
    minutes_problem,
    moment_problem,
    normalize_name,
)
from uplift.worklog.models import TITLE_MAX_LENGTH

COLUMNS = (
    "task_id",
    "researcher",
    "team",
    "task_type",
    "title",
    "assignment",
    "condition",
    "allocation_ai",
    "forecast_no_ai_minutes",
    "forecast_ai_minutes",
    "status",
    "actual_minutes",
    "started_at",
    "completed_at",
    "perceived_other_minutes",
    "tools",
)
REQUIRED_COLUMNS = (
    "task_id",
    "researcher",
    "team",
    "task_type",
    "assignment",
    "condition",
    "forecast_no_ai_minutes",
    "forecast_ai_minutes",
    "status",
)
ASSIGNMENTS = ("randomized", "self_selected")
CONDITIONS = ("ai", "no_ai")
STATUSES = ("planned", "in_progress", "completed", "abandoned")
TOOL_SEPARATOR = ";"
PROBABILITY_RULE = "must be a probability strictly between 0 and 1"

# The longest value each text column holds (the database's column lengths).
MAX_LENGTHS = {
    "task_id": 120,
    "researcher": 254,
    "team": NAME_MAX_LENGTH,
    "task_type": NAME_MAX_LENGTH,
    "title": TITLE_MAX_LENGTH,
}
NAME_COLUMNS = ("team", "task_type")
# A file holds at most this many task rows: larger ones are refused, to be split.
MAX_ROWS = 200_000
# A refused file lists this many problems, then says how many there are in all.
MAX_PROBLEMS_LISTED = 100
# The longest cell the reader accepts (Python's csv default): far above any column's length.
MAX_CELL = csv.field_size_limit()


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

    def text(self, column: str, *, required: bool = False) -> str:
        value = unescape_cell((self.values.get(column) or "").strip())
        if "\x00" in value:
            self.problem(column, "contains a NUL character")
            return ""
        if column in NAME_COLUMNS:
            value = normalize_name(value)
        limit = MAX_LENGTHS.get(column)
        if limit and len(value) > limit:
            self.problem(column, f"must be at most {limit} characters, not {len(value)}")
            return ""
        if required and not value:
            self.problem(column, "is required")
        return value

    def choice(self, column: str, choices: tuple[str, ...]) -> str:
        value = self.text(column, required=True)
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

    def tools(self) -> list[str]:
        names = _split_tools(self.text("tools"))
        for name in names:
            if len(name) > NAME_MAX_LENGTH:
                self.problem("tools", f"a tool's name must be at most {NAME_MAX_LENGTH} characters")
                return []
        return names


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def _record_from_row(
    row_number: int, values: dict[str, str], now: datetime
) -> tuple[TaskRecord | None, list]:
    read = _RowReader(row_number, values, now)
    record = TaskRecord(
        row=row_number,
        task_id=read.text("task_id", required=True),
        researcher=read.text("researcher", required=True).lower(),
        team=read.text("team", required=True),
        task_type=read.text("task_type", required=True),
        title=read.text("title"),
        assignment=read.choice("assignment", ASSIGNMENTS),
        condition=read.choice("condition", CONDITIONS),
        allocation_ai=read.probability("allocation_ai"),
        forecast_no_ai_minutes=read.minutes("forecast_no_ai_minutes", required=True),
        forecast_ai_minutes=read.minutes("forecast_ai_minutes", required=True),
        status=read.choice("status", STATUSES),
        actual_minutes=read.minutes("actual_minutes"),
        started_at=read.timestamp("started_at"),
        completed_at=read.timestamp("completed_at"),
        perceived_other_minutes=read.minutes("perceived_other_minutes"),
        tools=read.tools(),
    )
    if record.researcher:
        try:
            validate_email(record.researcher)
        except ValidationError:
            read.problem("researcher", f"must be an email address, not {record.researcher!r}")
    if record.assignment == "self_selected" and record.allocation_ai is not None:
        read.problem("allocation_ai", "must be empty: only randomized tasks have an allocation")
    if "\n" in record.title or "\r" in record.title:
        read.problem("title", "must be one line (it contains a line break)")
    _check_status(read, record)
    if record.started_at and record.completed_at and record.completed_at < record.started_at:
        read.problem("completed_at", "is before started_at")
    return (None if read.problems else record), read.problems


def _given(values: dict[str, str], column: str) -> bool:
    return bool((values.get(column) or "").strip())


def _check_status(read: _RowReader, record: TaskRecord) -> None:
    """The values a row may hold follow from its status."""
    status, values = record.status, read.values
    if status == "completed":
        for column in ("actual_minutes", "completed_at"):
            if not _given(values, column):
                read.problem(column, "is required when status is completed")
        return
    if not status:
        return
    refused = ["completed_at", "perceived_other_minutes"]
    if status == "planned":
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
    """
    problems = Problems()
    reader = csv.DictReader(stream)
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except (csv.Error, UnicodeDecodeError) as error:
        raise WorklogFileError([Problem(1, "-", _unreadable(error))]) from None
    for problem in _header_problems(header):
        problems.add(problem)
    if problems:
        raise problems.error()
    reader.fieldnames = header
    records: list[TaskRecord] = []
    first_row_of: dict[str, int] = {}
    now = timezone.now()
    row_number = 1
    # The underlying reader, not DictReader's iteration: DictReader skips blank lines, and a
    # spreadsheet counts them, so problems would name the wrong row after one.
    rows = reader.reader
    while True:
        row_number += 1
        try:
            cells = next(rows)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as error:
            # The reader cannot find where this row ends: nothing after it can be trusted.
            problems.add(Problem(row_number, "-", _unreadable(error)))
            break
        if not cells:
            continue  # a blank line: counted, not imported
        values = dict(zip(header, cells, strict=False))
        if len(cells) > len(header):
            values[None] = cells[len(header) :]
        if row_number - 1 > MAX_ROWS:
            problems.add(
                Problem(
                    row_number,
                    "-",
                    f"the file has more than {MAX_ROWS:,} task rows: split it into smaller files",
                )
            )
            break
        if None in values:
            problems.add(Problem(row_number, "-", "has more values than the header has columns"))
            continue
        record, row_problems = _record_from_row(row_number, values, now)
        for problem in row_problems:
            problems.add(problem)
        if record is None:
            continue
        if record.task_id in first_row_of:
            problems.add(
                Problem(
                    row_number,
                    "task_id",
                    f"{record.task_id!r} already appears on row {first_row_of[record.task_id]}",
                )
            )
            continue
        first_row_of[record.task_id] = row_number
        if not problems:
            records.append(record)
    if problems:
        raise problems.error()
    return records


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


def format_minutes(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_probability(value: float | None) -> str:
    """An allocation as the shortest text that reads back exactly (empty when there is none)."""
    return "" if value is None else repr(float(value))


def format_timestamp(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


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
