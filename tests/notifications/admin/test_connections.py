"""The admin page "Who is connected": open streams per user, and closing a user's streams."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from notifications.models import StreamCounter
from notifications.stream.limits import RedisSlots, new_slot, slots

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

PAGE = reverse("admin:notifications_notification_connections")


@pytest.fixture
def streams(user: Any, other_user: Any) -> Any:
    """Alice holds two streams, Bob one: slots taken as the stream view takes them."""
    taken = [new_slot(user.pk), new_slot(user.pk), new_slot(other_user.pk)]

    async def take_all() -> None:
        for slot in taken:
            assert (await slots().take(slot, evict=False)).slot is not None
        await closed()

    async def release_all() -> None:
        for slot in taken:
            await slots().release(slot)
        await closed()

    async def closed() -> None:
        # Each async_to_sync() call runs in a loop of its own: close its Redis connections.
        if isinstance(slots(), RedisSlots):
            await slots().aclose()  # type: ignore[union-attr]

    async_to_sync(take_all)()
    yield taken
    async_to_sync(release_all)()


def test_staff_see_each_users_open_streams(
    client: Client, staff_user: Any, user: Any, other_user: Any, streams: Any
) -> None:
    client.force_login(staff_user)
    response = client.get(PAGE)
    assert response.status_code == 200
    rows = [(row.user.pk, row.streams) for row in response.context["rows"]]
    assert rows == [(user.pk, 2), (other_user.pk, 1)]
    assert response.context["rows"][0].since is not None
    assert "Close streams" in response.content.decode()


def test_the_notification_list_links_to_the_page(client: Client, staff_user: Any) -> None:
    client.force_login(staff_user)
    response = client.get(reverse("admin:notifications_notification_changelist"))
    assert PAGE in response.content.decode()


def test_closing_a_users_streams_revokes_them_like_a_logout(
    client: Client, staff_user: Any, user: Any, streams: Any
) -> None:
    client.force_login(staff_user)
    response = client.post(PAGE, {"user": str(user.pk)}, follow=True)
    assert response.status_code == 200
    assert StreamCounter.objects.get(user_id=user.pk).revocations == 1
    assert any("Closing the streams of alice" in str(m) for m in response.context["messages"])


# A superscript two is a digit to str.isdigit() and not to int(); the others are not ids at all.
@pytest.mark.parametrize("raw", ["../1", "\u00b2", "9" * 30, "1.5", "", "-1", "\x00"])
def test_closing_an_unknown_user_says_so(client: Client, staff_user: Any, raw: str) -> None:
    client.force_login(staff_user)
    client.raise_request_exception = False
    response = client.post(PAGE, {"user": raw}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["No such user."]
    assert not StreamCounter.objects.exists()


def test_only_staff_with_permissions_may_look_or_close(
    client: Client, make_user: Any, user: Any, streams: Any
) -> None:
    client.force_login(user)
    assert client.get(PAGE).status_code == 302  # to the admin's log-in
    viewer = make_user("viewer", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client.force_login(viewer)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "Close streams" not in response.content.decode()
    assert client.post(PAGE, {"user": str(user.pk)}).status_code == 403
    assert not StreamCounter.objects.exists()
