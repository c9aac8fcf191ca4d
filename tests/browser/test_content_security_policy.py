"""The site's pages under their Content-Security-Policy in Chromium: every page sends one
that allows no inline script, each still works (live toasts, preferences, orders, the
unsubscribe page, the admin's pages and its user picker, the API docs), and Chromium
reports no violation."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from notifications.emails import unsubscribe_token
from tests.browser.conftest import expect, log_in, wait_live
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server

pytestmark = pytest.mark.django_db(transaction=True)

Order = pytest.importorskip("project.orders.models").Order

CHANGELIST = "/admin/notifications/notification/"
# Runs before any page script, outside the page's policy (playwright injects it).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const root = document.documentElement;
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
  window.reportViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
    `in ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


class Watched:
    """A browser context whose CSP violations (events and console errors) and page
    policies are recorded."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.violations: list[str] = []
        self.policies: dict[str, str | None] = {}

    async def start(self) -> Watched:
        await self.context.expose_binding("reportViolation", self._reported)
        await self.context.add_init_script(REPORT_VIOLATIONS)
        self.context.on("console", self._console)
        self.context.on("response", self._response)
        return self

    def _reported(self, source: dict[str, Any], text: str) -> None:
        self.violations.append(f"{source['page'].url}: {text}")

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.request.resource_type == "document" and response.status == 200:
            self.policies[response.url] = response.headers.get("content-security-policy")

    def assert_clean(self) -> None:
        """No violation, and every page had a policy that allows no inline script."""
        assert self.violations == []
        assert self.policies
        for url, policy in self.policies.items():
            assert policy is not None, f"{url} has no Content-Security-Policy"
            directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))
            assert directives["script-src"] == "'self'", (url, policy)
            assert "unsafe" not in directives.get("script-src-attr", ""), (url, policy)


async def watched(new_context: Callable[..., Any]) -> Watched:
    return await Watched(await new_context()).start()


async def test_the_inbox_preferences_and_orders_work_under_the_policy(
    server: Server, user: Any, new_context: Any, publish_to: Callable[[Server], Any]
) -> None:
    await Order.objects.acreate(user=user, number=1042, total=Decimal("129.00"))
    alice = await watched(new_context)
    page = await log_in(alice.context, server, user.username)
    await wait_live(page)

    await publish_to(server)(user, kind="info", title="Spring sale", url="/orders/1042/")
    await expect(page.locator("#toasts .toast", has_text="Spring sale")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("2")

    email = page.get_by_role("switch", name="Order shipped by email")
    await email.focus()
    await page.keyboard.press("Space")
    await expect(page.locator("#prefs-status")).to_have_text("Saved")
    await expect(email).not_to_be_checked()

    await page.get_by_role("link", name="Orders").click()
    await page.get_by_role("link", name="Order #1042").click()
    await expect(page.get_by_role("heading", name="Order #1042")).to_be_visible()

    token = unsubscribe_token(user.pk, ["order.shipped"])
    await page.goto(f"{server.url}{reverse('notifications:email-unsubscribe', args=[token])}")
    button = page.get_by_role("button", name="Unsubscribe")
    await expect(button).to_have_css("background-color", "rgb(36, 81, 214)")
    await button.click()
    await expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()

    await page.goto(f"{server.url}/")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    alice.assert_clean()


async def test_the_admin_works_under_the_policy(
    server: Server, user: Any, staff_user: Any, new_context: Any
) -> None:
    order = await Order.objects.acreate(user=user, number=7, total=Decimal("9.50"))
    inbox = await log_in(await new_context(), server, user.username)
    await wait_live(inbox)

    staff = await watched(new_context)
    page = await staff.context.new_page()
    await page.goto(f"{server.url}/admin/")
    await page.get_by_label("Username").fill(staff_user.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    # Every model's change list, and the first object's change page of each.
    lists = await page.locator("#content-main th[scope=row] a").evaluate_all(
        "links => links.map(link => link.href)"
    )
    assert f"{server.url}{CHANGELIST}" in lists
    for url in lists:
        await page.goto(url)
        await expect(page.locator("#changelist")).to_be_visible()
        first = page.locator("#result_list tbody tr a").first
        if await first.count():
            await first.click()
            await expect(page.locator("#content-main form")).to_be_visible()

    # The send page's user picker (select2, through the admin's autocomplete view).
    await page.goto(f"{server.url}{CHANGELIST}")
    await page.get_by_role("link", name="Send notification").click()
    await page.locator(".field-users .select2-selection").click()
    await page.locator(".select2-search__field").fill(user.username[:3])
    await page.locator(".select2-results__option", has_text=user.username).click()
    await page.get_by_label("Title").fill("Hello from the admin")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".messagelist")).to_contain_text("Sent 1 notification")
    await expect(inbox.locator("#toasts .toast", has_text="Hello from the admin")).to_be_visible()

    await page.get_by_role("link", name="Who is connected").click()
    await expect(page.locator(f'#connections tr[data-user="{user.pk}"]')).to_be_visible()

    await page.goto(f"{server.url}/admin/orders/order/{order.pk}/change/")
    await page.get_by_label("Status").select_option("paid")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    await expect(inbox.locator("#toasts .toast", has_text="Order #7 paid")).to_be_visible()
    staff.assert_clean()


async def test_the_api_docs_render_under_the_policy(
    server: Server, user: Any, new_context: Any
) -> None:
    docs = await watched(new_context)
    page = await log_in(docs.context, server, user.username)
    await page.goto(f"{server.url}/api/docs/")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 10
    await page.locator(".opblock-summary", has_text="/api/notifications/unread-count/").click()
    await expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    docs.assert_clean()


async def test_the_policy_refuses_an_injected_inline_script(
    server: Server, user: Any, new_context: Any
) -> None:
    """The watcher sees a violation when there is one, and the policy does refuse one."""
    watcher = await watched(new_context)
    page = await log_in(watcher.context, server, user.username)
    await wait_live(page)
    injected = '<img src="data:," onload="window.pwned = true" onerror="window.pwned = true">'
    await page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", injected)
    # Not wait_for_function: it evaluates a string, which the policy refuses too.
    await expect(page.locator("html")).to_have_attribute(
        "data-csp-violations", re.compile(r"^[1-9]")
    )
    assert await page.evaluate("window.pwned") is None
    assert any("script-src" in found for found in watcher.violations), watcher.violations
