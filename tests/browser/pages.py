"""Pages of an embedding site, served to Chromium by playwright's routing: on the server's
own origin (so the session cookie and the same-origin client work as on a real site's page),
or on another origin (the CORS case)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import expect
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server


async def serve(context: Any, url: str, body: str, content_type: str = "text/html") -> None:
    """Answer ``url`` with ``body`` in every page of ``context``, as a site's page would."""

    async def fulfill(route: Any) -> None:
        await route.fulfill(status=200, content_type=f"{content_type}; charset=utf-8", body=body)

    await context.route(url, fulfill)


async def log_in_to(context: Any, site: Server, username: str, path: str) -> Any:
    """Log in through the site's real form, then open ``path``; return that page."""
    page = await context.new_page()
    await page.goto(f"{site.url}/accounts/login/?next={path}")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{site.url}{path}")
    # Routing does not answer a redirect's target: open the page itself.
    await page.goto(f"{site.url}{path}")
    return page
