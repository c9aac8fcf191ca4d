"""A Redis outage as an operator reads it in a server process's log: one warning when Redis
goes, one line when it is back, and not a traceback in between, while the stream it serves
keeps receiving (by polling the database, then live again).

The server runs on a private redis-server, which the test stops and starts again; the
shared one is never touched.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_client
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import RedisServer
from tests.e2e.conftest import Server, client, send
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Long enough for each of the process's retries to come round several times while Redis is
# away: the pub/sub layer's receive task (every second), the liveness key (every 3 s), the
# slot renewals and the hub's probes (every second here).
OUTAGE_SECONDS = 7.0
# A line of the project's log format (project/settings.py, LOGGING).
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<text>.*)$"
)


def logged(output: str) -> list[tuple[str, str, str]]:
    """Return ``(level, logger, message)`` of each log line in ``output``."""
    return [
        (match["level"], match["logger"], match["text"])
        for line in output.splitlines()
        if (match := LOG_LINE.match(line))
    ]


async def until_logged(server: Server, since: int, text: str) -> None:
    async with asyncio.timeout(20):
        while text not in server.output()[since:]:
            await asyncio.sleep(0.1)


async def until_alive_in(redis: RedisServer) -> None:
    """Wait until the server's liveness key is back in Redis: its upkeep has reached Redis
    again, and said whatever it says about the outage's end."""
    connection = redis_client.Redis.from_url(redis.url)
    try:
        async with asyncio.timeout(20):
            while not await asyncio.to_thread(connection.keys, "*:process:*"):
                await asyncio.sleep(0.1)
    finally:
        connection.close()


async def test_a_redis_outage_is_one_warning_when_it_goes_and_one_line_when_it_is_back(
    start_server: Callable[..., Server],
    redis_server_factory: Callable[[], RedisServer],
    user: Any,
) -> None:
    redis = redis_server_factory()
    server = start_server(REDIS_URL=redis.url)
    token = str(AccessToken.for_user(user))

    def headers() -> dict[str, str]:  # httpx-sse adds its Accept to the dict it is given
        return {"Authorization": f"Bearer {token}"}

    loop = asyncio.get_running_loop()
    async with client(server) as http, Listener(http, headers=headers()) as stream:
        assert (await stream.next()).event == "connected"
        await asyncio.to_thread(send, server, user.username, "Before")
        assert json.loads((await stream.next_named("notification")).data)["title"] == "Before"

        since = len(server.output())
        redis.stop()
        stopped_at = loop.time()
        # What the process does during the outage, each of which used to log on its own:
        # a notification sent by an operator command reaches the open stream (by polling)...
        await asyncio.to_thread(send, server, user.username, "During")
        during = json.loads((await stream.next_named("notification")).data)
        assert during["title"] == "During"
        # ...the load balancer's health check says the layer is down...
        health = await http.get("/healthz")
        assert health.status_code == 200 and health.json()["channel_layer"] == "down"
        # ...a mark-read publishes a doorbell that cannot go, and a new stream is admitted.
        read = await http.post(f"/api/notifications/{during['id']}/read/", headers=headers())
        assert read.status_code == 200, read.text
        async with Listener(http, headers=headers()) as second:
            assert (await second.next()).event == "connected"
        await asyncio.sleep(max(OUTAGE_SECONDS - (loop.time() - stopped_at), 0))

        redis.start()
        await until_logged(server, since, "Channel layer is back")
        await until_alive_in(redis)
        await asyncio.to_thread(send, server, user.username, "After")
        assert json.loads((await stream.next_named("notification")).data)["title"] == "After"

    window = server.output()[since:]
    assert "Traceback" not in window, window
    lines = logged(window)
    assert [(level, name) for level, name, _ in lines] == [
        ("WARNING", "notifications.stream.hub"),
        ("INFO", "notifications.stream.hub"),
    ], window
    assert lines[0][2].startswith("Channel layer unavailable (ConnectionError: "), window
    assert lines[1][2] == "Channel layer is back: streams are live again."
