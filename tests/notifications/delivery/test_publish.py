"""Publishing: batches of per-user messages to every process's hub, stamped on commit.

A layer that cannot be reached is ``tests/notifications/test_services.py``'s: the row is kept
and the failure logged once."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer

from notifications import metrics
from notifications.delivery import messages, publish
from notifications.delivery.messages import STREAMS_GROUP
from tests.layer import listening


async def test_a_send_reaches_the_streams_group_in_batches(settings: Any) -> None:
    addressed = [(7, messages.newer_seq(n)) for n in range(messages.BATCH_SIZE + 1)]
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(STREAMS_GROUP, channel)
    try:
        async with asyncio.timeout(5):
            await publish.send(addressed)
            first, second = await layer.receive(channel), await layer.receive(channel)
    finally:
        await layer.group_discard(STREAMS_GROUP, channel)
    assert (len(first["items"]), len(second["items"])) == (messages.BATCH_SIZE, 1)
    assert second["items"][0] == [7, messages.newer_seq(messages.BATCH_SIZE)]


async def test_live_notifications_are_stamped_with_their_commit_time() -> None:
    live = (5, messages.notification({"seq": 1, "title": "one"}))
    other = (5, messages.close_user_streams())
    async with listening(5) as listener:
        publish.publish([live, other])
        async with asyncio.timeout(5):
            received = [await listener.receive(), await listener.receive()]
    assert isinstance(received[0][metrics.COMMITTED_AT], float)
    assert metrics.COMMITTED_AT not in received[1]
