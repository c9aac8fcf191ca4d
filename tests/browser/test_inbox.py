"""The inbox page in a real browser: log in, live toasts, the list, the badge, actions,
and notifications missed while the server was down arriving without a reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from notifications import selectors, services
from notifications.models import Notification
from tests.browser.conftest import expect, log_in, wait_live
from tests.e2e.conftest import Server, send

pytestmark = pytest.mark.django_db(transaction=True)

notify = sync_to_async(services.notify)
unread_count = sync_to_async(selectors.unread_count)


@pytest.mark.parametrize("layer", ["redis", "embedded"])
async def test_a_sent_notification_arrives_as_toast_list_item_and_badge(
    start_server: Callable[..., Server], layer: str, user: Any, new_context: Any
) -> None:
    # "embedded" is `make run` with no environment: the in-memory layer, so the stream
    # finds what the command stored in the database.
    env = {"REDIS_URL": None} if layer == "embedded" else {}
    server = await asyncio.to_thread(start_server, **env)
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#badge")).to_be_hidden()

    await sync_to_async(send)(
        server, user.username, "Order #1042 shipped", body="On its way", url="/orders/1042/"
    )

    toast = page.locator("#toasts .toast", has_text="Order #1042 shipped")
    await expect(toast).to_be_visible()
    await expect(toast.get_by_role("link", name="Order #1042 shipped")).to_have_attribute(
        "href", f"{server.url}/orders/1042/"
    )
    item = page.locator("#list .item", has_text="Order #1042 shipped")
    await expect(item).to_have_class(re.compile(r"\bunread\b"))
    await expect(item).to_contain_text("On its way")
    await expect(page.locator("#empty")).to_be_hidden()
    await expect(page.locator("#badge")).to_have_text("1")
    await expect(page.locator("#bell")).to_have_attribute("aria-label", "Notifications, 1 unread")


async def test_user_controlled_text_is_shown_as_text(
    server: Server, user: Any, new_context: Any
) -> None:
    title = '<img src=x onerror="window.pwned = true">Sale'
    (stored,) = await notify(
        user, kind="info", title=title, body="<script>window.pwned = true</script>"
    )
    # notify() refuses such a link: written as a row stored before that rule would be.
    await Notification.objects.filter(pk=stored.pk).aupdate(url="javascript:window.pwned = true")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)

    item = page.locator("#list .item")
    await expect(item.locator(".item-title")).to_contain_text(title)
    await expect(item.locator(".body")).to_have_text("<script>window.pwned = true</script>")
    await expect(item.locator("img, script")).to_have_count(0)
    # A javascript: url is not made a link.
    await expect(item.get_by_role("link")).to_have_count(0)
    assert await page.evaluate("window.pwned") is None


async def test_mark_read_mark_all_read_delete_and_load_more(
    server: Server, user: Any, new_context: Any
) -> None:
    for i in range(1, 26):
        await notify(user, kind="info", title=f"Update {i}")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    items = page.locator("#list .item")
    badge = page.locator("#badge")

    # Newest first, one API page; older ones through the cursor's `next` link.
    await expect(items).to_have_count(20)
    await expect(items.first).to_contain_text("Update 25")
    await expect(badge).to_have_text("25")
    await page.get_by_role("button", name="Load older notifications").click()
    await expect(items).to_have_count(25)
    await expect(items.last).to_contain_text("Update 1")
    await expect(page.get_by_role("button", name="Load older notifications")).to_be_hidden()

    newest = items.filter(has_text="Update 25")
    await newest.get_by_role("button", name="Mark “Update 25” read").click()
    await expect(newest).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(badge).to_have_text("24")

    await (
        items.filter(has_text="Update 24").get_by_role("button", name="Delete “Update 24”").click()
    )
    await expect(items).to_have_count(24)
    await expect(badge).to_have_text("23")

    async with page.expect_response(re.compile(r"/api/notifications/read-all/$")) as answer:
        await page.get_by_role("button", name="Mark all read").click()
    assert (await answer.value).ok
    await expect(badge).to_be_hidden()
    await expect(page.locator("#list .item.unread")).to_have_count(0)
    await expect(page.locator("#summary")).to_have_text("You're all caught up")

    # The server agrees, and a reload shows the same.
    assert await unread_count(user.pk) == 0
    assert not await Notification.objects.filter(title="Update 24").aexists()
    await page.reload()
    await wait_live(page)
    await expect(items).to_have_count(20)
    await expect(badge).to_be_hidden()

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/accounts/login/$"))


async def test_missed_while_the_server_was_down_arrives_without_a_reload(
    server: Server, user: Any, new_context: Any
) -> None:
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    await page.evaluate("window.loadedOnce = true")

    await asyncio.to_thread(server.stop)
    await expect(page.locator("#conn")).to_have_attribute(
        "data-state", re.compile("reconnecting|offline")
    )
    # Stored while no server runs: only a resume from the page's last event id finds it.
    await notify(user, kind="info", title="While the server was down")
    await asyncio.to_thread(server.start)  # the same port

    # The client backs off exponentially while the server is down: allow a few retries.
    await expect(page.locator("#list .item", has_text="While the server was down")).to_be_visible(
        timeout=45_000
    )
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(page.locator("#badge")).to_have_text("1")
    assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
