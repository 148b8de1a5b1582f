"""Durations as people type them, read in one place for the pages and the API.

Accepted, spaces and case aside: ``90`` (minutes), ``90m`` / ``90 min``, ``1.5h``, ``1h30`` /
``1h 30m`` / ``1 hr 30 min``, ``1:30`` (hours and minutes). A duration is a number of minutes
within the worklog's bounds (``uplift.worklog.bounds``).

A work session is given by two of three: its start, its end, its duration
(``session_bounds``).
"""

import re
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError

from uplift.worklog.bounds import MINUTES_RANGE_TEXT, minutes_problem

DURATION_FORMS_TEXT = "like 1h30, 90m, 1.5h, 1:30 or 90 (minutes)"

_NUMBER = r"\d+(?:[.,]\d+)?"
_HOURS = r"h|hr|hrs|hour|hours"
_MINUTES = r"m|min|mins|minute|minutes"
_FORMS = [
    # 90, 90m, 90 min
    re.compile(rf"(?P<minutes>{_NUMBER})\s*(?:{_MINUTES})?"),
    # 1.5h, 2 hours
    re.compile(rf"(?P<hours>{_NUMBER})\s*(?:{_HOURS})"),
    # 1h30, 1h 30m, 1 hr 30 min
    re.compile(rf"(?P<hours>\d+)\s*(?:{_HOURS})\s*(?P<part>\d+)\s*(?:{_MINUTES})?"),
    # 1:30
    re.compile(r"(?P<hours>\d+):(?P<part>\d\d)"),
]


def parse_duration(text: str) -> float:
    """The minutes that ``text`` means (see the module's forms); ValidationError otherwise."""
    value = " ".join(str(text).split()).lower()
    if not value:
        raise ValidationError("Enter a duration, " + DURATION_FORMS_TEXT + ".", code="required")
    if value.startswith("-"):
        raise ValidationError("A duration cannot be negative.", code="negative")
    for form in _FORMS:
        match = form.fullmatch(value)
        if match is None:
            continue
        groups = {k: v.replace(",", ".") for k, v in match.groupdict().items() if v is not None}
        part = int(groups.get("part", 0))
        if part >= 60:
            raise ValidationError(
                f"“{text}”: the minutes after the hours must be under 60 ({part} given).",
                code="minutes_over_59",
            )
        minutes = float(groups.get("minutes", 0)) + float(groups.get("hours", 0)) * 60 + part
        if minutes_problem(minutes):
            raise ValidationError(
                f"“{text}” is {minutes:,g} minutes: a duration must be {MINUTES_RANGE_TEXT}.",
                code="minutes_range",
            )
        return minutes
    raise ValidationError(
        f"“{text}” is not a duration: write it {DURATION_FORMS_TEXT}.", code="invalid"
    )


def format_duration(minutes: float | None) -> str:
    """Minutes as hours and minutes, to the nearest minute (halves up): 90 → "1:30",
    5 → "0:05"; under half a minute but not none, "<0:01"."""
    if minutes is None:
        return ""
    whole = int(minutes + 0.5)
    if whole == 0 and minutes > 0:
        return "<0:01"
    hours, rest = divmod(whole, 60)
    return f"{hours}:{rest:02d}"


def session_bounds(
    *, started_at: datetime | None, ended_at: datetime | None, minutes: float | None
) -> tuple[datetime | None, datetime | None]:
    """A session's start and end from two of its start, end and duration in minutes.

    With all three, the duration must agree with the start and the end (to the minute);
    ValidationError keyed by the field to correct. With fewer than two, what is given is
    returned: the session's rules then ask for the rest.
    """
    if minutes is None:
        return started_at, ended_at
    length = timedelta(minutes=minutes)
    if started_at is not None and ended_at is not None:
        apart = ended_at - started_at
        if abs(apart - length) >= timedelta(minutes=1):
            shown = format_duration(apart.total_seconds() / 60)
            raise ValidationError(
                {
                    "duration": f"The start and the end are {shown} apart, not "
                    f"{format_duration(minutes)}: leave the end or the duration empty."
                }
            )
        return started_at, ended_at
    if started_at is not None:
        return started_at, started_at + length
    if ended_at is not None:
        return ended_at - length, ended_at
    raise ValidationError({"started_at": "Give the start or the end, with the duration."})
