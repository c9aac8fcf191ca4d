"""The doorbell: messages to a user's live streams over the channel layer.

The database is the log; these messages only say "look now". A lost one delays a
notification (the stream fills the gap from the database) and never loses it, so publishing
logs failures instead of raising them into the code that stored the rows.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications.conf import conf

logger = logging.getLogger(__name__)

# Message types on a user's group. Streams dispatch on these.
NOTIFICATION = "notifications.notification"  # {"seq": int, "json": str}
READ = "notifications.read"  # {"ids": [...], "unread_count": int, ...}
REVOKE = "notifications.revoke"  # close every stream of the user
EVICT = "notifications.evict"  # {"connection": str}: close that one stream

# Concurrent channel-layer calls per process. channels-redis shares one connection pool
# (100 connections) per process and raises when a burst of calls needs more.
_LAYER_CONCURRENCY = 64
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def layer_gate() -> asyncio.Semaphore:
    """Return this event loop's bound on concurrent channel-layer calls; hold it per call."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(_LAYER_CONCURRENCY)
    return gate


def user_group(user_id: int) -> str:
    """Return the channel-layer group every stream of ``user_id`` joins."""
    return f"notifications.user.{user_id}"


def message(kind: str, **fields: Any) -> dict[str, Any]:
    """Build a channel-layer message of one of the types above."""
    return {"type": kind, **fields}


async def send(messages: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Send each ``(user_id, message)`` to that user's group, a bounded number at a time."""
    layer = get_channel_layer()
    if layer is None:
        return
    gate = layer_gate()

    async def send_one(user_id: int, msg: dict[str, Any]) -> None:
        async with gate:
            await layer.group_send(user_group(user_id), msg)

    async with asyncio.timeout(conf.PUBLISH_TIMEOUT_SECONDS):
        await asyncio.gather(*(send_one(user_id, msg) for user_id, msg in messages))


def publish(messages: list[tuple[int, dict[str, Any]]]) -> None:
    """Send ``messages`` from sync code; log and swallow any failure of the layer."""
    if not messages:
        return
    try:
        async_to_sync(send)(messages)
    except Exception:
        logger.warning(
            "Publishing %d message(s) to the channel layer failed; streams will catch up "
            "from the database.",
            len(messages),
            exc_info=True,
        )
