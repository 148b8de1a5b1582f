"""Cursor pagination: stable pages over millions of rows without OFFSET scans."""

from datetime import datetime, timedelta

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

INVALID_CURSOR = "Invalid cursor."
MAX_OFFSET = timedelta(hours=15, minutes=59)


class IdCursorPagination(CursorPagination):
    """Newest first by primary key (indexed, unique); ``page_size`` up to 1000.

    A cursor is only ever one the API handed out: any other (undecodable, or holding a
    position that is not a value of the ordering field) is answered 400 "Invalid cursor.".
    """

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_cursor_message = INVALID_CURSOR

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None

    def paginate_queryset(self, queryset, request, view=None):
        cursor = self.decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            ordering = self.get_ordering(request, queryset, view)
            self._check_position(queryset.model, ordering[0].lstrip("-"), cursor.position)
        return super().paginate_queryset(queryset, request, view)

    def _check_position(self, model, name: str, position: str) -> None:
        # The position is compared with the ordering field in SQL: it must be one of its values.
        try:
            value = model._meta.get_field(name).to_python(position)
        except (FieldDoesNotExist, DjangoValidationError):
            value = None
        # PostgreSQL refuses NUL in text and UTC offsets beyond ±15:59.
        offset = value.utcoffset() if isinstance(value, datetime) else None
        if value is None or "\x00" in position or (offset is not None and abs(offset) > MAX_OFFSET):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
