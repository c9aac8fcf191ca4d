"""Database access from async code without a thread or a connection per stream."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")

# Shared by every stream of the process. Django would otherwise run a request's sync calls
# on a thread of its own, and a stream's request lasts hours: one idle thread per stream.
# Four threads are enough for short reads, and they never hold a connection between calls.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notifications-db")


async def on_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` on the stream threads and give its database connection back at once.

    Django keeps a thread's connection open until its request ends, and a stream's request
    lasts hours: without closing, every open stream would pin a database connection.
    """

    def run() -> T:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(run, thread_sensitive=False, executor=_executor)()
