"""Ringing from the calling thread: with the pub/sub layer, a publish goes out on the caller's
own connection while Redis answers, reaching the same listeners as the layer's own
``group_send`` (shards, prefix, serializer); a Redis that hangs or is away costs the caller
one short wait at most, and the background sender takes over until Redis is quick again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from notifications.delivery import direct, messages, publish
from tests.conftest import RedisServer
from tests.layer import listening


class Handed:
    """What ``publish()`` handed to its background sender, publish by publish."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[publish.Addressed]] = []
        put = publish._Sender.put

        def spy(sender: publish._Sender, addressed: list[publish.Addressed]) -> None:
            self.calls.append(list(addressed))
            put(sender, addressed)

        monkeypatch.setattr(publish._Sender, "put", spy)


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> Handed:
    return Handed(monkeypatch)


@pytest.fixture
def two_redis(
    settings: Any, redis_server_factory: Callable[[], RedisServer]
) -> Iterator[list[RedisServer]]:
    servers = [redis_server_factory(), redis_server_factory()]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "notifications.delivery.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [server.url for server in servers],
                "prefix": "shop",
                "symmetric_encryption_keys": ["a secret"],
            },
        }
    }
    yield servers
    assert publish.flush()


async def test_a_publish_rings_from_the_calling_thread_to_the_layers_listeners(
    two_redis: list[RedisServer], handed: Handed
) -> None:
    # Users on both shards: the ringer picks each route's Redis as the layer does.
    users = range(1, 9)
    async with asyncio.timeout(10):
        for user_id in users:
            async with listening(user_id) as listener:
                live = messages.notification({"seq": user_id, "title": f"to {user_id}"})
                await asyncio.to_thread(publish.publish, [(user_id, live)])
                assert (await listener.receive())["payload"]["seq"] == user_id
    assert handed.calls == []


def test_while_redis_hangs_a_publish_hands_its_doorbells_to_the_sender(
    two_redis: list[RedisServer], handed: Handed, monkeypatch: pytest.MonkeyPatch
) -> None:
    rings: list[str] = []
    group_send = direct.Ringer.group_send

    def counted(ringer: direct.Ringer, group: str, message: messages.Message) -> None:
        rings.append(group)
        group_send(ringer, group, message)

    monkeypatch.setattr(direct.Ringer, "group_send", counted)
    publish.publish([(1, messages.newer_seq(1))])
    assert (len(rings), handed.calls) == (1, [])
    for server in two_redis:
        server.freeze()
    try:
        first, second = [(1, messages.newer_seq(2))], [(1, messages.newer_seq(3))]
        publish.publish(first)  # Tried, timed out: handed over.
        publish.publish(second)  # Not tried: the sender has it.
        assert (len(rings), handed.calls) == (2, [first, second])
    finally:
        for server in two_redis:
            server.thaw()
    assert publish.flush()
    # A quick send of the sender's says Redis is back: the next publish rings at once again.
    publish.publish([(1, messages.newer_seq(4))])
    assert publish.flush()
    tried = len(rings)
    publish.publish([(1, messages.newer_seq(5))])
    assert len(rings) == tried + 1
    assert handed.calls[-1] != [(1, messages.newer_seq(5))]


def test_a_broadcast_is_left_to_the_sender(two_redis: list[RedisServer], handed: Handed) -> None:
    addressed = [(n, messages.newer_seq(1)) for n in range(publish.RING_NOW_AT_MOST + 1)]
    publish.publish(addressed)
    assert handed.calls == [addressed]


def test_other_layers_keep_the_background_sender(handed: Handed, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    addressed = [(1, messages.newer_seq(1))]
    publish.publish(addressed)
    assert handed.calls == [addressed]
    assert publish.flush()


def test_sentinel_hosts_keep_the_background_sender(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "notifications.delivery.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"sentinels": [("127.0.0.1", 26379)], "master_name": "shop"}]},
        }
    }
    assert direct.ringer(get_channel_layer()) is None
