"""Every API error as JSON with a message per field; no input reaches a 500.

DRF already answers its own exceptions as ``{"field": ["message"]}`` or ``{"detail": "..."}``.
The services raise Django's ``ValidationError``, which DRF's own ``get_error_detail`` reads into
the same shape (messages about no one field under ``detail``), and the database may refuse a
row with an ``IntegrityError`` or ``DataError``: those are the client's input, so they answer
400 too. Any other exception (a ``ValueError`` included) is a fault of ours, not of the input:
it is logged and answered 500 by the normal path, never with its internal text. Input that could
raise one is refused where it is read, in words the client understands.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler

from uplift.worklog.worklog_csv import WorklogFileError


def worklog_file_problems(error: WorklogFileError) -> dict:
    """A refused worklog CSV: the report, the first problems by row (a number) and column, and
    how many problems there are in all."""
    return {
        "detail": error.report(),
        "problem_count": error.total,
        "problems": [
            {"row": p.row, "column": p.column, "message": p.message} for p in error.problems
        ],
    }


def api_exception_handler(exc, context):
    if isinstance(exc, WorklogFileError):
        # Answered directly: a ValidationError would turn the row numbers into strings.
        return Response(worklog_file_problems(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        # Field -> messages; a list of messages about no one field goes under "detail".
        detail = get_error_detail(exc)
        exc = exceptions.ValidationError(detail if isinstance(detail, dict) else {"detail": detail})
    elif isinstance(exc, IntegrityError | DataError):
        # The database's constraints are the last check; their message names the rule broken.
        exc = exceptions.ValidationError({"detail": ["The database refused this change."]})
    return exception_handler(exc, context)
