"""Cursor pagination: stable pages over millions of rows without OFFSET scans."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first by primary key (indexed, unique); ``page_size`` up to 1000."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
