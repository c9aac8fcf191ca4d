"""System checks for the ``NOTIFICATIONS`` setting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from notifications.conf import DEFAULTS

_POSITIVE_NUMBERS = (
    "HEARTBEAT_SECONDS",
    "RETRY_MILLISECONDS",
    "MAX_CONNECTIONS_PER_USER",
    "LIMIT_RETRY_AFTER_SECONDS",
    "SLOW_CLIENT_BUFFER_BYTES",
    "REPLAY_LIMIT",
    "POLL_SECONDS",
    "TICKET_LIFETIME_SECONDS",
    "PUBLISH_TIMEOUT_SECONDS",
)
ON_LIMIT_CHOICES = ("reject", "evict_oldest")


@register()
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Error]:
    """Refuse unknown keys and values that would make streams misbehave."""
    errors: list[Error] = []
    user_settings = getattr(settings, "NOTIFICATIONS", {})
    if not isinstance(user_settings, dict):
        return [Error("NOTIFICATIONS must be a dict.", id="notifications.E001")]
    for key in sorted(set(user_settings) - set(DEFAULTS)):
        errors.append(
            Error(
                f"NOTIFICATIONS has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="notifications.E002",
            )
        )
    for key in _POSITIVE_NUMBERS:
        value = user_settings.get(key, DEFAULTS[key])
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf  # Also refuses NaN, which compares false.
        ):
            errors.append(
                Error(
                    f"NOTIFICATIONS[{key!r}] must be a finite positive number, not {value!r}.",
                    id="notifications.E003",
                )
            )
    on_limit = user_settings.get("ON_LIMIT", DEFAULTS["ON_LIMIT"])
    if on_limit not in ON_LIMIT_CHOICES:
        errors.append(
            Error(
                f"NOTIFICATIONS['ON_LIMIT'] must be one of {ON_LIMIT_CHOICES}, not {on_limit!r}.",
                id="notifications.E004",
            )
        )
    return errors
