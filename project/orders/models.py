"""Orders of the demo shop: who bought, for how much, and where the order is in its life."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


class Order(models.Model):
    Status = OrderStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    number = models.PositiveIntegerField(
        unique=True, validators=[MinValueValidator(1)], help_text="The number customers see."
    )
    total = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The status the database holds as far as this instance knows, so that a save can tell
    # a status change from any other save. Kept by from_db, refresh_from_db and
    # saved_new_status(); None when unknown (a new instance, or status deferred).
    _stored_status: str | None = None

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="orders_user_recent_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="orders_total_non_negative"),
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values),
                name="orders_status_known",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Order #%(number)d") % {"number": self.number}

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.number])

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any]
    ) -> Order:
        order = super().from_db(db, field_names, values)
        order._stored_status = order.__dict__.get("status")
        return order

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: models.QuerySet[Order] | None = None,
    ) -> None:
        fields = None if fields is None else list(fields)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None or "status" in fields:
            self._stored_status = self.status

    def saved_new_status(self, *, created: bool, update_fields: Iterable[str] | None) -> bool:
        """Tell whether the save that just ran stored a status the order did not have.

        Call it once per save (the ``post_save`` receiver does): it then remembers the
        status as stored. An unknown previous status counts as new; the notification's
        dedupe key keeps that from notifying twice.
        """
        if update_fields is not None and "status" not in update_fields:
            return False
        new = created or self._stored_status != self.status
        self._stored_status = self.status
        return new
