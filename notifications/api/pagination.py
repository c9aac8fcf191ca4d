"""Cursor pagination that refuses a forged cursor with a 404 instead of a 500.

DRF signs nothing in a cursor: it is base64 of ``o=<offset>&r=<reverse>&p=<position>``, and
DRF checks the offset but hands the position straight to the ordering field's filter, where
``p=abc`` or ``p=1e5`` raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

# The largest value a PositiveBigIntegerField holds (PostgreSQL's bigint).
MAX_POSITION = 2**63 - 1


class IntegerCursorPagination(CursorPagination):
    """Cursor pagination over an integer ordering field; any other position is invalid."""

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            position: Any = cursor.position
            if not _is_position(position):
                raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_position(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_POSITION
