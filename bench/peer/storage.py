"""django-eventstream's database storage, handing its connection back after each read."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django_eventstream.storage import DjangoModelStorage


class PooledModelStorage(DjangoModelStorage):
    """:class:`DjangoModelStorage`, its reads unchanged, their connection returned to the pool.

    Each stream of the peer reads in a thread of its own, which would keep its connection for
    the stream's whole life: 1,000 streams would need 1,000 connections, ten times
    PostgreSQL's default ``max_connections``. Returning it after each read (cheap, into the
    pool) is what a site of that size must do, and what the product's streams do.
    """

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> Any:
        try:
            return super().get_events(channel, last_id, limit)
        finally:
            connection.close()

    def get_current_id(self, channel: str) -> Any:
        try:
            return super().get_current_id(channel)
        finally:
            connection.close()
