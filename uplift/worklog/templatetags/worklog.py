"""Template filters of the researcher's pages."""

from datetime import timedelta

from django import template

from uplift.worklog.durations import format_duration

register = template.Library()


@register.filter
def minutes(value) -> str:
    """Minutes (a number or a duration) to one decimal, without a trailing ".0"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, timedelta):
        value = value.total_seconds() / 60
    value = float(value)
    if 0 < value < 0.1:
        return "<0.1"
    return f"{round(value, 1):g}"


@register.filter
def hours_minutes(value) -> str:
    """Minutes (a number or a duration) as h:mm (``durations.format_duration``); "—" if none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, timedelta):
        value = value.total_seconds() / 60
    return format_duration(float(value))
