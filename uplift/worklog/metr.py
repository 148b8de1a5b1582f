"""Reads METR's published per-task data (``data_complete.csv``) as worklog task records.

METR's analysis, which the import follows: ``ai_treatment = 1`` means AI allowed; a missing
post-review time is filled with the mean post-review time of the task's own arm; the actual time
is the initial implementation time plus the post-review time.
"""

import csv
import math
from collections.abc import Iterable

from uplift.worklog.bounds import minutes_problem
from uplift.worklog.models import Task
from uplift.worklog.worklog_csv import Problem, TaskRecord, WorklogFileError

SOURCE = "metr-early-2025"
TEAM = "METR early-2025 study"
TASK_TYPE = "Open-source issue"
COLUMNS = (
    "dev_id",
    "issue_id",
    "predicted_time_no_ai",
    "predicted_time_ai_allowed",
    "prior_task_exposure_1_to_5",
    "external_resource_needs_1_to_3",
    "ai_treatment",
    "initial_implementation_time",
    "post_review_implementation_time",
)


def researcher_email(dev_id: str) -> str:
    return f"developer-{dev_id}@metr-early-2025.invalid"


def read_metr(stream: Iterable[str]) -> list[TaskRecord]:
    """Parse METR's CSV into task records; raise ``WorklogFileError`` listing every problem."""
    reader = csv.DictReader(stream)
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise WorklogFileError([Problem(1, name, "required column is missing") for name in missing])
    reader.fieldnames = header

    problems: list[Problem] = []
    parsed = []
    for values in reader:
        row = reader.line_num
        numbers = {}
        for column in (
            "predicted_time_no_ai",
            "predicted_time_ai_allowed",
            "ai_treatment",
            "initial_implementation_time",
            "post_review_implementation_time",
        ):
            raw = (values.get(column) or "").strip()
            if not raw and column == "post_review_implementation_time":
                numbers[column] = None
                continue
            try:
                numbers[column] = float(raw)
                if not math.isfinite(numbers[column]):
                    raise ValueError
            except ValueError:
                problems.append(Problem(row, column, f"must be a number, not {raw!r}"))
        if len(numbers) < 5:
            continue
        if numbers["ai_treatment"] not in (0.0, 1.0):
            problems.append(Problem(row, "ai_treatment", "must be 0 or 1"))
            continue
        for column in ("predicted_time_no_ai", "predicted_time_ai_allowed"):
            problem = minutes_problem(numbers[column])
            if problem:
                problems.append(Problem(row, column, problem))
        parsed.append((row, values["dev_id"].strip(), values["issue_id"].strip(), numbers))
    if problems:
        raise WorklogFileError(problems)

    arm_mean = {}
    for arm in (0.0, 1.0):
        observed = [
            n["post_review_implementation_time"]
            for _, _, _, n in parsed
            if n["ai_treatment"] == arm and n["post_review_implementation_time"] is not None
        ]
        arm_mean[arm] = sum(observed) / len(observed) if observed else 0.0

    records = []
    for row, dev_id, issue_id, n in parsed:
        imputed = n["post_review_implementation_time"] is None
        post_review = (
            arm_mean[n["ai_treatment"]] if imputed else n["post_review_implementation_time"]
        )
        actual = n["initial_implementation_time"] + post_review
        problem = minutes_problem(actual)
        if problem:
            problems.append(Problem(row, "initial_implementation_time", f"total time {problem}"))
            continue
        records.append(
            TaskRecord(
                row=row,
                task_id=issue_id,
                researcher=researcher_email(dev_id),
                team=TEAM,
                task_type=TASK_TYPE,
                title=f"Issue {issue_id}",
                assignment=Task.Assignment.RANDOMIZED.value,
                condition=Task.Condition.AI.value
                if n["ai_treatment"] == 1.0
                else Task.Condition.NO_AI.value,
                forecast_no_ai_minutes=n["predicted_time_no_ai"],
                forecast_ai_minutes=n["predicted_time_ai_allowed"],
                status=Task.Status.COMPLETED.value,
                actual_minutes=actual,
                actual_imputed=imputed,
            )
        )
    if problems:
        raise WorklogFileError(problems)
    return records
