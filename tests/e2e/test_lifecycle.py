"""Server processes coming and going, as deploys and crashes make them: the per-user
connection limit must neither lock a user out nor stop holding."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import RedisServer
from tests.e2e.conftest import DAPHNE, SERVE, UVICORN, Server, client
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIMIT = 5
# Long leases (three heartbeats: 90 s), so that only the mechanisms under test can free a
# slot within these tests' bounds.
SLOW_HEARTBEAT = {"NOTIFICATIONS_HEARTBEAT_SECONDS": "30"}


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


async def open_streams(http: httpx.AsyncClient, user: Any, count: int) -> list[Listener]:
    streams = [Listener(http, headers=bearer(user)) for _ in range(count)]
    for stream in streams:
        await stream.__aenter__()
        if stream.status == 200:
            assert (await stream.next()).event == "connected"
    return streams


def limits(n: int) -> httpx.Limits:
    return httpx.Limits(max_connections=n + 5)


@pytest.mark.parametrize(
    ("command", "application"),
    [
        (SERVE, "project.asgi:application"),
        (DAPHNE, "project.asgi:application"),
        # A site that only includes notifications.urls: no with_lean_stream around it.
        (DAPHNE, "tests.e2e.plain_asgi:application"),
        # Through the lifespan scope, which with_lean_stream answers.
        (UVICORN, "project.asgi:application"),
    ],
    ids=["notifications.serve", "daphne", "daphne, Django's handler alone", "uvicorn"],
)
async def test_sigterm_ends_streams_and_another_process_admits_their_user_at_once(
    start_server: Callable[..., Server], user: Any, command: list[str], application: str
) -> None:
    leaving = start_server(command, application, **SLOW_HEARTBEAT)
    staying = start_server(**SLOW_HEARTBEAT)
    async with client(leaving, limits=limits(LIMIT)) as old, client(staying) as new:
        streams = await open_streams(old, user, LIMIT)
        assert [s.status for s in streams] == [200] * LIMIT
        assert leaving.process is not None
        leaving.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            await asyncio.gather(*(s.ended.wait() for s in streams))
        # Their clients come back to the other process, and every one is admitted.
        returning = await open_streams(new, user, LIMIT)
        assert [s.status for s in returning] == [200] * LIMIT
        await asyncio.gather(*(s.close() for s in streams + returning))
    assert "freed their slots" in leaving.output()


async def test_uvicorn_serves_a_site_whose_application_refuses_the_lifespan_scope(
    start_server: Callable[..., Server], user: Any
) -> None:
    # Django's own application raises on the scope: uvicorn says so, and goes on.
    server = start_server(UVICORN, "tests.e2e.plain_asgi:application")
    async with client(server) as http:
        [stream] = await open_streams(http, user, 1)
        assert stream.status == 200
        await stream.close()
    assert "ASGI 'lifespan' protocol appears unsupported." in server.output()


async def test_a_killed_process_stops_counting_against_the_limit_within_15_seconds(
    start_server: Callable[..., Server], user: Any
) -> None:
    crashing, staying = start_server(**SLOW_HEARTBEAT), start_server(**SLOW_HEARTBEAT)
    async with client(crashing, limits=limits(LIMIT)) as old, client(staying) as new:
        streams = await open_streams(old, user, LIMIT)
        assert crashing.process is not None
        crashing.process.kill()  # no cleanup at all
        # Refused while the dead process's slots still count, then admitted: well before
        # the 90 s its slots' leases last.
        async with asyncio.timeout(15):
            while True:
                [stream] = await open_streams(new, user, 1)
                if stream.status == 200:
                    break
                assert stream.status == 429
                await asyncio.sleep(0.5)
        # The killed process's streams ended with the connection: their readers failed.
        await asyncio.gather(*(s.close() for s in [*streams, stream]), return_exceptions=True)


async def test_after_a_redis_restart_the_limit_holds_and_the_newest_streams_go(
    start_server: Callable[..., Server],
    redis_server_factory: Callable[[], RedisServer],
    user: Any,
) -> None:
    redis = redis_server_factory()
    env = {**SLOW_HEARTBEAT, "REDIS_URL": redis.url}
    first, second = start_server(**env), start_server(**env)
    async with client(first, limits=limits(LIMIT)) as one, client(second) as two:
        established = await open_streams(one, user, LIMIT)
        redis.stop()  # it keeps nothing: every slot is forgotten
        redis.start()
        # The process that holds the user's streams refuses a newcomer at once...
        [refused] = await open_streams(one, user, 1)
        assert refused.status == 429, first.output()[-3000:]
        # ...and the newest over the limit are closed wherever they were admitted meanwhile.
        newcomers = await open_streams(two, user, 2)
        async with asyncio.timeout(10):
            await asyncio.gather(*(s.ended.wait() for s in newcomers if s.status == 200))
        assert not any(s.ended.is_set() for s in established)
        await asyncio.gather(*(s.close() for s in established + newcomers + [refused]))


async def test_opens_abandoned_before_their_first_byte_leak_no_slot(
    server: Server, user: Any
) -> None:
    request = (
        f"GET /api/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {AccessToken.for_user(user)}\r\n\r\n"
    ).encode()
    for n in range(300):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request)
            if n % 2:
                sock.recv(1)  # gone at once, or after the first byte
            # Reset rather than close: the server sees the client vanish mid-request.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    async with client(server, limits=limits(LIMIT)) as http:
        async with asyncio.timeout(5):  # what is still closing on the server side
            while True:
                streams = await open_streams(http, user, LIMIT)
                if all(s.status == 200 for s in streams):
                    break
                await asyncio.gather(*(s.close() for s in streams))
                await asyncio.sleep(0.2)
        await asyncio.gather(*(s.close() for s in streams))
