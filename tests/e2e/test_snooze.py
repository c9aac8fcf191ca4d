"""Snooze, archive and reconnection across two real server processes.

Two daphne processes share the test database and a Redis channel layer, with a short
heartbeat. A user's streams are held on both; changes are made through the HTTP API of one
of them. The promise under test: a snooze comes back, unread, on every open stream of the
user within a heartbeat of its time, once per stream, whichever process brings it back;
an archive made on one process reaches the streams of the other; and a stream that
reconnects learns the count that changed while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from httpx_sse import ServerSentEvent

from notifications import services
from tests.e2e.conftest import Server, client
from tests.e2e.listener import Listener
from tests.e2e.test_stream_live import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEARTBEAT_SECONDS = 2.0
# What the wait allows beyond a heartbeat: a busy machine's scheduling (a CI run shares two
# cores with every other test), one database statement and one publish through Redis. The
# bound is generous on purpose: what the test proves is that the snooze comes back on its
# own, on both processes' streams, once; the timer's period is the design's business.
SLACK_SECONDS = 10.0
# How far ahead the snooze is set: time for the request and both streams' `snoozed`.
SNOOZE_SECONDS = 4.0

notify = sync_to_async(services.notify)


@pytest.fixture
def servers(start_server: Callable[..., Server]) -> tuple[Server, Server]:
    """Processes A and B, sharing the database and the Redis channel layer."""
    heartbeat = str(HEARTBEAT_SECONDS)
    return (
        start_server(NOTIFICATIONS_HEARTBEAT_SECONDS=heartbeat),
        start_server(NOTIFICATIONS_HEARTBEAT_SECONDS=heartbeat),
    )


async def read_until(stream: Listener, name: str, timeout: float) -> list[ServerSentEvent]:
    """Read every event up to and including the first one named ``name``."""
    received: list[ServerSentEvent] = []
    async with asyncio.timeout(timeout):
        while not received or received[-1].event != name:
            received.append(await stream.next())
    return received


async def connected(stream: Listener) -> dict[str, Any]:
    assert stream.status == 200, stream.body
    event = await stream.next()
    assert event.event == "connected", event
    return json.loads(event.data)


async def post(http: httpx.AsyncClient, user: Any, path: str, body: Any = None) -> None:
    response = await http.post(path, json=body, headers=bearer(user))
    assert response.status_code == 204, response.text


def assert_quiet(*servers: Server) -> None:
    """Each process woke snoozes and served streams without an error in its log."""
    for server in servers:
        for noise in ("Traceback", " ERROR ", "Could not bring back snoozed"):
            assert noise not in server.output(), server.output()


async def test_a_snooze_set_on_one_process_comes_back_once_on_every_stream_within_a_heartbeat(
    servers: tuple[Server, Server], user: Any
) -> None:
    a, b = servers
    [notification] = await notify(user, kind="info", title="Order #1042 shipped")
    async with contextlib.AsyncExitStack() as stack:
        http_a = await stack.enter_async_context(client(a))
        http_b = await stack.enter_async_context(client(b))
        on_b = await stack.enter_async_context(Listener(http_b, headers=bearer(user)))
        on_a = await stack.enter_async_context(Listener(http_a, headers=bearer(user)))
        streams = {"B": on_b, "A": on_a}
        for stream in streams.values():
            assert (await connected(stream))["unread_count"] == 1

        until = timezone.now() + timedelta(seconds=SNOOZE_SECONDS)
        path = f"/api/notifications/{notification.pk}/snooze/"
        await post(http_a, user, path, {"until": until.isoformat()})

        for name, stream in streams.items():
            snoozed = (await stream.next_named("snoozed")).json()
            assert snoozed == {
                "ids": [notification.pk],
                "unread_count": 0,
                "until": until.isoformat(),
            }, name
        due_by = until.timestamp() + HEARTBEAT_SECONDS + SLACK_SECONDS
        for name, stream in streams.items():
            unsnoozed = await stream.next_named("unsnoozed", timeout=due_by - time.time())
            arrived = time.time()
            assert arrived >= until.timestamp(), f"{name}: back before its time"
            data = unsnoozed.json()
            assert (data["ids"], data["unread_count"]) == ([notification.pk], 1), name
            [payload] = data["notifications"]
            assert payload["id"] == notification.pk, name
            assert (payload["read"], payload["snoozed_until"]) == (False, None), name

        # Nothing comes to say so: let both processes' upkeep run a couple of heartbeats more,
        # then archive it, and read each stream up to that archive.
        await asyncio.sleep(2 * HEARTBEAT_SECONDS)
        await post(http_a, user, f"/api/notifications/{notification.pk}/archive/")
        for name, stream in streams.items():
            since = await read_until(stream, "archived", timeout=15)
            assert "unsnoozed" not in [event.event for event in since], f"{name}: {since}"
    assert_quiet(a, b)


async def test_an_archive_on_one_process_reaches_a_stream_on_the_other(
    servers: tuple[Server, Server], user: Any
) -> None:
    a, b = servers
    archived, _kept = [
        (await notify(user, kind="info", title=title))[0] for title in ("Placed", "Paid")
    ]
    async with (
        client(a) as http_a,
        client(b) as http_b,
        Listener(http_b, headers=bearer(user)) as on_b,
    ):
        assert (await connected(on_b))["unread_count"] == 2
        await post(http_a, user, f"/api/notifications/{archived.pk}/archive/")
        event = await on_b.next_named("archived")
        assert event.json() == {"ids": [archived.pk], "unread_count": 1}
    assert_quiet(a, b)


async def test_a_stream_reconnecting_after_an_archive_elsewhere_gets_the_new_count(
    servers: tuple[Server, Server], user: Any
) -> None:
    a, b = servers
    archived, _kept = [
        (await notify(user, kind="info", title=title))[0] for title in ("Placed", "Paid")
    ]
    async with client(a) as http_a, client(b) as http_b:
        async with Listener(http_b, headers=bearer(user)) as first:
            before = await connected(first)
        assert before["unread_count"] == 2

        await post(http_a, user, f"/api/notifications/{archived.pk}/archive/")

        headers = {**bearer(user), "Last-Event-ID": str(before["last_seq"])}
        async with Listener(http_b, headers=headers) as again:
            after = await connected(again)
    assert (after["unread_count"], after["last_seq"]) == (1, before["last_seq"])
    assert_quiet(a, b)
