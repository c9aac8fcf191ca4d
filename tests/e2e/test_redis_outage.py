"""A Redis outage, stopped or frozen, as an operator reads it in each process's log: one
warning when Redis goes, one line when it is back, and not a traceback in between, while
the streams keep receiving (by polling the database, then live again) and a publisher
keeps its pace.

The processes run on a private redis-server, which the test stops and starts again, or
freezes (SIGSTOP: connections are still accepted, nothing answers) and thaws; the shared
one is never touched.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from rest_framework_simplejwt.tokens import AccessToken

from notifications.conf import conf
from notifications.models import Notification
from notifications.stream.opens import TAKE_TIMEOUT_SECONDS
from tests.conftest import RedisServer
from tests.e2e.conftest import ROOT, Server, client, send
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Long enough for each of the process's retries to come round several times while Redis is
# away: the pub/sub layer's receive task (every second), the liveness key (every 3 s), the
# slot renewals and the hub's probes (every second here).
OUTAGE_SECONDS = 7.0
# The publisher's pace, and how long it keeps it: past the outage and what the test does
# in it (an operator command waits for its doorbell a bounded time at exit), so that it
# publishes again once Redis is back, and says so.
RATE = 200
PUBLISHING_SECONDS = 2 * OUTAGE_SECONDS + 3
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


def assert_one_outage(output: str, logger: str, went: str, back: str) -> None:
    """Assert that ``output`` says the outage once when it starts (a line that contains
    ``went``) and once when it ends (``back``), and nothing else: no error, no traceback, no
    task that asyncio found abandoned."""
    for noise in ("Traceback", "Task was destroyed", "ERROR"):
        assert noise not in output, output
    lines = logged(output)
    assert [(level, name) for level, name, _ in lines] == [
        ("WARNING", logger),
        ("INFO", logger),
    ], output
    assert went in lines[0][2], output
    assert lines[1][2] == back, output


class Publisher:
    """An application process calling ``notify()`` at a steady rate and timing each call
    (``python -m bench.publisher``), its log kept in a file."""

    def __init__(self, server: Server, log: Path, *, user_id: int, seconds: float) -> None:
        self.log = log
        self.seconds = seconds
        config = {"mode": "rate", "users": [user_id], "rate": RATE, "duration": seconds}
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.publisher"],
                cwd=ROOT,
                env={**server.env, "DJANGO_SETTINGS_MODULE": "project.settings"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({**config, "seed": 0, "index": 0}) + "\n")
        self.process.stdin.flush()
        # Ready once its database connection is open and a first doorbell has rung.
        assert self.process.stdout.readline().strip() == "ready", self.output()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        """Wait for the run's figures; the process must end in a bounded time."""
        stdout, _ = self.process.communicate(timeout=self.seconds + 60)
        assert self.process.returncode == 0, self.output()
        result: dict[str, Any] = json.loads(stdout)
        return result

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def until_logged(read: Callable[[], str], text: str) -> None:
    async with asyncio.timeout(20):
        while text not in read():
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


def go_away(redis: RedisServer, how: str) -> None:
    if how == "stopped":
        redis.stop()
    else:
        redis.freeze()


def come_back(redis: RedisServer, how: str) -> None:
    if how == "stopped":
        redis.start()
    else:
        redis.thaw()


@pytest.mark.parametrize("how", ["stopped", "frozen"])
async def test_a_redis_outage_is_one_warning_when_it_goes_and_one_line_when_it_is_back(
    start_server: Callable[..., Server],
    redis_server_factory: Callable[[], RedisServer],
    user: Any,
    other_user: Any,
    tmp_path: Path,
    how: str,
) -> None:
    redis = redis_server_factory()
    server = start_server(REDIS_URL=redis.url)
    publisher = await asyncio.to_thread(
        Publisher,
        server,
        tmp_path / "publisher.log",
        user_id=other_user.pk,
        seconds=PUBLISHING_SECONDS,
    )

    def headers(who: Any) -> dict[str, str]:  # httpx-sse adds its Accept to the dict it is given
        return {"Authorization": f"Bearer {AccessToken.for_user(who)}"}

    loop = asyncio.get_running_loop()
    try:
        async with (
            client(server) as http,
            Listener(http, headers=headers(user)) as stream,
            Listener(http, headers=headers(other_user)) as published,
        ):
            assert (await stream.next()).event == "connected"
            assert (await published.next()).event == "connected"
            await asyncio.to_thread(send, server, user.username, "Before")
            assert json.loads((await stream.next_named("notification")).data)["title"] == "Before"

            since = len(server.output())
            published_since = len(publisher.output())
            go_away(redis, how)
            gone_at = loop.time()
            publisher.go()
            # What the process does during the outage, each of which used to log on its own:
            # a notification sent by an operator command reaches the open stream (by
            # polling)...
            await asyncio.to_thread(send, server, user.username, "During")
            during = json.loads((await stream.next_named("notification")).data)
            assert during["title"] == "During"
            # ...the load balancer's health check says the layer is down...
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json()["channel_layer"] == "down"
            # ...a mark-read publishes a doorbell that cannot go...
            read = await http.post(
                f"/api/notifications/{during['id']}/read/", headers=headers(user)
            )
            assert read.status_code == 200, read.text
            # ...and a new stream is admitted, unlimited: a Redis that hangs holds an open
            # for TAKE_TIMEOUT_SECONDS, not for its client's retries (20 s).
            opened_at = loop.time()
            async with Listener(http, headers=headers(user)) as second:
                assert (await second.next()).event == "connected"
            assert loop.time() - opened_at < 5 * TAKE_TIMEOUT_SECONDS
            await asyncio.sleep(max(OUTAGE_SECONDS - (loop.time() - gone_at), 0))

            come_back(redis, how)
            await until_logged(server.output, "Channel layer is back")
            await until_alive_in(redis)
            await asyncio.to_thread(send, server, user.username, "After")
            assert json.loads((await stream.next_named("notification")).data)["title"] == "After"
            await until_logged(publisher.output, "Publishing to the channel layer works again")

            # The publisher kept its pace, whatever Redis did: its run ends on time, so one
            # that fell behind sends fewer (a notify() that waited for its publish to time
            # out would have sent a handful).
            result = await asyncio.to_thread(publisher.result)
            sent = result["sent"][str(other_user.pk)]
            assert sent >= 0.9 * RATE * PUBLISHING_SECONDS, result["seconds"]
            slowest = max(after - before for before, _, _, after in result["marks"])
            assert slowest < conf.PUBLISH_TIMEOUT_SECONDS / 2
            # Every one is stored, and reaches the stream of its user exactly once, in order.
            assert await Notification.objects.filter(recipient=other_user).acount() == sent
            frames = await published.notifications(sent, timeout=60)
            assert [json.loads(frame.data)["seq"] for frame in frames] == list(range(1, sent + 1))
    finally:
        publisher.kill()

    # The warning names what failed and says what it says: a refused connection, or no
    # answer from a Redis that hangs.
    error = "ConnectionError: " if how == "stopped" else "TimeoutError: "
    assert_one_outage(
        server.output()[since:],
        "notifications.stream.hub",
        f"Channel layer unavailable ({error}",
        "Channel layer is back: streams are live again.",
    )
    assert_one_outage(
        publisher.output()[published_since:],
        "notifications.delivery.publish",
        f"to the channel layer failed ({error}",
        "Publishing to the channel layer works again.",
    )
