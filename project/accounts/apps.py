from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    """The site's own account notices: the critical ``account.security`` kind."""

    name = "project.accounts"
    label = "accounts"

    def ready(self) -> None:
        from project.accounts import receivers

        post_save.connect(
            receivers.notify_password_changed,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="accounts.notify_password_changed",
        )
