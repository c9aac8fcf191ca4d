"""The stream end to end: real daphne, real Redis, an httpx-sse client, and publishers in
other processes (the operators' ``send_notification`` command)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.stream.tickets import StreamTicket
from project.settings import channel_layers
from tests.e2e.conftest import Server, client, send
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

notify = sync_to_async(services.notify)


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


async def test_live_delivery_from_another_process(server: Server, user: Any) -> None:
    async with client(server) as http, Listener(http, headers=bearer(user)) as stream:
        assert stream.status == 200
        connected = await stream.next()
        assert connected.event == "connected"
        assert json.loads(connected.data) == {"user_id": user.pk, "unread_count": 0, "last_seq": 0}
        assert connected.id == "0"
        out = await sync_to_async(send)(server, user.username, "Order #1042 shipped")
        assert "1" in out
        event = await stream.next_named("notification")
        assert event.id == "1"
        assert json.loads(event.data)["title"] == "Order #1042 shipped"


async def test_replay_by_header_and_by_query(server: Server, user: Any) -> None:
    for i in range(1, 4):
        await notify(user, kind="info", title=f"n{i}")
    async with client(server) as http:
        headers = {**bearer(user), "Last-Event-ID": "1"}
        async with Listener(http, headers=headers) as stream:
            assert [e.id for e in await stream.notifications(2)] == ["2", "3"]
        token = AccessToken.for_user(user)
        async with Listener(http, params={"token": str(token), "last_event_id": "2"}) as stream:
            assert [e.id for e in await stream.notifications(1)] == ["3"]


async def test_users_see_only_their_own(server: Server, user: Any, other_user: Any) -> None:
    async with (
        client(server) as http,
        Listener(http, headers=bearer(user)) as alice,
        Listener(http, headers=bearer(other_user)) as bob,
    ):
        await sync_to_async(send)(server, other_user.username, "for bob")
        await sync_to_async(send)(server, user.username, "for alice")
        alice_event = await alice.next_named("notification")
        bob_event = await bob.next_named("notification")
        assert json.loads(alice_event.data)["title"] == "for alice"
        assert json.loads(bob_event.data)["title"] == "for bob"


async def test_sixth_stream_refused_then_admitted(server: Server, user: Any) -> None:
    async with client(server, limits=httpx.Limits(max_connections=20)) as http:
        streams = [Listener(http, headers=bearer(user)) for _ in range(5)]
        for stream in streams:
            await stream.__aenter__()
            assert stream.status == 200
        async with Listener(http, headers=bearer(user)) as sixth:
            assert sixth.status == 429
            assert json.loads(sixth.body)["detail"]
        await streams[0].close()
        # The server frees the slot when it sees the disconnect.
        async with asyncio.timeout(10):
            while True:
                async with Listener(http, headers=bearer(user)) as retry:
                    if retry.status == 200:
                        break
                await asyncio.sleep(0.2)
        for stream in streams[1:]:
            await stream.close()


async def test_heartbeat_on_an_idle_stream(server: Server, user: Any) -> None:
    async with (
        client(server) as http,
        http.stream("GET", "/api/events/", headers=bearer(user)) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    break


async def test_logout_closes_the_session_stream(server: Server, user: Any) -> None:
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    cookies = {"sessionid": browser.cookies["sessionid"].value}
    async with client(server, cookies=cookies) as http:
        async with Listener(http) as stream:
            assert stream.status == 200
            login_page = await http.get("/accounts/login/")
            assert login_page.status_code == 200
            csrf = http.cookies["csrftoken"]
            response = await http.post("/accounts/logout/", headers={"X-CSRFToken": csrf})
            assert response.status_code in (200, 302)
            async with asyncio.timeout(10):
                await stream.ended.wait()
        # The logged-out session no longer opens a stream.
        http.cookies.delete("sessionid")
        http.cookies.set("sessionid", cookies["sessionid"])
        async with Listener(http) as again:
            assert again.status == 401


async def test_ticket_opens_the_stream_and_expires(server: Server, user: Any) -> None:
    async with client(server) as http:
        minted = await http.post("/api/events/ticket/", headers=bearer(user))
        assert minted.status_code == 200
        body = minted.json()
        assert body["expires_in"] == 60
        async with Listener(http, params={"token": body["ticket"]}) as stream:
            assert stream.status == 200
            assert (await stream.next()).event == "connected"
        expired = StreamTicket.for_user(user)
        expired.set_exp(lifetime=-expired.lifetime)
        async with Listener(http, params={"token": str(expired)}) as stream:
            assert stream.status == 401
        # The access log never shows the token.
        assert body["ticket"] not in server.output()
        assert "token=********" in server.output()


async def test_embedded_default_reaches_across_processes(
    start_server: Callable[..., Server], user: Any
) -> None:
    server = start_server(REDIS_URL=None)
    async with client(server) as http, Listener(http, headers=bearer(user)) as stream:
        await stream.next()
        await sync_to_async(send)(server, user.username, "from another terminal")
        sent_at = time.monotonic()
        event = await stream.next_named("notification", timeout=2)
        assert json.loads(event.data)["title"] == "from another terminal"
        assert time.monotonic() - sent_at < 2


async def test_two_processes_share_every_notification_and_every_revocation(
    start_server: Callable[..., Server], user: Any, settings: Any
) -> None:
    first, second = start_server(), start_server()
    # This process revokes below: it publishes through the servers' Redis.
    settings.CHANNEL_LAYERS = channel_layers(first.env["REDIS_URL"], first.env["CHANNELS_PREFIX"])
    async with (
        client(first) as http_first,
        client(second) as http_second,
        Listener(http_first, headers=bearer(user)) as on_first,
        Listener(http_second, headers=bearer(user)) as on_second,
    ):
        for stream in (on_first, on_second):
            assert (await stream.next()).event == "connected"
        await sync_to_async(send)(first, user.username, "to both processes")
        for stream in (on_first, on_second):
            [event] = await stream.notifications(1)
            assert json.loads(event.data)["title"] == "to both processes"
        for stream in (on_first, on_second):  # once each
            with pytest.raises(TimeoutError):
                await stream.next_named("notification", timeout=1)
        # A password change made anywhere closes the user's streams on every process.
        user.set_password("a-brand-new-password")
        await user.asave()
        async with asyncio.timeout(10):
            await asyncio.gather(on_first.ended.wait(), on_second.ended.wait())
