"""Web Push in Chromium: push.js turns push on from a click and off again, saying why when it
cannot; push-worker.js shows what the server pushed and, clicked, marks it read.

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
from rest_framework_simplejwt.tokens import AccessToken

from notifications.models import Notification, PushSubscription
from notifications.push import keys
from notifications.push.sender import sender
from tests.browser.conftest import TIMEOUT_MS, expect, log_in
from tests.browser.pages import log_in_to, serve
from tests.e2e.conftest import Server
from tests.push_service import PushService, Subscription

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = "/static/notifications/push-worker.js"
SCOPE = "/static/notifications/"
PAGE = "/push-page/"
SUBJECT = "mailto:webmaster@localhost"
EMPTY_PAGE = "<!doctype html><html lang='en'><title>A page of the site</title><body></body>"

# A switch as a page draws one: two buttons whose clicks call push.js, and an <output> with
# the outcome. Evaluated in the page, so it runs under the page's own Content-Security-Policy.
# With ``subscription``, the page's PushManager hands out that subscription of the local push
# service instead of asking a push service headless Chromium does not have.
SWITCH = """
async ({ subscription, token }) => {
  const push = await import("/static/notifications/push.js");
  if (subscription) {
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


async def add_switch(page: Any, subscription: Subscription | None, token: str = "") -> None:
    info = subscription.info if subscription else None
    await page.evaluate(SWITCH, {"subscription": info, "token": token})


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
