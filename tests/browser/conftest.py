"""Real Chromium (Debian's) driven by playwright against real daphne and Redis.

The browser comes from the system, not from ``playwright install`` (which downloads builds
of its own); without ``/usr/bin/chromium`` these tests skip and say why. The tests use
playwright's async API: its sync API runs an event loop on the test's thread, and Django's
ORM then takes that thread for async code.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from notifications import services
from project.settings import channel_layers
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server, server, start_server  # noqa: F401

async_api = pytest.importorskip("playwright.async_api")
expect = async_api.expect

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Generous: CI machines are slow, and a daphne restart takes a few seconds.
TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium of its own for each test, so no state leaks between tests."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def new_context(browser: Any) -> Callable[..., Awaitable[Any]]:
    """Open browser contexts: each is a person of its own, with its own cookie jar."""

    async def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1200, "height": 820})
        context = await browser.new_context(locale="en-US", **options)
        context.set_default_timeout(TIMEOUT_MS)
        return context

    return make


async def log_in(context: Any, site: Server, username: str, password: str = PASSWORD) -> Any:
    """Log in through the real form, starting at the inbox; return the inbox page."""
    page = await context.new_page()
    await page.goto(f"{site.url}/")
    await expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{site.url}/")
    return page


async def open_inbox(context: Any, site: Server) -> Any:
    """Open one more tab on the inbox of the context's logged-in user."""
    page = await context.new_page()
    await page.goto(f"{site.url}/")
    return page


async def wait_live(page: Any) -> None:
    """Wait until the page has loaded its inbox and shows the stream as live."""
    await expect(page.locator("#list")).to_have_attribute("aria-busy", "false")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")


@pytest.fixture
def publish_to(settings: Any) -> Callable[[Server], Callable[..., Awaitable[Any]]]:
    """Return ``notify()`` for the test process, publishing on ``site``'s channel layer.

    ``notify()`` stores in the shared test database either way; publishing on the site's
    Redis makes the delivery live, as from any other process, without the start-up time
    of a management command.
    """

    def bind(site: Server) -> Callable[..., Awaitable[Any]]:
        settings.CHANNEL_LAYERS = channel_layers(
            site.env["REDIS_URL"], site.env.get("CHANNELS_PREFIX", "asgi")
        )
        return sync_to_async(services.notify)

    return bind
