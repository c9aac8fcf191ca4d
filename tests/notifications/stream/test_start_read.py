"""The open's one read: the user's row, their counter and unread count, checked by
simplejwt's rules, on PostgreSQL batched with the other opens of the same turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.stream import auth
from notifications.stream.start_read import read_start

pytestmark = pytest.mark.django_db(transaction=True)


async def notify(user: Any, *titles: str) -> None:
    for title in titles:
        await sync_to_async(services.notify)(user, kind="info", title=title)


async def test_a_fresh_start_is_at_the_newest_with_the_unread_count(user: Any) -> None:
    await notify(user, "one", "two")
    start = await read_start(user.pk, token=None, last_event_id=None, limit=200)
    assert (start.resume_from, start.unread_count, start.revocations) == (2, 2, 0)
    assert start.replay.notifications == []


async def test_a_user_without_notifications_starts_at_zero(user: Any) -> None:
    start = await read_start(user.pk, token=None, last_event_id=None, limit=200)
    assert (start.resume_from, start.unread_count) == (0, 0)


async def test_a_resume_behind_replays_what_was_missed(user: Any) -> None:
    await notify(user, "one", "two", "three")
    start = await read_start(user.pk, token=None, last_event_id=1, limit=200)
    assert [n.title for n in start.replay.notifications] == ["two", "three"]
    assert start.resume_from == 1


async def test_a_token_issued_before_the_password_changed_is_refused(user: Any) -> None:
    token = AccessToken.for_user(user)
    user.set_password("a-brand-new-password")
    await user.asave()
    with pytest.raises(auth.NotAuthenticated, match="password has been changed"):
        await read_start(user.pk, token=token, last_event_id=None, limit=200)


async def test_an_inactive_user_is_refused_with_or_without_a_token(user: Any) -> None:
    token = AccessToken.for_user(user)
    user.is_active = False
    await user.asave()
    for checked in (token, None):
        with pytest.raises(auth.NotAuthenticated, match="inactive"):
            await read_start(user.pk, token=checked, last_event_id=None, limit=200)


async def test_a_user_that_is_gone_is_refused(user: Any) -> None:
    user_id = user.pk
    await user.adelete()
    with pytest.raises(auth.NotAuthenticated, match="User not found"):
        await read_start(user_id, token=None, last_event_id=None, limit=200)


async def test_opens_read_together_each_get_their_own_user(user: Any, other_user: Any) -> None:
    await notify(user, "one")
    await notify(other_user, "one", "two", "three")
    async with asyncio.timeout(10):
        mine, theirs, gone = await asyncio.gather(
            read_start(user.pk, token=None, last_event_id=None, limit=200),
            read_start(other_user.pk, token=None, last_event_id=None, limit=200),
            read_start(other_user.pk + 1000, token=None, last_event_id=None, limit=200),
            return_exceptions=True,
        )
    assert not isinstance(mine, BaseException) and not isinstance(theirs, BaseException)
    assert (mine.resume_from, theirs.resume_from) == (1, 3)
    assert isinstance(gone, auth.NotAuthenticated)
