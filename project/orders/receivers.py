"""Tell customers about their orders: placed, then each change of status.

Connected to ``post_save`` in ``OrdersConfig.ready()``, so an order saved anywhere (the
service, the admin, a shell, a script) notifies the same way. ``QuerySet.update()`` sends no
signal and so notifies nobody: change orders through ``services.change_status()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from notifications.services import notify
from project.orders.models import Order


def notify_owner(
    sender: type[Order],
    instance: Order,
    created: bool,
    raw: bool = False,
    update_fields: Iterable[str] | None = None,
    **kwargs: Any,
) -> None:
    """Notify the owner of a new order or a new status; any other save notifies nobody.

    The kind's templates (``NOTIFICATIONS["KINDS"]`` in the settings) make the words, in
    each reader's language; the order gives the parameters. The dedupe key makes a second
    delivery of the same signal (or a second save that looks like a change) store and send
    nothing.
    """
    if raw or not instance.saved_new_status(created=created, update_fields=update_fields):
        return
    notify(
        instance.user,
        kind=f"order.{instance.status}",
        # str() first: a shell may have assigned a float or a string, saved as is.
        params={"number": instance.number, "total": float(instance.total)},
        url=instance.get_absolute_url(),
        data={"order": instance.number, "status": instance.status},
        dedupe_key=f"order:{instance.pk}:{instance.status}",
    )
