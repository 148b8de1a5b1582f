"""Template filters of the researcher's pages."""

from datetime import timedelta

from django import template

from uplift import dates
from uplift.worklog.durations import format_duration

register = template.Library()


def _as_minutes(value) -> float | None:
    """A number of minutes, or a duration, as minutes; None when there is none."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        return value.total_seconds() / 60
    return float(value)


@register.filter
def minutes(value) -> str:
    """Minutes (a number or a duration) to one decimal, without a trailing ".0"."""
    value = _as_minutes(value)
    if value is None:
        return "—"
    if 0 < value < 0.1:
        return "<0.1"
    return f"{round(value, 1):g}"


@register.filter
def hours_minutes(value) -> str:
    """Minutes (a number or a duration) as h:mm (``durations.format_duration``); "—" if none."""
    value = _as_minutes(value)
    return "—" if value is None else format_duration(value)


# Dates and times in the one style of uplift/dates.py, in the reader's time zone: Django hands
# these filters aware datetimes already moved to the current time zone (expects_localtime).
for _filter in (
    dates.local_date,
    dates.local_datetime,
    dates.local_datetime_short,
    dates.local_day_short,
    dates.local_time,
):
    register.filter(_filter.__name__, _filter, expects_localtime=True)
