"""Live routes sharded over two Redis servers, one of which dies and comes back, in turn.

Two daphne processes run with ``REDIS_URL`` naming two private redis-servers, so the channel
layer spreads its names (users' routes, the group of every process) over both. Twenty users
have streams, some on both processes, so that routes land on both servers; more users have
none, so that a notification to everyone is a broadcast. Operator commands in other
processes publish to named users and to everyone while each Redis in turn is SIGKILLed and
restarted on its port. After each step every stream must hold exactly its user's stored
notifications, each once, in ``seq`` order, without waiting for a later publish to bring a
lost one along: whichever server carried a message, the database catch-up covers what a dead
one dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from notifications.models import Notification
from tests.conftest import RedisServer
from tests.e2e.conftest import Server, client, manage
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USERS = 20
# Users without a stream, so that a notification to everyone reaches more users than the
# default ``ROUTED_FANOUT`` (64): a broadcast, as the processes see one, rather than a few
# users' messages.
BYSTANDERS = 60
# Every third user also has a stream on the other process: a user's messages must reach
# both of its processes, whichever Redis holds its route.
BOTH_PROCESSES_EVERY = 3
# A bound for the test not to hang, not a measure: each step is normally a few polls
# (``POLL_SECONDS``) of the database or a live message away.
SETTLE_SECONDS = 60.0

Expected = dict[int, list[tuple[int, str]]]  # user id -> (seq, title) of each stored one


@dataclass
class Stream:
    """One open stream of one user, on one server process, and what it received."""

    name: str
    user_id: int
    listener: Listener
    received: list[tuple[int, str]] = field(default_factory=list)

    async def read_until(self, count: int) -> None:
        """Read events until ``count`` notifications came; a ``resync`` is a failure (a
        hole the server could not fill), and so is the stream ending."""
        while len(self.received) < count:
            event = await self.listener.next(timeout=SETTLE_SECONDS)
            if event.event == "resync":
                raise AssertionError(f"{self.name}: resync {event.data}")
            if event.event == "notification":
                data = json.loads(event.data)
                assert event.id == str(data["seq"]), event
                self.received.append((data["seq"], data["title"]))


def sigkill(redis: RedisServer) -> None:
    """End the redis-server at once, as a crash would: no clean close of any connection."""
    assert redis.process is not None
    redis.process.kill()
    redis.process.wait()
    redis.process = None


def publish(env: dict[str, str], title: str, recipients: Sequence[str] = ()) -> None:
    """Notify ``recipients`` (everyone when empty) from another process, as an operator
    would, configured like the servers (``env``)."""
    target = [f"--user={name}" for name in recipients] or ["--all"]
    result = manage("send_notification", *target, "--title", title, env=env)
    assert result.returncode == 0, result.stderr


@sync_to_async
def stored(user_ids: list[int]) -> Expected:
    """Each user's stored notifications, in ``seq`` order: what each stream must show."""
    expected: Expected = {user_id: [] for user_id in user_ids}
    rows = Notification.objects.filter(recipient_id__in=user_ids).order_by("recipient_id", "seq")
    for user_id, seq, title in rows.values_list("recipient_id", "seq", "title"):
        expected[user_id].append((seq, title))
    return expected


async def settle(streams: list[Stream], step: str) -> None:
    """Wait, bounded, until every stream holds all its user's stored notifications; then
    check each holds exactly those, once each, in order."""
    expected = await stored(sorted({s.user_id for s in streams}))
    tasks = [asyncio.ensure_future(s.read_until(len(expected[s.user_id]))) for s in streams]
    done, pending = await asyncio.wait(tasks, timeout=SETTLE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    problems = [f"{s.name}: {t.exception()!r}" for s, t in zip(streams, tasks, strict=True)
                if t in done and t.exception() is not None]  # fmt: skip
    problems += [
        f"{s.name}: received {s.received}, stored {expected[s.user_id]}"
        for s in streams
        if s.received != expected[s.user_id]
    ]
    assert not problems, f"after {step}:\n" + "\n".join(problems)


@pytest.fixture
def users(make_user: Callable[..., Any], django_user_model: type[Any]) -> list[Any]:
    """The users with streams; the bystanders are created alongside, in one query."""
    django_user_model.objects.bulk_create(
        django_user_model(username=f"bystander{n:02}") for n in range(BYSTANDERS)
    )
    return [make_user(f"user{n:02}") for n in range(USERS)]


@pytest.mark.timeout(600)
async def test_every_stream_gets_each_of_its_notifications_once_while_a_redis_shard_restarts(
    start_server: Callable[..., Server],
    redis_server_factory: Callable[[], RedisServer],
    users: list[Any],
) -> None:
    shards = [redis_server_factory(), redis_server_factory()]
    redis_url = ",".join(redis.url for redis in shards)
    servers = [start_server(REDIS_URL=redis_url), start_server(REDIS_URL=redis_url)]
    names, env = [user.username for user in users], servers[0].env
    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(client(server)) for server in servers]
        streams = []
        for n, user in enumerate(users):
            homes = [n % 2] + ([(n + 1) % 2] if n % BOTH_PROCESSES_EVERY == 0 else [])
            for home in homes:
                headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
                listener = await stack.enter_async_context(Listener(https[home], headers=headers))
                streams.append(Stream(f"{user.username} on process {home}", user.pk, listener))
        for stream in streams:
            assert stream.listener.status == 200, stream.listener.body
            assert (await stream.listener.next()).event == "connected"

        await asyncio.to_thread(publish, env, "Before", names)
        await settle(streams, "notifying every user by name")
        for n, redis in enumerate(shards):
            await asyncio.to_thread(sigkill, redis)
            await asyncio.to_thread(publish, env, f"Redis {n} down", names)
            await asyncio.to_thread(publish, env, f"Redis {n} down, odd", names[1::2])
            await asyncio.to_thread(publish, env, f"Redis {n} down, to all")
            await settle(streams, f"publishing while Redis {n} was down")
            await asyncio.to_thread(redis.start)
            await asyncio.to_thread(publish, env, f"Redis {n} back", names)
            await asyncio.to_thread(publish, env, f"Redis {n} back, even", names[::2])
            await settle(streams, f"publishing once Redis {n} was back")
        await asyncio.to_thread(publish, env, "After, to all")
        await settle(streams, "a broadcast once both were back")
    # An operator reads each outage as a warning and its end, not as tracebacks.
    for server in servers:
        for noise in ("Traceback", " ERROR ", "Task was destroyed"):
            assert noise not in server.output(), server.output()
