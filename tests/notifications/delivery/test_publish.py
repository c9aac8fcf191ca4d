"""Publishing: batches of per-user messages to every process's hub, stamped on commit.

A layer that cannot be reached is ``tests/notifications/test_services.py``'s: the row is kept
and the failure logged once. A Redis that hangs is here: what waits for it is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from notifications import metrics
from notifications.delivery import messages, publish
from notifications.delivery.messages import STREAMS_GROUP, route
from notifications.delivery.outages import described
from tests.conftest import RedisServer
from tests.layer import listening


async def test_a_send_to_many_users_reaches_the_streams_group_in_batches() -> None:
    addressed = [(n, messages.newer_seq(n)) for n in range(messages.BATCH_SIZE + 1)]
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
    assert second["items"][0] == [messages.BATCH_SIZE, messages.newer_seq(messages.BATCH_SIZE)]


async def test_a_send_to_a_few_users_goes_on_each_users_route_only(settings: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "ROUTED_FANOUT": 2}
    layer = get_channel_layer()
    everyone, seven, eight = [await layer.new_channel() for _ in range(3)]
    joined = [(STREAMS_GROUP, everyone), (route(7), seven), (route(8), eight)]
    for group, channel in joined:
        await layer.group_add(group, channel)
    try:
        async with asyncio.timeout(5):
            await publish.send([(7, messages.newer_seq(1)), (8, messages.slot_lost())])
            await publish.send([(7, messages.newer_seq(2))])
            received = [await layer.receive(c) for c in (seven, eight, seven)]
            # Three users are more than ROUTED_FANOUT: one batch to every process.
            await publish.send([(n, messages.newer_seq(3)) for n in (7, 8, 9)])
            broadcast = await layer.receive(everyone)
    finally:
        for group, channel in joined:
            await layer.group_discard(group, channel)
    assert [batch["items"] for batch in received] == [
        [[7, messages.newer_seq(1)]],
        [[8, messages.slot_lost()]],
        [[7, messages.newer_seq(2)]],
    ]
    assert [user_id for user_id, _ in broadcast["items"]] == [7, 8, 9]


async def test_live_notifications_are_stamped_with_their_commit_time() -> None:
    live = (5, messages.notification({"seq": 1, "title": "one"}))
    other = (5, messages.close_user_streams())
    async with listening(5) as listener:
        publish.publish([live, other])
        async with asyncio.timeout(5):
            received = [await listener.receive(), await listener.receive()]
    assert isinstance(received[0][metrics.COMMITTED_AT], float)
    assert metrics.COMMITTED_AT not in received[1]


def dropped() -> float:
    return REGISTRY.get_sample_value("notifications_doorbells_dropped_total") or 0.0


def test_while_redis_hangs_what_waits_to_be_sent_is_bounded(
    settings: Any, redis_server_factory: Callable[[], RedisServer]
) -> None:
    redis = redis_server_factory()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis.url]},
        }
    }
    publish.publish([(7, messages.newer_seq(0))])
    assert publish.flush()  # Connected: what follows meets a Redis that hangs mid-session.
    before = dropped()
    redis.freeze()
    try:
        published = 3 * publish.MAX_PENDING
        for n in range(published):
            publish.publish([(7, messages.newer_seq(n))])
        # What waits for Redis is one batch being sent and at most MAX_PENDING queued; the
        # others are dropped (and counted) as they come, not kept for as long as it hangs.
        assert dropped() - before >= published - 2 * publish.MAX_PENDING
    finally:
        redis.thaw()
    assert publish.flush()


def test_a_broadcast_larger_than_the_queue_goes_whole() -> None:
    before = dropped()
    publish.publish([(n, messages.newer_seq(1)) for n in range(3 * publish.MAX_PENDING)])
    assert publish.flush()
    assert dropped() == before


def test_a_failure_is_described_by_its_name_and_its_message() -> None:
    refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    assert described(refused) == (
        "ConnectionError: Error 111 connecting to 127.0.0.1:6390. Connection refused."
    )
    assert described(TimeoutError()) == "TimeoutError: no answer in time"
    assert described(RuntimeError()) == "RuntimeError"
