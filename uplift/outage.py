"""A clean 503 while the database cannot be reached, instead of a server error.

When PostgreSQL restarts or the network to it drops, a view (or the session and user lookups
it triggers) raises ``OperationalError`` or ``InterfaceError``. People then get a plain page
saying the service is temporarily unavailable, API clients a JSON body, both with
``Retry-After``. Django reconnects by itself once the database answers again
(``CONN_HEALTH_CHECKS``), so the same server process recovers without a restart.
"""

import logging
import re
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
MESSAGE = "The service is temporarily unavailable. Try again in a minute."
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")
_PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        return database_unavailable(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the 503 for a database error raised outside a view, else the 500 page.

    A middleware's work after the view (saving the session, say) is not seen by
    ``process_exception``; Django calls this handler inside its ``except`` block instead.
    """
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        return database_unavailable(request, error)
    return defaults.server_error(request)


def database_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    """Log the outage once, as a warning without passwords, and answer the 503."""
    logger.warning(
        "Database unavailable: answered 503 to %s %s (%s: %s)",
        request.method,
        request.path,
        type(error).__name__,
        without_passwords(str(error)),
    )
    response = database_unavailable_response(request)
    # Logged above, as a warning: django.request would log it again as an error.
    response._has_been_logged = True
    return response


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON for the API and clients that prefer it, else the plain page."""
    wants_json = request.path.startswith("/api/") or (
        request.get_preferred_type(["text/html", "application/json"]) == "application/json"
    )
    if wants_json:
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        # Rendered without the request: the page reads no session and no database.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def without_passwords(text: str) -> str:
    """``text`` with database passwords masked, whether configured, in a URL or a DSN."""
    for database in settings.DATABASES.values():
        if database.get("PASSWORD"):
            text = text.replace(database["PASSWORD"], "***")
    text = _PASSWORD_IN_URL.sub(r"\1***@", text)
    return _PASSWORD_PARAMETER.sub(r"\1***", text)
