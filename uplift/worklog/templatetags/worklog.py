"""Template filters of the researcher's pages."""

from datetime import timedelta

from django import template

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
    """Minutes (a number or a duration) as h:mm, rounded to the minute: 90.4 -> "1:30"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, timedelta):
        value = value.total_seconds() / 60
    whole = int(float(value) + 0.5)
    if whole == 0 and float(value) > 0:
        return "<0:01"
    return f"{whole // 60}:{whole % 60:02d}"
