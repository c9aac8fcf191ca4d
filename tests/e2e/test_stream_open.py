"""The stream's answer to a database that cannot be reached, on every path that serves it.

Three servers: the ASGI front (the project's default), Django's stream handler under a
``STREAM_MIDDLEWARE`` of the site's own, and a site serving ``notifications.urls`` through
Django's plain handler. Each credential kind gets the same 503 from each of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from notifications.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_OUTAGE
from notifications.stream.tickets import StreamTicket
from tests.conftest import free_port
from tests.e2e.conftest import Server, client

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {
    "front": {},
    "stream middleware": {"DJANGO_SETTINGS_MODULE": "tests.e2e.stream_middleware_settings"},
    "urls only": {"application": "project.asgi:django_application"},
}


def credentials(kind: str, user: Any) -> dict[str, Any]:
    """The request options of an open by ``kind``: a Bearer token, a ticket, a session."""
    if kind == "bearer":
        return {"headers": {"Authorization": f"Bearer {AccessToken.for_user(user)}"}}
    if kind == "ticket":
        return {"params": {"token": str(StreamTicket.for_user(user))}}
    # Any session key: reading it is the database's work.
    return {"headers": {"Cookie": f"sessionid={'k' * 32}"}}


@pytest.mark.parametrize("path", PATHS)
async def test_an_open_that_finds_the_database_down_is_told_to_retry(
    start_server: Callable[..., Server], user: Any, path: str
) -> None:
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    server = await asyncio.to_thread(
        start_server, DATABASE_URL=closed, DATABASE_POOL_TIMEOUT="1", **PATHS[path]
    )
    async with client(server) as http:
        for kind in ("bearer", "ticket", "session"):
            response = await http.get("/api/events/", **credentials(kind, user))
            assert response.status_code == 503, kind
            assert response.headers["Retry-After"] == RETRY_AFTER_OUTAGE, kind
            assert response.headers["Content-Type"] == "application/json", kind
            assert response.json() == {"detail": DATABASE_UNAVAILABLE}, kind
