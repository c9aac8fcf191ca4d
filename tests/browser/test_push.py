"""Web Push in Chromium: push.js turns push on from a click and off again, saying why when it
cannot; push-worker.js shows what the server pushed and, clicked, marks it read. The inbox's
preferences panel does it with a switch, and saves a push choice per kind; without keys, or
blocked, its switch says why push cannot be on; axe-clean, in Arabic, at a phone's width.
The button of docs/BROWSER.md runs from the Markdown itself.

Two parts of a real browser are out of reach here, and are stood in for:

- Headless Chromium has no push service: ``pushManager.subscribe()`` refuses in playwright's
  (incognito) contexts, and in a profile of its own it waits forever for Google's. Where a
  test needs a subscription, the page's PushManager hands out one of the local push service
  (``tests/push_service.py``), as a browser hands out its vendor's; everything else is real:
  the permission, the worker's registration, the server's VAPID-signed, encrypted push,
  which the local service decrypts as only the browser could, and its delivery to the worker
  through the DevTools protocol (``ServiceWorker.deliverPushMessage``).
- Nothing can click a system notification (neither the DevTools protocol nor WebDriver:
  web-platform-tests issue 51125). The worker's own ``notificationclick`` handler is called
  with the notification it showed, by an event dispatched in the worker. Such an event
  grants no window interaction, so the browser refuses ``focus()`` and ``openWindow()``:
  which tab comes forward is left untested.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils.translation.trans_real import DjangoTranslation
from rest_framework_simplejwt.tokens import AccessToken

from notifications import preferences
from notifications.i18n import languages
from notifications.models import Notification, PushSubscription
from notifications.push import keys
from notifications.push.sender import sender
from tests.browser.conftest import TIMEOUT_MS, expect, log_in
from tests.browser.pages import log_in_to, serve
from tests.browser.test_languages import AXE, AXE_RUN
from tests.e2e.conftest import Server
from tests.push_service import PushService, Subscription
from tests.recipes import recipe

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = "/static/notifications/push-worker.js"
SCOPE = "/static/notifications/"
PAGE = "/push-page/"
SUBJECT = "mailto:webmaster@localhost"
EMPTY_PAGE = "<!doctype html><html lang='en'><title>A page of the site</title><body></body>"
OFF = "Off: turn it on to hear of new notifications while the site is closed."
ON = "On: this browser shows new notifications while the site is closed."

# The page's PushManager hands out ``subscription`` (of the local push service) instead of
# asking a push service headless Chromium does not have; unsubscribed, it hands out none.
STAND_IN = """
(subscription) => {
  let current = null;
  PushManager.prototype.getSubscription = async () => current;
  PushManager.prototype.subscribe = async ({ applicationServerKey }) => {
    current ??= {
      ...subscription,
      options: { userVisibleOnly: true, applicationServerKey: applicationServerKey.buffer },
      toJSON: () => subscription,
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
}
"""

# A switch as a page draws one: two buttons whose clicks call push.js, and an <output> with
# the outcome. Evaluated in the page, so it runs under the page's own Content-Security-Policy.
SWITCH = """
async (token) => {
  const push = await import("/static/notifications/push.js");
  const options = token ? { getToken: token } : {};
  const output = document.createElement("output");
  const show = async (promise) => {
    try {
      const result = await promise;
      output.textContent = `${result.state} created=${result.created} removed=${result.removed}`;
    } catch (error) {
      output.textContent = `${error.name} ${error.reason}: ${error.message}`;
    }
    output.textContent += ` state=${await push.pushState(options)}`;
  };
  const actions = { "Turn on push": push.enablePush, "Turn off push": push.disablePush };
  for (const [label, action] of Object.entries(actions)) {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", () => show(action(options)));
    document.body.append(button);
  }
  document.body.append(output);
}
"""

# Resolves to the notification the worker shows with ``tag``, once it shows one.
SHOWN = """
async ({ worker, tag }) => {
  const registration = await navigator.serviceWorker.getRegistration(worker);
  for (;;) {
    const [shown] = await registration.getNotifications({ tag });
    if (shown) return { title: shown.title, body: shown.body, tag: shown.tag, data: shown.data };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
"""

SHOWING = """
async (worker) => {
  const registration = await navigator.serviceWorker.getRegistration(worker);
  return (await registration.getNotifications()).length;
}
"""

# Run in the worker: its notificationclick handler, with the notification it showed. The
# constructed event cannot be extended by the browser, so the promise the handler gives
# waitUntil() is kept and waited for: the click's work is done when this returns.
CLICK = """
async (tag) => {
  const [notification] = await self.registration.getNotifications({ tag });
  const event = new NotificationEvent("notificationclick", { notification });
  let handled = Promise.resolve();
  event.waitUntil = (promise) => { handled = promise; };
  self.dispatchEvent(event);
  await handled;
}
"""


@pytest.fixture
def vapid(settings: Any) -> keys.VapidKeys:
    """A key pair, for the site and for ``notify()`` in this process, which sends the push."""
    pair = keys.generate()
    configured = {
        "PRIVATE_KEY": pair.private_key,
        "PUBLIC_KEY": pair.public_key,
        "SUBJECT": SUBJECT,
    }
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBPUSH": configured}
    return pair


@pytest.fixture
def push_service(vapid: keys.VapidKeys) -> Iterator[PushService]:
    with PushService(expected_public_key=vapid.public_key) as service:
        yield service
    assert sender().drain(timeout=60)  # nothing of this test is left in flight


@pytest.fixture
def push_site(start_server: Any, vapid: keys.VapidKeys) -> Server:
    """The site with Web Push on. DEBUG lets it push to the local service's http:// URL."""
    return start_server(
        DEBUG="1", WEBPUSH_PRIVATE_KEY=vapid.private_key, WEBPUSH_PUBLIC_KEY=vapid.public_key
    )


@pytest.fixture
async def context(new_context: Any, push_site: Server) -> AsyncIterator[Any]:
    """A browser context that has allowed the site's notifications."""
    context = await new_context()
    await context.grant_permissions(["notifications"], origin=push_site.url)
    yield context


async def stand_in(page: Any, subscription: Subscription) -> None:
    """Have the page's PushManager hand out ``subscription``, as a browser hands out its
    vendor's push service's."""
    await page.evaluate(STAND_IN, subscription.info)


async def add_switch(page: Any, subscription: Subscription | None, token: str = "") -> None:
    if subscription:
        await stand_in(page, subscription)
    await page.evaluate(SWITCH, token)


async def click(page: Any, label: str, outcome: str) -> None:
    await page.get_by_role("button", name=label).click()
    await expect(page.locator("output")).to_have_text(outcome)


def policy_violations(context: Any) -> list[str]:
    """What Chromium reports the pages of ``context`` refused by their policy, as it comes."""
    found: list[str] = []

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            found.append(message.text)

    context.on("console", console)
    return found


def endpoints(user: Any) -> list[str]:
    return list(PushSubscription.objects.filter(user=user).values_list("endpoint", flat=True))


async def push_to_worker(page: Any, site: Server, data: str) -> None:
    """Deliver ``data`` to the site's worker as the push service would, through DevTools."""
    cdp = await page.context.new_cdp_session(page)
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == f"{site.url}{SCOPE}" and not found.done():
                found.set_result(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")
    async with asyncio.timeout(TIMEOUT_MS / 1000):
        registration_id = await found
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": site.url, "registrationId": registration_id, "data": data},
    )


async def the_worker(context: Any, site: Server) -> Any:
    for worker in context.service_workers:
        if worker.url == f"{site.url}{WORKER}":
            return worker
    return await context.wait_for_event(
        "serviceworker", lambda worker: worker.url == f"{site.url}{WORKER}"
    )


async def shown(page: Any, tag: str) -> dict[str, Any]:
    """The notification the worker shows with ``tag``, once it shows it."""
    async with asyncio.timeout(TIMEOUT_MS / 1000):
        notification: dict[str, Any] = await page.evaluate(SHOWN, {"worker": WORKER, "tag": tag})
    return notification


def is_read(notification_id: int) -> bool:
    return Notification.objects.get(pk=notification_id).read_at is not None


async def test_a_push_from_the_server_shows_and_a_click_marks_it_read(
    push_site: Server, push_service: PushService, context: Any, user: Any, publish_to: Any
) -> None:
    await serve(context, f"{push_site.url}{PAGE}", EMPTY_PAGE)
    # A page without the stream: a user with a stream open gets no push.
    page = await log_in_to(context, push_site, user.username, PAGE)
    subscription = push_service.subscribe()
    await add_switch(page, subscription)

    await click(page, "Turn on push", "on created=true removed=undefined state=on")
    assert await sync_to_async(endpoints)(user) == [subscription.endpoint]

    notify = publish_to(push_site)
    await notify(user, kind="order.shipped", params={"number": 1042, "order": 7}, url="/orders/7/")
    (delivery,) = await sync_to_async(push_service.wait_for)(1, subscription=subscription)
    message = delivery.json()

    await push_to_worker(page, push_site, json.dumps(message))
    tag = f"notification-{message['id']}"
    assert await shown(page, tag) == {
        "title": "Order #1042 shipped",
        "body": "Your order is on its way.",
        "tag": tag,
        "data": {"id": message["id"], "url": "/orders/7/"},
    }
    assert not await sync_to_async(is_read)(message["id"])

    await (await the_worker(context, push_site)).evaluate(CLICK, tag)
    assert await sync_to_async(is_read)(message["id"])
    assert await page.evaluate(SHOWING, WORKER) == 0


async def test_a_click_turns_push_on_and_off_under_the_sites_policy(
    push_site: Server, push_service: PushService, context: Any, user: Any
) -> None:
    violations = policy_violations(context)
    page = await log_in(context, push_site, user.username)  # the inbox, with its policy
    subscription = push_service.subscribe()
    await add_switch(page, subscription)

    await click(page, "Turn on push", "on created=true removed=undefined state=on")
    await click(page, "Turn on push", "on created=false removed=undefined state=on")
    assert await sync_to_async(endpoints)(user) == [subscription.endpoint]

    await click(page, "Turn off push", "off created=undefined removed=true state=off")
    assert await sync_to_async(endpoints)(user) == []
    await click(page, "Turn off push", "off created=undefined removed=false state=off")
    assert violations == []


async def test_it_says_why_push_cannot_be_on(
    start_server: Any,
    push_site: Server,
    push_service: PushService,
    new_context: Any,
    user: Any,
) -> None:
    # The user did not allow notifications (headless Chromium answers the prompt "no").
    page = await log_in(await new_context(), push_site, user.username)
    await add_switch(page, push_service.subscribe())
    await click(
        page,
        "Turn on push",
        "PushError denied: Notifications are blocked for this site. Allow them in the "
        "browser's site settings. state=denied",
    )

    # Push is off on the server: the site has no keys.
    site = start_server()
    context = await new_context()
    await context.grant_permissions(["notifications"], origin=site.url)
    page = await log_in(context, site, user.username)
    await add_switch(page, push_service.subscribe())
    await click(
        page,
        "Turn on push",
        "PushError off: Push notifications are not available on this site. state=off",
    )

    # The browser's own PushManager, with no push service to reach.
    context = await new_context()
    await context.grant_permissions(["notifications"], origin=push_site.url)
    page = await log_in(context, push_site, user.username)
    await add_switch(page, None)
    await click(
        page,
        "Turn on push",
        "PushError failed: The browser could not subscribe to push notifications. "
        "Try again later. state=off",
    )
    assert await sync_to_async(endpoints)(user) == []


async def test_a_site_with_tokens_has_its_page_mark_a_clicked_push_read(
    push_site: Server, push_service: PushService, context: Any, user: Any, publish_to: Any
) -> None:
    """The worker cannot sign in as the page does with a token: it asks the page."""
    await serve(context, f"{push_site.url}{PAGE}", EMPTY_PAGE)
    page = await context.new_page()
    await page.goto(f"{push_site.url}{PAGE}")  # no session: the token is the only credential
    token = str(AccessToken.for_user(user))
    await page.evaluate(
        """async (token) => {
          const { createApi } = await import("/static/notifications/client.js");
          const { listenForPushClicks } = await import("/static/notifications/push.js");
          listenForPushClicks(createApi({ getToken: token }));
        }""",
        token,
    )
    subscription = push_service.subscribe()
    await add_switch(page, subscription, token)
    await click(page, "Turn on push", "on created=true removed=undefined state=on")
    assert await sync_to_async(endpoints)(user) == [subscription.endpoint]

    (notification,) = await publish_to(push_site)(user, kind="info", title="Token site")
    message = {"id": notification.pk, "seq": notification.seq, "kind": "info",
               "title": "Token site", "body": "", "url": ""}  # fmt: skip
    await push_to_worker(page, push_site, json.dumps(message))
    tag = f"notification-{notification.pk}"
    await shown(page, tag)

    async with page.expect_response(f"**/api/notifications/{notification.pk}/read/") as read:
        await (await the_worker(context, push_site)).evaluate(CLICK, tag)
    assert (await read.value).status == 200
    assert await sync_to_async(is_read)(notification.pk)


def push_choice(user: Any, kind: str) -> bool:
    return next(c for c in preferences.choices_for(user.pk) if c.kind == kind).push


def answer_to(method: str, path: str) -> Any:
    """Matches the page's ``method`` request to ``path``'s answer, for expect_response()."""
    return lambda response: response.request.method == method and response.url.endswith(path)


async def test_the_inbox_panel_turns_push_on_and_off_and_chooses_it_per_kind(
    push_site: Server, push_service: PushService, context: Any, user: Any
) -> None:
    violations = policy_violations(context)
    page = await log_in(context, push_site, user.username)
    switch = page.get_by_role("switch", name="Push notifications", exact=True)
    note = page.locator("#push-note")
    await expect(note).to_have_text(OFF)
    await expect(switch).to_be_enabled()
    await expect(switch).not_to_be_checked()
    subscription = push_service.subscribe()
    await stand_in(page, subscription)

    async with page.expect_response(answer_to("POST", "/api/push/subscriptions/")) as posted:
        await switch.click()
    assert (await posted.value).status == 201
    await expect(switch).to_be_checked()
    await expect(note).to_have_text(ON)
    assert await sync_to_async(endpoints)(user) == [subscription.endpoint]

    # Each kind's own push switch, a critical kind's too: push is the user's to choose.
    shipped = page.get_by_role("switch", name="Order shipped by push")
    await expect(shipped).to_be_checked()  # the kind's default
    await expect(page.get_by_role("switch", name="Account security by push")).to_be_enabled()
    await shipped.focus()
    async with page.expect_response(answer_to("PATCH", "/api/preferences/")) as saved:
        await page.keyboard.press("Space")
    assert (await saved.value).ok
    await expect(shipped).not_to_be_checked()
    assert not await sync_to_async(push_choice)(user, "order.shipped")

    async with page.expect_response(answer_to("DELETE", "/api/push/subscriptions/")) as deleted:
        await switch.click()
    assert (await deleted.value).status == 204
    await expect(switch).not_to_be_checked()
    await expect(note).to_have_text(OFF)
    assert await sync_to_async(endpoints)(user) == []
    assert violations == []


async def test_the_inbox_panel_says_why_push_cannot_be_on(
    server: Server, push_site: Server, new_context: Any, user: Any
) -> None:
    # The demo's default: no keys, push off on the server. No per-kind push either.
    page = await log_in(await new_context(), server, user.username)
    switch = page.get_by_role("switch", name="Push notifications", exact=True)
    note = page.locator("#push-note")
    await expect(note).to_have_text("Push notifications are not available on this site.")
    await expect(switch).to_be_disabled()
    await expect(page.get_by_role("switch", name="Order shipped by email")).to_be_visible()
    await expect(page.get_by_role("switch", name="Order shipped by push")).to_have_count(0)
    await switch.focus()  # still reachable, so that its reason is read
    await page.keyboard.press("Space")
    await expect(switch).not_to_be_checked()

    # The user blocks the site's notifications (headless Chromium answers the prompt "no").
    page = await log_in(await new_context(), push_site, user.username)
    switch = page.get_by_role("switch", name="Push notifications", exact=True)
    await expect(page.locator("#push-note")).to_have_text(OFF)
    await switch.click()
    await expect(page.locator("#toasts .toast")).to_contain_text(
        "Notifications are blocked for this site. Allow them in the browser's site settings."
    )
    await expect(page.locator("#push-note")).to_have_text(
        "Notifications are blocked for this site: allow them in the browser's site settings, "
        "then reload the page."
    )
    await expect(switch).to_be_disabled()
    await expect(switch).not_to_be_checked()
    assert await sync_to_async(endpoints)(user) == []


async def test_the_inbox_panel_in_arabic_at_a_phones_width_axe_clean_light_and_dark(
    push_site: Server, push_service: PushService, new_context: Any, user: Any
) -> None:
    if not AXE.exists():
        pytest.skip(f"axe-core is not in {AXE.parent.parent}: npm ci --prefix tests/clients")
    await sync_to_async(languages.store)(user.pk, "ar")
    # Playwright injects axe-core as an inline script, which the page's policy forbids.
    context = await new_context(
        viewport={"width": 360, "height": 740},
        has_touch=True,
        bypass_csp=True,
        reduced_motion="reduce",
    )
    await context.grant_permissions(["notifications"], origin=push_site.url)
    page = await log_in(context, push_site, user.username)
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    switch = page.locator("#push-switch")
    await expect(switch).to_be_enabled()
    await stand_in(page, push_service.subscribe())
    await switch.click()
    # The page's words from the catalog that Django's JavaScriptCatalog serves it.
    await expect(page.locator("#push-note")).to_have_text(
        DjangoTranslation("ar", "djangojs").gettext(ON)
    )
    await expect(switch).to_be_checked()
    await expect(page.locator(".push-cell").first).to_be_visible()

    panel = page.locator("#preferences")
    await panel.scroll_into_view_if_needed()
    box = await panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    # Nothing of the table is cut off by the panel: its last column ends inside it.
    cell = await page.locator("#prefs-rows .push-cell").last.bounding_box()
    assert cell["x"] >= box["x"], (cell, box)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    # Right to left: the label starts on the right, the switch ends the line on the left.
    label = await page.locator(".prefs-push-text label").bounding_box()
    track = await page.locator(".prefs-push .switch").bounding_box()
    assert track["x"] + track["width"] <= label["x"]

    await page.add_script_tag(path=str(AXE))
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await page.evaluate(AXE_RUN) == [], scheme


async def test_the_push_button_of_browser_md_turns_push_on_and_off(
    push_site: Server, push_service: PushService, context: Any, user: Any
) -> None:
    body = recipe("browser-push-button")
    await serve(
        context,
        f"{push_site.url}{PAGE}",
        f"<!doctype html><html lang='en'><title>Push</title>{body}",
    )
    page = await log_in_to(context, push_site, user.username, PAGE)
    said = page.locator("#push-said")
    await expect(said).to_have_text("off")
    subscription = push_service.subscribe()
    await stand_in(page, subscription)

    button = page.get_by_role("button", name="Notify me on this device")
    await button.click()
    await expect(said).to_have_text("on")
    await expect(button).to_have_attribute("aria-pressed", "true")
    assert await sync_to_async(endpoints)(user) == [subscription.endpoint]

    await button.click()
    await expect(said).to_have_text("off")
    assert await sync_to_async(endpoints)(user) == []
