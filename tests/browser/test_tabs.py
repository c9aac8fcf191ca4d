"""Several tabs of one browser: one stream between them, relayed to all, handed over when
the tab that holds it closes; read state and the badge in sync everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.browser.conftest import expect, log_in, open_inbox, wait_live
from tests.e2e.conftest import Server, client
from tests.e2e.listener import Listener

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 4


async def streams_admitted(server: Server, user: Any) -> int:
    """Open streams for ``user`` until the server refuses one; return how many it admitted.

    The per-user limit is the server's own count of that user's open streams, so this
    measures what the browser holds from the outside, with no knowledge of how slots are
    stored: with ``LIMIT`` allowed and the browser holding n, exactly ``LIMIT - n`` more
    are admitted. The probes are closed again on return.
    """
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    async with (
        client(server, limits=httpx.Limits(max_connections=LIMIT + 5)) as http,
        contextlib.AsyncExitStack() as probes,
    ):
        for admitted in range(LIMIT + 1):
            probe = await probes.enter_async_context(Listener(http, headers=headers))
            if probe.status != 200:
                assert probe.status == 429, probe.body
                return admitted
    raise AssertionError("the server admitted more streams than its limit")


async def leaders(tabs: list[Any]) -> list[Any]:
    return [
        tab
        for tab in tabs
        if await tab.evaluate("document.documentElement.dataset.streamLeader") == "true"
    ]


async def test_tabs_share_one_stream_and_hand_it_over(
    start_server: Callable[..., Server], user: Any, new_context: Any, publish_to: Any
) -> None:
    server = await asyncio.to_thread(
        start_server, NOTIFICATIONS_MAX_CONNECTIONS_PER_USER=str(LIMIT)
    )
    notify = publish_to(server)
    context = await new_context()
    tabs = [await log_in(context, server, user.username)]
    tabs += [await open_inbox(context, server) for _ in range(2)]
    for tab in tabs:
        await wait_live(tab)

    (leader,) = await leaders(tabs)
    assert await streams_admitted(server, user) == LIMIT - 1, "three tabs, not one stream"

    # A notification reaches every tab through the leader's stream.
    (paid,) = await notify(user, kind="order.paid", title="Order #7 paid")
    for tab in tabs:
        await expect(tab.locator("#list .item", has_text="Order #7 paid")).to_be_visible()
        await expect(tab.locator("#badge")).to_have_text("1")

    # Marking it read in a tab that does not hold the stream updates every other tab.
    follower = next(tab for tab in tabs if tab is not leader)
    await follower.get_by_role("button", name="Mark “Order #7 paid” read").click()
    for tab in tabs:
        await expect(tab.locator("#badge")).to_be_hidden()
        await expect(tab.locator("#list .item", has_text="Order #7 paid")).not_to_have_class(
            re.compile(r"\bunread\b")
        )

    # The leader goes. Hold the next tab's stream request until a notification is stored,
    # so that it can only arrive by the resume from the last id the tabs have seen.
    opened: list[str] = []
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        opened.append(route.request.url)
        await release.wait()
        await route.continue_()

    await context.route(re.compile(r"/api/events/(\?.*)?$"), hold)
    await leader.close()
    rest = [tab for tab in tabs if tab is not leader]
    async with asyncio.timeout(15):
        while not opened:
            await asyncio.sleep(0.05)
    await notify(user, kind="order.shipped", title="Order #7 shipped")
    release.set()

    assert f"last_event_id={paid.seq}" in opened[0]
    for tab in rest:
        await expect(tab.locator("#list .item", has_text="Order #7 shipped")).to_be_visible()
        await expect(tab.locator("#badge")).to_have_text("1")
        await expect(tab.locator("#conn")).to_have_attribute("data-state", "live")
    assert len(await leaders(rest)) == 1
    # The closed tab's stream is freed when the server notices; then still one in all.
    async with asyncio.timeout(15):
        while await streams_admitted(server, user) != LIMIT - 1:
            await asyncio.sleep(0.5)
