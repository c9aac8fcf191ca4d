from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save


class OrdersConfig(AppConfig):
    name = "project.orders"
    label = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project.orders import receivers
        from project.orders.models import Order

        post_save.connect(receivers.notify_owner, sender=Order, dispatch_uid="orders.notify_owner")
