"""The process's timed work, given the inbox registry the hub fills: the sweep tells the
streams of users notified, revoked or deactivated lately; the stop ends every stream and
frees every slot at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications import services
from notifications.delivery import messages
from notifications.models import Notification
from notifications.stream.inboxes import Inbox, Inboxes
from notifications.stream.limits import new_slot, slots
from notifications.stream.upkeep import Upkeep

pytestmark = pytest.mark.django_db(transaction=True)


def received(inbox: Inbox) -> list[dict[str, Any]]:
    found = []
    while not inbox.empty():
        found.append(inbox.get_nowait())
    return found


async def notified_a_moment_ago(user: Any) -> None:
    """A notification older than the sweep's grace, as if its doorbell had been lost."""
    await sync_to_async(services.notify)(user, kind="info", title="lost doorbell")
    await Notification.objects.filter(recipient=user).aupdate(
        created_at=timezone.now() - timedelta(seconds=2)
    )


async def test_the_sweep_rings_for_notifications_whose_doorbell_was_lost(user: Any) -> None:
    inboxes = Inboxes()
    inbox = inboxes.add(user.pk, new_slot(user.pk))
    await notified_a_moment_ago(user)
    await Upkeep(inboxes, trusted=True).sweep()
    assert received(inbox) == [messages.newer_seq(1)]


async def test_without_a_trusted_feed_the_sweep_leaves_heads_to_the_streams(user: Any) -> None:
    inboxes = Inboxes()
    inbox = inboxes.add(user.pk, new_slot(user.pk))
    await notified_a_moment_ago(user)
    await Upkeep(inboxes, trusted=False).sweep()
    assert received(inbox) == []


async def test_the_sweep_closes_the_streams_of_users_deactivated_without_a_signal(
    user: Any, other_user: Any
) -> None:
    inboxes = Inboxes()
    gone = inboxes.add(user.pk, new_slot(user.pk))
    kept = inboxes.add(other_user.pk, new_slot(other_user.pk))
    await get_user_model().objects.filter(pk=user.pk).aupdate(is_active=False)
    await Upkeep(inboxes, trusted=True).sweep()
    assert received(gone) == [messages.close_user_streams()]
    assert received(kept) == []


async def test_stopping_ends_every_stream_and_frees_every_slot(user: Any, other_user: Any) -> None:
    inboxes = Inboxes()
    taken = [new_slot(user.pk), new_slot(user.pk), new_slot(other_user.pk)]
    for slot in taken:
        assert (await slots().take(slot, evict=False)).slot == slot
        inboxes.add(slot.user_id, slot)

    async def streams_end_when_told() -> None:
        while inboxes:
            for user_id, inbox in [(u, i) for u, group in inboxes.items() for i in group]:
                if not inbox.empty() and inbox.get_nowait() == messages.server_stopping():
                    inboxes.remove(user_id, inbox)
            await asyncio.sleep(0)

    async with asyncio.timeout(10):
        ending = asyncio.ensure_future(streams_end_when_told())
        await Upkeep(inboxes, trusted=True).stop()
        await ending
    by_user = await slots().by_user()
    assert by_user.get(user.pk, []) == [] and by_user.get(other_user.pk, []) == []
