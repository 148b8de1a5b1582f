"""The worklog CSV: one row per task, read by the importer and written by the export.

See the README section "Worklog CSV". Row numbers in problems are file line numbers: the header
is row 1, the first task is row 2.
"""

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from uplift.spreadsheet import escape_values, unescape_cell
from uplift.worklog.models import TITLE_MAX_LENGTH

COLUMNS = (
    "task_id",
    "researcher",
    "team",
    "task_type",
    "title",
    "assignment",
    "condition",
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


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
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


class WorklogFileError(Exception):
    """The file cannot be imported; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.report())

    def report(self, limit: int = 50) -> str:
        """One line per problem, the first ``limit`` of them, then how many more there are."""
        lines = [str(problem) for problem in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class _RowReader:
    """Reads the typed values of one row, collecting problems instead of stopping at the first."""

    def __init__(self, row_number: int, values: dict[str, str]):
        self.row = row_number
        self.values = values
        self.problems: list[Problem] = []

    def problem(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.row, column, message))

    def text(self, column: str, *, required: bool = False) -> str:
        value = unescape_cell((self.values.get(column) or "").strip())
        if required and not value:
            self.problem(column, "is required")
        return value

    def choice(self, column: str, choices: tuple[str, ...]) -> str:
        value = self.text(column, required=True)
        if value and value not in choices:
            self.problem(column, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def minutes(self, column: str, *, required: bool = False) -> float | None:
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            self.problem(column, f"must be a number of minutes, not {value!r}")
            return None
        if not math.isfinite(number) or number <= 0:
            self.problem(column, f"must be greater than 0, not {value!r}")
            return None
        return number

    def timestamp(self, column: str) -> datetime | None:
        value = self.text(column)
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problem(column, f"must be an ISO 8601 timestamp with offset, not {value!r}")
            return None
        if moment.tzinfo is None:
            self.problem(column, f"needs a UTC offset (for example +00:00): {value!r}")
            return None
        return moment


def _record_from_row(row_number: int, values: dict[str, str]) -> tuple[TaskRecord | None, list]:
    read = _RowReader(row_number, values)
    record = TaskRecord(
        row=row_number,
        task_id=read.text("task_id", required=True),
        researcher=read.text("researcher", required=True).lower(),
        team=read.text("team", required=True),
        task_type=read.text("task_type", required=True),
        title=read.text("title"),
        assignment=read.choice("assignment", ASSIGNMENTS),
        condition=read.choice("condition", CONDITIONS),
        forecast_no_ai_minutes=read.minutes("forecast_no_ai_minutes", required=True),
        forecast_ai_minutes=read.minutes("forecast_ai_minutes", required=True),
        status=read.choice("status", STATUSES),
        actual_minutes=read.minutes("actual_minutes"),
        started_at=read.timestamp("started_at"),
        completed_at=read.timestamp("completed_at"),
        perceived_other_minutes=read.minutes("perceived_other_minutes"),
        tools=_split_tools(read.text("tools")),
    )
    if record.researcher and "@" not in record.researcher:
        read.problem("researcher", f"must be an email address, not {record.researcher!r}")
    if len(record.title) > TITLE_MAX_LENGTH:
        read.problem("title", f"must be at most {TITLE_MAX_LENGTH} characters")
    if "\n" in record.title or "\r" in record.title:
        read.problem("title", "must be one line (it contains a line break)")
    if record.status == "completed":
        if record.actual_minutes is None and not values.get("actual_minutes", "").strip():
            read.problem("actual_minutes", "is required when status is completed")
        if record.completed_at is None and not values.get("completed_at", "").strip():
            read.problem("completed_at", "is required when status is completed")
    if record.started_at and record.completed_at and record.completed_at < record.started_at:
        read.problem("completed_at", "is before started_at")
    return (None if read.problems else record), read.problems


def _split_tools(value: str) -> list[str]:
    names = [name.strip() for name in value.split(TOOL_SEPARATOR)]
    return sorted({name for name in names if name})


def read_worklog(stream: Iterable[str]) -> list[TaskRecord]:
    """Parse and validate a worklog CSV; raise ``WorklogFileError`` listing every problem."""
    reader = csv.DictReader(stream)
    header = [name.strip() for name in (reader.fieldnames or [])]
    problems = _header_problems(header)
    if problems:
        raise WorklogFileError(problems)
    reader.fieldnames = header
    records: list[TaskRecord] = []
    first_row_of: dict[str, int] = {}
    for values in reader:
        row_number = reader.line_num
        if None in values:
            problems.append(Problem(row_number, "-", "has more values than the header has columns"))
            continue
        record, row_problems = _record_from_row(row_number, values)
        problems.extend(row_problems)
        if record is None:
            continue
        if record.task_id in first_row_of:
            problems.append(
                Problem(
                    row_number,
                    "task_id",
                    f"{record.task_id!r} already appears on row {first_row_of[record.task_id]}",
                )
            )
            continue
        first_row_of[record.task_id] = row_number
        records.append(record)
    if problems:
        raise WorklogFileError(problems)
    return records


def _header_problems(header: list[str]) -> list[Problem]:
    if not header:
        return [Problem(1, "-", "the file is empty: a header row is required")]
    problems = [
        Problem(1, name, f"unknown column; the columns are: {', '.join(COLUMNS)}")
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
