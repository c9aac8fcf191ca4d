"""The JavaScript client on its own, as an embedding site uses it: no session, a bearer
token from the site, stream tickets; and each kind of refusal answered in its own way: a 401
mints a fresh ticket at once, a 429 waits Retry-After, a network error backs off
exponentially. The server's answers are replaced by playwright's routing where a test needs
a refusal; the lower bounds of the waits are what tells the three answers apart."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.e2e.conftest import Server

pytestmark = pytest.mark.django_db(transaction=True)

EMBED = """
async ({token, lastEventId}) => {
  const { connect } = await import("/static/notifications/client.js");
  window.received = [];
  window.tickets = 0;
  window.client = connect({
    getToken: async () => { window.tickets += 1; return token; },
    lastEventId,
    on: {
      connected: (data) => window.received.push(["connected", data]),
      notification: (data) => window.received.push(["notification", data]),
      status: (status) => window.received.push(["status", status]),
    },
  });
}
"""


async def received(page: Any, event: str) -> list[Any]:
    events = await page.evaluate("window.received")
    return [data for name, data in events if name == event]


async def test_ticket_auth_and_a_refused_stream_resumes_with_a_fresh_ticket(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    notify = publish_to(server)
    (first,) = await notify(user, kind="info", title="Seen before")
    context = await new_context()
    page = await context.new_page()
    # Any page of the server's origin without a session: the token is the only credential.
    await page.goto(f"{server.url}/accounts/login/")

    # The first stream request is refused as an expired ticket would be: the client must
    # mint a new ticket and resume where it was, at once.
    streams: list[str] = []

    async def refuse_first(route: Any) -> None:
        streams.append(route.request.url)
        if len(streams) == 1:
            await route.fulfill(
                status=401, content_type="application/json", body=json.dumps({"detail": "x"})
            )
        else:
            await route.continue_()

    await context.route(re.compile(r"/api/events/\?"), refuse_first)
    token = str(AccessToken.for_user(user))
    await page.evaluate(EMBED, {"token": token, "lastEventId": first.seq})
    await page.wait_for_function("window.received.some(([name]) => name === 'connected')")

    assert len(streams) == 2
    assert all(f"last_event_id={first.seq}" in url for url in streams)
    tickets = [re.search(r"token=([^&]+)", url).group(1) for url in streams]
    assert tickets[0] != tickets[1], "the reopened stream reused the refused ticket"
    assert token not in streams[1], "the access token went into a URL"
    assert await page.evaluate("window.tickets") == 2
    assert (await received(page, "connected"))[0]["user_id"] == user.pk

    await notify(user, kind="info", title="Live through a ticket")
    await page.wait_for_function("window.received.some(([name]) => name === 'notification')")
    (notification,) = await received(page, "notification")
    assert notification["title"] == "Live through a ticket"
    assert notification["seq"] == first.seq + 1
    assert await received(page, "status") == ["live"], "a 401 reopened without a backoff"


Refuse = Callable[[Any, int], Awaitable[None]]


async def open_refused(
    server: Server, user: Any, new_context: Any, refuse: Refuse, refusals: int
) -> list[float]:
    """Embed the client, refuse its first ``refusals`` stream requests with ``refuse``, and
    return the times of its requests once it is connected."""
    context = await new_context()
    page = await context.new_page()
    await page.goto(f"{server.url}/accounts/login/")
    times: list[float] = []

    async def route(route: Any) -> None:
        times.append(time.monotonic())
        if len(times) <= refusals:
            await refuse(route, len(times))
        else:
            await route.continue_()

    await context.route(re.compile(r"/api/events/\?"), route)
    await page.evaluate(EMBED, {"token": str(AccessToken.for_user(user)), "lastEventId": None})
    await page.wait_for_function("window.received.some(([name]) => name === 'connected')")
    assert len(times) == refusals + 1
    assert await received(page, "status") == ["reconnecting", "live"]
    return times


async def test_a_429_waits_retry_after(server: Server, user: Any, new_context: Any) -> None:
    async def too_many(route: Any, _: int) -> None:
        await route.fulfill(
            status=429,
            headers={"Retry-After": "3"},
            content_type="application/json",
            body=json.dumps({"detail": "Too many open streams"}),
        )

    first, second = await open_refused(server, user, new_context, too_many, 1)
    # The first network-error backoff is at most 1 s: waiting 3 s is Retry-After's doing.
    assert second - first >= 3


async def test_network_errors_back_off_exponentially(
    server: Server, user: Any, new_context: Any
) -> None:
    async def unreachable(route: Any, _: int) -> None:
        await route.abort("connectionrefused")

    times = await open_refused(server, user, new_context, unreachable, 3)
    waits = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    # Each wait is jittered between half and all of 1 s, 2 s, 4 s...
    assert waits[0] >= 0.5 and waits[1] >= 1 and waits[2] >= 2
