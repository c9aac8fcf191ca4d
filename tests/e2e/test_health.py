"""``GET /healthz`` of a real server whose database or Redis is unreachable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

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


async def test_requests_that_find_the_database_down_are_told_to_retry_not_a_500(
    start_server: Callable[..., Server], user: Any
) -> None:
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    server = await asyncio.to_thread(start_server, DATABASE_URL=closed, DATABASE_POOL_TIMEOUT="1")
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    async with client(server) as http:
        for path in ("/api/notifications/", "/api/notifications/unread-count/"):
            response = await http.get(path, headers=headers)
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == "5"
            assert "database" in response.json()["detail"]
