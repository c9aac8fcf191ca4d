"""The browsers that subscribed to Web Push, one row per push-service endpoint.

A subscription is what ``PushSubscription.toJSON()`` gives in the browser. Its endpoint is
where pushes go, so it must be a push service's ``https://`` URL: a site that took any URL
would send encrypted posts wherever a user asked (``http://`` is allowed under ``DEBUG``, for
a push service running on the developer's machine). Its keys are checked as the encryption
will use them, so a malformed one is refused here, not at every push.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from notifications.models import PushSubscription
from notifications.push.keys import unb64url

ENDPOINT_MAX_LENGTH = PushSubscription._meta.get_field("endpoint").max_length or 2048


class InvalidSubscription(ValueError):
    """A subscription a push could never be sent to."""


def subscribe(*, user_id: int, info: Any) -> tuple[PushSubscription, bool]:
    """Store the browser subscription ``info`` for ``user_id``; return it and whether it is
    new. The same endpoint again (a renewal, or another user signed in on that browser)
    updates its row: pushes for the browser follow whoever subscribed it last."""
    endpoint, p256dh, auth = _parsed(info)
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"user_id": user_id, "p256dh": p256dh, "auth": auth}
        )
    return subscription, created


def unsubscribe(*, user_id: int, endpoint: Any) -> bool:
    """Forget ``user_id``'s subscription at ``endpoint``; return whether there was one."""
    if not isinstance(endpoint, str):
        raise InvalidSubscription(gettext('Give the subscription\'s "endpoint".'))
    deleted, _ = PushSubscription.objects.filter(user_id=user_id, endpoint=endpoint).delete()
    return deleted > 0


def _parsed(info: Any) -> tuple[str, str, str]:
    if not isinstance(info, dict) or not isinstance(info.get("keys"), dict):
        raise InvalidSubscription(
            gettext('The body must be PushSubscription.toJSON(): {"endpoint", "keys"}.')
        )
    endpoint, keys = info.get("endpoint"), info["keys"]
    if not isinstance(endpoint, str) or not _push_service_url(endpoint):
        raise InvalidSubscription(gettext("The endpoint must be a push service's https:// URL."))
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not _key(p256dh, length=65, first=4):
        raise InvalidSubscription(gettext("keys.p256dh must be a P-256 public key in base64url."))
    if not _key(auth, length=16):
        raise InvalidSubscription(gettext("keys.auth must be 16 bytes in base64url."))
    return endpoint, p256dh, auth


def _push_service_url(endpoint: str) -> bool:
    if (
        len(endpoint) > ENDPOINT_MAX_LENGTH
        or not endpoint.isascii()
        or any(c.isspace() for c in endpoint)
    ):
        return False
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    schemes = ("https", "http") if settings.DEBUG else ("https",)
    return parts.scheme in schemes and bool(parts.hostname) and not parts.username


def _key(value: Any, *, length: int, first: int | None = None) -> bool:
    try:
        raw = unb64url(value)
    except (ValueError, TypeError):
        return False
    return len(raw) == length and (first is None or raw[0] == first)
