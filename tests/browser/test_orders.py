"""Staff change an order in the admin; its owner's open inbox shows it live."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.browser.conftest import expect, log_in, wait_live
from tests.e2e.conftest import Server

pytestmark = pytest.mark.django_db(transaction=True)

Order = pytest.importorskip("project.orders.models").Order


async def test_a_status_change_in_the_admin_reaches_the_owners_page(
    server: Server, user: Any, staff_user: Any, new_context: Any
) -> None:
    order = await Order.objects.acreate(user=user, number=1042, total=Decimal("129.00"))
    owner = await log_in(await new_context(), server, user.username)
    await wait_live(owner)
    await expect(owner.locator("#list .item", has_text="Order #1042 placed")).to_be_visible()
    await expect(owner.locator("#badge")).to_have_text("1")

    staff = await log_in(await new_context(), server, staff_user.username)
    await staff.goto(f"{server.url}/admin/orders/order/{order.pk}/change/")
    await staff.get_by_label("Status").select_option("paid")
    await staff.get_by_role("button", name="Save", exact=True).click()
    await expect(staff.locator(".messagelist")).to_contain_text("was changed successfully")

    toast = owner.locator("#toasts .toast", has_text="Order #1042 paid")
    await expect(toast).to_be_visible()
    title = toast.get_by_role("link", name="Order #1042 paid")
    await expect(title).to_have_attribute("href", f"{server.url}/orders/1042/")
    # The kind's action too, to the same page.
    view = toast.get_by_role("link", name="View order")
    await expect(view).to_have_attribute("href", f"{server.url}/orders/1042/")
    await expect(owner.locator("#list .item").first).to_contain_text("Order #1042 paid")
    await expect(owner.locator("#badge")).to_have_text("2")
