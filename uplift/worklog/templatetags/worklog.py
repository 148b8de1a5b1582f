"""Template filters of the researcher's pages."""

from datetime import timedelta

from django import template
from django.utils.safestring import mark_safe

from uplift import dates
from uplift.forms_renderer import text as _text
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


@register.simple_tag
def form_field(field, label_hidden=False):
    """One form field as worklog/_field.html renders it (the same characters, without its
    comments' blank lines; tests/test_forms_renderer.py compares the two), in Python: the
    task page shows fifteen fields, and including a template for each cost a tenth of it."""
    checkbox = field.widget_type == "checkbox"
    errors = field.errors
    classes = "field"
    if errors:
        classes += " has-error"
    if checkbox:
        classes += " field-check"
    if label_hidden:
        classes += " label-hidden"
    control, label = str(field), field.label_tag()
    body = f"{control} {label}" if checkbox else f"{label}\n  {control}"
    help_html = ""
    if field.help_text:
        auto_id = _text(field.auto_id)
        help_html = f'<div class="help" id="{auto_id}_helptext">{_text(field.help_text)}</div>'
    error_html = ""
    if errors:
        items = "".join(f'<p class="field-error">{_text(error)}</p>' for error in errors)
        error_html = f'<div id="{_text(field.auto_id)}_error">{items}</div>'
    return mark_safe(  # noqa: S308 (every value above is escaped or rendered by Django)
        f'<div class="{classes}">\n  \n  {body}\n  \n  {help_html}\n  {error_html}\n</div>\n'
    )
