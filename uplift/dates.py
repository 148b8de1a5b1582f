"""The one way pages, messages and exports written for people show a date or a time.

A date reads "Fri 4 Dec 2026", a date and time "Fri 4 Dec 2026, 14:05", always in the time
zone of the person reading (``uplift.timezones``, from the browser's ``tz`` cookie). Where a
table's column already gives the year, the short forms drop it in the same style: "Fri 4 Dec,
14:05", "Fri 4", "14:05". Templates use the filters of the same names
(``uplift/worklog/templatetags/worklog.py``); an ad-hoc ``|date:"..."`` in a template is refused
by tests/test_vocabulary.py. Machine formats stay ISO 8601 (the API, the CSV files, the
``datetime`` attributes of ``<time>`` and dates in URLs).
"""

from datetime import date, datetime

from django.utils import dateformat, timezone

DATE = "D j M Y"
DATETIME = "D j M Y, H:i"
DATETIME_SHORT = "D j M, H:i"
DAY_SHORT = "D j"
TIME = "H:i"


def _local(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def _format(value: date | datetime | None, pattern: str) -> str:
    return "" if value is None or value == "" else dateformat.format(_local(value), pattern)


def local_date(value: date | datetime | None) -> str:
    """ "Fri 4 Dec 2026": a date, or the day of a moment in the current time zone."""
    return _format(value, DATE)


def local_datetime(value: datetime | None) -> str:
    """ "Fri 4 Dec 2026, 14:05", in the current time zone."""
    return _format(value, DATETIME)


def local_datetime_short(value: datetime | None) -> str:
    """ "Fri 4 Dec, 14:05": in a table whose rows are all of a known, recent period."""
    return _format(value, DATETIME_SHORT)


def local_day_short(value: date | datetime | None) -> str:
    """ "Fri 4": a day in a table whose heading gives the month and year."""
    return _format(value, DAY_SHORT)


def local_time(value: datetime | None) -> str:
    """ "14:05": the time of a moment in a table whose heading gives the day."""
    return _format(value, TIME)
