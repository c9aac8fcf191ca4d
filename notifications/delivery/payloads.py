"""The one JSON shape of a notification, shared by the stream and the API."""

from __future__ import annotations

from typing import Any

from notifications.content import safe_link
from notifications.models import Notification

Payload = dict[str, Any]


def notification_payload(notification: Notification) -> Payload:
    """Return the public fields of ``notification`` as JSON-ready values.

    A stored link not fit to show (written around ``notify()``) is sent as ``""``: no link.
    """
    return {
        "id": notification.pk,
        "seq": notification.seq,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "url": safe_link(notification.url),
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }
