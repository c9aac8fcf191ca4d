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

from notifications import messages
from notifications.conf import conf

logger = logging.getLogger(__name__)

Addressed = tuple[int, messages.Message]  # (user_id, message for that user's streams)


async def send(addressed: Sequence[Addressed]) -> None:
    """Send each ``(user_id, message)`` to the hubs of all server processes, in batches."""
    layer = get_channel_layer()
    if layer is None:
        return
    size = messages.BATCH_SIZE
    async with asyncio.timeout(conf.PUBLISH_TIMEOUT_SECONDS):
        for start in range(0, len(addressed), size):
            items = [[user_id, message] for user_id, message in addressed[start : start + size]]
            await layer.group_send(messages.STREAMS_GROUP, messages.batch(items))


def publish(addressed: list[Addressed]) -> None:
    """Send ``addressed`` messages from sync code; log and swallow any failure of the layer."""
    if not addressed:
        return
    try:
        if _server_loop() is not None:
            # In a request of an ASGI server: publish from its event loop, where the
            # in-memory layer's streams listen and the layer's connections already live.
            async_to_sync(send)(addressed)
        else:
            _Publisher.get().run(send(addressed))
    except Exception:
        logger.warning(
            "Publishing %d message(s) to the channel layer failed; streams will catch up "
            "from the database.",
            len(addressed),
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
