"""Cursor pagination: stable under inserts (a new request or audit event does not shift the
pages a client is walking), opaque, and constant-time to seek."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"


class SequenceCursor(Cursor):
    """The audit log: by its own sequence, newest first."""

    ordering = "-sequence"
