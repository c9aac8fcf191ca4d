"""``GET /healthz`` of a real server whose database or Redis is unreachable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.conftest import free_port
from tests.e2e.conftest import Server, client

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_server_without_its_database_is_unhealthy(
    start_server: Callable[..., Server],
) -> None:
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    server = await asyncio.to_thread(start_server, DATABASE_URL=closed)
    async with client(server) as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert response.json()["status"] != "ok"


async def test_a_server_without_redis_is_healthy_and_says_so(
    start_server: Callable[..., Server],
) -> None:
    server = await asyncio.to_thread(start_server, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    async with client(server) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "down"}
