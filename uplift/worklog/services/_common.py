"""Helpers shared by the worklog services."""

from django.core.exceptions import ValidationError

from uplift.worklog.bounds import minutes_problem
from uplift.worklog.worklog_csv import format_minutes


def shown(value) -> str:
    """A value as refusals and the audit log show it: minutes as the CSV writes them."""
    return format_minutes(value) if isinstance(value, float) else repr(value)


def check_minutes(**values: float | None) -> None:
    """Refuse minutes outside the accepted range, naming each field."""
    errors = {}
    for name, value in values.items():
        problem = minutes_problem(value)
        if problem:
            errors[name] = f"Minutes {problem}."
    if errors:
        raise ValidationError(errors)
