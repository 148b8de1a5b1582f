"""The values the worklog accepts, defined once for the forms, the API, the importer and the
database (whose CHECK constraints are built from the same numbers).

- **Minutes** (forecasts, actual and perceived times, tool minutes, session lengths): from
  ``MIN_MINUTES`` (6 seconds) to ``MAX_MINUTES`` (30 days). Anything outside is a typing or
  unit mistake, and would bend every estimate that uses its logarithm.
- **Moments** (started, completed, randomized, session start and end): from ``EARLIEST``
  (1 January 2000, UTC) to one day after now. The database itself refuses anything before
  ``EARLIEST`` or from ``DB_LATEST`` on, which keeps every stored date readable.
- **UTC offsets**: between -12:00 and +14:00, the offsets in use on Earth.
- **Names** of teams, task types and tools: trimmed, inner spaces collapsed, compared without
  regard to case (the database keeps them unique that way), at most ``NAME_MAX_LENGTH``.

Forecasts within the range can still be a typo (1200 for 120), and they are locked once the
condition is drawn. ``forecast_doubts`` is the rule planning asks the researcher to confirm
before the draw (docs/product.md, "Plausible forecasts"): one forecast more than
``FORECAST_MAX_RATIO`` times the other, or either longer than ``WORKING_DAY_MINUTES``. Both
limits are themselves plausible.
"""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from uplift import dates

MIN_MINUTES = 0.1
MAX_MINUTES = 43_200  # 30 days
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DB_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
FUTURE_ALLOWANCE = timedelta(days=1)
MIN_OFFSET = timedelta(hours=-12)
MAX_OFFSET = timedelta(hours=14)
NAME_MAX_LENGTH = 120

FORECAST_MAX_RATIO = 4
WORKING_DAY_MINUTES = 480

MINUTES_RANGE_TEXT = (
    f"between {MIN_MINUTES:g} and {MAX_MINUTES:,} minutes ({MAX_MINUTES // (24 * 60)} days)"
)
MOMENT_WINDOW_TEXT = (
    "From 2000-01-01 to one day after now, with a UTC offset between -12:00 and +14:00."
)


def minutes_problem(value: float | None) -> str | None:
    """Why ``value`` is not an acceptable number of minutes, or None if it is."""
    if value is None:
        return None
    if not MIN_MINUTES <= value <= MAX_MINUTES:  # also refuses NaN
        return f"must be {MINUTES_RANGE_TEXT}"
    return None


FORECAST_RULE_TEXT = (
    f"Forecasts where one is more than {FORECAST_MAX_RATIO} times the other, or either is over "
    f"a working day ({WORKING_DAY_MINUTES} minutes), are checked with you before the draw."
)


def forecast_doubts(no_ai: float, ai: float) -> list[str]:
    """Why a pair of forecasts looks like a typo, worded for people; empty if it does not."""
    named = [(no_ai, f"{no_ai:,g} minutes without AI"), (ai, f"{ai:,g} minutes with AI")]
    (low, low_text), (high, high_text) = sorted(named, key=lambda pair: pair[0])
    doubts = []
    if high > FORECAST_MAX_RATIO * low:
        doubts.append(f"{high_text} is more than {FORECAST_MAX_RATIO} times {low_text}")
    doubts += [
        f"{text} is more than a working day ({WORKING_DAY_MINUTES} minutes)"
        for value, text in named
        if value > WORKING_DAY_MINUTES
    ]
    return doubts


def latest_moment(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + FUTURE_ALLOWANCE


def moment_problem(value: datetime | None, *, now: datetime | None = None) -> str | None:
    """Why ``value`` is not an acceptable date and time, or None if it is."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is not None and not MIN_OFFSET <= offset <= MAX_OFFSET:
        return "has a UTC offset outside -12:00 to +14:00"
    try:
        too_early = value < EARLIEST
        too_late = value > latest_moment(now)
    except OverflowError:  # a year 1 or 9999 moment with an offset that leaves the calendar
        too_early, too_late = value.year < 2000, value.year >= 2000
    if too_early:
        return f"must be on or after {dates.local_date(EARLIEST.date())}"
    if too_late:
        return "cannot be more than a day in the future"
    return None


def validate_minutes(value: float | None) -> None:
    """Django validator (model fields, forms, API serializers) for a number of minutes."""
    problem = minutes_problem(value)
    if problem:
        raise ValidationError(f"Minutes {problem}.", code="minutes_range")


def validate_moment(value: datetime | None) -> None:
    """Django validator for a date and time within the accepted window."""
    problem = moment_problem(value)
    if problem:
        raise ValidationError(f"The date {problem}.", code="moment_range")


def minutes_in_range(field: str, *, nullable: bool) -> Q:
    """The CHECK condition for a minutes column."""
    condition = Q(**{f"{field}__gte": MIN_MINUTES}) & Q(**{f"{field}__lte": MAX_MINUTES})
    return Q(**{f"{field}__isnull": True}) | condition if nullable else condition


def moment_in_range(field: str) -> Q:
    """The CHECK condition for a nullable date-and-time column."""
    return Q(**{f"{field}__isnull": True}) | (
        Q(**{f"{field}__gte": EARLIEST}) & Q(**{f"{field}__lt": DB_LATEST})
    )


def normalize_name(value: str) -> str:
    """A name as it is stored: trimmed, runs of white space folded to one space."""
    return " ".join(value.split())


def name_constraints(prefix: str) -> list:
    """A catalog name (team, task type, tool) is stored trimmed and is unique whatever its case."""
    return [
        models.UniqueConstraint(
            Lower("name"),
            name=f"{prefix}_name_unique_any_case",
            violation_error_message="That name exists already (names ignore case).",
        ),
        models.CheckConstraint(
            condition=Q(name=Trim("name")) & ~Q(name=""), name=f"{prefix}_name_trimmed"
        ),
    ]
