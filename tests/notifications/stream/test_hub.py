"""The hub on its own: routing to inboxes, probes, and what it tells streams when the feed
changes state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer

from notifications.delivery import messages
from notifications.stream.groups import Groups
from notifications.stream.hub import Hub, _Feed, hub
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
