"""The JavaScript client on its own, as an embedding site uses it: no session, a bearer
token from the site, stream tickets, and a refused stream that mints a new ticket."""

from __future__ import annotations

import json
import re
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

    # The first stream request is refused as an expired ticket would be; EventSource then
    # closes for good, and the client must mint a new ticket and resume where it was.
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
    assert await received(page, "status") == ["reconnecting", "live"]
