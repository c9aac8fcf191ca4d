"""The inbox page in Chromium links a notification only to this site or an http(s) URL: a
link that would lead off-site (``//evil.example``) stays text, whether the server sends it
or not."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from notifications import services
from notifications.models import Notification
from tests.browser.conftest import expect, log_in, wait_live
from tests.e2e.conftest import Server

pytestmark = pytest.mark.django_db(transaction=True)

notify = sync_to_async(services.notify)

# What the page's own check must refuse, should a server ever send it.
HOSTILE = [
    "//evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example/x",
    "/\t/evil.example/x",
    " //evil.example/x",
    "\u200b//evil.example/x",
    "javascript:window.pwned = true",
    "data:text/html,<script>window.pwned = true</script>",
    "evil.example/x",
]


async def test_a_stored_protocol_relative_link_is_shown_as_text(
    server: Server, user: Any, new_context: Any
) -> None:
    """Written to the database around notify(): the API sends no link, the page shows none."""
    await notify(user, kind="info", title="Safe", url="/orders/7/")
    (stored,) = await notify(user, kind="info", title="Stored", url="/orders/8/")
    await Notification.objects.filter(pk=stored.pk).aupdate(url="//evil.example/x")

    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)

    items = page.locator("#list .item")
    await expect(items.filter(has_text="Safe").get_by_role("link")).to_have_attribute(
        "href", f"{server.url}/orders/7/"
    )
    await expect(items.filter(has_text="Stored")).to_be_visible()
    await expect(items.filter(has_text="Stored").get_by_role("link")).to_have_count(0)


async def test_the_page_itself_links_no_off_site_url_it_is_sent(
    server: Server, user: Any, new_context: Any
) -> None:
    """The API's answer is rewritten on its way to the page, so only the page's check stands."""
    await notify(user, kind="info", title="Safe", url="/orders/7/")
    hostile = {f"Hostile {i}.": url for i, url in enumerate(HOSTILE)}
    for title in hostile:
        await notify(user, kind="info", title=title, url="/orders/9/")
    context = await new_context()

    async def rewrite(route: Any) -> None:
        response = await route.fetch()
        listing = await response.json()
        for item in listing["results"]:
            item["url"] = hostile.get(item["title"], item["url"])
        await route.fulfill(response=response, json=listing)

    await context.route(re.compile(r"/api/notifications/(\?.*)?$"), rewrite)
    page = await log_in(context, server, user.username)
    await wait_live(page)

    items = page.locator("#list .item")
    await expect(items.filter(has_text="Safe").get_by_role("link")).to_have_attribute(
        "href", f"{server.url}/orders/7/"
    )
    for title in hostile:
        await expect(items.filter(has_text=title)).to_be_visible()
        await expect(items.filter(has_text=title).get_by_role("link")).to_have_count(0)
    assert await page.evaluate("window.pwned") is None
