"""Staff place orders and move them through their life; owners are notified as they do."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from project.orders.models import Order, OrderStatus
from project.orders.services import (
    InvalidTransition,
    change_status,
    check_transition,
    next_statuses,
    place_order,
)


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["user", "number", "total", "status"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "number" in self.fields:
            self.fields["number"].required = False
            self.fields["number"].help_text = "Leave empty for the next free number."
        if "status" in self.fields and self.instance.pk is not None:
            allowed = [str(Order.Status(s).label) for s in next_statuses(self.instance.status)]
            self.fields["status"].help_text = (
                f"Can become: {', '.join(allowed)}." if allowed else "This status is final."
            )

    def clean_status(self) -> str:
        """Refuse a status the lifecycle does not allow, with the service's own message."""
        status = self.cleaned_data["status"]
        if self.instance.pk is not None and status != self.instance.status:
            try:
                check_transition(
                    current=self.instance.status, new=status, number=self.instance.number
                )
            except InvalidTransition as e:
                raise ValidationError(str(e), code="invalid_transition") from e
        return status


def _status_action(status: OrderStatus) -> Any:
    def action(modeladmin: OrderAdmin, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        changed = 0
        for order in queryset.select_related("user"):
            try:
                change_status(order=order, status=status)
            except InvalidTransition as e:
                modeladmin.message_user(request, str(e), messages.WARNING)
            else:
                changed += 1
        if changed:
            modeladmin.message_user(
                request, f"{changed} order(s) marked {status.value}.", messages.SUCCESS
            )

    action.__name__ = f"mark_{status.value}"
    return admin.action(description=f"Mark selected orders {status.value}")(action)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderForm
    list_display = ["number", "user", "total", "status", "created_at", "updated_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["number__exact", "user__username", "user__email"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["user"]
    # The order page is the customer's own; staff have this form.
    view_on_site = False
    actions = [_status_action(status) for status in Order.Status if status != Order.Status.PLACED]

    def get_fields(self, request: HttpRequest, obj: Order | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "number", "total")
        return ("number", "user", "total", "status", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        """Let staff change only the status of a placed order: its contents are history."""
        if obj is None:
            return []
        return ["number", "user", "total", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Order, form: OrderForm, change: bool) -> None:
        """Save through the services, so the admin obeys the same rules as everyone else."""
        if change:
            if "status" in form.changed_data:
                change_status(order=obj, status=form.cleaned_data["status"])
            return
        placed = place_order(user=obj.user, total=obj.total, number=obj.number)
        # The admin goes on with ``obj`` (history, messages, redirect): make it the stored order.
        obj.pk = placed.pk
        obj.refresh_from_db()
        obj._state.adding = False
