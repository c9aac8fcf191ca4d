"""Hostile input against real daphne: the access log, a fresh process's first schema
requests, paths with ``..``, and throttle counts shared by every process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.e2e.conftest import Server
from tests.e2e.raw_http import request_bytes, send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def get(server: Server, target: str, **headers: str) -> Any:
    return await send(server.port, request_bytes("GET", target, headers=headers))


async def test_the_access_log_shows_no_token_however_it_is_spelt(server: Server, user: Any) -> None:
    tokens = {spelling: str(AccessToken.for_user(user)) for spelling in range(5)}
    targets = [
        f"/api/events/?%74oken={tokens[0]}",
        f"/api/events/?x=1;token={tokens[1]}",
        f"/api/events/?TOKEN={tokens[2]}",
        f"/api/notifications/?a=b&t%6Fken={tokens[3]}",
        f"/api/events/?token={tokens[4]}",
    ]
    statuses = [(await get(server, target)).status for target in targets]
    # %74oken= and token= authenticate (Django decodes the name); the others do not.
    assert statuses[0] == 200 and statuses[4] == 200
    log = server.output()
    for token in tokens.values():
        assert token not in log
    # Each refused request's line is written at once (an open stream's only when it ends).
    assert log.count("=********") >= 3


async def test_a_fresh_process_builds_its_schema_once_for_concurrent_requests(
    server: Server,
) -> None:
    responses = await asyncio.gather(*(get(server, "/api/schema/") for _ in range(10)))
    assert [r.status for r in responses] == [200] * 10
    assert len({r.body for r in responses}) == 1


@pytest.mark.parametrize(
    "target",
    ["/static/../manage.py", "/static/../../../etc/passwd", "/static/..%2fmanage.py",
     "/static/%2e%2e/%2e%2e/manage.py", "/static/notifications/../../manage.py"],
)  # fmt: skip
async def test_dot_dot_under_static_is_a_plain_404(server: Server, target: str) -> None:
    response = await get(server, target)
    assert response.status in (400, 404)
    assert b"DJANGO_SETTINGS_MODULE" not in response.body


async def test_the_stream_refuses_a_disallowed_host(server: Server, user: Any) -> None:
    raw = request_bytes(
        "GET", "/api/events/", host="evil.example",
        headers={"Authorization": f"Bearer {AccessToken.for_user(user)}"},
    )  # fmt: skip
    response = await send(server.port, raw)
    assert response.status == 400
    assert b'"detail"' in response.body


async def test_token_throttle_counts_are_shared_by_every_process(
    start_server: Callable[..., Server], user: Any
) -> None:
    first, second = (start_server(TOKEN_THROTTLE_RATE="3/min") for _ in range(2))
    body = b'{"username": "nobody", "password": "wrong"}'
    statuses = []
    for server in (first, second, first, second, first):
        raw = request_bytes(
            "POST", "/api/token/", body=body, headers={"Content-Type": "application/json"}
        )
        statuses.append((await send(server.port, raw)).status)
    assert statuses == [401, 401, 401, 429, 429]
