"""The channel layer to serve with, against real Redis servers: channels-redis's pub/sub layer
in all it does, without its listener's ten wake-ups a second."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels_redis import pubsub

from notifications.delivery import layers

Layer = pubsub.RedisPubSubChannelLayer


def make(kind: type[Layer], *urls: str, prefix: str) -> Layer:
    return kind(hosts=list(urls), prefix=prefix)


@pytest.fixture
def prefix() -> str:
    return f"test-layers-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def closing() -> AsyncIterator[list[Layer]]:
    made: list[Layer] = []
    yield made
    for layer in made:
        await layer.flush()


async def listen(layer: Layer, group: str) -> str:
    channel: str = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


def count_waits(layer: Layer) -> list[float]:
    """Count the listener's waits for a message on each of ``layer``'s Redis servers."""
    waits: list[float] = []
    for shard in layer._get_layer()._shards:
        wait = shard._pubsub.get_message

        async def counted(*args: Any, _wait: Any = wait, **kwargs: Any) -> Any:
            waits.append(kwargs.get("timeout") or 0.0)
            return await _wait(*args, **kwargs)

        shard._pubsub.get_message = counted
    return waits


@pytest.mark.parametrize("sender_kind", [layers.RedisPubSubChannelLayer, Layer])
async def test_a_message_arrives_at_once_whichever_layer_sent_it(
    redis_url: str,
    prefix: str,
    closing: list[Layer],
    sender_kind: type[Layer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A wait far longer than the test's bound: the message must end it, not the timeout.
    monkeypatch.setattr(layers, "RECEIVE_WAIT_SECONDS", 60.0)
    listener = make(layers.RedisPubSubChannelLayer, redis_url, prefix=prefix)
    sender = make(sender_kind, redis_url, prefix=prefix)
    closing += [listener, sender]
    channel = await listen(listener, "everyone")
    receiving = asyncio.ensure_future(listener.receive(channel))
    await asyncio.sleep(0.3)  # the listener is waiting now
    await sender.group_send("everyone", {"type": "hello", "n": 1})
    async with asyncio.timeout(5):
        assert await receiving == {"type": "hello", "n": 1}


async def test_the_listener_waits_a_second_where_channels_redis_waits_a_tenth(
    redis_url: str, prefix: str, closing: list[Layer]
) -> None:
    ours = make(layers.RedisPubSubChannelLayer, redis_url, prefix=prefix)
    theirs = make(Layer, redis_url, prefix=prefix)
    closing += [ours, theirs]
    for layer in (ours, theirs):
        await listen(layer, "quiet")
    ours_waits, their_waits = count_waits(ours), count_waits(theirs)
    await asyncio.sleep(2)
    # A subscription's confirmation ends a wait early, once: two or three waits, not twenty.
    assert ours_waits and set(ours_waits) == {layers.RECEIVE_WAIT_SECONDS}
    assert len(ours_waits) <= 4
    assert set(their_waits) == {0.1} and len(their_waits) >= 10


class Listening:
    """One channel's messages, one receive kept pending across waits: cancelling a pending
    receive makes channels-redis drop the channel's subscription."""

    def __init__(self, layer: Layer, channel: str) -> None:
        self.layer, self.channel = layer, channel
        self.pending: asyncio.Future[Any] | None = None

    async def next(self, timeout: float) -> Any:
        self.pending = self.pending or asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait({self.pending}, timeout=timeout)
        if not done:
            return None
        message, self.pending = self.pending.result(), None
        return message

    def stop(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


async def rings(sender: Layer, listening: Listening, group: str, n: int) -> bool:
    """Send ``n`` to ``group``; tell whether it came through within a second."""
    with contextlib.suppress(Exception):  # a connection the restart broke: try again
        await sender.group_send(group, {"type": "hello", "n": n})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1
    while (left := deadline - loop.time()) > 0:
        if await listening.next(left) == {"type": "hello", "n": n}:
            return True
    return False


async def test_groups_spread_over_several_redis_servers_and_survive_a_restart(
    redis_server_factory: Callable[[], Any], prefix: str, closing: list[Layer]
) -> None:
    """Routes shard over the ``hosts`` as channels-redis does; the listener subscribes
    again on a Redis that restarted (the hub's probes tell streams about the gap)."""
    first, second = redis_server_factory(), redis_server_factory()
    listener = make(layers.RedisPubSubChannelLayer, first.url, second.url, prefix=prefix)
    sender = make(layers.RedisPubSubChannelLayer, first.url, second.url, prefix=prefix)
    closing += [listener, sender]
    loop_layer = listener._get_layer()
    groups = [f"route.{n}" for n in range(40)]
    shards = [loop_layer._get_shard(loop_layer._get_group_channel_name(g)) for g in groups]
    assert {shard.host["address"] for shard in shards} == {first.url, second.url}
    channel = await listener.new_channel()
    for group in groups:
        await listener.group_add(group, channel)
    listening = Listening(listener, channel)
    try:
        for n, group in enumerate(groups):
            assert await rings(sender, listening, group, n)
        second.stop()
        second.start()
        n = len(groups)
        async with asyncio.timeout(30):
            for group in groups:
                while not await rings(sender, listening, group, n):
                    n += 1
                n += 1
    finally:
        listening.stop()
