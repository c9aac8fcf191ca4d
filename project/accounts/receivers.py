"""Tell users when their password changes: a critical kind, which nobody can turn off."""

from __future__ import annotations

from typing import Any

from notifications.services import notify

SECURITY = "account.security"


def notify_password_changed(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Notify a user whose password was just set on an existing account.

    ``set_password()`` keeps the new raw password in ``_password`` until the save that
    stores it has finished, so a save that carries one is a password change.
    """
    if created or kwargs.get("raw") or getattr(instance, "_password", None) is None:
        return
    # The words are the kind's templates (settings' KINDS), in the reader's language.
    notify(instance, kind=SECURITY, url="/accounts/password_change/")
