"""Thousands of generated malformed requests against two real daphne processes: none gets a
5xx, every refusal under /api/ is JSON with a ``detail``, and the servers still stream."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from notifications.stream.tickets import StreamTicket
from tests.e2e.conftest import Server, client, send
from tests.e2e.fuzz_corpus import Fuzzed, corpus
from tests.e2e.listener import Listener
from tests.e2e.raw_http import RawResponse, request_bytes
from tests.e2e.raw_http import send as send_raw

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SEED = 20_261_202
REQUESTS = 3_200
CONCURRENCY = 12


def problem(request: Fuzzed, response: RawResponse) -> str | None:
    """Say what is wrong with ``response``, or None."""
    if response.status >= 500:
        return f"{response.status}"
    if not (request.path.startswith("/api/") and 400 <= response.status < 500):
        return None
    if request.method == "HEAD":
        return None  # no body by definition
    try:
        detail = json.loads(response.body)["detail"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status} without a JSON detail: {response.body[:120]!r}"
    return None if isinstance(detail, str) and detail else f"empty detail {detail!r}"


async def fuzz(servers: list[Server], requests: list[Fuzzed]) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int, request: Fuzzed) -> None:
        raw = request_bytes(
            request.method, request.target, host=request.host, headers=request.headers,
            body=request.body,
        )  # fmt: skip
        async with gate:
            response = await send_raw(servers[n % len(servers)].port, raw, timeout=30)
        statuses[response.status] += 1
        if (found := problem(request, response)) is not None:
            problems.append(f"{request.method} {request.target[:150]} -> {found}")

    await asyncio.gather(*(one(n, request) for n, request in enumerate(requests)))
    return statuses, problems


async def csrf_cookie(server: Server) -> str:
    response = await send_raw(server.port, request_bytes("GET", "/accounts/login/"))
    return response.headers["set-cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]


async def test_malformed_requests_get_clear_refusals_and_the_servers_keep_streaming(
    start_server: Callable[..., Server], make_user: Callable[..., Any]
) -> None:
    alice, carol = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("carol")
    servers = [start_server(), start_server()]
    tokens = [str(AccessToken.for_user(alice)), str(StreamTicket.for_user(alice))]
    requests = list(corpus(SEED, REQUESTS, tokens, await csrf_cookie(servers[0])))

    async with asyncio.timeout(240):
        statuses, problems = await fuzz(servers, requests)
    summary = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    print(f"\nfuzz: {sum(statuses.values())} requests; statuses {summary}")
    assert sum(statuses.values()) == REQUESTS
    assert not problems, "\n".join(problems[:30])

    # Both processes still stream a notification sent from a third.
    bearer = {"Authorization": f"Bearer {AccessToken.for_user(carol)}"}
    async with (
        client(servers[0]) as first,
        client(servers[1]) as second,
        Listener(first, headers=bearer) as one,
        Listener(second, headers=bearer) as two,
    ):
        assert (await one.next()).event == "connected"
        assert (await two.next()).event == "connected"
        await sync_to_async(send)(servers[0], "carol", "still here")
        for stream in (one, two):
            event = await stream.next_named("notification", timeout=10)
            assert json.loads(event.data)["title"] == "still here"
