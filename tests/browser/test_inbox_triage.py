"""Working through the inbox in Chromium: the tabs and their live unread counts, archive with
undo, snooze (from a row's menu, the date picker and the keyboard), a snooze ended through
the API and one that comes due, each back live, bulk archive and mark read in one request
each, a notification's action button, a reconnect that refetches the list, a phone's width
left to right and right to left, and axe-core's checks of it all in light and dark."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.i18n import languages
from notifications.models import Notification
from tests.browser.conftest import expect, log_in, wait_live
from tests.browser.test_languages import AXE, AXE_RUN
from tests.e2e.conftest import Server, client

pytestmark = pytest.mark.django_db(transaction=True)

notify = sync_to_async(services.notify)
choose = sync_to_async(languages.store)
UNREAD = re.compile(r"\bunread\b")


def tab(page: Any, name: str) -> Any:
    return page.get_by_role("tab", name=re.compile(rf"^{name}\b"))


def row(page: Any, title: str) -> Any:
    return page.locator("#list .item", has_text=title)


async def stored(title: str) -> Notification:
    return await Notification.objects.aget(title=title)


async def fill(user: Any) -> None:
    """Two orders (category "orders"), the account's one ("account"), one of no category."""
    await notify(user, kind="info", title="Welcome")
    await notify(user, kind="account.security")
    for number in (1041, 1042):
        await notify(
            user,
            kind="order.paid",
            params={"number": number, "total": 129},
            data={"order": number},
        )


