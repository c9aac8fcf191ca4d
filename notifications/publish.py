"""The doorbell: messages to a user's live streams over the channel layer.

The database is the log; these messages only say "look now". A lost one delays a
notification (the stream fills the gap from the database) and never loses it, so publishing
logs failures instead of raising them into the code that stored the rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

from notifications import metrics
from notifications.conf import conf

logger = logging.getLogger(__name__)

# Every server process's hub joins this group; publishers send it batches of
# ``[user_id, message]`` items, and each hub hands the messages to that user's streams.
STREAMS_GROUP = "notifications.streams"
BATCH = "notifications.batch"  # {"items": [[user_id, message], ...]}
# Items per channel-layer message: a broadcast to many users is a few messages, not one each.
BATCH_SIZE = 500

# Message types for one user's streams. Streams dispatch on these.
NOTIFICATION = "notifications.notification"  # {"seq": int, "json": str}
READ = "notifications.read"  # {"ids": [...], "unread_count": int, ...}
REVOKE = "notifications.revoke"  # close every stream of the user
EVICT = "notifications.evict"  # {"connection": str}: close that one stream


def message(kind: str, **fields: Any) -> dict[str, Any]:
    """Build a channel-layer message of one of the types above."""
    return {"type": kind, **fields}


async def send(messages: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Send each ``(user_id, message)`` to the hubs of all server processes, in batches."""
    layer = get_channel_layer()
    if layer is None:
        return
    async with asyncio.timeout(conf.PUBLISH_TIMEOUT_SECONDS):
        for start in range(0, len(messages), BATCH_SIZE):
            items = [[user_id, msg] for user_id, msg in messages[start : start + BATCH_SIZE]]
            await layer.group_send(STREAMS_GROUP, {"type": BATCH, "items": items})


def publish(messages: list[tuple[int, dict[str, Any]]]) -> None:
    """Send ``messages`` from sync code; log and swallow any failure of the layer."""
    if not messages:
        return
    metrics.committed(messages)
    try:
        if _server_loop() is not None:
            # In a request of an ASGI server: publish from its event loop, where the
            # in-memory layer's streams listen and the layer's connections already live.
            async_to_sync(send)(messages)
        else:
            _Publisher.get().run(send(messages))
    except Exception:
        logger.warning(
            "Publishing %d message(s) to the channel layer failed; streams will catch up "
            "from the database.",
            len(messages),
            exc_info=True,
        )


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """Return the event loop of the ASGI server this sync thread works for, if any.

    asgiref records it on the threads it runs sync code in; ``async_to_sync`` uses the same.
    """
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)


class _Publisher:
    """A long-lived event loop on a thread of its own, for processes without one.

    ``async_to_sync`` outside a server starts a new event loop per call, and channels-redis
    a new connection pool per loop: a management command or worker sending notifications
    one by one would connect to Redis for every one of them.
    """

    _instance: _Publisher | None = None
    _pid = 0
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(
            target=self.loop.run_forever, name="notifications-publisher", daemon=True
        ).start()

    @classmethod
    def get(cls) -> _Publisher:
        with cls._lock:
            if cls._instance is None or os.getpid() != cls._pid:
                cls._instance, cls._pid = cls(), os.getpid()
            return cls._instance

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        future.result(timeout=conf.PUBLISH_TIMEOUT_SECONDS + 1)
