"""Thousands of generated malformed requests against two real daphne processes: none gets a
5xx, every refusal under /api/ is JSON with a ``detail``, and the servers still stream.

Then tokens signed with the site's key whose claims the site never issues (generated, and
named), on both paths of the stream, the API and the refresh endpoint: each gets a 401 with
a JSON ``detail``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import AccessToken

from notifications.stream.tickets import StreamTicket
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server, client, send
from tests.e2e.fuzz_corpus import (
    HOSTILE_TIMES,
    TIME_CLAIMS,
    Fuzzed,
    corpus,
    hostile_claims,
    hostile_user_ids,
    signed,
)
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


# --- Tokens signed with the site's key, with claims the site never issues ---------------------

HOSTILE_EXAMPLES = 300
# Streams served by the ASGI front (the project's default), and by Django's handler and the
# app's view (a STREAM_MIDDLEWARE of the site's own); the refresh endpoint unthrottled.
PATHS = {
    "front": {"TOKEN_THROTTLE_RATE": "100000/min"},
    "view": {
        "TOKEN_THROTTLE_RATE": "100000/min",
        "DJANGO_SETTINGS_MODULE": "tests.e2e.stream_middleware_settings",
    },
}


@dataclass
class Tally:
    """Statuses seen, and what was wrong, over many requests."""

    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def expect_401(self, response: httpx.Response, what: str) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code != 401:
            self.problems.append(f"{what}: {response.status_code} {response.text[:120]!r}")
            return
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            detail = None
        if not (isinstance(detail, str) and detail):
            self.problems.append(f"{what}: 401 without a JSON detail: {response.text[:120]!r}")


def refuse_everywhere(
    http: httpx.Client, servers: dict[str, Server], claims: dict[str, Any], tally: Tally
) -> None:
    """Present ``claims`` as an access token (stream header and URL, the API's own views and
    the site's schema view), a stream ticket (stream URL) and a refresh token (refresh
    endpoint), on both paths of the stream; expect a 401 with JSON each time."""
    access, ticket, refresh = (
        signed({**claims, "token_type": kind}) for kind in ("access", "stream", "refresh")
    )
    what = f"claims {claims!r}"
    for path, server in servers.items():
        for how, options in [
            ("bearer", {"headers": {"Authorization": f"Bearer {access}"}}),
            ("access in URL", {"params": {"token": access}}),
            ("ticket", {"params": {"token": ticket}}),
        ]:
            with http.stream("GET", f"{server.url}/api/events/", **options) as response:
                if response.status_code != 200:  # a stream that opened is closed unread
                    response.read()
                tally.expect_401(response, f"stream ({path}, {how}), {what}")
    front = servers["front"].url
    for api in ("/api/notifications/", "/api/schema/"):
        tally.expect_401(
            http.get(f"{front}{api}", headers={"Authorization": f"Bearer {access}"}),
            f"{api}, {what}",
        )
    tally.expect_401(
        http.post(f"{front}/api/token/refresh/", json={"refresh": refresh}), f"refresh, {what}"
    )


@pytest.fixture
def token_servers(start_server: Callable[..., Server]) -> dict[str, Server]:
    return {path: start_server(**env) for path, env in PATHS.items()}


def test_generated_tokens_with_hostile_claims_get_a_401_json_everywhere(
    token_servers: dict[str, Server], make_user: Callable[..., Any]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    base = dict(AccessToken.for_user(alice).payload)
    tally = Tally()

    with httpx.Client(timeout=30) as http:

        @settings(
            max_examples=HOSTILE_EXAMPLES, derandomize=True, database=None, deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )  # fmt: skip
        @given(claims=hostile_claims(base, taken={str(alice.pk), str(bob.pk)}))
        def check(claims: dict[str, Any]) -> None:
            refuse_everywhere(http, token_servers, claims, tally)

        check()
    summary = ", ".join(f"{status}: {n}" for status, n in sorted(tally.statuses.items()))
    print(f"\nhostile tokens: {sum(tally.statuses.values())} requests; statuses {summary}")
    assert not tally.problems, "\n".join(tally.problems[:30])
    assert sum(tally.statuses.values()) == HOSTILE_EXAMPLES * 9


def test_named_hostile_claims_get_a_401_json_everywhere(
    token_servers: dict[str, Server], make_user: Callable[..., Any]
) -> None:
    alice = make_user("alice")
    base = dict(AccessToken.for_user(alice).payload)
    named = [{"user_id": value} for value in hostile_user_ids(alice.pk).values()] + [
        {claim: value} for claim in TIME_CLAIMS for value in HOSTILE_TIMES.values()
    ]
    tally = Tally()
    with httpx.Client(timeout=30) as http:
        for changes in named:
            refuse_everywhere(http, token_servers, {**base, **changes}, tally)
    assert not tally.problems, "\n".join(tally.problems[:30])


@pytest.mark.parametrize("case", ["user id 2.5", "exp 1e20"])
def test_a_fractional_user_id_or_an_expiry_in_year_3e12_is_refused(
    token_servers: dict[str, Server], make_user: Callable[..., Any], case: str
) -> None:
    alice = make_user("alice")
    # int() reads a user id of 2.5 as 2; datetime cannot hold 1e20 seconds.
    changes = {"user_id": alice.pk + 0.5} if case == "user id 2.5" else {"exp": 1e20}
    tally = Tally()
    with httpx.Client(timeout=30) as http:
        refuse_everywhere(
            http, token_servers, {**AccessToken.for_user(alice).payload, **changes}, tally
        )
    assert not tally.problems, "\n".join(tally.problems)


def test_the_refresh_token_of_a_deleted_user_gets_a_401_json(
    server: Server, make_user: Callable[..., Any]
) -> None:
    alice = make_user("alice")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        credentials = {"username": "alice", "password": PASSWORD}
        refresh = http.post("/api/token/", json=credentials).json()["refresh"]
        alice.delete()
        response = http.post("/api/token/refresh/", json={"refresh": refresh})
    assert response.status_code == 401, response.text[:300]
    assert response.json()["detail"] == "User not found"


def test_the_admin_close_button_answers_a_user_that_is_not_an_id(
    server: Server, make_user: Callable[..., Any]
) -> None:
    make_user("staff", is_staff=True, is_superuser=True)
    page = "/admin/notifications/notification/connections/"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        csrf = http.get("/admin/login/").cookies["csrftoken"]
        signed_in = http.post(
            "/admin/login/",
            data={"username": "staff", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        )
        assert signed_in.status_code == 302, signed_in.text[:300]
        csrf = http.cookies["csrftoken"]
        response = http.post(page, data={"user": "\u00b2", "csrfmiddlewaretoken": csrf})
        assert response.status_code == 302, response.text[:300]
        assert "No such user." in http.get(page).text
