"""Every response of real daphne names no server software, says what its content is, and
sends no Referer off-site: pages, the API, and the stream's refusals and the stream itself,
which skip the site's middleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.e2e.conftest import DAPHNE, SERVE, Server
from tests.e2e.raw_http import RawResponse, request_bytes, send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def every_kind_of_response(server: Server, user: Any) -> dict[str, RawResponse]:
    bearer = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    requests = {
        "a page": request_bytes("GET", "/accounts/login/"),
        "a static file": request_bytes("GET", "/static/inbox.js"),
        "an API answer": request_bytes("GET", "/api/notifications/unread-count/", headers=bearer),
        "an API refusal": request_bytes("GET", "/api/notifications/"),
        "the stream's 401": request_bytes("GET", "/api/events/"),
        "the stream's 400": request_bytes("GET", "/api/events/?last_event_id=x", headers=bearer),
        "the stream's 405": request_bytes("POST", "/api/events/", headers=bearer),
        "the stream": request_bytes("GET", "/api/events/", headers=bearer),
    }
    return {name: await send(server.port, raw) for name, raw in requests.items()}


async def test_every_response_has_the_security_headers_and_no_server_name(
    server: Server, user: Any
) -> None:
    responses = await every_kind_of_response(server, user)
    assert responses["the stream"].status == 200
    assert responses["a static file"].status == 200
    for name, response in responses.items():
        assert "server" not in response.headers, name
        assert response.headers.get("x-content-type-options") == "nosniff", name
        assert response.headers.get("referrer-policy") == "same-origin", name
    policy = responses["a page"].headers["content-security-policy"].split("; ")
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    ("arguments", "expected"), [([], None), (["--server-name", "beacon"], "beacon")]
)
async def test_serve_names_a_server_only_when_asked(
    start_server: Callable[..., Server], arguments: list[str], expected: str | None
) -> None:
    server = start_server(command=[*SERVE, *arguments])
    response = await send(server.port, request_bytes("GET", "/healthz"))
    assert response.headers.get("server") == expected


async def test_plain_daphne_names_none_with_the_documented_flag(
    start_server: Callable[..., Server],
) -> None:
    server = start_server(command=[*DAPHNE, "--no-server-name"])
    response = await send(server.port, request_bytes("GET", "/healthz"))
    assert "server" not in response.headers
