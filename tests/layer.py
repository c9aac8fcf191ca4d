"""Listen on the channel layer as a server process's hub does, to see what was published
for one user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from channels.layers import get_channel_layer

from notifications.delivery.messages import BATCH, NOTIFICATION, STREAMS_GROUP, route

Message = dict[str, Any]


class Listener:
    def __init__(self, layer: Any, channel: str, user_id: int) -> None:
        self.layer = layer
        self.channel = channel
        self.user_id = user_id
        self.pending: list[Message] = []

    async def receive(self) -> Message:
        """Return the next message published for this listener's user."""
        while not self.pending:
            batch = await self.layer.receive(self.channel)
            assert batch["type"] == BATCH
            self.pending += [msg for user_id, msg in batch["items"] if user_id == self.user_id]
        return self.pending.pop(0)

    async def until(self, matches: Callable[[Message], bool], timeout: float = 5) -> list[Message]:
        """Return every message received up to and including the first that ``matches``.

        Messages that do not match are kept, not dropped, so a test can assert that nothing
        it did not expect arrived before the one it waited for.
        """
        received: list[Message] = []
        async with asyncio.timeout(timeout):
            while True:
                received.append(await self.receive())
                if matches(received[-1]):
                    return received


def payload(message: Message) -> dict[str, Any] | None:
    """Return the notification a message carries, or None for other message types."""
    if message.get("type") != NOTIFICATION:
        return None
    payload: dict[str, Any] = message["payload"]
    return payload


def titled(title: str) -> Callable[[Message], bool]:
    """Match the notification message with ``title``."""
    return lambda message: (payload(message) or {}).get("title") == title


@asynccontextmanager
async def listening(user_id: int) -> AsyncIterator[Listener]:
    """Join the streams' group and ``user_id``'s route on the default channel layer for the
    duration of the block, and hear what is published for ``user_id``."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    groups = (STREAMS_GROUP, route(user_id))
    for group in groups:
        await layer.group_add(group, channel)
    try:
        yield Listener(layer, channel, user_id)
    finally:
        for group in groups:
            await layer.group_discard(group, channel)
        # channels-redis acknowledges each received message in a background task holding a
        # lock; let those finish in this test's event loop, or the next test's loop finds
        # the lock bound to a closed one.
        await asyncio.gather(*getattr(layer, "receive_cleaners", ()), return_exceptions=True)
