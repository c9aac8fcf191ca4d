"""Close a user's open streams when their credentials stop being good; push what commits.

Logging out, changing the password and deactivation each revoke the user's streams
(``services.revoke_streams``): every stream of that user on every server process closes.
Each committed ``notify()`` goes to Web Push (``notifications.push.sender``), which does
nothing while push is off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_init, post_save
from django.dispatch import receiver

from notifications.push import sender
from notifications.services import notifications_stored, revoke_streams

notifications_stored.connect(sender.on_stored, dispatch_uid="notifications.push")


@receiver(user_logged_out, dispatch_uid="notifications.revoke_on_logout")
def revoke_on_logout(sender: Any, user: Any = None, **kwargs: Any) -> None:
    if user is not None:
        revoke_streams(user_id=user.pk)


@receiver(post_init, sender=settings.AUTH_USER_MODEL, dispatch_uid="notifications.remember")
def remember_credentials(sender: Any, instance: Any, **kwargs: Any) -> None:
    instance._notifications_credentials = (instance.password, instance.is_active)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="notifications.revoke")
def revoke_on_credentials_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_notifications_credentials", None)
    now = (instance.password, instance.is_active)
    if not created and before is not None and before != now:
        password_changed = before[0] != now[0]
        if password_changed or not instance.is_active:
            revoke_streams(user_id=instance.pk)
    instance._notifications_credentials = now
