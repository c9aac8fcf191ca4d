"""The hub on its own: routing to inboxes, probes, and what it tells streams when the feed
changes state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer

from notifications import metrics
from notifications.delivery import messages
from notifications.stream.groups import Groups
from notifications.stream.hub import PROBE_TIMEOUT, Hub, _Feed, hub
from notifications.stream.inboxes import INBOX_SIZE, Inbox
from notifications.stream.limits import new_slot
from project.settings import channel_layers
from tests.conftest import free_port


def test_a_full_inbox_remembers_that_it_dropped_messages() -> None:
    inbox = Inbox(new_slot(1))
    for n in range(INBOX_SIZE):
        inbox.offer(messages.newer_seq(n))
    assert not inbox.overflowed
    inbox.offer(messages.newer_seq(INBOX_SIZE))
    assert inbox.overflowed and inbox.qsize() == INBOX_SIZE


async def test_a_batch_reaches_only_its_users_inboxes() -> None:
    hub = Hub()
    alice_1, alice_2 = hub.register(1, new_slot(1)), hub.register(1, new_slot(1))
    bob = hub.register(2, new_slot(2))
    hub.dispatch(messages.batch([[1, messages.close_user_streams()], [3, messages.slot_lost()]]))
    assert [alice_1.get_nowait(), alice_2.get_nowait()] == [messages.close_user_streams()] * 2
    assert bob.empty()
    hub.unregister(1, alice_1)
    hub.unregister(1, alice_2)
    assert 1 not in hub.inboxes and 2 in hub.inboxes
    hub.unregister(2, bob)
    await _stop(hub)


def test_a_probe_answered_after_a_lost_one_shows_the_feed_dropped_messages() -> None:
    layer = InMemoryChannelLayer()
    feed = _Feed(layer, Groups(layer))
    feed.probes[0].extend([(1, 0.0), (2, 1.0), (3, 2.0)])
    assert not feed.answered(0, 1)
    assert feed.answered(0, 3)  # 2 never came back
    assert not feed.probes[0]


async def subscribed_feed(settings: Any) -> tuple[_Feed, asyncio.AbstractEventLoop]:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "POLL_SECONDS": 0.05}
    layer = InMemoryChannelLayer()
    feed = _Feed(layer, Groups(layer))
    loop = asyncio.get_running_loop()
    await feed.subscribe(loop.time())
    return feed, loop


async def test_a_probe_read_late_is_not_an_outage(settings: Any) -> None:
    feed, loop = await subscribed_feed(settings)
    sent = loop.time()
    await feed.probe(sent)
    # The hub comes back to it long after (a starved loop, a backlog of broadcasts): its
    # probe is waiting, unread, which says nothing yet about the layer.
    await feed.probe(sent + 10 * PROBE_TIMEOUT)
    message = await feed.receive(loop)
    assert message is not None and message["type"] == messages.PROBE
    assert (message["n"], feed.answered(message["shard"], message["n"])) == (1, False)
    assert [n for n, _ in feed.probes[0]] == [2]  # the one sent on coming back


async def test_a_probe_is_overdue_once_the_hub_read_past_it(settings: Any) -> None:
    feed, loop = await subscribed_feed(settings)
    assert feed.channel is not None
    sent = loop.time() - 2 * PROBE_TIMEOUT
    feed.probes[0].append((1, sent))  # never answered: lost on the way
    feed.probe_at = loop.time() + 60
    # A backlog: a batch published before the probe went, read only now. Not overdue yet.
    early, late = messages.batch([]), messages.batch([])
    early[metrics.SENT_AT] = time.time() - 2.5 * PROBE_TIMEOUT
    # Then a batch published more than PROBE_TIMEOUT after the probe, and still no probe.
    late[metrics.SENT_AT] = time.time() - PROBE_TIMEOUT / 2
    for batch in (early, late):
        await feed.layer.send(feed.channel, batch)
    assert await feed.receive(loop) == early
    await feed.probe(loop.time())
    assert await feed.receive(loop) == late
    with pytest.raises(TimeoutError):
        await feed.probe(loop.time())


async def test_a_wait_that_found_nothing_reads_past_a_lost_probe(settings: Any) -> None:
    feed, loop = await subscribed_feed(settings)
    feed.probes[0].append((1, loop.time() - 2 * PROBE_TIMEOUT))  # lost on the way
    feed.probe_at = loop.time() + 0.05
    await feed.probe(loop.time())  # Not overdue yet: nothing was read since it went.
    assert await feed.receive(loop) is None
    with pytest.raises(TimeoutError):
        await feed.probe(loop.time())


async def test_the_in_memory_layer_is_never_trusted_to_be_live(settings: Any) -> None:
    settings.CHANNEL_LAYERS = channel_layers(None)
    hub = Hub()
    inbox = hub.register(1, new_slot(1))
    await hub.wait_routed(1)
    async with asyncio.timeout(5):
        while not hub.subscribed:
            await asyncio.sleep(0.01)
    # Its probes come back, but a publisher in another process cannot reach it.
    assert (hub.trusted, hub.live) == (False, False)
    assert inbox.get_nowait()["type"] == messages.FEED_CHANGED
    hub.unregister(1, inbox)
    await _stop(hub)


async def test_an_unreachable_layer_is_an_outage_said_once_and_streams_are_told(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = channel_layers(f"redis://127.0.0.1:{free_port()}/0")
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "POLL_SECONDS": 0.05}
    current = hub()
    inbox = current.register(1, new_slot(1))
    await current.wait_routed(1)
    async with asyncio.timeout(5):
        while caplog.text.count("Channel layer unavailable") == 0:
            await asyncio.sleep(0.05)
    # A window for several more failed attempts (every 0.05 s): still said only once.
    await asyncio.sleep(0.3)
    assert caplog.text.count("Channel layer unavailable") == 1
    assert current.trusted and not current.live
    assert inbox.empty()  # never subscribed, so no change to tell
    current.unregister(1, inbox)
    await _stop(current)


async def _stop(hub: Hub) -> None:
    for task in (hub._task, hub._heartbeat):
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