async def test_tabs_list_each_category_with_live_unread_counts(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    await fill(user)
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    tabs = page.get_by_role("tab")
    await expect(tabs).to_have_text(
        [re.compile(t) for t in ("All", "Orders", "Account", "Snoozed", "Archived")]
    )
    await expect(tab(page, "All")).to_have_attribute("aria-selected", "true")
    await expect(tab(page, "All")).to_have_accessible_name("All 4 unread")
    await expect(tab(page, "Orders")).to_have_accessible_name("Orders 2 unread")
    await expect(tab(page, "Account")).to_have_accessible_name("Account 1 unread")
    await expect(page.locator("#list .item")).to_have_count(4)

    await tab(page, "Orders").click()
    await expect(tab(page, "Orders")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#list .item")).to_have_text(
        [re.compile("Order #1042 paid"), re.compile("Order #1041 paid")]
    )

    # Live: an order joins this tab and its count; another category's only the total.
    live = publish_to(server)
    await live(user, kind="order.shipped", params={"number": 1042}, data={"order": 1042})
    await expect(row(page, "Order #1042 shipped")).to_be_visible()
    await expect(tab(page, "Orders")).to_have_accessible_name("Orders 3 unread")
    await live(user, kind="info", title="Not an order")
    await expect(page.locator("#toasts .toast", has_text="Not an order")).to_be_visible()
    await expect(tab(page, "All")).to_have_accessible_name("All 6 unread")
    await expect(page.locator("#list .item")).to_have_count(3)

    await row(page, "Order #1041 paid").get_by_role("button", name=re.compile("^Mark")).click()
    await expect(tab(page, "Orders")).to_have_accessible_name("Orders 2 unread")
    await expect(tab(page, "All")).to_have_accessible_name("All 5 unread")

    # From the keyboard: the arrow keys move along the tabs, and each shows its list.
    await tab(page, "Orders").focus()
    await page.keyboard.press("ArrowRight")
    await expect(tab(page, "Account")).to_be_focused()
    await expect(tab(page, "Account")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#list .item")).to_have_text([re.compile("password was changed")])


async def test_archive_with_undo_and_the_archived_tab(
    server: Server, user: Any, new_context: Any
) -> None:
    await notify(user, kind="info", title="First")
    await notify(user, kind="info", title="Second")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)

    await row(page, "First").get_by_role("button", name="Archive “First”").click()
    await expect(row(page, "First")).to_have_count(0)
    toast = page.locator("#toasts .toast", has_text="Archived “First”")
    await expect(toast).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("1")
    first = await stored("First")
    assert first.archived_at is not None and first.read_at is not None

    async with page.expect_response(re.compile(rf"/api/notifications/{first.pk}/unarchive/$")):
        await toast.get_by_role("button", name="Undo").click()
    await expect(row(page, "First")).to_be_visible()
    assert (await stored("First")).archived_at is None

    # The keyboard: j and k move between notifications, e archives, z undoes it.
    await row(page, "Second").focus()
    await page.keyboard.press("j")
    await expect(row(page, "First")).to_be_focused()
    await page.keyboard.press("k")
    await expect(row(page, "Second")).to_be_focused()
    await page.keyboard.press("e")
    await expect(row(page, "Second")).to_have_count(0)
    await expect(row(page, "First")).to_be_focused()
    await expect(page.locator("#toasts .toast", has_text="Archived “Second”")).to_be_visible()
    async with page.expect_response(re.compile(r"/unarchive/$")) as undone:
        await page.keyboard.press("z")
    assert (await undone.value).status == 204
    await expect(row(page, "Second")).to_be_visible()

    await row(page, "First").get_by_role("button", name="Archive “First”").click()
    await tab(page, "Archived").click()
    await expect(page.locator("#list .item")).to_have_text([re.compile("First")])
    await row(page, "First").get_by_role("button", name="Move “First” to the inbox").click()
    await expect(page.locator("#list .item")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Nothing archived")).to_be_visible()
    await tab(page, "All").click()
    await expect(page.locator("#list .item")).to_have_text(
        [re.compile("Second"), re.compile("First")]
    )


async def test_snooze_from_a_row_and_back_live_when_unsnoozed_through_the_api(
    server: Server, user: Any, new_context: Any
) -> None:
    await notify(user, kind="info", title="Call the bank")
    await notify(user, kind="info", title="Renew the passport")
    page = await log_in(await new_context(timezone_id="Europe/Berlin"), server, user.username)
    await wait_live(page)

    snooze = row(page, "Call the bank").get_by_role("button", name="Snooze “Call the bank”")
    await snooze.click()
    await expect(snooze).to_have_attribute("aria-expanded", "true")
    menu = page.get_by_role("menu", name="Snooze until")
    await expect(menu.get_by_role("menuitem")).to_have_count(4)
    await expect(menu.get_by_role("menuitem").first).to_be_focused()
    await menu.get_by_role("menuitem", name=re.compile("^Tomorrow morning")).click()
    await expect(row(page, "Call the bank")).to_have_count(0)
    await expect(page.locator("#toasts .toast", has_text="Snoozed until")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("1")
    # Tomorrow at 9:00 where the reader is.
    snoozed_until = (await stored("Call the bank")).snoozed_until
    assert snoozed_until is not None
    until = snoozed_until.astimezone(ZoneInfo("Europe/Berlin"))
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert (until.date(), until.hour, until.minute) == (today + timedelta(days=1), 9, 0)

    await tab(page, "Snoozed").click()
    await expect(page.locator("#list .item")).to_have_count(1)
    await expect(row(page, "Call the bank").locator(".snoozed-until")).to_contain_text(
        "Snoozed until"
    )
    await tab(page, "All").click()
    await expect(page.locator("#list .item")).to_have_text([re.compile("Renew the passport")])

    # Ended elsewhere (another device, through the API): back at once, unread, live.
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    async with client(server, headers=headers) as http:
        pk = (await stored("Call the bank")).pk
        answer = await http.post(f"/api/notifications/{pk}/unsnooze/")
        assert answer.status_code == 204, answer.text
    await expect(row(page, "Call the bank")).to_have_class(UNREAD)
    await expect(page.locator("#list .item")).to_have_count(2)
    await expect(page.locator("#badge")).to_have_text("2")
    await expect(page.locator("#toasts .toast", has_text="Call the bank")).to_be_visible()

    # The keyboard and the date picker: s opens the menu, the last item a dialog.
    await row(page, "Renew the passport").focus()
    await page.keyboard.press("s")
    await expect(menu).to_be_visible()
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Snooze until")
    await expect(dialog).to_be_visible()
    field = dialog.get_by_label("Date and time")
    await field.fill("2020-01-01T09:00")
    await dialog.get_by_role("button", name="Snooze").click()
    await expect(dialog.locator("#snooze-error")).to_have_text("Choose a time in the future.")
    later = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=10)).replace(
        hour=18, minute=30, second=0, microsecond=0
    )
    await field.fill(later.strftime("%Y-%m-%dT%H:%M"))
    async with page.expect_response(re.compile(r"/snooze/$")) as snoozed:
        await dialog.get_by_role("button", name="Snooze").click()
    assert (await snoozed.value).status == 204
    await expect(dialog).to_be_hidden()
    await expect(row(page, "Renew the passport")).to_have_count(0)
    assert (await stored("Renew the passport")).snoozed_until == later

    # Brought back from the Snoozed tab: unread in the inbox at once.
    await tab(page, "Snoozed").click()
    await (
        row(page, "Renew the passport")
        .get_by_role("button", name="Unsnooze “Renew the passport”")
        .click()
    )
    await expect(page.get_by_role("heading", name="Nothing snoozed")).to_be_visible()
    await tab(page, "All").click()
    await expect(row(page, "Renew the passport")).to_have_class(UNREAD)
    await expect(page.locator("#badge")).to_have_text("2")


async def test_a_snooze_that_comes_due_is_back_with_a_reminder(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    await notify(user, kind="info", title="Water the plants")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    publish_to(server)  # the snooze below is told to the page's stream
    await sync_to_async(services.snooze)(
        notifications=Notification.objects.filter(title="Water the plants"),
        until=timezone.now() + timedelta(seconds=2),
    )
    await expect(page.locator("#list .item")).to_have_count(0)
    await expect(page.locator("#badge")).to_be_hidden()

    # Woken by the server within a heartbeat of its time: back unread, with a toast.
    await expect(row(page, "Water the plants")).to_have_class(UNREAD)
    await expect(page.locator("#toasts .toast", has_text="Water the plants")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("1")
    await expect(tab(page, "All")).to_have_accessible_name("All 1 unread")


async def test_bulk_mark_read_and_archive_one_request_each(
    server: Server, user: Any, new_context: Any
) -> None:
    for n in range(1, 5):
        await notify(user, kind="info", title=f"Update {n}")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    requests: list[str] = []  # the URLs of the page's writes

    def record(request: Any) -> None:
        if request.method == "POST":
            requests.append(request.url)

    page.on("request", record)

    await page.get_by_role("checkbox", name="Select “Update 4”").check()
    await row(page, "Update 3").focus()
    await page.keyboard.press("x")
    await expect(page.locator("#selected-count")).to_have_text("2 selected")
    await page.locator("#bulk").get_by_role("button", name="Mark read").click()
    await expect(page.locator("#list .item.unread")).to_have_text(
        [re.compile("Update 2"), re.compile("Update 1")]
    )
    await expect(page.locator("#badge")).to_have_text("2")
    await expect(page.locator("#bulk")).to_be_hidden()
    assert [u for u in requests if "/api/notifications/" in u] == [
        f"{server.url}/api/notifications/read/"
    ]

    requests.clear()
    await page.get_by_label("Select all").check()
    await expect(page.locator("#selected-count")).to_have_text("4 selected")
    await page.locator("#bulk").get_by_role("button", name="Archive").click()
    await expect(page.locator("#list .item")).to_have_count(0)
    await expect(page.locator("#badge")).to_be_hidden()
    toast = page.locator("#toasts .toast", has_text="4 notifications archived")
    await expect(toast).to_be_visible()
    assert requests == [f"{server.url}/api/notifications/archive/"]
    assert await Notification.objects.filter(archived_at__isnull=False).acount() == 4

    await toast.get_by_role("button", name="Undo").click()
    await expect(page.locator("#list .item")).to_have_count(4)
    await expect(page.locator("#badge")).to_be_hidden()  # archiving marked them read
    assert requests == [
        f"{server.url}/api/notifications/archive/",
        f"{server.url}/api/notifications/unarchive/",
    ]


async def test_an_action_button_marks_read_and_navigates(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    place_order = sync_to_async(pytest.importorskip("project.orders.services").place_order)
    order = await place_order(user=user, total=Decimal("129.00"))
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    placed = row(page, f"Order #{order.number} placed")
    view = placed.get_by_role("link", name="View order")
    await expect(view).to_have_attribute("href", f"{server.url}/orders/{order.number}/")

    await live_order_shipped(publish_to(server), user, order.number)
    toast = page.locator("#toasts .toast", has_text=f"Order #{order.number} shipped")
    await expect(toast.get_by_role("link", name="View order")).to_be_visible()
    await expect(toast.get_by_role("link", name="Track parcel")).to_have_attribute(
        "href", re.compile("^https://")
    )

    async with page.expect_request(re.compile(r"/read/$")) as marked:
        await view.click()
    assert (await marked.value).method == "POST"
    await expect(page).to_have_url(f"{server.url}/orders/{order.number}/")
    # The request outlives the page it left (keepalive): the server gets it.
    placed_read = Notification.objects.filter(kind="order.placed", read_at__isnull=False)
    async with asyncio.timeout(20):
        while not await placed_read.aexists():
            await asyncio.sleep(0.05)


async def live_order_shipped(notify_live: Callable[..., Any], user: Any, number: int) -> None:
    await notify_live(user, kind="order.shipped", params={"number": number}, data={"order": number})


async def test_a_reconnect_refetches_what_changed_while_away(
    server: Server, user: Any, new_context: Any
) -> None:
    await notify(user, kind="info", title="Stays")
    await notify(user, kind="info", title="Archived elsewhere")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    await expect(page.locator("#list .item")).to_have_count(2)

    await asyncio.to_thread(server.stop)
    await expect(page.locator("#conn")).not_to_have_attribute("data-state", "live")
    # Told to no stream: the server is down. Only a refetch after the reconnect shows it.
    await sync_to_async(services.archive)(
        notifications=Notification.objects.filter(title="Archived elsewhere")
    )
    await asyncio.to_thread(server.start)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=45_000)
    await expect(page.locator("#list .item")).to_have_text([re.compile("Stays")])
    await expect(page.locator("#badge")).to_have_text("1")


@pytest.mark.parametrize("language", ["en", "ar"])
async def test_at_a_phones_width_left_to_right_and_right_to_left(
    server: Server, user: Any, new_context: Any, language: str
) -> None:
    await choose(user.pk, language)
    await fill(user)
    context = await new_context(viewport={"width": 360, "height": 740}, has_touch=True)
    page = await log_in(context, server, user.username)
    await wait_live(page)
    items = page.locator("#list .item")
    await expect(items).to_have_count(4)

    async def inside(locator: Any) -> None:
        box = await locator.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page scrolls sideways: {width}px"

    await inside(page.locator("#inbox"))
    # The tabs start on the reading side: "All" first, on the left or on the right.
    all_tab = await page.locator("#tab-all").bounding_box()
    orders_tab = await page.locator("#tab-category-1").bounding_box()
    assert (all_tab["x"] < orders_tab["x"]) == (language == "en")

    snooze = items.first.locator('[data-action="snooze"]')
    await expect(snooze).to_be_in_viewport()
    await snooze.click()
    menu = page.get_by_role("menu")
    await inside(menu)
    async with page.expect_response(re.compile(r"/snooze/$")):
        await menu.locator('[data-snooze="hour"]').click()
    await expect(items).to_have_count(3)

    await items.last.locator('[data-action="archive"]').click()
    await expect(items).to_have_count(2)
    await inside(page.locator("#toasts .toast").last)


@pytest.mark.parametrize("language", ["en", "ar"])
async def test_axe_finds_no_violations_in_the_triage_ui(
    server: Server, user: Any, new_context: Any, language: str
) -> None:
    if not AXE.exists():
        pytest.skip(f"axe-core is not in {AXE.parent.parent}: npm ci --prefix tests/clients")
    if language != "en":
        await choose(user.pk, language)
    await fill(user)
    (snoozed,) = await notify(user, kind="info", title="Later")
    await sync_to_async(services.snooze)(
        notifications=Notification.objects.filter(pk=snoozed.pk),
        until=timezone.now() + timedelta(days=1),
    )
    context = await new_context(bypass_csp=True, reduced_motion="reduce")
    page = await log_in(context, server, user.username)
    await wait_live(page)
    await page.add_script_tag(path=str(AXE))

    async def clean(state: str) -> None:
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            assert await page.evaluate(AXE_RUN) == [], f"{state}, {scheme}"

    items = page.locator("#list .item")
    await expect(items).to_have_count(4)
    await items.nth(1).locator(".select-box").check()
    await items.nth(2).locator(".select-box").check()
    await expect(page.locator("#bulk")).to_be_visible()
    await items.first.locator('[data-action="archive"]').click()
    await expect(page.locator("#toasts .toast")).to_be_visible()
    await page.locator("#toasts .toast").hover()  # kept on screen while axe looks at it
    await page.locator("#shortcuts summary").click()
    await items.first.locator('[data-action="snooze"]').click()
    await expect(page.get_by_role("menu")).to_be_visible()
    await clean("selection, undo toast, snooze menu, shortcuts")

    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog")).to_be_visible()
    await clean("date picker")
    await page.keyboard.press("Escape")

    for name in ("snoozed", "archived"):
        await page.locator(f"#tab-{name}").click()
        await expect(items).to_have_count(1)
        await clean(f"the {name} tab")
