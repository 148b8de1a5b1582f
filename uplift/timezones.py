"""Pages show times in the reader's time zone: the browser's, from the ``tz`` cookie.

static/js sets the cookie to the browser's IANA zone name (``Europe/Paris``). Without it, or
with a name that is not a zone, times are in ``settings.TIME_ZONE``. Only the pages people read
take it (the researcher's pages, the dashboards, the API tokens page): the API's values stay
ISO 8601 in UTC and the estimates' month boundaries stay those of ``settings.TIME_ZONE``.
"""

import functools
import zoneinfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


def in_reader_time_zone(view):
    """The view runs in the zone of the ``tz`` cookie, and the next request starts afresh."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            timezone.activate(zoneinfo.ZoneInfo(request.COOKIES.get("tz", "")))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapped
