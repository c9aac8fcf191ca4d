"""Per-user routes against real Redis servers: a process hears only the users it serves.

Each hub here stands for a server process (two hubs in one event loop share the layer's
connection, so what Redis sends each route is read with ``PUBSUB NUMSUB``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis

from notifications.delivery import messages, publish
from notifications.delivery.messages import Message
from notifications.stream import hub as hub_module
from notifications.stream.hub import Hub
from notifications.stream.inboxes import Inbox
from notifications.stream.limits import new_slot
from project.settings import channel_layers
from tests.conftest import CHANNELS_PREFIX, RedisServer


class CountingHub(Hub):
    """A hub that keeps every batch the layer brought it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[Message] = []

    def dispatch(self, batch: Message) -> None:
        self.batches.append(batch)
        super().dispatch(batch)

    def users_heard(self) -> set[int]:
        return {user_id for batch in self.batches for user_id, _ in batch["items"]}

    async def open(self, user_id: int) -> Inbox:
        inbox = self.register(user_id, new_slot(user_id))
        await self.wait_routed(user_id)
        return inbox

    async def stop(self) -> None:
        for task in (self._task, self._heartbeat, self._lag_watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def redis_servers(
    settings: Any, redis_server_factory: Callable[[], RedisServer]
) -> Callable[[int], list[RedisServer]]:
    """Start ``n`` private Redis servers and shard the channel layer over them."""

    def start(n: int) -> list[RedisServer]:
        servers = [redis_server_factory() for _ in range(n)]
        settings.CHANNEL_LAYERS = channel_layers([s.url for s in servers], CHANNELS_PREFIX)
        return servers

    return start


def subscribers(server: RedisServer, user_id: int) -> int:
    """How many connections Redis sends ``user_id``'s route to."""
    client = redis.Redis.from_url(server.url)
    try:
        channel = f"{CHANNELS_PREFIX}__group__{messages.route(user_id)}"
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


async def next_seq(inbox: Inbox) -> int:
    """The seq of the next doorbell in ``inbox``, past the feed's changes of state."""
    async with asyncio.timeout(5):
        while (message := await inbox.get())["type"] == messages.FEED_CHANGED:
            pass
    assert message["type"] == messages.NEWER_SEQ, message
    seq: int = message["seq"]
    return seq


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_process_hears_only_the_users_it_serves(
    redis_servers: Callable[[int], list[RedisServer]],
) -> None:
    (server,) = redis_servers(1)
    first, second = CountingHub(), CountingHub()
    try:
        alice, bob = await first.open(1), await second.open(2)
        assert first.routes is not None and first.routes.is_proven(1)
        # Subscribed when the open returned: a message sent now cannot miss the stream.
        await publish.send([(2, messages.newer_seq(5))])
        await publish.send([(1, messages.newer_seq(6))])
        assert (await next_seq(bob), await next_seq(alice)) == (5, 6)
        assert first.users_heard() == {1} and second.users_heard() == {2}
        assert subscribers(server, 1) == subscribers(server, 2) == 1
        assert subscribers(server, 3) == 0
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_a_users_second_process_gets_their_messages(
    redis_servers: Callable[[int], list[RedisServer]],
) -> None:
    redis_servers(1)
    first, second = CountingHub(), CountingHub()
    try:
        here, there = await first.open(1), await second.open(1)
        await publish.send([(1, messages.newer_seq(7))])
        assert [await next_seq(here), await next_seq(there)] == [7, 7]
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_the_last_stream_of_a_user_leaves_the_route(
    redis_servers: Callable[[int], list[RedisServer]],
) -> None:
    (server,) = redis_servers(1)
    hub = CountingHub()
    try:
        one, two = await hub.open(1), await hub.open(1)
        hub.unregister(1, one)
        await asyncio.sleep(0.1)
        assert subscribers(server, 1) == 1  # its other stream is still here
        hub.unregister(1, two)
        await until(lambda: subscribers(server, 1) == 0)
        assert hub.routes is not None and not hub.routes.joined
        # Opened again, it is joined and proven again.
        again = await hub.open(1)
        await publish.send([(1, messages.newer_seq(8))])
        assert await next_seq(again) == 8
    finally:
        await hub.stop()


async def test_many_users_go_to_every_process_in_one_batch(
    settings: Any, redis_servers: Callable[[int], list[RedisServer]]
) -> None:
    redis_servers(1)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "ROUTED_FANOUT": 2}
    first, second = CountingHub(), CountingHub()
    try:
        await first.open(1)
        await second.open(2)
        await publish.send([(n, messages.newer_seq(9)) for n in (1, 2, 3)])
        await until(lambda: bool(first.batches and second.batches))
        assert [len(b["items"]) for b in first.batches + second.batches] == [3, 3]
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_without_routing_nothing_is_joined_and_everything_reaches_every_process(
    settings: Any, redis_servers: Callable[[int], list[RedisServer]]
) -> None:
    (server,) = redis_servers(1)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "ROUTED_FANOUT": 0}
    first, second = CountingHub(), CountingHub()
    try:
        await first.open(1)
        await second.open(2)
        await publish.send([(2, messages.newer_seq(1))])
        await until(lambda: bool(first.batches and second.batches))
        assert subscribers(server, 1) == subscribers(server, 2) == 0
    finally:
        await asyncio.gather(first.stop(), second.stop())


async def test_a_stream_that_stopped_waiting_is_told_when_its_route_is_proven(
    redis_servers: Callable[[int], list[RedisServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_servers(1)
    hub = CountingHub()
    try:
        await hub.open(1)  # the hub is subscribed: the next open waits for its route
        monkeypatch.setattr(hub_module, "STARTUP_WAIT", 0)
        inbox = await hub.open(2)
        async with asyncio.timeout(5):
            while (message := await inbox.get())["type"] == messages.FEED_CHANGED:
                pass
        assert message == messages.route_ready()
    finally:
        await hub.stop()


async def test_routes_spread_over_two_redis_servers_and_outlive_one_restarting(
    settings: Any,
    redis_servers: Callable[[int], list[RedisServer]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = redis_servers(2)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "POLL_SECONDS": 0.1}
    monkeypatch.setattr(hub_module, "PROBE_TIMEOUT", 1.0)
    hub = CountingHub()
    try:
        users = range(1, 21)
        inboxes = {user_id: await hub.open(user_id) for user_id in users}
        assert hub.live
        per_server = [sum(subscribers(s, u) for u in users) for s in servers]
        assert sum(per_server) == 20 and min(per_server) > 0
        servers[1].stop()
        await until(lambda: not hub.live)
        servers[1].start()  # the same port
        await until(lambda: hub.live, timeout=30)
        await publish.send([(u, messages.newer_seq(u)) for u in users[:10]])
        await publish.send([(u, messages.newer_seq(u)) for u in users[10:]])
        assert [await next_seq(inbox) for inbox in inboxes.values()] == list(users)
        assert per_server == [sum(subscribers(s, u) for u in users) for s in servers]
    finally:
        await hub.stop()
