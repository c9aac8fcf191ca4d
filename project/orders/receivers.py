"""Tell customers about their orders: placed, then each change of status.

Connected to ``post_save`` in ``OrdersConfig.ready()``, so an order saved anywhere (the
service, the admin, a shell, a script) notifies the same way. ``QuerySet.update()`` sends no
signal and so notifies nobody: change orders through ``services.change_status()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from notifications.services import notify
from project.orders.models import Order, OrderStatus

_BODIES = {
    Order.Status.PLACED: "We have received your order. Total: {total:.2f}.",
    Order.Status.PAID: "We have received your payment of {total:.2f}.",
    Order.Status.SHIPPED: "Your order is on its way.",
    Order.Status.DELIVERED: "Your order has been delivered.",
    Order.Status.CANCELLED: "Your order has been cancelled.",
}


def notify_owner(
    sender: type[Order],
    instance: Order,
    created: bool,
    raw: bool = False,
    update_fields: Iterable[str] | None = None,
    **kwargs: Any,
) -> None:
    """Notify the owner of a new order or a new status; any other save notifies nobody.

    The dedupe key makes a second delivery of the same signal (or a second save that
    looks like a change) store and send nothing.
    """
    if raw or not instance.saved_new_status(created=created, update_fields=update_fields):
        return
    notify(
        instance.user,
        kind=f"order.{instance.status}",
        title=f"Order #{instance.number} {instance.status}",
        # str() first: a shell may have assigned a float or a string, saved as is.
        body=_BODIES[OrderStatus(instance.status)].format(total=Decimal(str(instance.total))),
        url=instance.get_absolute_url(),
        data={"order": instance.number, "status": instance.status},
        dedupe_key=f"order:{instance.pk}:{instance.status}",
    )
