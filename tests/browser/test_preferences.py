"""The inbox's preferences panel in Chromium: keyboard switches, saved through the API."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from notifications import preferences
from tests.browser.conftest import expect, log_in, wait_live
from tests.e2e.conftest import ROOT, Server

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = ROOT / "docs"


def choice(user: Any, kind: str) -> tuple[bool, bool]:
    found = next(c for c in preferences.choices_for(user.pk) if c.kind == kind)
    return found.in_app, found.email


async def test_switches_save_from_the_keyboard_and_critical_ones_are_locked(
    server: Server, user: Any, new_context: Any, settings: Any
) -> None:
    context = await new_context()
    page = await log_in(context, server, user.username)
    await wait_live(page)
    rows = page.locator("#prefs-rows .pref")
    await expect(rows).to_have_count(len(settings.NOTIFICATIONS["KINDS"]))

    email = page.get_by_role("switch", name="Order shipped by email")
    await expect(email).to_be_checked()
    await email.focus()
    await page.keyboard.press("Space")
    await expect(page.locator("#prefs-status")).to_have_text("Saved")
    await expect(email).not_to_be_checked()
    assert await sync_to_async(choice)(user, "order.shipped") == (True, False)

    in_app = page.get_by_role("switch", name="Order placed in the app")
    await page.keyboard.press("Shift+Tab")  # back through the row to the in-app switch
    await expect(page.get_by_role("switch", name="Order shipped in the app")).to_be_focused()
    await in_app.focus()
    await page.keyboard.press("Space")
    await expect(in_app).not_to_be_checked()
    await expect(page.locator("#prefs-status")).to_have_text("Saved")
    assert await sync_to_async(choice)(user, "order.placed") == (False, False)

    locked = page.get_by_role("switch", name="Account security in the app (required)")
    await expect(locked).to_be_disabled()
    await expect(locked).to_be_checked()
    await expect(page.locator('.pref[data-kind="account.security"] .pref-lock')).to_be_visible()

    await page.reload()
    await expect(page.get_by_role("switch", name="Order shipped by email")).not_to_be_checked()
    await expect(page.get_by_role("switch", name="Order placed in the app")).not_to_be_checked()


async def test_screenshot_of_the_panel_light_and_dark(
    server: Server, user: Any, new_context: Any
) -> None:
    await sync_to_async(preferences.change)(
        user_id=user.pk, changes={"order.placed": {"in_app": False}, "order.paid": {"email": True}}
    )
    context = await new_context(device_scale_factor=2, viewport={"width": 1000, "height": 900})
    page = await log_in(context, server, user.username)
    await wait_live(page)
    panel = page.locator("#preferences")
    await expect(page.locator("#prefs-rows .pref")).not_to_have_count(0)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        path = DOCS / f"screenshot-preferences{'' if scheme == 'light' else '-dark'}.png"
        await panel.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size > 10_000
