"""The stream under load and failure: more streams than PostgreSQL has connections, and
Redis stopped and started while notifications are being sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from project.settings import channel_layers
from tests.conftest import RedisServer
from tests.e2e.conftest import Server, client
from tests.e2e.listener import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def database_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL")
async def test_more_streams_than_postgres_connections(server: Server) -> None:
    max_connections = int(await sync_to_async(_max_connections)())
    count = max_connections + 50
    User = get_user_model()
    users = await sync_to_async(User.objects.bulk_create)(
        [User(username=f"reader{i}") for i in range(count)]
    )
    async with client(server, limits=httpx.Limits(max_connections=count + 10)) as http:
        listeners = [Listener(http, headers=bearer(u)) for u in users]
        try:
            for batch in range(0, count, 25):
                await asyncio.gather(*(s.__aenter__() for s in listeners[batch : batch + 25]))
            assert [s.status for s in listeners] == [200] * count
            for s in listeners:
                assert (await s.next()).event == "connected"
            in_use = await sync_to_async(database_connections)()
            assert in_use < 20, f"{in_use} database connections for {count} streams"
            await sync_to_async(services.notify)(
                User.objects.filter(username__startswith="reader"), kind="info", title="to all"
            )
            events = await asyncio.gather(*(s.next_named("notification") for s in listeners))
            assert {json.loads(e.data)["title"] for e in events} == {"to all"}
            assert await sync_to_async(database_connections)() < 20
        finally:
            await asyncio.gather(*(s.close() for s in listeners))


def _max_connections() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        return cursor.fetchone()[0]


async def test_redis_restart_loses_nothing_and_duplicates_nothing(
    start_server: Callable[..., Server],
    redis_server_factory: Callable[[], RedisServer],
    user: Any,
    settings: Any,
) -> None:
    redis = redis_server_factory()
    server = start_server(REDIS_URL=redis.url)
    # This process publishes through the same Redis as the server.
    settings.CHANNEL_LAYERS = channel_layers(redis.url)
    notify = sync_to_async(services.notify)
    async with client(server) as http:
        listeners = [Listener(http, headers=bearer(user)) for _ in range(3)]
        for s in listeners:
            await s.__aenter__()
            assert (await s.next()).event == "connected"
        sent = 0
        for phase in ("up", "down", "up again"):
            if phase == "down":
                redis.stop()
            elif phase == "up again":
                redis.start()
            for _ in range(5):
                sent += 1
                await notify(user, kind="info", title=f"{phase} {sent}")
                await asyncio.sleep(0.1)
        for s in listeners:
            received = await s.notifications(sent, timeout=30)
            assert [int(e.id) for e in received] == list(range(1, sent + 1))
            # Nothing more: no duplicate arrives after the last one.
            with pytest.raises(TimeoutError):
                await s.next_named("notification", timeout=1.5)
            await s.close()
        assert "catch up from the database" in server.output()
