"""Database access from async code without pinning a connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")


async def database(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` on the request's thread and give its database connection back at once.

    Django keeps a request's connection open until the request ends, and a stream's request
    lasts hours: without this, every open stream would pin a database connection.
    """

    def run() -> T:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(run, thread_sensitive=True)()
