"""Customers hear about their orders: once per status, after commit, from any code path."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import translation

import notifications
from notifications.i18n import rendering
from notifications.models import Notification
from project.orders import receivers
from project.orders.models import Order
from project.orders.services import change_status, place_order
from tests.layer import listening, payload, titled


class Rollback(Exception):
    pass


@pytest.mark.django_db
def test_placing_an_order_notifies_its_owner(user: Any, other_user: Any) -> None:
    order = place_order(user=user, total=Decimal("12.5"))
    notification = Notification.objects.get()
    assert notification.recipient == user
    assert notification.seq == 1
    assert notification.kind == "order.placed"
    assert notification.title == f"Order #{order.number} placed"
    assert "12.50" in notification.body
    assert notification.url == f"/orders/{order.number}/"
    assert notification.data == {"order": order.number, "status": "placed"}
    assert notification.dedupe_key == f"order:{order.pk}:placed"


@pytest.mark.django_db
def test_order_notifications_are_templated_and_read_in_the_owners_language(user: Any) -> None:
    """The words are the kinds' templates: the row keeps the order's parameters, so a German
    reader gets German."""
    order = place_order(user=user, total=Decimal("12.5"))
    notification = Notification.objects.get()
    assert notification.params == {"number": order.number, "total": 12.5}
    with translation.override("de"):
        title, body = rendering.title_and_body(notification)
    assert title != notification.title and str(order.number) in title
    # The amount as German writes it.
    assert body == "Wir haben Ihre Bestellung erhalten. Gesamtbetrag: 12,50."
    assert notification.body == "We have received your order. Total: 12.50."


@pytest.mark.django_db
def test_each_status_has_its_own_words(user: Any) -> None:
    order = place_order(user=user, total=Decimal("99.90"))
    change_status(order=order, status="paid")
    change_status(order=order, status="shipped")
    bodies = list(Notification.objects.order_by("seq").values_list("body", flat=True))
    assert "99.90" in bodies[0]
    assert "payment of 99.90" in bodies[1]
    assert "on its way" in bodies[2]


@pytest.mark.django_db
def test_saving_without_a_status_change_notifies_nobody(
    order: Order, notify_calls: list[Any]
) -> None:
    order.save()
    order.total = Decimal("13.00")
    order.save()
    Order.objects.get(pk=order.pk).save()
    order.status = "paid"
    order.save(update_fields=["total"])  # the status is not written, so it did not change

    assert notify_calls == []
    assert Notification.objects.count() == 1
    assert Order.objects.get(pk=order.pk).status == "placed"


@pytest.mark.django_db
def test_a_change_made_outside_the_service_notifies_too(
    order: Order, notify_calls: list[Any], titles: Any
) -> None:
    loaded = Order.objects.get(pk=order.pk)
    loaded.status = "paid"  # as in a shell or a data-fixing script
    loaded.save()
    loaded.save()

    assert [call["kind"] for call in notify_calls] == ["order.paid"]
    assert titles(order.user) == [f"Order #{order.number} placed", f"Order #{order.number} paid"]


@pytest.mark.django_db
def test_a_deferred_status_is_tracked_too(order: Order, notify_calls: list[Any]) -> None:
    Order.objects.only("number").get(pk=order.pk).save()
    assert notify_calls == []

    partial = Order.objects.only("number").get(pk=order.pk)
    partial.status = "paid"
    partial.save()
    assert [call["kind"] for call in notify_calls] == ["order.paid"]

    lazy = Order.objects.only("number").get(pk=order.pk)
    assert lazy.status == "paid"  # loads the deferred field
    lazy.save()
    assert len(notify_calls) == 1


@pytest.mark.django_db
def test_refresh_from_db_updates_what_the_order_remembers(
    order: Order, notify_calls: list[Any]
) -> None:
    elsewhere = Order.objects.get(pk=order.pk)
    change_status(order=elsewhere, status="paid")
    assert len(notify_calls) == 1

    order.refresh_from_db()
    order.save()
    assert len(notify_calls) == 1


@pytest.mark.django_db
def test_a_signal_delivered_twice_notifies_once(order: Order, titles: Any) -> None:
    change_status(order=order, status="paid")
    # A second delivery: as a receiver connected twice, or a retried save, would cause.
    receivers.notify_owner(sender=Order, instance=order, created=True)
    post_save.send(sender=Order, instance=order, created=True)

    assert titles(order.user) == [f"Order #{order.number} placed", f"Order #{order.number} paid"]


@pytest.mark.django_db
def test_fixtures_loaded_raw_notify_nobody(order: Order, notify_calls: list[Any]) -> None:
    post_save.send(sender=Order, instance=order, created=True, raw=True)
    assert notify_calls == []


@pytest.mark.django_db
def test_the_receiver_is_connected_once(user: Any, notify_calls: list[Any]) -> None:
    apps.get_app_config("orders").ready()  # as a test runner or a reload might
    place_order(user=user, total=Decimal("1.00"))
    assert len(notify_calls) == 1


@pytest.mark.django_db
def test_an_order_placed_in_a_rolled_back_transaction_notifies_nobody(user: Any) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        place_order(user=user, total=Decimal("1.00"))
        raise Rollback
    assert not Order.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_only_committed_orders_ring_the_bell(user: Any) -> None:
    def place_then_roll_back() -> None:
        with transaction.atomic():
            place_order(user=user, total=Decimal("1.00"), number=41)
            raise Rollback

    async with listening(user.pk) as listener:
        with pytest.raises(Rollback):
            await sync_to_async(place_then_roll_back)()
        # Then one that commits: whatever was published before it would arrive first.
        await sync_to_async(place_order)(user=user, total=Decimal("2.00"), number=42)
        received = await listener.until(titled("Order #42 placed"))

    assert not [m for m in received if (payload(m) or {}).get("title") == "Order #41 placed"]
    assert payload(received[-1])["seq"] == 1
    assert await Notification.objects.filter(recipient=user).acount() == 1
    assert not await Order.objects.filter(number=41).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_status_change_reaches_open_streams_after_commit(user: Any) -> None:
    order = await sync_to_async(place_order)(user=user, total=Decimal("3.00"))
    async with listening(user.pk) as listener:
        await sync_to_async(change_status)(order=order, status="paid")
        received = await listener.until(titled(f"Order #{order.number} paid"))
    notification = payload(received[-1])
    assert notification["kind"] == "order.paid"
    assert notification["seq"] == 2
    assert notification["read"] is False


def test_notifications_never_imports_orders() -> None:
    package = Path(notifications.__file__).parent
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if "orders" in n.split(".")], f"{source} imports orders"


@pytest.mark.django_db
def test_a_total_assigned_as_text_in_a_shell_still_reads_well(user: Any) -> None:
    Order.objects.create(user=user, number=9, total="7.5")
    assert "Total: 7.50." in Notification.objects.get().body
