"""The JavaScript client on its own, as an embedding site uses it: no session, a bearer
token from the site, stream tickets; and each kind of refusal answered in its own way: a 401
mints a fresh ticket at once, a 429 waits Retry-After, a network error backs off
exponentially. The server's answers are replaced by playwright's routing where a test needs
a refusal; the lower bounds of the waits are what tells the three answers apart.

Then a page with nothing but client.js (no inbox, no seen()) across a server restart before
any notification, the same-origin bell of docs/BROWSER.md, run from the Markdown, and the
API's archive, snooze and bulk calls, whose events reach both tabs of a browser with the
unread count the API answers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.template import Context, Template
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.models import Notification
from tests.browser.conftest import expect
from tests.browser.pages import log_in_to, serve
from tests.e2e.conftest import Server
from tests.recipes import recipe

pytestmark = pytest.mark.django_db(transaction=True)

# Run in a page of the server's origin, in a context that ignores the site's
# Content-Security-Policy: playwright's wait_for_function evaluates its predicate as a string,
# which the policy (no 'unsafe-eval') refuses.
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
    context = await new_context(bypass_csp=True)
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
    context = await new_context(bypass_csp=True)
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


BLANK = "<!doctype html><meta charset=utf-8><title>A page of the site</title>"

# Nothing but the client: no list is loaded, and seen() is never called.
ALONE = """
async ({token}) => {
  const { connect, createApi } = await import("/static/notifications/client.js");
  window.received = [];
  window.api = createApi({ getToken: token });
  window.client = connect({
    getToken: token,
    maxBackoffMs: 2000, // retry the restarting server often: the test waits less
    on: {
      connected: (data) => window.received.push(["connected", data]),
      notification: (data) => window.received.push(["notification", data]),
      status: (status) => window.received.push(["status", status]),
    },
  });
}
"""


def arrived(count: int) -> str:
    return f"window.received.filter(([name]) => name === 'notification').length >= {count}"


@pytest.mark.parametrize("credentials", ["session", "token string"])
async def test_client_js_alone_loses_nothing_across_a_restart_before_any_notification(
    server: Server, user: Any, new_context: Any, publish_to: Any, credentials: str
) -> None:
    notify = publish_to(server)
    await notify(user, kind="info", title="Before the page")
    await notify(user, kind="info", title="Also before the page")
    context = await new_context()
    await serve(context, f"{server.url}/page/", BLANK)
    if credentials == "session":
        page = await log_in_to(context, server, user.username, "/page/")
        token = None
    else:
        page = await context.new_page()
        await page.goto(f"{server.url}/page/")
        token = str(AccessToken.for_user(user))  # a string, not a function
    streams: list[str] = []

    def record(request: Any) -> None:
        if urlsplit(request.url).path == "/api/events/":
            streams.append(request.url)

    page.on("request", record)
    await page.evaluate(ALONE, {"token": token})
    await page.wait_for_function("window.received.some(([name]) => name === 'connected')")
    assert [c["last_seq"] for c in await received(page, "connected")] == [2]

    await asyncio.to_thread(server.stop)
    await page.wait_for_function("window.client.status !== 'live'")
    # Stored while no server runs: only a resume from connected's position finds it.
    await notify(user, kind="info", title="While the server was down")
    await asyncio.to_thread(server.start)  # the same port
    await page.wait_for_function(arrived(1))
    await notify(user, kind="info", title="Live after the restart")
    await page.wait_for_function(arrived(2))

    titles = [n["title"] for n in await received(page, "notification")]
    assert titles == ["While the server was down", "Live after the restart"]
    assert await page.evaluate("window.api.unreadCount()") == 4
    positions = [parse_qs(urlsplit(url).query).get("last_event_id") for url in streams]
    assert positions[0] is None, "the first open knew a position the page never gave"
    assert len(positions) >= 2 and all(p == ["2"] for p in positions[1:]), (
        "a reopen did not resume from connected's last_seq"
    )
    if token is not None:
        assert all(token not in url for url in streams), "the access token went into a URL"


async def test_the_same_origin_bell_of_browser_md_shows_the_unread_count(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    notify = publish_to(server)
    await notify(user, kind="info", title="Waiting already")
    # The block is a Django template: render it as the site would, for this user.
    bell = Template(recipe("browser-session-bell")).render(
        Context({"request": SimpleNamespace(user=user)})
    )
    context = await new_context()
    await serve(context, f"{server.url}/bell/", f"{BLANK}<body>{bell}</body>")
    page = await log_in_to(context, server, user.username, "/bell/")

    await expect(page.locator("#bell")).to_have_text("1 unread")
    (new,) = await notify(user, kind="info", title="A new one")
    await expect(page.locator("#bell")).to_have_text("2 unread")
    await sync_to_async(services.mark_read)(notifications=Notification.objects.filter(pk=new.pk))
    await expect(page.locator("#bell")).to_have_text("1 unread")


# Both tabs record the state changes; the first holds the stream, the second hears it relayed.
TRIAGE = """
async () => {
  const { connect, createApi } = await import("/static/notifications/client.js");
  const events = ["read", "archived", "unarchived", "snoozed", "unsnoozed"];
  window.received = [];
  window.api = createApi();
  window.client = connect({
    name: "triage",
    on: Object.fromEntries(
      ["status", ...events].map((name) => [name, (data) => window.received.push([name, data])]),
    ),
  });
}
"""


async def test_state_changes_reach_every_tab_with_the_apis_unread_count(
    server: Server, user: Any, new_context: Any
) -> None:
    notify = sync_to_async(services.notify)
    (order,) = await notify(user, kind="order.paid", params={"number": 7, "total": 1})
    first, second = [(await notify(user, kind="info", title=t))[0].pk for t in "AB"]
    context = await new_context()
    await serve(context, f"{server.url}/page/", BLANK)
    tabs = [await log_in_to(context, server, user.username, "/page/")]
    tabs.append(await context.new_page())
    await tabs[1].goto(f"{server.url}/page/")
    for tab in tabs:
        await tab.evaluate(TRIAGE)
        await tab.wait_for_function("window.client.status === 'live'")
    api = tabs[0]

    async def step(call: str, event: str) -> Any:
        """Make the API call in the first tab; each tab hears ``event`` once, with the count
        that the API then answers; return the event's data."""
        heard = [len(await received(tab, event)) for tab in tabs]
        await api.evaluate(f"window.api.{call}")
        for tab, before in zip(tabs, heard, strict=True):
            await tab.wait_for_function(
                f"window.received.filter(([name]) => name === '{event}').length > {before}"
            )
        data = [(await received(tab, event))[-1] for tab in tabs]
        assert data[0] == data[1]
        assert data[0]["unread_count"] == await api.evaluate("window.api.unreadCount()")
        return data[0]

    archived = await step(f"archive({first})", "archived")
    assert (archived["ids"], archived["unread_count"]) == ([first], 2)
    back = await step(f"unarchive({first})", "unarchived")
    assert [n["id"] for n in back["notifications"]] == [first]
    assert back["unread_count"] == 2  # archiving marked it read
    snoozed = await step(f"snooze({second}, new Date(Date.now() + 3600e3))", "snoozed")
    assert (snoozed["ids"], snoozed["unread_count"]) == ([second], 1)
    listed = await api.evaluate("window.api.list({ snoozed: true })")
    assert [n["id"] for n in listed["results"]] == [second]
    woken = await step(f"unsnooze({second})", "unsnoozed")
    assert woken["notifications"][0]["read"] is False and woken["unread_count"] == 2

    everything = [order.pk, first, second]
    read = await step(f"markManyRead({everything})", "read")
    assert sorted(read["ids"]) == sorted([order.pk, second]) and read["unread_count"] == 0
    await step(f"archiveMany({everything})", "archived")
    listed = await api.evaluate("window.api.list({ archived: true, category: 'orders' })")
    assert [n["id"] for n in listed["results"]] == [order.pk]
    assert (await api.evaluate("window.api.list()"))["results"] == []
    await step(f"unarchiveMany({everything})", "unarchived")
    counts = await api.evaluate("window.api.unreadCounts()")
    assert counts == {"unread_count": 0, "by_category": {"orders": 0, "account": 0}}
