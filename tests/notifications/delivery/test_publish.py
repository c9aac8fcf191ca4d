"""Publishing: batches of per-user messages to every process's hub, stamped on commit, and a
layer that cannot be reached costs the caller nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from channels.layers import get_channel_layer

from notifications import metrics
from notifications.delivery import messages, publish
from notifications.delivery.messages import STREAMS_GROUP
from tests.conftest import free_port
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


@pytest.mark.django_db
def test_a_layer_that_cannot_be_reached_is_logged_never_raised(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "PUBLISH_TIMEOUT_SECONDS": 1}
    caplog.set_level(logging.DEBUG, logger="notifications.delivery.publish")
    publish.publish([(5, messages.close_user_streams())])
    assert publish.flush(5)
    assert any("oorbell" in r.message or "failed" in r.message for r in caplog.records)
