"""Cursor pagination: stable under inserts (a new request or audit event does not shift the
pages a client is walking), opaque, and constant-time to seek."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"


class BySequence(Cursor):
    """The audit log's pages, by its own gapless sequence. A class, not an `ordering` set on
    the paginator per call: the paginator keeps its parsed ordering between the page and its
    links, and resetting it to a string broke the next link (a 500 on every list)."""

    ordering = "-sequence"
