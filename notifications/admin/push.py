"""Browsers subscribed to Web Push, in the Django admin: staff see them and may delete one
(the browser stops getting pushes until it subscribes again). Nothing in a subscription is
for people to edit: the browser and its push service made it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from notifications.models import PushSubscription


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "push_service", "created_at", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "endpoint")
    readonly_fields = ("user", "endpoint", "p256dh", "auth", "created_at", "updated_at")
    date_hierarchy = "created_at"

    @admin.display(description=_("push service"))
    def push_service(self, subscription: PushSubscription) -> str:
        """The host of its endpoint: which vendor's service (the rest is a secret-ish id)."""
        return urlsplit(subscription.endpoint).hostname or "?"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: PushSubscription | None = None
    ) -> bool:
        return False
