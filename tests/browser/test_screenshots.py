"""Screenshots of the inbox, light and dark, for the docs; written by every test run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from notifications import services
from notifications.models import Notification
from tests.browser.conftest import expect, log_in, wait_live
from tests.e2e.conftest import ROOT, Server, send

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = ROOT / "docs"

# (kind, title, body, url, age, read)
INBOX = [
    ("info", "Welcome to Beacon", "Everything that happens to your account shows up here, live.",
     "", timedelta(days=3), True),
    ("order.delivered", "Order #1038 delivered", "Your order has been delivered.",
     "/orders/1038/", timedelta(days=1, hours=2), True),
    ("warning", "Your card expires soon", "Update your payment details before June 30.",
     "", timedelta(hours=20), False),
    ("order.paid", "Order #1041 paid", "We have received your payment of 129.00.",
     "/orders/1041/", timedelta(hours=3), False),
    ("order.shipped", "Order #1041 shipped", "Your order is on its way.",
     "/orders/1041/", timedelta(minutes=12), False),
]  # fmt: skip


def _fill_inbox(user: Any) -> None:
    now = timezone.now()
    for kind, title, body, url, age, read in INBOX:
        (stored,) = services.notify(user, kind=kind, title=title, body=body, url=url)
        Notification.objects.filter(pk=stored.pk).update(
            created_at=now - age, read_at=now if read else None
        )


async def _shoot(page: Any, path: Path) -> None:
    # Let every animation (the toast sliding in, the badge) finish: a still frame.
    await page.evaluate(
        "Promise.all(document.getAnimations().filter(a => isFinite(a.effect?.getTiming()"
        ".iterations)).map(a => a.finished))"
    )
    await page.screenshot(path=str(path), animations="disabled", caret="hide")


async def test_screenshots_light_and_dark(server: Server, user: Any, new_context: Any) -> None:
    await sync_to_async(_fill_inbox)(user)
    DOCS.mkdir(exist_ok=True)
    context = await new_context(device_scale_factor=2, viewport={"width": 1200, "height": 900})
    page = await log_in(context, server, user.username)
    await wait_live(page)
    await expect(page.locator("#list .item")).to_have_count(len(INBOX))
    await sync_to_async(send)(
        server, user.username, "Order #1042 delivered", body="Your order has been delivered.",
        url="/orders/1042/", kind="order.delivered",
    )  # fmt: skip
    await expect(page.locator("#toasts .toast")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("4")

    await page.emulate_media(color_scheme="light")
    await _shoot(page, DOCS / "screenshot-inbox-light.png")
    await page.emulate_media(color_scheme="dark")
    await _shoot(page, DOCS / "screenshot-inbox-dark.png")
    for name in ("light", "dark"):
        assert (DOCS / f"screenshot-inbox-{name}.png").stat().st_size > 10_000


# The inbox people work through: categories (tabs), actions, one unread of each category.
# (kind, fields, age, read)
TRIAGE: list[tuple[str, dict[str, Any], timedelta, bool]] = [
    ("info", {"title": "Welcome to Beacon",
              "body": "Everything that happens to your account shows up here, live."},
     timedelta(days=3), True),
    ("order.delivered", {"params": {"number": 1038}, "data": {"order": 1038},
                         "url": "/orders/1038/"}, timedelta(days=1, hours=2), True),
    ("account.security", {}, timedelta(hours=20), False),
    ("order.paid", {"params": {"number": 1041, "total": 129}, "data": {"order": 1041},
                    "url": "/orders/1041/"}, timedelta(hours=3), False),
    ("order.shipped", {"params": {"number": 1041}, "data": {"order": 1041},
                       "url": "/orders/1041/"}, timedelta(minutes=12), False),
]  # fmt: skip


def _fill_triage(user: Any) -> None:
    now = timezone.now()
    for kind, fields, age, read in TRIAGE:
        (stored,) = services.notify(user, kind=kind, **fields)
        Notification.objects.filter(pk=stored.pk).update(
            created_at=now - age, read_at=now if read else None
        )


async def test_screenshots_of_triage_on_a_desktop_and_a_phone(
    server: Server, user: Any, new_context: Any
) -> None:
    await sync_to_async(_fill_triage)(user)
    DOCS.mkdir(exist_ok=True)
    desktop = await new_context(device_scale_factor=2, viewport={"width": 1200, "height": 900})
    page = await log_in(desktop, server, user.username)
    await wait_live(page)
    items = page.locator("#list .item")
    await expect(items).to_have_count(len(TRIAGE))
    # Two selected for a bulk change, and the newest one's snooze menu open.
    for n in (1, 2):
        await items.nth(n).locator(".select-box").check()
    await items.first.locator('[data-action="snooze"]').click()
    await expect(page.get_by_role("menu")).to_be_visible()
    await page.emulate_media(color_scheme="light")
    await _shoot(page, DOCS / "screenshot-inbox-triage.png")

    phone = await new_context(device_scale_factor=2, viewport={"width": 360, "height": 780})
    page = await log_in(phone, server, user.username)
    await wait_live(page)
    items = page.locator("#list .item")
    await expect(items).to_have_count(len(TRIAGE))
    await items.first.locator('[data-action="archive"]').click()
    await expect(page.locator("#toasts .toast")).to_be_visible()
    await page.emulate_media(color_scheme="light")
    await _shoot(page, DOCS / "screenshot-inbox-phone.png")
    for name in ("triage", "phone"):
        assert (DOCS / f"screenshot-inbox-{name}.png").stat().st_size > 10_000
